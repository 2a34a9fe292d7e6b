"""Gender head vs dlib-models' and oarriaga's gender classifiers, on the same face crops in one run:
the held-out part of each gender dataset (gender/: Google-Images crops; celeba_gender/: CelebA),
per CelebA attribute, and how much the head depends on the crop it is given.

    python -m bench.gender [--model DIR] [--compare DIR] [--split test|val] [--limit N]
                           [--errors PNG] [--no-crop-study]

The images scored are the ones the model never trained on: the test faces its trainer listed in the
model folder's test_split.csv (file, detector box, label), or, for models without that file, the
trainer's own seeded split rebuilt with facekit.training's functions. A dataset the model did not
train on is scored on the part the trainer would hold out of it. `--split val` scores the validation
parts instead: that is where models are compared and chosen; the test parts only report.

facekit's head runs here (LiteRT, no TensorFlow in this process); each baseline runs in its own
process (bench.baselines), on the very crops facekit gets. Without a trained model the baselines are
still measured, on the split the trainer would hold out with its defaults.

The crop study (facekit's head only) answers "do the crops the detector makes at inference look
like the training crops, and how much does it matter?": on the held-out gender/ images, the trainer's
own crop (largest YuNet face, the card's margin) against the whole dataset image and res10 crops; on
media/annotated_faces (hand-drawn face boxes, no gender labels), the label on the ground-truth box's
crop against the label on the matched detector box's crop, beside the head's own jitter (the same
detector box nudged by a pixel or two).
"""

from __future__ import annotations

import csv
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from bench import baselines as B
from bench.common import (ArgumentParser, assets_root, limit_count, machine_info, print_table, resolve_recorded,
                          run_bench)

TASK = "gender"
# The datasets every run reports on, in table order: (folder under datasets/, what it is, licence).
DATASETS = {"gender": "Google-Images face crops (balajisrinivas/Gender-Detection)",
            "celeba_gender": "CelebA aligned faces, 89x109 (non-commercial research only)"}
ATTRIBUTES = ("Young", "Eyeglasses", "Smiling")  # CelebA's labels.csv columns, 1 / -1
ANNOTATED_XML = ("training.xml", "testing.xml")
# dlib's square hand boxes vs the detectors' calibrated ones: 0.4 pairs the same face without
# pairing a face with its neighbour in the crowded PASCAL photos.
MATCH_IOU = 0.4
# These dataset images are face crops: the face fills the frame, and res10 then boxes only the lower
# half of it (chin to nose, IoU ~0.35 with YuNet's box). A border gives it the face whole again.
RES10_PAD = 0.25
NUDGE = 0.03
# (baseline, title, timed): the tight-crop oarriaga row is the same network, shown to make the
# effect of its padding visible, so it is not timed twice.
BASELINES = [("dlib_gender", "dlib-models gender v1 (ONNX)", True),
             ("oarriaga_gender", "oarriaga mini-Xception (IMDB)", True),
             ("oarriaga_gender_tight", "oarriaga mini-Xception (IMDB), tight crop", False)]
TILE = 96  # px per face on the --errors contact sheet


