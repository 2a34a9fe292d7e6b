"""FaceAnalyzer: the one object the library, the root scripts and the batch workers use.

    from facekit import FaceAnalyzer

    analyzer = FaceAnalyzer(tasks=["mask", "emotion"])          # models load once, here
    for face in analyzer.analyze("group.jpg"):                   # path or BGR array -> list[Face]
        print(face.box.as_list(), face.label("mask"), face.to_dict())  # label: None where the head could not read it
    for frame_index, time_s, faces in analyzer.analyze_video("clip.mp4", detect_every=2):
        ...                                                      # faces carry track_id

It is a `FacePipeline` (detector + heads + optional landmarker) built from plain options, so the
video loop, the drawing code and the CLIs take it wherever they take a pipeline.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import math
import numbers
import os
import threading
from typing import (Any, Generator, Iterable, Mapping, NamedTuple, Protocol, Sequence, Sized, SupportsIndex, cast,
                    overload)

import cv2
import numpy as np

from .detection import DEFAULT_DETECTOR, VIDEO_DETECTOR, Detector, DetectorOptions
from .errors import ArgumentError, VideoError, counted
from .pipeline import FacePipeline, inside
from .tracking import HEAD_EVERY
from .preprocess import CropSpec, as_image, check_rotation, crop_region, face_roll, level_turn, rotate_clockwise
from .types import VIDEO_RUN, Box, Face, ImageInput, VideoRun


class _VideoFields(NamedTuple):
    frame_index: int
    time_s: float
    faces: list[Face]


class VideoResult(_VideoFields):
    """One analysed frame of a video: unpack as `frame_index, time_s, faces`. `frame` is the frame itself (BGR, the
    source's size), to draw the faces on (facekit.drawing.annotate) or keep; it stays out of the unpacking, so the
    three-name loops keep working, and a caller who wanted the frames had to read the video a second time."""

    frame: np.ndarray

    def __new__(cls, frame_index: int, time_s: float, faces: list[Face], frame: np.ndarray | None = None):
        result = super().__new__(cls, frame_index, time_s, faces)
        result.frame = np.zeros((0, 0, 3), np.uint8) if frame is None else frame  # made by hand: an empty image
        return result

    # The tuple's own _replace builds the copy with tuple.__new__, past __new__ above: it had no frame, and
    # result._replace(faces=kept).frame (an app filtering a frame's faces) was an AttributeError.
    def _replace(self, **changes: Any) -> "VideoResult":
        """A copy with the fields named changed (`result._replace(faces=kept)`), its frame kept unless `frame=`."""
        frame = changes.pop("frame", self.frame)
        return VideoResult(*super()._replace(**changes), frame=frame)


# A photo with no face standing upright that scores TURN_SEARCH_BELOW (FaceAnalyzer.analyze, rotate=None) is searched
# again turned: a phone photo whose EXIF orientation was stripped (a messenger's copy, a screenshot, a scanned print).
# Upside down the detector finds few faces, and those weakly: the 25 media and annotated_faces photos with faces
# turned 180 showed 49 of their 126, the best of each photo scoring 0.50-0.78, where upright the best score 0.74-0.91
# (0.65: a dog in dogs.jpg). 0.75 was chosen on those and on 150 scenes of mask_real_train (masked faces score
# lower): upright, 3 of the 26 photos and 48 of the 150 scenes pay one search (+6% and +14% of their time), and none
# changes; turned 180, 107 of the 126 faces are found and 219 of the scenes' 249 (0.8: 125 and 236, but 96 scenes
# pay, +36%). The turn kept is the one whose standing faces' scores of TURN_FLOOR or more add up to over TURN_GAIN
# times the photo's own: forced on every photo at every turn, it chose wrong only on dogs.jpg (a dog stands up
# stronger turned). README: Photos any way up.
# An upside-down face's own key points do not tell it: SCRFD and YuNet lay them out as an upright face's (the eyes
# above the mouth, the eye line level) in a box shifted toward the hair, so "eyes below the mouth" was no cue: 0 of
# the 66 and 82 upside-down faces the two found in those 26 photos turned 180, and of SCRFD's 99 in 150 scenes of
# mask_real_train turned 180 only one, lying on its side (none of the 466 faces the two found upright).
# What does tell it is the face itself, turned: where the best standing face scores under TURN_CHECK_BELOW, it is
# read again in a crop twice its box (TURN_CHECK_SIDE px at most) as it is and turned 180, one pass each (~17 ms),
# and scoring TURN_CHECK_MARGIN more turned is a search. Of the faces checked, every upright one scored 0.10-0.90
# lower turned (SCRFD: 26 media photos and 150 mask_real_train scenes; YuNet: the 26 photos), every upside-down
# one SCRFD found 0.09-0.18 higher, YuNet's 0.03-0.93 (15 of its 19 photos over the margin).
TURN_SEARCH_BELOW = 0.75
TURN_CHECK_BELOW = 0.9
TURN_CHECK_SIDE = 160
TURN_CHECK_CROP = CropSpec(margin=0.5, square=True)  # twice the box's long side, centred on it
TURN_CHECK_MARGIN = 0.05
TURN_FLOOR = 0.6
TURN_GAIN = 1.2


class Faces(list[Face]):
    """What FaceAnalyzer.analyze returns: a list of Face, with `turned`, the degrees clockwise (90, 180 or 270) the
    photo was searched turned where its faces were found (a photo lying on its side or upside down), else 0. The
    boxes are in the photo's own pixels all the same.

    A part of it is a Faces of the same photo, `turned` kept: a slice (`faces[:2]`), `copy()`, and, as
    supervision's Detections take them, a list or array of positions (`faces[[2, 0]]`, `faces[np.argsort(...)]`)
    or of one bool per face (`faces[faces.scores > 0.8]`, `faces[[f.label("mask") == "with_mask" for f in faces]]`);
    `sort()` sorts it in place. sorted(), filter() and a list comprehension are Python's and give a plain list."""

    def __init__(self, faces: Iterable[Face] = (), turned: int = 0) -> None:
        super().__init__(faces)
        self.turned = turned

    @property
    def scores(self) -> np.ndarray:
        """Each face's detection score, in order (float64): `faces[faces.scores > 0.8]` keeps the stronger ones."""
        return np.array([f.score for f in self], dtype=np.float64)

    # The array's first, out of list's order: numpy's stubs give an array __index__ (a 0-d one's), so a mask matched
    # SupportsIndex and a checker took faces[faces.scores > 0.8] for one Face.
    @overload  # type: ignore[override]
    def __getitem__(  # type: ignore[overload-overlap]
            self, index: slice | Sequence[int] | Sequence[bool] | np.ndarray) -> Faces: ...

    @overload
    def __getitem__(self, index: SupportsIndex) -> Face: ...

    def __getitem__(self, index: Any) -> Face | Faces:
        if isinstance(index, slice):
            return self._part(super().__getitem__(index))
        if isinstance(index, (Sequence, np.ndarray)) and not isinstance(index, (str, bytes)):
            return self._picked(index)
        return super().__getitem__(index)  # one face; list's own TypeError for anything else

    def _picked(self, index: Sequence[int] | Sequence[bool] | np.ndarray) -> Faces:
        """The faces at these positions, or where these bools (one per face) are true, in that order."""
        picks = np.asarray(index)
        if picks.ndim != 1 or not (picks.dtype == bool or np.issubdtype(picks.dtype, np.integer) or not picks.size):
            raise TypeError(f"Faces indices must be an int, a slice, or a list or 1-D array of ints (positions) or "
                            f"of bools (one per face); got {index!r:.100}")
        if picks.dtype == bool:
            if len(picks) != len(self):
                raise IndexError(f"a bool index takes one bool per face: {counted(len(self), 'face')}, got "
                                 f"{counted(len(picks), 'bool')}")
            picks = np.flatnonzero(picks)
        # list's own IndexError names no position: say which one is past the end
        bad = [int(i) for i in picks if not -len(self) <= i < len(self)]
        if bad:
            raise IndexError(f"face index {bad[0]} out of range: {counted(len(self), 'face')}")
        return self._part([list.__getitem__(self, int(i)) for i in picks])

    def copy(self) -> Faces:
        """A shallow copy, `turned` kept (list.copy gave a plain list)."""
        return self._part(self)

    def _part(self, faces: Iterable[Face]) -> Faces:
        """`faces`, some of this list's, as a Faces carrying what this one does (`turned`, and what a caller set)."""
        part = Faces(faces)
        part.__dict__.update(self.__dict__)
        return part


def _strength(faces: list[Face]) -> float:
    """The scores over TURN_FLOOR of the faces that stand upright (within 45 degrees) in the image searched: a
    photo upside down, turned a quarter turn, shows its faces on their side to the detector's sideways pass
    (facekit.detection.SIDEWAYS_ROLL) as strongly as it shows them upright turned half a turn, and the turn kept
    is the one that stands them up (--rotate's)."""
    return sum(f.score for f in faces if f.score >= TURN_FLOOR and _standing(f))


def _standing(face: Face) -> bool:
    """Whether the detector's eye line is within 45 degrees of level. A face without key points counts as one, and
    so does a profile, whose two eye points fall together and give no roll (preprocess.level_turn)."""
    points = face.detector_keypoints
    return points is None or level_turn(face.box, points) is None or abs(face_roll(points)) <= 45


def _unturned(face: Face, turn: int, width: int, height: int) -> Face:
    """`face`, found in a `width` x `height` image turned `turn` degrees clockwise, in the image's own pixels; its
    key points keep their order (the face's left eye first), so its crop is levelled as the face lies
    (preprocess.level_turn)."""
    def back(xy: np.ndarray) -> np.ndarray:
        u, v = xy[:, 0], xy[:, 1]
        if turn == 90:  # (x, y) in the image is (height - y, x) turned
            return np.column_stack([v, height - u])
        if turn == 180:
            return np.column_stack([width - u, height - v])
        return np.column_stack([width - v, u])  # 270: (x, y) is (y, width - x) turned

    b = face.box
    corners = back(np.array([[b.x1, b.y1], [b.x2, b.y2]], dtype=np.float64))
    box = Box.clipped(corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max(),
                      width=width, height=height)
    points = face.detector_keypoints
    if points is not None:
        points = back(np.asarray(points, dtype=np.float64)).astype(np.float32)
    return face.replace(box=box, detector_keypoints=points)


class FaceDetector(Protocol):
    """What FaceAnalyzer(detector=) takes besides a name: any object with this method."""

    def detect(self, image: np.ndarray) -> list[Face]: ...


class FaceAnalyzer(FacePipeline):
    """Detect faces and run every trained head (and, if asked, landmarks + pose) on each.

    Args:
        tasks: heads to run, e.g. ``["mask", "gender"]``, or one string as the scripts' --tasks takes it
            (``"mask"``, ``"mask,gender"``); None runs every head whose model exists (the package's own
            models, or ``$FACEKIT_MODELS``); an empty list none (boxes only). An empty string is refused, as
            --tasks "" is: an unset shell variable, not a choice.
        detector: a detector name (facekit.detection.DETECTORS), an object with
            ``detect(image) -> list[Face]``, or None to only classify given faces / whole crops.
            "auto" (the default) picks as the scripts do: the most accurate detector within the photo
            budget for `analyze`, the fast one for `analyze_video`: SCRFD, whose weights are for
            non-commercial research only, as the gender head's are (facekit.detection.LICENCES and
            facekit.heads.weights_terms() give the terms; "yunet" is MIT; see commercial_use).
        landmarks: add the 468-point mesh, 5 key points, head pose and eye / mouth openness.
        confidence: minimum detection score (None: the detector's own default, chosen on data).
        models: extra model folders (each card names its task), or one, used before the models folder.
        fine_pass: photos get the detector's second pass for small faces (video never does: see
            `analyze_video`); SCRFD runs it only where its first pass sees a face under 32 px, even faintly,
            or no face at all (facekit.detection.MultiPassDetector.fine_gate).
        int8: run the heads' validated int8 twins (True) or their fp16 models (False); None (the
            default) picks as the scripts do: fp16 for `analyze`, int8 twins for `analyze_video`
            (facekit.heads.use_int8 says why).
        commercial_use: load only weights whose terms allow commercial use (facekit.licensing): "auto" becomes
            YuNet (MIT) for photos and video, tasks=None only the heads whose card's terms allow it (none of the
            shipped ones: `withheld` names those left out, with their terms), and a detector or head named here whose
            terms do not is a facekit.licensing.LicenceError (an ArgumentError) before anything loads. None (the
            default): on where FACEKIT_COMMERCIAL_USE=1, so one setting covers every analyzer of a process.

    Raises facekit.errors.ModelError (a FacekitError) when a head's model is missing or broken, AssetError (one
    too) when a detector's or the face mesh's weights are neither in $FACEKIT_ASSETS, the cache nor downloadable.
    `close()`, or a ``with FaceAnalyzer(...) as analyzer:`` block, lets the models go before the object does. One
    analyzer may serve several threads at once (each model runs one call at a time, so each photo gets the faces
    it gets alone); it cannot be pickled: build one in each worker process (README, "Worker processes").
    """

    # Sequences, not lists: a list is invariant to type checkers, so a list[Path] of models (or a tuple of tasks)
    # was refused though it runs.
    def __init__(self, tasks: Sequence[str] | str | None = None, detector: str | FaceDetector | None = "auto",
                 landmarks: bool | str = False, confidence: float | None = None,
                 models: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
                 fine_pass: bool = True, int8: bool | None = None, commercial_use: bool | None = None) -> None:
        from .heads import load_heads, withheld_heads
        from .licensing import check_detector, from_env

        if isinstance(tasks, str):  # list("mask") would ask for tasks 'm', 'a', 's', 'k'
            text, tasks = tasks, [t.strip() for t in tasks.split(",") if t.strip()]
            if not tasks:  # as --tasks "" does: an unset variable would turn every head off
                raise ArgumentError(f"tasks={text!r}: give at least one task, e.g. 'mask' or 'mask,emotion'")
        # As --confidence: 50 (a percentage) or NaN found no face without a word, and "0.5" (a web form's
        # value) was a bare TypeError from inside the detector.
        if confidence is not None and (not _is_number(confidence) or not 0.0 <= confidence <= 1.0):
            raise ArgumentError(f"confidence must be None (the detector's own default) or a number from 0 to 1, "
                                f"e.g. 0.6; got {confidence!r}")
        # Anything else failed at the first photo as an AttributeError from inside the pipeline ("" too).
        if detector is not None and not isinstance(detector, str) and not callable(getattr(detector, "detect", None)):
            raise ArgumentError(f"detector must be a name ({', '.join(_detector_names())}), \"auto\", None or an "
                                f"object with detect(image) -> list[Face]; got {detector!r}")
        # Read by their truth, landmarks="no" or "false" (a config file's, an environment variable's) turned the mesh
        # on, as fine_pass="no" and int8="false" turned on what they named off.
        if not (landmarks is None or _is_bool(landmarks) or landmarks in ("mesh", "5")):
            raise ArgumentError(f"landmarks must be True, False, 'mesh' or '5'; got {landmarks!r}")
        for name, flag in (("fine_pass", fine_pass), ("int8", int8)):
            if not (_is_bool(flag) or (name == "int8" and flag is None)):
                raise ArgumentError(f"{name} must be True or False{' (or None)' if name == 'int8' else ''}; "
                                    f"got {flag!r}")
        if isinstance(models, (str, os.PathLike)):  # one folder: its characters were read as folders ("/card.json")
            models = [models]
        # tasks=5 or models=5 was "'int' object is not iterable", naming neither.
        tasks = _names("tasks", tasks, str, "head names such as 'mask' (a model folder goes in models=)")
        models = _names("models", models, (str, os.PathLike), "model folders, as str or Path")
        if not (commercial_use is None or _is_bool(commercial_use)):
            raise ArgumentError(f"commercial_use must be True, False or None; got {commercial_use!r}")
        self.commercial_use = from_env(commercial_use)
        if isinstance(detector, str):
            # As --detector reads it: detector="YuNet" or "SCRFD" (the README's and the papers' spelling) was
            # "unknown detector 'YuNet'" from the library, though the scripts take it.
            detector = detector.strip().lower().replace("_", "-")
            if self.commercial_use and detector == "auto":
                detector = "yunet"
            elif self.commercial_use:  # before any weights load, the heads' included
                check_detector(detector, f"detector={detector!r}")
        heads = load_heads(tasks=list(tasks) if tasks is not None else None,
                           model_paths=[str(m) for m in models or []], int8=int8, commercial_use=self.commercial_use)
        # The heads a commercial run left out, by task, with their terms: said, not silently missing.
        self.withheld = withheld_heads([str(m) for m in models or []]) if self.commercial_use and tasks is None else {}
        landmarker = None
        if landmarks:
            from .landmarks import create_landmarker

            landmarker = create_landmarker()
        auto = detector == "auto"
        self.detector_name = DEFAULT_DETECTOR if auto else detector if isinstance(detector, str) else None
        self.video_detector_name = VIDEO_DETECTOR if auto else self.detector_name
        self.confidence = confidence
        self.fine_pass = fine_pass
        # A caller's object needs only detect(): the pipeline reads Detector's other attributes with getattr.
        super().__init__(self._detector(self.detector_name, fine_pass) if self.detector_name is not None
                         else cast("Detector | None", detector), heads, landmarker)
        self.int8 = int8
        self._video_pipelines: dict[bool, FacePipeline] = {}

    def _detector(self, name: str, fine_pass: bool):
        from .detection import create_detector

        return create_detector(name, self.confidence, fine_pass)

    @property
    def tasks(self) -> list[str]:
        """The loaded heads' tasks, in the order they run (and their CSV columns come)."""
        return list(self.heads)

    @property
    def task_labels(self) -> dict[str, list[str]]:
        """Task -> its labels in output order (the columns of CSV and Parquet records)."""
        return {t: list(h.labels) for t, h in self.heads.items()}

    def record_columns(self) -> list[str]:
        """The per-face columns of the video CSV and the batch Parquet, for this analyzer's stages."""
        from .records import csv_columns

        if self.landmarker is None:
            return csv_columns(self.task_labels)
        from .landmarks import MEASURE_NAMES

        return csv_columns(self.task_labels, pose=True, measures=MEASURE_NAMES)

    # Iterable: as list[Face | Box | tuple] (invariant), the list[Face] of an earlier call, README's own example,
    # or a list of tuples was an error to type checkers; a box may be a numpy row, as another detector gives it.
    def analyze(self, image: ImageInput, faces: Iterable[Face | Box | Sequence[float] | np.ndarray] | None = None,
                rotate: int | None = None) -> Faces:
        """Faces in `image`, each with every head's prediction, sorted by detection score (`faces` given: in
        their order, one for each, so the results line up with the caller's list).

        image: a path, an encoded image held in memory (bytes) or a binary file object (BytesIO, open(path, "rb"),
            an upload's stream: read once, from where it stands), a PIL image (RGB taken as RGB), or an array,
            read as BGR as OpenCV gives it: gray, BGR, BGRA, 8- or 16-bit, or float (0-1 or 0-255). An RGB
            array (np.asarray of a PIL image, plt.imread) must be passed as `rgb[..., ::-1]`: read as BGR, the
            mask head put masks on bare faces; an RGBA one (a PNG with alpha) as `rgba[..., [2, 1, 0, 3]]`
            (`[..., ::-1]` gives ABGR, masks again), a 2-D gray one as it is (`[..., ::-1]` mirrors it).
        faces: Face objects, Boxes or (x1, y1, x2, y2) tuples, e.g. from another detector: skip detection and
            run the heads (and landmarks) on those boxes instead, clipped to the image as the detectors' boxes
            are; a bare box gets score 1.0.
        rotate: turn the image 90, 180 or 270 degrees clockwise first (after a file's EXIF orientation), as
            detect_mask_image.py --rotate: a photo whose orientation was lost. Boxes (and `faces`) are then in the
            turned image's pixels. None (the default): as it is, but where it shows no face or only weak ones (best
            score under TURN_SEARCH_BELOW), or its best face scores clearly higher turned half a turn (read again
            in a small crop), it is searched turned each other way, and a turn with clearly stronger
            faces is kept: the result's `turned` names it (a Faces list), its boxes still in the image's own
            pixels, each face read levelled as it lies. 0: as it is, no search.
        Raises facekit.ImageError for what is not an image (no such file, also a FileNotFoundError; a URL, a batch
        of images: call it once per image), ArgumentError for a bad box or rotate, ValueError once the analyzer is
        closed."""
        self._check_open()
        image = rotate_clockwise(as_image(image), 0 if rotate is None else check_rotation(rotate))
        turned = 0
        if faces is None:
            if self.detector is None:
                self._check_open()  # closed by another thread since the check above: say that, not "no detector"
                raise ArgumentError("this analyzer has no detector: pass faces=, or use classify_whole()")
            listed = self.detect(image)
            if rotate is None:
                listed, turned = self._turn(image, listed)
        else:
            listed = [_given_face(f, i, image.shape[1], image.shape[0]) for i, f in enumerate(_face_list(faces))]
        return Faces(super().analyze(image, listed), turned)

    def _turn(self, image: np.ndarray, faces: list[Face]) -> tuple[list[Face], int]:
        """`faces` (found in `image` as it is) and 0 where one of them stands upright and scores TURN_SEARCH_BELOW
        or more (under TURN_CHECK_BELOW, unless its crop scores clearly higher turned half a turn: then that turn is
        searched, and kept for any gain): a photo as people take them. Where only faces lying on their side score
        that much (found by the detector's sideways pass), the same faces and the turn that stands them up.
        Else (no face, or only weak ones) the faces of the turn (0, 90, 180, 270 clockwise) whose faces are
        clearly the strongest, in `image`'s pixels, and that turn. Upside down a face is found, if at all, with its
        box ~40% of its height toward the hair and read upside down by the heads: the photo's own weak faces are
        not merged with the turn's."""
        strong = [f for f in faces if f.score >= TURN_SEARCH_BELOW]
        standing = [f for f in strong if _standing(f)]
        if standing and (standing[0].score >= TURN_CHECK_BELOW or not self._upside_down(image, standing[0])):
            return faces, 0
        if strong and not standing:
            roll = float(np.median([face_roll(f.detector_keypoints) for f in strong]))
            return faces, int(-round(roll / 90.0) * 90) % 360
        best, turn, own = 0.0, 0, _strength(faces)
        search = self._searcher()
        # Weak faces standing as read: a photo upside down (turned a quarter turn, its faces would have been found
        # lying, by the sideways pass) or a masked crowd's upright faces (a third of mask_real_train's scenes score
        # under 0.75): one search, not three. None, or some lying: every turn. Faces the crop check found better
        # turned: every turn too, as a face lying on its side can read as standing (2008_002506.jpg turned 270 with
        # YuNet: 0.78 as read, 0.81 turned 180, its three faces at 0.91-0.94 turned 90).
        for degrees in (180,) if faces and not standing and all(_standing(f) for f in faces) else (180, 90, 270):
            turned = rotate_clockwise(image, degrees)
            with self.times.stage("turn search"):
                found = inside(search.detect(turned), turned.shape)
            strength = _strength(found)
            # The crop said upside down: YuNet reads most such faces nearly as well as upright (crowd_masks.jpg
            # turned 180: 18 faces at 0.89-0.90 as read, 0.94 turned), so any gain keeps half a turn, where its best
            # face scores more than the photo's own: a masked scene turned 180, its face at 0.90 as read and turned,
            # was taken as lying on a false second face turned 90.
            gain = 1.0 if standing and degrees == 180 else TURN_GAIN
            top = max((f.score for f in found if _standing(f)), default=0.0)
            if strength > max(gain * own, best) and (not standing or top > standing[0].score):
                best, turn = strength, degrees
        if not turn:
            return faces, 0
        h, w = image.shape[:2]
        found = self.detect(rotate_clockwise(image, turn))  # every pass, as the photo's own search had
        return sorted((_unturned(f, turn, w, h) for f in found), key=lambda f: -f.score), turn

    def _upside_down(self, image: np.ndarray, face: Face) -> bool:
        """Whether `face` scores TURN_CHECK_MARGIN more turned half a turn than as it is, read in a crop twice its
        box (at most TURN_CHECK_SIDE px; grey past the image's edges), each way the best score near its middle."""
        x1, y1, x2, y2 = crop_region(face.box, TURN_CHECK_CROP)
        h, w = image.shape[:2]
        crop = np.full((y2 - y1, x2 - x1) + image.shape[2:], 127, dtype=image.dtype)
        crop[max(0, -y1):min(h, y2) - y1, max(0, -x1):min(w, x2) - x1] = image[max(0, y1):y2, max(0, x1):x2]
        if max(crop.shape[:2]) > TURN_CHECK_SIDE:
            crop = cv2.resize(crop, (TURN_CHECK_SIDE, TURN_CHECK_SIDE), interpolation=cv2.INTER_AREA)
        side = crop.shape[0]
        search = self._searcher()
        # The close-up pass reads a face filling the frame from a framed copy, where one upside down scores nearly
        # as well as turned (obama_and_biden.jpg turned 180: 0.82 and 0.85; the crop's own pass: 0.74 and 0.85).
        quick = {"closeup": False} if getattr(search, "optional_closeup", False) else {}
        scores = []
        for view in (crop, rotate_clockwise(crop, 180)):
            with self.times.stage("turn check"):
                found = search.detect(view, **quick)
            scores.append(max((f.score for f in found if abs((f.box.x1 + f.box.x2) / 2 - side / 2) < 0.3 * side
                               and abs((f.box.y1 + f.box.y2) / 2 - side / 2) < 0.3 * side), default=0.0))
        return scores[1] >= scores[0] + TURN_CHECK_MARGIN

    def _searcher(self) -> FaceDetector:
        """The detector for the turn search: the analyzer's, without its fine pass (an upscaled pass or tiles,
        which a turned photo showing no face always gets: 3x the detection of one showing faces). A shallow
        copy, sharing its sessions."""
        detector = self.detector
        if detector is None:
            self._check_open()  # closed by another thread mid-call
        options = getattr(detector, "options", None)
        if isinstance(options, DetectorOptions) and options.fine_pass:
            detector = copy.copy(detector)
            cast(Any, detector).options = dataclasses.replace(options, fine_pass=False)  # as it was found to have
        # Not None: close() marks the analyzer closed, which _check_open raised on, before it lets the detector go.
        return cast(FaceDetector, detector)

    def __call__(self, image: ImageInput) -> Faces:
        return self.analyze(image)

    def detect(self, image: ImageInput, closeup: bool = True, rotate: int = 0) -> list[Face]:
        """Faces in `image` without any head: boxes and scores, sorted by score. Takes what analyze() takes, rotate=
        too. closeup=False skips the detector's close-up pass (video, between due frames)."""
        # The pipeline's took only 8-bit BGR arrays: a path was "'str' object has no attribute 'shape'", a gray one
        # an onnxruntime error, a float one in [0, 1] no face at all. A frame that is one already is passed as it is.
        # closeup="false" (a query string's value) ran the close-up pass without a word, as any truthy value did.
        if not _is_bool(closeup):
            raise ArgumentError(f"closeup must be True or False; got {closeup!r}")
        return super().detect(rotate_clockwise(as_image(image), check_rotation(rotate)), bool(closeup))

    def classify_whole(self, image: ImageInput) -> Face:
        """The whole image is one face crop (no detection): one Face with every head's prediction."""
        self._check_open()
        return super().classify_whole(as_image(image))

    def why_unlabelled(self, image: ImageInput, face: Face, task: str | None = None) -> str | None:
        """FacePipeline.why_unlabelled on what analyze() takes: a path raised "string indices must be integers",
        and a float array in [0, 1] would read as too dark."""
        # analyze()'s whole list (or a record) was "'Faces' object has no attribute 'predictions'" from inside.
        if not isinstance(face, Face):
            hint = ": one face of it, e.g. faces[0]" if isinstance(face, (list, tuple)) else ""
            raise ArgumentError(f"why_unlabelled() takes one Face (from analyze()), got a {type(face).__name__}{hint}")
        return super().why_unlabelled(as_image(image), face, task)

    # A Generator, not an Iterator: README wraps it in contextlib.closing(), which type checkers refused for an
    # Iterator (it has no close()).
    def analyze_video(self, source: str | int | os.PathLike[str] | Iterable[ImageInput], detect_every: int = 1,
                      every: int = 1, max_frames: int | None = None, smooth: float = 0.6, fine_pass: bool = False,
                      head_every: int = HEAD_EVERY, fps: float | None = None,
                      progress: bool = False, rotate: int = 0, start_s: float | None = None,
                      end_s: float | None = None) -> Generator[VideoResult, None, None]:
        """Yield `(frame_index, time_s, faces)` (a VideoResult, whose `.frame` is the frame) for a video file, camera
        index or stream URL, or for frames the caller holds (a list of image arrays or image paths, or a generator
        over another capture library such as picamera2), with each face's `track_id` kept across frames and its
        probabilities smoothed per track. For frames the caller holds, `.frame` is the BGR image analysed (a path
        read, a gray or RGBA frame converted). Held arrays are read as analyze() reads them, as BGR: pass RGB
        frames (imageio's, PyAV's to_ndarray(format="rgb24"), decord's) as `frame[..., ::-1]`, or the mask head
        puts masks on bare faces. A file's time_s counts from its first picture, which a player may show later
        (the hamilton clip's at 0.852 s): facekit.container.sound(path).picture_start_s is that delay (sound() is
        None for a container it does not read, MPEG-TS say).

        detect_every: run the detector every K analysed frames and follow faces by tracking between.
        every: analyse only every N-th frame of the source (frames in between are decoded, not analysed).
        max_frames: stop after this many analysed frames. smooth: the weight of the past in per-track
            smoothing, in [0, 1): 0 turns it off, 0.9 is very steady (as --smooth).
        fine_pass: also run the detector's small-face pass on every frame (2-3x detector time); on frames over
            1280 px, which one pass sees shrunk to 1280, full-size tiles (a 4K frame: 0.29 of a crowd's
            small faces found without, 0.76 with, for 11x the detector time).
        head_every: re-run the heads on a tracked face only every K frames, where the video loop
            supports it.
        fps: for frames the caller holds, the rate they were recorded at (a finite number above 0; times
            from the frame index); None treats them as a live feed (times from the wall clock; a list or array,
            a recording's frames, with a warning that says so). An image
            sequence's path (frames/%04d.png) takes it too (it holds no rate; None: 30 fps, with a warning);
            for a video file, camera or stream, whose times are their own, it is an ArgumentError.
        progress: show a bar of the frames read (their total where known: the frames a file shows, a list's length;
            at the end, the frames the file gave), a widget in a Jupyter notebook where ipywidgets is installed, else text on standard error.
        rotate: turn every frame 90, 180 or 270 degrees clockwise (after a file's own rotation flag), as
            detect_mask_video.py --rotate: a phone video whose flag was lost, a camera mounted upside down. Each
            result's `.frame` and boxes are the turned frame's.
        start_s, end_s: a video file's frames from the first at start_s seconds or after, up to the last before
            end_s (as detect_mask_video.py --start / --end; facekit.video.parse_time reads "10:00" or "1:02:03.5"):
            it seeks there, and each result keeps its frame_index and time_s in the whole file (a constant-rate
            file's numbers; a variable-rate file's first one is its time x the average rate). every=N counts from
            the range's first frame. A camera, stream, image sequence or held frames are a VideoError; a start
            past the file's end is facekit.video.NothingInRange (a VideoError).
        Raises facekit.errors.VideoError when the source cannot be opened or breaks while read (a held frame
        that is not an image: its index), and ArgumentError (a FacekitError and a ValueError) for a step or a
        frame count below 1, a smooth outside [0, 1) or a bad fps, before opening the source. Being a
        generator, it raises them on the first iteration, not at the call.
        """
        self._check_open()
        # The scripts refuse these values (--max-frames 0 too); here every < 1 analysed every frame and a
        # negative max_frames ended the video at once, with nothing to say why.
        for name, value in (("detect_every", detect_every), ("every", every), ("head_every", head_every)):
            _check_count(name, value)
        if max_frames is not None:
            _check_count("max_frames", max_frames)
        if not _is_bool(fine_pass):  # "no" ran the small-face pass on every frame
            raise ArgumentError(f"fine_pass must be True or False; got {fine_pass!r}")
        # The tracker's own check came only once the source was open, as a bare ValueError.
        if not _is_number(smooth) or not 0.0 <= smooth < 1.0:
            raise ArgumentError(f"smooth must be a number in [0, 1): 0 = off, 0.9 = very steady; got {smooth!r}")
        # fps=0 fell back to 30 without a word, a negative or NaN rate gave negative or NaN times, "25" passed.
        if fps is not None and (not _is_number(fps) or not math.isfinite(fps) or fps <= 0):
            raise ArgumentError(f"fps must be None (a live feed) or a finite number above 0, e.g. 25; got {fps!r}")
        if not _is_bool(progress):
            raise ArgumentError(f"progress must be True or False; got {progress!r}")
        rotate = check_rotation(rotate)
        span = _time_range(start_s, end_s)

        from .pipeline import for_one_video, track_faces
        from .tracking import IoUTracker
        from .video import (EveryNth, FrameIterable, FrameSource, SourceSpec, _is_sequence, fill_bar, opencv_quiet,
                            progress_total)

        # OpenCV's own lines (an image sequence's end, a stream that does not answer) are left out while the
        # video runs, the caller getting one VideoError; its log level is the host's again after.
        with opencv_quiet():
            pipeline = for_one_video(self._pipeline_for_video(fine_pass))
            # A path as bytes (os.fsencode, os.listdir(b".")), which analyze() takes, was "a video held in memory
            # (bytes) is not read": a video's own bytes are longer, and hold NULs in their first box or header.
            if isinstance(source, (bytes, bytearray)) and 0 < len(source) <= 4096 and b"\0" not in source:
                source = os.fsdecode(bytes(source))
            # True is an int: it was looked for as a file named "True".
            if isinstance(source, (bool, np.bool_)):
                raise VideoError(f"expected a video file, camera index, stream URL or frames, got {source!r}")
            frames: FrameSource | FrameIterable
            if isinstance(source, (str, int, os.PathLike)):
                if not isinstance(source, int):
                    source = os.fsdecode(source)  # its path, as the warnings below name it (not "<DirEntry ...>")
                spec = SourceSpec.parse(source)
                if fps is not None and not (spec.kind == "file" and _is_sequence(spec.path)):
                    # A file's times are its container's, a camera's the clock's: fps=25 on a 29.97 fps clip
                    # was ignored without a word, where the script's --fps is an error.
                    raise ArgumentError(f"fps is for frames held in memory or an image sequence (frames/%04d.png), "
                                        f"which hold no frame rate: {spec.describe()}'s times are its own")
                # A live stream that drops is opened again (facekit.video.RECONNECT_WINDOW_S); each try is a
                # warning on the "facekit" logger, which Python prints to stderr unless logging is set up.
                # stderr is not held while it opens: the host's other threads (a web server's log) write there.
                frames = FrameSource(source, notify=logging.getLogger("facekit").warning, hold_stderr=False,
                                     rotate=rotate, **span)
                if frames.sequence:  # frames/%04d.png holds no rate: fps= gives it, as for held frames
                    if fps is not None:
                        frames.timed_at(fps)
                    else:
                        logging.getLogger("facekit").warning(
                            "%s has no frame rate: timed at %g fps (fps= gives its own)", source, frames.fps)
            elif isinstance(source, (bytes, bytearray, memoryview, io.IOBase)):
                # Iterated, a video's bytes are ints and an open file its lines: "frame 0: got int" named no cause.
                raise VideoError(f"a video held in memory ({type(source).__name__}) is not read: write it to a file "
                                 f"and pass its path (analyze() takes a photo's bytes or file)")
            elif isinstance(source, np.ndarray) and source.ndim < 4:
                raise VideoError("one image array is a photo: use analyze(), or pass a list of frames")
            else:
                try:
                    iterator = iter(source)
                except TypeError:
                    raise VideoError(f"expected a video file, camera index, stream URL or frames, got "
                                     f"{type(source).__name__}") from None
                if span:  # held frames' times are the wall clock's or their index's: nothing to seek in
                    raise VideoError("start_s / end_s are for a video file: frames held in memory have no times "
                                     "to seek to (slice them: frames[start:end])")
                frames = FrameIterable(iterator, fps, rotate, held=isinstance(source, (list, tuple, np.ndarray)))
                if fps is None and hasattr(source, "__len__"):
                    # A list is a recording's frames (a folder's, imageio's), never a live feed: timed as they were
                    # analysed, its time_s measured the analysis (0.23 s apart on 2 cores), without a word.
                    logging.getLogger("facekit").warning(
                        "the %d frames given (a %s) have no frame rate: timed by the wall clock as they are analysed, "
                        "as a live feed's (fps= gives a recording's times)", len(cast(Sized, source)),
                        type(source).__name__)
            bar = None
            try:
                if progress:
                    total = getattr(frames, "frames_shown", None)
                    if total is None and not isinstance(source, (str, int, os.PathLike)) and hasattr(source, "__len__"):
                        total = len(cast(Sized, source))
                    total = progress_total(total, max_frames, every)
                    # A held list of frames is "live" without fps= (timed as they come) but has its length: the bar
                    # counted "4frame" with no total. Only a camera's or a stream's count means nothing.
                    bar = _progress_bar(None if frames.live and not isinstance(frames, FrameIterable) else total)
                reader = EveryNth(frames, every) if every > 1 else frames
                tracker = IoUTracker(smooth=float(smooth), max_missed=max(15, 2 * detect_every))
                run = VideoRun()
                for index, frame, faces in track_faces(reader, pipeline, tracker, detect_every, max_frames,
                                                         head_every=head_every):
                    # A video begun before close() runs on its own copy of the pipeline: stop it here all the same.
                    self._check_open()
                    if bar is not None:  # frames read, not analysed: with every=N the count still reaches the total
                        bar.update(int(index) + 1 - getattr(frames, "first_index", 0) - bar.n)
                    for face in faces:  # this run's mark, for annotate()'s label memory (facekit.types.VideoRun)
                        object.__setattr__(face, VIDEO_RUN, run)
                    # a file's own timestamps (a variable frame rate is followed); a live frame's arrival
                    yield VideoResult(int(index), float(frames.time_s(index)), faces, frame)
                if bar is not None:
                    fill_bar(bar, getattr(frames, "frames_read", bar.total))
            finally:
                if bar is not None:
                    bar.close()
                frames.close()
                from .runtime import give_back_freed_memory

                give_back_freed_memory()  # once the reader thread is gone: what its arena kept goes back

    def __repr__(self) -> str:
        """What it runs, as a notebook shows it (it was "<facekit.analyzer.FaceAnalyzer object at 0x7f...>")."""
        if self._closed:
            return "<FaceAnalyzer, closed>"
        detector = repr(self.detector_name) if self.detector_name is not None else \
            "None" if self.detector is None else f"<{type(self.detector).__name__}>"  # the caller's own object
        if self.video_detector_name != self.detector_name:  # "auto": another detector for video
            detector += f", video_detector={self.video_detector_name!r}"
        return (f"FaceAnalyzer(tasks={self.tasks!r}, detector={detector}, landmarks={self.landmarker is not None}"
                + (", commercial_use=True)" if self.commercial_use else ")"))

    def close(self) -> None:
        super().close()
        for pipeline in self._video_pipelines.values():
            if pipeline is not self:
                pipeline.close()
        self._video_pipelines = {}

    def _pipeline_for_video(self, fine_pass: bool) -> FacePipeline:
        """This analyzer with the video detector and the heads as video runs them (built once each)."""
        if fine_pass not in self._video_pipelines:
            from .heads import video_heads

            heads = self.heads if self.int8 is not None else video_heads(self.heads)
            same_detector = self.detector_name is None or \
                (self.video_detector_name, fine_pass) == (self.detector_name, self.fine_pass)
            if same_detector and heads is self.heads:
                self._video_pipelines[fine_pass] = self
            else:
                # Not same_detector: a detector name was given, so the video's is one too.
                detector = self.detector if same_detector else \
                    self._detector(cast(str, self.video_detector_name), fine_pass)
                video = FacePipeline(detector, heads, self.landmarker, self.min_face)
                video.shown_as = type(self).__name__  # closed with this analyzer: its error names what the user holds
                self._video_pipelines[fine_pass] = video
        return self._video_pipelines[fine_pass]


def _progress_bar(total: int | None):
    """analyze_video's bar: tqdm's notebook widget in Jupyter, text on stderr elsewhere. Without ipywidgets
    (JupyterLab alone) tqdm.auto still picks the widget, warns "IProgress not found" and raises: text there."""
    import importlib.util
    import sys

    # Drawn though standard error is no terminal (a notebook's is not): the caller asked for it. Only a closed one
    # (pythonw, 2>&-: sys.stderr is None, which tqdm writes to anyway) gets none.
    options: dict[str, Any] = dict(total=total, unit="frame", desc="frames", disable=sys.stderr is None)
    try:
        widgets = importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # ValueError: a module without a spec in sys.modules
        widgets = False
    if widgets:
        try:
            from tqdm.auto import tqdm

            return tqdm(**options)
        except ImportError:  # an ipywidgets tqdm cannot use
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(file=sys.stderr, **options)


def _detector_names() -> list[str]:
    from .detection import DETECTORS

    return list(DETECTORS)


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"{name} must be a whole number, 1 or more; got {value!r}")


