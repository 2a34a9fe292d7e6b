"""Face landmarks: MediaPipe's 468-point face mesh, 5 key points, head pose and two openness measures.

`FaceMesh(image, faces) -> faces` runs `face_landmark.tflite` (192x192 RGB in [0, 1], outputs
468 x (x, y, z) in crop pixels and a face-presence logit) with LiteRT on each detected face:

1. First pass: a square crop around the detector box, grown by `margin` on each side (0.15, chosen
   by NME on dlib's annotated photos; see bench/landmarks.py). When the detector gives eye key
   points (YuNet), the crop is turned so the eyes are level, as MediaPipe does.
2. Second pass (`refine`): MediaPipe's own rule for the next region of interest — the box of the
   first pass's landmarks, levelled by the eye line, times 1.5. It cuts the error on tilted and
   off-centre faces (all-68 NME on the annotated photos 6.0% -> 5.2%) for one more ~1 ms inference.
   A head tilted by 30-50 degrees gets levelled in steps, so passes go on (up to 4) while the eye line
   still turns by more than 8 degrees: a 50-degree tilt goes from 37% NME (one pass) to 2%.
3. Video (faces with a `track_id`): MediaPipe's tracking mode. The last frame's landmarks give this
   frame's crop, already levelled, so one pass usually does (a second only if the eye line turned by
   more than 8 degrees, or the full path when the face is lost or the box jumped): about half the
   landmark time per face on the hamilton clip, points within ~1% of the face width of the per-frame path.
Crops are cut with one affine warp whose outside is filled by border replication, so a face at the
edge of the image or a rotated crop is padded, never cut, and landmarks map back by the inverse warp.
Faces run one at a time at the model's fixed 1x192x192x3 shape: a batch saves ~0.1 ms per face but
needs the tensors reallocated whenever the number of faces changes, which in video is every few frames.

Conventions (documented here once, used by the JSON and the CSV):
- left/right in key point names are the *subject's*, as in dlib/iBUG 300-W, YuNet and MediaPipe: for
  an unmirrored frontal photo `right_eye` is the eye on the image's left.
- Pose, degrees, from cv2.solvePnP against a generic 6-point 3-D face (nose tip, chin, outer eye
  corners, mouth corners): yaw > 0 when the face points toward the image's right (the subject turned
  to their left), pitch > 0 when it points up, roll > 0 when the eye line tilts clockwise in the image.
- Measures are ratios of 3-D mesh distances, so they depend neither on the face's size nor on where it
  turns: `eye_openness` = lid gap / eye width (mean of both eyes; ~0.25-0.35 open, < 0.1 closed),
  `mouth_openness` = inner-lip gap / mouth width (~0 closed).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from . import assets
from .errors import counted
from .heads import load_interpreter
from .runtime import engine_call
from .preprocess import as_bgr
from .types import Box, Face, Pose

INPUT_SIZE = 192
N_POINTS = 468

# Mesh vertices (MediaPipe's canonical topology). "right" = the subject's right.
RIGHT_EYE_CONTOUR = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE_CONTOUR = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
# 4, not MediaPipe's most protruding vertex 1: 4 is where 300-W, YuNet and the generic pose model put
# the tip (nearest dlib point 30), and with 1 frontal faces read ~10 degrees pitched down.
NOSE_TIP, CHIN = 4, 152
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM, LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 159, 145, 386, 374
MOUTH_RIGHT, MOUTH_LEFT, INNER_LIP_TOP, INNER_LIP_BOTTOM = 61, 291, 13, 14

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")

# Mesh index for each of dlib's / iBUG 300-W's 68 points, in their order, for benchmarks and for users
# of 68-point code. Points 17-67 (brows, nose, eyes, lips) are the same anatomical points in both
# schemes and take the vertex MediaPipe's topology names for them. The jaw (0-16) is different: the
# mesh's outer ring (234, 93, 132, 58, ...) is the edge of the 3-D head surface, which reaches back
# toward the ears, while 300-W's jaw is the visible 2-D cheek contour, and along the lower jaw the two
# lines are spaced differently. So 1-3 / 13-15 take the next ring in (227, 177, 215 / 447, 401, 435),
# 6-10 the chin vertices 149, 148, 152, 377, 378, and every pair is mirror-symmetric. They were picked
# per point on training_with_face_landmarks.xml (the vertex nearest the ground truth) and checked on
# testing_with_face_landmarks.xml: jaw NME there 6.97% with this table against 15.7% with the outer ring.
MESH_TO_DLIB68 = (
    127, 227, 177, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 401, 447, 356,  # jaw 0-16
    70, 63, 105, 66, 107,  # subject's right brow 17-21
    336, 296, 334, 293, 300,  # left brow 22-26
    168, 197, 5, 4,  # nose bridge 27-30
    75, 97, 2, 326, 305,  # nostrils 31-35
    33, 160, 158, 133, 153, 144,  # right eye 36-41
    362, 385, 387, 263, 373, 380,  # left eye 42-47
    61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91,  # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips 60-67
)

# A generic face in millimetre-like units (the widely used 6-point model), in OpenCV's camera axes
# (x right, y down, z away from the camera), so a frontal face gives an identity rotation.
_MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),  # nose tip
    (0.0, 330.0, 65.0),  # chin
    (-225.0, -170.0, 135.0),  # subject's right eye, outer corner (image left)
    (225.0, -170.0, 135.0),  # subject's left eye, outer corner
    (-150.0, 150.0, 125.0),  # right mouth corner
    (150.0, 150.0, 125.0),  # left mouth corner
], dtype=np.float64)
_MODEL_MESH_INDEX = [NOSE_TIP, CHIN, RIGHT_EYE_OUTER, LEFT_EYE_OUTER, MOUTH_RIGHT, MOUTH_LEFT]


@dataclass
class FaceMeshOptions:
    margin: float = 0.15  # first-pass crop: square box grown by this fraction on each side
    refine: bool = True  # second pass on the region the first pass's landmarks give
    roi_scale: float = 1.5  # second-pass crop side / landmark extent (MediaPipe's value)
    # A box off the face's centre (usual on small faces) can leave the model too little face to say
    # "face"; one wider look at low presence rescues those (1 of the 43 annotated faces) and still
    # rejects non-faces, which stay far below the threshold at any margin.
    retry_margin: float | None = 0.4
    # Each pass levels the eyes only partly on a strongly tilted head (the model was trained on level
    # crops), so passes continue while the eye line still turns by more than `settle_degrees`.
    max_passes: int = 4
    settle_degrees: float = 8.0
    min_face: int = 24  # px; smaller boxes are skipped: 20 px blown up to 192 gives a guessed mesh
    presence_threshold: float = 0.5  # sigmoid of the model's face flag; below it landmarks are dropped
    # One thread: splitting a 192 px model saves ~0.2 ms per pass on idle cores but costs 2-4 ms per
    # face when the cores are busy (measured on 2 cores shared with training; see bench/landmarks.py).
    num_threads: int | None = 1
    # Video: start from the track's last landmarks (see the module docstring); off = every frame from its box.
    track: bool = True
    # ...unless the box centre moved by more than this share of its width, or its size by more than 30%.
    track_max_shift: float = 0.25


@dataclass
class LandmarkStats:
    """Running counts over every call, for the CLI's report."""

    faces: int = 0
    landmarked: int = 0
    skipped_small: int = 0
    low_presence: int = 0
    min_face: int = 24
    # Faces given a pose though narrower than POSE_MIN_WIDTH, where the fit may be wrong: said once a run, since no
    # record marks them (README: Landmarks).
    small_pose: int = 0

    def summary(self, noun: str = "face") -> str:
        """noun: what is counted, "face detection" in a video, whose run counts its faces so (a face a frame)."""
        text = f"landmarks on {self.landmarked} of {counted(self.faces, noun)}"
        skipped = []
        if self.skipped_small:
            skipped.append(f"{self.skipped_small} smaller than {self.min_face} px")
        if self.low_presence:
            skipped.append(f"{self.low_presence} with a low face-presence score")
        return text + (f"; none on {', '.join(skipped)}" if skipped else "")