def parse_args(argv: list[str] | None):
    p = ArgumentParser(prog="python -m bench.gender", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: models/gender)")
    p.add_argument("--compare", metavar="DIR", help="another facekit gender model scored on the same crops")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="held-out part to score: test (default; report only) or val (to choose models on)")
    p.add_argument("--limit", type=limit_count, help="an evenly spread subset of N images per dataset (development)")
    p.add_argument("--errors", type=Path, metavar="PNG", help="write a contact sheet of facekit's wrong faces here")
    p.add_argument("--no-crop-study", action="store_true", help="skip the crop-sensitivity tables")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.errors:  # written last: an unwritable path was a traceback ("the folder ... is gone") after the whole run
        from facekit.cli.common import check_output_path
        from facekit.errors import FacekitError

        try:
            check_output_path(args.errors, "--errors")
        except FacekitError as err:
            raise SystemExit(f"[ERROR] {err}") from None
    root = assets_root()
    B.require(*(name for name, _, _ in BASELINES))
    if args.compare:  # loaded after facekit's own head had scored every crop: a ModelError traceback then
        B.find_model(TASK, args.compare)
    labels = B.FACEKIT_LABELS[TASK]
    folder, heads, card = B.load_facekit_head(TASK, args.model, "baseline numbers only, on the trainer's default split")
    head = heads[0][1] if heads else None
    parts = held_out_parts(root, folder, card, args.split, args.limit)
    names = list(parts)
    crops = [c for name in names for c in parts[name].crops]
    y = np.concatenate([parts[name].y for name in names])
    where = np.concatenate([[k] * len(parts[name].y) for k, name in enumerate(names)]).astype(int)
    timing_crops = parts[names[0]].crops[:8]

    models = []  # (title, input, probs over every crop, timing)
    for title, h in heads:
        models.append(_facekit_row(h, title, crops, timing_crops))
    if args.compare:
        from facekit.heads import Head

        other = Head.load(Path(args.compare))
        B.check_labels(other, TASK)
        models.append(_facekit_row(other, f"facekit ({args.compare})", crops, timing_crops))
    B.assert_no_tensorflow("bench.gender")
    for name, title, timed in BASELINES:
        probs, t = B.run_subprocess(name, crops=crops, timing_crops=timing_crops if timed else None)
        models.append((title, B.BASELINES[name].input_desc, probs, t or {}))

    rows = []
    for k, name in enumerate(names):
        for title, desc, probs, t in models:
            sel = where == k
            recall = B.per_class_accuracy(y[sel], probs[sel], len(labels))
            rows.append([name, title, desc, *B.metric_cells(y[sel], probs[sel], len(labels)),
                         f"{100 * abs(recall[0] - recall[1]):.1f}", B.ms(t.get("ms_b1")), B.ms(t.get("ms_b8")),
                         B.ms(t.get("cpu_ms_b1"))])
    counts = {name: {lab: int((parts[name].y == i).sum()) for i, lab in enumerate(labels)} for name in names}
    print(f"[INFO] {machine_info()}")
    print_table(
        f"gender: facekit vs dlib-models and oarriaga on the {args.split} faces of each dataset (same crops)",
        ["dataset", "model", "input", "acc", "macro-F1", *labels, "|gap| pts", "ms/face b1", "ms/face b8",
         "CPU ms b1"],
        rows,
        [*(f"{name}: {parts[name].description}: {len(parts[name].y)} faces {counts[name]}" for name in names),
         *(f"  {name} = {DATASETS[name]}" for name in names if name in DATASETS),
         "Every model gets the same crop of each face: the trainer's (largest YuNet face, square, the card's",
         "  margin); each baseline then prepares it its own way (input column). Neither baseline saw these",
         "  datasets in training (dlib: its own private set; oarriaga: IMDB-WIKI).",
         "dlib's package cuts a 5-landmark aligned chip (dlib.get_face_chip_details, padding 0.2); dlib is not",
         "  installed here, so it gets the unaligned face crop resized to 32x32, which may cost it some accuracy.",
         "oarriaga's model learnt from IMDB-WIKI crops with 40% margin around the face; its main row pads the",
         "  crop to that framing (border replicate), the 'tight crop' row shows it without.",
         "per-class columns are recall; |gap| = |man recall - woman recall| in points.",
         *B.TIMING_NOTE,
         "CPU ms b1: facekit's process CPU time per face at batch 1 (time.process_time), beside the wall time."],
    )
    if "celeba_gender" in parts:
        attribute_table(parts["celeba_gender"], [m[0] for m in models],
                        [m[2][where == names.index("celeba_gender")] for m in models], root)
    if head is not None and args.errors:
        write_contact_sheet(args.errors, parts, [models[0][2][where == k] for k in range(len(names))])
    if head is not None and not args.no_crop_study and "gender" in parts and parts["gender"].wholes is not None:
        crop_study(head, parts["gender"], card, root)
    return 0


def _facekit_row(head, title: str, crops: list[np.ndarray], timing_crops: list[np.ndarray]):
    probs = B.head_probs(head, crops)
    t = B.head_timing(head, timing_crops)
    t["cpu_ms_b1"] = B.head_cpu_ms(head, timing_crops)
    color = "gray" if head.card.color == "gray" else "RGB"
    return title, f"{color} {head.card.input_size}, {head.model_path.name}", probs, t


# ---------------------------------------------------------------------------------------------
# which faces: the model's held-out parts, per dataset