def _time_range(start_s, end_s) -> dict:
    """analyze_video's start_s / end_s checked, as FrameSource takes them (those not given left out)."""
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        # "10:00" would be 10 hours or 10 minutes to nobody's knowledge: seconds only, parse_time reads the rest.
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
            raise ArgumentError(f"{name} must be None or seconds from the video's start, 0 or more (a float; "
                                f"facekit.video.parse_time('10:00') gives 600.0); got {value!r}")
    if end_s is not None and end_s <= (start_s or 0.0):
        raise ArgumentError(f"end_s ({end_s!r}) must be after start_s ({start_s or 0.0!r}): the range is the "
                            "frames from start_s up to end_s")
    return {name: float(value) for name, value in (("start_s", start_s), ("end_s", end_s)) if value is not None}


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _names(name: str, value, kinds, what: str) -> list | None:
    """`tasks` or `models` as a list, or one ArgumentError naming the argument."""
    if value is None:
        return None
    try:
        items = list(value)
    except TypeError:
        items = None
    if items is None or isinstance(value, (bytes, Mapping)) or not all(isinstance(i, kinds) for i in items):
        raise ArgumentError(f"{name} must be a list of {what}; got {value!r:.200}")
    return items


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _face_list(faces) -> list:
    if isinstance(faces, (str, bytes, Face, Box)):  # one face where a list of them is expected
        raise ArgumentError(f"faces: expected a list of Faces, Boxes or (x1, y1, x2, y2) tuples, got {faces!r}")
    try:
        return list(faces)
    except TypeError:
        raise ArgumentError(f"faces: expected a list of Faces, Boxes or (x1, y1, x2, y2) tuples, got "
                            f"{type(faces).__name__}") from None


