"""Face detection and end-to-end mask labelling on real scenes (issue 8).

    python -m bench.detection [--model PATH] [--sweep] [--crops] [--limit N]

Scores every detector on mask_scenes_val (200 street/crowd photos, 867 boxed faces; boxes.csv:
image,width,height,xmin,ymin,xmax,ymax,label), with the PyImageSearch pipeline (res10 once at
300x300, confidence 0.5, its own Keras mask model on the raw res10 box) in the same run:

* detection: recall and precision at IoU >= 0.5 (greedy, best score first), recall by face width;
* labels: share of the found with_mask / without_mask faces whose mask label is right (faces the
  pipeline leaves unclassified, under the head's min_face or too dark to read, are counted apart);
* end to end: faces found AND labelled right, over all with_mask / without_mask faces;
* speed: ms per dataset image, and per 640x480 frame (scenes resized to 640x480) for detection.

mask_weared_incorrect faces (28) count for detection but not for labels: the heads have two classes.
The reference boxes are tight; facekit's detectors calibrate their own boxes to that style (see
facekit.detection). The seed / PyImageSearch boxes are scored as those projects draw them.
--sweep prints the precision/recall sweeps the SCRFD, YuNet and res10 thresholds were chosen from; --crops
the end-to-end effect of the head's crop margin and square-ness on the default detector's faces;
--fit-calibration fits SCRFD's box calibration to YuNet's boxes on mask_real_train (not on these scenes).

Also in the same table: the close-up set (frames cut from the media portraits so a face fills 60-100%
of the frame or is cut by a quarter at an edge, issue 19) for every detector, and the AIZOOTech
FaceMaskDetection baseline (a dedicated mask detector, MIT: boxes and labels in one 260x260 pass).
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.common import (ROOT, ArgumentParser, assets_root, limit_count, machine_info, print_table, run_bench,
                          time_per_call)

from facekit.detection import (DEFAULT_DETECTOR, DETECTORS, LICENCES, VIDEO_DETECTOR, BoxCalibration, DetectorOptions,
                               Res10Detector, YuNetDetector, create_detector)
from facekit.pipeline import MIN_BRIGHTNESS_FOR_HEADS, head_min_face
from facekit.preprocess import CropSpec, load_image
from facekit.types import iou_matrix

IOU = 0.5
WIDTH_BINS = [(0, 16, "<16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 10 ** 6, ">=64")]
MASK_LABELS = ("with_mask", "without_mask")
MASK_MODEL = ROOT / "models" / "mask"  # the committed head; another one with --model


@dataclass
class Scene:
    path: Path
    boxes: np.ndarray  # (N, 4) xyxy
    labels: list[str]


@dataclass
class Found:
    """One pipeline's output for one image: boxes, scores, and mask labels (None = not classified)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str | None]


