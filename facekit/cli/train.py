"""train_mask_detector.py: fine-tune MobileNetV2 on a folder-per-class dataset (mask, emotion,
gender, ...) and save a self-describing model folder with its TFLite export, card, plot and report."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from ..errors import NO_ROOM_ERRNOS, FacekitError
from ..preprocess import CropSpec
from .common import (ArgumentParser, add_version, at_least, check_output_path, example_command, exit_status_help,
                     guarded, info, log_only_stdout, number, one_file, positive_int, prog_name, sibling_command,
                     warn)

SCRIPT = "train_mask_detector.py"


def crop_margin(value: str) -> float:
    """--crop-margin as a model card takes it (facekit.heads.ModelCard): a model trained past it would not load."""
    from .common import number

    margin = number(value)
    if not -0.5 < margin <= 2:
        raise argparse.ArgumentTypeError(f"must be over -0.5 and at most 2 (a crop 5 times the box), got {value}")
    return margin


def positive(value: str) -> float:
    """--lr, --fine-tune-lr, --alpha: a NaN learning rate trained a model of NaN weights and ended with exit 0."""
    v = number(value)
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {value}")
    return v


def share(value: str) -> float:
    """--val-split, --test-split: NaN, 1 or a negative share ended in a traceback once the images were read (a
    negative one after training)."""
    v = number(value)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to under 1, got {value}")
    return v


def reproducing_args(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """argv without --resume (or a prefix of it argparse takes for it, --res): the card's command is meant to
    train the model again, and with --resume it said "no checkpoint: starting from scratch" or went on from a
    later run's checkpoint instead."""
    options = [s for action in parser._actions for s in action.option_strings]
    kept: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return kept + argv[i:]
        if arg.startswith("--") and [s for s in options if s.startswith(arg)] == ["--resume"]:
            continue
        kept.append(arg)
    return kept


def image_command() -> str:
    """The photo command that goes with the trainer as it was run: `facekit-train` -> `facekit-image`, ..."""
    return sibling_command(SCRIPT, "detect_mask_image.py")


