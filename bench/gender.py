"""Gender head vs dlib-models' and oarriaga's gender classifiers on the trainer's held-out split.

    python -m bench.gender [--model DIR] [--limit N]

facekit's head runs here (LiteRT, no TensorFlow in this process); each baseline runs in its own
process (bench.baselines). Without a trained model the baselines are still measured on the split
the trainer would hold out with its defaults.
"""

from __future__ import annotations

import argparse
import sys

from bench import baselines as B
from bench.common import assets_root, print_table

TASK = "gender"
# (baseline, title, timed): the tight-crop oarriaga row is the same network, shown to make the
# effect of its padding visible, so it is not timed twice.
BASELINES = [("dlib_gender", "dlib-models gender v1 (ONNX)", True),
             ("oarriaga_gender", "oarriaga mini-Xception (IMDB)", True),
             ("oarriaga_gender_tight", "oarriaga mini-Xception (IMDB)", False)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gender", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: models/gender)")
    p.add_argument("--limit", type=int, help="use an evenly spread subset of N test images (development)")
    args = p.parse_args(argv)

    root = assets_root()
    labels = B.FACEKIT_LABELS[TASK]
    folder, head, card = B.load_facekit_head(TASK, args.model, "baseline numbers only, on the trainer's default split")

    held = B.held_out_split(root / "datasets" / TASK, card, keep_wholes=True, limit=args.limit)
    timing_crops = held.crops[:8]
    n = len(held.y)

    rows = []
    if head is not None:
        p_test = B.head_probs(head, held.crops)
        t = B.head_timing(head, timing_crops)
        B.assert_no_tensorflow("bench.gender")
        kind = "detector crop" if held.wholes is not None else "whole image"
        color = "gray" if head.card.color == "gray" else "RGB"
        rows.append([f"facekit ({folder})", f"{kind}, {color} {head.card.input_size}",
                     *B.metric_cells(held.y, p_test, len(labels)), B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    for name, title, timed in BASELINES:
        spec = B.BASELINES[name]
        inputs = (held.wholes or []) + held.crops
        probs, t = B.run_subprocess(name, crops=inputs, timing_crops=timing_crops if timed else None)
        t = t or {"ms_b1": None, "ms_b8": None}
        if held.wholes is not None:
            rows.append([title, f"whole image; {spec.input_desc}", *B.metric_cells(held.y, probs[:n], len(labels)),
                         B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])
            rows.append([title, "facekit's detector crop", *B.metric_cells(held.y, probs[n:], len(labels)), "-", "-"])
        else:
            rows.append([title, f"whole image; {spec.input_desc}", *B.metric_cells(held.y, probs, len(labels)),
                         B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    counts = {lab: int((held.y == k).sum()) for k, lab in enumerate(labels)}
    print_table(
        "gender: facekit vs dlib-models and oarriaga",
        ["model", "input", "test acc", "macro-F1", *labels, "ms/face b1", "ms/face b8"],
        rows,
        [f"test = {held.description}: {n} images {counts}.",
         "  Neither baseline saw this dataset in training (dlib: its own private set; oarriaga: IMDB-WIKI).",
         "dlib's package cuts a 5-landmark aligned chip (dlib.get_face_chip_details, padding 0.2); dlib is not",
         "  installed here, so it gets the unaligned face crop resized to 32x32, which may cost it some accuracy.",
         "oarriaga's model learnt from IMDB-WIKI crops with 40% margin around the face; its main row pads the",
         "  tight crop to that framing (border replicate), the 'tight crop' row shows it without.",
         *B.card_note(card, held),
         "per-class columns are recall.",
         *B.TIMING_NOTE],
    )
    return 0



if __name__ == "__main__":
    sys.exit(main())