def load_scenes(root: Path, limit: int | None = None) -> list[Scene]:
    rows = defaultdict(list)
    with open(root / "boxes.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows[r["image"]].append(r)
    scenes = []
    for name in sorted(rows)[:limit]:
        rs = rows[name]
        boxes = np.array([[float(r["xmin"]), float(r["ymin"]), float(r["xmax"]), float(r["ymax"])] for r in rs])
        scenes.append(Scene(root / name, boxes, [r["label"] for r in rs]))
    return scenes


def match(boxes: np.ndarray, scores: np.ndarray, truth: np.ndarray, threshold: float = IOU) -> np.ndarray:
    """For each detection, the index of the reference face it finds (-1: a false box). Greedy, best
    score first; each reference face is found at most once, by its best-overlapping free detection."""
    out = -np.ones(len(boxes), dtype=int)
    if len(boxes) == 0 or len(truth) == 0:
        return out
    ious = iou_matrix(boxes, truth)
    taken = np.zeros(len(truth), dtype=bool)
    for i in np.argsort(-scores, kind="stable"):
        cand = np.where(~taken & (ious[i] >= threshold))[0]
        if len(cand):
            j = cand[np.argmax(ious[i, cand])]
            taken[j] = True
            out[i] = j
    return out


def score(scenes: list[Scene], results: list[Found], iou: float = IOU) -> dict:
    tp = fp = n = 0
    by_width = defaultdict(lambda: [0, 0])
    labelled = right = unclassified = 0
    n_labelled_faces = e2e = 0
    per_width_acc = defaultdict(lambda: [0, 0])
    per_class_acc = defaultdict(lambda: [0, 0])
    for scene, res in zip(scenes, results):
        m = match(res.boxes, res.scores, scene.boxes, iou)
        found = {int(j): i for i, j in enumerate(m) if j >= 0}
        tp += len(found)
        fp += int((m < 0).sum())
        n += len(scene.boxes)
        for j, (box, label) in enumerate(zip(scene.boxes, scene.labels)):
            width = box[2] - box[0]
            key = next(k for lo, hi, k in WIDTH_BINS if lo <= width < hi)
            by_width[key][1] += 1
            by_width[key][0] += j in found
            if label not in MASK_LABELS:
                continue
            n_labelled_faces += 1
            if j not in found:
                continue
            pred = res.labels[found[j]]
            if pred is None:
                unclassified += 1
                continue
            labelled += 1
            right += pred == label
            e2e += pred == label
            per_width_acc[key][1] += 1
            per_width_acc[key][0] += pred == label
            per_class_acc[label][1] += 1
            per_class_acc[label][0] += pred == label
    ge32 = [by_width[k] for k in ("32-64", ">=64")]
    return {
        "recall": tp / max(n, 1),
        "precision": tp / max(tp + fp, 1),
        "false": fp,
        **{f"R{k}": by_width[k][0] / max(by_width[k][1], 1) for _, _, k in WIDTH_BINS},
        "R>=32": sum(a for a, _ in ge32) / max(sum(b for _, b in ge32), 1),
        "mask_acc": right / max(labelled, 1),
        "labelled": labelled,
        "unclassified": unclassified,
        "e2e": e2e / max(n_labelled_faces, 1),
        "acc_by_width": {k: (a / b if b else float("nan"), b) for k, (a, b) in per_width_acc.items()},
        "acc_by_class": {k: (a / b if b else float("nan"), b) for k, (a, b) in per_class_acc.items()},
        "counts": {k: v[1] for k, v in by_width.items()},
    }


def find_mask_model(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    return MASK_MODEL if (MASK_MODEL / "card.json").is_file() and (MASK_MODEL / "model.tflite").is_file() else None


def _found_from_faces(faces) -> Found:
    boxes = np.array([f.box.as_list() for f in faces], dtype=np.float32).reshape(-1, 4)
    scores = np.array([f.score for f in faces], dtype=np.float32)
    labels = [f.predictions["mask"].label if "mask" in f.predictions else None for f in faces]
    return Found(boxes, scores, labels)


def run_pipeline(detector, head, images: list[np.ndarray]) -> tuple[list[Found], float, list]:
    """Detector + facekit mask head on every image; also returns ms per image and the raw faces."""
    from facekit.pipeline import FacePipeline

    pipe = FacePipeline(detector, {"mask": head} if head is not None else {})
    out, all_faces, t = [], [], 0.0
    for image in images:
        start = time.perf_counter()
        faces = pipe(image)
        t += time.perf_counter() - start
        all_faces.append(faces)
        out.append(_found_from_faces(faces))
    return out, t * 1000 / max(len(images), 1), all_faces


def frame_ms(detector, images: list[np.ndarray], repeat: int = 24) -> tuple[float, float, float]:
    """ms to detect on a 640x480 frame (dataset scenes resized to 640x480, cycled): median and best
    of `repeat` wall-clock runs, and CPU ms per frame (every thread of the process). The machine is
    shared, so the median carries other people's work; the best, and the CPU time (what the detector
    itself spends, whatever else runs), are closer to what it costs on idle cores."""
    frames = [cv2.resize(im, (640, 480)) for im in images[:8]]
    samples = []

    def one():
        t = time.perf_counter()
        detector.detect(frames[len(samples) % len(frames)])
        samples.append((time.perf_counter() - t) * 1000)

    median = time_per_call(one, repeat=repeat, warmup=2)
    start = time.process_time()
    for frame in frames:
        detector.detect(frame)
    cpu = (time.process_time() - start) * 1000 / len(frames)
    return median, min(samples[2:]), cpu


class SeedYuNet(YuNetDetector):
    """The seed's YuNet: one pass at the image's size, YuNet's own boxes, threshold 0.5."""

    name = "yunet-seed"
    max_side = 10 ** 6
    upscale = 1.0
    calibration = dataclasses.replace(YuNetDetector.calibration, dx=0.0, dy=0.0, sx=1.0, sy=1.0)
    small_margin = 0.0


def pyimagesearch(images: list[np.ndarray]) -> list[Found]:
    """res10 once at 300x300, confidence 0.5, box clipped as detect_mask_image.py does; its Keras model
    on the raw box, in a subprocess (TensorFlow would slow LiteRT in this process)."""
    from bench.baselines import run_subprocess

    det = Res10Detector(DetectorOptions(confidence=0.5), single_pass=True)
    per_image, crops = [], []
    for image in images:
        h, w = image.shape[:2]
        boxes, scores = det.raw(image)
        kept = []
        for (x1, y1, x2, y2), s in zip(boxes, scores):
            x1, y1 = max(0, int(x1)), max(0, int(y1))
            x2, y2 = min(w - 1, int(x2)), min(h - 1, int(y2))
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            kept.append(([x1, y1, x2, y2], s))
            crops.append(image[y1:y2, x1:x2])
        per_image.append(kept)
    probs, _ = run_subprocess("pyimagesearch_mask", crops=crops)
    out, k = [], 0
    for kept in per_image:
        labels = [MASK_LABELS[int(np.argmax(probs[k + i]))] for i in range(len(kept))]
        k += len(kept)
        out.append(Found(np.array([b for b, _ in kept], dtype=np.float32).reshape(-1, 4),
                         np.array([s for _, s in kept], dtype=np.float32), labels))
    return out


# --- close-ups: faces that fill the frame or are cut by its edge (issue 19) ---------------------------

# The media portraits with faces of 80 px and more (dlib's dogs.jpg and the small-face photos left out).
CLOSEUP_PHOTOS = ("12_angry_men.jpg", "astronaut.png", "crowd_masks.jpg", "example_02.png", "example_03.png",
                  "kit_with_rose.jpg", "obama.jpg", "obama_and_biden.jpg", "solvay_conference.jpg", "two_people.jpg",
                  "annotated_faces/2008_001009.jpg", "annotated_faces/2008_001322.jpg",
                  "annotated_faces/2008_002506.jpg", "annotated_faces/Tom_Cruise_avp_2014_4.jpg",
                  "annotated_faces/bald_guys.jpg")
CLOSEUP_FILLS = (0.6, 0.8, 1.0)  # face height / frame height
CLOSEUP_CUT = 0.25  # share of the face past the frame edge
EDGES = ("left", "right", "top", "bottom")
# A webcam frame, and a phone / HD frame: past ~400 px a face outgrows the detectors' largest anchors.
CLOSEUP_HEIGHTS = (480, 960)


@dataclass
class CloseUp:
    name: str
    image: np.ndarray
    box: np.ndarray  # (1, 4) the face, clipped to the frame


def closeup_views(image: np.ndarray, box, aspect: float = 4 / 3, height: int = 480,
                  fills=CLOSEUP_FILLS, edges=EDGES) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Frames of `aspect`, `height` px tall, cut around one face: centred so the face fills each share
    of the frame height, and (filling 0.7) shifted so CLOSEUP_CUT of it lies past each edge. Parts of a
    frame past the photo are black (a pad)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    windows = []
    for fill in fills:
        wh = fh / fill
        windows.append((f"fill {fill:.1f}", cx - wh * aspect / 2, cy - wh / 2, wh))
    wh = fh / 0.7
    ww = wh * aspect
    cut_x, cut_y = CLOSEUP_CUT * fw, CLOSEUP_CUT * fh
    starts = {"left": (x1 + cut_x, cy - wh / 2), "right": (x2 - cut_x - ww, cy - wh / 2),
              "top": (cx - ww / 2, y1 + cut_y), "bottom": (cx - ww / 2, y2 - cut_y - wh)}
    windows += [(f"cut {edge}", *starts[edge], wh) for edge in edges]
    out = []
    for name, wx, wy, wh in windows:
        s = height / wh
        size = (round(height * aspect), height)
        m = np.float32([[s, 0, -wx * s], [0, s, -wy * s]])
        frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        ref = (np.array([x1, y1, x2, y2]) - [wx, wy, wx, wy]) * s
        ref = np.clip(ref, 0, [size[0], size[1], size[0], size[1]])
        out.append((name, frame, ref.reshape(1, 4).astype(np.float32)))
    return out


def closeup_set(media: Path, photos=CLOSEUP_PHOTOS, min_face: int = 80, per_photo: int = 2,
                heights=CLOSEUP_HEIGHTS) -> list[CloseUp]:
    """The `per_photo` biggest faces of `min_face` px or more in each media portrait, each as close-up
    frames of each height. The reference box is YuNet's calibrated box on the whole photo: the
    convention every detector's boxes are calibrated to."""
    ref = create_detector("yunet")
    out = []
    for name in photos:
        image = load_image(media / name)
        faces = sorted((f for f in ref.detect(image) if f.box.width >= min_face), key=lambda f: -f.box.width)
        for k, face in enumerate(faces[:per_photo]):
            for height in heights:
                for view, frame, box in closeup_views(image, face.box.as_list(), height=height):
                    out.append(CloseUp(f"{name}#{k} {height}p {view}", frame, box))
    return out


def closeup_found(detector, views: list[CloseUp], iou: float = IOU) -> tuple[int, int, list[str]]:
    """(faces found at IoU >= iou, extra boxes, names of the missed views)."""
    found = extra = 0
    missed = []
    for v in views:
        f = _found_from_faces(detector.detect(v.image))
        hit = int((match(f.boxes, f.scores, v.box, iou) >= 0).sum())
        found += hit
        extra += len(f.boxes) - hit
        if not hit:
            missed.append(v.name)
    return found, extra, missed


# --- AIZOOTech FaceMaskDetection: a dedicated mask detector (MIT), boxes and labels in one pass --------

class AizooMaskDetector:
    """AIZOOTech FaceMaskDetection (github.com/AIZOOTech/FaceMaskDetection, models/face_mask_detection.*),
    decoded as its utils/anchor_generator.py and anchor_decode.py do: SSD anchors on 33/17/9/5/3 feature
    maps, variances 0.1 / 0.2, confidence 0.5, class-agnostic NMS 0.4, boxes as it draws them."""

    size = 260
    feature_maps = (33, 17, 9, 5, 3)
    anchor_sizes = ((0.04, 0.056), (0.08, 0.11), (0.16, 0.22), (0.32, 0.45), (0.64, 0.72))
    ratios = (1.0, 0.62, 0.42)
    labels = ("with_mask", "without_mask")  # its classes 0 Mask, 1 NoMask
    conf, nms = 0.5, 0.4

    def __init__(self):
        from facekit import assets

        self.net = cv2.dnn.readNetFromCaffe(str(assets.resolve_checked("baseline.aizoo_mask.prototxt")),
                                            str(assets.resolve_checked("baseline.aizoo_mask.caffemodel")))
        self.anchors = self._anchors()

    def _anchors(self) -> np.ndarray:
        out = []
        for n, sizes in zip(self.feature_maps, self.anchor_sizes):
            c = (np.arange(n) + 0.5) / n
            cx, cy = np.meshgrid(c, c)
            # the sizes at ratio 1, then the first size at the other ratios: 4 anchors per cell
            wh = [(s, s) for s in sizes] + [(sizes[0] * np.sqrt(r), sizes[0] / np.sqrt(r)) for r in self.ratios[1:]]
            cells = np.stack([cx, cy], -1).reshape(-1, 1, 2)
            half = np.array(wh).reshape(1, -1, 2) / 2
            out.append(np.concatenate([cells - half, cells + half], -1).reshape(-1, 4))
        return np.concatenate(out).astype(np.float32)

    def __call__(self, image: np.ndarray) -> Found:
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(image, (self.size, self.size)), cv2.COLOR_BGR2RGB)
        self.net.setInput(cv2.dnn.blobFromImage(rgb, 1 / 255.0))
        loc, cls = self.net.forward(["loc_branch_concat", "cls_branch_concat"])
        a = self.anchors
        acx, acy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
        aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        d = loc[0] * np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)
        cx, cy = d[:, 0] * aw + acx, d[:, 1] * ah + acy
        bw, bh = np.exp(d[:, 2]) * aw, np.exp(d[:, 3]) * ah
        boxes = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        scores, classes = cls[0].max(1), cls[0].argmax(1)
        keep = [int(i) for i in np.where(scores >= self.conf)[0]]
        if keep:
            xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes[keep]]
            keep = [keep[i] for i in np.asarray(cv2.dnn.NMSBoxes(xywh, scores[keep].tolist(), self.conf, self.nms))
                    .reshape(-1)]
        boxes = np.clip(boxes[keep] * [w, h, w, h], 0, [w, h, w, h]).astype(np.float32).reshape(-1, 4)
        return Found(boxes, scores[keep].astype(np.float32), [self.labels[int(c)] for c in classes[keep]])

    def detect(self, image: np.ndarray):
        """The facekit Detector interface (boxes only), for the close-up set and the frame timing."""
        from facekit.types import Box, Face

        found = self(image)
        h, w = image.shape[:2]
        return [Face(box=Box.clipped(*b, width=w, height=h), score=float(s)) for b, s in zip(found.boxes, found.scores)]


