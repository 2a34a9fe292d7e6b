"""Drawing: one `annotate` for still images and video frames alike."""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import threading
import unicodedata
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, cast

import cv2
import numpy as np

from .preprocess import as_image
from .heads import CARD, ModelCard, _task_rank, available_tasks, models_dir
from .heads import Head  # imported, not only for checkers: typing.get_type_hints(Style.from_heads) reads it
from .errors import ArgumentError, FacekitError
from .types import VIDEO_RUN, Box, Face, ImageInput, VideoRun

Color = tuple[int, int, int]  # B, G, R, 0-255 (a bare `tuple` was "partially unknown" to pyright's strict mode)

RED, GRAY = (0, 0, 255), (200, 200, 200)
LANDMARK_MODES = (None, "5", "mesh")  # Style.landmarks: none, the key points, the mesh
# Colours for labels whose card names none: distinct, readable on photos (BGR). The sixth was pink (180, 105, 255),
# the third's hue 2 degrees away: the emotion head's fear and sad, whose --timeline curves only colour tells apart.
# The emotion head draws the first 7; a head drawn beside it takes the next ones (Style.color): the 8th and 9th are
# the colours farthest (CIELAB) from the mask head's green / red, emotion's 7 and GRAY, so gender's man / woman
# read apart from all of them on the dark label backing.
PALETTE: list[Color] = [(255, 178, 29), (0, 215, 255), (147, 20, 255), (255, 255, 0), (0, 128, 255),
                        (255, 120, 150), (50, 205, 50), (255, 0, 255), (165, 210, 255)]


@dataclass
class Style:
    """How labels are shown: per task, label -> display text and label -> BGR colour."""

    display: dict[str, dict[str, str]] = field(default_factory=dict)
    colors: dict[str, dict[str, Color]] = field(default_factory=dict)
    landmarks: str | None = None  # None, "5" (key points) or "mesh"
    font_scale: float | None = None  # None: from the image size
    # Where the last frame's labels went (video): kept, so that a face's label does not jump from frame to frame.
    _memory: "_LabelMemory" = field(default_factory=lambda: _LabelMemory(), init=False, repr=False, compare=False)
    # Each analyze_video run's own (facekit.types.VideoRun -> its memory), dropped with the run's faces.
    _runs: "weakref.WeakKeyDictionary[VideoRun, _LabelMemory]" = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False, compare=False)
    # Each head's palette colours (task -> label -> BGR), handed out head by head (_assign). Taken by the label's
    # place alone, gender's man / woman were drawn in emotion's angry / disgust colours in the same picture.
    _assigned: dict[str, dict[str, Color]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ArgumentError naming the first field that cannot be drawn. Run when the style is built and again by
        annotate(), since a Style's fields may be set after it is built (`style.font_scale = 2`)."""
        # Style(landmarks="bogus") drew the 5 key points without a word (anything but "mesh" did).
        if self.landmarks not in LANDMARK_MODES:
            raise ArgumentError(f"Style(landmarks={self.landmarks!r}): use one of "
                                f"{', '.join(map(repr, LANDMARK_MODES))}")
        # A NaN, infinite, text or True font_scale was a ValueError / OverflowError / TypeError from deep inside
        # annotate() (cv2.putText's), and a negative one drew its letters upside down without a word.
        scale = self.font_scale
        if scale is not None and (isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real)
                                  or not math.isfinite(scale) or scale <= 0):
            raise ArgumentError(f"Style(font_scale={scale!r}): use a number above 0 (1.0: 22-px capitals), or None "
                                f"to size the letters to the faces")
        # Checked here, not where a label is drawn: a bad one was a traceback from inside annotate() (colour "red":
        # "invalid literal for int()"), and only on a photo where that label happened to be found.
        for name, table, ok, want in (("display", self.display, lambda v: isinstance(v, str), "text"),
                                      ("colors", self.colors, _is_color, "a (B, G, R) of 3 numbers 0-255")):
            if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
                raise ArgumentError(f"Style({name}=...): a dict of task -> {{label: {want}}}, got {table!r}")
            for task, labels in table.items():
                for label, value in labels.items():
                    if not ok(value):
                        raise ArgumentError(f"Style {name}[{task!r}][{label!r}] = {value!r}: use {want}")

    @classmethod
    def from_heads(cls, heads: Mapping[str, Head], landmarks: str | None = None) -> "Style":
        """The style the scripts draw with: each head's label texts and colours from its card.json (heads: an
        analyzer's `.heads`). landmarks: None (none drawn), "5" (the key points, as --landmarks 5) or "mesh"
        (the 468 points, as --landmarks); a face without them is drawn without them."""
        style = cls(display={t: h.card.display for t, h in heads.items()},
                    colors={t: h.card.colors for t, h in heads.items()}, landmarks=landmarks)
        style._assign_heads({t: list(h.labels) for t, h in heads.items()})
        return style

    def _assign_heads(self, task_labels: Mapping[str, list[str]]) -> None:
        """Hand palette colours to the heads (task -> its labels) that have none yet, in TASK_ORDER (mask, emotion,
        gender, then the others by name), whatever order they come in: the emotion head keeps its colours with
        `--tasks gender,emotion` too, and a head takes none that a head before it (or a card) has."""
        for task in sorted(task_labels, key=_task_rank):
            labels = list(task_labels[task])
            if list(self._assigned.get(task, {})) != labels:
                self._assign(task, labels)

    def _assign(self, task: str, labels: list[str]) -> dict[str, Color]:
        """The label at place i gets the i-th palette colour that no other head's label (nor a card's colour of
        this head) has: the palette's own for the first head, as before."""
        taken = {tuple(int(c) for c in v) for t, table in self.colors.items() for v in table.values()}
        taken |= {c for t, table in self._assigned.items() if t != task
                  for label, c in table.items() if label not in self.colors.get(t, {})}  # a card's colour wins
        free = (c for c in map(palette_color, itertools.count()) if c not in taken)
        self._assigned[task] = dict(zip(labels, free))
        return self._assigned[task]

    def text(self, task: str, label: str) -> str:
        """How head `task`'s `label` is written on the image: its `display` text, else the label with spaces for
        underscores and its first letter raised ("with_mask" -> "With mask")."""
        own = self.display.get(task, {}).get(label)
        if not own:
            # Only the first letter is raised: str.capitalize() lowered the rest, "Sun Glasses" drawn "Sun glasses".
            own = label.replace("_", " ")
            own = own[:1].upper() + own[1:]
        # As written, "ü" and "東" too: the drawing renders letters outside ASCII from a font that has them.
        return unicodedata.normalize("NFC", own)

    def color(self, task: str, label: str, labels: list[str]) -> Color:
        """The BGR colour head `task`'s `label` is drawn in: its `colors` entry, else the palette's colour for its
        place in `labels` (the head's labels) among those no other head of this style has (_assign), grey for a
        label not among them."""
        own = self.colors.get(task, {}).get(label)
        if own is not None:
            b, g, r = (int(c) for c in own)
            return (b, g, r)
        if label not in labels:
            return GRAY
        given = self._assigned.get(task)
        if given is None or list(given) != list(labels):  # a head this style was not built with
            given = self._assign(task, list(labels))
        return given[label]