# Face-flag logits by which a half-turned crop must beat the fit to replace it (see FaceMesh.mesh). On the media
# photos turned 0-90 and 270, right fits scored their half-turned crop at most 3.7 higher (example_03's masked
# face, YuNet's start); the upside-down fits of those turned 150-210 scored it 6-37 higher, of 120 -4 to 31.
FLIP_MARGIN = 5.0
# ...tried only on fits scoring under this logit: the upside-down fits there scored at most 14.4, while 4 in 5
# upright faces score higher (the media photos, both detectors), so most of them skip the extra pass.
FLIP_CHECK_BELOW = 18.0

# Under this box width (px) the 6-point pose fit can settle on a wrong solution: on the hamilton clip a 44 px
# near-frontal face read yaw -47 for some frames and -1 for others, a 48 px one from -15 to +56.
POSE_MIN_WIDTH = 50


def small_pose_note(faces: int, video: bool = True) -> str:
    # A photo has no track: "take a track's median" sent a photo run's user looking for one.
    median = ", or take a track's median" if video else ""
    # A video counts a face once a frame, as its closing line's face detections: "71 face(s)" beside "9 people seen".
    return (f"{counted(faces, 'face detection' if video else 'face')} under {POSE_MIN_WIDTH} px wide "
            f"{'has' if faces == 1 else 'have'} a pose that may be far off (yaw can flip by 40-60 degrees there; "
            f"nothing in the records marks them): filter on x2 - x1{median} (README: Landmarks)")


