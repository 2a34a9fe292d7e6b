"""Fine-tune MobileNetV2 (ImageNet weights) on any folder-per-class dataset.

Recipe (keras-io transfer-learning guide): pixel scaling inside the model; train a new head on the
frozen base, then unfreeze the top of the base and fine-tune at a low rate with BatchNorm kept in
inference mode. Images go through `facekit.preprocess` exactly as they do at inference.

TensorFlow / Keras are imported inside the functions that need them, so that importing this module
(e.g. for `--help`) stays fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from .errors import DatasetError, FacekitError, ImageError, ModelError, counted, shown
from .heads import CARD, KERAS, TFLITE, ModelCard
from .preprocess import (DARK_CROP, CropSpec, crop_face, crop_region, is_image_path, folder_files, level_turn,
                         load_image, to_model_input)
from .records import TEMP_SUFFIX, make_ordinary, make_temp_dir, sweep_stale

SEED = 42
# Test-time augmentation: the views of a face that the exported model averages its prediction over.
# "zoom" is the centre 11/12 of the crop scaled back up, a view the training zoom augmentation covers.
# On the FER2013 validation split the emotion network gains 1.1 points from the mirror and 1.1 more
# from the zoomed pair (66.3 -> 67.4 -> 68.5%; test 67.1 -> 68.2 -> 68.7%).
TTA_VIEWS = {"none": ("face",), "flip": ("face", "mirror"), "flip-zoom": ("face", "mirror", "zoom", "zoom mirror")}

# Task names and display conventions for the datasets this project knows.
KNOWN_TASKS = {
    frozenset({"with_mask", "without_mask"}): "mask",
    frozenset({"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}): "emotion",
    frozenset({"man", "woman"}): "gender",
}
DISPLAY = {
    "mask": ({"with_mask": "Mask", "without_mask": "No Mask"},
             {"with_mask": [0, 255, 0], "without_mask": [0, 0, 255]}),
    "gender": ({"man": "Man", "woman": "Woman"}, {}),
}


# What `pip install 'facekit[train]'` adds (matplotlib is a base dependency, but a trimmed environment can
# lack it): importable names, and the pip name where it differs.
TRAIN_MODULES = {"tensorflow": "tensorflow", "keras": "keras", "sklearn": "scikit-learn",
                 "matplotlib": "matplotlib"}

# Keras from 3.13 on (the [train] extra takes 3.15) installs on Python 3.11 and later only: on 3.10, which the
# rest of facekit runs on, `pip install 'facekit[train]'` ends in pip's "requires a different Python".
TRAIN_PYTHON = (3, 11)

TFLITE_INT8 = "model_int8.tflite"  # --export-int8: int8 weights and activations, float input and output
TEST_SPLIT = "test_split.csv"  # the test examples (file, face box, label), so benches score the same faces


@dataclass
class TrainConfig:
    dataset: Path | tuple[Path, ...]  # one folder or several, merged by class name
    output: Path
    test_dataset: Path | None = None
    task: str | None = None
    input_size: int = 128
    color: str = "rgb"
    batch_size: int = 32
    epochs: int = 5  # head-only phase
    fine_tune_epochs: int = 5
    fine_tune_at: str = "block_13_expand"  # first base layer made trainable in phase 2
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    alpha: float = 1.0
    crop: CropSpec = field(default_factory=lambda: CropSpec(margin=0.0, square=True))
    face_crops: str = "none"  # "none": images are crops; "detect": crop detected faces
    faces: str = "largest"  # with face_crops="detect": "largest" face per image, or "all" faces >= min_face px
    min_face: int = 16
    detector: str = "yunet"
    val_split: float = 0.1
    test_split: float = 0.2
    max_per_class: int | None = None
    synth_masks: int = 0  # synthetic-mask copies of each training without_mask face
    augment: str = "strong"  # none | basic | strong | photo
    grey_share: float = 0.12  # with augment "photo": share of training faces made grey (8% more sepia)
    lines: float = 0.0  # share of training faces crossed by a thin straight line (augmentation, labels kept)
    soft_labels: Path | None = None  # CSV of per-file votes (FER+)
    label_source: str = "votes"  # with soft_labels: "votes" (distribution) or "majority" (plurality label)
    val_pattern: str | None = None  # files whose name contains this are the validation split
    test_pattern: str | None = None  # ... the test split
    mask_share: float = 0.0  # share of training faces given a drawn mask, labels kept
    occluders: float = 0.0  # occluded-mouth copies of this share of the training without_mask faces
    export_int8: bool = False  # also write TFLITE_INT8
    data_licence: str | None = None  # the training data's terms, kept in the card's licences block
    class_weights: str = "balanced"  # balanced | sqrt | none
    resume: bool = False
    train_batchnorm: bool = False  # fine-tune BatchNorm statistics too (big data far from ImageNet)
    init_model: Path | None = None  # continue from this trained model folder (same task, classes, colour)
    tta: str = "none"  # views of each face the exported model averages over (see TTA_VIEWS)
    ensemble: tuple[Path, ...] = ()  # other trained model folders whose networks the export averages in
    plot: Path | None = None
    command: str = ""


def missing_train_modules(modules: tuple[str, ...] | None = None) -> list[str]:
    """The TRAIN_MODULES that are not installed, by pip name. find_spec locates a module without importing
    it, so this costs milliseconds where importing TensorFlow costs seconds."""
    from importlib.util import find_spec

    missing = []
    for module, package in TRAIN_MODULES.items():
        if modules is not None and module not in modules:
            continue
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a broken install, or a module already imported without a spec
            found = module in sys.modules and sys.modules[module] is not None
        if not found:
            missing.append(package)
    return missing


def import_keras(purpose: str = "training"):
    """Keras, and TensorFlow under it (~4 s), their start-up chatter kept off the terminal. An install that is
    there but does not load (a TensorFlow built against another numpy, a shared library missing) ended a training
    in a 40-line traceback from inside TensorFlow once every image was read: it is one line naming the cause."""
    from .runtime import native_stderr

    try:
        with native_stderr():
            import keras
    except ImportError as exc:
        said = str(exc).strip().splitlines()
        raise FacekitError(f"{purpose} needs TensorFlow and Keras, installed here but failing to load "
                           f"({said[-1] if said else type(exc).__name__}): reinstall them: "
                           "pip install --force-reinstall 'facekit[train]'") from None
    return keras


# Under an address-space limit (ulimit -v, a small board's) training needs this much at least: at 1.5 GB Keras'
# import ended in "SystemError: error return without exception set", a traceback once every image was read; at 3 GB
# (2 cores) TensorFlow could not start its tf.data threads and aborted ("Check failed ... pthread_create() failed",
# exit 134) 50 s in, saying nothing of memory. 3.5 GiB ran MobileNetV2 at 224 px, head, fine-tuning and export.
# A conversion (python -m facekit.convert, the tutorial's 224 px model) too: at 1.5 GB a MemoryError traceback, at
# 2.5 GB a segmentation fault (exit 139), at 3.0 GB "[ERROR] out of memory (std::bad_alloc)" and then no exit at
# all (a TensorFlow thread held it); at 3.5 GiB it ran.
TRAIN_MIN_ADDRESS_SPACE = 3584 << 20


def require_train_modules(purpose: str = "training", modules: tuple[str, ...] | None = None,
                          address_space: int = TRAIN_MIN_ADDRESS_SPACE) -> None:
    """Refuse to start without the [train] extra: the trainer imports TensorFlow, Keras and scikit-learn only
    once the data is loaded and face-cropped, so without them a run failed minutes in, with a traceback.
    `purpose` names the command in the message (a conversion told "training needs ..." read as the wrong
    command); `modules`, the import names it needs of TRAIN_MODULES (default: all); `address_space`, the
    least `ulimit -v` it runs under (0: not checked)."""
    from .runtime import check_address_space

    check_address_space(address_space, f"{purpose} (TensorFlow)", "run it on a machine with more memory and copy "
                        "the model folder here")
    missing = missing_train_modules(modules)
    if missing and sys.version_info[:2] < TRAIN_PYTHON:
        raise FacekitError(f"{purpose} needs {', '.join(missing)}, not installed here, and facekit[train] (Keras 3.15) "
                           f"needs Python {'.'.join(map(str, TRAIN_PYTHON))} or later: this is Python "
                           f"{sys.version_info.major}.{sys.version_info.minor}; make a venv with a newer one")
    if missing:
        raise FacekitError(f"{purpose} needs {', '.join(missing)}, not installed here: pip install 'facekit[train]' "
                           "(in a checkout: pip install -e '.[train]')")


# ---------------------------------------------------------------------------------------------
# data


@dataclass
class Dataset:
    """Training examples: one per face (or per image when it is used whole), in file order."""

    x: np.ndarray  # uint8 (N, S, S, 3)
    y: np.ndarray  # int (N,)
    labels: list[str]
    paths: list[str]
    skipped: dict[str, int]  # reason -> count
    crops_detected: int = 0  # images in which a face was found and cropped
    keypoints: np.ndarray | None = None  # (N, 5, 2) detector key points in model-input px; NaN if none
    source: np.ndarray | None = None  # (N,) index of the image each example was cut from
    boxes: np.ndarray | None = None  # (N, 4) detector box x1 y1 x2 y2 each example was cropped around; NaN: whole
    hashes: list[str] = field(default_factory=list)  # pixel hash of each example's image (duplicate check)
    folders: list[dict] = field(default_factory=list)  # per --dataset folder: path, images and faces per class
    soft: np.ndarray | None = None  # (N, classes) target distributions (--soft-labels votes)
    origin: np.ndarray | None = None  # (N,) index of the --dataset folder each example came from
    looks: np.ndarray | None = None  # (N, 2, 4) uint64 look_hash of each example's image and of its mirror

    def subset(self, idx: np.ndarray) -> "Dataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Dataset(self.x[idx], self.y[idx], self.labels, [self.paths[i] for i in idx], self.skipped,
                       self.crops_detected, pick(self.keypoints), pick(self.source), pick(self.boxes),
                       [self.hashes[i] for i in idx] if self.hashes else [], self.folders, pick(self.soft),
                       pick(self.origin), pick(self.looks))


def class_folders(root: Path) -> list[Path]:
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root} (no dataset is committed: dataset/README.md says "
                           "where each comes from)")
    if not root.is_dir():
        raise DatasetError(f"dataset must be a folder with one sub-folder per class: {root}{_archive_hint(root)}")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _archive_hint(path: Path) -> str:
    """A downloaded dataset given as its archive (-d glasses.zip) was told only that a dataset is a folder."""
    import zipfile

    if not path.is_file():  # a pipe would be read without end
        return ""
    if path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return f" ({path.name} is a tar archive: unpack it first, e.g. tar -xf {shlex.quote(str(path))})"
    try:
        zipped = zipfile.is_zipfile(path)
    except OSError:  # unreadable: the plain line says enough
        zipped = False
    into = shlex.quote(str(path.with_suffix("")))
    return f" ({path.name} is a zip archive: unpack it first, e.g. unzip {shlex.quote(str(path))} -d {into})" \
        if zipped else ""


def class_label(folder: Path) -> str:
    """The class a folder names, in Unicode's composed form: a Mac writes "é" as "e" + an accent mark, so the same
    class copied from a Mac and from Linux or Windows were two classes ("has images in A but not in B"), and a
    label typed with the keyboard's "é" was no key of the JSON's probabilities. The name's own bytes are read as
    UTF-8 (facekit.errors.shown, a byte that is not one as \\xNN): under a locale that is not UTF-8 (LC_ALL=C,
    PYTHONUTF8=0) Python holds "ohne_東京" as surrogate escapes, which ended a whole training run at its report."""
    return unicodedata.normalize("NFC", shown(folder.name))


def class_images(folder: Path, nested: bool = True) -> tuple[list[Path], list[Path]]:
    """The images of one class folder, in its sub-folders too, and its other files. Photos sorted into
    sub-folders (by date, by event) were left out without a word: a class of 12 read where 15 were given.
    Hidden sub-folders (.thumbnails, a Mac's .AppleDouble) hold copies or metadata, not the user's photos."""
    specials: list[Path] = []  # a named pipe among the photos: not read, and counted with the other files
    found = folder_files(folder, nested, specials)
    files = [p for p in found + specials if not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    images = [p for p in files if p not in specials and is_image_path(p)]
    return images, sorted(p for p in files if p in specials or not is_image_path(p))


def as_roots(dataset) -> list[Path]:
    """One `--dataset` folder or several, as a list."""
    return [Path(dataset)] if isinstance(dataset, (str, os.PathLike)) else [Path(d) for d in dataset]


def relabelled(root: Path) -> tuple[Path, str | None]:
    """`DIR=CLASS`: every image in DIR's class folders counts as CLASS (e.g. the gender set's faces as
    without_mask: unmasked faces of every kind, which the mask sets have few of). Plain DIR: (DIR, None)."""
    folder, sep, label = str(root).rpartition("=")
    if not sep or not folder or not label or "/" in label or os.sep in label:
        return root, None
    return Path(folder), unicodedata.normalize("NFC", shown(label))  # as class_label reads folder names


def dataset_labels(roots: list[Path], log=print) -> list[str]:
    """The class names of one or several dataset folders, merged by name, checked before any image is read:
    every folder must have the same classes (a class in one folder only would be learnt from that folder's
    photos alone, a difference between sources the model could key on)."""
    names: dict[Path, list[str]] = {}
    borrowed: dict[Path, str] = {}
    empty: list[Path] = []  # class folders without images
    for root in roots:
        folder, label = relabelled(root)
        if label is not None:
            if not class_images(folder)[0]:
                raise DatasetError(f"{folder}: no images (for {root})")
            borrowed[root] = label
            continue
        folders = class_folders(root)
        loose = class_images(root, nested=False)[0]
        if not folders:
            # The checkout's dataset/ holds only its README, where the tutorial's repo had with_mask/ and
            # without_mask/: its readers' `--dataset dataset` got no word of where the images come from.
            where = (f"; no dataset is committed: {root / 'README.md'} says where each comes from"
                     if not loose and (root / "README.md").is_file() else "")
            if loose:
                # `-d happy/ sad/`, a new user's two folders of photos, one per class, was told only what a
                # dataset is: how to make one of their folders was left to guess.
                flat = [r for r in roots if relabelled(r)[1] is None and r.is_dir()
                        and not class_folders(r) and class_images(r, nested=False)[0]]
                moved = (" ".join(shlex.quote(str(r)) for r in flat) if len(flat) > 1
                         else f"{shlex.quote(str(root))} ...")
                where = (f"; it holds {counted(len(loose), 'image')} itself, one class's photos? Put the class folders "
                         f"in one folder and give that: mkdir data && mv {moved} data/, then -d data")
            raise DatasetError(f"{root}: no class sub-folders (a dataset is one folder of images per class: "
                               f"{root}/<class>/*.jpg){where}")
        if loose:
            # Photos beside the class folders are in no class: left out without a word, they were easy to miss
            # (a folder still to sort), and with one sub-folder the dataset was one class folder given by mistake.
            log(f"[WARN] {root}: {len(loose)} image(s) in no class folder are not used: "
                f"{', '.join(map(str, loose[:3]))}" + (f" and {len(loose) - 3} more" if len(loose) > 3 else ""))
            if len(folders) == 1:
                raise DatasetError(f"{root} holds {len(loose)} image(s) and one sub-folder ({folders[0].name}): "
                                   f"is it a class folder? --dataset is the folder above the class folders")
        check_not_split_into_parts(root, folders)
        names[root] = []
        for f in folders:
            if class_images(f)[0]:
                names[root].append(class_label(f))
            else:
                empty.append(f)
                log(f"[WARN] class folder {f} has no images: skipped")
    if not names:
        raise DatasetError(f"{', '.join(map(str, roots))}: every --dataset is DIR=CLASS; give one folder of "
                           "class folders too")
    labels = sorted(set().union(*names.values()))
    for root, label in borrowed.items():
        if label not in labels:
            raise DatasetError(f"{root}: class {label!r} is not one of the dataset's classes ({', '.join(labels)})")
    if len(roots) > 1:
        for root, found in names.items():
            for lab in labels:
                if lab not in found:
                    others = ", ".join(str(r) for r, n in names.items() if lab in n)
                    raise DatasetError(f"class {lab!r} has images in {others} but not in {root}: every --dataset "
                                       f"folder needs the same class folders")
    if len(labels) < 2:
        # A zip unpacked into a folder of its own name (data/glasses_set/<class>/): its one "class" holds the class
        # folders, and "found 1 (glasses_set)" left the user to see that the dataset is a level down.
        inner = [(folder, classes) for root in names for folder in class_folders(root)
                 if class_images(folder)[0] and not class_images(folder, nested=False)[0]
                 and len(classes := [f for f in class_folders(folder) if class_images(f)[0]]) >= 2]
        down = (f"; {inner[0][0]} holds the class folders {', '.join(class_label(f) for f in inner[0][1])}: is it the "
                f"dataset? -d {shlex.quote(str(inner[0][0]))}" if len(labels) == 1 and len(inner) == 1 else "")
        # The empty folders are named: the user sees two class folders and needs to know which one is the problem.
        raise DatasetError(f"{', '.join(map(str, roots))}: need at least 2 class folders with images, found "
                           f"{len(labels)} ({', '.join(labels) or 'none'})" +
                           (f"; no images in {', '.join(map(str, empty))}" if empty else "") + down)
    return labels


PROGRESS_SECONDS = 30  # the longest a dataset is read without a line saying how far it is
SPLIT_PART_NAMES = {"train", "training", "val", "valid", "validation", "dev", "test", "testing", "eval"}


def check_not_split_into_parts(root: Path, folders: list[Path]) -> None:
    """A dataset laid out as train/<class>/, val/<class>/ (as many downloads come) read train and val as its two
    classes, each folder's class folders as photos sorted into sub-folders: a glasses set of 120 photos trained a
    model telling 100 'train' from 20 'val' faces, without a word."""
    if not folders or any(class_label(f).lower() not in SPLIT_PART_NAMES for f in folders):
        return
    inner = {f: [s for s in class_folders(f) if class_images(s)[0]] for f in folders}
    if not all(inner.values()):
        return
    parts = [f.name for f in folders]
    classes = sorted({class_label(s) for subs in inner.values() for s in subs})
    tests = [f for f in folders if f.name.lower() in ("test", "testing")]
    if len(tests) != 1 or len(folders) == 1:
        tests = []
    example = " ".join(shlex.quote(str(f)) for f in folders if f not in tests)
    if tests:
        example += f" --test-dataset {shlex.quote(str(tests[0]))}"
    raise DatasetError(f"{root}'s class folders ({', '.join(parts)}) are the parts of a split dataset, holding the "
                       f"classes {', '.join(classes)}: give the parts themselves, e.g. -d {example} (merged by "
                       "class)")


def first_per_split(files: list[Path], n: int, patterns: tuple[str | None, ...] = ()) -> list[Path]:
    """The first `n` files of each split the name patterns make, and of the files no pattern names.

    A cap on the whole folder kept the first N names in sorted order, so a --val-pattern split sorting after
    the others (FER's PublicTest_ after PrivateTest_) was dropped whole and the run stopped with "no file
    name contains --val-pattern"."""
    groups: dict[int, list[Path]] = {}
    for path in files:
        # The first pattern that matches wins, as a name matching both would otherwise be counted twice.
        key = next((i for i, pat in enumerate(patterns) if pat and pat in path.name), -1)
        groups.setdefault(key, []).append(path)
    keep = {path for group in groups.values() for path in group[:n]}
    return [path for path in files if path in keep]


def load_dataset(root, size: int, color: str, crop: CropSpec, face_crops: str = "none",
                 detector_name: str = "yunet", labels: list[str] | None = None,
                 max_per_class: int | None = None, keypoints: bool = False, log=print,
                 faces: str = "largest", min_face: int = 16, split_patterns: tuple[str | None, ...] = ()) -> Dataset:
    """Read one or several folder-per-class datasets (merged by class name) through the shared preprocessing.

    face_crops="detect" cuts faces out with the detector and `crop_face`, as inference does: the largest
    face of each image, or with faces="all" every face at least `min_face` px wide too (one example per
    face of a crowd photo, each with the folder's label). An image with no face found is used whole.
    `labels` fixes the class order (for a test set that must match training); empty class folders
    and unreadable files are skipped and counted. `max_per_class` keeps the first N files of each class
    and, where `split_patterns` (--val-pattern, --test-pattern) name splits, N of each such split too.
    """
    roots = as_roots(root)
    if labels is None:
        labels = dataset_labels(roots, log)
    else:
        for r in roots:
            if relabelled(r)[1] is not None:
                continue
            dirs = {class_label(f): f for f in class_folders(r)}
            found = list(dirs)
            extra = sorted(name for name in set(found) - set(labels) if class_images(dirs[name])[0])
            if extra:
                raise DatasetError(f"{r}: class folders {extra} are not among the training classes {labels}")
            missing = [lab for lab in labels if lab not in found]
            if missing:
                log(f"[WARN] {r}: no folder for class(es) {missing}; they are reported with 0 support")

    detector = shrunk = None
    if face_crops == "detect" or keypoints:
        from .detection import create_detector

        # Key points (for synthetic masks) come from YuNet, whatever detector crops the faces.
        detector = create_detector("yunet" if keypoints else detector_name, 0.5)
        if faces == "largest":  # a big photo: the shrunk pass alone, where its faces are big (_faces_found)
            shrunk = create_detector("yunet" if keypoints else detector_name, 0.5, fine_pass=False)

    out: dict[str, list[Any]] = {"x": [], "y": [], "paths": [], "kps": [], "source": [], "boxes": [], "hashes": [],
                                 "origin": [], "looks": []}
    skipped = {"unreadable": 0, "not an image": 0}
    skipped_files: list[Path] = []  # the first few non-image files, for the warning
    # The first few unreadable images with why: a folder of iPhone photos without pillow-heif was "skipped 30
    # unreadable image(s)", its names after the Thumbs.db files and the reason (what to install) nowhere.
    unreadable: list[str] = []
    detected, n_images, folders = 0, 0, []
    said = time.monotonic()
    # Images a label may not describe: no face found (used whole), or, taking the largest face, others
    # nearly as big beside it (a group photo): which person the folder's label is about is a guess.
    no_face: list[Path] = []
    several: list[Path] = []
    for origin, r in enumerate(roots):
        info: dict[str, Any] = {"path": str(r), "images": {}, "faces": {}, "unreadable": 0, "no_face_found": 0}
        base, borrowed = relabelled(r)
        # (class index, folder): each class folder, or for DIR=CLASS the folder and its sub-folders, all as CLASS
        dirs = {} if borrowed is not None else {class_label(f): f for f in class_folders(r)}
        sources = ([(labels.index(borrowed), f) for f in [base, *class_folders(base)]] if borrowed is not None
                   else [(i, dirs.get(lab, r / lab)) for i, lab in enumerate(labels)])
        for label in labels:
            info["images"][label] = info["faces"][label] = 0
        for idx, folder in sources:
            label = labels[idx]
            if not folder.is_dir():
                continue
            # DIR=CLASS's own folder is read flat: its class folders are sources of their own.
            files, others = class_images(folder, nested=not (borrowed is not None and folder == base))
            skipped["not an image"] += len(others)
            skipped_files += others[:max(0, 3 - len(skipped_files))]
            if max_per_class:
                files = first_per_split(files, max_per_class, split_patterns)
            for path in files:
                try:
                    image = load_image(path)
                except ImageError as e:
                    skipped["unreadable"] += 1
                    info["unreadable"] += 1
                    if len(unreadable) < 3:
                        why = str(e).removeprefix(f"{path}: ")
                        unreadable.append(f"{path} ({why})")
                    continue
                digest = hashlib.blake2b(image.tobytes(), digest_size=12, person=str(image.shape).encode()[:16])
                looks = (look_hash(image), look_hash(image[:, ::-1]))
                examples, rivals = _examples(image, detector, face_crops, crop, size, faces, min_face, shrunk)
                if face_crops == "detect":
                    has_face = not np.isnan(examples[0][2]).any()
                    detected += has_face
                    info["no_face_found"] += not has_face
                    if not has_face:
                        no_face.append(path)
                    elif rivals and faces == "largest":
                        several.append(path)
                for face, kps, box in examples:
                    out["x"].append(to_model_input(face, size, color)[0])
                    out["y"].append(idx)
                    out["paths"].append(str(path))
                    out["kps"].append(kps)
                    out["source"].append(n_images)
                    out["origin"].append(origin)
                    out["boxes"].append(box)
                    out["hashes"].append(digest.hexdigest())
                    out["looks"].append(looks)
                info["images"][label] += 1
                info["faces"][label] += len(examples)
                n_images += 1
                # Detection takes minutes on big sets: show it is moving. Every 1000 images alone left a folder of
                # phone photos (12 MP, ~7 s each for YuNet's full-resolution tiles, before _faces_found) silent for
                # 2 hours.
                if n_images % 1000 == 0 or time.monotonic() - said >= PROGRESS_SECONDS:
                    said = time.monotonic()
                    log(f"[INFO] {n_images} images read ({len(out['x'])} examples)")
        folders.append(info)
    n_skipped = skipped["unreadable"] + skipped["not an image"]
    if n_skipped:
        # One line for one fact (the card keeps the per-folder counts), naming files so they can be found.
        named = (unreadable + [str(f) for f in skipped_files])[:3]
        log(f"[WARN] {', '.join(map(str, roots))}: skipped {counted(skipped['unreadable'], 'unreadable image')} and "
            f"{counted(skipped['not an image'], 'non-image file')}: {', '.join(named)}"
            + (f" and {n_skipped - len(named)} more" if n_skipped > len(named) else ""))
    for listed, what in ((no_face, "no face found, used whole with their folder's label"),
                         (several, "other faces nearly as large as the one used (--faces largest): the label "
                                   "may be about another person")):
        if listed:
            log(f"[WARN] {len(listed)} image(s) with {what}: {', '.join(map(str, listed[:3]))}"
                + (f" and {len(listed) - 3} more" if len(listed) > 3 else ""))
    # The same picture in two classes (a photo copied into both while relabelling) teaches the model both labels
    # for one face, and the split's copy check then dropped it from validation without saying which label won.
    # The same picture twice in one class (a folder copied into itself, two sets that share photos) weighs
    # that face double in training and in the class counts, and was not named at all.
    first: dict[str, tuple[str, int]] = {}
    classes: dict[str, set] = {}
    clashes: list[str] = []
    in_class: dict[tuple[str, int], str] = {}
    repeats: dict[str, str] = {}  # a copy's path: the first file with its pixels (one entry a file, faces "all" too)
    # A file a --val/--test-pattern names is never trained on, and split_dataset drops it where it copies a
    # training image: FER2013's PublicTest_ / PrivateTest_ copies of Training_ faces were each "learnt once more"
    # and to be deleted, from a mirror the user cannot change.
    held_out = [pattern for pattern in split_patterns if pattern]
    for digest, path, y in zip(out["hashes"], out["paths"], out["y"]):
        if any(pattern in Path(path).name for pattern in held_out):
            continue
        seen = first.setdefault(digest, (path, y))
        if y not in classes.setdefault(digest, {y}):  # each further class with this picture is named once
            classes[digest].add(y)
            clashes.append(f"{path} ({labels[y]}) = {seen[0]} ({labels[seen[1]]})")
        original = in_class.setdefault((digest, y), path)
        if path != original:
            repeats.setdefault(path, original)
    if repeats:
        named = [f"{copy} = {original}" for copy, original in list(repeats.items())[:3]]
        log(f"[WARN] {len(repeats)} image(s) with the same pixels as another in their own class, each learnt once "
            f"more: {', '.join(named)}" + (f" and {len(repeats) - 3} more" if len(repeats) > 3 else "")
            + "; delete the copies")
    if clashes:
        log(f"[WARN] {len(clashes)} image(s) in two classes with the same pixels, each learnt with both labels: "
            f"{', '.join(clashes[:3])}" + (f" and {len(clashes) - 3} more" if len(clashes) > 3 else "")
            + "; remove them from the wrong class")
    if not out["x"]:
        raise DatasetError(f"{', '.join(map(str, roots))}: no readable images")
    return Dataset(np.stack(out["x"]), np.array(out["y"], dtype=np.int64), labels, out["paths"], skipped, detected,
                   np.stack(out["kps"]) if keypoints else None, np.array(out["source"]),
                   np.array(out["boxes"], dtype=np.float32), out["hashes"], folders, None, np.array(out["origin"]),
                   np.array(out["looks"], dtype=np.uint64))


# How much bigger than the tiles' largest face (tile_overlap) the shrunk pass's largest must be to be taken alone:
# one face's box differs by a few % from pass to pass (obama_and_biden's at 2,000 px, SCRFD: 183x258 px shrunk,
# 185x252 in a tile, which won, so that 256 took the other box).
TILE_MARGIN = 1.25


def _faces_found(image, detector, shrunk=None) -> list:
    """`detector`'s faces in a dataset image. A photo past the detector's `base_side` (1280 px) given `shrunk` (the
    same detector without its fine pass: --faces largest) is searched shrunk to that alone where the largest face it
    finds is one the fine pass cannot find: its full-resolution tiles keep only faces under `tile_overlap` (256 px
    as the network saw the box), for faces too small to be found shrunk, so they add no larger face and no other box
    of it. 57 photos of 2,000-4,000 px (50 of mask_real_train's upscaled 4.5x, 7 media photos): the same largest
    face and crop in each, YuNet in 0.88 s a photo instead of 2.60 (5 of them, their largest face under 320 px, with
    the tiles). --faces all keeps every pass: the tiles found 36 faces of 16 px or more that the shrunk pass did
    not."""
    side = max(image.shape[:2])
    if shrunk is not None and side > getattr(detector, "base_side", side):
        found = shrunk.detect(image)
        if found:
            box, cal = max(found, key=lambda f: f.box.area).box, detector.calibration
            scale = min(1.0, detector.tiled_max_side / side)  # the tiles' canvas, as _tiled_pass sees a box
            if max(box.width / cal.sx, box.height / cal.sy) * scale >= detector.tile_overlap * TILE_MARGIN:
                return found
    return detector.detect(image)


def _examples(image, detector, face_crops: str, crop: CropSpec, size: int, faces: str, min_face: int,
              shrunk=None):
    """[(image or face crop, key points in model-input px, box)] for one dataset image, and how many
    other faces found are at least half as wide as the largest. shrunk: as `_faces_found` takes it."""
    nan_kps, nan_box = np.full((5, 2), np.nan, dtype=np.float32), np.full(4, np.nan, dtype=np.float32)
    found = (sorted(_faces_found(image, detector, shrunk), key=lambda f: f.box.area, reverse=True)
             if detector is not None else [])
    if face_crops != "detect" or not found:
        kps = nan_kps
        if found and found[0].detector_keypoints is not None:
            kps = found[0].detector_keypoints.astype(np.float32) * (size / image.shape[1], size / image.shape[0])
        return [(image, kps, nan_box)], 0
    rivals = sum(f.box.width >= 0.5 * found[0].box.width for f in found[1:])
    picked = found[:1]
    if faces == "all":
        picked += [f for f in found[1:] if min(f.box.width, f.box.height) >= min_face]
    result = []
    for face in picked:
        x1, y1, x2, y2 = crop_region(face.box, crop)
        kps = nan_kps
        if face.detector_keypoints is not None:
            points = face.detector_keypoints.astype(np.float32)
            turn = level_turn(face.box, points)  # the crop is levelled as inference levels it: so are its points
            if turn is not None:
                points = points @ turn[:, :2].T.astype(np.float32) + turn[:, 2].astype(np.float32)
            kps = (points - (x1, y1)) * (size / (x2 - x1), size / (y2 - y1))
        box = np.array([face.box.x1, face.box.y1, face.box.x2, face.box.y2], dtype=np.float32)
        result.append((crop_face(image, face.box, crop, face.detector_keypoints), kps, box))
    return result, rivals


def add_synthetic_masks(x: np.ndarray, y: np.ndarray, kps: np.ndarray, labels: list[str], copies: int,
                        source: str = "without_mask", target: str = "with_mask", seed: int = SEED):
    """`copies` synthetic-mask versions of every `source` image that has key points, labelled `target`."""
    from .synthmask import draw_mask

    if source not in labels or target not in labels:
        raise DatasetError(f"--synth-masks needs classes {source!r} and {target!r}; this dataset has {labels}")
    rng = np.random.default_rng(seed)
    src = [i for i in np.flatnonzero(y == labels.index(source)) if not np.isnan(kps[i]).any()]
    new = [draw_mask(x[i], kps[i], rng) for i in src for _ in range(copies)]
    if not new:
        return x, y, 0
    return (np.concatenate([x, np.stack(new)]), np.concatenate([y, np.full(len(new), labels.index(target))]),
            len(new))


def mask_a_share(x: np.ndarray, kps: np.ndarray, share: float, seed: int = SEED,
                 gray: bool = False) -> tuple[np.ndarray, int]:
    """Draw a synthetic mask on `share` of the faces (those with key points), keeping their labels: a model
    that must still read emotion or gender on masked faces learns from the eyes too. `gray`: the model
    reads grey faces, so the mask is drawn grey (draw_mask)."""
    from .synthmask import draw_mask

    rng = np.random.default_rng(seed)
    ok = np.flatnonzero(~np.isnan(kps).any(axis=(1, 2)))
    pick = rng.choice(ok, size=int(round(share * len(ok))), replace=False) if len(ok) else ok
    x = x.copy()
    for i in pick:
        x[i] = draw_mask(x[i], kps[i], rng, gray=gray)
    return x, len(pick)


def add_occluded(x: np.ndarray, y: np.ndarray, kps: np.ndarray, labels: list[str], share: float,
                 source: str = "without_mask", seed: int = SEED):
    """Occluded copies of `share` of the training `source` faces, labelled `source`: mouths hidden by another
    face's skin, hair or background (synthmask.draw_occluder), the hard negatives a mask head needs."""
    from .synthmask import draw_occluder

    if source not in labels:
        raise DatasetError(f"--occluders needs a class {source!r}; this dataset has {labels}")
    rng = np.random.default_rng(seed + 1)
    src = np.flatnonzero(y == labels.index(source))
    pick = rng.choice(src, size=int(round(share * len(src))), replace=False) if len(src) > 1 else src[:0]
    new = [draw_occluder(x[i], kps[i], x[rng.choice(src[src != i])], rng) for i in pick]
    if not new:
        return x, y, 0
    return np.concatenate([x, np.stack(new)]), np.concatenate([y, np.full(len(new), labels.index(source))]), len(new)


# Look-alike images: the asset mirror's mask/ set is mostly pairs and families of one photo, with a mask pasted on and
# without, flipped, turned, blurred or noised ("augmented_image_*"): a random split put 159 of its 255 test images
# beside a look-alike in training. The top LOOK_TOP of a photo (above a pasted mask), hashed as the signs of the 16x16
# lowest frequencies of its 32x32 grey DCT, finds them: at most LOOK_DISTANCE of the 256 bits apart (or apart from
# its mirror's). mask/: 1,046 images in 340 groups. A 64-bit hash (8x8) at 4 bits found 1,060 there, but chained
# celeba_gender's aligned faces of different people (alike hair and background) into a group of 306; at 24 of 256 its
# largest group is 2 (14 images in 7 groups), at 40 15, at 48 177.
LOOK_DISTANCE = 24
LOOK_TOP = 0.4


def look_hash(image: np.ndarray) -> np.ndarray:
    """256-bit perceptual hash (4 uint64) of the top LOOK_TOP of an image (BGR or grey), for look_groups."""
    import cv2

    top = image[:max(1, round(image.shape[0] * LOOK_TOP))]
    grey = cv2.cvtColor(top, cv2.COLOR_BGR2GRAY) if top.ndim == 3 else top
    low = cv2.dct(cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA))[:16, :16].ravel()
    return np.packbits(low > np.median(low)).view(np.uint64)


