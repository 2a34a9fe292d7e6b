"""The one result object that flows through every stage: detection, heads, landmarks,
tracking, drawing and the JSON / CSV writers.

Objects are frozen; a stage that adds information returns a copy (`dataclasses.replace`),
so a list of faces can be handed to several consumers without surprises.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field, fields, replace
from typing import IO, TYPE_CHECKING, Any, Iterator, Mapping, TypeGuard, Union

import numpy as np

from .errors import ArgumentError

# What analyze(), classify_whole() and annotate() take as a photo (facekit.preprocess.as_image): a path, an encoded
# image held in memory or a binary file object (BytesIO, open(path, "rb"), an upload's stream: IO[bytes], which
# SpooledTemporaryFile is too), an array (BGR, gray, BGRA, any dtype) or a PIL image. Left unannotated, pyright took
# the base class's np.ndarray for it and flagged analyzer.analyze("photo.jpg"), README's first example, as an error.
if TYPE_CHECKING:
    from PIL.Image import Image as PILImage  # the caller's own library, not a dependency: for checkers only

    ImageInput = Union[str, bytes, bytearray, memoryview, os.PathLike[str], os.PathLike[bytes], IO[bytes], np.ndarray,
                       PILImage]
else:
    # The same less PIL, not imported here: a name only checkers know made typing.get_type_hints() of analyze()
    # a NameError (FastAPI, Typer, pydantic's validate_call read the hints).
    ImageInput = Union[str, bytes, bytearray, memoryview, os.PathLike, IO[bytes], np.ndarray]


@dataclass(frozen=True)
class Box:
    """Pixel box, x1/y1 inclusive and x2/y2 exclusive, always inside the image it came from."""

    x1: int
    y1: int
    x2: int
    y2: int

    @classmethod
    def clipped(cls, x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> "Box":
        """Round a float box to pixels and clip it to a `width` x `height` image."""
        return cls(
            int(max(0, min(width, round(x1)))),
            int(max(0, min(height, round(y1)))),
            int(max(0, min(width, round(x2)))),
            int(max(0, min(height, round(y2)))),
        )

    @property
    def width(self) -> int:
        """x2 - x1, in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        """y2 - y1, in pixels."""
        return self.y2 - self.y1

    @property
    def area(self) -> int:
        """width * height in pixels (0 for an empty box)."""
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) of the box's middle, in pixels."""
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def is_valid(self, min_size: int = 2) -> bool:
        """True where the box is at least `min_size` pixels wide and high."""
        return self.width >= min_size and self.height >= min_size

    def iou(self, other: "Box | Face | tuple[float, float, float, float]") -> float:
        """Intersection over union with `other`, a Box, a Face or (x1, y1, x2, y2) as analyze(faces=) takes them:
        0 (apart) to 1 (the same box)."""
        # A plain tuple (another detector's box) raised "'tuple' object has no attribute 'x2'".
        x1: float
        y1: float
        x2: float
        y2: float
        if isinstance(other, (Box, Face)):
            x1, y1, x2, y2 = (other.box if isinstance(other, Face) else other).as_list()
        else:
            coords = None if isinstance(other, (str, bytes)) else np.asarray(other, dtype=object).ravel()
            if coords is None or coords.size != 4 or not all(_is_real(v) for v in coords):
                raise ArgumentError(f"Box.iou takes a Box, a Face or (x1, y1, x2, y2), 4 numbers; got {other!r:.100}")
            x1, y1, x2, y2 = (float(v) for v in coords)
        ix = max(0, min(self.x2, x2) - max(self.x1, x1))
        iy = max(0, min(self.y2, y2) - max(self.y1, y1))
        inter = ix * iy
        union = self.area + max(0, x2 - x1) * max(0, y2 - y1) - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[int]:
        """[x1, y1, x2, y2], as to_dict() and the image JSON write the box."""
        return [self.x1, self.y1, self.x2, self.y2]

    # print(face) shows box=(x1, y1, x2, y2), so `x1, y1, x2, y2 = face.box` (and tuple(face.box)) is what an app
    # writes first: it was "'Box' object is not iterable", at run time and to type checkers.
    def __iter__(self) -> Iterator[int]:
        """x1, y1, x2, y2 in turn: `x1, y1, x2, y2 = face.box`."""
        return iter(self.as_list())


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in `a` (N, 4) with every box in `b` (M, 4): an (N, M) array."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass(frozen=True)
class Prediction:
    """One head's answer for one face: the top label, its probability and every class's."""

    label: str
    score: float
    probabilities: Mapping[str, float]

    @classmethod
    def from_probabilities(cls, labels: list[str], probs: np.ndarray) -> "Prediction":
        """The Prediction of one probability per label, in the same order: the top one is the label."""
        probs = np.asarray(probs, dtype=np.float64)
        # zip() dropped the labels past the last probability without a word, and a model's (1, N) output (a batch of
        # one) or one probability too many was an IndexError from inside.
        if probs.ndim != 1 or len(probs) != len(labels) or not len(labels):
            batch = ": a batch, pass one row of it (probs[0])" if probs.ndim == 2 else ""
            raise ArgumentError(f"Prediction.from_probabilities takes one probability per label: {len(labels)} "
                                f"labels, got probabilities of shape {probs.shape}{batch}")
        best = int(np.argmax(probs))
        return cls(
            label=labels[best],
            score=float(probs[best]),
            probabilities={name: float(p) for name, p in zip(labels, probs)},
        )

    def __hash__(self) -> int:
        # The dataclass's hashed the probabilities dict: a frozen Prediction was "unhashable type: 'dict'".
        return hash((self.label, self.score, tuple(self.probabilities.items())))

    @property
    def intensity(self) -> float | None:
        """How far from a neutral face this prediction is, 0..1 (None for heads without a
        "neutral" class): see `emotion_intensity`."""
        return emotion_intensity(self.probabilities)

    def __repr__(self) -> str:
        """Constructor form to 4 significant digits: the dataclass default gave every probability 17 of them, so
        `face.predictions` of the three heads ran to ~600 characters in a REPL."""
        probabilities = ", ".join(f"{k!r}: {_digits(v)}" for k, v in self.probabilities.items())
        return f"Prediction(label={self.label!r}, score={_digits(self.score)}, probabilities={{{probabilities}}})"

    def to_dict(self) -> dict[str, Any]:
        """{"label", "score", "probabilities"}, as a face's record holds it (6 decimals)."""
        return {
            "label": self.label,
            "score": round(self.score, 6),
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
        }