def _given_face(face, index: int, width: int, height: int) -> Face:
    """A caller's face for `analyze(faces=)`: a Face, a Box or (x1, y1, x2, y2), clipped to the image (a
    box reaching past the edge otherwise read as a dark, unlabelled face; see Box). A box that is not one
    (not 4 numbers, inverted, empty, NaN) is an ArgumentError naming it: it used to come back as a Face
    with no labels, or as a bare error from deep inside."""
    def bad(why: str) -> ArgumentError:
        return ArgumentError(f"faces[{index}] = {face!r}: {why}")

    coords = None
    if isinstance(face, (Face, Box)):
        coords = (face.box if isinstance(face, Face) else face).as_list()
    elif not isinstance(face, (str, bytes)):  # a string is iterable too: "1234" would read as (1, 2, 3, 4)
        try:
            coords = list(face)
        except TypeError:
            pass
    if coords is None or len(coords) != 4 or not all(isinstance(v, numbers.Real) for v in coords):
        hint = " (one box? pass faces=[box])" if isinstance(face, numbers.Real) else ""
        if coords is not None and len(coords) == 5:  # MTCNN's, RetinaFace's, InsightFace's rows: the box, its score
            hint = " (x1, y1, x2, y2 and a score, as other detectors give them? pass the first 4: boxes[:, :4])"
        raise bad(f"expected a Face, a Box or (x1, y1, x2, y2), 4 numbers{hint}")
    x1, y1, x2, y2 = (float(v) for v in coords)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise bad("box coordinates must be finite numbers")
    if x2 <= x1 or y2 <= y1:
        # OpenCV's detectMultiScale (the Haar cascade of the PyImageSearch tutorial) gives (x, y, w, h): a face's
        # width is often under its x, so the box read inverted.
        hint = ("; (x, y, width, height), as OpenCV's detectMultiScale gives? pass (x, y, x + w, y + h)"
                if x2 > 0 and y2 > 0 else "")
        raise bad(f"an empty or inverted box (x1, y1, x2, y2 needs x2 > x1 and y2 > y1){hint}")
    clipped = Box.clipped(x1, y1, x2, y2, width=width, height=height)
    return face.replace(box=clipped) if isinstance(face, Face) else Face(box=clipped, score=1.0)


