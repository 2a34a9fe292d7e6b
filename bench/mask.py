"""Mask head vs the PyImageSearch mask detector: held-out test split, real masks, ms per face.

    python -m bench.mask [--model DIR] [--limit N]

facekit's head runs here (LiteRT, no TensorFlow in this process); the baseline runs in its own
process (bench.baselines), so neither timing is skewed by the other's runtime.
"""

from __future__ import annotations

import sys


from bench import baselines as B
from bench.common import assets_root, head_bench_args, print_table

TASK = "mask"


def main(argv: list[str] | None = None) -> int:
    args = head_bench_args(TASK, __doc__, argv, "images per set")

    root = assets_root()
    labels = B.FACEKIT_LABELS[TASK]
    folder, head, card = B.load_facekit_head(TASK, args.model, "baseline numbers only")

    held = B.held_out_split(root / "datasets" / TASK, card, keep_wholes=True, limit=args.limit)
    real_paths, real_y = B.folder_dataset(root / "datasets" / "mask_real_val", labels, args.limit)
    timing_crops = held.crops[:8]

    rows = []
    if head is not None:
        from facekit.preprocess import load_image

        p_test = B.head_probs(head, held.crops)
        p_real = B.head_probs(head, [load_image(p) for p in real_paths])
        t = B.head_timing(head, timing_crops)
        B.assert_no_tensorflow("bench.mask")
        size = head.card.input_size
        crop_kind = "detector crop" if held.wholes is not None else "whole image"
        rows.append([f"facekit ({folder})", f"{crop_kind}, RGB {size}",
                     *_cells(held.y, p_test, real_y, p_real), B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    # One baseline process for everything: whole test images, the same detector crops, real set.
    n = len(held.y)
    inputs = (held.wholes or []) + held.crops
    probs, t = B.run_subprocess("pyimagesearch_mask", crops=inputs, image_paths=real_paths,
                                timing_crops=timing_crops)
    p_real = probs[len(inputs):]
    name = "PyImageSearch (MobileNetV2 224)"
    if held.wholes is not None:
        p_whole, p_crop = probs[:n], probs[n:2 * n]
        rows.append([name, "whole image (as it trained)", *_cells(held.y, p_whole, real_y, p_real),
                     B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])
        rows.append([name, "facekit's detector crop", *_cells(held.y, p_crop, None, None), "-", "-"])
    else:
        rows.append([name, "whole image", *_cells(held.y, probs[:n], real_y, p_real),
                     B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    counts = {lab: int((real_y == k).sum()) for k, lab in enumerate(labels)}
    print_table(
        "mask: facekit vs PyImageSearch",
        ["model", "input", "test acc", "test with_mask", "test without_mask",
         "real acc", "real with_mask", "real without_mask", "ms/face b1", "ms/face b8"],
        rows,
        [f"test = {held.description}: {len(held.y)} images.",
         "  The PyImageSearch model was trained on this same dataset (its own 80/20 split), so most of these",
         "  test images were in its training set: its test numbers are optimistic.",
         f"real = datasets/mask_real_val, whole images (224 px face crops) for both models: {counts}.",
         *B.card_note(card, held),
         "per-class columns are recall (accuracy on that class).",
         *B.TIMING_NOTE],
    )
    return 0


def _cells(y_test, p_test, y_real, p_real) -> list[str]:
    cells = [B.pct(B.accuracy(y_test, p_test)), *map(B.pct, B.per_class_accuracy(y_test, p_test, 2))]
    if y_real is None:
        return cells + ["-", "-", "-"]
    return cells + [B.pct(B.accuracy(y_real, p_real)), *map(B.pct, B.per_class_accuracy(y_real, p_real, 2))]


if __name__ == "__main__":
    sys.exit(main())
