"""Face detectors behind one interface, chosen by name.

Every detector takes a BGR image and returns `Face` objects whose boxes are clipped to the image,
degenerate boxes dropped, sorted by score. Adding a detector means writing one class here and
registering it in `DETECTORS`.

What the numbers below rest on (``python -m bench.detection``, mask_scenes_val: 200 street and
crowd scenes, 867 boxed faces, a quarter of them under 16 px wide):

* res10 run once at 300x300 (the PyImageSearch way) finds a third of the faces; run as a pyramid
  (the standard 300x300 blob plus the whole image at its own size) it finds 40% at precision 0.97,
  but upscaling further only adds false boxes (precision falls under 0.62 at 2x). It also misses masked
  faces and fires on a cat (media/no_face_cat.png, 0.69) that it scores above a masked woman
  (example_03.png, 0.43), so no threshold makes it both find masks and stay quiet.
* YuNet at the image's own size plus one upscaled pass finds 72% of the faces at precision 0.90
  (91% of those 32 px wide or more), 82% at precision 0.72 if its threshold is 0.5. Adding res10's
  boxes to it, or using res10 to verify YuNet's doubtful boxes, gained nothing measurable (res10 is
  weakest exactly where YuNet doubts: masks), so the combination did not earn its cost. res10 stays
  available by name, at its PyImageSearch threshold of 0.5.
* SCRFD (scrfd.py) finds more than YuNet at the same precision (SCRFD-2.5GF 82% at 0.91), so it is the
  default (DEFAULT_DETECTOR; SCRFD-0.5GF, VIDEO_DETECTOR, in video); YuNet, whose weights are MIT, is the
  accurate one for other than non-commercial research.
* Photos over 1280 px: the first pass sees them shrunk to 1280, so YuNet's second pass is
  full-resolution tiles instead of an upscale. On 3200x2400 crowd photos made of 64 scenes each,
  recall goes from 0.17 to 0.54 (precision 0.93) for ~1 s more per photo.

Box style: the reference boxes of mask_scenes_val (and most face datasets) are tight around the
face, while each detector draws its own shape (res10 taller, YuNet with more forehead). Each
detector maps its boxes through a fixed calibration (centre shift and scale, in box units; the
median over its matches on mask_scenes_val), so boxes mean the same thing whichever detector drew
them and the head crops see the same framing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol

import cv2
import numpy as np

from . import assets
from .errors import ModelError, native_path, out_of_memory, shown
from .preprocess import face_roll, level_turn
from .runtime import engine_call
from .types import Box, Face, iou_matrix

MIN_BOX = 4  # px; anything thinner is noise, not a face
DEFAULT_DETECTOR = "scrfd"  # photos: the most accurate within 300 ms a 640x480 photo on 2 cores
VIDEO_DETECTOR = "scrfd-500m"  # video: the most accurate that keeps the mask-head loop at 40 FPS


def opencv_name(path) -> str:
    """The name OpenCV loads a model file by (facekit.errors.native_path): given a str it cannot encode, its
    bindings crashed the process (SIGSEGV, no message)."""
    name = native_path(path)
    if name is None:
        raise ModelError(f"{shown(str(path))}: OpenCV cannot open a model whose path is not UTF-8: move the "
                         "models (FACEKIT_ASSETS) to a folder whose name is")
    return name


class Detector(Protocol):
    """`detect` may also take `closeup=False` (`optional_closeup = True`: video skips the close-up pass
    between due frames), and a detector whose `detect` may run on several threads at once says so with
    `concurrent = True` (the video loop then gives it several workers); both are optional."""

    name: str
    confidence: float

    def detect(self, image: np.ndarray) -> list[Face]: ...


@dataclass
class DetectorOptions:
    confidence: float | None = None  # None: the detector's own default, chosen on data
    nms_threshold: float = 0.3
    # The second, larger pass that finds small faces (YuNet upscaled, or in full-resolution tiles on
    # photos over 1280 px; res10 at native size). Video turns it off: it triples detector time for faces
    # too small to classify, and the tracker carries a face through the frames where one pass misses it.
    fine_pass: bool = True


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box -> reference-style box: centre moved by (dx, dy) box widths/heights, size scaled."""

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return boxes
        boxes = np.asarray(boxes, dtype=np.float32)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        cx = (boxes[:, 0] + boxes[:, 2]) / 2 + self.dx * w
        cy = (boxes[:, 1] + boxes[:, 3]) / 2 + self.dy * h
        w, h = w * self.sx, h * self.sy
        return np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).astype(np.float32)


