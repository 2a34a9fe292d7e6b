"""Dim light: every head on held-out faces dimmed as a dark scene shows them, with and without the exposure lift.

    python -m bench.lowlight [--levels 8,12,16,24] [--limit N]

Each head's validation set (mask_real_val, the gender trainer's val split, FER+ valid) and the mask
trainer's test split are scored as they are, then with every face dimmed to a mean brightness of L
(the face shrunk to 56 px as in a crowd, one gain for the whole crop, sensor noise of sd 2.5 grey
levels, a slight blur), once as facekit runs (`facekit.preprocess.lift_exposure`: a crop darker than
a mean of 60 brightened to 100, gain at most 8) and once with the lift turned off. The lift's
numbers were chosen on the mask test split; the validation rows check that it leaves faces in normal
light alone (the 0.3-point rule of the int8 twins) and what it does for each head in the dark.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from bench.common import ArgumentParser, assets_root, limit_count, machine_info, print_table, run_bench

WIDTH = 56  # px: a face in a crowd, the width most dark street faces have
NOISE = 2.5  # grey levels: a phone sensor's read noise in the dark
SEED = 1


def dim(crop: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """`crop` as a dark scene shows it: shrunk to WIDTH px, its mean brought to `level`, noisy, soft."""
    s = WIDTH / max(crop.shape[:2])
    if s < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA)
    f = crop.astype(np.float32) * (level / max(float(crop.mean()), 1.0)) + rng.normal(0, NOISE, crop.shape)
    return np.clip(cv2.GaussianBlur(f, (0, 0), 0.8), 0, 255).astype(np.uint8)


def face_sets(limit: int | None) -> list[tuple[str, str, list[np.ndarray], np.ndarray]]:
    """(name, task, crops, labels) for each set the bench scores."""
    import json

    from bench.mask import test_split
    from bench.quantize import validation
    from facekit.heads import available_tasks

    found = available_tasks()
    out = []
    if "mask" in found:
        card = json.loads((found["mask"] / "card.json").read_text())
        held = test_split(found["mask"], card, limit)
        out.append(("mask: the trainer's test split (chose the lift)", "mask", held.crops, held.y))
    names = {"mask": "mask: mask_real_val", "gender": "gender: val split (gender/ + CelebA)",
             "emotion": "emotion: FER+ valid"}
    for task in ("mask", "gender", "emotion"):
        if task in found:
            _, crops, y = validation(task, found[task], limit)
            out.append((names[task], task, crops, y))
    return out


def brightness_levels(text: str) -> list[float]:
    """--levels' type: "8,x" was a ValueError traceback, and -5 or 300 (outside 0-255) ran every head on them."""
    from facekit.cli.common import number

    levels = [number(v) for v in text.split(",") if v.strip()]
    if not levels or any(not 0 <= v <= 255 for v in levels):
        raise argparse.ArgumentTypeError(f"expected grey levels from 0 to 255 separated by commas, got {text!r}")
    return levels


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.lowlight", description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=brightness_levels, default="8,12,16,24",
                   help="mean brightness levels to dim faces to (0-255)")
    p.add_argument("--limit", type=limit_count, help="an evenly spread subset of N faces per set (development)")
    args = p.parse_args(argv)
    levels = args.levels
    assets_root()

    from bench import baselines as B
    from facekit import preprocess
    from facekit.heads import available_tasks, load_heads

    heads = load_heads(list(available_tasks()))
    print(f"[INFO] {machine_info()}", flush=True)
    lift = preprocess.DARK_CROP
    rows = []
    try:
        for name, task, crops, y in face_sets(args.limit):
            head = heads[task]
            for level in [None, *levels]:
                rng = np.random.default_rng(SEED)
                faces = crops if level is None else [dim(c, level, rng) for c in crops]
                cells = []
                for threshold in (lift, 0.0):  # as facekit runs, then the lift off
                    preprocess.DARK_CROP = threshold
                    probs = B.head_probs(head, faces)
                    worst = min(B.per_class_accuracy(y, probs, len(head.card.labels)))
                    cells += [B.pct(B.accuracy(y, probs)), B.pct(worst)]
                rows.append([name, "as photographed" if level is None else f"dimmed to {level:.0f}", len(y), *cells])
                print(f"[INFO] {name}, {rows[-1][1]}: {cells[0]} (lift off {cells[2]})", flush=True)
    finally:
        preprocess.DARK_CROP = lift
    print_table("every head in dim light: accuracy with the exposure lift (facekit) and without",
                ["set", "faces", "n", "with lift", "worst class", "lift off", "worst class"], rows,
                notes=[f"dimmed: shrunk to {WIDTH} px, mean brightness L (0-255), sensor noise sd {NOISE}, blur "
                       "sigma 0.8; the same noise for both columns.",
                       f"lift: a crop darker than a mean of {preprocess.DARK_CROP:.0f} is brightened to "
                       f"{preprocess.LIFTED_MEAN:.0f} (gain at most {preprocess.MAX_GAIN:.0f}); "
                       "facekit.preprocess.lift_exposure, which training uses too.",
                       "each head as photos run it (fp16); FACEKIT_INT8=1 scores the int8 twins video runs.",
                       machine_info()])
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