def look_groups(looks: np.ndarray, most: int = LOOK_DISTANCE) -> np.ndarray:
    """Each image's group, as the index of its group's first image: images whose look_hash (looks[:, 0]; or their
    mirror's, looks[:, 1]) are at most `most` bits apart are one group, and so are chains of them."""
    n = len(looks)
    parent = np.arange(n)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # ~4M pairs a step, counted a 64-bit word at a time into uint16 (no (rows, n, 4) temporary; uint8 would wrap at
    # 256 bits apart): 10,000 images in 2.7 s where summing the words' counts took 13.3 s.
    rows = max(1, (1 << 22) // max(n, 1))
    for start in range(0, n, rows):
        near = np.zeros((len(looks[start:start + rows]), n), dtype=bool)
        for side in (0, 1):
            apart = np.zeros(near.shape, dtype=np.uint16)
            for word in range(looks.shape[-1]):
                apart += np.bitwise_count(looks[start:start + rows, None, 0, word] ^ looks[None, :, side, word])
            near |= apart <= most
        for i, j in zip(*np.nonzero(near)):
            a, b = root(start + i), root(j)
            if a != b:  # the smaller index is the root, so a group's root is its first image
                parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(n)])


def split_indices(y: np.ndarray, val: float, test: float, seed: int = SEED):
    """Stratified train / validation / test indices with a fixed seed; every part gets at least one
    image per class, so small datasets split too (or fail with a clear message). A part of 0 is empty."""
    from sklearn.model_selection import train_test_split

    k, n = len(np.unique(y)), len(y)
    # Sizes rounded up, as sklearn rounds a fractional test_size: the split models were trained on
    # stays the split the benches rebuild.
    n_test = max(k, math.ceil(test * n)) if test > 0 else 0
    n_val = max(k, math.ceil(val / (1 - test) * (n - n_test))) if val > 0 else 0
    if n - n_test - n_val < k:
        raise DatasetError(f"{n} images are too few to split into train / validation / test for {k} "
                           f"class{'' if k == 1 else 'es'}")
    idx = np.arange(n)
    empty = np.array([], dtype=np.int64)
    test_idx = val_idx = empty
    if n_test:
        idx, test_idx = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    train_idx = idx
    if n_val:
        train_idx, val_idx = train_test_split(idx, test_size=n_val, stratify=y[idx], random_state=seed)
    return np.sort(train_idx), np.sort(val_idx), np.sort(test_idx)