_default: tuple[dict, FaceAnalyzer, tuple] | None = None  # (options, the analyzer built with them, its heads' files)
_default_lock = threading.Lock()


def _head_files(analyzer: FaceAnalyzer) -> tuple:
    """Each head's model file and card as the file system has them now (inode, mtime, size): a head retrained in
    place (the trainer replaces its folder whole) is another file under the same name."""
    from .heads import CARD

    seen: list[tuple[int, int, int] | None] = []
    for head in analyzer.heads.values():
        for path in (head.model_path, head.folder / CARD):
            try:
                st = os.stat(path)
                seen.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                seen.append(None)
    return tuple(seen)


def _check_options(options: dict) -> None:
    """A misspelt option was "FaceAnalyzer.__init__() got an unexpected keyword argument", naming a call the user
    never wrote; faces= belongs to FaceAnalyzer.analyze, which a user reading its help tried here."""
    import inspect

    params = inspect.signature(FaceAnalyzer.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):  # a subclass that takes **options hands them on itself
        return
    known = [p.name for p in params if p.name != "self"]
    for name in options:
        if name not in known:
            where = " (faces= is FaceAnalyzer(...).analyze(image, faces=...)'s)" if name == "faces" else ""
            raise TypeError(f"facekit.analyze() got an unexpected keyword argument {name!r}{where}; "
                            f"it takes FaceAnalyzer's options: {', '.join(known)}")