@dataclass
class _Roi:
    cx: float
    cy: float
    size: float
    angle: float = 0.0  # radians, eye line from image-left eye to image-right eye

    def affine(self) -> np.ndarray:
        """2x3 image -> crop transform: the ROI turned upright and scaled to INPUT_SIZE."""
        k = INPUT_SIZE / self.size
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = np.array([[c, s], [-s, c]]) * k
        half = INPUT_SIZE / 2.0
        shift = np.array([half, half]) - rot @ np.array([self.cx, self.cy])
        return np.hstack([rot, shift[:, None]])


@dataclass
class _MeshResult:
    points: np.ndarray  # (468, 3) image px
    presence: float
    logit: float = 0.0  # the face flag before the sigmoid, which saturates at 1.0 where faces differ


class FaceMesh:
    """Callable landmark stage: `mesh(image, faces) -> faces` (copies; faces it cannot mark are
    returned unchanged, without a landmarks key, and counted in `stats`)."""

    def __init__(self, options: FaceMeshOptions | None = None, model_path=None):
        self.options = options or FaceMeshOptions()
        # Checked as the detectors' files are: a mesh file cut short was "not a valid TFLite model", with no
        # word of how to get it again, and one with other bytes would load and mark faces wrongly.
        path = assets.resolve_checked("face_mesh") if model_path is None else model_path
        self._interp = load_interpreter(path, self.options.num_threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        outs = self._interp.get_output_details()
        # Tell the two outputs apart by size, not by order, which converters do not keep.
        self._out_points = next(o["index"] for o in outs if int(np.prod(o["shape"])) == N_POINTS * 3)
        self._out_flag = next(o["index"] for o in outs if int(np.prod(o["shape"])) == 1)
        self.stats = LandmarkStats(min_face=self.options.min_face)
        self.invocations = 0  # model runs, for benchmarks and tests
        # track id -> (the crop the track's last landmarks give, the box they were found in); only the last
        # call's tracks are kept, so a track that ends takes its entry with it.
        self._tracked: dict[int, tuple[_Roi, Box]] = {}
        self._lost: set[int] = set()  # tracks the model did not take for a face last frame
        self._lock = threading.Lock()  # one thread in the interpreter at a time (see facekit.heads.Head)

    def for_video(self) -> "FaceMesh":
        """This mesh (its model, lock and stats) with track state of its own, for one video: two videos at once
        on one analyzer (two generators alive in a notebook) followed each other's tracks, both numbered from
        1, and a photo analysed between two frames dropped the video's."""
        view = copy.copy(self)
        view._tracked, view._lost = {}, set()
        return view

    # --- the stage -------------------------------------------------------------------------------
    def __call__(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        image = as_bgr(image)  # a no-op on the BGR uint8 frames the pipeline passes
        out = [self.process(image, face) for face in faces]
        if self.options.track:
            self._tracked = {f.track_id: (roi_from_landmarks(f.landmarks, self.options.roi_scale), f.box)
                             for f in out if f.track_id is not None and f.landmarks is not None}
            self._lost = {f.track_id for f in out if f.track_id is not None and f.landmarks is None}
        return out

    def process(self, image: np.ndarray, face: Face) -> Face:
        opts = self.options
        self.stats.faces += 1
        if min(face.box.width, face.box.height) < opts.min_face:
            self.stats.skipped_small += 1
            return face
        result = self.mesh(image, face)
        if result is None:
            self.stats.low_presence += 1
            return face
        self.stats.landmarked += 1
        pts = result.points
        pose = head_pose(pts, image.shape)
        if pose is not None and face.box.width < POSE_MIN_WIDTH:
            self.stats.small_pose += 1
        return face.replace(landmarks=pts, keypoints=keypoints(pts), pose=pose, measures=measures(pts))

    def mesh(self, image: np.ndarray, face: Face) -> _MeshResult | None:
        """Landmarks for one face in image pixels, or None when the model says it is not a face."""
        opts = self.options
        roi = self._tracked_roi(face)
        best = self._run(image, roi) if roi is not None else None
        if roi is not None and best is not None and best.presence >= opts.presence_threshold:
            if _turned(roi_from_landmarks(best.points, opts.roi_scale), roi) <= opts.settle_degrees:
                return best  # the crop was already levelled on this face: the refining pass is this one
        else:
            cx, cy, width, height = uncut_box(face.box, image.shape, face.detector_keypoints)
            angle = _eye_angle(face.detector_keypoints[0], face.detector_keypoints[1]) \
                if face.detector_keypoints is not None and len(face.detector_keypoints) >= 2 else 0.0
            roi = _Roi(cx, cy, max(width, height) * (1 + 2 * opts.margin), angle)
            best = self._run(image, roi)
            # The wider retry rescues an off-centre box; a track it did not rescue last frame (a profile,
            # a face turned away) is not tried twice a frame again.
            if best.presence < opts.presence_threshold and opts.retry_margin is not None \
                    and face.track_id not in self._lost:
                roi.size = max(width, height) * (1 + 2 * opts.retry_margin)
                best = self._run(image, roi)
            if best.presence < opts.presence_threshold:
                return None
            if not opts.refine:
                return best
        best, roi = self._refine(image, best, roi)
        # A face turned past ~110 degrees starts from the detector's eye points, which lie 180 degrees off there,
        # and the mesh fits it upside down (roll 180 off) with a high face flag; its crop turned half a turn, where
        # the face stands upright, scores higher still, while a right fit's half-turned crop nearly always scores
        # far lower (FLIP_MARGIN), so one more pass (~1 ms) tells them apart.
        if best.logit < FLIP_CHECK_BELOW:
            flip = roi_from_landmarks(best.points, opts.roi_scale)
            flip.angle += np.pi
            flipped = self._run(image, flip)
            if flipped.logit > best.logit + FLIP_MARGIN:
                best, roi = self._refine(image, flipped, flip)
        return best

    def _refine(self, image: np.ndarray, best: _MeshResult, roi: _Roi) -> tuple[_MeshResult, _Roi]:
        opts = self.options
        for _ in range(max(1, opts.max_passes - 1)):
            next_roi = roi_from_landmarks(best.points, opts.roi_scale)
            turned = _turned(next_roi, roi)
            result = self._run(image, next_roi)
            if result.presence < opts.presence_threshold:
                break
            best, roi = result, next_roi
            if turned <= opts.settle_degrees:
                break
        return best, roi

    def _tracked_roi(self, face: Face) -> _Roi | None:
        """The crop the track's last landmarks give, if the face is still about where and as big as it was."""
        if not self.options.track or face.track_id not in self._tracked:
            return None
        roi, then = self._tracked[face.track_id]
        now = face.box
        shift = np.hypot(now.center[0] - then.center[0], now.center[1] - then.center[1])
        grown = max(now.width, 1) / max(then.width, 1)
        if shift > self.options.track_max_shift * max(then.width, 1) or not 1 / 1.3 <= grown <= 1.3:
            return None
        return _Roi(roi.cx, roi.cy, roi.size, roi.angle)

    def _run(self, image: np.ndarray, roi: _Roi) -> _MeshResult:
        self.invocations += 1
        affine = roi.affine()
        crop = cv2.warpAffine(image, affine, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)
        with engine_call(), self._lock:  # no fork in the middle (facekit.runtime._ForkGate)
            self._interp.set_tensor(self._in, x[None])
            self._interp.invoke()
            raw = self._interp.get_tensor(self._out_points).reshape(N_POINTS, 3).astype(np.float64)
            logit = float(self._interp.get_tensor(self._out_flag).ravel()[0])
        inverse = cv2.invertAffineTransform(affine)
        pts = np.empty((N_POINTS, 3), dtype=np.float64)
        pts[:, :2] = raw[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        pts[:, 2] = raw[:, 2] * (roi.size / INPUT_SIZE)  # depth in the same pixel scale as x and y
        return _MeshResult(pts, 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50))), logit)