@dataclass
class Split:
    train: np.ndarray  # example indices
    val: np.ndarray
    test: np.ndarray
    how: dict  # what the card records: patterns, duplicates dropped


def split_dataset(data: Dataset, val: float, test: float, val_pattern: str | None = None,
                  test_pattern: str | None = None, separate_test: bool = False) -> Split:
    """Train / validation / test example indices. Whole images go to one part (the faces of a crowd photo
    never straddle train and test); files whose name contains `val_pattern` / `test_pattern` make that
    part (FER+'s PublicTest_ / PrivateTest_); the rest of EACH --dataset folder is split on its own,
    stratified by class, exactly as that folder alone would be (so a folder's test part stays the one
    models trained on it alone held out, and benches can compare them on it). Then look-alike images
    (look_groups: one photo with and without a pasted mask, flipped or noised copies), in one folder or
    across folders, follow the first of them into its part. Validation and test examples whose pixels
    equal a training image's are dropped: a copy of a training image would make model selection and the
    test figure optimistic."""
    source = cast(np.ndarray, data.source)  # load_dataset sets it on every Dataset it makes
    n_src = int(source.max()) + 1
    first = np.full(n_src, -1)
    first[source[::-1]] = np.arange(len(source))[::-1]
    src_y = data.y[first]
    names = [Path(data.paths[i]).name for i in first]
    val_src = np.array([bool(val_pattern and val_pattern in n) for n in names])
    test_src = np.array([bool(test_pattern and test_pattern in n) for n in names])
    both = np.flatnonzero(val_src & test_src)
    if len(both):  # such a file went to both parts: the model was tested on the faces that chose its epoch
        more = f" and {len(both) - 1} more" if len(both) > 1 else ""
        raise DatasetError(f"{names[both[0]]}{more} contain(s) both --val-pattern {val_pattern!r} and --test-pattern "
                           f"{test_pattern!r}: each file can be in one part only; give patterns no file name shares")
    src_origin = data.origin[first] if data.origin is not None else np.zeros(n_src, dtype=int)
    parts = {"train": [], "val": [np.flatnonzero(val_src)], "test": [np.flatnonzero(test_src)]}
    for o in np.unique(src_origin):
        rest = np.flatnonzero(~val_src & ~test_src & (src_origin == o))
        if not len(rest):
            continue
        try:
            tr, va, te = split_indices(src_y[rest], 0 if val_pattern else val,
                                       0 if (test_pattern or separate_test) else test)
        except DatasetError as exc:
            if len(data.folders) < 2:
                raise
            # "2 images are too few" of a run given 26: which folder, and why a folder alone counts.
            raise DatasetError(f"--dataset {data.folders[o]['path']}: {exc} (each folder is split on its own, as it "
                               "would be alone: give it more images, or put them in another folder)") from None
        for name, idx in (("train", tr), ("val", va), ("test", te)):
            parts[name].append(rest[idx])
    part_of = np.zeros(n_src, dtype=np.int64)
    for code, name in enumerate(("train", "val", "test")):
        if parts[name]:
            part_of[np.concatenate(parts[name])] = code
    looks = {"most_bits_apart": LOOK_DISTANCE, "groups": 0, "images": 0, "groups_with_two_classes": 0, "moved": 0}
    rest = np.flatnonzero(~val_src & ~test_src)
    # Files a pattern names keep their part; with both parts named the rest all train, and nothing can move.
    if data.looks is not None and len(rest) > 1 and not (val_pattern and (test_pattern or separate_test)):
        group = rest[look_groups(data.looks[first[rest]])]
        members = np.bincount(group, minlength=n_src)[group]
        kinds = {(g, c) for g, c in zip(group[members > 1], src_y[rest][members > 1])}
        classes = np.bincount([g for g, _ in kinds], minlength=n_src)
        moved = part_of[group] != part_of[rest]
        trained = set(src_y[part_of == 0])
        part_of[rest] = part_of[group]
        lost = [data.labels[c] for c in sorted(trained - set(src_y[part_of == 0]))]
        if lost:  # a small set of twins: each training image followed its look-alike out
            raise DatasetError(f"every training image of class {', '.join(map(repr, lost))} has a look-alike (the "
                               "same photo with or without a mask, flipped, noised...) drawn for validation or test, "
                               "where it must go too: give more images")
        looks.update(groups=int((classes > 0).sum()), images=int((members > 1).sum()),
                     groups_with_two_classes=int((classes > 1).sum()), moved=int(moved.sum()))
    in_part = {name: np.flatnonzero(part_of == code) for code, name in enumerate(("train", "val", "test"))}
    for name in ("val", "test"):
        if (val_pattern if name == "val" else test_pattern) and not (val_src if name == "val" else test_src).any():
            raise DatasetError(f"no file name contains --{name}-pattern "
                               f"{val_pattern if name == 'val' else test_pattern!r}")
    ex = {k: np.flatnonzero(np.isin(source, v)) for k, v in in_part.items()}
    seen = {data.hashes[i] for i in ex["train"]}
    how: dict[str, Any] = {"val_pattern": val_pattern, "test_pattern": test_pattern, "duplicates_of_train_dropped": {},
           "look_alike_kept_together": looks}
    for k in ("val", "test"):
        dup = np.array([data.hashes[i] in seen for i in ex[k]], dtype=bool)
        how["duplicates_of_train_dropped"][k] = int(dup.sum())
        ex[k] = ex[k][~dup]
    return Split(ex["train"], ex["val"], ex["test"], how)


