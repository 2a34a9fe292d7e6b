"""Detector + heads (+ optional landmarker) as one callable: image -> list[Face]; and the one video loop.

Every stage is timed as it runs (`FacePipeline.times`: wall ms per frame and per face), so a slow run
can be traced to the stage that took the time; `python -m bench.video` prints the table.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, NoReturn, Protocol, TypeVar, cast

import numpy as np

from .detection import CloseUp, Detector
from .heads import Head
from .landmarks import KEYPOINT_NAMES
from .preprocess import LEVEL_MIN_ROLL, face_roll, level_turn
from .runtime import apply_to_opencv, keep_freed_memory, renew_lock_after_fork
from .types import Box, Face

# Faces narrower than this are reported as faces but not classified: a 12 px crop blown up to the
# model's input size is a guess, not a prediction. A head whose card gives its own `min_face` (chosen on
# its held-out faces shrunk to N px; the mask head's is 8) uses that instead.
MIN_FACE_FOR_HEADS = 16
# Faces darker than this (the mean grey level of the box, 0-255) get no label either: the exposure lift
# (facekit.preprocess.lift_exposure) stops at a gain of 8, and under it mostly noise is left to read.
# Chosen as the mask head's min_face was, where labels stop being >= 90% right (python -m bench.lowlight):
# faces dimmed to a mean of 10 were 92.3% right for the mask head (its test split) and 91.2% for gender
# (its val split); at 8, 88.5% and 88.7%.
MIN_BRIGHTNESS_FOR_HEADS = 10.0
# Faces turned further from the camera (degrees of yaw) keep the heads' detector-levelled labels (_relevel).
RELEVEL_MAX_YAW = 50.0


class StageTimes:
    """Wall seconds spent in each stage and how many faces it handled (perf_counter: ~0.1 us a call,
    so it is always on). Stages: detector, head:<task>, landmarks, tracking, frame wait, and any the
    caller adds (drawing, writing) with `stage()`."""

    def __init__(self):
        self._lock = threading.Lock()  # taken outside the fork gate (runtime.engine_call): renewed in a forked child
        renew_lock_after_fork(self)
        self.reset()

    def reset(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.faces: dict[str, int] = defaultdict(int)
        self.frames = 0
        self.beside: set[str] = set()  # stages run on another thread, beside the others (not in a frame's sum)

    @contextmanager
    def stage(self, name: str, faces: int = 0):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start, faces)

    def __getstate__(self):  # copies and pickles of the figures (the bench keeps one per pass) get their own lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        renew_lock_after_fork(self)

    def add(self, name: str, seconds: float = 0.0, faces: int = 0) -> None:
        with self._lock:  # the video loop's detector workers report from their own threads
            self.seconds[name] += seconds
            self.faces[name] += faces

    def table(self) -> list[tuple[str, float, float | None, float]]:
        """(stage, ms per frame, ms per face it ran on or None, faces per frame) for each stage."""
        n = max(1, self.frames)
        return [(name, 1000 * secs / n, 1000 * secs / self.faces[name] if self.faces[name] else None,
                 self.faces[name] / n) for name, secs in self.seconds.items()]


# The detector's close-up pass (a face filling the frame or cut by its edge) in video: every 3rd detection,
# and every detection while a tracked face is close-up sized. On the hamilton clip, where no face is that
# big, it ran on 94% of frames and took a third of the detector's time; a face leaning in is found within
# 2 frames (67 ms at 30 FPS) and then on every frame.
CLOSEUP_EVERY = 3
# On a file, with a detector that runs on several workers (SCRFD), each frame's close-up decision looks at
# the faces found this many frames before it, the most workers the default thread cap gives (4 + 2):
# looking back as many frames as there were workers made a video's boxes and labels depend on the cores
# (the hamilton clip: 11 of 615 mask labels changed between FACEKIT_THREADS=1 and 2).
CLOSEUP_LOOKBACK = 6


class _Beside:
    """The landmarker's one thread (FacePipeline._mark_beside), started on first use; shared by a pipeline's
    copies (analyze_video makes one a video)."""

    def __init__(self):
        self._pid = os.getpid()
        self._lock = threading.Lock()  # two threads classifying with one pipeline start one thread
        self._pool = None

    def submit(self, fn, *args):
        # A process forked from one that had started the thread (multiprocessing's default on Linux, with an
        # analyzer made before the pool) has the pool but not its thread: the work was queued, never ran, and
        # the worker hung. Such a process starts a thread of its own, with a new lock (the parent's may have
        # been held when it forked).
        if self._pid != os.getpid():
            self.__init__()
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="facekit-landmarks")
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """End the thread, once a face already handed to it is done; a later submit starts another."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():  # a forked child has the pool but not its thread
            # Not wait=False: the thread then ran on after close() returned (for the face under way, or only
            # until it was next scheduled, which under load came after a caller's check that it had ended).
            pool.shutdown(wait=True)