def create_landmarker(**options) -> FaceMesh:
    return FaceMesh(FaceMeshOptions(**options))


# --- geometry from a mesh, all in image pixels -------------------------------------------------------
def _turned(a: _Roi, b: _Roi) -> float:
    """Degrees between two crops' eye lines."""
    return abs(np.degrees((a.angle - b.angle + np.pi) % (2 * np.pi) - np.pi))


def _eye_angle(image_left_eye, image_right_eye) -> float:
    dx, dy = image_right_eye[0] - image_left_eye[0], image_right_eye[1] - image_left_eye[1]
    return float(np.arctan2(dy, dx))


def roi_from_landmarks(points: np.ndarray, scale: float = 1.5) -> _Roi:
    """MediaPipe's next-crop rule: the landmarks' box in the eye-levelled frame, grown by `scale`."""
    xy = points[:, :2]
    angle = _eye_angle(xy[RIGHT_EYE_OUTER], xy[LEFT_EYE_OUTER])
    c, s = np.cos(angle), np.sin(angle)
    to_upright = np.array([[c, s], [-s, c]])
    upright = xy @ to_upright.T
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    centre = to_upright.T @ ((lo + hi) / 2.0)
    return _Roi(float(centre[0]), float(centre[1]), float(max(hi - lo)) * scale, angle)