@functools.lru_cache(maxsize=4)
def _card_tables(folder: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Color]]]:
    """The display texts and colours (task -> label -> ...) the cards of the heads in the models folder `folder`
    give: annotate()'s without a style. A card that does not load gives none (the heads' own runs say why)."""
    display, colors = {}, {}
    for task, model in available_tasks(Path(folder)).items():
        try:
            card = ModelCard.load(model / CARD)
        except FacekitError:
            continue
        display[task], colors[task] = dict(card.display), dict(card.colors)
    return display, colors


def palette_color(index: int) -> Color:
    """The colour of a head's `index`-th label. Past the palette's 8 a head of 10 classes (age brackets) drew its
    9th and 10th labels, and their timeline curves, in the 1st's and 2nd's colours: these get hues a golden angle
    apart, lighter than the palette's, each at least COLOR_APART from the palette's and from each other."""
    if index < len(PALETTE):
        return PALETTE[index]
    with _EXTRA_LOCK:
        while len(_EXTRA) <= index - len(PALETTE):
            _EXTRA.append(_next_extra())
        return _EXTRA[index - len(PALETTE)]


# CIELAB distance under which two label colours read as one on the dark backing. The golden-angle hues past the
# palette were taken as they came: the 14th and 16th labels' (a head of many classes, or one drawn beside emotion
# and gender) were 14 and 10 from happy's cyan and sad's violet. The palette's own are 33 apart or more.
COLOR_APART = 25.0
_EXTRA: list[Color] = []
_EXTRA_LAB: list[np.ndarray] = []  # the CIELAB of PALETTE's colours and _EXTRA's, filled with _EXTRA's first
_EXTRA_LOCK = threading.Lock()
_EXTRA_TRIED = [0]  # candidate colours tried so far
_EXTRA_ROUNDS = ((150, 255), (255, 190), (80, 255), (255, 130))  # (saturation, value) of each round of hues