def build_parser() -> argparse.ArgumentParser:
    run = example_command(SCRIPT)
    p = ArgumentParser(
        prog=prog_name(SCRIPT),
        description="Fine-tune MobileNetV2 (ImageNet weights) on DATASET/<class>/*.jpg.",
        # Each example names its own -m: without it a checkout's models/<task> is written, and these recipes
        # replaced a shipped head with a weaker one (FER2013's folder labels over the FER+ emotion head).
        epilog="examples:\n"
               f"  {run} --dataset dataset/mask -m my_mask   # the tutorial's pasted-on masks\n"
               f"  {run} -d my_photos -m my_head -e 2 --fine-tune-epochs 0   # my_photos/<class>/*.jpg\n"
               f"      # then run it: {image_command()} -i photo.jpg -m my_head (--tasks picks which heads)\n"
               f"  {run} -d fer2013/train --test-dataset fer2013/test --input-size 96 \\\n"
               "      --color gray -m fer2013_labels   # FER2013's folder labels\n"
               f"  {run} -d mask_real_train mask --faces all --augment photo -m real_masks  # merged by class\n"
               f"  {run} -d fer2013/train fer2013/test --soft-labels fer2013/ferplus.csv \\\n"
               "      --val-pattern PublicTest_ --test-pattern PrivateTest_ --color gray --face-crops none -m ferplus\n"
               "\nwithout -m a head goes to models/<task>: in a checkout, the shipped head, which it replaces (the\n"
               "command that made each shipped head is the \"command\" in its card.json)\n"
               + exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--dataset", type=Path, required=True, nargs="+", action="extend", metavar="DIR",
                   help="folder with one sub-folder of images per class; several folders (or --dataset given "
                        "again) are merged by class name and must have the same classes. DIR=CLASS adds every "
                        "image of DIR and its sub-folders as CLASS (e.g. gender=without_mask)")
    p.add_argument("-m", "--model", type=Path,
                   help="output model folder (default: models/<task>: a checkout's own models/, or for an installed "
                        "facekit ./models/<task> in the current folder, the shipped heads left as they are)")
    p.add_argument("-p", "--plot", type=one_file("--plot", "plot.png"),
                   help="also copy the training plot (PNG) here (it is always in the model folder)")
    p.add_argument("--test-dataset", type=Path, help="separate test set with the same class folders "
                                                     "(default: a stratified 20%% of --dataset)")
    p.add_argument("--task", help="task name stored in the card (default: from the class names / folder)")
    p.add_argument("-e", "--epochs", type=at_least(0), default=5,
                   help="epochs for the new head, base frozen (default: 5)")
    p.add_argument("--fine-tune-epochs", type=at_least(0), default=5,
                   help="epochs fine-tuning the top of the base at a low rate (default: 5; 0 = head only)")
    p.add_argument("--fine-tune-at", default="block_13_expand",
                   help="first MobileNetV2 layer to unfreeze (default: block_13_expand)")
    p.add_argument("-s", "--input-size", type=at_least(32), default=128,
                   help="model input size in px, 32 or more (default: 128)")
    p.add_argument("--color", choices=["rgb", "gray"], default="rgb", help="colour mode of the input (default: rgb)")
    p.add_argument("-b", "--batch-size", type=positive_int, default=32, help="training batch size (default: 32)")
    p.add_argument("--lr", type=positive, default=1e-3, help="head learning rate (default: 1e-3)")
    p.add_argument("--fine-tune-lr", type=positive, default=1e-4, help="fine-tune learning rate (default: 1e-4)")
    p.add_argument("--alpha", type=positive, default=1.0, help="MobileNetV2 width multiplier (default: 1.0)")
    p.add_argument("--augment", choices=["none", "basic", "strong", "photo"], default="strong",
                   help="training augmentation (default: strong: geometry, colour, blur, low resolution; photo: "
                        "what real photos and crowds show: grey/sepia, dim light and gamma, blur, faces down to "
                        "12 px, JPEG artefacts, detector-like box shifts)")
    p.add_argument("--grey-share", type=float, default=0.12, metavar="F",
                   help="with --augment photo: share of training faces made grey, as black-and-white prints and "
                        "night infrared cameras show them (default: 0.12)")
    p.add_argument("--face-crops", choices=["none", "detect"], default="detect",
                   help="'detect' (default): crop the largest face YuNet finds in each image, as inference crops "
                        "detector boxes (images with no face found are used whole); 'none': use images whole")
    p.add_argument("--faces", choices=["largest", "all"], default="largest",
                   help="with --face-crops detect: the largest face of each image (default), or every face at "
                        "least --min-face px wide (crowd photos: one training example per face, with the "
                        "folder's label)")
    p.add_argument("--min-face", type=positive_int, default=16, metavar="PX",
                   help="--faces all: smallest face width used besides the largest (default: 16)")
    p.add_argument("--crop-margin", type=crop_margin, default=0.1,
                   help="margin around face boxes, as a fraction of the box, for training and inference "
                        "(default: 0.1; stored in the card)")
    p.add_argument("--synth-masks", type=at_least(0), default=None, metavar="K",
                   help="mask task: add K synthetic-mask copies of each training without_mask face to with_mask "
                        "(masks of many colours and shapes drawn from detector key points; default: 1 when the "
                        "classes are with_mask / without_mask and --soft-labels is not given, else 0)")
    p.add_argument("--mask-share", type=float, default=0.0, metavar="F",
                   help="draw a synthetic mask on this share of the training faces, keeping their labels (emotion "
                        "or gender that must still be read on masked faces; default: 0)")
    p.add_argument("--occluders", type=float, default=0.0, metavar="F",
                   help="mask task: add occluded copies of this share of the training without_mask faces, the mouth "
                        "half hidden by another face's skin, hair or background, as hard negatives (default: 0)")
    p.add_argument("--lines", type=float, default=0.0, metavar="F",
                   help="cross this share of the training faces with a thin straight line of a random colour (a "
                        "wire, a railing, a box another program drew), labels kept, so a line across the nose is not "
                        "read as a mask's edge (default: 0)")
    p.add_argument("--soft-labels", type=Path, metavar="CSV",
                   help="per-file votes to train on (FER+'s ferplus.csv: a 'file' column relative to the CSV, vote "
                        "columns named as the classes or as FER+'s; contempt/unknown/NF votes are dropped); "
                        "dataset files without a row are left out")
    p.add_argument("--label-source", choices=["votes", "majority"], default="votes",
                   help="with --soft-labels: cross-entropy to the normalised votes (default), or the plurality label")
    p.add_argument("--val-pattern", metavar="TEXT",
                   help="files whose name contains TEXT are the validation split (e.g. FER+'s PublicTest_)")
    p.add_argument("--test-pattern", metavar="TEXT",
                   help="files whose name contains TEXT are the test split (e.g. FER+'s PrivateTest_)")
    p.add_argument("--export-int8", action="store_true",
                   help="also write model_int8.tflite (int8 weights and activations, float in/out), checked "
                        "against the Keras model")
    p.add_argument("--data-licence", "--data-license", metavar="TEXT",
                   help="the terms of the training images, e.g. 'CelebA: non-commercial research only'; the card "
                        "keeps them (the weights inherit them), with --init-model's terms, and the scripts' "
                        "--tasks help shows them (default: the asset mirror's terms of its datasets, e.g. CelebA's "
                        "non-commercial terms for celeba_gender, with those of --init-model's card; else none "
                        "recorded)")
    p.add_argument("--val-split", type=share, default=0.1,
                   help="share of the images for the validation split, above 0 and under 1 (default: 0.1); "
                        "with --test-split, under 1 in all")
    p.add_argument("--test-split", type=share, default=0.2,
                   help="share of the images for the test split, from 0 to under 1 (default: 0.2)")
    p.add_argument("--max-per-class", type=at_least(1), metavar="N",
                   help="use at most N images per class, and per class of each --val/--test-pattern split (quick runs)")
    p.add_argument("--class-weights", choices=("balanced", "sqrt", "none"), default="balanced",
                   help="loss weight per class: inverse frequency (default), its square root, or none")
    p.add_argument("--train-batchnorm", action="store_true",
                   help="fine-tune BatchNorm layers too (large datasets unlike ImageNet, e.g. FER2013)")
    p.add_argument("--no-class-weights", action="store_true", help="same as --class-weights none")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    p.add_argument("--init-model", type=Path, metavar="DIR",
                   help="start from a model folder trained before (same task, classes and colour; any input "
                        "size), e.g. to fine-tune it for more epochs; combine with --epochs 0")
    p.add_argument("--tta", choices=("none", "flip", "flip-zoom"), default="none",
                   help="test-time augmentation built into the exported model: it averages its predictions on the "
                        "face and its mirror image (flip), and on a slightly zoomed pair too (flip-zoom: 4x the "
                        "compute); the test report uses it too (default: none)")
    p.add_argument("--flip-average", dest="tta", action="store_const", const="flip", help="same as --tta flip")
    p.add_argument("--ensemble", type=Path, nargs="+", default=(), metavar="DIR",
                   help="average the exported model with the networks of these model folders trained before "
                        "(same task, classes and colour; a member of another input size gets the face resized "
                        "to its size inside the export; each adds its size and compute)")
    add_version(p)
    return p