# Height / width of a whole face's box: the median over the media photos' faces clear of the edges (scrfd 1.16,
# yunet 1.19, res10 1.14; a quarter of them under 1.10 or over 1.21).
FACE_ASPECT = 1.16


# A whole face's box from the detector's 5 key points (SCRFD, YuNet), which it places within ~5% of the face's width
# even where the face is cut: its width per px from the eyes' midpoint to the mouth's (medians over the media
# photos' faces clear of the edges: scrfd 2.23, yunet 2.21) and per px between the eyes (2.32, 2.26; the larger of
# the two is taken, so that a turned head's closer eyes or a nodding one's shorter eye-to-mouth line do not shrink it),
# and its centre that share of the eye-to-mouth line below the line's midpoint (0.20, 0.23).
WIDTH_PER_EYE_TO_MOUTH = 2.23
WIDTH_PER_EYE_TO_EYE = 2.3
CENTRE_BELOW = 0.2


def _whole_from_points(points, box: Box) -> tuple[float, float, float, float] | None:
    """(cx, cy, width, height) of the whole face the detector's 5 key points (image-left eye, image-right eye, nose,
    mouth's image-left and image-right corners) stand for; None without them, or where they do not fit the box."""
    if points is None or len(points) < 5:
        return None
    k = np.asarray(points, dtype=np.float64)[:5, :2]
    eyes, mouth = (k[0] + k[1]) / 2.0, (k[3] + k[4]) / 2.0
    span = float(np.linalg.norm(eyes - mouth))
    if not np.all(np.isfinite(k)) or span < 1.0:
        return None
    width = max(WIDTH_PER_EYE_TO_MOUTH * span, WIDTH_PER_EYE_TO_EYE * float(np.linalg.norm(k[1] - k[0])))
    # A cut box is at least about half the face; points far from that are not this face's (or not a face's).
    if not 0.5 <= width / max(1.0, box.width, box.height / FACE_ASPECT) <= 2.5:
        return None
    cx, cy = (eyes + mouth) / 2.0 - CENTRE_BELOW * (eyes - mouth)
    return float(cx), float(cy), width, FACE_ASPECT * width