def held_out_parts(root: Path, folder: Path | None, card: dict | None, which: str,
                   limit: int | None) -> dict[str, B.HeldOut]:
    """Dataset name -> the faces of that dataset the model held out (`which`: "test" or "val").

    Test faces come from the model folder's test_split.csv when the trainer wrote one (its own list:
    same files, same detector boxes); otherwise the trainer's split is rebuilt. A dataset the model did
    not train on gets the part the trainer would hold out of it alone, with its default options."""
    from facekit.preprocess import CropSpec
    from facekit.training import TEST_SPLIT, TrainConfig

    defaults = TrainConfig(dataset=Path("."), output=Path("."))
    data_card = (card or {}).get("dataset", {})
    recorded = data_card.get("path") or []
    trained = [B._resolve_dataset(p, None) for p in ([recorded] if isinstance(recorded, str) else recorded)]
    if None in trained:
        raise SystemExit(f"[ERROR] the card's dataset folders {recorded} are not found here")
    crop = CropSpec.from_dict(card["crop"]) if card else CropSpec(margin=0.1, square=True)
    val = float((card or {}).get("val_split") or B._card_option(card or {}, "--val-split") or defaults.val_split)
    test = float((card or {}).get("test_split") or B._card_option(card or {}, "--test-split") or defaults.test_split)
    detector = trainer_detector(card) if data_card.get("face_crops", "detect") == "detect" else None
    split_file = folder / TEST_SPLIT if folder is not None else None

    rows: dict[str, list] = {}  # dataset name -> [(file, box or None, label), ...]
    if trained and which == "test" and split_file.is_file():
        from facekit.evaluation import read_test_split

        for file, box, label in read_test_split(split_file):
            path = resolve_recorded(file)
            rows.setdefault(path.parent.parent.name, []).append((path, box, label))
        how = f"{TEST_SPLIT} of {folder.name}"
    elif trained and which == "test" and len(trained) == 1:
        # A model trained before test_split.csv existed: its one dataset's split, rebuilt and checked
        # against the card's counts by bench.baselines.
        held = B.held_out_split(trained[0], card, limit=limit)
        return _with_others({trained[0].name: held}, root, crop, val, test, which, limit)
    elif trained:
        # A model trained before look-alikes were kept together (its card has no record of them) drew its parts
        # without: rebuilt with them, a few of its training photos would be scored as held out.
        rows = trainer_split(trained, card.get("labels"), val, test, which,
                             "look_alike_kept_together" in card.get("dataset", {}))
        how = f"the trainer's {which} part of {' + '.join(p.name for p in trained)}"
    found = {name: _crops(r, crop, detector, limit, f"{how} (held out by the model's trainer)")
             for name, r in rows.items()}
    return _with_others(found, root, crop, val, test, which, limit)


def _with_others(found: dict, root: Path, crop, val: float, test: float, which: str, limit: int | None) -> dict:
    """Add every DATASETS folder the model never trained on: the part the trainer would hold out of it."""
    for name in DATASETS:
        if name not in found and (root / "datasets" / name).is_dir():
            rows = trainer_split([root / "datasets" / name], None, val, test, which)[name]
            found[name] = _crops(rows, crop, trainer_detector(None), limit,
                                 f"the trainer's {which} part of {name} alone (NOT trained on by this model)")
    order = [n for n in DATASETS if n in found] + [n for n in found if n not in DATASETS]
    return {n: found[n] for n in order}


def trainer_split(roots: list[Path], labels: list[str] | None, val: float, test: float,
                  which: str, look_alikes: bool = True) -> dict[str, list]:
    """The trainer's own split of these folders (facekit.training.split_dataset, seed 42, copies of
    training images dropped), grouped by dataset folder: name -> [(file, None, label), ...].
    look_alikes=False: as the trainer split them before it kept look-alike photos in one part."""
    import dataclasses

    from facekit.preprocess import CropSpec
    from facekit.training import load_dataset, split_dataset

    # face_crops="none": the split is drawn per image, before any face is cut, so only file order,
    # labels and pixel hashes matter here; 16 px keeps this cheap.
    data = load_dataset(roots, 16, "rgb", CropSpec(), "none", labels=labels, log=lambda m: None)
    split = split_dataset(data if look_alikes else dataclasses.replace(data, looks=None), val, test)
    out: dict[str, list] = {}
    for i in (split.test if which == "test" else split.val):
        path = Path(data.paths[i])
        out.setdefault(path.parent.parent.name, []).append((path, None, data.labels[data.y[i]]))
    return out


def trainer_detector(card: dict | None) -> str:
    """The detector the trainer cut training faces with: the card's, else the trainer's default (which
    need not be the default of the image and video scripts)."""
    from facekit.training import TrainConfig

    return ((card or {}).get("detector") or B._card_option(card or {}, "--detector")
            or TrainConfig(dataset=Path("."), output=Path(".")).detector)