def default_output(task: str) -> tuple[Path, str | None]:
    """Where a model goes without --model, and a note for the info line when that is not the models folder
    the heads are read from. An installed facekit reads its heads from inside the package (site-packages):
    a model written there replaced the shipped head of its task, int8 twin and licence block gone, until the
    package is reinstalled. So it goes to ./models/<task> instead; a checkout keeps writing its own models/."""
    from .. import heads

    folder = heads.models_dir()
    if os.environ.get("FACEKIT_MODELS") or folder.resolve() != heads.PACKAGED_MODELS_DIR.resolve():
        return folder / task, None
    output = Path.cwd() / "models" / task
    return output, (f"the installed facekit's own {task} head is left as it is; run from this folder, the scripts "
                    f"use the new one with -m models/{task}, or FACEKIT_MODELS=models for this folder's heads only")


def check_trained_folder(flag: str, folder: Path) -> None:
    """--init-model / --ensemble need a folder this trainer wrote, with its model.keras: said before any image is
    read. The tutorial's mask_detector.model (a file) was "no such model folder", for a file that was there, and a
    folder without model.keras was refused only once every image was read and cropped."""
    import json

    from ..convert import keras_file_kind
    from ..errors import DatasetError
    from ..heads import CARD, KERAS

    if folder.is_file():
        old = ("; an old Keras model (the PyImageSearch tutorial's network, not this trainer's) is not one: train "
               "without it, from ImageNet's weights, or make it a head for the scripts with python -m "
               "facekit.convert") if keras_file_kind(folder) else ""
        raise DatasetError(f"{flag} {folder} is a file: it takes a model folder this trainer wrote (with {KERAS})"
                           + old)
    if not folder.is_dir():
        raise DatasetError(f"{flag} {folder}: no such model folder")
    if not (folder / KERAS).is_file():
        try:
            converted = "converted_from" in json.loads((folder / CARD).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            converted = False
        why = ("converted from a Keras file by python -m facekit.convert, it holds only the TFLite: train without "
               "it" if converted else "committed models keep only the TFLite; retrain")
        raise DatasetError(f"{flag} {folder}: no {KERAS} there ({why})")


def check_trained_matches(flag: str, folder: Path, run: dict) -> None:
    """--init-model / --ensemble of another task, class list or colour mode: refused before any image is read (it
    was, by training._load_trained, once every image was read and the network built: minutes on a big dataset).
    The input size may differ (MobileNetV2's weights do not depend on it)."""
    from ..errors import DatasetError, ModelError
    from ..heads import CARD, ModelCard

    try:
        card = ModelCard.load(folder / CARD)
    except (ModelError, OSError, KeyError, TypeError, ValueError):  # training._load_trained says what is wrong
        return
    theirs = {"task": card.task, "labels": list(card.labels), "color": card.color}
    diff = {k: (theirs[k], run[k]) for k in run if theirs[k] != run[k]}
    # Only the name: a dataset folder renamed (expr -> expr_v2) since that model was trained, and the line said
    # what differed but not that --task takes its name up again.
    hint = f"; --task {card.task} names this run's task as that model's" if list(diff) == ["task"] else ""
    if diff:
        raise DatasetError(f"{flag} {folder} does not match this training run (its value, this run's): {diff}"
                           + hint)


def check_outside_inputs(output: Path, option: str, inputs: list[Path]) -> None:
    """An output inside a training folder (`-m data/model`, `-p data/with_mask/plot.png`) became part of it: the
    next run on that folder read the model folder as a class ('model': 2 images) or the plot as a training image."""
    from ..errors import DatasetError

    target = output.resolve()
    for path in inputs:
        root = path.resolve()
        if root.is_dir() and target != root and target.is_relative_to(root):
            raise DatasetError(f"{option} {output} is inside the training input {path}, where the next run on it "
                               "would read what this one writes as training images: name a place outside it")


def check_model_folder(output: Path, inputs: list[Path], task: str | None = None) -> None:
    """A trained model replaces its whole --model folder (facekit.training._replace_dir), so that folder
    must be new, empty or a model facekit made (it has a card.json) of the same task, and must hold none of
    the training inputs: `-m dataset/mask`, or `-m .` run from the photos' folder, would otherwise delete
    them once training ends, and `-m models/mask` on a glasses run replaced the shipped mask head."""
    from ..errors import DatasetError
    from ..heads import CARD, folder_task

    target = output.resolve()
    if target.exists() and not target.is_dir():
        raise DatasetError(f"--model must name a folder; {output} is a file")
    for path in inputs:
        if path.resolve().is_relative_to(target):
            raise DatasetError(f"--model {output} holds the training input {path}, and a trained model replaces the "
                               "whole folder: name another folder")
    check_outside_inputs(output, "--model", inputs)
    if target.is_dir() and any(target.iterdir()) and not (target / CARD).is_file():
        raise DatasetError(f"--model {output} already holds files and is not a model folder (no {CARD}), and a trained "
                           "model replaces the whole folder: name a new folder")
    theirs = folder_task(target) if task is not None else None
    if theirs and theirs != task:
        raise DatasetError(f"--model {output} holds a model of task {theirs!r} and this run trains {task!r}; a "
                           "trained model replaces the whole folder: name another folder")


def check_task_name(task: str, classes: list[str], given: bool) -> None:
    """A task name is a JSON key, a CSV / Parquet column prefix and a --tasks item: refused if it is one of
    the face record's own keys or does not survive --tasks' comma list; a shipped head's name with other
    classes is said, since --model of that folder replaces the shipped head."""
    import re

    from ..errors import DatasetError
    from ..heads import RECORD_COLUMNS, RESERVED_TASKS, SUMMARY_COLUMNS, TASK_NAME
    from ..training import KNOWN_TASKS

    how = "--task" if given else "the task name taken from the folder name (give one with --task)"
    if "label" in classes:  # its probability column, <task>_label, is the label column's name (a card refuses it)
        raise DatasetError("a class folder named 'label' would name the same CSV column as the label itself: "
                           "rename the folder")
    if "prob" in classes:  # <task>_prob is --summary's mean probability of the majority label
        raise DatasetError("a class folder named 'prob' would name the same column as --summary's mean "
                           "probability: rename the folder")
    odd = [c for c in classes if any(ord(ch) < 32 or ord(ch) == 127 for ch in c)]
    if odd:  # said before the training: the card it would write does not load (facekit.heads.ModelCard)
        raise DatasetError(f"the class folder {odd[0]!r} has a control character (a line break, a tab) in its name, "
                           "which would break the CSV's header and the console's lines: rename the folder")
    if task in RESERVED_TASKS:
        raise DatasetError(f"{how} {task!r} is a field of every face's record ({', '.join(sorted(RESERVED_TASKS))}): "
                           "choose another name")
    if not TASK_NAME.fullmatch(task):
        # A folder "Gesichtsausdrücke" was told to use letters (ü is one) and offered "gesichtsausdr_cke".
        import unicodedata

        folded = "".join(c for c in unicodedata.normalize("NFKD", task) if not unicodedata.combining(c))
        # "Glasses Dataset (v2)" was offered "glasses_dataset__v2", and as a bare name where --task takes it.
        offer = re.sub(r"_{2,}", "_", re.sub(r"[^A-Za-z0-9_.-]+", "_", folded)).strip("_") or "task"
        raise DatasetError(f"{how} {task!r}: use ASCII letters, digits, '_', '-' or '.' (it names CSV columns and is "
                           f"given to --tasks), e.g. --task {offer}")
    columns = {f"{task}_{c}": c for c in ["label", *classes]}
    # Said before the hours of training, not only when the head is first loaded (facekit.heads.check_columns).
    for column, name in columns.items():
        if column in RECORD_COLUMNS | SUMMARY_COLUMNS:
            raise DatasetError(f"the class {name!r} of task {task!r} would write the column {column!r}, which is "
                               f"facekit's own in the CSV, Parquet or --summary: rename the class folder or the task "
                               f"(--task)")
    shipped = {name: sorted(labels) for labels, name in KNOWN_TASKS.items()}
    if task in shipped and sorted(classes) != shipped[task]:
        warn(f"{task!r} is the name of facekit's {task} head (classes {', '.join(shipped[task])}), not of "
             f"these classes ({', '.join(classes)}): given with --model this folder replaces that head")
    for name, labels in shipped.items():
        taken = sorted(c for c in columns if name != task and c in {f"{name}_{x}" for x in [*labels, "label"]})
        if taken:
            warn(f"the column(s) {', '.join(taken)} of this head are also the {name} head's, so facekit refuses to "
                 f"run the two together: run it with --tasks leaving {name} out, or rename the task (--task)")


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..errors import DatasetError
    from ..training import (TrainConfig, check_fine_tune_at, checkpoint_dir, class_folders, dataset_labels,
                            relabelled, require_train_modules, task_name, train)

    require_train_modules()  # before any work: without them a run failed after reading every image

    if args.epochs + args.fine_tune_epochs == 0 and args.init_model is None:
        # With --init-model, 0 epochs re-tests and re-exports a trained model (e.g. with --tta).
        raise DatasetError("nothing to train: --epochs and --fine-tune-epochs are both 0")
    if not all(0 <= share <= 1 for share in (args.mask_share, args.occluders, args.lines)) \
            or not 0 <= args.grey_share <= 0.92:
        raise DatasetError("--mask-share, --occluders and --lines must be between 0 and 1, --grey-share between 0 "
                           "and 0.92")
    if args.lines and args.augment == "none":  # the lines are drawn by the augmentation, which "none" turns off
        raise DatasetError("--lines draws on augmented batches: give an --augment other than none")
    if args.label_source != "votes" and not args.soft_labels:
        raise DatasetError("--label-source needs --soft-labels")
    # Shares that cannot split were found once every image was read (and its face found): --val-split 0 was "the
    # validation split is empty", and shares adding up to 1 or more "200 images are too few to split" of any set.
    val = 0.0 if args.val_pattern else args.val_split
    test = 0.0 if args.test_pattern or args.test_dataset is not None else args.test_split
    if not args.val_pattern and val == 0:
        raise DatasetError("--val-split 0 leaves no validation images, which each epoch is scored on (the plot's "
                           "val_ lines, the card's val_accuracy): give a share above 0 (default: 0.1), or "
                           "--val-pattern TEXT")
    if round(val + test, 9) >= 1:  # 0.7 + 0.3 is 0.9999999999999999
        raise DatasetError(f"--val-split {args.val_split:g} and --test-split {args.test_split:g} add up to "
                           f"{round(val + test, 9):g}, leaving no training images: give shares that add up to under 1")
    if args.val_pattern and args.val_pattern == args.test_pattern:  # said before every image is loaded
        raise DatasetError(f"--val-pattern and --test-pattern are both {args.val_pattern!r}: each file can be in one "
                           "part only")
    if args.soft_labels and args.soft_labels.is_dir():
        # "no such file" for a folder that is there: the dataset's folder given for the CSV inside it.
        csvs = sorted(f.name for f in args.soft_labels.glob("*.csv"))
        raise DatasetError(f"--soft-labels {args.soft_labels} is a folder; give the CSV file" +
                           (f" (there: {', '.join(csvs[:3])})" if csvs else ""))
    if args.soft_labels and not args.soft_labels.is_file():
        from ..preprocess import special_kind

        special = special_kind(args.soft_labels)  # a named pipe, /dev/null: "no such file" of a path that is there
        raise DatasetError(f"--soft-labels {args.soft_labels}: "
                           + (f"{special}, not a CSV file" if special else "no such file"))
    if args.soft_labels and (args.synth_masks or args.occluders):
        # Said here, not once every image is loaded. Only when asked for: --synth-masks' default is 0 with
        # --soft-labels, so a mask dataset trains on soft labels without a flag the user never typed.
        flag = "--synth-masks relabels faces as with_mask" if args.synth_masks else "--occluders adds hard labels"
        raise DatasetError(f"{flag}; it does not combine with --soft-labels")
    seen: dict[str, Path] = {}
    for root in args.dataset:
        class_folders(relabelled(root)[0])  # fail fast on a missing dataset
        # `-d faces faces/` trained on each image twice, a copy of each validation image among the training ones.
        first = seen.setdefault(os.path.realpath(relabelled(root)[0]), root)
        if first is not root:
            twice = "" if str(first) == str(root) else f" ({first} and {root} are one folder)"
            raise DatasetError(f"--dataset {root} is given twice{twice}: each of its images would be read twice, "
                               "and validation would score copies of training images: give it once")
    if args.test_dataset is not None and os.path.realpath(args.test_dataset) in seen:
        # The test score was of images the model learnt from (or checked itself against): a number of no use.
        also = seen[os.path.realpath(args.test_dataset)]
        raise DatasetError(f"--test-dataset {args.test_dataset} is also a --dataset folder ({also}): the test score "
                           "would be of images the model learnt from: give a folder of other images, or leave it out "
                           "(the test split is held out)")
    if args.fine_tune_epochs > 0 and args.fine_tune_at != TrainConfig.fine_tune_at:
        check_fine_tune_at(args.fine_tune_at)
    for flag, folder in [("--init-model", args.init_model)] + [("--ensemble", f) for f in args.ensemble]:
        if folder is not None:
            check_trained_folder(flag, folder)
    if args.model is not None and args.model.is_file():
        # The tutorial's trainer wrote its model as one file, mask_detector.model; "is a file, not a folder" left
        # its readers to guess that a facekit model is a folder, and that their old file can be kept.
        from ..convert import keras_file_kind, suggested_folder

        old = " (an old Keras model: python -m facekit.convert makes a head folder of it)" \
            if keras_file_kind(args.model) else ""
        raise DatasetError(f"--model {args.model} is a file{old}; a trained model is a folder (model.tflite, "
                           f"card.json, plot, report): name a new one, e.g. -m {suggested_folder(args.model)}")
    check_output_path(args.model, "--model", folder=True)
    classes = dataset_labels(args.dataset, log=lambda m: None)  # before any work: unlike classes, no classes
    task = args.task or task_name(classes, args.dataset)
    check_task_name(task, classes, args.task is not None)
    for flag, folder in [("--init-model", args.init_model)] + [("--ensemble", f) for f in args.ensemble]:
        if folder is not None:
            check_trained_matches(flag, folder, {"task": task, "labels": list(classes), "color": args.color})
    if args.synth_masks is None:
        mask_task = {"with_mask", "without_mask"} <= set(classes)
        args.synth_masks = 1 if mask_task and not args.soft_labels else 0
    output, note = args.model, None
    if output is None:
        output, note = default_output(task)  # --task glasses: models/glasses
        # ./models may not exist yet: made below, once every check has passed.
        check_output_path(output if output.parent.is_dir() else output.parent, "--model", folder=True)
    check_output_path(args.plot, "--plot")
    if args.plot is not None and args.plot.suffix and args.plot.suffix.lower() != ".png":
        # A copy of the model folder's plot.png: `-p plot.pdf` was a PNG under a .pdf name, which no reader opened.
        raise DatasetError(f"--plot {args.plot}: the plot is a PNG image (a copy of the model folder's plot.png); "
                           "name it .png")
    inputs = [relabelled(root)[0] for root in args.dataset] + [args.test_dataset, args.soft_labels]
    check_model_folder(output, [p for p in inputs if p is not None], task)
    if args.plot is not None:
        check_outside_inputs(args.plot, "--plot", [p for p in inputs if p is not None])
    cfg = TrainConfig(
        dataset=tuple(args.dataset) if len(args.dataset) > 1 else args.dataset[0], output=output,
        test_dataset=args.test_dataset, task=args.task,
        input_size=args.input_size, color=args.color, batch_size=args.batch_size, epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs, fine_tune_at=args.fine_tune_at, learning_rate=args.lr,
        fine_tune_learning_rate=args.fine_tune_lr, alpha=args.alpha,
        crop=CropSpec(margin=args.crop_margin, square=True), face_crops=args.face_crops, faces=args.faces,
        min_face=args.min_face, soft_labels=args.soft_labels, label_source=args.label_source,
        val_pattern=args.val_pattern, test_pattern=args.test_pattern, mask_share=args.mask_share,
        occluders=args.occluders,
        export_int8=args.export_int8, data_licence=args.data_licence,
        val_split=args.val_split, test_split=args.test_split, synth_masks=args.synth_masks,
        max_per_class=args.max_per_class,
        augment=args.augment, grey_share=args.grey_share, lines=args.lines,
        class_weights="none" if args.no_class_weights else args.class_weights, resume=args.resume,
        init_model=args.init_model, train_batchnorm=args.train_batchnorm, tta=args.tta, ensemble=tuple(args.ensemble),
        plot=args.plot,
        # As invoked (facekit-train or the script): the card's command is meant to be run again.
        command=f"{example_command(SCRIPT)} "
        + " ".join(shlex.quote(a) for a in reproducing_args(parser, argv or sys.argv[1:])),
    )
    from ..heads import CARD

    said = note
    if args.model is None and note is None and (output / CARD).is_file():
        # The tutorial's `--dataset dataset` wrote mask_detector.model beside it; here it replaces the head every
        # script runs (an installed facekit's ./models/<task> is not one: its note says so), and nothing said so
        # until the scripts' labels changed.
        said = f"replaces the {task} head there, which the scripts run by default: -m FOLDER writes elsewhere"
    info(f"training a{f' {cfg.task!r}' if cfg.task else ''} model from {', '.join(map(str, args.dataset))} -> {output}"
         + (f" ({said})" if said else ""))
    if cfg.resume and not (checkpoint_dir(output) / "state.json").is_file():
        # Said once the images were read (minutes for a big set, a face found in each): a --resume of a mistyped
        # -m, or of a run stopped in its first epoch, trained from scratch, its one line long scrolled away.
        info(f"--resume: no checkpoint at {checkpoint_dir(output)}: starting from scratch")
        cfg.resume = False
    if note:
        output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_only_stdout():
            train(cfg)
        if args.model is not None or note is not None:
            # A head outside the checkout's models/ is run only when named, and nothing said how: a user's first
            # head, trained into a folder of their own, was a folder they did not know what to do with.
            info(f"run it: {image_command()} -i photo.jpg -m {shlex.quote(str(output))}")
    except KeyboardInterrupt:
        from ..signals import exit_status, line_start

        ckpt = checkpoint_dir(output)
        if not ckpt.is_dir():
            raise
        if not (ckpt / "state.json").is_file():
            # Stopped inside the first epoch: "the finished epochs are kept ... --resume" was a promise that the
            # --resume run broke, "no checkpoint: starting from scratch"; the folder held only the run's signature.
            shutil.rmtree(ckpt, ignore_errors=True)
            print(f"{line_start()}[INFO] interrupted before the first epoch finished: nothing to resume, nothing "
                  f"written to {output}", file=sys.stderr, flush=True)
            return exit_status()
        print(f"{line_start()}[INFO] interrupted: the finished epochs are kept in {checkpoint_dir(output)}; run the "
              "same command with --resume to go on", file=sys.stderr, flush=True)
        return exit_status()
    except OSError as exc:
        if exc.errno not in NO_ROOM_ERRNOS:
            raise
        raise _no_room(exc, output) from None
    return 0


def _no_room(exc: OSError, output: Path) -> FacekitError:
    """A disk with no room for a checkpoint or the model (full, a quota, ulimit -f): what was kept, and how to go on.
    The line named the checkpoint's file or the model's hidden temp folder, and said nothing of the finished
    epochs, which --resume takes up once there is room."""
    from ..records import TEMP_SUFFIX, temp_prefix
    from ..training import checkpoint_dir

    name = Path(exc.filename) if exc.filename else None
    folder = name.parent.name if name is not None else ""
    if name is not None and folder.startswith(temp_prefix(output.name)) and folder.endswith(TEMP_SUFFIX):
        name = output / name.name  # the model folder's file, written in a temp folder renamed at the end
    ckpt = checkpoint_dir(output)
    if (ckpt / "state.json").is_file():
        kept = (f"the finished epochs are kept in {ckpt}: free some space, then run the same command with --resume "
                "to go on")
    else:
        shutil.rmtree(ckpt, ignore_errors=True)  # only the run's signature: nothing to resume
        kept = "no epoch had finished, so nothing is kept: free some space and run it again"
    what = name if name is not None else f"the model into {output}"
    return FacekitError(f"cannot write {what}: {exc.strerror or exc} ({output} is untouched; {kept})")