def _digits(value: float) -> str:
    """4 significant digits, more where those round a probability short of 1 to 1: 0.99998 printed as 1, a
    certainty the head did not give."""
    for precision in (4, 6, 8):
        text = f"{value:.{precision}g}"
        if float(text) != 1.0 or value == 1.0:
            return text
    return repr(float(value))


def _fixed(value: float, decimals: int = 2) -> str:
    """`decimals` places, as _digits more where those round a probability short of 1 to 1 (Face's "1.00" for
    0.99998 claimed a certainty the head did not give, where its Prediction printed 0.99998)."""
    text = f"{value:.{decimals}f}"
    return _digits(value) if value < 1.0 and float(text) >= 1.0 else text


NEUTRAL = "neutral"
WITH_MASK = "with_mask"  # the mask head's label for a covered mouth and nose


def emotion_intensity(probabilities: Mapping[str, float]) -> float | None:
    """1 - P(neutral): the share of the face's expression that is some emotion rather than none.

    Derived from the probabilities, never stored: a tracker that smooths probabilities smooths it
    too. Chosen on FER+ valid against the share of the ten annotators who saw an emotion rather
    than a neutral face (bench.emotion prints the comparison): it follows that share more closely
    than the top non-neutral probability does, and it does not jump when the top label changes."""
    if NEUTRAL not in probabilities:
        return None
    return float(min(1.0, max(0.0, 1.0 - probabilities[NEUTRAL])))


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: yaw (left/right), pitch (up/down), roll (in-plane tilt)."""

    yaw: float
    pitch: float
    roll: float

    def __repr__(self) -> str:  # as to_dict rounds: 15 digits of a degree are noise
        return f"Pose(yaw={self.yaw:.2f}, pitch={self.pitch:.2f}, roll={self.roll:.2f})"

    def to_dict(self) -> dict[str, Any]:
        """{"yaw", "pitch", "roll"} in degrees, to 2 decimals, as a face's record holds it."""
        return {"yaw": round(self.yaw, 2), "pitch": round(self.pitch, 2), "roll": round(self.roll, 2)}

    def __str__(self) -> str:
        # Rounded to whole degrees first: "+.0f" prints -0.3 as "-0".
        yaw, pitch, roll = (int(round(a)) for a in (self.yaw, self.pitch, self.roll))
        return f"yaw {yaw:+d} pitch {pitch:+d} roll {roll:+d}"