def _crops(rows: list, crop, detector_name: str | None, limit: int | None, note: str) -> B.HeldOut:
    """Each row's face cut the trainer's way: its recorded box, else the largest face `detector_name` finds
    (the whole image when none is found, or when detector_name is None, as the trainer does)."""
    from facekit.detection import create_detector
    from facekit.preprocess import crop_face, load_image
    from facekit.types import Box

    labels = B.FACEKIT_LABELS[TASK]
    if limit and limit < len(rows):  # development runs: an evenly spread subset keeps every class
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).astype(int)]
        note += f" [SUBSET: {limit}]"
    detector = create_detector(detector_name, 0.5) if detector_name else None
    crops, wholes, found = [], [], 0
    for path, box, _ in rows:
        image = load_image(path)
        wholes.append(image)
        if box is None and detector is not None:
            faces = detector.detect(image)
            box = max(faces, key=lambda f: f.box.area).box if faces else None
        elif box is not None:
            box = Box(*box)
        found += box is not None
        crops.append(image if box is None else crop_face(image, box, crop))
    y = np.array([labels.index(label) for _, _, label in rows], dtype=np.int64)
    note += f"; face found in {found}/{len(rows)}"
    return B.HeldOut([str(p) for p, _, _ in rows], y, labels, crops, wholes, note)


# ---------------------------------------------------------------------------------------------
# CelebA attributes and the error contact sheet


def celeba_attributes(root: Path, paths: list[str]) -> dict[str, np.ndarray]:
    """Attribute -> bool per path, from celeba_gender/labels.csv (its path column is class/file)."""
    with open(root / "datasets" / "celeba_gender" / "labels.csv", newline="") as fh:
        table = {row["path"]: row for row in csv.DictReader(fh)}
    keys = [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]
    return {a: np.array([table[k][a] == "1" for k in keys]) for a in ATTRIBUTES}


def attribute_table(held: B.HeldOut, titles: list[str], probs: list[np.ndarray], root: Path) -> None:
    attrs = celeba_attributes(root, held.paths)
    groups = [(f"{'' if on else 'not '}{a}", attrs[a] == on) for a in ATTRIBUTES for on in (True, False)]
    rows = [[title, *(B.pct(B.accuracy(held.y[sel], p[sel])) for _, sel in groups)] for title, p in zip(titles, probs)]
    woman = B.FACEKIT_LABELS[TASK].index("woman")
    print_table(
        "gender: accuracy per CelebA attribute on the celeba_gender faces above",
        ["model", *(f"{name} (n={int(sel.sum())}, {100 * (held.y[sel] == woman).mean():.0f}% women)"
                    for name, sel in groups)],
        rows,
        ["CelebA's own attribute labels (labels.csv). Young: CelebA's annotators' 'young' (roughly under 35-40);",
         "  the dataset has few children or elderly faces, so this is the nearest to an age check it allows."],
    )


