"""Commercial use: load only weights whose terms allow it (README: Licences).

`FaceAnalyzer(commercial_use=True)`, the scripts' and facekit-batch's `--commercial-use`, and
`FACEKIT_COMMERCIAL_USE=1` (for every entry point at once, `python -m facekit serve` too) make facekit load no
weights for non-commercial or research use only: "auto" and the scripts' default detector become YuNet (MIT),
and the heads of a run that names none are only those whose card's terms allow commercial use. A detector or
head asked for by name whose terms do not is refused in one line, before anything loads.

Terms are free text (a card's `licences` block, the asset registry's licence), so they are read strictly: they
must name a licence that allows commercial use (MIT, BSD, Apache, CC0, CC-BY, ISC, public domain, or the words
"commercial use") and nothing that limits it (non-commercial, research, education, academic, personal use, NC,
"no licence stated", "not", "no"...). Terms nobody recorded are not commercial terms.
"""

from __future__ import annotations

import re

from .errors import ArgumentError

ENV = "FACEKIT_COMMERCIAL_USE"

_LIMITS = re.compile(r"non[- ]?commercial|research|educat|academic|personal|evaluation|unknown|see its card"
                     r"|\bno\b|\bnot\b|\bnone\b|\bNC\b|-NC\b|prohibit|forbid|restrict", re.IGNORECASE)
_ALLOWS = re.compile(r"\bMIT\b|\bBSD\b|BSD-|\bApache\b|\bCC0\b|\bCC[- ]BY\b|\bISC\b|\bUnlicense\b|public domain"
                     r"|\bcommercial\b", re.IGNORECASE)


class LicenceError(ArgumentError):
    """Weights whose terms do not allow commercial use, asked for by name under commercial use."""


def allows_commercial_use(*terms: str) -> bool:
    """Whether every text of `terms` allows commercial use and the first names a licence that does (see above):
    the first is the weights' own terms, the rest what they came from (a card's data entries)."""
    return bool(terms) and bool(_ALLOWS.search(terms[0])) and not any(_LIMITS.search(t) for t in terms)


def from_env(value: bool | None = None) -> bool:
    """`value` as given, else FACEKIT_COMMERCIAL_USE's, read as facekit's other switches are (1 / 0, true / false,
    yes / no, on / off; unset is off). Anything else is a FacekitError: a mistyped value read as off would load
    what it is set to keep out."""
    from .runtime import env_switch

    return bool(value) if value is not None else bool(env_switch(ENV))


def detector_terms(name: str) -> str:
    from .detection import LICENCES

    return LICENCES.get(name, "")


def commercial_detectors() -> list[str]:
    from .detection import DETECTORS

    return [name for name in DETECTORS if allows_commercial_use(detector_terms(name))]


def check_detector(name: str, how: str) -> None:
    """LicenceError for a detector asked for by name (`how`: "--detector scrfd", "detector='scrfd'") whose
    weights' terms do not allow commercial use."""
    from .detection import LICENCES

    if name in LICENCES and not allows_commercial_use(detector_terms(name)):  # an unknown name: its own error
        offered = ", ".join(f"{n} ({detector_terms(n)})" for n in commercial_detectors())
        raise LicenceError(f"{how}: its weights are not for commercial use ({detector_terms(name)}), and {ON}; "
                           f"choose {offered}")


def card_allows(card) -> bool:
    """Whether a head's card records terms that allow commercial use: the terms its weights inherit (card_terms)
    and every other entry of its licences block (its data's, an --init-model's)."""
    from .heads import card_terms

    licences = card.extra.get("licences") or {}
    return allows_commercial_use(card_terms(card), *licences.values())


def check_head(task: str, card, where: str) -> None:
    from .heads import card_terms

    if not card_allows(card):
        raise LicenceError(f"the {task} head ({where}): its weights are not for commercial use (its card.json: "
                           f"{card_terms(card)}), and {ON}; leave it out, or train one "
                           "on images you may use so (the trainer's --data-licence records their terms)")


# Where it was turned on: the error names all three, since a FACEKIT_COMMERCIAL_USE set in a container's image may be
# unknown to whoever typed the command.
ON = f"commercial use is on (--commercial-use, commercial_use=True or {ENV}=1)"