def uncut_box(box: Box, shape, points=None) -> tuple[float, float, float, float]:
    """(cx, cy, width, height) of the whole face whose box the image's edge cuts (see _uncut_sides). With the
    detector's 5 key points (`points`), the face they stand for, wherever the box reaches the edge or that face
    crosses it: a face cut on two sides (the top and the left) has no uncut side to give the others back, and its
    mesh was fitted 40-90 px low on obama.jpg's 248-px face (scrfd: 20-35% of the face's width), and YuNet's box of a
    face cut at the top stops short of the edge (~38 px under it), so that face was fitted ~80 px low; both now
    within ~3% of its width (the media photos' faces cut at one edge or two: median 1.1-1.2%, at most 5.7% scrfd,
    9.7% yunet, where 41.7% and 38.9% before)."""
    h, w = shape[:2]
    whole = _whole_from_points(points, box)
    if whole is not None:
        cx, cy, fw, fh = whole
        cut = box.x1 <= 0 or box.y1 <= 0 or box.x2 >= w or box.y2 >= h
        crosses = cx - fw / 2 < 0 or cy - fh / 2 < 0 or cx + fw / 2 > w or cy + fh / 2 > h
        if cut or crosses:
            return whole
    return _uncut_sides(box, shape)


def _uncut_sides(box: Box, shape) -> tuple[float, float, float, float]:
    """(cx, cy, width, height) of the whole face whose box the image's edge cuts: the box is clipped to the image,
    so the centre of a face cut at the top lay low on what is left of it, and the first crop held the chin in its
    middle and the edge's replicated rows above, where the mesh fitted a whole face too low (obama.jpg cut through
    the eyes: eyes 68-84 px low on a 248-px face; cut just under them, ~100 px, pitch -44). The cut side is given
    back from the other one by FACE_ASPECT. A box at a corner has only the side that is short for FACE_ASPECT
    given back (a face cut at the top whose box's left edge is the photo's was still ~80 px low): without key points
    (res10) a face cut on both sides is still fitted low."""
    h, w = shape[:2]
    x1, y1, x2, y2 = float(box.x1), float(box.y1), float(box.x2), float(box.y2)
    tall, wide = max(y2 - y1, FACE_ASPECT * (x2 - x1)), max(x2 - x1, (y2 - y1) / FACE_ASPECT)
    if (y1 <= 0) != (y2 >= h):  # cut at the top or the bottom (not both: a face filling the frame's height)
        y1, y2 = (y2 - tall, y2) if y1 <= 0 else (y1, y1 + tall)
    if (x1 <= 0) != (x2 >= w):
        x1, x2 = (x2 - wide, x2) if x1 <= 0 else (x1, x1 + wide)
    return (x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1


def keypoints(points: np.ndarray) -> dict[str, tuple[float, float]]:
    """The 5 key points (eye centres, nose tip, mouth corners), subject's left/right."""
    xy = points[:, :2]
    chosen = {
        "right_eye": xy[RIGHT_EYE_CONTOUR].mean(axis=0),
        "left_eye": xy[LEFT_EYE_CONTOUR].mean(axis=0),
        "nose_tip": xy[NOSE_TIP],
        "mouth_right": xy[MOUTH_RIGHT],
        "mouth_left": xy[MOUTH_LEFT],
    }
    return {name: (float(chosen[name][0]), float(chosen[name][1])) for name in KEYPOINT_NAMES}


def head_pose(points: np.ndarray, image_shape) -> Pose | None:
    """Yaw, pitch, roll in degrees (signs in the module docstring); None when solvePnP fails."""
    h, w = image_shape[:2]
    focal = float(max(h, w))  # no calibration: a ~55 degree field of view, typical of phones and webcams
    camera = np.array([[focal, 0, w / 2.0], [0, focal, h / 2.0], [0, 0, 1]], dtype=np.float64)
    image_points = np.ascontiguousarray(points[_MODEL_MESH_INDEX, :2], dtype=np.float64)
    try:
        ok, rvec, _ = cv2.solvePnP(_MODEL_POINTS, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        return None
    if not ok:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    # Angles of the face's own axes in camera space rather than an Euler decomposition: no order
    # convention to get wrong, and each angle means what its name says.
    forward = rot @ np.array([0.0, 0.0, -1.0])  # out of the face, toward a camera facing it
    across = rot @ np.array([1.0, 0.0, 0.0])  # from the subject's right eye to their left
    yaw = np.degrees(np.arctan2(forward[0], -forward[2]))
    pitch = np.degrees(np.arctan2(-forward[1], np.hypot(forward[0], forward[2])))
    roll = np.degrees(np.arctan2(across[1], across[0]))
    return Pose(float(yaw), float(pitch), float(roll))


MEASURE_NAMES = ("eye_openness", "mouth_openness")


def measures(points: np.ndarray) -> dict[str, float]:
    # Distances in 3-D (the mesh's depth is in the same pixel scale as x and y): in the image plane a turned
    # head foreshortens the eye's and mouth's width but hardly their height, so a 2-D ratio rose with |yaw|
    # (open eyes read 0.57 at yaw -70 on the hamilton clip, 0.25 in 3-D, as frontal open eyes do).
    xyz = np.asarray(points, dtype=np.float64)[:, :3]

    def ratio(a, b, c, d):
        width = np.linalg.norm(xyz[c] - xyz[d])
        return float(np.linalg.norm(xyz[a] - xyz[b]) / width) if width > 1e-6 else 0.0

    right = ratio(RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM, RIGHT_EYE_OUTER, RIGHT_EYE_INNER)
    left = ratio(LEFT_EYE_TOP, LEFT_EYE_BOTTOM, LEFT_EYE_OUTER, LEFT_EYE_INNER)
    return dict(zip(MEASURE_NAMES, ((right + left) / 2.0,
                                    ratio(INNER_LIP_TOP, INNER_LIP_BOTTOM, MOUTH_RIGHT, MOUTH_LEFT))))


def to_dlib68(points: np.ndarray) -> np.ndarray:
    """(468, 2|3) mesh -> (68, 2) in dlib's / iBUG 300-W order, via MESH_TO_DLIB68."""
    return np.asarray(points)[list(MESH_TO_DLIB68), :2]