def write_contact_sheet(path: Path, parts: dict[str, B.HeldOut], probs: list[np.ndarray],
                        cols: int = 12, most: int = 144) -> None:
    """A PNG grid of the faces facekit gets wrong (the crop it was given), captioned dataset, truth ->
    prediction and P(prediction): errors are easier to describe seen together."""
    import cv2

    from facekit.records import atomic_write

    tiles = []
    for (name, held), p in zip(parts.items(), probs):
        for i in np.flatnonzero(p.argmax(1) != held.y):
            tile = cv2.resize(held.crops[i], (TILE, TILE), interpolation=cv2.INTER_AREA)
            tile = cv2.copyMakeBorder(tile, 0, 14, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            caption = f"{name[:6]} {held.labels[held.y[i]][0].upper()}>{held.labels[p[i].argmax()][0].upper()} " \
                      f"{p[i].max():.2f}"
            cv2.putText(tile, caption, (2, TILE + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(tile)
    if not tiles:
        print(f"[INFO] no wrong faces: {path} not written")
        return
    wrong, tiles = len(tiles), tiles[:most]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    sheet = np.vstack([np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)])
    with atomic_write(path, "wb") as fh:
        fh.write(cv2.imencode(".png", sheet)[1].tobytes())
    print(f"[INFO] {path}: {min(wrong, most)} of facekit's {wrong} wrong faces (caption: dataset, "
          f"true>predicted, P(predicted))")


def _largest_boxes(detector, images: list[np.ndarray], pad: float = 0.0) -> list:
    """The largest face box per image (None where there is none). pad > 0 detects on the image with
    a black border of that fraction on each side and maps the box back, so a face that fills the
    whole frame is not larger than the detector's biggest anchors."""
    import cv2

    from facekit.types import Box

    out = []
    for image in images:
        h, w = image.shape[:2]
        py, px = int(round(pad * h)), int(round(pad * w))
        padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT) if pad else image
        faces = detector.detect(padded)
        box = max(faces, key=lambda f: f.box.area).box if faces else None
        out.append(None if box is None else Box.clipped(box.x1 - px, box.y1 - py, box.x2 - px, box.y2 - py, w, h))
    return out


def _change_cells(p_ref: np.ndarray, p: np.ndarray, woman: int) -> list[str]:
    """Label agreement with the reference crop and mean / max |change| in P(woman)."""
    if not len(p):
        return ["-", "-", "-"]
    delta = np.abs(p[:, woman] - p_ref[:, woman])
    return [B.pct(float((p.argmax(1) == p_ref.argmax(1)).mean())), f"{delta.mean():.3f}", f"{delta.max():.3f}"]


def read_annotated(folder: Path):
    """(image path, [Box]) from dlib's imglab files: <image file><box top left width height/>; boxes
    marked ignore are not faces to score."""
    from facekit.types import Box

    out = []
    for name in ANNOTATED_XML:
        for image in ET.parse(folder / name).getroot().iter("image"):
            boxes = []
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                t, l, w, h = (int(b.get(k)) for k in ("top", "left", "width", "height"))
                boxes.append(Box(l, t, l + w, t + h))
            out.append((folder / image.get("file"), boxes))
    return out


def match_boxes(truth: list, faces: list) -> list[tuple[int, int, float]]:
    """Greedy one-to-one (truth index, face index, IoU) pairs, best IoU first, IoU >= MATCH_IOU."""
    cand = sorted(((t.iou(f.box), i, j) for i, t in enumerate(truth) for j, f in enumerate(faces)), reverse=True)
    pairs, used_t, used_f = [], set(), set()
    for iou, i, j in cand:
        if iou < MATCH_IOU:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            pairs.append((i, j, iou))
    return pairs


def crop_study(head, held: B.HeldOut, card: dict | None, root: Path) -> None:
    from facekit.detection import DEFAULT_DETECTOR, create_detector
    from facekit.preprocess import crop_face, load_image
    from facekit.types import Box

    labels = head.labels
    woman = labels.index("woman")
    crop = head.card.crop
    n = len(held.y)
    frame = f"square, margin {crop.margin}" if crop.square else f"margin {crop.margin}"

    # --- held-out gender images: the same head, several framings of the same face ----------------
    p_train = B.head_probs(head, held.crops)
    rows = []
    if held.wholes is not None:
        detector_name = trainer_detector(card)
        train_boxes = _largest_boxes(create_detector(detector_name, 0.5), held.wholes)  # as the trainer ran it
        res10 = create_detector("res10", 0.5)
        full = [Box(0, 0, im.shape[1], im.shape[0]) for im in held.wholes]
        variants = [(f"(i) train-crop: largest {detector_name} face, {frame}", train_boxes, p_train),
                    ("(ii) whole dataset image, no detection", full, B.head_probs(head, held.wholes))]
        for name, pad in ((f"(iii) largest res10 face, {frame}", 0.0),
                          (f"(iv) as (iii), res10 run on the image padded {RES10_PAD:.0%} per side", RES10_PAD)):
            boxes = _largest_boxes(res10, held.wholes, pad)
            # No face found -> the whole image, as the trainer does.
            crops = [im if b is None else crop_face(im, b, crop) for im, b in zip(held.wholes, boxes)]
            variants.append((name, boxes, B.head_probs(head, crops)))
        for name, boxes, p in variants:
            found = np.array([b is not None for b in boxes])
            ious = [b.iou(t) for b, t in zip(boxes, train_boxes) if b is not None and t is not None]
            rows.append([name, "-" if boxes is full else f"{int(found.sum())}/{n}",
                         f"{np.median(ious):.2f}" if ious else "-",
                         *B.metric_cells(held.y, p, len(labels)),
                         "-" if boxes is full else B.pct(B.accuracy(held.y[found], p[found])),
                         *_change_cells(p_train, p, woman)])
    else:  # a model trained on whole images: its train-crop is the whole image
        rows.append(["(i) train-crop: whole dataset image", "-", "-", *B.metric_cells(held.y, p_train, len(labels)),
                     "-", *_change_cells(p_train, p_train, woman)])
    print_table(
        "gender: crop sensitivity on the held-out images (facekit head only)",
        ["facekit input", "face found", "IoU w/ (i) box", "test acc", "macro-F1", *labels, "acc where found",
         "same label as (i)", "mean |dP(woman)|", "max |dP(woman)|"],
        rows,
        [f"the same {n} held-out images as above; the trainer cut (i) from every training image, so (i) is",
         "  what the model learnt from. No face found -> the whole image, as the trainer does.",
         "IoU w/ (i) box: median IoU of that row's box with (i)'s box on the same image (whole image for (ii)).",
         "'acc where found': only the images where that detector found a face (the rest are whole images).",
         "dP(woman): change in the head's P(woman) against (i) on the same image."],
    )

    # --- annotated_faces: ground-truth boxes vs the detector's boxes on the same faces ------------
    folder = root / "media" / "annotated_faces"
    annotated = [(load_image(path), truth) for path, truth in read_annotated(folder)]
    total = sum(len(t) for _, t in annotated)
    pairs = {}  # row name -> [(image, reference box, other box)]
    for name in (DEFAULT_DETECTOR, "res10"):
        detector = create_detector(name)  # its own default threshold, as the image and video scripts run it
        pairs[f"GT vs {name}{' (default)' if name == DEFAULT_DETECTOR else ''}"] = [
            (image, truth[i], faces[j].box)
            for image, truth in annotated
            for faces in [detector.detect(image)]
            for i, j, _ in match_boxes(truth, faces)]
    # The noise floor: the same detector box nudged by NUDGE of its size (1-3 px on these faces).
    pairs[f"{DEFAULT_DETECTOR} vs itself moved {NUDGE:.0%} right+down"] = [
        (image, det, _nudged(det, NUDGE, image)) for image, _, det in pairs[f"GT vs {DEFAULT_DETECTOR} (default)"]]
    rows = []
    for name, found in pairs.items():
        ref = [crop_face(image, r, crop) for image, r, _ in found]
        other = [crop_face(image, o, crop) for image, _, o in found]
        p_ref, p_other = B.head_probs(head, ref), B.head_probs(head, other)
        ious = [r.iou(o) for _, r, o in found]
        scale = [max(o.width, o.height) / max(r.width, r.height) for _, r, o in found]
        shift = [(o.center[1] - r.center[1]) / r.height for _, r, o in found]
        counts = " -> ".join("/".join(str(int((p.argmax(1) == k).sum())) for k in range(len(labels)))
                             for p in (p_ref, p_other))
        rows.append([name, f"{len(found)}/{total}", f"{np.mean(ious):.2f}" if ious else "-",
                     f"{np.median(scale):.2f}" if scale else "-", f"{np.median(shift):+.2f}" if shift else "-",
                     counts, *_change_cells(p_ref, p_other, woman)])
    print_table(
        "gender: ground-truth box crop vs detector box crop on media/annotated_faces (facekit head only)",
        ["boxes: A vs B", "faces", "mean IoU", "B/A size", "B-A centre y", f"{'/'.join(labels)}: A -> B",
         "same label", "mean |dP(woman)|", "max |dP(woman)|"],
        rows,
        [f"{total} hand-drawn face boxes (GT) in annotated_faces/{' + '.join(ANNOTATED_XML)} (dlib, PASCAL VOC",
         f"  photos; 37-109 px faces); detector boxes paired one-to-one with them at IoU >= {MATCH_IOU}.",
         f"Both boxes are cut the card's way ({frame}) and run through the same head; there are no",
         "  gender labels here, so this measures agreement, not accuracy. B/A size: median ratio of the",
         "  long sides; B-A centre y: median offset of B's centre below A's, in A's heights.",
         "The last row is the head's own jitter: how much a nudge of a pixel or two moves it on faces this small."],
    )


def _nudged(box, frac: float, image: np.ndarray):
    from facekit.types import Box

    dx, dy = frac * box.width, frac * box.height
    return Box.clipped(box.x1 + dx, box.y1 + dy, box.x2 + dx, box.y2 + dy, image.shape[1], image.shape[0])

if __name__ == "__main__":
    sys.exit(run_bench(main))