def analyze(image: ImageInput, **options: Any) -> Faces:
    """`facekit.analyze("photo.jpg")`: faces with every head, the analyzer built on first call and
    kept for later calls with the same options (threads calling at once share one, built once), and built again
    where a head's files changed since (a notebook's head retrained between two calls kept the old one's labels).
    Its defaults, SCRFD and the gender head, are for non-commercial research only: detector="yunet",
    tasks="mask,emotion" runs neither, but those heads are for research and education; commercial_use=True (or
    FACEKIT_COMMERCIAL_USE=1) loads only weights whose terms allow commercial use.

    options: FaceAnalyzer's (tasks=, detector=, landmarks=, confidence=, ...), e.g.
    `facekit.analyze("photo.jpg", tasks="mask", landmarks=True)`; for faces= build a FaceAnalyzer."""
    global _default
    from .licensing import ENV

    # FACEKIT_COMMERCIAL_USE set after a first call (an app's settings read late) kept the analyzer built without it,
    # SCRFD and every head: it is one of the options, as commercial_use= is.
    key = {**options, ENV: os.environ.get(ENV)}
    with _default_lock:
        if _default is None or _default[0] != key or _head_files(_default[1]) != _default[2]:
            _check_options(options)
            built = FaceAnalyzer(**options)
            _default = (key, built, _head_files(built))
        analyzer = _default[1]
    return analyzer.analyze(image)