# ---------------------------------------------------------------------------------------------
# model


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> dict[int, float] | None:
    """Loss weight per class index: "balanced" (inverse frequency, mean 1), "sqrt" of that, or "none".

    sqrt keeps a rare class (FER2013's disgust: 1.5% of the images, weight 9.4 balanced, 3.1 sqrt)
    from being over-predicted, which full inverse-frequency weights do at a cost in overall accuracy.
    """
    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class weights {mode!r}: choose balanced, sqrt or none")
    freq = np.bincount(y, minlength=num_classes).astype(np.float64)
    balanced = len(y) / (num_classes * np.maximum(freq, 1))
    weights = np.sqrt(balanced) if mode == "sqrt" else balanced
    return {i: float(w) for i, w in enumerate(weights)}


def _damaged_imagenet_file(path: Path, exc: Exception) -> None:
    """A MobileNetV2 ImageNet file that h5py cannot read (a download cut short by an older facekit, a copy on a
    failing disk; it has no pinned sha256 to be checked by) was an h5py OSError traceback, after the whole
    dataset had been read: one line naming the file and how to get it again."""
    from . import assets
    from .errors import out_of_memory

    if not isinstance(exc, OSError) or out_of_memory(exc):  # h5py's word for a file it cannot read; not a bad size
        return
    try:
        in_cache = path.is_relative_to(assets.cache_root())
    except FacekitError:
        in_cache = False
    fix = (f"delete it and run the command again, which downloads it afresh from "
           f"{assets.REGISTRY['mobilenet_v2_imagenet'].url}" if in_cache else
           f"the asset mirror {assets.ENV_MIRROR}={os.environ.get(assets.ENV_MIRROR)} holds a damaged copy: "
           f"replace it there, or unset {assets.ENV_MIRROR} to use the cache")
    raise ModelError(f"cannot load MobileNetV2's ImageNet weights from {path} "
                     f"({str(exc).splitlines()[0][:160] or type(exc).__name__}): {fix}") from None


def build_model(num_classes: int, size: int, alpha: float = 1.0, weights: str | None = "imagenet",
                train_batchnorm: bool = False, name: str = "facekit_mobilenetv2"):
    """Rescaling -> MobileNetV2 base -> pooling -> dropout -> softmax. Input: RGB 0..255 floats."""
    import keras

    if weights == "imagenet":
        from . import assets

        # A file path loads the same weights for any input size (Keras would only fetch 224's).
        weights = str(assets.resolve("mobilenet_v2_imagenet")) if alpha == 1.0 else "imagenet"
    try:
        base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=weights,
                                              alpha=alpha)
    except Exception as exc:  # Keras raises a bare Exception when its download fails
        if weights is not None and weights != "imagenet":
            _damaged_imagenet_file(Path(weights), exc)
            raise
        raise ModelError(f"MobileNetV2 ImageNet weights for --alpha {alpha} are not in the asset mirror (it has "
                         f"alpha 1.0) and Keras could not download them: {str(exc).splitlines()[0][:160]}") from None
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale_to_pm1")(inputs)
    # BatchNorm stays in inference mode, also when fine-tuning (the keras-io recipe for small sets),
    # unless the data is large and far from ImageNet (FER2013's 48 px gray faces), where the
    # ImageNet statistics hold the fine-tuned network back; then trainable BatchNorm layers learn.
    x = base(x) if train_batchnorm else base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name), base


def averaged(networks: list, views: tuple[str, ...], size: int):
    """The model the TFLite file holds: the mean of every network's prediction on every view of the
    face (TTA_VIEWS), one file with each network's weights once. Faces are left-right symmetric and
    framed a little differently by each detector; the networks' errors are not."""
    import keras

    if len(networks) == 1 and views == ("face",):
        return networks[0]
    inputs = keras.Input((size, size, 3), name="image")
    side = size - 2 * round(size / 24)
    top = (size - side) // 2

    def view(name):
        x = inputs
        if name.startswith("zoom"):
            x = keras.ops.image.resize(x[:, top:top + side, top:top + side, :], (size, size), interpolation="bilinear")
        if name.endswith("mirror"):
            x = keras.ops.flip(x, axis=2)
        return x

    # The views go through each network as one batch: XNNPACK runs a batch of 4 faces in ~half the
    # time of 4 single-face passes (emotion, 2 networks x 4 views: 5.8 -> ~3 ms a face).
    batch = keras.ops.concatenate([view(v) for v in views], axis=0) if len(views) > 1 else inputs
    outputs = []
    for net in networks:
        own = net.input_shape[1]
        # Bilinear, like the zoom view: members' sizes differ by ~20%, where it and INTER_AREA agree.
        probs = net(batch if own == size else keras.ops.image.resize(batch, (own, own), interpolation="bilinear"))
        outputs.append(keras.ops.mean(keras.ops.reshape(probs, (len(views), -1, probs.shape[-1])), axis=0))
    if len(outputs) > 1:
        outputs = [keras.layers.Average(name="average")(outputs)]
    return keras.Model(inputs, outputs[0], name="facekit_averaged")


def check_fine_tune_at(first_layer: str, names: list[str] | None = None) -> None:
    """Refuse a --fine-tune-at that names no MobileNetV2 layer. Without `names` they come from the network built
    without weights (~1 s once Keras is imported): a typo was found only when fine-tuning began, after every
    image was read and the head's epochs had run."""
    if names is None:
        from .runtime import native_stderr

        with native_stderr():
            import keras

        base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), include_top=False, weights=None)
        names = [layer.name for layer in base.layers]
    if first_layer not in names:
        blocks = [n for n in names if n.endswith("_expand")]
        raise DatasetError(f"--fine-tune-at {first_layer!r} is not a MobileNetV2 layer (e.g. {blocks[0]} ... "
                           f"{blocks[-1]}, each block's first)")


