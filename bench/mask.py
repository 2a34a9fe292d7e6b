"""Mask head vs the PyImageSearch mask detector: held-out test split, real masks, ms per face, and how
small a face can be and still get a right label.

    python -m bench.mask [--model DIR] [--limit N]

facekit's head runs here (LiteRT, no TensorFlow in this process); the baseline runs in its own
process (bench.baselines), so neither timing is skewed by the other's runtime. The test split is the
model folder's test_split.csv when it has one (the exact faces the trainer scored), else rebuilt from
the card.

Lines: mask_real_val's faces with one thin straight line drawn across each (a wire, a railing, a box another
program drew into the photo), at six heights and colours: a mask's top edge is a line across the nose, and a
head that learnt only that reads any such line as a mask.

By face width: the held-out test faces shrunk to W px wide (the crop a W px detector box gives, scaled
down with INTER_AREA, then up to the model input as inference does) -- the training data's held-out
faces, on which the smallest labelled face is chosen -- and, as a reported figure only, the ground-truth
boxes of mask_scenes_val by width.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from bench import baselines as B
from bench.common import assets_root, head_bench_args, machine_info, print_table, resolve_recorded, run_bench

TASK = "mask"


def main(argv: list[str] | None = None) -> int:
    args = head_bench_args(TASK, __doc__, argv, "images per set")

    root = assets_root()
    B.require("pyimagesearch_mask")
    print(f"[INFO] {machine_info()}", flush=True)
    labels = B.FACEKIT_LABELS[TASK]
    folder, heads, card = B.load_facekit_head(TASK, args.model, "baseline numbers only")

    held = test_split(folder, card, args.limit) if folder and (Path(folder) / "test_split.csv").is_file() else \
        B.held_out_split(root / "datasets" / TASK, card, limit=args.limit)
    real_paths, real_y = B.folder_dataset(root / "datasets" / "mask_real_val", labels, args.limit)
    timing_crops = held.crops[:8]

    rows, line_rows = [], []
    real_images = None
    lined_y = lined_crops = None
    from facekit.preprocess import load_image

    for title, head in heads:
        real_images = real_images if real_images is not None else [load_image(p) for p in real_paths]
        p_test = B.head_probs(head, held.crops)
        p_real = B.head_probs(head, real_images)
        if lined_crops is None:
            lined_crops, lined_y = crossed_by_lines(real_images, real_y, args.limit)
        line_rows.append([title, *_line_cells(lined_y, B.head_probs(head, lined_crops))])
        t = B.head_timing(head, timing_crops)
        B.assert_no_tensorflow("bench.mask")
        size = head.card.input_size
        crop_kind = "detector crop" if held.wholes is not None else \
            "test_split.csv crop" if held.description.endswith(TEST_SPLIT_NOTE) else "whole image"
        rows.append([title, f"{crop_kind}, RGB {size}, {head.model_path.name}",
                     *_cells(held.y, p_test, real_y, p_real), B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    # One baseline process for everything: whole test images, the same detector crops, real set.
    n = len(held.y)
    inputs = (held.wholes or []) + held.crops
    if lined_crops is None:  # no facekit model: the baseline's row alone
        lined_crops, lined_y = crossed_by_lines([load_image(p) for p in real_paths], real_y, args.limit)
    probs, t = B.run_subprocess("pyimagesearch_mask", crops=inputs + lined_crops, image_paths=real_paths,
                                timing_crops=timing_crops)
    p_real = probs[len(inputs) + len(lined_crops):]
    name = "PyImageSearch (MobileNetV2 224)"
    line_rows.append([name, *_line_cells(lined_y, probs[len(inputs):len(inputs) + len(lined_crops)])])
    if held.wholes is not None:
        p_whole, p_crop = probs[:n], probs[n:2 * n]
        rows.append([name, "whole image (as it trained)", *_cells(held.y, p_whole, real_y, p_real),
                     B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])
        rows.append([name, "facekit's detector crop", *_cells(held.y, p_crop, None, None), "-", "-"])
    else:
        rows.append([name, "facekit's test crop", *_cells(held.y, probs[:n], real_y, p_real),
                     B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    counts = {lab: int((real_y == k).sum()) for k, lab in enumerate(labels)}
    print_table(
        "mask: facekit vs PyImageSearch",
        ["model", "input", "test acc", "test with_mask", "test without_mask",
         "real acc", "real with_mask", "real without_mask", "ms/face b1", "ms/face b8"],
        rows,
        [f"test = {held.description}: {len(held.y)} images.",
         "  The PyImageSearch model was trained on datasets/mask (its own 80/20 split), so most of that set's",
         "  test images were in its training set: its test numbers are optimistic there.",
         f"real = datasets/mask_real_val, whole images (224 px face crops) for both models: {counts}.",
         *B.card_note(card, held),
         "per-class columns are recall (accuracy on that class).",
         *B.TIMING_NOTE, machine_info()],
    )
    print_table("mask_real_val crossed by a thin line (reported only; never used to choose)",
                ["model", "accuracy", "with_mask", "without_mask"], line_rows,
                [f"{len(lined_y) // len(LINES)} faces ({LINE_FACES} a class at most, evenly spread) x {len(LINES)} lines, "
                 "each straight across the face, level, at 55-82% of its height, 2 px at 224 px, red / white / blue / "
                 "green / black / yellow; per-class columns are recall."])
    if heads:
        by_width(heads[0][1], held, root / "datasets" / "mask_scenes_val", labels, args.limit)
    return 0


LINE_FACES = 60
LINES = ((0.55, (0, 0, 255)), (0.6, (255, 255, 255)), (0.65, (255, 0, 0)), (0.7, (0, 255, 0)), (0.76, (0, 0, 0)),
         (0.82, (0, 255, 255)))  # share of the face's height, BGR colour


def crossed_by_lines(images: list[np.ndarray], y: np.ndarray, limit: int | None = None):
    """Copies of up to LINE_FACES faces a class, each crossed by every one of LINES; their labels."""
    crops, ys = [], []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        n = min(len(idx), LINE_FACES, limit or LINE_FACES)
        for i in idx[np.linspace(0, len(idx) - 1, n).astype(int)]:
            h, w = images[i].shape[:2]
            for share, colour in LINES:
                copy = images[i].copy()
                row = int(round(share * h))
                cv2.line(copy, (0, row), (w - 1, row), colour, max(2, int(round(h / 112))), cv2.LINE_AA)
                crops.append(copy)
                ys.append(k)
    return crops, np.array(ys)


def _line_cells(y: np.ndarray, p: np.ndarray) -> list[str]:
    return [B.pct(B.accuracy(y, p)), *map(B.pct, B.per_class_accuracy(y, p, 2))]


WIDTHS = (6, 8, 10, 12, 14, 16, 20, 24, 32, 48)
TEST_SPLIT_NOTE = "test_split.csv (the faces the trainer tested on)"
SCENE_BINS = ((0, 12), (12, 16), (16, 20), (20, 24), (24, 32), (32, 64), (64, 10 ** 6))


def test_split(folder, card: dict, limit: int | None = None) -> B.HeldOut:
    """The faces the trainer tested on, from the model folder's test_split.csv (file, box, label)."""
    from facekit.evaluation import read_test_split
    from facekit.preprocess import CropSpec, crop_face, load_image
    from facekit.types import Box

    rows = read_test_split(Path(folder) / "test_split.csv")
    if limit and limit < len(rows):
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).astype(int)]
    labels = card["labels"]
    crop = CropSpec.from_dict(card.get("crop"))
    paths, crops, ys, last = [], [], [], None
    for file, box, label in rows:
        path = resolve_recorded(file)
        if path != last:  # the faces of one photo are consecutive rows: read it once, keep one in memory
            image, last = load_image(path), path
        crops.append(crop_face(image, Box(*box), crop) if box else image)
        paths.append(str(path))
        ys.append(labels.index(label))
    return B.HeldOut(paths, np.array(ys), labels, crops, None, f"{folder}/{TEST_SPLIT_NOTE}")