class VideoRun:
    """One analyze_video run, marked on the faces it yields (their VIDEO_RUN attribute, not a field): annotate()
    keeps each run's label places and letter size apart, so one Style serves several videos, in turn or at once."""


VIDEO_RUN = "_video_run"


@dataclass(frozen=True, eq=False)
class Face:
    """A detected face and everything the later stages learned about it. Frozen: `replace()` gives a changed copy.

    box: where it is (a Box, in the photo's pixels). score: the detector's confidence, 0..1 (1.0 for a box given
        to analyze(faces=)). predictions: task -> Prediction of each head that labelled it; `label(task)` reads one.
    landmarks: the face mesh's (468, 3) points in pixels (x, y, depth; (468, 2) read back from a record), with
        FaceAnalyzer(landmarks=True), else None.
    keypoints: name -> (x, y) of the eyes, nose tip and mouth corners, from the mesh. pose: head pose in degrees
        (Pose: yaw, pitch, roll), from the mesh. measures: "eye_openness" and "mouth_openness", from the mesh.
    track_id: the face's track in analyze_video (the same person from frame to frame), None in a photo.
    detector_keypoints: (5, 2) points the detector gave (SCRFD, YuNet), None for others.
    tasks: the analyzer's heads when it labelled the face, those that could not read it too (label() tells a
        typo from a head that did not run by it); None where not known.
    """

    box: Box
    score: float
    predictions: Mapping[str, Prediction] = field(default_factory=dict)
    landmarks: np.ndarray | None = None  # (N, 2) or (N, 3) float, image pixels
    keypoints: Mapping[str, tuple[float, float]] | None = None
    pose: Pose | None = None
    measures: Mapping[str, float] | None = None  # e.g. eye / mouth openness
    track_id: int | None = None
    detector_keypoints: np.ndarray | None = None  # (5, 2) from detectors that give them (YuNet)
    # The heads of the analyzer that labelled this face, so that label() can tell a head that could not read it
    # from a task that no head has ("emotions" gave None, as a face too small for the head does); None where not
    # known (a face built by hand, read from a record, or from detect()). Left out of ==, as a record does not hold it.
    tasks: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # A face built by hand with box=(x1, y1, x2, y2), as analyze(faces=) takes boxes, failed later and far from
        # here: print(face), to_dict() and annotate() raised "'tuple' object has no attribute 'x1'".
        if not isinstance(self.box, Box):
            raise ArgumentError(f"Face(box=...) takes a facekit.Box, e.g. Box(10, 20, 110, 140) for x1, y1, x2, y2; "
                                f"got {self.box!r:.100}")
        if not _is_real(self.score):
            raise ArgumentError(f"Face(score=...) takes a number, e.g. 0.9; got {self.score!r:.100}")

    def with_predictions(self, **predictions: Prediction) -> "Face":
        """A copy of this face with these heads' predictions added, by task (`with_predictions(smile=pred)`);
        one for a task it already has replaces it. The face itself is not changed (faces are frozen)."""
        # Anything else made a face that failed later, far from here: print(face) or to_dict() raised "'str' object
        # has no attribute 'label'" for with_predictions(smile="yes").
        for task, pred in predictions.items():
            if not isinstance(pred, Prediction):
                raise ArgumentError(f"with_predictions({task}=...) takes a facekit.Prediction, e.g. "
                                    f"Prediction.from_probabilities(['no', 'yes'], [0.2, 0.8]); got {pred!r:.100}")
        merged = dict(self.predictions)
        merged.update(predictions)
        return replace(self, predictions=merged)

    def replace(self, **changes: Any) -> "Face":
        """A copy of this face with the fields named changed (`face.replace(box=Box(0, 0, 50, 50))`), as
        dataclasses.replace gives; the face itself is not changed (faces are frozen)."""
        return replace(self, **changes)

    def label(self, task: str) -> str | None:
        """Head `task`'s label for this face, or None where that head did not run on it: a face too small or
        too dark for the head (`predictions[task]` raises KeyError there). A task that none of the analyzer's heads
        has (a typo such as "emotions") is a KeyError naming those it has; a face that does not know its analyzer's
        heads (`tasks` None: built by hand, from a record or from detect()) gives None for it too."""
        pred = self.predictions.get(task)
        if pred is None and self.tasks is not None and task not in self.tasks:
            raise KeyError(f"no head {task!r} labelled this face: its analyzer's heads are "
                           f"{', '.join(map(repr, self.tasks)) or 'none (boxes only)'}")
        return pred.label if pred is not None else None

    def crop(self, image: ImageInput, margin: float = 0.0, square: bool = False) -> np.ndarray:
        """This face's pixels from `image`, the photo or array it was found in: an array's own (its dtype and
        channel order, a copy), anything else read as analyze() reads it (8-bit BGR). margin: a share of the box
        added on each side (0.2: 20%); square: grow the short side to the long one. Where that reaches past the
        image's edge, the edge is repeated, as the heads' crops are (facekit.preprocess.crop_face)."""
        from .preprocess import CropSpec, as_image, crop_face

        # numbers.Real, not (int, float): a margin from numpy (np.float32(0.2), a config read with numpy) was refused
        # as "must be a number from 0 to under 10 ... got np.float32(0.2)".
        if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, numbers.Real) or not 0 <= margin < 10:
            raise ArgumentError(f"margin must be a number from 0 (the box itself) to under 10, e.g. 0.2; "
                                f"got {margin!r}")
        # bool(square) made square="false" (a web form's or a query string's value) a square crop without a word.
        if not isinstance(square, (bool, np.bool_)):
            raise ArgumentError(f"square must be True or False; got {square!r}")
        pixels = image if isinstance(image, np.ndarray) and image.ndim in (2, 3) else as_image(image)
        height, width = pixels.shape[:2]
        b = self.box
        if not (0 <= b.x1 < b.x2 <= width and 0 <= b.y1 < b.y2 <= height):
            raise ArgumentError(f"{self.box} does not lie inside this {width}x{height} image: crop the image "
                                f"the face was found in")
        return np.array(crop_face(pixels, b, CropSpec(margin=float(margin), square=bool(square))))

    @property
    def emotion_intensity(self) -> float | None:
        """1 - P(neutral) of the emotion head's prediction, 0..1; None where that head did not label the face."""
        pred = self.predictions.get("emotion")
        return pred.intensity if pred is not None else None

    @property
    def emotion_eyes_only(self) -> bool:
        """A masked face's emotion is read from the eyes alone: less certain, shown as such, not hidden."""
        mask = self.predictions.get("mask")
        return "emotion" in self.predictions and mask is not None and mask.label == WITH_MASK

    # Not the dataclass's __eq__ (eq=False above), which compared the arrays with ==, an error for a bool array; but
    # by value, not by identity: a photo analysed twice, a face pickled to a worker and back, or deep-copied, was
    # unequal to itself (analyze(photo) != analyze(photo)), so an app's cache or a test could not compare results.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Face):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.compare)

    def __hash__(self) -> int:  # faces stay usable in sets and as keys; equal faces share these three
        return hash((self.box, self.score, self.track_id))

    def __getstate__(self) -> dict[str, Any]:
        # Without the video run's mark (VideoRun): a face pickled to another process or deep-copied is the same face,
        # and its copies of one video, arriving a frame at a time, each with a new mark, would each be a new video.
        return {k: v for k, v in self.__dict__.items() if k != VIDEO_RUN}

    def __repr__(self) -> str:
        """One line a person can read: box, score, each head's label, and what else the face carries (the
        dataclass default printed every probability and the mesh's 468 points as numpy arrays)."""
        parts = [f"box=({self.box.x1}, {self.box.y1}, {self.box.x2}, {self.box.y2})", f"score={_fixed(self.score)}"]
        if self.track_id is not None:
            parts.append(f"track_id={self.track_id}")
        parts += [f"{task}={pred.label} {_fixed(pred.score)}" for task, pred in self.predictions.items()]
        if self.pose is not None:
            parts.append(f"pose=({self.pose})")
        if self.landmarks is not None:
            parts.append(f"landmarks={len(self.landmarks)}")
        return f"Face({', '.join(parts)})"

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "Face":
        """The Face a `to_dict()` record holds (one of the image script's JSON `faces`, a worker's result): to_dict()
        of it gives the record back. It carries what the record does, to its rounding (the mesh's x and y, to 0.1
        px). A record that is not one is an ArgumentError (a ValueError) naming what is wrong with it."""
        def bad(why: str) -> ArgumentError:
            return ArgumentError(f"not a face record (Face.to_dict()): {why}")

        if not isinstance(record, Mapping):
            raise bad(f"expected a dict, got {type(record).__name__}")
        box, score = record.get("box"), record.get("score")
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_int(v) for v in box)):
            raise bad(f"'box' must be [x1, y1, x2, y2], 4 whole numbers; got {box!r}")
        if not _is_real(score):
            raise bad(f"'score' must be a number; got {score!r}")
        track_id = record.get("track_id")
        if track_id is not None and not _is_int(track_id):
            raise bad(f"'track_id' must be a whole number; got {track_id!r}")
        predictions = {}
        for task, value in record.items():
            if task in _RECORD_KEYS:
                continue
            try:
                predictions[str(task)] = Prediction(str(value["label"]), float(value["score"]),
                                                    {str(k): float(v) for k, v in value["probabilities"].items()})
            except (KeyError, TypeError, ValueError, AttributeError):
                raise bad(f"{task!r} is neither a face field nor a head's prediction {{'label': ..., 'score': ..., "
                          f"'probabilities': {{...}}}}; got {value!r}") from None
        readers = {  # each optional field from its JSON form, as to_dict writes it
            "landmarks": lambda v: _points(v, 2),
            "keypoints": lambda v: {str(k): tuple(_points([p], 2)[0].tolist()) for k, p in v.items()},
            "pose": lambda v: Pose(float(v["yaw"]), float(v["pitch"]), float(v["roll"])),
            "measures": lambda v: {str(k): float(m) for k, m in v.items()},
        }
        optional: dict[str, Any] = {}
        for name, read in readers.items():
            if record.get(name) is not None:
                try:
                    optional[name] = read(record[name])
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise bad(f"{name!r} is not as Face.to_dict() writes it; got {record[name]!r:.200}") from None
        return cls(box=Box(*(int(v) for v in box)), score=float(score), predictions=predictions,
                   track_id=None if track_id is None else int(track_id), **optional)

    def to_row(self) -> dict[str, Any]:
        """This face as one flat dict of plain values, for a table: `pandas.DataFrame([f.to_row() for f in faces])`.
        Its keys and roundings are the video CSV's and the batch Parquet's (x1, y1, x2, y2, score, track_id,
        <task>_label, <task>_<class>, emotion_intensity, emotion_eyes_only as 1 / 0, yaw, pitch, roll, eye_openness,
        ...); what the face lacks is left out (NaN in the DataFrame), as are its key points and mesh (to_dict() has
        them; pd.json_normalize of to_dict() keeps the box and each key point as lists)."""
        from .records import csv_row

        row = csv_row(0, 0.0, self, {task: list(pred.probabilities) for task, pred in self.predictions.items()})
        del row["frame"], row["time_s"]  # analyze_video's frame_index and time_s, which the face does not hold
        return {key: value for key, value in row.items() if value != ""}

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of one face; the image, folder and video writers all use this."""
        out: dict[str, Any] = {"box": self.box.as_list(), "score": round(float(self.score), 6)}
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        for task, pred in self.predictions.items():
            out[task] = pred.to_dict()
        if "emotion" in self.predictions:
            intensity = self.emotion_intensity
            if intensity is not None:
                # To the probabilities' 6 decimals: at 4 it was coarser than the CSV's 5 (0.9072 against 0.90719
                # for one face) and off 1 - the record's own neutral probability.
                out["emotion_intensity"] = round(intensity, 6)
            # As the CSV: without a mask head nobody looked at the mouth, and false would say it was seen uncovered.
            if "mask" in self.predictions:
                out["emotion_eyes_only"] = self.emotion_eyes_only
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks[:, :2]]
        if self.keypoints is not None:
            out["keypoints"] = {k: [round(float(x), 1), round(float(y), 1)] for k, (x, y) in self.keypoints.items()}
        if self.pose is not None:
            out["pose"] = self.pose.to_dict()
        if self.measures is not None:
            out["measures"] = {k: round(float(v), 4) for k, v in self.measures.items()}
        return out


def _same(a: Any, b: Any) -> bool:
    """Two field values alike: arrays by shape and value, anything else by ==."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(a, b)
    return bool(a == b)


# A face record's keys that are not a head's prediction (Face.to_dict); emotion_intensity and emotion_eyes_only are
# derived from the predictions, so Face.from_dict reads them from those.
_RECORD_KEYS = frozenset({"box", "score", "track_id", "emotion_intensity", "emotion_eyes_only", "landmarks",
                          "keypoints", "pose", "measures"})


def _points(value: Any, columns: int) -> np.ndarray:
    points = np.asarray(value, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != columns:
        raise ValueError(f"expected rows of {columns} numbers")
    return points


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> TypeGuard[int | float | np.integer | np.floating]:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