@dataclass(frozen=True)
class CloseUp:
    """The close-up pass: a face that fills the frame, or is cut by its edge, has no whole face outline
    for a detector trained on faces inside the picture (YuNet missed 8% of 330 held-out portraits).
    When the full-size passes find no face at least `trigger_share` of the image's short side, the
    image framed by a grey border of `pad` x its long side, shrunk to `side` px, is run once more, and
    its faces at least `min_share` of the short side are added. side 0 turns it off."""

    pad: float = 0.15
    side: int = 256
    trigger_share: float = 0.5
    min_share: float = 0.3
    # A face cut by the frame's edge shows less of itself and scores lower (SCRFD gave the masked woman of
    # example_03 cut at the left 0.49): where the pass runs, a box at least `min_share` of the short side that
    # reaches an edge is kept from this share of the threshold. None: no such rule (YuNet: see the README).
    cut_share: float | None = None
    # An image bigger than this also gets a plain pass shrunk to it: a face cut by the top edge of an HD
    # frame is past the largest anchors at full size, and too little of it shows at `side` px.
    mid_side: int = 640


def _faces_from_xyxy(boxes: np.ndarray, scores: np.ndarray, width: int, height: int,
                     keypoints: np.ndarray | None = None) -> list[Face]:
    faces = []
    for i in np.argsort(-scores, kind="stable"):
        if not np.all(np.isfinite(boxes[i])):  # YuNet can return NaN boxes on inputs of a few pixels
            continue
        x1, y1, x2, y2 = boxes[i]
        box = Box.clipped(x1, y1, x2, y2, width=width, height=height)
        if not box.is_valid(MIN_BOX):
            continue
        kps = keypoints[i] if keypoints is not None else None
        faces.append(Face(box=box, score=float(scores[i]), detector_keypoints=kps))
    return faces


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (IoU > threshold suppresses), best first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=int)
    xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    keep = cv2.dnn.NMSBoxes(xywh, [float(s) for s in scores], 0.0, threshold)
    return np.asarray(keep, dtype=int).reshape(-1)


def pass_scales(width: int, height: int, max_side: int, upscale: float, base_side: int = 1280) -> list[float]:
    """The image scales one detection runs at, chosen from the image size.

    A pass at the image's own size (shrunk to `base_side` on the long side for big photos, which
    bounds the cost) finds the large and medium faces; a second pass, upscaled by up to `upscale`
    but never past `max_side` on the long side, finds the small ones the detector's smallest
    anchors would otherwise miss. Photos already past `max_side` get the one pass.
    """
    long_side = max(width, height)
    base = min(1.0, base_side / long_side)
    fine = min(upscale, max_side / long_side)
    return [base, fine] if fine > base * 1.2 else [base]