class Landmarker(Protocol):
    def __call__(self, image: np.ndarray, faces: list[Face]) -> list[Face]: ...


_Pipeline = TypeVar("_Pipeline", bound="FacePipeline")


class FacePipeline:
    _closed = False  # close() sets it on the instance
    shown_as: str  # set on a video's copy of an analyzer (FaceAnalyzer._pipeline_for_video): what _check_open names

    def __init__(self, detector: Detector | None, heads: dict[str, Head] | None = None,
                 landmarker: Landmarker | None = None, min_face: int | None = None):
        self.detector = detector
        self.heads = heads or {}
        self.landmarker = landmarker
        self.min_face = min_face
        self.times = StageTimes()
        self._beside = _Beside()  # the landmarker's thread (_mark_beside)
        apply_to_opencv()  # the detector's and the crops' OpenCV work shares the cores with LiteRT
        keep_freed_memory()  # per-frame buffers recycled, not page-faulted in again (facekit.runtime)

    def __reduce_ex__(self, protocol):
        # Its models are native sessions (onnxruntime, LiteRT, OpenCV): sent to a worker process (submit(
        # analyzer.analyze, path), joblib's default backend) it failed as "cannot pickle 'onnxruntime.capi.
        # onnxruntime_pybind11_state.InferenceSession' object", or another engine's class, naming no way out.
        raise TypeError(f"a {type(self).__name__} cannot be pickled or sent to another process (its models are "
                        f"native sessions): build one in each worker process, e.g. in multiprocessing.Pool's "
                        f"initializer, or call facekit.analyze(path) there (README: \"Worker processes\")")

    def __deepcopy__(self, memo: dict) -> NoReturn:
        # Without it deepcopy went through __reduce_ex__ above, whose message spoke of pickling and worker processes.
        raise TypeError(f"a {type(self).__name__} cannot be deep-copied (its models are native sessions): use the "
                        f"same one (it serves several threads at once), or build another with the same options")

    def close(self) -> None:
        """Let go of the models (detector, heads, face mesh) and the landmarks thread now, not whenever the last
        reference to this object goes; `with FaceAnalyzer(...) as analyzer:` calls it at the block's end. Any
        later call raises ValueError, as a closed file's does; closing again does nothing. A call already under
        way on another thread finishes with the models it started with."""
        self._closed = True
        # New objects, not cleared in place: a call under way iterates the heads it started with.
        self.detector, self.heads, self.landmarker = None, {}, None
        self._beside.close()

    def __enter__(self: _Pipeline) -> _Pipeline:
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        # Without it a closed analyzer's next photo said "this analyzer has no detector: pass faces=", or came
        # back with no labels at all, as if the heads had found nothing to read.
        if self._closed:
            raise ValueError(f"this {getattr(self, 'shown_as', type(self).__name__)} is closed (close() was called, "
                             f"or its with block ended): build a new one")

    def __copy__(self):  # a shallow copy shares the models (analyze_video gives one its own mesh state)
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        return copied

    def __call__(self, image: np.ndarray) -> list[Face]:
        return self.analyze(image, self.detect(image))

    def detect(self, image: np.ndarray, closeup: bool = True) -> list[Face]:
        """closeup=False skips the detector's close-up pass, where it has one (video, between due frames)."""
        detector = self.detector  # read once: close() on another thread lets this call finish
        self._check_open()
        if detector is None:
            raise ValueError("this pipeline has no detector; call analyze() with faces")
        start = time.perf_counter()
        if closeup or not getattr(detector, "optional_closeup", False):
            faces = detector.detect(image)
        else:
            faces = cast(Any, detector).detect(image, closeup=False)  # optional_closeup: Detector's extra keyword
        faces = inside(faces, image.shape)
        self.times.add("detector", time.perf_counter() - start, len(faces))
        return faces

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Run every head (one batch per head) and the landmarker on already-found faces."""
        return self.classify(image, faces)

    def classify(self, image: np.ndarray, faces: list[Face],
                 heads_on: dict[str, list[int]] | None = None) -> list[Face]:
        """Each head on the faces `heads_on[task]` lists (indices; None = every face), one batch per
        head; the landmarker on every face. Faces narrower than `min_face` (None: each head's own,
        `head_min_face`) get no label from that head, and faces darker than MIN_BRIGHTNESS_FOR_HEADS none.
        (Not `analyze`: subclasses such as FaceAnalyzer give that one their own signature.)"""
        # Read once: a close() on another thread mid-call dropped the mesh from the faces (or failed calling None).
        heads, landmarker = self.heads, self.landmarker
        self._check_open()
        sides = [min(f.box.width, f.box.height) for f in faces]
        lit = [brightness(image, f.box) >= MIN_BRIGHTNESS_FOR_HEADS for f in faces] if heads else []
        # Every face learns which heads looked at it, those that could not read it included (Face.label).
        tasks = tuple(heads)
        faces = [f if f.tasks == tasks else f.replace(tasks=tasks) for f in faces]
        jobs = []
        for task, head in heads.items():
            limit = self.min_face if self.min_face is not None else head_min_face(head)
            chosen = [i for i in (range(len(faces)) if heads_on is None else heads_on.get(task, ()))
                      if sides[i] >= limit and lit[i]]
            if chosen:
                jobs.append((task, head, chosen))
        marking = self._mark_beside(landmarker, image, faces) if jobs and landmarker is not None and faces else None
        for task, head, chosen in jobs:
            with self.times.stage(f"head:{task}", len(chosen)):
                preds = head.predict_boxes(image, [faces[i].box for i in chosen],
                                           [faces[i].detector_keypoints for i in chosen])
            for i, pred in zip(chosen, preds):
                faces[i] = faces[i].with_predictions(**{task: pred})
        if marking is not None:
            with self.times.stage("landmarks wait"):
                marked = marking.result()
            faces = [m.replace(predictions=f.predictions) for m, f in zip(marked, faces)]
        elif landmarker is not None and faces:
            faces = self._mark(landmarker, image, faces)
        else:
            return faces
        return self._relevel(image, faces, jobs)

    def _relevel(self, image: np.ndarray, faces: list[Face], jobs) -> list[Face]:
        """The heads again on the faces whose mesh tilts them otherwise than the detector's eye points did, cut
        levelled by the mesh's points. A face turned past ~110 degrees has detector points 180 degrees off, and
        YuNet's hardly tilt at all (turned 60 degrees: -5 at the median), so the heads read those faces upside
        down or tilted; the mesh, checked both ways up (FaceMesh.mesh), reads them right. A face the two agree on,
        as on every upright one, keeps its labels as they are."""
        again = {}
        for i, face in enumerate(faces):
            kps = face.keypoints
            if not kps or face.detector_keypoints is None or any(name not in kps for name in KEYPOINT_NAMES):
                continue
            points = np.array([kps[name] for name in KEYPOINT_NAMES], dtype=np.float64)
            if level_turn(face.box, points) is None:  # upright, or a profile: cut as the heads cut it
                continue
            # Near a profile the mesh's eye line mostly follows pitch (README: Landmarks): a performer of the
            # hamilton clip at yaw -74 read roll +41, the detector's points rightly ~0.
            if face.pose is None or abs(face.pose.yaw) > RELEVEL_MAX_YAW:
                continue
            said = face_roll(face.detector_keypoints) if level_turn(face.box, face.detector_keypoints) is not None \
                else 0.0
            if abs((face_roll(points) - said + 180.0) % 360.0 - 180.0) > LEVEL_MIN_ROLL:
                again[i] = points
        if not again:
            return faces
        for task, head, chosen in jobs:
            redo = [i for i in chosen if i in again]
            if redo:
                with self.times.stage(f"head:{task}"):
                    preds = head.predict_boxes(image, [faces[i].box for i in redo], [again[i] for i in redo])
                for i, pred in zip(redo, preds):
                    faces[i] = faces[i].with_predictions(**{task: pred})
        return faces

    def _mark(self, landmarker: Landmarker, image: np.ndarray, faces: list[Face]) -> list[Face]:
        with self.times.stage("landmarks", len(faces)):
            marked = landmarker(image, faces)
        # A caller's landmarker that returns None, a generator or other things than Faces failed as "object of
        # type 'NoneType' has no len()" or an AttributeError from inside the pipeline, naming no landmarker; one
        # that drops a face would shift the labels onto the wrong faces.
        try:
            marked = list(marked)
        except TypeError:
            got = type(marked).__name__
        else:
            wrong = [m for m in marked if not isinstance(m, Face)]
            if not wrong and len(marked) == len(faces):
                return marked
            got = repr(wrong[0]) if wrong else f"{len(marked)} out"
        raise TypeError(f"a landmarker returns a list of facekit.types.Face, one Face per face it is given "
                        f"({len(faces)} in): got {got}")

    def _mark_beside(self, landmarker: Landmarker, image: np.ndarray, faces: list[Face]):
        """The landmarker's run on its own thread (a Future), beside the heads on this one; None on one core.

        The mesh and the heads read the same boxes and neither needs the other's result. Run one after the
        other they left a core idle whenever the video loop's detector workers had no frame to detect: on 2
        cores (AMD EPYC, AVX2) the hamilton clip with every head went from a median 32.6 to 35.4 FPS (four
        alternating rounds of three passes) at the same CPU time a frame."""
        from .runtime import threads

        if threads() < 2:  # one core (FACEKIT_THREADS=1, a batch worker): a second thread only switches
            return None
        self.times.beside.add("landmarks")
        return self._beside.submit(self._mark, landmarker, image, list(faces))

    def why_unlabelled(self, image: np.ndarray, face: Face, task: str | None = None) -> str | None:
        """Why head `task` gave `face` no label (too small, too dark), in words; None where it has that label.
        task None: why the heads that gave it none did not, None where every head labelled it. A 12 px face has
        the mask head's label but none from emotion's (16 px): `why_unlabelled(image, face, "emotion")` says so."""
        self._check_open()
        if task is not None and task not in self.heads:  # as Face.label: a typo is not a face no head could read
            raise KeyError(f"no head {task!r}: this analyzer's heads are {', '.join(map(repr, self.heads)) or 'none'}")
        missing = [t for t in ((task,) if task is not None else self.heads) if t not in face.predictions]
        if not missing:
            return None
        side = min(face.box.width, face.box.height)
        limits = {t: self.min_face if self.min_face is not None else head_min_face(self.heads[t]) for t in missing}
        small = [t for t in missing if side < limits[t]]
        level = brightness(image, face.box)
        if small and (len(small) == len(missing) or level >= MIN_BRIGHTNESS_FOR_HEADS):
            whom = "the heads" if len(small) == len(self.heads) else \
                f"the {', '.join(small)} head{'s' if len(small) > 1 else ''}"
            return f"too small for {whom} ({side} px, under {min(limits[t] for t in small)})"
        if level < MIN_BRIGHTNESS_FOR_HEADS:
            return f"too dark to read (mean grey level {level:.1f}, under {MIN_BRIGHTNESS_FOR_HEADS:.0f})"
        return None

    def classify_whole(self, image: np.ndarray) -> Face:
        """`--crops` mode: the whole image is one face crop, labelled as a detected face of its size would be: a
        crop under a head's `min_face`, or darker than MIN_BRIGHTNESS_FOR_HEADS, gets no label from it (a 4x4
        black crop read "with_mask 84%"); `why_unlabelled` says which."""
        self._check_open()
        h, w = image.shape[:2]
        face = Face(box=Box(0, 0, w, h), score=1.0, tasks=tuple(self.heads))
        lit = brightness(image, face.box) >= MIN_BRIGHTNESS_FOR_HEADS
        preds = {task: head.predict([image])[0] for task, head in self.heads.items()
                 if lit and min(w, h) >= (self.min_face if self.min_face is not None else head_min_face(head))}
        return face.with_predictions(**preds)


def for_one_video(pipeline: _Pipeline) -> _Pipeline:
    """`pipeline`, its models shared, with a face mesh that follows one video's tracks only: two videos on one
    pipeline (a folder's, one after the other; two generators alive in a notebook) followed each other's tracks."""
    landmarker = pipeline.landmarker
    if landmarker is None or not hasattr(landmarker, "for_video"):
        return pipeline
    video = copy.copy(pipeline)
    video.landmarker = landmarker.for_video()
    return video


def track_faces(source, pipeline, tracker, detect_every: int = 1, max_frames: int | None = None, *,
                head_every: int = 1, overlap: bool = True):
    """Yield (frame index, frame, tracked faces) for each frame of `source`: the one loop the CLI,
    the benchmark and the library share.

    detect_every K: the detector runs every K-th frame; in between, faces are where their tracks
    predict. head_every K: each track's heads run every K-th frame (staggered across tracks), and at
    once on a new track, a box that changed or a label in doubt (`IoUTracker.heads_due`); in between
    the track's smoothed probabilities are shown.
    The landmarker runs on every face of every frame (points move with the face), on its own thread beside
    the heads where there are two cores or more (`FacePipeline._mark_beside`).
    overlap: the detector works on the next frames on worker threads while this frame's heads, tracking
    and the caller's drawing and writing run; the same faces and labels in the same order. Each engine
    releases the GIL, so the threads share the cores. On a file, a detector that may run on several
    threads at once (`concurrent`, SCRFD) gets several workers (`detector_workers`), each running whole
    frames on one engine thread; any other detector, and any live source, gets one worker with the
    process's thread policy.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from .tracking import SceneCuts

    if detect_every < 1 or head_every < 1:
        raise ValueError(f"detect_every and head_every must be 1 or more, got {detect_every}, {head_every}")
    tracker.frame_size = source.size
    times = pipeline.times
    times.beside = {"detector"} if overlap else set()
    judged = getattr(source, "scene_cut", None)
    # Tracks follow the camera's moves where frames go unsearched (--detect-every) or unread (--every, which
    # judges cuts): a pan or a shake there moved faces past their boxes, and they came back under new ids.
    # A detector on every frame needs no help, and there the tracks stay as they were measured.
    bridged = detect_every > 1 or judged is not None
    cuts = SceneCuts(follow_camera=bridged)
    # A camera or stream delivers frames at its own pace: there, frames held in flight would only show the
    # picture later (each one a frame of latency), so live sources keep one detection ahead.
    workers = 0 if not overlap else 1 if source.live else detector_workers(pipeline.detector)
    pool = None
    if workers:
        from .runtime import set_threads_here

        # Several workers run one frame each on one engine thread; a lone worker keeps the policy's threads.
        pool = ThreadPoolExecutor(workers, thread_name_prefix="facekit-detector", initializer=set_threads_here,
                                  initargs=(1 if workers > 1 else None,))
    read = detections = 0
    # A frame's close-up decision looks at the faces found `lag` frames before it: the newest a detector
    # running that far ahead has surely delivered. The plain loop (overlap=False) looks as far back, so
    # both give the same faces; by read order, {frame number: faces} until the frame `lag` later asks.
    lag = 1 if source.live or not getattr(pipeline.detector, "concurrent", False) else max(
        CLOSEUP_LOOKBACK, detector_workers(pipeline.detector))
    found: dict[int, list[Face]] = {}

    def start(item):
        """Frame `item` read: note a scene cut and start its detection if one is due (a future, or the
        faces themselves without `overlap`; None: follow the tracks)."""
        nonlocal read, detections
        index, frame = item
        with times.stage("tracking"):
            # A source that skips frames (EveryNth) judges cuts on the frames it skipped too.
            cut = judged(index) if judged is not None else cuts(frame)
            shift = source.camera_shift(index) if judged is not None else (cuts.shift, cuts.zoom)
        job = None
        earlier = found.pop(read - lag, [])
        if cut or read % detect_every == 0:  # nothing to follow across a cut: detect afresh
            closeup = cut or detections % CLOSEUP_EVERY == 0 or _has_closeup(earlier, frame.shape)
            detections += 1
            job = pool.submit(pipeline.detect, frame, closeup) if pool else pipeline.detect(frame, closeup)
        read += 1
        return index, frame, cut, job, read - 1, shift

    ahead: deque = deque()  # frames read, their detections running (at most one per worker)
    ended = False
    failure = None

    # A live source's next frame is read ahead only when it has come: waiting for it held the frame in hand back
    # until the camera's next one (a frame's time late; a clump's last frame until the next clump, a second).
    ready = getattr(source, "frame_waiting", None) if source.live else None

    def read_ahead(wait: bool = True):
        """Read frames until every worker has one (one frame without `overlap`). A bad frame (a size
        change, a truncated file) ends the reading; it is raised after the frames before it are yielded.
        wait False: none that has not come yet (a live source's)."""
        nonlocal ended, failure
        while not ended and len(ahead) < max(1, workers):
            if max_frames is not None and read >= max_frames:
                ended = True
                return
            if not wait and ready is not None and not ready():
                return
            try:
                with times.stage("frame wait"):  # decoding runs on the reader's thread; this is the wait
                    item = source.read()
                if item is None:
                    ended = True
                    return
                ahead.append(start(item))
            except Exception as exc:
                ended, failure = True, exc

    n = 0
    try:
        read_ahead()
        while ahead:
            index, frame, cut, job, number, shift = ahead.popleft()
            times.frames += 1
            if cut:
                tracker.end_tracks()
            elif bridged:
                tracker.camera_moved(*shift[0], shift[1])
            if job is None:
                # Followed faces carry the track's last results: drop them, or smoothed labels would count
                # as fresh ones, and a face the mesh cannot mark this frame would keep last frame's points.
                faces = [f.replace(predictions={}, landmarks=None, keypoints=None, pose=None, measures=None)
                         for f in tracker.follow()]
            elif pool:
                with times.stage("detector wait"):
                    faces = job.result()
            else:
                faces = job
            found[number] = faces
            read_ahead(wait=False)  # the next detections now run beside this frame's heads and the caller's work
            with times.stage("tracking"):
                faces = tracker.assign(faces)
                due = None if head_every == 1 else tracker.heads_due(faces, list(pipeline.heads), head_every)
            faces = pipeline.classify(frame, faces, heads_on=due)
            with times.stage("tracking", len(faces)):
                faces = tracker.smooth_faces(faces)
            yield (index if not source.live else n), frame, faces
            n += 1
            if not ahead:  # a live source's next frame had not come
                read_ahead()
        if failure is not None:
            raise failure
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def inside(faces: list[Face], shape: tuple[int, ...]) -> list[Face]:
    """A detector's faces with whole-pixel boxes inside the image, as facekit's own detectors give them (Box): a
    caller's detector (FaceAnalyzer(detector=obj)) with float coordinates failed in the crop as a TypeError, and
    a box past the edge was written to the records as it was, unlabelled ("too dark"). Empty boxes are dropped."""
    h, w = shape[:2]
    kept = []
    try:
        faces = list(faces)
    except TypeError:  # None (a detect() that forgot its return) was "'NoneType' object is not iterable"
        raise TypeError(f"a detector's detect(image) returns a list of facekit.types.Face (an empty one for no "
                        f"face), got {faces!r:.100}") from None
    for face in faces:
        if not isinstance(face, Face):
            raise TypeError(f"a detector's detect(image) returns a list of facekit.types.Face, got {face!r}")
        b = face.box
        if all(type(v) is int for v in (b.x1, b.y1, b.x2, b.y2)) and 0 <= b.x1 < b.x2 <= w and 0 <= b.y1 < b.y2 <= h:
            kept.append(face)  # facekit's own detectors' boxes: nothing to do
        elif all(np.isfinite(v) for v in (b.x1, b.y1, b.x2, b.y2)):
            box = Box.clipped(b.x1, b.y1, b.x2, b.y2, width=w, height=h)
            if box.width > 0 and box.height > 0:
                kept.append(face.replace(box=box))
    # By score, as analyze() promises and facekit's detectors give them (a stable sort keeps theirs as it is).
    return sorted(kept, key=lambda f: -f.score)


def detector_workers(detector) -> int:
    """Detector threads for the video loop (facekit.runtime.video_detector_workers): several for a
    detector that says it may run on several threads at once (`concurrent`, SCRFD), else one (YuNet and
    res10 hold one OpenCV network)."""
    from .runtime import video_detector_workers

    return video_detector_workers(getattr(detector, "concurrent", False))


def _has_closeup(faces: list[Face], shape: tuple[int, ...], share: float = CloseUp.min_share) -> bool:
    """A face at least `share` of the frame's short side: the size the close-up pass looks for."""
    short = min(shape[:2])
    return any(min(f.box.width, f.box.height) >= share * short for f in faces)


def brightness(image: np.ndarray, box: Box) -> float:
    """Mean grey level (0-255) of the box, from every 4th pixel of a big one."""
    region = image[box.y1:box.y2, box.x1:box.x2]  # boxes lie inside the image (Box; FaceAnalyzer clips given ones)
    step = 4 if region.size > 120_000 else 1
    return float(region[::step, ::step].mean()) if region.size else 0.0


def head_min_face(head) -> int:
    """The narrowest face (px) a head labels: its card's min_face, else MIN_FACE_FOR_HEADS."""
    card = getattr(head, "card", None)
    return getattr(card, "min_face", None) or MIN_FACE_FOR_HEADS