def set_fine_tune(base, first_layer: str, batchnorm: bool = False) -> int:
    """Make `first_layer` and everything above it trainable (BatchNorm layers too only if `batchnorm`)."""
    import keras

    names = [layer.name for layer in base.layers]
    check_fine_tune_at(first_layer, names)
    start = names.index(first_layer)
    base.trainable = True
    count = 0
    for i, layer in enumerate(base.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= start and (batchnorm or not is_bn)
        if is_bn and layer.trainable:
            layer.momentum = 0.99  # MobileNetV2's 0.999 would take thousands of steps to adopt new statistics
        count += int(layer.trainable)
    return count


AUGMENT_PRESETS = ("none", "basic", "strong", "photo")


def augmenter(kind: str, size: int, grey_share: float = 0.12, lines: float = 0.0):
    """Augmentation applied to training batches only (never part of the saved model).

    basic: geometry and light; strong: + colour, blur and low resolution (the pasted-on masks of the mask
    set are all one light blue: colour jitter keeps a model from learning "light blue = mask"); photo:
    what real photos and crowds show that curated crops do not: grey and sepia prints, dim light and
    gamma, blur, faces down to 12-32 px scaled back up, JPEG artefacts, and boxes shifted and scaled as
    a detector frames faces. `grey_share` of the faces are made grey (photo), and 8% more sepia. `lines` of the
    faces (any kind but none) are crossed by one or two thin straight lines of one colour (cross_lines)."""
    import keras
    import tensorflow as tf

    if kind == "none":
        return None
    if kind not in AUGMENT_PRESETS:
        raise ValueError(f"augment {kind!r}: choose {', '.join(AUGMENT_PRESETS)}")
    layers = [
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(0.04, fill_mode="reflect"),
        keras.layers.RandomZoom((-0.15, 0.15), fill_mode="reflect"),
        keras.layers.RandomTranslation(0.06, 0.06, fill_mode="reflect"),
        keras.layers.RandomBrightness(0.2, value_range=(0, 255)),
        keras.layers.RandomContrast(0.3),
    ]
    if kind == "strong":
        layers += [
            keras.layers.RandomHue(0.5, value_range=(0, 255)),
            keras.layers.RandomSaturation((0.2, 0.8), value_range=(0, 255)),
            keras.layers.RandomGrayscale(0.15),
            keras.layers.RandomGaussianBlur(0.3, kernel_size=5, sigma=1.0, value_range=(0, 255)),
        ]
    if kind == "photo":
        layers += [
            keras.layers.RandomHue(0.05, value_range=(0, 255)),  # skin tones stay skin tones
            keras.layers.RandomSaturation((0.3, 0.7), value_range=(0, 255)),
            keras.layers.RandomGaussianBlur(0.25, kernel_size=7, sigma=1.0, value_range=(0, 255)),
        ]
    pipeline = keras.Sequential(layers, name="augment")
    # Down to ~12 px (a face far from the camera) for photo; a sixth of the input size otherwise.
    smallest = min(12, size) if kind == "photo" else size // 6
    largest = max(smallest + 1, size // 2) if kind == "photo" else size
    share_low_res = {"strong": 0.3, "photo": 0.35}.get(kind, 0.0)

    def chance(n, p):
        return tf.random.uniform([n, 1, 1, 1]) < p

    def low_res(x):
        # Down- and up-sample a random share of the batch, as faces far from the camera look.
        n = tf.shape(x)[0]
        small = tf.random.uniform([], smallest, largest, dtype=tf.int32)
        degraded = tf.image.resize(tf.image.resize(x, [small, small], antialias=True), [size, size])
        return tf.where(chance(n, share_low_res), degraded, x)

    sepia = tf.constant([[0.393, 0.349, 0.272], [0.769, 0.686, 0.534], [0.189, 0.168, 0.131]])

    def photo(x):
        n = tf.shape(x)[0]
        gray = tf.repeat(tf.image.rgb_to_grayscale(x), 3, axis=-1)
        tone = tf.random.uniform([n, 1, 1, 1])
        x = tf.where(tone < grey_share, gray, tf.where(tone < grey_share + 0.08, tf.tensordot(x, sepia, axes=1), x))
        # After the grey and sepia: a coloured box drawn over a black-and-white photo is what 12_angry_men.jpg shows.
        x = cross_lines(x, lines) if lines else x
        # Dim light and gamma: underexposed indoor photos and crowds in shade.
        gamma = tf.exp(tf.random.uniform([n, 1, 1, 1], math.log(0.6), math.log(1.8)))
        lit = 255.0 * tf.pow(tf.clip_by_value(x, 0.0, 255.0) / 255.0, gamma)
        lit = lit * tf.random.uniform([n, 1, 1, 1], 0.35, 1.0)
        x = tf.where(chance(n, 0.4), lit, x)
        x = low_res(tf.clip_by_value(x, 0.0, 255.0))

        def jpeg(img):
            q = tf.random.uniform([], 10, 60, dtype=tf.int32)
            return tf.image.adjust_jpeg_quality(img / 255.0, q) * 255.0

        compressed = tf.map_fn(jpeg, x, fn_output_signature=tf.float32)
        return tf.where(chance(n, 0.3), compressed, x)

    def apply(x):
        x = pipeline(x, training=True)
        if kind == "photo":
            x = photo(x)
        else:
            x = low_res(cross_lines(x, lines) if lines else x)
        return lift_exposure_tf(tf.clip_by_value(x, 0.0, 255.0))

    return apply


def cross_lines(x, share: float):
    """`share` of a float batch (N, H, W, 3) crossed by a thin straight line of one colour, a second (a box's
    corner) on 40% of those: a wire, a railing or a microphone stand in front of a face, or the boxes another
    program drew into a photo. A mask's top edge is the one such line a mask head sees in training, so it took any
    line across the nose for one: a 1-4 px line across each of the 18 unmasked faces of crowd_masks.jpg, 16
    positions and colours each, turned 108 of the 288 copies "Mask", and the red boxes drawn into
    12_angry_men.jpg 4 of its 10 men. Mostly level (a box's edge across the face), a third upright; the colour
    random, half of the time a pure one (red, green, blue, white, black...) as drawing programs use."""
    import tensorflow as tf

    n, size = tf.shape(x)[0], tf.cast(tf.shape(x)[1], tf.float32)
    grid = (tf.cast(tf.range(tf.shape(x)[1]), tf.float32) + 0.5) / size
    yy, xx = grid[None, :, None, None], grid[None, None, :, None]

    def line(upright_share):
        def rand(lo, hi):
            return tf.random.uniform([n, 1, 1, 1], lo, hi)

        upright = rand(0.0, 1.0) < upright_share
        angle = rand(-0.35, 0.35) + tf.where(upright, math.pi / 2, 0.0)
        cx, cy = rand(0.15, 0.85), rand(0.3, 0.95)
        distance = tf.abs((xx - cx) * tf.sin(angle) - (yy - cy) * tf.cos(angle)) * size  # in px
        half = rand(0.4, 2.0) * size / 96.0  # 1-4 px wide at 96 px
        return tf.clip_by_value(half + 0.5 - distance, 0.0, 1.0)  # anti-aliased: a pixel's share covered

    alpha = line(1 / 3)
    alpha = tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.4, tf.maximum(alpha, line(0.5)), alpha)
    alpha *= tf.cast(tf.random.uniform([n, 1, 1, 1]) < share, tf.float32)
    colour = tf.random.uniform([n, 1, 1, 3], 0.0, 255.0)
    pure = 255.0 * tf.cast(tf.random.uniform([n, 1, 1, 3]) < 0.5, tf.float32)
    colour = tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.5, pure, colour)
    return x * (1.0 - alpha) + colour * alpha


def lift_exposure_tf(x):
    """facekit.preprocess.lift_exposure on a float batch (N, H, W, 3), for faces that augmentation made
    dark: inference lifts every dark crop, so training must show the network the lifted face, not the
    dark one it will never be given."""
    import tensorflow as tf

    from .preprocess import LIFTED_MEAN, MAX_GAIN

    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    gain = tf.where(mean < DARK_CROP, tf.minimum(MAX_GAIN, LIFTED_MEAN / tf.maximum(mean, 1.0)), 1.0)
    return tf.clip_by_value(x * gain, 0.0, 255.0)


