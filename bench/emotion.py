"""Emotion head vs the `fer` package's mini-Xception on all of FER2013's test images.

    python -m bench.emotion [--model DIR] [--limit N]

facekit's head runs here (LiteRT, no TensorFlow in this process); the baseline runs in its own
process (bench.baselines). Both get the whole 48x48 image: FER2013 images are face crops already.
"""

from __future__ import annotations

import sys

from bench import baselines as B
from bench.common import assets_root, head_bench_args, print_table

TASK = "emotion"
SHORT = {"angry": "ang", "disgust": "dis", "fear": "fear", "happy": "hap", "neutral": "neu", "sad": "sad",
         "surprise": "sur"}


def main(argv: list[str] | None = None) -> int:
    args = head_bench_args(TASK, __doc__, argv)

    root = assets_root()
    labels = B.FACEKIT_LABELS[TASK]
    test_dir = root / "datasets" / "fer2013" / "test"
    paths, y = B.folder_dataset(test_dir, labels, args.limit)
    from facekit.preprocess import load_image

    timing_crops = [load_image(p) for p in paths[:8]]

    rows = []
    folder, head, _ = B.load_facekit_head(TASK, args.model)
    if head is not None:
        probs = B.head_probs(head, [load_image(p) for p in paths])
        t = B.head_timing(head, timing_crops)
        B.assert_no_tensorflow("bench.emotion")
        rows.append([f"facekit ({folder})", f"{head.card.color} {head.card.input_size}",
                     *B.metric_cells(y, probs, len(labels)), B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    spec = B.BASELINES["fer_emotion"]
    probs, t = B.run_subprocess("fer_emotion", image_paths=paths, timing_crops=timing_crops)
    rows.append(["fer mini-Xception", spec.input_desc, *B.metric_cells(y, probs, len(labels)),
                 B.ms(t["ms_b1"]), B.ms(t["ms_b8"])])

    subset = f" [SUBSET: {len(y)} images]" if args.limit else ""
    print_table(
        "emotion: facekit vs fer (mini-Xception)",
        ["model", "input", "acc", "macro-F1", *(SHORT[lab] for lab in labels), "ms/face b1", "ms/face b8"],
        rows,
        [f"test = all of datasets/fer2013/test (PublicTest + PrivateTest){subset}: {len(y)} images, "
         "whole 48x48 images for both models.",
         "  The fer model trained on FER2013's Training rows; these rows were its validation set (checkpoint pick).",
         "per-class columns are recall.",
         *B.TIMING_NOTE],
    )
    return 0



if __name__ == "__main__":
    sys.exit(main())