def _next_extra() -> Color:
    """The next golden-angle hue (lighter than the palette's) at least COLOR_APART from the palette and the extra
    colours before it; where the hues run out, darker and paler rounds follow, and past those any new colour."""
    if not _EXTRA_LAB:
        _EXTRA_LAB.extend(cv2.cvtColor(np.asarray([PALETTE], np.float32) / 255, cv2.COLOR_BGR2Lab)[0])
    while True:
        step = _EXTRA_TRIED[0]
        _EXTRA_TRIED[0] += 1
        if step < len(_EXTRA_ROUNDS) * 180:
            saturation, value = _EXTRA_ROUNDS[step // 180]
            hue = round(step * 0.618034 % 1 * 180)  # OpenCV's hues: 0-179
            b, g, r = cv2.cvtColor(np.asarray([[[hue % 180, saturation, value]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
        else:  # a head of hundreds of classes: any colour not taken yet, a different one each step
            n = step - len(_EXTRA_ROUNDS) * 180
            b, g, r = 80 + n % 176, 80 + n // 176 % 176, 80 + n // 176 ** 2 % 176
        color = (int(b), int(g), int(r))
        lab = cv2.cvtColor(np.asarray([[color]], np.float32) / 255, cv2.COLOR_BGR2Lab)[0, 0]
        far = step >= len(_EXTRA_ROUNDS) * 180 or \
            np.linalg.norm(np.asarray(_EXTRA_LAB) - lab, axis=1).min() >= COLOR_APART
        if far and color not in PALETTE and color not in _EXTRA:
            _EXTRA_LAB.append(lab)
            return color


def _is_color(value) -> bool:
    """A (B, G, R) of 3 finite numbers (out-of-range ones are clipped to 0-255 when drawn, as OpenCV does)."""
    return (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 3
            and all(not isinstance(c, (bool, str)) and isinstance(c, (int, float, np.number)) and math.isfinite(c)
                    for c in value))


@dataclass
class _LabelMemory:
    """The last frame's label length (its LABEL_TIERS tier), for how many frames in a row longer ones would have
    fitted, its letters' size, and each track's label place (_Block.where) with how many frames in a row a place
    it prefers has been free (_Block.waited)."""

    tier: int = 0
    calm: int = 0
    scale: float = 0.0  # the letters' size before any shrinking (0: none yet)
    asked: int = 0  # frames in a row the faces asked for letters of another size
    # Looked up by a face's track_id: an untracked face's None finds nothing, and is never stored.
    where: dict[int | None, tuple[tuple[int, int], int]] = field(default_factory=dict)


def drawable(text: str) -> str:
    """`text` in the letters OpenCV's font has. It draws each UTF-8 byte outside ASCII as "?", so a class folder
    named "Lunettes é" was drawn "Lunettes ??": accents are dropped ("e"), other letters are one "?" each. Used
    for a letter no font here has (東 where no Japanese font is installed), or all where matplotlib cannot load."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(c if c.isascii() else "?" for c in folded)


# Text outside ASCII is drawn from DejaVu Sans (matplotlib's own font) and the installed fonts plot_fonts falls back
# to, letter by letter: OpenCV's Hershey fonts drew "mit_Maske_ü" as "Mit Maske ?" and "ohne_東京" as "Ohne ??".
# ASCII text keeps OpenCV's font, the fast path. GLYPH_PX: font pixels per unit of OpenCV's scale, which makes
# DejaVu's capitals as tall as Hershey's (22 px at 1.0).
GLYPH_PX = 30


@functools.lru_cache(maxsize=2)
def _label_fonts(bold: bool) -> tuple:
    """(font, the code points it has) for DejaVu Sans (bold for thick lines) and each installed FALLBACK_FONTS;
    none where matplotlib cannot be loaded (then OpenCV draws drawable(text))."""
    from .errors import FacekitError
    from .runtime import matplotlib_folder

    try:
        matplotlib_folder()  # first: where the home cannot be written, matplotlib's font cache goes elsewhere
        import matplotlib
        from matplotlib import font_manager

        from .evaluation import installed_fallback_fonts

        files = [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" /
                     ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"))]
        files += [font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
                  for name in installed_fallback_fonts()]
    except (FacekitError, ImportError, OSError, ValueError):
        return ()
    fonts = []
    for file in files:
        try:
            font = font_manager.get_font(file)
        except (OSError, RuntimeError):  # a font file FreeType cannot read
            continue
        fonts.append((font, frozenset(font.get_charmap())))
    return tuple(fonts)


# The fonts are FreeType objects with a state (their size, their last letter), shared by every thread that draws.
_FONT_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _glyph(char: str, px: int, bold: bool) -> tuple[np.ndarray, float, int, int] | None:
    """One letter at `px`: its coverage (0-255), advance (px), left offset and baseline row in the coverage; None
    where no font has it. Cached: a video's labels are made of the same few letters frame after frame."""
    for font, has in _label_fonts(bold):
        if ord(char) not in has:
            continue
        with _FONT_LOCK:
            font.set_size(px, 72)  # 72 dpi: a point is a pixel
            advance = font.load_char(ord(char)).horiAdvance / 64  # hinted, as the letters are drawn
            if char.isspace():  # no ink: FreeType has no bitmap to draw
                return np.zeros((0, 0), np.uint8), advance, 0, 0
            try:
                font.set_text(char)
                font.draw_glyphs_to_bitmap(antialiased=True)
            except RuntimeError:  # a letter of no ink (a zero-width joiner): "No glyphs have been loaded"
                return np.zeros((0, 0), np.uint8), advance, 0, 0
            alpha = np.asarray(font.get_image()).copy()  # the font's own buffer is the next letter's
            # The coverage's last row lies a pixel under the letter's lowest (matplotlib's Agg draws it so).
            baseline = alpha.shape[0] - round(font.get_descent() / 64) - 1
            return alpha, advance, round(font.get_bitmap_offset()[0] / 64), baseline
    return None


@functools.lru_cache(maxsize=512)
def _rendered(text: str, px: int, bold: bool) -> tuple[np.ndarray, int] | None:
    """`text`'s coverage (0-255) and baseline row, from _label_fonts letter by letter; a letter none has is drawn as
    drawable() writes it. None where no font could be loaded. Cached: placing a label measures it several times."""
    if not _label_fonts(bold):
        return None
    parts, pen = [], 0.0
    for char in unicodedata.normalize("NFC", text):
        # A letter no font has: as drawable() writes it ("?"), a space no font has (a tab): a space.
        for letter in ((char,) if _glyph(char, px, bold) else " " if char.isspace() else drawable(char)):
            # DejaVu Sans has "?": not None (were no font to have it, this would fail as it did before).
            alpha, advance, left, baseline = cast(tuple[np.ndarray, float, int, int],
                                                  _glyph(letter, px, bold) or _glyph("?", px, bold))
            if alpha.size:
                parts.append((alpha, int(round(pen)) + left, baseline))
            pen += advance
    if not parts:
        return np.zeros((1, max(1, int(round(pen)))), np.uint8), 1
    shift = -min(0, min(x for _, x, _ in parts))  # a first letter that reaches left of the pen (j)
    up = max(b for _, _, b in parts)
    height = up + max(a.shape[0] - b for a, _, b in parts)
    width = max(int(round(pen)), max(x + a.shape[1] for a, x, _ in parts)) + shift
    out = np.zeros((height, width), np.uint8)
    for alpha, x, baseline in parts:
        y, x = up - baseline, x + shift
        np.maximum(out[y:y + alpha.shape[0], x:x + alpha.shape[1]], alpha,
                   out=out[y:y + alpha.shape[0], x:x + alpha.shape[1]])
    return out, up


def _text_size(text: str, scale: float, thick: int) -> tuple[tuple[int, int], int]:
    """cv2.getTextSize's ((width, height above the baseline), depth below it) for any text."""
    drawn = None if text.isascii() else _rendered(text, max(6, round(GLYPH_PX * scale)), thick > 1)
    if drawn is None:
        size, depth = cv2.getTextSize(text if text.isascii() else drawable(text), cv2.FONT_HERSHEY_SIMPLEX, scale,
                                      thick)
        return cast(tuple[int, int], size), depth  # the stubs say Sequence[int]: it is (width, height)
    alpha, baseline = drawn
    return (alpha.shape[1], baseline), alpha.shape[0] - baseline


def _put_text(img: np.ndarray, text: str, x: int, y: int, scale: float, color: Color, thick: int) -> None:
    """cv2.putText for any text, its baseline's left end at (x, y); text outside ASCII is blended into the image
    from its _rendered coverage."""
    drawn = None if text.isascii() else _rendered(text, max(6, round(GLYPH_PX * scale)), thick > 1)
    if drawn is None:
        cv2.putText(img, text if text.isascii() else drawable(text), (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                    thick, cv2.LINE_AA)
        return
    alpha, baseline = drawn
    top = y - baseline
    y0, x0 = max(0, top), max(0, x)
    y1, x1 = min(img.shape[0], top + alpha.shape[0]), min(img.shape[1], x + alpha.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    cover = alpha[y0 - top:y1 - top, x0 - x:x1 - x, None].astype(np.float32) / 255
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi * (1 - cover) + np.asarray(color, np.float32) * cover + 0.5).astype(np.uint8)


# A photo smaller than this (a face crop, a thumbnail) is drawn on a copy enlarged by a whole factor: its labels
# need about 110-220 px of width even in the smallest letters, and ran past the edge of a 78-px crop.
MIN_DRAWN_SIDE = 240
# Labels at their smallest (scale 0.4, ~9-px letters, ~110 px wide) suit faces of LABEL_FACE px: a smaller photo
# whose faces are narrower (a 640-px group shot, a 320-px crowd) is drawn enlarged too, up to MAX_DRAWN_SIDE on its
# long side: drawn at its own size, every label covered its face and its neighbours' (solvay_conference.jpg at 320
# px: faces of ~15 px under 110-px labels).
LABEL_FACE = 72
MAX_DRAWN_SIDE = 1280


def _enlargement(shape, faces: list[Face]) -> int:
    """The whole factor a photo is drawn enlarged by (enlarge_small): to MIN_DRAWN_SIDE, and for faces that are
    narrower than their labels, towards LABEL_FACE px wide, as far as MAX_DRAWN_SIDE allows."""
    long = max(shape[:2])
    factor = -(-MIN_DRAWN_SIDE // long)
    if faces:
        # The labels need the width: a 90x341 strip (a tall photo cut down to one person) was drawn at its own size,
        # its face's three labels cut to "No Mask" alone, over the face. It is made MIN_DRAWN_SIDE wide where the
        # long side allows.
        factor = max(factor, min(-(-MIN_DRAWN_SIDE // shape[1]), MAX_DRAWN_SIDE // long))
        median = float(np.median([f.box.width for f in faces]))
        factor = max(factor, min(math.ceil(LABEL_FACE / max(1.0, median)), MAX_DRAWN_SIDE // long))
    return max(1, factor)


def annotate(image: ImageInput, faces: Iterable[Face], style: Style | None = None, fps: float | None = None,
             copy: bool = True, enlarge_small: bool = False, band: bool = False) -> np.ndarray:
    """Draw each face's box, track id, every head's label and probability, landmarks and pose; returns an
    8-bit BGR image (for matplotlib: `plt.imshow(out[..., ::-1])`). `image` is what `FaceAnalyzer.analyze`
    takes: a BGR array is drawn on as it is (in place with copy=False); a gray, BGRA or float array, a PIL
    image, a path, encoded bytes or a binary file object on an 8-bit BGR copy, as analyze() read it.
    style: None draws each label as the scripts do, in the text and colour its head's card in the models folder
    gives ("No Mask" in red), else in the palette's.
    enlarge_small: an image under MIN_DRAWN_SIDE px on its long side, or one under MAX_DRAWN_SIDE whose faces are
    narrower than LABEL_FACE px (their median), is drawn enlarged by a whole factor, so the result is bigger than
    the image (the photo scripts; video keeps its frames' size).
    band: the image is one face (a face crop: `classify_whole`, the photo script's --crops), whose labels go in a
    dark band added under it, not on it: the result is taller than the image (and the image is not drawn on)."""
    # Taken as a list: a generator of faces (`f for f in faces if f.score > 0.8`) was used up by the check below, and
    # the photo came back with nothing drawn on it, without a word.
    if isinstance(faces, (Face, Box)) or not isinstance(faces, Iterable):
        raise ArgumentError(f"annotate() draws a list of Face objects (what analyze returns), got a "
                            f"{type(faces).__name__}")
    faces = list(faces)
    if band and len(faces) > 1:  # a band's lines would not say whose they are
        raise ArgumentError(f"annotate(band=True) draws the labels of one face (a face crop) under it, got "
                            f"{len(faces)} faces")
    run = next((r for r in (getattr(f, VIDEO_RUN, None) for f in faces) if r is not None), None)  # before _scaled
    # A list of boxes or dicts (not Faces) was an AttributeError from inside, naming a `.box` nobody had written.
    caller = image
    stray = next((f for f in faces if not isinstance(f, Face)), None)
    if stray is not None:
        raise ArgumentError(f"annotate() draws Face objects (what analyze returns; Face.from_dict for a record), got "
                            f"a {type(stray).__name__}")
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.size):  # a 0-pixel one is analyze()'s ImageError, not an empty drawing
        # Drawn as it was, a gray photo took each colour's gray level (a red label black on its black block), a
        # BGRA one a transparent alpha, a float one came back as floats up to 255 and a PIL image was an
        # AttributeError from inside.
        image = as_image(image)
    # A dict given as the style was an AttributeError ('dict' object has no attribute 'font_scale') from inside.
    if style is not None and not isinstance(style, Style):
        raise ArgumentError(f"annotate(style=...): a facekit.drawing.Style (Style.from_heads(analyzer.heads)), got "
                            f"a {type(style).__name__}")
    # Without a style, as the scripts draw (the models folder's cards: "No Mask" in red): a bare Style drew
    # "Without mask" in the palette's gold, and a notebook's picture differed from the command's.
    if style is None:
        display, colors = _card_tables(str(models_dir()))
        style = Style(display={t: dict(v) for t, v in display.items()}, colors={t: dict(v) for t, v in colors.items()})
    style.check()
    # A Style not built from the heads hands out colours to the heads found here, all at once in TASK_ORDER: one by
    # one as drawn, the colours would follow the order of the first face's predictions.
    style._assign_heads({t: list(p.probabilities) for f in faces for t, p in f.predictions.items()
                         if t not in style._assigned})
    # fps="30" (a form's or a config's text) was "Unknown format code 'f' for object of type 'str'" from inside, once
    # the whole drawing was done; NaN and inf were drawn as "FPS: nan" and "FPS: inf".
    if fps is not None and (isinstance(fps, (bool, np.bool_)) or not isinstance(fps, numbers.Real)
                            or not math.isfinite(fps) or fps < 0):
        raise ArgumentError(f"annotate(fps={fps!r}): a number of frames a second, 0 or more, or None for none drawn")
    factor = _enlargement(image.shape, faces) if enlarge_small else 1
    if factor > 1:
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        faces = [_scaled(f, factor) for f in faces]
    out = image.copy() if (copy or band) and factor == 1 else image
    target = None  # the caller's array, where it is drawn on through a copy OpenCV can draw on
    if out is caller and out is image:  # drawn in place (copy=False) on the caller's own array
        # cv2.rectangle refused both, a traceback about an "output argument" or an "incompatible layout".
        if not out.flags.writeable:
            raise ArgumentError("annotate(copy=False) draws on the array itself, which is read-only: pass copy=True "
                                "for a drawn copy")
        if not out.flags.c_contiguous:  # a slice (frame[:, ::2]) or a Fortran-ordered array: drawn, then put back
            target, out = out, np.ascontiguousarray(out)
    h, w = out.shape[:2]
    # Text sized to the faces, not the photo: in a group shot, photo-sized labels bury the faces. Up to the
    # size a 1200-px photo gets, or more on a bigger one: a phone's 4000-px photo is looked at shrunk to a
    # screen, where 1.0 (22-px letters, 2-px lines) was a speck.
    ref = float(np.median([f.box.width for f in faces])) / 180 if faces else max(h, w) / 1200
    top_scale = style.font_scale or max(MIN_SCALE, min(max(1.0, max(h, w) / 1200), ref))
    boxes = [f.box for f in faces]
    labelled = {id(f) for f in sorted(faces, key=lambda f: -f.box.area)[:MAX_LABELLED]}
    # A video's frames (tracked faces) keep their labels' places and length while they still fit: placed afresh,
    # a label jumped between above and below its face several times a second.
    # Each analyze_video run keeps its own: one Style shared by two videos, in turn or at once (a web server's
    # threads), drew the second with the first's letter size and label places (track ids restart at 1 in every
    # video), unlike a Style of its own. Tracked faces without a run's mark (the video script's) share the Style's.
    memory = _LabelMemory()
    if any(f.track_id is not None for f in faces):
        memory = style._memory if run is None else style._runs.setdefault(run, _LabelMemory())
    # Sized to the faces afresh, a video's letters grew and shrank with every frame's boxes (0.91-0.98 on the
    # hamilton clip at 1280x720: 42 changes in 60 frames): they keep their size until the faces ask for another.
    # Nor for a frame or two: a small face coming and going (a track found, missed, found again) moved the faces'
    # median, and the letters went 1.0 -> 0.57 -> 0.89 -> 0.62 in three frames of the clip. Other sizes are taken
    # once the faces have asked for them SCALE_CALM_FRAMES frames in a row (smaller ones still at once where
    # labels would hide each other: lay_out shrinks them).
    if memory.scale and abs(top_scale / memory.scale - 1) <= SCALE_SLACK:
        top_scale, memory.asked = memory.scale, 0
    elif memory.scale and memory.asked + 1 < SCALE_CALM_FRAMES:
        top_scale, memory.asked = memory.scale, memory.asked + 1
    else:
        memory.asked = 0
    memory.scale = top_scale
    if band and faces:
        return _banded(out, faces[0], style, top_scale)

    def lay_out(tier: int) -> list:
        """The tries at `tier`: biggest letters first, until one hides no label (or the smallest)."""
        blocks = [(face, *_label_lines(face, style, tier)) for face in faces]
        scale = start = _fitted_scale(blocks, w, top_scale, style)
        tries = []
        while True:
            thick = max(1, int(round(scale * 2)))
            placed: list[tuple[int, int, int, int]] = []
            laid = []
            dropped = 0
            for face, color, lines in sorted(blocks, key=lambda item: -item[0].box.area):  # big faces choose first
                block = None
                if lines and id(face) in labelled:
                    block = _place_block(out.shape, lines, face.box, scale, thick, placed, boxes,
                                         *memory.where.get(face.track_id, (None, 0)))
                    dropped += block is None
                if block is not None:
                    laid.append((face.box, color, lines, block))
            # Only a few pairs: a try with many is nowhere near a layout (smaller letters come next), and untangling
            # every try cost a 39-face scene 89 ms a drawing instead of 17.
            if 0 < _overlaps(placed) <= UNTANGLE_PAIRS:
                placed = _untangle(out.shape, laid, scale, thick, boxes)
            outside = sum(not (0 <= x1 and x2 <= w and 0 <= y1 and y2 <= h) for x1, y1, x2, y2 in placed)
            # Labels painted over their own face: a close-up's, where letters a little smaller fit beside the face.
            covering = sum(block.over_own_face for *_, block in laid)
            tries.append(((_overlaps(placed) + dropped + outside, covering, tier, -scale), scale, thick, blocks, laid))
            # Labels wider than the gaps between a crowd's faces found no place of their own and hid each other's
            # text (crowd_masks.jpg, 2048 px: 6 of 18 at 1.35, 15 with the pose line): smaller letters until none
            # do, or the biggest that hide the fewest where smaller ones hide as many (two faces cheek to cheek).
            # Over its own face a label is smaller by at most OWN_FACE_SHRINK first.
            if style.font_scale or scale <= MIN_SCALE or not tries[-1][0][0] and (
                    not covering or scale * 0.85 < OWN_FACE_SHRINK * start):
                return tries
            scale = max(MIN_SCALE, scale * 0.85)

    def fitted(attempt) -> bool:
        """Whether a try's labels hide no label, and most are off their own faces: with --landmarks (a pose line more)
        11 of crowd_masks.jpg's 18 labels lay over their own eyes and mouths, where the shorter ones all fit above
        their faces. Fewer such labels are shortened on their own (_shorten_own)."""
        (hidden, covering, *_), *_, laid = attempt
        return not hidden and 2 * covering <= len(laid)

    tries = []
    first = memory.tier
    if first:
        # A video's labels get longer again only after the longer ones have fitted LABEL_CALM_FRAMES frames in a
        # row: taken the first frame they fitted, they were short again a few frames later, twice a second.
        longer = lay_out(first - 1)
        memory.calm = memory.calm + 1 if fitted(longer[-1]) else 0
        if memory.calm >= LABEL_CALM_FRAMES:
            tries, first = longer, LABEL_TIERS
    for tier in range(first, LABEL_TIERS):
        tries += lay_out(tier)
        # Still some at the smallest letters (a 320x180 video's audience: four-line labels as wide as three faces):
        # shorter labels, rather than text painted over text or past the frame's edge.
        if fitted(tries[-1]):
            break
    (_, _, tier, _), scale, thick, blocks, laid = min(tries, key=lambda t: t[0])
    _shorten_own(out.shape, laid, {id(face.box): face for face, _, _ in blocks}, style, tier, scale, thick, boxes)
    if tier != memory.tier:
        memory.tier, memory.calm = tier, 0
    tracks = {id(face.box): face.track_id for face in faces if face.track_id is not None}
    memory.where = {tracks[id(b)]: (block.where, block.waited) for b, _, _, block in laid if id(b) in tracks}
    box_thick = max(thick, int(round(max(h, w) / 1000)))  # a crowd's small faces' boxes stay visible too
    for face, color, _ in blocks:  # boxes first, so no box is drawn over another face's label
        b = face.box
        if style.landmarks and face.landmarks is not None:
            _draw_landmarks(out, face, style.landmarks, color)
        cv2.rectangle(out, (b.x1, b.y1), (b.x2 - 1, b.y2 - 1), color, box_thick)
    # Leaders before the labels, so a leader passing behind another face's label never crosses its text.
    for b, color, _, block in laid:
        _draw_leader(out, b, block, color, thick)
    for _, _, lines, block in laid:
        _paint_block(out, lines, block, scale, thick)
    if fps is not None:
        draw_fps(out, fps, scale)
    if target is not None:
        target[...] = out
        return target
    return out


def _banded(img: np.ndarray, face: Face, style: Style, scale: float) -> np.ndarray:
    """`img` (the face's box drawn on it) over a dark band of the face's label lines: a face crop has no room
    outside its face, and its labels were painted over its chin and mouth (what the mask and emotion heads read).
    The lines are shortened (LABEL_TIERS) rather than drawn under MIN_SCALE, and the band is as wide as they are."""
    h, w = img.shape[:2]
    for tier in range(LABEL_TIERS):
        color, lines = _label_lines(face, style, tier)
        fitted = _fitted_scale([(face, color, lines)], w, scale, style)
        thick = max(1, int(round(fitted * 2)))
        sizes = [_text_size(text, fitted, thick) for text, _ in lines]
        if max((tw for (tw, _), _ in sizes), default=0) + 6 <= w:
            break
    if style.landmarks and face.landmarks is not None:
        _draw_landmarks(img, face, style.landmarks, color)
    b = face.box
    cv2.rectangle(img, (b.x1, b.y1), (b.x2 - 1, b.y2 - 1), color, max(thick, int(round(max(h, w) / 1000))))
    if not lines:
        return img
    ascent = max(th for (_, th), _ in sizes)
    step = ascent + max(base for _, base in sizes) + 3
    width = max(tw for (tw, _), _ in sizes) + 4
    out = np.zeros((h + step * len(lines) + 2, max(w, width), 3), np.uint8)
    out[:h, :w] = img
    _paint_block(out, lines, _Block(0, h, width, step * len(lines) + 2, ascent, step), fitted, thick)
    return out


MIN_SCALE = 0.4  # OpenCV's letters ~9 px tall: smaller ones blur into each other
UNTANGLE_PAIRS = 3  # labels hiding each other in at most this many pairs are placed again (_untangle)
OWN_FACE_SHRINK = 0.7  # letters down to this share of their size, to put a label beside its face rather than over it


def _fitted_scale(blocks, w: int, scale: float, style: Style) -> float:
    """`scale`, made smaller (down to MIN_SCALE) where a line would be wider than the image (a face filling a small
    photo)."""
    if style.font_scale:
        return scale
    widest = max((_text_size(t, scale, max(1, round(scale * 2)))[0][0]
                  for _, _, lines in blocks for t, _ in lines), default=0)
    if widest and widest + 6 > w:  # no label (no face) on a strip under 6 px wide: nothing to fit, no 0 to divide
        scale = max(MIN_SCALE, scale * (w - 6) / widest)
    return scale


def draw_fps(image: np.ndarray, fps: float, scale: float | None = None) -> None:
    """The processing speed, top left, in place: for a live window (the video script keeps it out of the
    video it writes, where it would be a different number on every run)."""
    draw_status(image, f"FPS: {fps:.1f}", scale)


def draw_status(image: np.ndarray, text: str, scale: float | None = None) -> None:
    """A line on the live window's state where draw_fps puts the speed, in place: a longer one covers it."""
    scale = scale or max(0.5, max(image.shape[:2]) / 1200)
    _label(image, text, 8, 8 + int(22 * scale), scale, (255, 255, 255), max(1, int(round(scale * 2))))


def _scaled(face: Face, factor: int) -> Face:
    """The face as it lies in the image enlarged `factor` times (only what is drawn)."""
    b, kps = face.box, face.keypoints
    return face.replace(box=Box(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor),
                        landmarks=None if face.landmarks is None else face.landmarks * factor,
                        keypoints=None if kps is None else {k: (x * factor, y * factor) for k, (x, y) in kps.items()})


EYES_ONLY_GREY = 25  # a quarter of a grey of 100, mixed into an eyes-only emotion line's colour


def head_lines(face: Face, style: Style) -> list[tuple[str, Color]]:
    """One (text, BGR colour) line per head. A masked face's emotion is read from the eyes alone, so
    it is marked "(eyes only)" and drawn dimmer: less certain, but still shown."""
    return _head_lines(face, style)


def _head_lines(face: Face, style: Style, short: bool = False) -> list[tuple[str, Color]]:
    """head_lines; `short`: whole percents, no colon, "(eyes)" for "(eyes only)" (labels of a crowd in a small
    frame)."""
    lines = []
    for task, pred in face.predictions.items():
        color = style.color(task, pred.label, list(pred.probabilities))
        name = style.text(task, pred.label)
        text = f"{name} {_percent(pred.score, 0)}%" if short else f"{name}: {_percent(pred.score, 2)}%"
        if task == "emotion" and face.emotion_eyes_only:
            text += " (eyes)" if short else " (eyes only)"
            # Dimmer on the dark backing, still readable: darkened to 60%, fear's deep pink and sad's violet fell to
            # 2.5:1 and 2.8:1 against the black (under WCAG's 3:1 for any text); a quarter grey keeps every emotion
            # colour at 4.5:1 or more, each still dimmer than its plain line.
            color = (int(0.75 * color[0] + EYES_ONLY_GREY), int(0.75 * color[1] + EYES_ONLY_GREY),
                     int(0.75 * color[2] + EYES_ONLY_GREY))
        lines.append((text, color))
    return lines


def _percent(score: float, decimals: int) -> str:
    """score in percent to `decimals` places; one short of 1 stops a step under 100 ("99.99", "99"): "100.00%" for
    0.99998 drew a certainty the head did not give, and Prediction's extra digits would crowd the label."""
    text = f"{score * 100:.{decimals}f}"
    return f"{100 - 10 ** -decimals:.{decimals}f}" if score < 1.0 and float(text) >= 100.0 else text


def _label_lines(face: Face, style: Style, tier: int) -> tuple[Color, list[tuple[str, Color]]]:
    """The box colour and label lines of a face at LABEL_TIERS' `tier`: 0 every line as it is; 1 shorter lines,
    the track id beside the first head's label, no pose; 2 only that first line; 3 only the first head's label."""
    lines = _head_lines(face, style, short=tier > 0)
    color = lines[0][1] if lines else GRAY  # the box takes the first head's colour (mask: green / red)
    if tier == 3:
        task, pred = next(iter(face.predictions.items()), ("", None))
        return color, [(style.text(task, pred.label), color)] if pred is not None else []
    track = None if face.track_id is None else f"#{face.track_id}"
    if tier == 0:
        if track:
            lines.insert(0, (track, color))
        if face.pose is not None:
            lines.append((str(face.pose), color))
        return color, lines
    if track:
        lines = [(f"{track} {lines[0][0]}", lines[0][1])] + lines[1:] if lines else [(track, color)]
    return color, lines[:1] if tier == 2 else lines


LABEL_TIERS = 4
# Labels of the biggest this many faces are placed; the others' boxes (in their label's colour) show no text.
# Placing a label looks at every label already placed, quadratic in the faces: a stadium's hundreds would cost every
# video frame that much, for labels no one could read among so many.
MAX_LABELLED = 40
LABEL_CALM_FRAMES = 30  # a second of video before its labels get longer again
# A quarter of a second of video with a place a label prefers (above its face) free before it goes back there.
LABEL_RETURN_FRAMES = 8
SCALE_SLACK = 0.15  # a video's letters change size only for faces this much (a fraction) bigger or smaller
SCALE_CALM_FRAMES = 8  # and only once the faces have asked for it this many frames in a row


# A face narrower than this whose label finds no free place shows its box (in its label's colour) without
# the text: in a crowd, labels of 8-20 px faces would otherwise pile up over the faces themselves.
SMALL_FACE_TEXT = 24


# _place_block's places (_Block.where): tops AT_OWN_FACE (its chin's, its forehead's) are over the face itself but
# for the lefts BESIDE it (right, left); the lefts before those align with the box (left, right, centred).
AT_OWN_FACE = (16, 17)
BESIDE = (3, 4)


class _Block(NamedTuple):
    """Where a face's label block lies, and its text metrics (px)."""

    x: int
    top: int
    width: int
    height: int
    ascent: int
    step: int  # one line's height, spacing included
    where: tuple[int, int] = (0, 0)  # which of _place_block's places: (its top's, its left's), for the next frame
    waited: int = 0  # frames in a row a place before `where` in the order of preference was as good (and free)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return self.x, self.top, self.x + self.width, self.top + self.height

    @property
    def over_own_face(self) -> bool:
        return self.where[0] in AT_OWN_FACE and self.where[1] not in BESIDE


def _place_block(shape, lines, box, scale, thick, placed, faces=(), prefer=None, waited=0,
                 hide_cost: float = 3.0) -> _Block | None:
    """Where a face's text lines go: stacked above its box (below when there is no room, then beside it), moved
    clear of the blocks already placed and of the other faces (`faces`: their boxes), so that in a group photo one
    face's labels hide neither another's labels nor another face; when no place outside is free, over
    the face's own box rather than over a neighbour. A small face with no place free of other labels
    gets no text (None); a bigger one overlaps as little as it can rather than lose its labels. `prefer`: the
    place (_Block.where) the face's label had in the last frame, kept while it hides no more than the best place,
    and until a place it prefers (above the box) has been as good for LABEL_RETURN_FRAMES frames in a row
    (`waited`: the frames before this one). `hide_cost`: what a px of another label hidden costs against a px of
    another face covered. The block is also appended to `placed`."""
    sizes = [_text_size(text, scale, thick) for text, _ in lines]
    ascent = max(th for (_, th), _ in sizes)
    descent = max(base for _, base in sizes)
    step = ascent + descent + 3  # from the font's own metrics: descenders (g, y, p) stay visible
    width = max(tw for (tw, _), _ in sizes) + 4
    height = step * len(lines) + 2
    h, w = shape[:2]
    above, below = box.y1 - 3 - height, box.y2 + 2
    # Numbered places, the same from frame to frame: 0 above, 1 below, 2-8 further above, 9-15 further below,
    # 16 at its chin, 17 at its forehead (beside the box, else over it).
    tops = ([above, below] + [above - k * step for k in range(1, 8)] + [below + k * step for k in range(1, 8)]
            + [box.y2 - 2 - height, box.y1 + 2])
    order = list(range(len(tops))) if above >= 0 else [1, 0] + list(range(2, len(tops)))
    # Its left edge at the box's, else its right edge at the box's, else centred (supervision's anchors): in a
    # crowd's row, labels wider than a face find room over the face beside them on either side.
    lefts = [int(max(0, min(x, w - width))) for x in (box.x1, box.x2 - width, (box.x1 + box.x2 - width) // 2)]
    # Then beside the box, its top at the forehead's or its bottom at the chin's (3 right, 4 left), before its own
    # face: a close-up (a webcam leaned into, a face cut by the frame's edge) has no room above or below, and its
    # label was painted over the face it names, with room beside it.
    lefts += [box.x2 + 2, box.x1 - 2 - width]
    aligned = range(BESIDE[0])
    where = [(t, a) for t in order if t not in AT_OWN_FACE and 0 <= tops[t] <= h - height for a in aligned]
    where += [(t, a) for t in AT_OWN_FACE[::-1] if 0 <= tops[t] <= h - height
              for a in BESIDE if 0 <= lefts[a] <= w - width]
    where += [(t, a) for t in AT_OWN_FACE if 0 <= tops[t] <= h - height for a in aligned]
    fits = [(lefts[a], tops[t]) for t, a in where]
    if not where:  # a block taller than the image: from its top
        where, fits = [(0, 0)], [(lefts[0], max(0, min(above, h - height)))]

    def overlap(rects) -> np.ndarray:
        """Area each candidate block shares with the rects, summed: (len(fits),)."""
        if not len(rects):
            return np.zeros(len(fits))
        r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        c = np.asarray(fits, dtype=np.float64)
        wide = np.clip(np.minimum(c[:, :1] + width, r[:, 2]) - np.maximum(c[:, :1], r[:, 0]), 0, None)
        tall = np.clip(np.minimum(c[:, 1:] + height, r[:, 3]) - np.maximum(c[:, 1:], r[:, 1]), 0, None)
        return (wide * tall).sum(axis=1)

    on_labels = overlap(placed)
    if min(box.width, box.height) < SMALL_FACE_TEXT and on_labels.all():
        return None
    # Another label hidden costs more than another face partly covered: its text would be unreadable.
    cost = hide_cost * on_labels + overlap([(f.x1, f.y1, f.x2, f.y2) for f in faces if f is not box])
    best = int(np.argmin(cost))  # the first of the cheapest, in the order of preference

    def hides_face(i: int) -> bool:
        """Whether the block at fits[i] covers more than half of another face's box."""
        x, top = fits[i]
        for f in faces:
            if f is box:
                continue
            wide = min(x + width, f.x2) - max(x, f.x1)
            tall = min(top + height, f.y2) - max(top, f.y1)
            if wide > 0 and tall > 0 and wide * tall > 0.5 * max(1, (f.x2 - f.x1) * (f.y2 - f.y1)):
                return True
        return False

    if prefer in where:
        kept = where.index(prefer)
        # A label kept over its own chin (no room above its face a while ago) stayed there after the face had moved
        # down, room above it again: it goes back once a place it prefers has been as good for a while, not at
        # the first frame it is (that place comes and goes as neighbours move, and the label with it).
        # It must fit with half a line to spare, too: a face that sways at the frame's edge, where that place just
        # fits and just does not, sent its label there and back (the clip's track 10, frames 103-116).
        spare = step // 2 <= fits[best][1] <= h - height - step // 2
        waited = waited + 1 if best < kept and cost[best] <= cost[kept] and spare else 0
        # A little more of a neighbour's face covered (faces move) keeps it; another label's text hidden does not,
        # nor most of a face: the hamilton clip's track 3 kept its label over the whole of track 5's face, which
        # had come up under it (frame 49), where a place hiding none of it was free.
        if (waited < LABEL_RETURN_FRAMES and on_labels[kept] <= on_labels[best]
                and cost[kept] <= cost[best] + 0.25 * width * height
                and not (hides_face(kept) and not hides_face(best))):
            best = kept
        else:
            waited = 0
    else:
        waited = 0
    x, top = fits[best]
    placed.append((x, top, x + width, top + height))
    return _Block(x, top, width, height, ascent, step, where[best], waited)


def _untangle(shape, laid: list, scale: float, thick: int, boxes, rounds: int = 3) -> list:
    """Labels placed one by one, big faces first, can leave a crowd's later ones no free place although one exists
    (crowd_masks.jpg at 320x180: 18 labels wider than the faces' pitch, 3 pairs hiding each other). Each label that
    still hides another is placed again among all the others, while that hides fewer; `laid` is changed in place,
    and the blocks' rects are returned."""
    for _ in range(rounds):
        changed = False
        for i, (box, color, lines, block) in enumerate(laid):
            others = [b.rect for j, (*_, b) in enumerate(laid) if j != i]
            among = _overlaps(others)
            hidden = _overlaps([block.rect, *others]) - among
            if not hidden:
                continue
            # Now any place that hides no label, however much of the faces it covers, before one that does.
            again = _place_block(shape, lines, box, scale, thick, list(others), boxes, hide_cost=1e6)
            if again is not None and _overlaps([again.rect, *others]) - among < hidden:
                laid[i] = (box, color, lines, again)
                changed = True
        if not changed:
            break
    return [b.rect for *_, b in laid]


def _shorten_own(shape, laid: list, faces: dict, style: Style, tier: int, scale: float, thick: int, boxes) -> None:
    """A label left over its own face gets the shorter lines of the next LABEL_TIERS, on its own, where those find a
    place beside, above or below it that hides no more labels: with --landmarks a crowd's labels (a pose line more,
    wider) found no room above their faces, and 11 of crowd_masks.jpg's 18 were painted over their own eyes and
    mouths, while shortening every face's label for those few cost the others theirs. `laid` is changed in place;
    `faces`: id(face.box) -> face."""
    for i, (box, color, lines, block) in enumerate(laid):
        if not block.over_own_face:
            continue
        others = [b.rect for j, (*_, b) in enumerate(laid) if j != i]
        hidden = _overlaps([block.rect, *others])
        for shorter in range(tier + 1, LABEL_TIERS):
            _, short = _label_lines(faces[id(box)], style, shorter)
            if not short or short == lines:
                continue
            again = _place_block(shape, short, box, scale, thick, list(others), boxes)
            if again is not None and not again.over_own_face and _overlaps([again.rect, *others]) <= hidden:
                laid[i] = (box, color, short, again)
                break


def _overlaps(rects) -> int:
    """How many pairs of the (x1, y1, x2, y2) rects share some area."""
    if len(rects) < 2:
        return 0
    r = np.asarray(rects, dtype=np.float64)
    wide = np.minimum(r[:, None, 2], r[None, :, 2]) - np.maximum(r[:, None, 0], r[None, :, 0])
    tall = np.minimum(r[:, None, 3], r[None, :, 3]) - np.maximum(r[:, None, 1], r[None, :, 1])
    return int(np.triu((wide > 0) & (tall > 0), k=1).sum())


def _paint_block(img, lines, block: _Block, scale, thick) -> None:
    x, top, width, height, ascent, step, *_ = block
    # One dark backing for the whole block keeps every line readable on bright photos.
    cv2.rectangle(img, (x, top), (x + width - 1, top + height - 1), (0, 0, 0), -1)  # within the placed rect
    y = top + 1 + ascent
    for text, color in lines:
        _put_text(img, text, x + 2, y, scale, color, thick)
        y += step


def _draw_leader(img, box, block: _Block, color, thick) -> None:
    """A line in the box's colour from a label block moved away from its face (a crowd pushes it up to
    seven lines off) to the face's box: without it, which label belongs to which face was a guess."""
    x, top, width, height, _, step, *_ = block
    if top + height <= box.y1 - step // 2:
        y_label, y_box = top + height, box.y1
    elif top >= box.y2 + step // 2:
        y_label, y_box = top, box.y2 - 1
    else:  # beside the box, or over it
        return
    x_label = int(min(max(box.x1, x), x + width - 1))
    x_box = int(min(max(x_label, box.x1), box.x2 - 1))
    cv2.line(img, (x_label, int(y_label)), (x_box, int(y_box)), color, max(1, thick // 2), cv2.LINE_AA)


def _label(img, text, x, y, scale, color, thick):
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(max(0, min(x, img.shape[1] - tw - 2)))
    y = int(max(th + 2, min(y, img.shape[0] - base - 2)))
    # A dark backing keeps labels readable on bright photos.
    cv2.rectangle(img, (x, y - th - 3), (x + tw + 2, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


# px: a narrower face's mesh points are drawn one pixel each. At 64 px, crowd_masks.jpg at 640 px (77-px faces) had
# 86% of its eyes' and 82% of its mouths' pixels whitened by the smallest dots (5-px crosses), its faces' features
# buried; under 160 px such dots cover over a third of the eyes, one pixel a point a tenth or less.
MESH_PIXEL_FACE = 160
# px: a narrower face's mesh is drawn a point in k ((MESH_SPARSE_FACE / width)^2, rounded), and its key points' dots are
# 3 px (5 with their rim), not 5 (7): a 31-px face (a video's far one) had 82% of its eyes whitened by the mesh alone
# (88% with the key points), a 45-px one 60% (74%); now 30% (52%) and 28% (44%).
MESH_SPARSE_FACE = 64


def _draw_landmarks(img, face: Face, mode: str, color):
    landmarks = face.landmarks
    assert landmarks is not None  # its callers draw only a face that has them
    # 468 dots sit ~1-2% of the face apart: bigger dots merge into a white blob that hides the face.
    dot = max(1, int(round(face.box.width / 250)))
    if mode == "mesh" and face.box.width < MESH_PIXEL_FACE:
        # Even the smallest dots (3x3 px) whitened half of a 45-px face (a video's far faces): one pixel each.
        # Narrower than MESH_SPARSE_FACE, fewer points: about as many a pixel of face as at that width.
        pts = np.round(landmarks[::max(1, round((MESH_SPARSE_FACE / max(1, face.box.width)) ** 2)), :2])
        pts = pts.astype(int)
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < img.shape[1]) & (pts[:, 1] >= 0) & (pts[:, 1] < img.shape[0])]
        img[pts[:, 1], pts[:, 0]] = 255
    elif mode == "mesh":
        for x, y in landmarks[:, :2]:
            cv2.circle(img, (int(round(x)), int(round(y))), dot, (255, 255, 255), -1, cv2.LINE_AA)
    key = max(1 if face.box.width < MESH_SPARSE_FACE else 2, int(round(face.box.width / 60)))
    kps = face.keypoints or {}
    for x, y in kps.values():
        pt = (int(round(x)), int(round(y)))
        cv2.circle(img, pt, key + 1, (0, 0, 0), -1, cv2.LINE_AA)  # dark rim: visible on any skin tone
        cv2.circle(img, pt, key, color, -1, cv2.LINE_AA)
    nose = kps.get("nose_tip")
    if face.pose is not None and nose is not None:
        # Where the face points: its forward axis projected onto the image (roll does not move it).
        yaw, pitch = np.radians(face.pose.yaw), np.radians(face.pose.pitch)
        length = 0.6 * face.box.width
        end = (int(round(nose[0] + length * np.sin(yaw) * np.cos(pitch))),
               int(round(nose[1] - length * np.sin(pitch))))
        cv2.arrowedLine(img, (int(round(nose[0])), int(round(nose[1]))), end, (0, 200, 255),
                        max(1, key // 2), cv2.LINE_AA, tipLength=0.2)