def shrink(crop: np.ndarray, width: int, margin: float) -> np.ndarray:
    """The crop a `width` px face box gives (the box plus its margin), from a full-resolution crop."""
    side = max(2, int(round(width * (1 + 2 * margin))))
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def by_width(head, held: B.HeldOut, scenes_root: Path, labels: list[str], limit: int | None = None) -> None:
    margin = head.card.crop.margin
    rows = []
    for w in WIDTHS:
        p = B.head_probs(head, [shrink(c, w, margin) for c in held.crops])
        rows.append([w, B.pct(B.accuracy(held.y, p)), *map(B.pct, B.per_class_accuracy(held.y, p, len(labels)))])
    print_table("Held-out test faces shrunk to W px wide (where the smallest labelled face is chosen)",
                ["face px", "accuracy", *labels], rows,
                [f"{len(held.y)} faces of {held.description}; crop = box + {margin:.0%} margin each side, scaled "
                 "down with INTER_AREA, then up to the model input as inference does."])

    import csv
    from collections import defaultdict

    from facekit.preprocess import crop_face, load_image
    from facekit.types import Box

    faces = defaultdict(list)
    with open(scenes_root / "boxes.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["label"] in labels:
                faces[r["image"]].append(r)
    names = sorted(faces)
    if limit and limit < len(names):  # --limit 40 read all 200 scenes and ran the head on their 839 faces twice
        names = [names[i] for i in np.linspace(0, len(names) - 1, limit).astype(int)]
    crops, greys, ys, widths = [], [], [], []
    for name in names:
        rs = faces[name]
        image = load_image(scenes_root / name)
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        for r in rs:
            box = Box(*(int(round(float(r[k]))) for k in ("xmin", "ymin", "xmax", "ymax")))
            crops.append(crop_face(image, box, head.card.crop))
            greys.append(crop_face(grey, box, head.card.crop))
            ys.append(labels.index(r["label"]))
            widths.append(box.width)
    ys, widths = np.array(ys), np.array(widths)
    rows = []
    # Grey copies: a black-and-white print or a camera's night infrared has no colour to go by.
    for picture, p in (("colour", B.head_probs(head, crops)), ("grey", B.head_probs(head, greys))):
        for lo, hi in [*SCENE_BINS, (0, 10 ** 6)]:
            m = (widths >= lo) & (widths < hi)
            if m.any():
                size = "all" if (lo, hi) == (0, 10 ** 6) else f"{lo}-{hi}" if hi < 10 ** 6 else f">={lo}"
                rows.append([picture, size, int(m.sum()), B.pct(B.accuracy(ys[m], p[m])),
                             *map(B.pct, B.per_class_accuracy(ys[m], p[m], len(labels)))])
    print_table("mask_scenes_val ground-truth boxes by width, in colour and made grey (reported only; never used "
                "to choose)", ["picture", "face px", "faces", "accuracy", *labels], rows,
                ["the dataset's own boxes, cropped as the card says (no detector: its misses are bench.detection's);",
                 "grey: the same scenes turned grey first."])


def _cells(y_test, p_test, y_real, p_real) -> list[str]:
    cells = [B.pct(B.accuracy(y_test, p_test)), *map(B.pct, B.per_class_accuracy(y_test, p_test, 2))]
    if y_real is None:
        return cells + ["-", "-", "-"]
    return cells + [B.pct(B.accuracy(y_real, p_real)), *map(B.pct, B.per_class_accuracy(y_real, p_real, 2))]


if __name__ == "__main__":
    sys.exit(run_bench(main))
