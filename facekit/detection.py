"""Face detectors behind one interface, chosen by name.

Every detector takes a BGR image and returns `Face` objects whose boxes are clipped to the image,
degenerate boxes dropped, sorted by score. Adding a detector means writing one class here and
registering it in `DETECTORS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import cv2
import numpy as np

from . import assets
from .errors import ModelError
from .types import Box, Face

MIN_BOX = 4  # px; anything thinner is noise, not a face


class Detector(Protocol):
    name: str
    confidence: float

    def detect(self, image: np.ndarray) -> list[Face]: ...


@dataclass
class DetectorOptions:
    confidence: float = 0.5
    nms_threshold: float = 0.3


def _faces_from_xyxy(boxes: np.ndarray, scores: np.ndarray, width: int, height: int,
                     keypoints: np.ndarray | None = None) -> list[Face]:
    faces = []
    for i in np.argsort(-scores):
        box = Box.clipped(*boxes[i], width=width, height=height)
        if not box.is_valid(MIN_BOX):
            continue
        kps = keypoints[i] if keypoints is not None else None
        faces.append(Face(box=box, score=float(scores[i]), detector_keypoints=kps))
    return faces


class Res10Detector:
    """OpenCV's res10 SSD (Caffe), the PyImageSearch detector: 300x300 blob, BGR mean (104, 177, 123)."""

    name = "res10"
    input_size = (300, 300)
    mean = (104.0, 177.0, 123.0)

    def __init__(self, options: DetectorOptions | None = None):
        self.options = options or DetectorOptions()
        self.confidence = self.options.confidence
        prototxt, weights = assets.resolve("res10.prototxt"), assets.resolve("res10.caffemodel")
        try:
            self.net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        except cv2.error as exc:
            raise ModelError(f"cannot load res10 detector from {weights}: {str(exc).strip().splitlines()[-1]}") from None

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All candidate boxes (xyxy pixels, float) and scores above `confidence`."""
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(image, self.input_size), 1.0, self.input_size, self.mean)
        self.net.setInput(blob)
        out = self.net.forward()[0, 0]  # (N, 7): image_id, label, score, x1, y1, x2, y2 (0..1)
        keep = out[:, 2] >= self.confidence
        out = out[keep]
        boxes = out[:, 3:7] * np.array([w, h, w, h], dtype=np.float32)
        return boxes, out[:, 2].astype(np.float32)

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, scores = self.raw(image)
        h, w = image.shape[:2]
        return _faces_from_xyxy(boxes, scores, w, h)


class YuNetDetector:
    """OpenCV's YuNet (cv2.FaceDetectorYN): better on small, masked and turned faces; gives 5 key points."""

    name = "yunet"

    def __init__(self, options: DetectorOptions | None = None):
        self.options = options or DetectorOptions()
        self.confidence = self.options.confidence
        model = assets.resolve("yunet")
        try:
            self.net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), self.confidence,
                                                 self.options.nms_threshold, 5000)
        except cv2.error as exc:
            raise ModelError(f"cannot load YuNet from {model}: {str(exc).strip().splitlines()[-1]}") from None

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        self.net.setInputSize((w, h))
        _, found = self.net.detect(image)
        if found is None or len(found) == 0:
            return []
        xywh = found[:, :4]
        boxes = np.column_stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]])
        keypoints = found[:, 4:14].reshape(-1, 5, 2)
        return _faces_from_xyxy(boxes, found[:, 14], w, h, keypoints)


DETECTORS: dict[str, Callable[[DetectorOptions], Detector]] = {
    "res10": Res10Detector,
    "yunet": YuNetDetector,
}


def create_detector(name: str = "res10", confidence: float = 0.5) -> Detector:
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ModelError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}") from None
    return factory(DetectorOptions(confidence=confidence))