def make_tf_dataset(x, y, batch, augment=None, shuffle=False):
    """Batches of float images; `y` is class indices (N,) or target distributions (N, classes)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
    ds = ds.batch(batch).map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# training run: data -> model -> fit -> export -> card (the stages of the keras-io guide)


def task_name(labels: list[str], dataset) -> str:
    known = KNOWN_TASKS.get(frozenset(labels))
    if known:
        return known
    roots = as_roots(dataset)
    # The first folder of classes names it: "-d extra=no_glasses glasses" was task 'extra=no_glasses', refused,
    # and "-d ." was 'task' (a path's name, not the folder's, which abspath gives without following links).
    dataset = Path(os.path.abspath(next((r for r in roots if relabelled(r)[1] is None), roots[0])))
    name = shown(dataset.name if dataset.name not in ("train", "training") else dataset.parent.name)
    return name.replace(" ", "_").lower() or "task"


@dataclass
class TrainData:
    """The arrays a run trains, selects and tests on, and what the card says about them."""

    labels: list[str]
    task: str
    x_tr: np.ndarray
    t_tr: np.ndarray  # targets: class indices, or distributions with soft labels
    x_va: np.ndarray
    t_va: np.ndarray
    y_va: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_rows: list[tuple[str, np.ndarray, str]]  # (file, detector box or NaN, label) of each test example
    card: dict  # the card's "dataset" section

    @property
    def soft(self) -> bool:
        return self.t_tr.ndim == 2


# Fewer test images than this in a class and the trainer says its test accuracy says little about it.
MIN_TEST_PER_CLASS = 20


def prepare_data(cfg: TrainConfig, log=print) -> TrainData:
    """Stage 1: read every --dataset folder (and the soft-label CSV, checked first), split, add drawn masks."""
    roots = as_roots(cfg.dataset)
    labels = dataset_labels(roots, log)
    soft = None
    if cfg.soft_labels:
        from .softlabels import LABEL_COLUMN, read_soft_labels

        soft = read_soft_labels(cfg.soft_labels, labels)
        if cfg.label_source == "majority" and not soft.majority:
            # Said now: it was said once every image was loaded (and, by default, its face found by YuNet).
            raise DatasetError(f"--label-source majority: {soft.csv} has no {LABEL_COLUMN} column (the plurality "
                               "label to train on); the default --label-source votes needs only the vote columns")
        log(f"[INFO] {len(soft.votes)} soft-label rows in {cfg.soft_labels} (training on the "
            f"{'normalised votes' if cfg.label_source == 'votes' else 'plurality label'})")
    log(f"[INFO] loading images from {', '.join(map(str, roots))}...")
    load = dict(size=cfg.input_size, color=cfg.color, crop=cfg.crop, face_crops=cfg.face_crops,
                detector_name=cfg.detector, log=log, faces=cfg.faces, min_face=cfg.min_face)
    need_kps = cfg.synth_masks > 0 or cfg.mask_share > 0 or cfg.occluders > 0
    data = load_dataset(roots, labels=labels, max_per_class=cfg.max_per_class, keypoints=need_kps,
                        split_patterns=(cfg.val_pattern, cfg.test_pattern), **load)
    assert data.source is not None  # load_dataset sets it
    n_images = int(data.source.max()) + 1
    if cfg.face_crops == "detect":
        log(f"[INFO] face found and cropped in {data.crops_detected} of {n_images} images" +
            (f" ({len(data.y)} faces)" if len(data.y) != n_images else ""))
    soft_note: dict = {}
    if soft is not None:
        data, soft_note = _with_soft_labels(data, soft, cfg.label_source, log)
    counts = {lab: int((data.y == i).sum()) for i, lab in enumerate(labels)}
    task = cfg.task or task_name(labels, roots)
    log(f"[INFO] {len(data.y)} examples in {len(labels)} classes: {counts}; task '{task}'"
        + ("" if cfg.task else " (named from the classes or the folder; --task names it)"))
    if min(counts.values()) < 3:
        # FER+ moves a third of FER2013's faces to another class: 3 a folder (--max-per-class 3) left fear none,
        # and the folders, which each held 3, looked like the ones at fault.
        why = (" (with --soft-labels a face counts for the class its votes chose, not its folder's: give more images"
               " a class, a larger --max-per-class)" if soft is not None else "")
        raise DatasetError(f"{', '.join(map(str, roots))}: every class needs at least 3 images to split, got "
                           f"{counts}{why}")

    if n_images >= 10000 and not (cfg.val_pattern and (cfg.test_pattern or cfg.test_dataset)):
        # FER2013/train's 28,709 images take ~40 s on 2 busy cores: said, so that the pause is not taken for a hang.
        log(f"[INFO] looking for look-alike photos among {n_images} images...")
    split = split_dataset(data, cfg.val_split, cfg.test_split, cfg.val_pattern, cfg.test_pattern,
                          separate_test=cfg.test_dataset is not None)
    tr, va = data.subset(split.train), data.subset(split.val)
    if cfg.test_dataset:
        log(f"[INFO] loading test images from {cfg.test_dataset}...")
        te = load_dataset(cfg.test_dataset, labels=labels, **load)
        if soft is not None:
            te, _ = _with_soft_labels(te, soft, cfg.label_source, log)
        seen = set(tr.hashes)
        dup = np.array([h in seen for h in te.hashes])
        split.how["duplicates_of_train_dropped"]["test"] = int(dup.sum())
        # A test set cannot lend its images to training, so a look-alike of a training image (the same photo with a
        # mask pasted on, a flipped copy) is dropped from it as a copy is.
        groups = look_groups(np.concatenate([tr.looks, te.looks])) if len(tr.y) and len(te.y) else np.array([])
        twin = np.isin(groups[len(tr.y):], groups[:len(tr.y)]) & ~dup if len(groups) else np.zeros_like(dup)
        split.how["look_alike_kept_together"]["test_dataset_dropped"] = int(twin.sum())
        te = te.subset(np.flatnonzero(~dup & ~twin))
    else:
        te = data.subset(split.test)
    dropped, alike = split.how["duplicates_of_train_dropped"], split.how["look_alike_kept_together"]
    log(f"[INFO] split: {len(tr.y)} train, {len(va.y)} validation, {len(te.y)} test" +
        (f" (dropped as copies of training images: {dropped['val']} validation, {dropped['test']} test)"
         if dropped["val"] or dropped["test"] else "")
        + (f" (--test-dataset's look-alikes of training images dropped: {alike['test_dataset_dropped']})"
           if alike.get("test_dataset_dropped") else "")
        + (f"; {alike['images']} look-alike images (one photo with and without a mask, flipped, noised...) in "
           f"{alike['groups']} groups, each group kept in one part" if alike["groups"] else ""))
    if not len(va.y):
        raise DatasetError("the validation split is empty")
    few = {lab: int((te.y == i).sum()) for i, lab in enumerate(labels) if (te.y == i).sum() < MIN_TEST_PER_CLASS}
    if not len(te.y):  # said as it is: "only 0 a, 0 b test image(s)", and at the end "test accuracy nan%"
        log("[WARN] the test split is empty: the model is trained and saved without a test accuracy")
    elif few:  # 3 + 60 images gave "test accuracy 92.31%" with the small class's one test face wrong
        log(f"[WARN] only {', '.join(f'{n} {lab}' for lab, n in few.items())} test image(s): the test accuracy "
            f"says little about {'that class' if len(few) == 1 else 'those classes'} (the report's per-class "
            f"recall does; {MIN_TEST_PER_CLASS} or more each is a start)")

    x_tr, y_tr, n_synth, n_masked = tr.x, tr.y, 0, 0
    tr_kps = cast(np.ndarray, tr.keypoints)  # read by load_dataset for the branches below (need_kps)
    t_tr = tr.soft if tr.soft is not None else y_tr
    if cfg.synth_masks:
        if tr.soft is not None:
            raise DatasetError("--synth-masks relabels faces as with_mask; it does not combine with --soft-labels")
        # Only training images are drawn on: validation and test stay real photos.
        x_tr, t_tr, n_synth = add_synthetic_masks(x_tr, y_tr, tr_kps, labels, cfg.synth_masks)
        log(f"[INFO] added {n_synth} synthetic-mask training images")
    n_occluded = 0
    if cfg.occluders:
        if tr.soft is not None:
            raise DatasetError("--occluders adds hard labels; it does not combine with --soft-labels")
        # Before the drawn masks: the donors must be unmasked faces, and tr.keypoints covers the real faces only.
        x_occ, y_occ, n_occluded = add_occluded(tr.x, tr.y, tr_kps, labels, cfg.occluders)
        x_tr = np.concatenate([x_tr, x_occ[len(tr.y):]])
        t_tr = np.concatenate([t_tr, y_occ[len(tr.y):]])
        log(f"[INFO] added {n_occluded} occluded-mouth training images to without_mask")
    if cfg.mask_share:
        x_tr, n_masked = mask_a_share(x_tr, tr_kps, cfg.mask_share, gray=cfg.color == "gray")
        log(f"[INFO] drew a synthetic mask on {n_masked} training faces (labels kept)")

    card = {
        "path": str(roots[0]) if len(roots) == 1 else [str(r) for r in roots],
        "counts": counts, "skipped": data.skipped,
        **({"no_face_found": n_images - data.crops_detected} if cfg.face_crops == "detect" else {}),
        "folders": data.folders if len(roots) > 1 or cfg.faces == "all" else None,
        "face_crops": cfg.face_crops, "faces": cfg.faces,
        **({"min_face": cfg.min_face} if cfg.faces == "all" else {}),
        "synthetic_masks": n_synth,
        **({"masks_drawn_on_training_faces": n_masked} if cfg.mask_share else {}),
        **({"occluded_mouth_copies": n_occluded} if cfg.occluders else {}),
        **({"labels_from": soft_note} if soft_note else {}),
        "test": str(cfg.test_dataset) if cfg.test_dataset else
        (f"files named *{cfg.test_pattern}*" if cfg.test_pattern else
         f"stratified {cfg.test_split:.0%} of the dataset (seed {SEED})"),
        "validation": f"files named *{cfg.val_pattern}*" if cfg.val_pattern else
        f"stratified {cfg.val_split:.0%} of the dataset (seed {SEED})",
        "duplicates_of_train_dropped": dropped,
        "look_alike_kept_together": {"rule": f"images whose top {LOOK_TOP:.0%} hash (256-bit DCT, or its mirror's) is "
                                             f"at most {LOOK_DISTANCE} bits from another's go to that one's part",
                                     **alike},
        "split": {"train": int(len(y_tr)), "validation": int(len(va.y)), "test": int(len(te.y))},
    }
    card = {k: v for k, v in card.items() if v is not None}
    assert te.boxes is not None  # load_dataset sets them, subset keeps them
    test_rows = [(p, b, labels[int(c)]) for p, b, c in zip(te.paths, te.boxes, te.y)]
    return TrainData(labels, task, x_tr, t_tr, va.x,
                     va.soft if va.soft is not None else va.y, va.y, te.x, te.y, test_rows, card)


def _with_soft_labels(data: Dataset, soft, source: str, log=print) -> tuple[Dataset, dict]:
    from .softlabels import apply_soft_labels

    keep, hard, dist, dropped = apply_soft_labels(data.paths, data.labels, soft, source)
    out = data.subset(keep)
    out.y, out.soft = hard, dist
    dropped = {k: v for k, v in dropped.items() if v}
    if dropped:
        log("[INFO] left out (soft labels): " + ", ".join(f"{v} {k}" for k, v in dropped.items()))
    if not len(keep):
        raise DatasetError(f"--soft-labels {soft.csv}: no row matches any dataset file")
    return out, {"csv": str(soft.csv), "source": source,
                 "targets": "normalised votes (cross-entropy to the distribution)" if source == "votes" else
                 "plurality label", "columns": soft.columns, "left_out": dropped}


@dataclass
class Networks:
    model: Any  # the Keras network trained here
    base: object  # its MobileNetV2 base (frozen, then its top fine-tuned)
    members: list  # --ensemble networks averaged into the export
    ckpt_dir: Path
    state: dict | None  # checkpoint to resume from
    signature: dict | None = None  # what a checkpoint of this run is for (--resume checks it), kept with its epochs


def build_networks(cfg: TrainConfig, data: TrainData, log=print) -> Networks:
    """Stage 2: MobileNetV2 with ImageNet weights (or --init-model's), --ensemble members, the checkpoint."""
    keras = import_keras()  # only now that the data is known to be usable
    keras.utils.set_random_seed(SEED)
    output = cfg.output
    if not output.parent.is_dir():
        raise DatasetError(f"output folder does not exist: {output.parent}")
    ckpt_dir = checkpoint_dir(output)
    signature = {"task": data.task, "labels": data.labels, "input_size": cfg.input_size, "color": cfg.color,
                 "alpha": cfg.alpha, "data": _data_digest(data)}
    state = _load_checkpoint_state(ckpt_dir, signature) if cfg.resume else None

    log("[INFO] building MobileNetV2 with ImageNet weights...")
    model, base = build_model(len(data.labels), cfg.input_size, cfg.alpha, train_batchnorm=cfg.train_batchnorm)
    if cfg.fine_tune_epochs > 0:  # before the head's epochs, not after them
        check_fine_tune_at(cfg.fine_tune_at, [layer.name for layer in base.layers])
    if cfg.init_model is not None:
        # MobileNetV2's weights do not depend on the input size (convolutions, then global pooling), so a
        # network trained at 128 px may start a run at 160: the cheap way to try a bigger input.
        size = _card_input_size(cfg.init_model, "--init-model")
        _load_trained(model, cfg.init_model, {**signature, "input_size": size}, "--init-model")
        log(f"[INFO] starting from the weights of {cfg.init_model}"
            + (f" (trained at {size} px)" if size != cfg.input_size else ""))
    members = []  # checked before training, not after it
    for i, folder in enumerate(cfg.ensemble):
        # A member may be of another input size: the export resizes the face for it (averaged()), so a
        # network trained at 96 px can be averaged with one trained at 80.
        size = _card_input_size(folder, "--ensemble")
        member, _ = build_model(len(data.labels), size, cfg.alpha, weights=None, name=f"member_{i + 1}")
        _load_trained(member, folder, {**signature, "input_size": size}, "--ensemble")
        members.append(member)
    ckpt_dir.mkdir(exist_ok=True)
    if state is None and (ckpt_dir / "state.json").is_file():
        # An interrupted run's epochs: this run's signature, written over theirs at its start, made a --resume
        # after a Ctrl-C in this run's first epoch take them up as this run's (another input size, other images).
        log(f"[INFO] {ckpt_dir} holds an interrupted run's epochs; this run starts afresh and replaces them when its "
            "first epoch ends (stop it before then and add --resume to go on from them)")
    else:
        (ckpt_dir / "signature.json").write_text(json.dumps(signature), encoding="utf-8")
    return Networks(model, base, members, ckpt_dir, state, signature)


def fit_model(cfg: TrainConfig, data: TrainData, net: Networks, log=print,
              started: float | None = None) -> tuple[dict, int]:
    """Stage 3: the new head on the frozen base, then the top of the base at a low cosine-decayed rate.
    Every finished epoch is checkpointed (--resume), with the run's seconds since `started` (perf_counter; None:
    now) and the earlier runs' it resumes; Ctrl-C stops after the current batch."""
    import keras

    started = time.perf_counter() if started is None else started

    model = net.model
    augment = augmenter(cfg.augment, cfg.input_size, cfg.grey_share, cfg.lines)
    train_ds = make_tf_dataset(data.x_tr, data.t_tr, cfg.batch_size, augment, shuffle=True)
    val_ds = make_tf_dataset(data.x_va, data.t_va, cfg.batch_size)
    y_for_weights = data.t_tr.argmax(axis=1) if data.soft else data.t_tr
    class_weight = class_weights(y_for_weights, len(data.labels), cfg.class_weights)
    loss = "categorical_crossentropy" if data.soft else "sparse_categorical_crossentropy"

    history: dict[str, list[float]] = {"accuracy": [], "val_accuracy": [], "loss": [], "val_loss": []}
    done_head, done_fine = 0, 0
    if net.state:
        _load_checkpoint_weights(net.ckpt_dir, model)  # same variables whatever is trainable
        history = net.state["history"]
        done_head, done_fine = net.state["done_head"], net.state["done_fine"]
        left = done_head < cfg.epochs or done_fine < cfg.fine_tune_epochs
        log(f"[INFO] resuming after {done_head} head epoch(s) and {done_fine} fine-tune epoch(s)"
            + ("" if left else ": every epoch had finished, so it is tested and saved"))

    def fit(phase, epochs, done, lr):
        if done >= epochs:
            return done
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
        counter = {"done": done, "epoch": done}
        stop = _GracefulStop()
        steps = len(train_ds)

        class Checkpoint(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                counter["epoch"] = epoch

            def on_train_batch_begin(self, batch, logs=None):
                # Set from the absolute step, so a resumed run goes on along the same curve instead of
                # climbing back to the peak rate (a Keras schedule restarts with the fresh optimizer).
                if phase == "fine":
                    self.model.optimizer.learning_rate.assign(
                        cosine_lr(lr, counter["epoch"] * steps + batch, epochs * steps))

            def on_train_batch_end(self, batch, logs=None):
                if stop.requested:
                    self.model.stop_training = True

            def on_test_batch_end(self, batch, logs=None):
                # Keras still scored the whole validation split after a stopped epoch (minutes on a big one),
                # and its line read as a finished epoch's.
                if stop.requested:
                    self.model.stop_evaluating = True

            def on_epoch_end(self, epoch, logs=None):
                if stop.requested:  # Keras ends a stopped epoch too; half an epoch is not a finished one
                    # Keras's line for it (drawn after this, from these logs) showed its batches' accuracy and a
                    # val_accuracy of the validation batch scored before the stop, as a finished epoch's numbers.
                    if logs is not None:
                        logs.clear()
                    return
                if logs is not None:  # shown on the epoch's line: the rate its last step used
                    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                for k in history:
                    history[k].append(float(logs.get(k, float("nan"))))
                counter["done"] = epoch + 1
                _save_checkpoint(net.ckpt_dir, model, phase, history,
                                 done_head if phase == "fine" else counter["done"],
                                 counter["done"] if phase == "fine" else 0, net.signature,
                                 earlier_seconds(net.state) + time.perf_counter() - started)

        with stop:
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=done,
                      class_weight=class_weight, callbacks=[Checkpoint()], verbose=_verbosity(), shuffle=False)
        if stop.requested:
            raise KeyboardInterrupt
        return counter["done"]

    # A phase a resumed run had finished is not announced: "training head (3 epochs, base frozen)..." of a run
    # resumed after them read as a run started over.
    if done_head < cfg.epochs:
        log(f"[INFO] training head ({counted(cfg.epochs, 'epoch')}, base frozen)...")
    done_head = fit("head", cfg.epochs, done_head, cfg.learning_rate)
    fine_start = done_head  # history holds the head epochs first, whether or not this run resumed
    if cfg.fine_tune_epochs > 0:
        n = set_fine_tune(net.base, cfg.fine_tune_at, cfg.train_batchnorm)
        if done_fine < cfg.fine_tune_epochs:
            log(f"[INFO] fine-tuning top of the base from {cfg.fine_tune_at} ({n} layers, "
                f"{counted(cfg.fine_tune_epochs, 'epoch')}, lr {cfg.fine_tune_learning_rate:g})...")
        fit("fine", cfg.fine_tune_epochs, done_fine, cfg.fine_tune_learning_rate)
    return history, fine_start


def make_card(cfg: TrainConfig, data: TrainData, net: Networks, served, rep: dict, history: dict,
              train_secs: float) -> ModelCard:
    """Stage 5: the self-description inference reads (labels, size, colour, crop) and what made the model."""
    views = TTA_VIEWS[cfg.tta]
    n_nets = 1 + len(net.members)
    # Only this run's labels: a 'mask' task of other classes got the shipped head's with_mask / without_mask keys.
    display, colors = ({k: v for k, v in t.items() if k in data.labels} for t in DISPLAY.get(data.task, ({}, {})))
    return ModelCard(
        task=data.task, labels=data.labels, input_size=cfg.input_size, color=cfg.color, crop=cfg.crop,
        display=display, colors={k: tuple(v) for k, v in colors.items()},
        extra={
            "architecture": f"MobileNetV2 (alpha {cfg.alpha}, ImageNet weights) + global average pool + "
                            f"dropout 0.3 + dense softmax" + (
                                f"; the TFLite file averages {n_nets} such network(s) over the view(s) "
                                f"{', '.join(views)} ({KERAS} holds the first network)"
                                if served is not net.model else ""),
            "tta": list(views),
            "ensemble": [_lineage(folder) for folder in cfg.ensemble],
            "preprocessing": "facekit.preprocess: crop_face(box, crop) -> resize to input_size (INTER_AREA when "
                             f"shrinking) -> lift_exposure (a crop darker than a mean of {DARK_CROP:.0f} brightened) "
                             "-> RGB uint8" +
                             (" -> grayscale x3" if cfg.color == "gray" else "") +
                             "; scaling to [-1, 1] is inside the model",
            "input": {"dtype": "float32", "range": [0, 255], "channels": "RGB", "shape": [cfg.input_size] * 2 + [3]},
            "dataset": data.card,
            "training": {"epochs_head": cfg.epochs, "epochs_fine_tune": cfg.fine_tune_epochs,
                         **({"fine_tune_at": cfg.fine_tune_at, "train_batchnorm": cfg.train_batchnorm,
                             "lr": cfg.learning_rate,
                             "lr_fine_tune": cfg.fine_tune_learning_rate, "batch_size": cfg.batch_size,
                             "augment": cfg.augment, "class_weights": cfg.class_weights,
                             **({"grey_share": cfg.grey_share} if cfg.augment == "photo" else {}),
                             **({"lines": cfg.lines} if cfg.lines else {})}
                            if cfg.epochs or cfg.fine_tune_epochs else
                            # The flags of a run that trained nothing would describe training that never ran.
                            {"note": "no epochs in this run: it tested, exported and described the weights of "
                                     "started_from"}),
                         # With no epochs here: the loss the data's labels call for, as started_from's card says.
                         "loss": "cross-entropy to soft labels" if data.soft else "cross-entropy",
                         "wall_seconds": round(train_secs, 1), "cpu_count": os.cpu_count(),
                         **({"started_from": _lineage(cfg.init_model)} if cfg.init_model else {})},
            "metrics": {"test_accuracy": rep.get("accuracy"), "test_macro_f1": rep.get("macro avg", {}).get("f1-score"),
                        "per_class": {lab: rep.get(lab) for lab in data.labels},
                        "val_accuracy": history["val_accuracy"][-1] if history["val_accuracy"] else None},
            "command": cfg.command,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": {"tflite": TFLITE, "keras": KERAS, "plot": "plot.png", "report": "report.txt",
                      "confusion": "confusion.png", "test_split": TEST_SPLIT,
                      **({"tflite_int8": TFLITE_INT8} if cfg.export_int8 else {})},
            **_licences(cfg),
        },
    )