def row(name: str, s: dict | None, ms_img: float | None, ms_frame: tuple | None, closeups: str = "-") -> list:
    cells = ["-"] * 12 if s is None else [
        s["recall"], s["precision"], s["false"], s["R<16"], s["R16-32"], s["R32-64"], s["R>=64"], s["R>=32"],
        s["mask_acc"], s["unclassified"], s["e2e"]]
    return [name, *cells[:11], closeups,
            "-" if ms_img is None else f"{ms_img:.1f}",
            "-" if ms_frame is None else f"{ms_frame[0]:.1f} ({ms_frame[1]:.1f})",
            "-" if ms_frame is None else f"{ms_frame[2]:.1f}"]


HEADERS = ["pipeline", "recall", "precision", "false", "R<16", "R16-32", "R32-64", "R>=64", "R>=32",
           "mask acc", "unclass.", "end-to-end", "close-ups", "ms/img", "ms 640x480 (best)", "cpu ms"]


def mosaics(scenes: list[Scene], images: list[np.ndarray], grid: int = 8,
            cell: tuple[int, int] = (400, 300)) -> tuple[list[Scene], list[np.ndarray]]:
    """Big crowd photos built from the scenes: grid x grid of them (each shrunk to fit its cell if
    needed, never enlarged) on one canvas, 3200x2400 by default, with their reference boxes."""
    out_scenes, out_images = [], []
    per = grid * grid
    for k in range(0, len(scenes) - per + 1, per):
        canvas = np.full((cell[1] * grid, cell[0] * grid, 3), 127, dtype=np.uint8)
        boxes, labels = [], []
        for i, (scene, image) in enumerate(zip(scenes[k:k + per], images[k:k + per])):
            h, w = image.shape[:2]
            f = min(1.0, cell[0] / w, cell[1] / h)
            if f < 1.0:
                image = cv2.resize(image, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
            x0, y0 = (i % grid) * cell[0], (i // grid) * cell[1]
            canvas[y0:y0 + image.shape[0], x0:x0 + image.shape[1]] = image
            boxes.append(scene.boxes * f + [x0, y0, x0, y0])
            labels += scene.labels
        out_scenes.append(Scene(scenes[k].path, np.concatenate(boxes), labels))
        out_images.append(canvas)
    return out_scenes, out_images


def big_photos(scenes: list[Scene], images: list[np.ndarray]) -> None:
    big_scenes, big_images = mosaics(scenes, images)
    if not big_scenes:
        return
    rows = []
    for name, det in (("facekit default (tiles)", create_detector()),
                      ("--fast: one pass, shrunk to 1280", create_detector(fine_pass=False))):
        res, ms, _ = run_pipeline(det, None, big_images)
        s = score(big_scenes, res)
        rows.append([name, s["recall"], s["precision"], s["R16-32"], s["R32-64"], s["R>=64"], f"{ms:.0f}"])
    h, w = big_images[0].shape[:2]
    print_table(f"Big photos: {len(big_images)} mosaics of 64 scenes each, {w}x{h}",
                ["detector", "recall", "precision", "R16-32", "R32-64", "R>=64", "ms/photo"], rows)


def sweep(scenes: list[Scene], images: list[np.ndarray], name: str = "yunet") -> None:
    """Precision/recall of a multi-pass detector (all passes, calibrated boxes) over the threshold, with
    and without its small-face margin: the data its default threshold was chosen from (the lowest that
    keeps precision at 0.90)."""
    det = create_detector(name, 0.3)
    margin = det.small_margin
    det.small_margin = 0.0
    raw = [_found_from_faces(det.detect(im)) for im in images]
    rows = []
    for t in (0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
        for m in (0.0, margin):
            res = []
            for r in raw:
                w = r.boxes[:, 2] - r.boxes[:, 0]
                keep = r.scores >= np.where(w < det.small_face, t + m, t)
                res.append(Found(r.boxes[keep], r.scores[keep], [None] * int(keep.sum())))
            s = score(scenes, res)
            rows.append([f"{t:.2f}", f"{m:.2f}", s["recall"], s["precision"], s["false"], s["R<16"],
                         s["R16-32"], s["R32-64"], s["R>=64"]])
    print_table(f"{name} threshold sweep (mask_scenes_val, IoU 0.5; default {det.default_confidence}, "
                f"+{margin} under {det.small_face} px)",
                ["confidence", "small +", "recall", "precision", "false", "R<16", "R16-32", "R32-64", "R>=64"], rows)


def fit_calibration(name: str, every: int = 8) -> BoxCalibration:
    """`name`'s box calibration, fitted to YuNet's calibrated boxes (the convention every detector maps
    to) on mask_real_train's web photos (a training set, so nothing is fitted on the validation scenes):
    the median centre shift and scale over the faces both find (IoU >= 0.5, 24 px or wider, not
    touching the border)."""
    root = assets_root() / "datasets" / "mask_real_train"
    files = [p for c in ("with_mask", "without_mask") for p in sorted((root / c).glob("chandrika_*"))[::every]]
    ref, det = create_detector("yunet"), create_detector(name)
    det.calibration = BoxCalibration()
    rows = []
    for path in files:
        image = load_image(path)
        h, w = image.shape[:2]
        a = np.array([f.box.as_list() for f in ref.detect(image)], dtype=np.float64).reshape(-1, 4)
        b = np.array([f.box.as_list() for f in det.detect(image)], dtype=np.float64).reshape(-1, 4)
        if not len(a) or not len(b):
            continue
        ious = iou_matrix(b, a)
        for i, j in enumerate(ious.argmax(1)):
            inside = min(a[j, 0], a[j, 1], b[i, 0], b[i, 1]) > 0 and max(a[j, 2], b[i, 2]) < w and max(a[j, 3], b[i, 3]) < h
            bw, bh = b[i, 2] - b[i, 0], b[i, 3] - b[i, 1]
            if ious[i, j] >= 0.5 and inside and bw >= 24:
                rows.append([(a[j, 0] + a[j, 2] - b[i, 0] - b[i, 2]) / 2 / bw, (a[j, 1] + a[j, 3] - b[i, 1] - b[i, 3]) / 2 / bh,
                             (a[j, 2] - a[j, 0]) / bw, (a[j, 3] - a[j, 1]) / bh])
    dx, dy, sx, sy = np.median(np.array(rows), axis=0).round(3)
    print(f"[INFO] {name}: BoxCalibration(dx={dx}, dy={dy}, sx={sx}, sy={sy}) from {len(rows)} faces in "
          f"{len(files)} mask_real_train photos")
    return BoxCalibration(dx, dy, sx, sy)


def sweep_res10(scenes: list[Scene], images: list[np.ndarray]) -> None:
    """Precision/recall of the res10 pyramid (300x300 blob + native size, close-ups padded) over its
    confidence: the data its default of 0.5 was checked against."""
    rows = []
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9):
        s = score(scenes, [_found_from_faces(f) for f in
                           map(Res10Detector(DetectorOptions(confidence=t)).detect, images)])
        rows.append([f"{t:.2f}", s["recall"], s["precision"], s["false"], s["R16-32"], s["R>=32"]])
    print_table("res10 threshold sweep (mask_scenes_val, IoU 0.5)",
                ["confidence", "recall", "precision", "false", "R16-32", "R>=32"], rows)


def crop_study(scenes: list[Scene], images: list[np.ndarray], faces_per_image: list, head) -> None:
    """End-to-end mask labelling with other crop margins / square-ness on the same detections."""
    from facekit.pipeline import FacePipeline

    original = head.card
    rows = []
    for margin in (0.0, 0.1, 0.2, 0.3):
        for square in (True, False):
            head.card = dataclasses.replace(original, crop=CropSpec(margin=margin, square=square))
            pipe = FacePipeline(None, {"mask": head})
            res = [_found_from_faces(pipe.analyze(im, [f.replace(predictions={}) for f in faces]))
                   for im, faces in zip(images, faces_per_image)]
            s = score(scenes, res)
            tag = " (card)" if (margin, square) == (original.crop.margin, original.crop.square) else ""
            rows.append([f"{margin:.1f}{tag}", square, s["mask_acc"], s["e2e"]])
    head.card = original
    print_table("Head crop on the default detector's faces", ["margin", "square", "mask acc", "end-to-end"], rows)


def min_face_study(scenes: list[Scene], faces_per_image: list, pipeline_px: int) -> None:
    """Mask accuracy against end-to-end share when only faces at least N px wide get a label."""
    rows = []
    for min_px in sorted({pipeline_px, 12, 16, 20, 24, 32}):
        res = []
        for faces in faces_per_image:
            kept = [f if min(f.box.width, f.box.height) >= min_px else f.replace(predictions={}) for f in faces]
            res.append(_found_from_faces(kept))
        s = score(scenes, res)
        tag = " (pipeline)" if min_px == pipeline_px else ""
        rows.append([f"{min_px}{tag}", s["mask_acc"], s["labelled"], s["e2e"]])
    print_table("Smallest face given to the heads (default detector)",
                ["min px", "mask acc", "labelled", "end-to-end"], rows)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.detection", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="mask model folder (default: models/mask)")
    p.add_argument("--limit", type=limit_count,
                   help="score only the first N scenes and N evenly spread close-up frames (quick look)")
    p.add_argument("--sweep", action="store_true", help="also print the SCRFD, YuNet and res10 threshold sweeps")
    p.add_argument("--crops", action="store_true", help="also print the head-crop study")
    p.add_argument("--no-baseline", action="store_true", help="skip the PyImageSearch pipeline (no TensorFlow)")
    p.add_argument("--fit-calibration", action="store_true",
                   help="only fit SCRFD's box calibrations to YuNet's boxes (on mask_real_train) and print them")
    args = p.parse_args(argv)
    if args.fit_calibration:
        for name in ("scrfd", "scrfd-500m"):
            fit_calibration(name)
        return 0

    root = assets_root() / "datasets" / "mask_scenes_val"
    if not args.no_baseline:
        from bench.baselines import require

        require("pyimagesearch_mask")
    scenes = load_scenes(root, args.limit)
    images = [load_image(s.path) for s in scenes]
    model = find_mask_model(args.model)
    head = None
    if model is not None:
        from facekit.heads import Head

        head = Head.load(model)
    else:
        print("[WARN] no mask model found: labels are not scored", file=sys.stderr)

    views = closeup_set(assets_root() / "media")
    if args.limit and args.limit < len(views):
        # Every detector on all 322 close-ups took most of a "quick look" (9 min for --limit 10 on 2 cores).
        views = [views[i] for i in np.linspace(0, len(views) - 1, args.limit).astype(int)]
    pipelines = [(f"facekit {name}" + (" (photo default)" if name == DEFAULT_DETECTOR else ""), create_detector(name))
                 for name in DETECTORS]
    pipelines.insert(1, (f"facekit {VIDEO_DETECTOR}, one pass (video default)",
                         create_detector(VIDEO_DETECTOR, fine_pass=False)))
    seeds = [("seed res10 (1 pass, 0.5)", Res10Detector(DetectorOptions(confidence=0.5), single_pass=True)),
             ("seed yunet (1 pass, 0.5)", SeedYuNet(DetectorOptions(confidence=0.5)))]
    rows, default_faces, default_scores, missed = [], None, None, {}
    for name, det in pipelines + seeds:
        res, ms_img, faces = run_pipeline(det, head, images)
        s = score(scenes, res)
        if default_faces is None:
            default_faces, default_scores = faces, s
        closeups = "-"
        if (name, det) not in seeds:  # the seeds are not offered by name
            found, _, missed[name] = closeup_found(det, views)
            closeups = f"{found}/{len(views)}"
        rows.append(row(name + (" + mask head" if head is not None else ""), s, ms_img, frame_ms(det, images),
                        closeups))
        print(f"[INFO] {name}: recall {s['recall']:.3f} precision {s['precision']:.3f} close-ups {closeups} "
              f"({rows[-1][-2]} ms 640x480)", file=sys.stderr, flush=True)
    aizoo = AizooMaskDetector()
    start = time.perf_counter()
    res = [aizoo(im) for im in images]
    ms_img = (time.perf_counter() - start) * 1000 / len(images)
    found, _, missed["AIZOO"] = closeup_found(aizoo, views)
    rows.append(row("AIZOO FaceMaskDetection (boxes + its own mask labels, MIT)", score(scenes, res), ms_img,
                    frame_ms(aizoo, images), f"{found}/{len(views)}"))
    if not args.no_baseline:
        res = pyimagesearch(images)
        rows.append(row("PyImageSearch (res10 1 pass + its Keras model)", score(scenes, res), None, None))
    n = len(scenes)
    counts = default_scores["counts"]
    notes = [
        f"{n} scenes, {sum(counts.values())} faces (by width: "
        + ", ".join(f"{k} {counts.get(k, 0)}" for _, _, k in WIDTH_BINS)
        + f"); match at IoU >= {IOU}; mask model: {head.model_path if head else 'none'} (as photos run it)",
        "mask acc: right labels among found with/without faces that got a label; unclass.: found faces under "
        f"{head_min_face(head) if head is not None else '-'} px (the head's min_face) or darker than a mean grey level "
        f"of {MIN_BRIGHTNESS_FOR_HEADS:.0f} left without one; "
        "end-to-end: found and labelled right / all with+without faces",
        f"close-ups: faces found at IoU >= {IOU} in {len(views)} frames cut from the media portraits (face filling "
        f"{', '.join(map(str, CLOSEUP_FILLS))} of the frame height, or {CLOSEUP_CUT:.0%} of it past each edge; "
        f"{' and '.join(f'{h} px' for h in CLOSEUP_HEIGHTS)} tall)",
        "ms/img: whole pipeline per dataset image (detector + mask head); ms 640x480: detection only, wall median "
        "(best) on 2 shared cores; cpu ms: CPU time per 640x480 frame, all threads (less load-dependent)",
        "licences of the weights: " + "; ".join(f"{k} {v}" for k, v in LICENCES.items()) + "; AIZOO MIT",
        machine_info(),
    ]
    print_table("Detection and mask labels on mask_scenes_val", HEADERS, rows, notes)
    for name, names in missed.items():
        if names:
            print(f"  close-ups missed by {name}: {', '.join(names)}")

    acc = default_scores["acc_by_width"]
    by_class = default_scores["acc_by_class"]
    print_table("Default pipeline: mask accuracy by face width and by true label (found faces given a label)",
                ["width / label", "accuracy", "faces"],
                [[k, acc[k][0], acc[k][1]] for _, _, k in WIDTH_BINS if k in acc]
                + [[k, by_class[k][0], by_class[k][1]] for k in MASK_LABELS if k in by_class])
    default_found = [_found_from_faces(f) for f in default_faces]
    print_table("Default detector: what a looser match adds (misses at 0.5 that are boxes drawn differently)",
                ["IoU", "recall", "precision", "R16-32", "R>=32"],
                [[t, s["recall"], s["precision"], s["R16-32"], s["R>=32"]]
                 for t in (0.5, 0.4, 0.3) for s in [score(scenes, default_found, t)]])
    if head is not None:
        min_face_study(scenes, default_faces, head_min_face(head))
    if args.limit is None:
        big_photos(scenes, images)
    if args.sweep:
        for name in ("scrfd", "scrfd-500m", "yunet"):
            sweep(scenes, images, name)
        sweep_res10(scenes, images)
    if args.crops and head is not None:
        crop_study(scenes, images, default_faces, head)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_bench(main))