def box_shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` shrunk to `size` (w, h) by a box blur about as wide as the step, then bilinear sampling:
    INTER_AREA's picture to about a grey level on average, at a sixth of its time. The close-up pass
    shrinks each frame ~3x, and INTER_AREA at a step that is no whole number took 1.05 of its 2.9 ms on a
    640x360 frame here (one thread); this takes 0.17, and the close-up set and mask_scenes_val give the
    same recall either way (python -m bench.detection)."""
    step = max(image.shape[1] / size[0], image.shape[0] / size[1])
    k = 2 * int(round((step - 1) / 2)) + 1  # odd, so the blur stays centred on each sample
    blurred = cv2.blur(image, (k, k)) if k > 1 else image
    return cv2.resize(blurred, size, interpolation=cv2.INTER_LINEAR)


def tile_windows(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Windows (x1, y1, x2, y2) of `tile` px covering the image, neighbours sharing at least `overlap`
    px, so that any face up to `overlap` px lies whole inside one of them."""
    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        k = -(-(n - tile) // (tile - overlap))  # ceil: steps of at most tile - overlap
        return [round(i * (n - tile) / k) for i in range(k + 1)]

    return [(x, y, min(width, x + tile), min(height, y + tile)) for y in starts(height) for x in starts(width)]


# The close-up passes frame the image in grey and shrink the framed copy to a network's input (256-300 px). A
# photo of tens of megapixels was framed at full size first: 543 MB more for a 96 MP photo (12000x8000), its run
# "out of memory" under a 1.5 GB limit (a small board) that the rest of the detection fits. Past this long side
# the image is shrunk before it is framed; at a few hundred px the network sees the same picture either way.
FRAME_MAX_SIDE = 2048


def framed(image: np.ndarray, pad_share: float) -> tuple[np.ndarray, int, float, float]:
    """`image` in a mid-grey border `pad_share` of its long side wide (shrunk first where its long side is past
    FRAME_MAX_SIDE), the border's width and the copy's scale across and down (1.0 at full size)."""
    h, w = image.shape[:2]
    s = FRAME_MAX_SIDE / max(h, w)
    if s < 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    sh, sw = image.shape[:2]
    # Mid grey: what SCRFD's own letterbox pads with (0 after its normalisation); a replicated border would
    # smear a face cut by the edge into copies of itself.
    pad = int(round(pad_share * max(sh, sw)))
    copy = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    return copy, pad, sw / w, sh / h


# A res10 box whose top is within this share of the photo's height of its top edge is taken for a face cut there.
TOP_EDGE = 0.01


class Res10Detector:
    """OpenCV's res10 SSD (Caffe), the PyImageSearch detector: 300x300 blob, BGR mean (104, 177, 123).

    By default it runs as a two-level pyramid, the standard 300x300 blob of the whole image plus the
    whole image at its own size (long side capped at `max_side`; the SSD is fully convolutional and
    its anchors are in pixels, so the bigger input reaches faces down to ~30 px instead of ~30/300
    of the image), merged with NMS. `single_pass=True` is the PyImageSearch way, kept for benches.
    """

    name = "res10"
    input_size = (300, 300)
    mean = (104.0, 177.0, 123.0)
    default_confidence = 0.5
    max_side = 640  # the native pass costs ~0.15 ms per 1000 px on 2 cores
    # Both passes use `confidence`. The res10 sweep in `python -m bench.detection --sweep` (mask_scenes_val):
    # at the PyImageSearch 0.5 the pyramid finds 0.40 of the faces (0.32 for the 300x300 blob alone) at
    # precision 0.97; 0.3 finds 0.47 at 0.93, but on the media photos its extra boxes below 0.45 were a
    # dog, a flag and a blur. A further 2x pass finds small faces but never keeps precision above 0.62.
    close_up = 0.35  # a box this tall (share of the image height) marks a close-up; see _padded
    calibration = BoxCalibration(dx=0.012, dy=0.123, sx=1.0, sy=0.83)

    def __init__(self, options: DetectorOptions | None = None, single_pass: bool = False):
        self.options = options or DetectorOptions()
        self.confidence = self.default_confidence if self.options.confidence is None else self.options.confidence
        self.single_pass = single_pass
        prototxt, weights = assets.resolve_checked("res10.prototxt"), assets.resolve_checked("res10.caffemodel")
        try:
            self.net = cv2.dnn.readNetFromCaffe(opencv_name(prototxt), opencv_name(weights))
            # The native pass gets its own network: feeding one net two blob sizes re-plans it each time.
            self._native_net = None if single_pass else cv2.dnn.readNetFromCaffe(opencv_name(prototxt),
                                                                                 opencv_name(weights))
        except cv2.error as exc:
            if out_of_memory(exc):  # short memory (ulimit -v), not a broken file
                raise MemoryError(f"loading res10 from {weights}") from exc
            reason = str(exc).strip().splitlines()[-1]
            raise ModelError(f"cannot load res10 detector from {weights}: {reason}") from None
        self._lock = threading.Lock()  # an OpenCV network holds one input: one thread in it at a time

    def _forward(self, net, image: np.ndarray, size: tuple[int, int],
                 confidence: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(image, size), 1.0, size, self.mean)
        with engine_call(), self._lock:  # no fork in the middle (facekit.runtime._ForkGate)
            net.setInput(blob)
            out = net.forward()[0, 0]  # (N, 7): image_id, label, score, x1, y1, x2, y2 (0..1)
        out = out[out[:, 2] >= confidence]
        return out[:, 3:7] * np.array([w, h, w, h], dtype=np.float32), out[:, 2].astype(np.float32)

    def raw(self, image: np.ndarray, closeup: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Candidate boxes (xyxy pixels, float, as res10 draws them) and scores above `confidence`."""
        boxes, scores = self._forward(self.net, image, self.input_size, self.confidence)
        if self.single_pass:
            return boxes, scores
        h, w = image.shape[:2]
        # A tall box counts at the detector's own threshold, not the user's: at --confidence 0.1 a stray one
        # sent every photo to the framed pass alone (2007_007763.jpg lost its 0.99 faces).
        if np.any(((boxes[:, 3] - boxes[:, 1]) >= self.close_up * h) & (scores >= self.default_confidence)):
            return self._padded(image)
        if closeup:
            # No big face: one may still be cut by the frame edge, which res10 misses (112 of 518 close-up
            # frames in bench.detection); the framed copy finds it. Only its big boxes count.
            b2, s2 = self._padded(image)
            big = (b2[:, 3] - b2[:, 1]) >= self.close_up * h
            boxes, scores = np.concatenate([boxes, b2[big]]), np.concatenate([scores, s2[big]])
        s = min(1.0, self.max_side / max(w, h))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        # The blob squashes even a photo a little over 300 px; under 32 px the network's pooling has nothing left.
        if self.options.fine_pass and size != self.input_size and min(size) >= 32:
            b2, s2 = self._forward(self._native_net, image, size, self.confidence)
            boxes, scores = np.concatenate([boxes, b2]), np.concatenate([scores, s2])
        keep = nms(boxes, scores, self.options.nms_threshold)
        return boxes[keep], scores[keep]

    def _padded(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Close-ups: when a face fills the frame, res10 boxes only nose to chin (median IoU 0.37 with
        YuNet's box on 100 dataset close-ups, 60 of them under 0.5). A 25% border around the image restores
        the framing (median IoU 0.91 with a replicated border). Mid grey, not replicated: a replicated
        border smears a face cut by the edge into copies of itself, and res10 then finds 322 of 406
        close-up frames instead of 400 (bench.detection's close-up set). Boxes less than 60% inside the
        photo are dropped (mostly border)."""
        h, w = image.shape[:2]
        copy, pad, sx, sy = framed(image, 0.25)
        boxes, scores = self._forward(self.net, copy, self.input_size, self.confidence)
        boxes = (boxes - pad) / np.array([sx, sy, sx, sy], dtype=np.float32)
        area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
        inside_w = np.clip(np.minimum(boxes[:, 2], w) - np.maximum(boxes[:, 0], 0), 0, None)
        inside_h = np.clip(np.minimum(boxes[:, 3], h) - np.maximum(boxes[:, 1], 0), 0, None)
        keep = inside_w * inside_h >= 0.6 * area
        boxes, scores = boxes[keep], scores[keep]
        keep = nms(boxes, scores, self.options.nms_threshold)
        return boxes[keep], scores[keep]

    optional_closeup = True  # detect(image, closeup=False): video between the frames the pass is due

    def detect(self, image: np.ndarray, closeup: bool = True) -> list[Face]:
        h, w = image.shape[:2]
        if min(h, w) < MIN_BOX:
            return []
        boxes, scores = self.raw(image, closeup)
        if not self.single_pass:
            # The calibration takes res10's forehead off the top (about a fifth of its box); a box whose top is the
            # photo's, a face cut there, has none in the photo: moved down, its top was 30-65 px under the edge
            # (a box around the nose and chin, obama.jpg cut 30% from the top: IoU 0.70 with the face's).
            cut = boxes[:, 1] <= max(2.0, TOP_EDGE * h)
            calibrated = self.calibration.apply(boxes)
            calibrated[cut, 1] = np.minimum(calibrated[cut, 1], boxes[cut, 1])
            boxes = calibrated
        return _faces_from_xyxy(boxes, scores, w, h)


# Faces whose key points tilt this far (degrees, either way) lie on their side: a photo of people lying down, or
# a phone's held sideways whose EXIF rotation was lost. The detector finds only about half of them (the media
# photos turned 90 degrees: 28 of 50 faces, their eye points right within ~6 degrees), so where one is found the
# photo is searched again turned upright that way (MultiPassDetector._sideways_pass). Upright faces never tilt
# this far (the media photos' reach 19), so their photos get no second search and the same faces.
SIDEWAYS_ROLL = (60.0, 120.0)


def _unturn(xy: np.ndarray, counter_clockwise: bool, width: int, height: int) -> np.ndarray:
    """Points of a `width` x `height` image turned a quarter turn (counter-clockwise or not), back in the image."""
    if counter_clockwise:  # (x, y) in the image is (y, width - x) in the turned one
        return np.column_stack([width - xy[:, 1], xy[:, 0]])
    return np.column_stack([xy[:, 1], height - xy[:, 0]])  # (height - y, x)


class MultiPassDetector:
    """The passes shared by the detectors that run one network at any input size (YuNet, SCRFD).

    A pass at the image's own size (shrunk to `base_side` for big photos), one upscaled pass for small
    faces (see `pass_scales`), or full-resolution tiles for photos over `base_side`; then, when none of
    those found a big face, a close-up pass (`_closeup_pass`). Merged with NMS, boxes calibrated, one
    threshold for faces of `small_face` px and more and `small_margin` more under it, because at that
    size most false boxes are texture, and those faces are too small for the heads anyway.
    A subclass gives `_run`: one network pass over a whole image at its own size.
    """

    name: str
    default_confidence: float
    calibration: BoxCalibration
    small_face = 16  # px, calibrated box width
    small_margin = 0.05
    max_side = 800
    upscale = 2.0
    # Photos past `base_side` are shrunk for the first pass, which loses their small faces: a 30 px face
    # in a 3200 px crowd photo is 12 px at 1280. Their fine pass is therefore overlapping full-resolution
    # tiles instead (a long side of at most `tiled_max_side`, which bounds the cost to ~12 tiles).
    base_side = 1280
    tile = 1280
    tile_overlap = 256
    tiled_max_side = 4096
    candidate_floor = 0.3  # the network's own cut; ours is applied after merging the passes
    closeup = CloseUp()
    # (width px, score): the upscaled pass runs only where the image-size pass found no face, or has a
    # candidate this narrow scoring at least this much, however far under the threshold; None: always.
    fine_gate: tuple[float, float] | None = None
    # (width px at the shrunk pass's scale, score): a box the tiles find that the shrunk pass sees at least this
    # wide, where that pass scores nothing over it even this much, is dropped; None: every tile box is kept.
    tile_check: tuple[float, float] | None = None

    def __init__(self, options: DetectorOptions | None = None):
        self.options = options or DetectorOptions()
        self.confidence = self.default_confidence if self.options.confidence is None else self.options.confidence

    def _run(self, image: np.ndarray, floor: float | None = None) -> np.ndarray:
        """Candidates (N, 15): x, y, w, h, five (x, y) key points, score, in `image` pixels; scores from
        `floor` (None: `_floor()`; only a detector with a `fine_gate` is given one)."""
        raise NotImplementedError

    def _floor(self) -> float:
        """The lowest score a pass keeps: the threshold, the network's own cut, or the cut faces' lower bar."""
        floor = min(self.confidence, self.candidate_floor)
        return floor if self.closeup.cut_share is None else min(floor, self.confidence * self.closeup.cut_share)

    def _cut_by_edge(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boxes (calibrated, x1 y1 x2 y2) big enough for the close-up pass that reach the frame's edge."""
        edge = 2.0  # px: a box drawn to the border ends a pixel or so inside it
        reach = ((boxes[:, 0] <= edge) | (boxes[:, 1] <= edge)
                 | (boxes[:, 2] >= width - edge) | (boxes[:, 3] >= height - edge))
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return reach & (sides >= self.closeup.min_share * min(width, height))

    def _pass(self, image: np.ndarray, scale: float, quick_shrink: bool = False,
              floor: float | None = None) -> np.ndarray:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size == (w, h):
            resized = image
        elif quick_shrink and scale <= 0.5:
            resized = box_shrink(image, size)
        else:
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self._run(resized, floor)
        found = found[np.all(np.isfinite(found[:, :15]), axis=1)].astype(np.float32)
        found[:, 0:14:2] /= size[0] / w
        found[:, 1:14:2] /= size[1] / h
        return found

    def _tiled_pass(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = min(1.0, self.tiled_max_side / max(w, h))
        canvas = image if scale == 1.0 else cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ch, cw = canvas.shape[:2]
        out = []
        for x1, y1, x2, y2 in tile_windows(cw, ch, self.tile, self.tile_overlap):
            found = self._pass(canvas[y1:y2, x1:x2], 1.0)
            # A face cut by an inner tile edge is whole in the neighbouring tile (the overlap): drop the cut
            # one. Faces bigger than the overlap may be whole in no tile; the shrunk pass finds those.
            bx1, by1 = found[:, 0], found[:, 1]
            bx2, by2 = bx1 + found[:, 2], by1 + found[:, 3]
            cut = (((bx1 <= 1) & (x1 > 0)) | ((by1 <= 1) & (y1 > 0))
                   | ((bx2 >= x2 - x1 - 1) & (x2 < cw)) | ((by2 >= y2 - y1 - 1) & (y2 < ch))
                   | (np.maximum(found[:, 2], found[:, 3]) >= self.tile_overlap))
            found = found[~cut]
            found[:, [0, 4, 6, 8, 10, 12]] += x1
            found[:, [1, 5, 7, 9, 11, 13]] += y1
            found[:, :14] /= scale
            out.append(found)
        return np.concatenate(out)

    def _checked_tiles(self, tiles: np.ndarray, first: np.ndarray, scale: float) -> np.ndarray:
        """The tiles' boxes less those `tile_check` drops: the shrunk pass (`first`, `scale`) would see them well
        enough to score them, and scores nothing there. The tiles are for faces that pass sees too small: a photo
        upscaled from a small one (24 MP from 1,100 px) gave them blurred sleeve buttons 40 px wide, taken for
        faces at 0.50-0.56, that the shrunk pass, where they are 13-14 px, scored under 0.02."""
        def boxes(found: np.ndarray) -> np.ndarray:
            return self.calibration.apply(np.column_stack([found[:, 0], found[:, 1], found[:, 0] + found[:, 2],
                                                           found[:, 1] + found[:, 3]]))

        if self.tile_check is None:
            return tiles
        min_width, min_score = self.tile_check
        seen = (boxes(tiles)[:, 2] - boxes(tiles)[:, 0]) * scale >= min_width
        if not np.any(seen):
            return tiles
        first = first[first[:, 14] >= min_score]
        scored = (np.any(iou_matrix(boxes(tiles), boxes(first)) >= 0.4, axis=1) if len(first)
                  else np.zeros(len(tiles), dtype=bool))
        return tiles[~seen | scored]

    def _closeup_pass(self, image: np.ndarray) -> np.ndarray:
        """Faces that fill the frame or are cut by its edge, from a small copy framed by a grey border."""
        h, w = image.shape[:2]
        copy, pad, sx, sy = framed(image, self.closeup.pad)
        found = self._pass(copy, self.closeup.side / max(copy.shape[:2]), quick_shrink=True)
        found[:, [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]] -= pad
        found[:, 0:14:2] /= sx
        found[:, 1:14:2] /= sy
        if max(h, w) > self.closeup.mid_side:
            found = np.concatenate([found, self._pass(image, self.closeup.mid_side / max(h, w), quick_shrink=True)])
        # Only big faces: the small ones are the full-size passes' job, and at this scale they are noise.
        return found[np.minimum(found[:, 2], found[:, 3]) >= self.closeup.min_share * min(h, w)]

    def _passes(self, image: np.ndarray, scales: list[float]) -> list[np.ndarray]:
        """The image-size pass, then the upscaled one unless `fine_gate` says it has nothing to find."""
        gate = self.fine_gate if len(scales) > 1 else None
        if gate is None:
            return [self._pass(image, s) for s in scales]
        floor = self._floor()
        first = self._pass(image, scales[0], floor=min(gate[1], floor))
        # scales[0] is 1 whenever there is an upscaled pass (pass_scales): widths are image pixels here.
        # No face at all also sends it on: thumbnails of one face (under ~200 px) are often found only upscaled.
        # At the detector's own threshold, not the user's (as _has_big_face): at a lower --confidence a faint box
        # counted as a face and skipped the pass that finds the thumbnail's face well.
        needed = (np.any((first[:, 2] < gate[0]) & (first[:, 14] >= gate[1]))
                  or not np.any(first[:, 14] >= self.default_confidence))
        first = first[first[:, 14] >= floor]
        return [first] + ([self._pass(image, s) for s in scales[1:]] if needed else [])

    def _has_big_face(self, found: np.ndarray, width: int, height: int) -> bool:
        big = np.minimum(found[:, 2], found[:, 3]) >= self.closeup.trigger_share * min(width, height)
        # The detector's own threshold, not the user's: at a low --confidence a big stray box skipped the pass
        # and lost the face it finds (Tom_Cruise_avp_2014_4.jpg at 0.1), so a lower threshold gave fewer faces.
        return bool(np.any(big & (found[:, 14] >= self.default_confidence)))

    optional_closeup = True  # detect(image, closeup=False): video between the frames the pass is due

    def detect(self, image: np.ndarray, closeup: bool = True) -> list[Face]:
        return self._sideways_pass(image, self._detect(image, closeup), closeup)

    def _sideways_pass(self, image: np.ndarray, faces: list[Face], closeup: bool) -> list[Face]:
        """`faces` and those a search of the image turned a quarter turn finds upright, where a face's key points
        say it lies on its side (SIDEWAYS_ROLL); `faces` as they are where none does."""
        turns = set()
        for face in faces:
            # level_turn: None for a profile, whose eye points lie together and give no roll.
            if face.detector_keypoints is not None and level_turn(face.box, face.detector_keypoints) is not None:
                roll = face_roll(face.detector_keypoints)
                if SIDEWAYS_ROLL[0] <= abs(roll) <= SIDEWAYS_ROLL[1]:
                    turns.add(roll > 0)
        if not turns:
            return faces
        h, w = image.shape[:2]
        found = list(faces)
        for clockwise_face in sorted(turns):
            # A face tilted clockwise (roll > 0) stands up in the image turned counter-clockwise.
            upright = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE if clockwise_face else cv2.ROTATE_90_CLOCKWISE)
            for face in self._detect(upright, closeup):
                if face.detector_keypoints is None or abs(face_roll(face.detector_keypoints)) > 45:
                    continue  # upright in the photo, sideways here: the first search's
                b = face.box
                c = _unturn(np.array([[b.x1, b.y1], [b.x2, b.y2]], dtype=np.float64), clockwise_face, w, h)
                box = Box.clipped(c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max(), width=w, height=h)
                points = _unturn(np.asarray(face.detector_keypoints, dtype=np.float64), clockwise_face, w, h)
                found.append(Face(box=box, score=face.score, detector_keypoints=points.astype(np.float32)))
        boxes = np.array([[f.box.x1, f.box.y1, f.box.x2, f.box.y2] for f in found], dtype=np.float64)
        keep = nms(boxes, np.array([f.score for f in found]), self.options.nms_threshold)
        return sorted((found[i] for i in keep), key=lambda f: -f.score)

    def _detect(self, image: np.ndarray, closeup: bool = True) -> list[Face]:
        h, w = image.shape[:2]
        if min(h, w) < MIN_BOX:
            return []
        scales = pass_scales(w, h, self.max_side, self.upscale, self.base_side)
        if not self.options.fine_pass:
            scales = scales[:1]
        if self.options.fine_pass and max(w, h) > self.base_side and self.tile_check is not None:
            floor = self._floor()
            first = self._pass(image, scales[0], floor=min(self.tile_check[1], floor))
            parts = [first[first[:, 14] >= floor], self._checked_tiles(self._tiled_pass(image), first, scales[0])]
        else:
            parts = self._passes(image, scales)
            if self.options.fine_pass and max(w, h) > self.base_side:
                parts.append(self._tiled_pass(image))
        found = np.concatenate(parts)
        closeup = bool(closeup and self.closeup.side and not self._has_big_face(found, w, h))
        if closeup:
            found = np.concatenate([found, self._closeup_pass(image)])
        if len(found) == 0:
            return []
        boxes = np.column_stack([found[:, 0], found[:, 1], found[:, 0] + found[:, 2], found[:, 1] + found[:, 3]])
        scores = found[:, 14]
        keep = nms(boxes, scores, self.options.nms_threshold)
        boxes, scores = self.calibration.apply(boxes[keep]), scores[keep]
        keypoints = found[keep, 4:14].reshape(-1, 5, 2)
        widths = boxes[:, 2] - boxes[:, 0]
        need = np.where(widths < self.small_face, self.confidence + self.small_margin, self.confidence)
        if closeup and self.closeup.cut_share is not None:
            need = np.where(self._cut_by_edge(boxes, w, h), self.confidence * self.closeup.cut_share, need)
        ok = scores >= need
        return _faces_from_xyxy(boxes[ok], scores[ok], w, h, keypoints[ok])


class YuNetDetector(MultiPassDetector):
    """OpenCV's YuNet (cv2.FaceDetectorYN): finds small, masked and turned faces; gives 5 key points.

    Thresholds, from a precision/recall sweep on mask_scenes_val: 0.75 for faces of 16 px and
    more (precision ~0.90), 0.80 under 16 px.
    """

    name = "yunet"
    default_confidence = 0.75
    # Long side of the upscaled pass: 800 lets the 400 px scenes of mask_scenes_val double (their
    # 16-32 px faces need it) and gives a 640x480 frame a 1.25x pass, which keeps it under 40 ms.
    max_side = 800
    upscale = 2.0
    calibration = BoxCalibration(dx=0.022, dy=0.133, sx=1.048, sy=0.912)

    def __init__(self, options: DetectorOptions | None = None):
        super().__init__(options)
        self.model = assets.resolve_checked("yunet")
        # One network per input size: setInputSize re-plans the network, which on a 640x480 frame
        # costs more than the second pass itself. Video reuses the same two sizes every frame.
        self._nets: dict[tuple[int, int], cv2.FaceDetectorYN] = {}
        self._lock = threading.Lock()  # one thread in a network (and in the cache of them) at a time
        self._net((320, 320))

    def _net(self, size: tuple[int, int]):
        net = self._nets.pop(size, None)
        if net is None:
            try:
                net = cv2.FaceDetectorYN.create(opencv_name(self.model), "", size,
                                                min(self.confidence, self.candidate_floor),
                                                self.options.nms_threshold, 5000)
            except cv2.error as exc:
                if out_of_memory(exc):  # short memory (ulimit -v), not a broken file
                    raise MemoryError(f"loading YuNet from {self.model}") from exc
                raise ModelError(f"cannot load YuNet from {self.model}: {str(exc).strip().splitlines()[-1]}") from None
            while len(self._nets) >= 4:  # a folder of photos of many sizes must not pile up networks
                self._nets.pop(next(iter(self._nets)))
        self._nets[size] = net  # most recently used last
        return net

    def _run(self, image: np.ndarray, floor: float | None = None) -> np.ndarray:
        # floor: unused, YuNet's cut is built into its networks (it has no fine_gate)
        h, w = image.shape[:2]
        with engine_call(), self._lock:  # no fork in the middle (facekit.runtime._ForkGate)
            _, found = self._net((w, h)).detect(image)
        return np.zeros((0, 15), dtype=np.float32) if found is None else found[:, :15].astype(np.float32)


def _scrfd(options: DetectorOptions) -> Detector:
    from .scrfd import SCRFDDetector

    return SCRFDDetector(options)


def _scrfd_500m(options: DetectorOptions) -> Detector:
    from .scrfd import SCRFD500MDetector

    return SCRFD500MDetector(options)


# onnxruntime loads only when an SCRFD detector is asked for.
DETECTORS: dict[str, Callable[[DetectorOptions], Detector]] = {
    "scrfd": _scrfd,
    "scrfd-500m": _scrfd_500m,
    "yunet": YuNetDetector,
    "res10": Res10Detector,
}
# The asset files each detector loads (facekit.assets names), its weights last: a batch job looks them up before it
# starts Ray, whose workers each met a missing one only once the cluster was up.
DETECTOR_ASSETS: dict[str, tuple[str, ...]] = {
    "scrfd": ("scrfd_2.5g",),
    "scrfd-500m": ("scrfd_500m",),
    "yunet": ("yunet",),
    "res10": ("res10.prototxt", "res10.caffemodel"),
}
# What the weights may be used for, shown by --help and the README: the terms `python -m facekit.assets list`
# prints for the files each detector loads, so the two never disagree.
LICENCES = {name: assets.REGISTRY[files[-1]].licence for name, files in DETECTOR_ASSETS.items()}


def create_detector(name: str = DEFAULT_DETECTOR, confidence: float | None = None, fine_pass: bool = True) -> Detector:
    """A detector by name; `confidence` None means that detector's own default (scrfd 0.5, yunet 0.75, res10 0.5)."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ModelError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}") from None
    return factory(DetectorOptions(confidence=confidence, fine_pass=fine_pass))
