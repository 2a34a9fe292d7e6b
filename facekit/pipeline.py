"""Detector + heads (+ optional landmarker) as one callable: image -> list[Face]."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .detection import Detector
from .heads import Head
from .types import Box, Face

# Faces narrower than this are reported as faces but not classified: a 12 px crop blown up to the
# model's input size is a guess, not a prediction.
MIN_FACE_FOR_HEADS = 16


class Landmarker(Protocol):
    def __call__(self, image: np.ndarray, faces: list[Face]) -> list[Face]: ...


class FacePipeline:
    def __init__(self, detector: Detector | None, heads: dict[str, Head] | None = None,
                 landmarker: Landmarker | None = None, min_face: int = MIN_FACE_FOR_HEADS):
        self.detector = detector
        self.heads = heads or {}
        self.landmarker = landmarker
        self.min_face = min_face

    def __call__(self, image: np.ndarray) -> list[Face]:
        if self.detector is None:
            raise ValueError("this pipeline has no detector; call analyze() with faces")
        return self.analyze(image, self.detector.detect(image))

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Run every head (one batch per head) and the landmarker on already-found faces."""
        big = [i for i, f in enumerate(faces) if min(f.box.width, f.box.height) >= self.min_face]
        if big and self.heads:
            faces = list(faces)
            boxes = [faces[i].box for i in big]
            per_task = {task: head.predict_boxes(image, boxes) for task, head in self.heads.items()}
            for j, i in enumerate(big):
                faces[i] = faces[i].with_predictions(**{task: preds[j] for task, preds in per_task.items()})
        if self.landmarker is not None and faces:
            faces = self.landmarker(image, faces)
        return faces

    def classify_whole(self, image: np.ndarray) -> Face:
        """`--crops` mode: the whole image is one face crop."""
        h, w = image.shape[:2]
        face = Face(box=Box(0, 0, w, h), score=1.0)
        preds = {task: head.predict([image])[0] for task, head in self.heads.items()}
        return face.with_predictions(**preds)


def track_faces(source, pipeline, tracker, detect_every: int = 1, max_frames: int | None = None):
    """Yield (frame index, frame, tracked faces) for each frame of `source`: the one loop the CLI
    and the benchmark share."""
    from .tracking import SceneCuts

    tracker.frame_size = source.size
    cuts = SceneCuts()
    n = 0
    while max_frames is None or n < max_frames:
        item = source.read()
        if item is None:
            return
        index, frame = item
        cut = cuts(frame)
        if cut:
            tracker.end_tracks()
        if cut or n % detect_every == 0:  # nothing to follow across a cut: detect afresh
            faces = pipeline(frame)
        else:
            faces = pipeline.analyze(frame, tracker.follow())
        yield (index if not source.live else n), frame, tracker.update(faces)
        n += 1
