"""InsightFace's SCRFD face detectors (2.5GF and 0.5GF, with five key points) through onnxruntime.

The released graphs take a fixed 1x3x640x640 input. At load the input's height and width are made
symbolic (and the 2.5GF graph's two upsampling layers, which carry their output sizes as constants,
get a scale of 2 instead), so a frame runs at its own size rounded to a multiple of 32: a 640x360
frame costs 640x384 (SCRFD-0.5GF: 640x352, see `max_squeeze`), not 640x640. Without the `onnx` package
the graph stays fixed and each pass is letterboxed into 640x640 instead: the same boxes, more time.

The weights are for non-commercial research use only (InsightFace's terms).
"""

from __future__ import annotations

import dataclasses
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from . import assets
from .detection import BoxCalibration, DetectorOptions, MultiPassDetector, nms
from .errors import ModelError, out_of_memory
from .runtime import engine_call

STRIDES = (8, 16, 32)
ANCHORS = 2  # per feature-map cell
FIXED = 640  # the released graphs' input side


def _symbolic_input(path) -> bytes | None:
    """The graph with free input height / width, serialized; None when `onnx` is not installed."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    for node in graph.node:
        # Resize(X, roi, scales, sizes) with constant sizes only fits 640x640: use its 2x scale instead.
        if node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in constants:
            name = f"{node.output[0]}_scale2"
            graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), name))
            node.input[2] = name
            del node.input[3]
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]  # shapes inferred for 640x640 would contradict other sizes
    return model.SerializeToString()


def _symbolic_graph(path, sha256: str | None) -> str | bytes | None:
    """The graph with free input height / width: the path of the copy kept in the cache folder when there
    is one, else the edited bytes (kept there for the next process, which then does not import `onnx`:
    44 of the ~390 ms a photo command takes here); None without the `onnx` package."""
    from .records import atomic_write

    if not sha256:  # nothing to name a kept copy by: edit in memory
        return _symbolic_input(path)
    try:
        kept = assets.cache_root() / "scrfd" / f"{path.stem}.{sha256[:16]}.symbolic.onnx"
        if kept.is_file():
            return str(kept)
    except assets.AssetError:  # no cache folder at all (no home): edit in memory, as for a read-only one
        return _symbolic_input(path)
    except OSError:  # a shared cache's folder this user may not look into (made by root or another user under
        return _symbolic_input(path)  # umask 077): every run failed, "cannot load scrfd ...: Permission denied"
    graph = _symbolic_input(path)
    if graph is not None:
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(kept, "wb") as fh:
                fh.write(graph)
        except OSError:  # a read-only home or cache: edit in memory each time, as before
            pass
    return graph


def _input_side(n: int, max_squeeze: float) -> int:
    """The network's input side for an image side of n px, a multiple of 32 (its coarsest stride): n padded
    up, or the multiple below where that is nearer and squeezes the image by at most `max_squeeze` (a share)."""
    below, above = n // 32 * 32, -(-n // 32) * 32
    return below if below and n - below < above - n and n - below <= max_squeeze * n else above


@lru_cache(maxsize=32)  # video reuses a few sizes; a folder of photos of many sizes must not pile them up
def _anchor_centres(rows: int, cols: int, stride: int) -> np.ndarray:
    """(rows * cols * ANCHORS, 2) anchor centres of one stride's feature map, in input pixels (read-only)."""
    ys, xs = np.mgrid[:rows, :cols]
    centres = np.repeat(np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride, ANCHORS, axis=0)
    centres.flags.writeable = False
    return centres