def _known_terms(cfg: TrainConfig) -> tuple[dict[str, str], list[Path]]:
    """The asset mirror's terms of each dataset folder (and soft-label CSV) the weights learn from, and the
    folders whose terms are unknown."""
    from .assets import dataset_terms

    known: dict[str, str] = {}
    unknown: list[Path] = []
    sources = [relabelled(r)[0] for r in as_roots(cfg.dataset)] + ([cfg.soft_labels] if cfg.soft_labels else [])
    for source in sources:
        found = dataset_terms(source)
        if found:
            known[found[0]] = found[1]
        else:
            unknown.append(source)
    return known, unknown


def _licences(cfg: TrainConfig) -> dict:
    """The card's licences block, as the shipped heads have it: the data's terms and the weights' (the
    scripts' --tasks help shows what `model` says in brackets). --data-licence, else the asset mirror's terms
    of the datasets (with --init-model's block), else --init-model's block. --ensemble members' blocks count as
    --init-model's: the exported file carries their weights too (a non-commercial member averaged into a head of
    other data left the card without its terms)."""
    earlier: dict = {}
    flags = []
    for flag, folder in [("--init-model", cfg.init_model)] + [("--ensemble", f) for f in cfg.ensemble]:
        block: dict = {}
        if folder is not None and (folder / CARD).is_file():
            block = json.loads((folder / CARD).read_text(encoding="utf-8")).get("licences") or {}
        if block:
            flags += [flag] if flag not in flags else []
            model = earlier.get("model", "")
            earlier |= block
            if model and "non-commercial" not in block.get("model", "").lower():
                earlier["model"] = model  # the first, unless a later one is non-commercial
    if cfg.data_licence:
        terms = cfg.data_licence
        # The weights started from --init-model's, learnt from its data: a gender head learnt from CelebA
        # fine-tuned on photos of one's own with --data-licence MIT was carded MIT, CelebA's terms dropped.
        started = earlier.get("model", "")
        started = started[started.find("(") + 1:started.rfind(")")] if started.endswith(")") else ""
        if started and started.lower() not in terms.lower():
            whose = " and ".join(f"{flag}'s" for flag in flags)
            terms = f"{terms}; from {whose} weights: {started}"
        kept = {k: v for k, v in earlier.items() if k not in ("model", "data")}
        return {"licences": kept | {"data": cfg.data_licence,
                                    "model": f"facekit's code is MIT; the weights inherit the data's terms ({terms})"}}
    known, _ = _known_terms(cfg)
    if not known:
        return {"licences": earlier} if earlier else {}
    block = {k: v for k, v in earlier.items() if k != "model"} | known
    # Weights learnt (or started) from anything non-commercial are non-commercial themselves.
    if any("non-commercial" in v.lower() for v in [*block.values(), earlier.get("model", "")]):
        terms = "non-commercial research only"
    else:
        terms = "research and education: check them before commercial use"
    return {"licences": block | {"model": f"facekit's code is MIT; the weights inherit the data's terms ({terms})"}}


def train(cfg: TrainConfig) -> dict:
    """Run a whole training; returns the card dict. Everything is written to a temp folder beside
    the output and moved into place at the end, so an interrupted run leaves the old model intact."""
    log = _log
    require_train_modules()
    t_start = time.perf_counter()
    data = prepare_data(cfg, log)
    net = build_networks(cfg, data, log)
    history, fine_start = fit_model(cfg, data, net, log, t_start)
    # A resumed run's card counted only its own part: the runs before it, up to their last checkpoint, are added.
    train_secs = earlier_seconds(net.state) + time.perf_counter() - t_start

    # Stage 4: test what the TFLite file will compute (the network, or the mean of networks and views).
    views = TTA_VIEWS[cfg.tta]
    served = averaged([net.model, *net.members], views, cfg.input_size)
    log("[INFO] evaluating network" + (f" (mean of {1 + len(net.members)} network(s) x {len(views)} view(s))..."
                                       if served is not net.model else "..."))
    x_test = data.x_test.astype(np.float32)
    probs = served.predict(x_test, batch_size=64, verbose=0) if len(x_test) else np.zeros((0, 1))
    from .evaluation import confusion_png, report, training_plot, write_test_split

    rep_text, rep = report(data.y_test, probs, data.labels)
    print(rep_text)
    card = make_card(cfg, data, net, served, rep, history, train_secs)

    output = cfg.output
    sweep_stale(output.parent, [(output.name, TEMP_SUFFIX)], folders=True)  # those of trainers killed mid-export
    tmp, held = make_temp_dir(output)
    try:
        log(f"[INFO] saving model to {output}...")
        net.model.save(tmp / KERAS)
        export_tflite(served, tmp / TFLITE)
        _check_tflite(tmp / TFLITE, x_test[:8], probs[:8])
        if cfg.export_int8:
            export_tflite(served, tmp / TFLITE_INT8, quantize="int8", calibration=data.x_tr[:256])
            # A barely trained model (a smoke run) gets a poor int8 calibration: its faces move 0.1 on
            # average (0.106 seen in CI), while a broken export moves them ~0.5; whether the twin is good
            # enough to serve is bench.quantize's call, on validation data.
            agree = _check_tflite(tmp / TFLITE_INT8, x_test[:256], probs[:256], tolerance=0.25, average=True)
            card.extra["metrics"]["int8_agreement_with_keras"] = agree
            log(f"[INFO] int8 model agrees with Keras on {agree:.1%} of {min(256, len(x_test))} test faces")
            _validate_int8(tmp, data, log)
        (tmp / CARD).write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
        (tmp / "report.txt").write_text(rep_text + "\n", encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(rep, indent=2) + "\n", encoding="utf-8")
        write_test_split(tmp / TEST_SPLIT, data.test_rows)
        confusion_png(data.y_test, probs, data.labels, tmp / "confusion.png",
                      title=f"{data.task}: test confusion matrix")
        if not history["loss"] and cfg.init_model and (cfg.init_model / "plot.png").is_file():
            shutil.copyfile(cfg.init_model / "plot.png", tmp / "plot.png")  # no epochs here: the weights' own curves
        else:
            training_plot(history, tmp / "plot.png", fine_start=fine_start if cfg.fine_tune_epochs else None,
                          title=f"{data.task}: training loss and accuracy")
        if cfg.plot:
            from .records import atomic_write

            # Whole or not at all, and before the model folder is replaced: on a full disk the copy was left cut
            # short under its name, over the plot it replaced, after the new model had replaced the old.
            with open(tmp / "plot.png", "rb") as src, atomic_write(cfg.plot, "wb") as fh:
                shutil.copyfileobj(src, fh)
        make_ordinary(tmp)
        _replace_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(held)
    shutil.rmtree(net.ckpt_dir, ignore_errors=True)
    scored = f"test accuracy {rep['accuracy'] * 100:.2f}%" if "accuracy" in rep else "no test images"
    log(f"[INFO] done in {time.perf_counter() - t_start:.0f}s: {scored}; model, card, plot and report in {output}")
    unknown = [] if cfg.data_licence else _known_terms(cfg)[1]
    if "licences" not in card.extra:
        log("[INFO] the card records no terms for the training images, which the weights inherit: "
            "--data-licence TEXT records them")
    else:
        log(f"[INFO] licences (card.json): {card.extra['licences'].get('model', 'see the card')}")
        if unknown:
            log(f"[INFO] the card records the asset mirror's terms of the other data but none for "
                f"{', '.join(map(str, unknown))}: --data-licence TEXT records the terms of all of it")
    return card.to_dict()


