"""`python -m facekit.convert mask_detector.model -m mask_detector`: a Keras classifier saved before facekit (the
PyImageSearch tutorial's HDF5 file) made into a head folder that `--model` takes."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .common import ArgumentParser, add_version, check_output_path, exit_status_help, guarded, info, prog_name, say

SCRIPT = "python -m facekit.convert"


def build_parser() -> argparse.ArgumentParser:
    from ..convert import SCALING_TEXT

    prog = prog_name(SCRIPT)
    p = ArgumentParser(
        prog=prog,
        description="Make a Keras face classifier saved outside facekit (such as the PyImageSearch tutorial's\n"
                    "mask_detector.model) into a model folder that detect_mask_image.py and detect_mask_video.py\n"
                    "take with --model. Needs TensorFlow (pip install 'facekit[train]'); the folder it writes\n"
                    "does not.",
        epilog="examples:\n"
               f"  {prog} mask_detector.model -m mask_detector\n"
               "  python detect_mask_image.py -i examples/example_01.png -m mask_detector\n"
               f"  {prog} glasses.h5 -m glasses --labels no_glasses,glasses --task glasses --preprocess unit\n"
               + exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, metavar="KERAS_FILE",
                   help="the Keras model: an HDF5 file (.model, .h5) or a .keras file")
    p.add_argument("-m", "--model", type=Path, required=True,
                   help="output model folder (new, empty, or a model folder of the same task, which it replaces "
                        "whole)")
    p.add_argument("--labels", default="with_mask,without_mask",
                   help="the model's outputs in order, comma-separated (default: with_mask,without_mask, the "
                        "tutorial's order)")
    p.add_argument("--task", default=None,
                   help="the head's name, its JSON field (default: mask for the tutorial's labels)")
    p.add_argument("--preprocess", choices=list(SCALING_TEXT), default="mobilenet_v2",
                   help="the pixel scaling the model was trained with, built into the export: "
                        + "; ".join(f"{k}: {v}" for k, v in SCALING_TEXT.items()) + " (default: mobilenet_v2)")
    p.add_argument("--data-licence", "--data-license", metavar="TEXT",
                   help="the terms of the images the model learnt from, e.g. 'prajnasb/observations: research and "
                        "education' for the tutorial's; the card keeps them (the weights inherit them), as the "
                        "trainer's --data-licence does (default: none recorded)")
    add_version(p)
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..convert import MASK_LABELS
    from ..errors import ModelError
    from ..heads import ModelCard
    from ..preprocess import special_kind
    from ..training import import_keras, require_train_modules

    labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    task = args.task or ("mask" if tuple(labels) == MASK_LABELS else None)
    if task is None:
        raise ModelError("--task is needed with other --labels than the tutorial's: the head's name, e.g. glasses")
    if not args.source.exists():
        raise ModelError(f"{args.source}: no such file")
    from ..convert import check_output_folder, convert, keras_file_kind

    # Each said before TensorFlow's seconds of import.
    if keras_file_kind(args.source) is None:
        special = special_kind(args.source)
        raise ModelError(f"{args.source} is not a Keras model file (HDF5 .model / .h5, or .keras)"
                         + (f": it is {special}" if special else ""))
    check_output_folder(args.model, args.source, task)
    check_output_path(args.model, "--model", folder=True)
    ModelCard.from_dict({"task": task, "labels": labels, "input_size": 224})  # its names, as the scripts check them
    # Keras to read the file, TensorFlow to export it; scikit-learn and matplotlib only train.
    require_train_modules("conversion", ("tensorflow", "keras"))
    info(f"loading {args.source}...")
    command = f"{prog_name(SCRIPT)} " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    from ..runtime import native_stderr

    import_keras("conversion")  # a TensorFlow that does not load: one line, not its traceback
    with native_stderr():  # TensorFlow's start-up chatter, a dozen lines between this command's own
        card = convert(args.source, args.model, labels, task, args.preprocess, command=command, log=say,
                       data_licence=args.data_licence)
    info(f"model folder written: {args.model} ({card['task']}: {', '.join(card['labels'])}; "
         f"{card['input_size']} px). Use it with: python detect_mask_image.py -i PHOTO -m {args.model}")
    if not args.data_licence:  # as the trainer says it: the scripts offer such a head as "no terms recorded"
        info("the card records no terms for the images the model learnt from, which the weights inherit: "
             "--data-licence TEXT records them")
    return 0