class SCRFDDetector(MultiPassDetector):
    """SCRFD-2.5GF: the most accurate detector here on small and masked faces (see README)."""

    name = "scrfd"
    asset = "scrfd_2.5g"
    # Thresholds: the precision/recall sweep in `python -m bench.detection --sweep` (mask_scenes_val), the
    # way YuNet's were chosen: the lowest that keeps precision at 0.90 (0.5 gives 0.827 / 0.903 there;
    # 0.4 gives 0.877 / 0.867). Under 16 px most false boxes are texture, hence the margin.
    default_confidence = 0.5
    small_margin = 0.1
    max_side = 960
    upscale = 2.0
    # Fitted to YuNet's calibrated boxes (median over faces both find, on mask_real_train's photos; not on
    # mask_scenes_val): `python -m bench.detection --fit-calibration`.
    calibration = BoxCalibration(dx=0.024, dy=0.128, sx=1.057, sy=0.902)
    nms_in_pass = 0.4  # SCRFD's own, on its raw anchors
    # A side that is not a multiple of 32 is padded up to one; where the detector's validation numbers
    # allow, a side at most this much over one is squeezed to it instead (see SCRFD500MDetector). Not here:
    # squeezing mask_scenes_val's scenes by 2-4% cost SCRFD-2.5GF 1.3-1.7 points of recall in one pass.
    max_squeeze = 0.0
    # The upscaled pass finds faces under ~30 px, and costs 2-3x the image-size pass (60% of example_03's
    # detection). Where that pass sees nothing narrower than 32 px even at 0.1, it has nothing to add: chosen on
    # mask_real_train's 3,936 photos (web photos, mostly of one face): skipped on 3,407, one face of 4,211
    # lost (a 114 px face found only upscaled). On mask_scenes_val (scored, not chosen on): skipped on 74 of
    # 200 scenes, the same boxes as running it everywhere.
    fine_gate = (32.0, 0.1)
    # Measured on bench.detection's big photos (3 mosaics of 64 mask_scenes_val scenes, 3200x2400: the tiles give
    # 638 faces and 61 false boxes): every face 12.5 px or wider at the shrunk pass's scale (295) had a candidate
    # there from 0.05 (all but one from 0.1), so the check drops no face and no false box there; on two_people.jpg
    # upscaled to 6000 px it drops the three sleeve buttons the tiles took for faces (13.0-13.9 px, nothing at 0.02).
    tile_check: tuple[float, float] | None = (12.5, 0.05)
    # Big faces cut by the frame's edge kept from half the threshold where the close-up pass runs (CloseUp.cut_share).
    # Chosen on close-up views of mask_real_train's photos (400 photos, 2,478 views: the face filling 60-100% of
    # a 640x480 frame or a quarter of it past an edge, as bench.detection frames the media portraits), as the share
    # with most faces found less twice the boxes added that are not the face: SCRFD-2.5GF 2,023 -> 2,291 found,
    # 68 -> 107 other boxes (0.6: 2,269 and 99; 0.4: 2,312 and 135); SCRFD-0.5GF 2,267 -> 2,331, 29 -> 42.
    closeup = dataclasses.replace(MultiPassDetector.closeup, cut_share=0.5)

    # onnxruntime runs one session from several threads at once, so the video loop may hand whole frames
    # to several workers (facekit.pipeline.track_faces). Each worker runs its frame on one core: on the
    # hamilton clip 2 such workers took 7.7 CPU ms a frame against 9.5-10.6 for one run split over 2
    # threads (whose threads wait for each other at every layer), and 4.0 ms of wall time against 6.1-6.8.
    concurrent = True

    def __init__(self, options: DetectorOptions | None = None):
        super().__init__(options)
        path = assets.resolve_checked(self.asset)
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        sha256 = assets.REGISTRY[self.asset].sha256

        def load(graph):
            # The kept copy's bytes, not its path: the video loop's workers make their one-thread sessions later,
            # and by then another process may have replaced or removed the file (a clean-clone CI run's video
            # failed with onnxruntime's "Load model from ... failed. File doesn't exist").
            self._model = Path(graph).read_bytes() if isinstance(graph, str) else graph if graph is not None else path
            self.session = self._session()
            return graph

        try:
            graph = _symbolic_graph(path, sha256)
            try:
                load(graph)
            except Exception as exc:
                if not isinstance(graph, str) or out_of_memory(exc):  # short memory: the kept copy is fine
                    raise
                try:
                    Path(graph).unlink(missing_ok=True)  # a damaged copy in the cache: edit the original again
                except OSError:  # in a cache that cannot be written (FACEKIT_CACHE read-only, another user's):
                    graph = load(_symbolic_input(path))  # the run failed on it, "Permission denied"; edit in memory
                else:
                    graph = load(_symbolic_graph(path, sha256))
        except Exception as exc:  # onnx / onnxruntime raise their own types for a file that is not a graph
            if out_of_memory(exc):  # under ulimit -v: "cannot load <model>" read as a broken file
                raise MemoryError(f"loading {self.name} from {path}") from exc
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load {self.name} from {path}: {reason}") from None
        self.fixed = graph is None
        self.input_name = self.session.get_inputs()[0].name

    def _session(self):
        """The session for the calling thread's thread count (facekit.runtime.threads): the process-wide
        one, or a one-thread session for the video loop's detector workers, made on first use."""
        from .runtime import ort_session, threads

        n = threads()
        session = self._sessions.get(n)
        if session is None:
            with self._lock:  # two workers asking at once make one session
                session = self._sessions.get(n)
                if session is None:
                    session = self._sessions[n] = ort_session(self._model, n)
        return session

    def _run(self, image: np.ndarray, floor: float | None = None) -> np.ndarray:
        h, w = image.shape[:2]
        if self.fixed:
            sx = sy = min(FIXED / w, FIXED / h)
            image = cv2.resize(image, (max(1, round(w * sx)), max(1, round(h * sy))))
            height = width = FIXED
        else:
            width, height = _input_side(w, self.max_squeeze), _input_side(h, self.max_squeeze)
            sx, sy = min(width, w) / w, min(height, h) / h
            if (sx, sy) != (1.0, 1.0):
                image = cv2.resize(image, (min(width, w), min(height, h)), interpolation=cv2.INTER_LINEAR)
        ih, iw = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1 / 128, (iw, ih), (127.5, 127.5, 127.5), swapRB=True)
        if (ih, iw) != (height, width):
            padded = np.zeros((1, 3, height, width), dtype=np.float32)  # 0 = mid grey after normalisation
            padded[:, :, :ih, :iw] = blob
            blob = padded
        with engine_call():  # no fork in the middle (facekit.runtime._ForkGate); the session's lock inside it
            outs = self._session().run(None, {self.input_name: blob})
        floor = self._floor() if floor is None else floor
        hits: list[np.ndarray] = []
        for i, stride in enumerate(STRIDES):
            scores = outs[i][0, :, 0]
            keep = np.where(scores >= floor)[0]
            if not len(keep):
                continue
            centres = _anchor_centres(height // stride, width // stride, stride)[keep]
            dist = outs[i + 3][0, keep] * stride
            kps = outs[i + 6][0, keep] * stride + np.tile(centres, 5)
            x1y1, x2y2 = centres - dist[:, :2], centres + dist[:, 2:]
            hits.append(np.column_stack([x1y1, x2y2 - x1y1, kps, scores[keep]]))
        if not hits:
            return np.zeros((0, 15), dtype=np.float32)
        found = np.concatenate(hits).astype(np.float32)
        boxes = np.column_stack([found[:, :2], found[:, :2] + found[:, 2:4]])
        found = found[nms(boxes, found[:, 14], self.nms_in_pass)]
        found[:, 0:14:2] /= sx
        found[:, 1:14:2] /= sy
        return found


class SCRFD500MDetector(SCRFDDetector):
    """SCRFD-0.5GF: a third of SCRFD-2.5GF's time, weaker on small faces."""

    name = "scrfd-500m"
    asset = "scrfd_500m"
    default_confidence = 0.5  # SCRFD's usual, kept: precision 0.92 two passes, 0.94 one pass (not swept lower)
    calibration = BoxCalibration(dx=0.023, dy=0.131, sx=1.059, sy=0.912)
    # A 640x360 frame runs as 640x352 rather than 640x384: 9% less work a frame. On mask_scenes_val (many
    # scenes' sides squeezed by 1-5%) one pass found 0.687 of the faces at precision 0.951, against 0.679 at
    # 0.936 padded, and two passes 0.776 at 0.918 against 0.775 at 0.916.
    max_squeeze = 0.05
    # Chosen as SCRFD-2.5GF's (mask_real_train): at (32, 0.1) this weaker network lost 5 faces of 4,152, at
    # (48, 0.1) 3, the pass skipped on 3,185 of 3,936 photos; mask_scenes_val: skipped on 60 of 200, no box lost.
    fine_gate = (48.0, 0.1)
    tile_check = None  # not measured on this network: its 4K frames' tiles (--fine-pass) are kept as they were