class _GracefulStop:
    """Ctrl-C during `fit` stops after the current batch instead of at once: a KeyboardInterrupt
    raised while TensorFlow's threads are mid-step can abort the process with heap corruption
    ("free(): invalid next size", seen in CI), where the finished epochs' checkpoint is safe anyway.
    A second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        from .signals import line_start, request_stop

        # Noted as facekit.signals' handler notes it: a scheduler's SIGTERM ended the trainer with 130, a Ctrl-C's
        # status, where every other script says 143.
        request_stop(signum)
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"{line_start()}[INFO] stopping after this batch (Ctrl-C again to stop at once)...", file=sys.stderr,
              flush=True)

    def __enter__(self):
        from .signals import set_stop_handler

        self._previous = set_stop_handler(self._handler)  # SIGTERM (a scheduler's stop) too
        return self

    def __exit__(self, *exc):
        from .signals import restore_handlers

        restore_handlers(self._previous)
        return False


def export_tflite(model, path: Path, quantize: str | None = None, calibration: np.ndarray | None = None) -> None:
    """Keras -> TFLite for LiteRT inference; fp16 weights halve the file at no measurable cost.

    quantize="int8": int8 weights and activations (ranges calibrated on `calibration` images), float
    input and output, so the file is a drop-in replacement a quarter the size of fp32."""
    import tensorflow as tf

    if quantize == "int8":
        def representative():
            for image in calibration:
                yield [image[None].astype(np.float32)]

        kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}
    else:
        kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
    import contextlib
    import io

    from .runtime import native_stderr

    # The converter prints a line per saved artifact, and its C++ side a dozen absl lines.
    # Keras converts through a SavedModel it writes in the temp folder (TMPDIR): not moved beside the model, where
    # TensorFlow's autograph left its generated modules in the model folder, and failed on a name not in ASCII.
    with contextlib.redirect_stdout(io.StringIO()), native_stderr():
        try:
            model.export(str(path), format="litert", verbose=False, **kwargs)
        except OSError:
            raise
        except Exception as exc:  # TensorFlow's own errors for a write that failed (OutOfRangeError, ...)
            raise _as_os_error(exc, path) or exc


def _as_os_error(exc: Exception, path: Path) -> OSError | None:
    """TensorFlow's error for a file it could not write for want of room (a full disk, a quota, ulimit -f), as the
    OSError the scripts make their one line of, naming the file TensorFlow names (the SavedModel's, in the temp
    folder, where that is the disk that is full), else `path`; None for any other error. It was a 55-line
    traceback, exit 1, after the training."""
    import errno
    import re

    text = str(exc)
    for code in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        reason = os.strerror(code)
        if reason in text:
            named = re.search(rf"(/[^\s;:]+)[;:]\s*{re.escape(reason)}", text)
            return OSError(code, reason, named.group(1) if named else str(path))
    return None


def _validate_int8(folder: Path, data: TrainData, log=print) -> None:
    """Score model.tflite and the int8 twin on the validation split; where the twin holds (bench.quantize's
    rule), write int8.json naming model.tflite's hash, which is what makes video (and --int8 / int8=True)
    run it. Without it the twin a user asked for was never run, and bench.quantize knows only the shipped
    heads' validation sets."""
    from .assets import sha256sum
    from .heads import INT8_RECORD, INT8_TOLERANCE

    x, y = data.x_va.astype(np.float32), data.y_va
    acc = {name: float((_tflite_probs(folder / name, x).argmax(axis=1) == y).mean()) for name in (TFLITE, TFLITE_INT8)}
    fp16, int8 = acc[TFLITE], acc[TFLITE_INT8]
    if int8 < fp16 - INT8_TOLERANCE:
        log(f"[INFO] int8 model not used: {int8:.2%} on the {len(y)} validation faces against {fp16:.2%} for "
            f"{TFLITE} (more than {INT8_TOLERANCE:.1%} lower); it stays in the folder")
        return
    record = {"source": TFLITE, "source_sha256": sha256sum(folder / TFLITE),
              "made_by": "the trainer's --export-int8 (see card.json's command)",
              "method": "int8 weights and activations, float32 input and output; quantized from the Keras model",
              "calibration": f"the trainer's ({min(256, len(data.x_tr))} training faces)",
              "validated_by": "the trainer, on its validation split",
              "validation": {"set": "the trainer's validation split", "images": int(len(y)),
                             "fp16_accuracy": round(fp16, 5), "int8_accuracy": round(int8, 5)},
              "licence": "the same as model.tflite's (see card.json)"}
    (folder / INT8_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log(f"[INFO] int8 model holds on the {len(y)} validation faces ({int8:.2%} against {fp16:.2%}): video runs it")


def _tflite_probs(path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """A TFLite model's outputs for the float32 batch `x`, `batch` faces a run."""
    from .heads import load_interpreter

    interp = load_interpreter(path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    chunks = []
    for i in range(0, len(x), batch):
        part = x[i:i + batch]
        interp.resize_tensor_input(inp["index"], [len(part), *inp["shape"][1:]])
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], part)
        interp.invoke()
        chunks.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(chunks)  # never empty: the callers pass at least one face


def _check_tflite(path: Path, x: np.ndarray, expected: np.ndarray, tolerance: float = 0.1,
                  average: bool = False) -> float:
    """The exported model must agree with Keras before it replaces anything. Returns the share of faces
    given the same label; fails when a probability moves more than `tolerance` at most (or on average over
    the faces, for int8)."""
    if not len(x):
        return 1.0
    got = _tflite_probs(path, x.astype(np.float32))
    diff = np.abs(got - expected)
    # fp16 weights move a probability by up to a few hundredths on a barely trained model (0.024 seen
    # in a smoke run); int8 activations move single faces more, so the mean is checked there; a broken
    # export is off by far more.
    worst = diff.max(axis=1).mean() if average else diff.max()
    if worst > tolerance:
        raise ModelError(f"TFLite export {path.name} disagrees with the Keras model (diff {worst:.3f})")
    return float((got.argmax(axis=1) == expected.argmax(axis=1)).mean())


def _replace_dir(new: Path, target: Path) -> None:
    """Swap `new` into `target` with renames only: the old model is kept until the new one is in place."""
    if target.exists() and not target.is_dir():
        raise DatasetError(f"--model must name a folder; {target} is a file")
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def cosine_lr(peak: float, step: int, total: int, alpha: float = 0.05) -> float:
    """Cosine decay from `peak` to `alpha * peak` over `total` steps: big steps while far from the optimum,
    tiny ones at the end (the same curve as keras.optimizers.schedules.CosineDecay)."""
    t = min(step, total) / max(1, total)
    return peak * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)))


def checkpoint_dir(output: Path) -> Path:
    """Where a run's finished epochs are kept until it completes (hidden, beside the model folder)."""
    return output.parent / f".{output.name}.checkpoint"


CHECKPOINT_WEIGHTS = "weights.npz"
OLD_CHECKPOINT_WEIGHTS = "weights.weights.h5"  # an older facekit's, still resumed from


def earlier_seconds(state: dict | None) -> float:
    """The training seconds a checkpoint's runs spent up to it (0: a fresh run, or an older facekit's checkpoint)."""
    return float((state or {}).get("wall_seconds", 0.0))


def _save_checkpoint(ckpt_dir: Path, model, phase: str, history, done_head: int, done_fine: int,
                     signature: dict | None = None, wall_seconds: float = 0.0) -> None:
    """The network's weights, then the state naming the epochs they finish, each written whole or not at all.
    The weights are made in memory and written by atomic_write: Keras's save_weights wrote them through HDF5,
    which on a full disk (or quota, ulimit -f) left its half-written temp file open, and the run ended in
    HDF5's multi-line error, tracebacks from its clean-up and a segmentation fault (exit 139). The optimizer's
    state is not kept: a resumed phase compiles a fresh one, as it did with Keras's file."""
    import io

    from .records import atomic_write, write_json

    try:
        kept = json.loads((ckpt_dir / "signature.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    if signature is not None and kept != signature:  # an interrupted run's, kept until now: these weights replace it
        (ckpt_dir / "state.json").unlink(missing_ok=True)
        write_json(ckpt_dir / "signature.json", signature)
    weights = io.BytesIO()
    np.savez(weights, *model.get_weights())
    with atomic_write(ckpt_dir / CHECKPOINT_WEIGHTS, "wb") as fh:
        fh.write(weights.getbuffer())
    (ckpt_dir / OLD_CHECKPOINT_WEIGHTS).unlink(missing_ok=True)
    write_json(ckpt_dir / "state.json",
               {"phase": phase, "done_head": done_head, "done_fine": done_fine, "history": history,
                "wall_seconds": round(wall_seconds, 1)})


def _load_checkpoint_weights(ckpt_dir: Path, model) -> None:
    path = ckpt_dir / CHECKPOINT_WEIGHTS
    if not path.is_file():
        model.load_weights(ckpt_dir / OLD_CHECKPOINT_WEIGHTS)
        return
    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


def _load_checkpoint_state(ckpt_dir: Path, signature: dict) -> dict | None:
    if not (ckpt_dir / "state.json").exists():
        _log(f"[INFO] no checkpoint at {ckpt_dir}: starting from scratch")
        return None
    saved = json.loads((ckpt_dir / "signature.json").read_text(encoding="utf-8"))
    if saved != signature:
        diff = {k: (saved.get(k), v) for k, v in signature.items() if saved.get(k) != v and k != "data"}
        if not diff and "data" not in saved:
            # "trained on other images" sent an upgrader looking for a change in photos that had not changed.
            raise ModelError(f"cannot resume: the checkpoint in {ckpt_dir} was written by an older facekit, which "
                             "did not record its training images, so this run cannot check they are the same ones; "
                             "run without --resume to start again (or finish it with the facekit that began it)")
        if diff:
            raise ModelError(f"cannot resume: the checkpoint in {ckpt_dir} is for another task or size {diff}")
        # Its weights have seen other training images: this run's validation and test faces may be among
        # them, and the card would describe data the network was not trained on.
        raise ModelError(f"cannot resume: the checkpoint in {ckpt_dir} was trained on other images (the "
                         f"dataset's files or the options that pick and split them changed); run without "
                         f"--resume to start again")
    return json.loads((ckpt_dir / "state.json").read_text(encoding="utf-8"))


def _data_digest(data: TrainData) -> str:
    """The training and validation examples and their targets, as one hash: what --resume must find again."""
    h = hashlib.blake2b(digest_size=16)
    for a in (data.x_tr, data.t_tr, data.x_va, data.t_va):
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _lineage(folder: Path) -> dict:
    """What a model continued with --init-model started from, back to the first run: a card alone
    then says how to rebuild the model."""
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    training = card.get("training", {})
    earlier = training.get("started_from") or training.get("previous_run")
    return {"folder": str(folder), "command": card.get("command"), "input_size": card.get("input_size"),
            "test_accuracy": card.get("metrics", {}).get("test_accuracy"),
            "epochs_fine_tune": training.get("epochs_fine_tune"), **({"started_from": earlier} if earlier else {}),
            **({"fit": card["fit"]} if card.get("fit") else {})}  # tools/accelerator_train.py's log


def _card_input_size(folder: Path, flag: str) -> int:
    if not (folder / CARD).is_file():
        raise ModelError(f"{flag} {folder}: no {CARD} there")
    return ModelCard.load(folder / CARD).input_size


def _load_trained(model, folder: Path, signature: dict, flag: str) -> None:
    """Load a model facekit trained before into `model`; anything of another task, class list, size,
    colour mode or width is refused rather than silently half-loaded."""
    card_path, weights = folder / CARD, folder / KERAS
    if not weights.is_file():
        raise ModelError(f"{flag} {folder}: no {KERAS} there (committed models keep only the TFLite; retrain)")
    card = ModelCard.load(card_path)
    mine = {"task": card.task, "labels": card.labels, "input_size": card.input_size, "color": card.color}
    theirs = {k: signature[k] for k in mine}
    if mine != theirs:
        diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
        raise ModelError(f"{flag} {folder} does not match this training run: {diff}")
    try:
        model.load_weights(weights)
    except ValueError as exc:  # the card does not record the width: a different --alpha shows up here
        raise ModelError(f"{flag} {folder}: its weights do not fit this network (another --alpha?): "
                         f"{str(exc).splitlines()[0][:120]}") from None


def _versions() -> dict:
    import cv2
    import keras
    import tensorflow as tf

    from . import __version__

    # facekit first: a folder kept across upgrades said which TensorFlow trained it but not which facekit, whose
    # network, crop and preprocessing are what --init-model and the scripts must match.
    return {"facekit": __version__, "python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "opencv": cv2.__version__, "numpy": np.__version__}


def _verbosity():
    """Keras's live progress bar (1) on a terminal that shows it, else a line per epoch (2). The bar is drawn in
    "━" and ANSI colours, whatever the terminal: a dumb one (TERM=dumb: Emacs' shell, some CI logs) or NO_COLOR
    showed "^[[1m1/2^[[0m ^[[32m", and a console that cannot show "━" (PYTHONIOENCODING=ascii, a Windows cp1252
    one) got "\\u2501" twenty times a step."""
    if not sys.stdout.isatty() or os.environ.get("TERM") == "dumb" or os.environ.get("NO_COLOR"):
        return 2
    try:
        "━".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return 2
    return 1


def _log(message: str) -> None:
    print(message, flush=True)
