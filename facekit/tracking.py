"""IoU tracker: gives each face an id that persists across frames, and smooths every head's class
probabilities per track (EMA) so labels don't flicker from frame to frame.

Heads need not run on every frame (`head_every`): `heads_due` says, per head, which faces get
fresh predictions this frame (a new track, a box that changed since the heads last saw it, a label
still in doubt, or the track's turn, staggered by id so tracks share the work across frames); the
others carry their smoothed probabilities. The EMA weight is per frame (`smooth ** frames since the last observation`), so a
label reacts as fast in time whether the heads ran every frame or every K-th.

Matching is one-to-one (Hungarian, `match_pairs`) on IoU between each track's *predicted* box (last box moved by
its centre's velocity; the size is not extrapolated, since a detector's box that jumps in size for a
frame would otherwise make the prediction collapse and lose the face) and the new detections, so two faces that cross keep their ids; a centroid-distance
fallback catches fast motion where boxes no longer overlap. A track not seen for `max_missed`
frames is dropped: a face that comes back after a longer gap is a new track.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from .types import Box, Face, Prediction, iou_matrix

# Each head every 4th frame, and every frame while a face's label is in doubt (heads_due below):
# on the hamilton clip 98.9% of face-frames keep every head's label of heads-every-frame (mask 100%,
# emotion 98.9%, gender 100%) for 46% / 72% / 62% of the mask / emotion / gender runs (python -m
# bench.video; K=3 99.0%, K=6 98.9%). Here, not in facekit.pipeline, so that facekit.batch's options read it
# without importing OpenCV (a Python without it gets one line from run_script, not a traceback).
HEAD_EVERY = 4
# A track's shown label changes only when another class's smoothed probability leads it by more than this. On a
# still face nearly tied between happy and neutral (obama_and_biden.jpg, camera noise of 12 grey levels) the
# argmax changed on 29% of frames, 2% with 0.08 (6% with 0.05, 1% with 0.12); on the hamilton clip no change of
# the argmax lasting 10 frames went unshown, none was held back over 3 frames, a step shows as soon as the argmax
# turns, and --head-every 4 keeps heads-every-frame's labels on 99.2% of face-frames, as with the argmax. Holding
# a label N frames, or a longer smoothing for the label alone, delayed every real change 2-5 frames instead.
LABEL_MARGIN = 0.08


@dataclass
class _Track:
    id: int
    box: np.ndarray  # float xyxy
    face: Face
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    # The last box a detector gave, and the frames since that were only followed (`follow()`, --detect-every):
    # velocity is measured from there. Measured from the last followed box, K frames of motion read as one
    # (a 3 px a frame pan at --detect-every 5 became 7.5 px a frame, and small faces were lost).
    anchor: np.ndarray | None = None
    carried: int = 0
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # task -> the label the track shows (LABEL_MARGIN)
    missed: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # task -> tracker frame of its last observation
    head_box: np.ndarray | None = None  # the box every head last ran on
    next_heads: dict[str, int] = field(default_factory=dict)  # task -> tracker frame its head is due again

    def predicted(self, steps: int = 1) -> np.ndarray:
        return self.box + self.velocity * steps


def _as_array(box: Box) -> np.ndarray:
    return np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float64)


class IoUTracker:
    """Call `update(faces)` once per frame with that frame's detections (heads already run).

    smooth: EMA weight of the past, 0 = off (each frame's own probabilities and their top label), 0.9 = very steady.
    label_margin: a track keeps the label it shows until another class leads it by more than this (with smooth > 0).
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 15, smooth: float = 0.6,
                 max_center_shift: float = 0.6, velocity_gain: float = 0.5, label_margin: float = LABEL_MARGIN):
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.smooth = smooth
        self.max_center_shift = max_center_shift  # in units of the track's box size
        self.velocity_gain = velocity_gain
        self.label_margin = label_margin
        self.tracks: list[_Track] = []
        self._next_id = 1
        self.frame = -1  # counts assign() calls: the clock for smoothing and head scheduling
        self.frame_size: tuple[int, int] | None = None  # (w, h), to clip predicted boxes

    def camera_moved(self, dx: float, dy: float, zoom: float = 1.0) -> None:
        """The picture moved by (dx, dy) px since the last frame, after a `zoom` about the frame's centre (a
        panning, shaking or walking camera): every track's box moves with it, so a face that holds still in the
        scene is looked for, and followed, where it now is, and its velocity stays its own motion."""
        step = np.array([dx, dy, dx, dy])
        centre = (np.array([*self.frame_size, *self.frame_size], float) - 1) / 2 if self.frame_size else 0.0
        for t in self.tracks:
            t.box = (t.box - centre) * zoom + centre + step
            t.velocity = t.velocity * zoom
            if t.anchor is not None:
                t.anchor = (t.anchor - centre) * zoom + centre + step

    def end_tracks(self) -> None:
        """End every track (a scene cut): faces after it get new ids, never an old face's id."""
        self.tracks = []

    # -- matching ---------------------------------------------------------------------------------

    def _match(self, tracks: list[_Track], boxes: np.ndarray) -> list[tuple[int, int]]:
        """(track index, box index) pairs, one-to-one."""
        if not tracks or len(boxes) == 0:
            return []
        predicted = np.array([t.predicted(t.missed + 1) for t in tracks])
        iou = iou_matrix(predicted, boxes)
        # Centroid fallback: distance between centres, in units of the track's box size.
        pc = (predicted[:, :2] + predicted[:, 2:]) / 2
        bc = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = np.maximum(predicted[:, 2] - predicted[:, 0], predicted[:, 3] - predicted[:, 1])
        dist = np.linalg.norm(pc[:, None, :] - bc[None, :, :], axis=2) / np.maximum(size, 1.0)[:, None]
        ok = (iou >= self.iou_threshold) | (dist <= self.max_center_shift)
        # IoU dominates; the distance term breaks ties and ranks the fallback pairs.
        return match_pairs((1.0 - iou) + 0.1 * dist, ok)

    # -- smoothing --------------------------------------------------------------------------------

    def _smoothed(self, track: _Track, face: Face) -> Face:
        if not face.predictions:
            # No head ran on this face this frame (its turn is later, or it is too small for the heads):
            # show the track's smoothed labels.
            if track.probs:
                return face.replace(predictions=self._predictions(track))
            return face
        for task, pred in face.predictions.items():
            labels = list(pred.probabilities)
            p = np.array([pred.probabilities[k] for k in labels], dtype=np.float64)
            old = track.probs.get(task)
            if old is None or self.smooth == 0.0 or track.labels.get(task) != labels:
                track.probs[task] = p
            else:
                keep = self.smooth ** max(1, self.frame - track.seen.get(task, self.frame - 1))
                track.probs[task] = keep * old + (1.0 - keep) * p
            track.labels[task] = labels
            track.seen[task] = self.frame
        return face.replace(predictions=self._predictions(track))

    def _predictions(self, track: _Track) -> dict[str, Prediction]:
        out = {}
        for task, p in track.probs.items():
            labels = track.labels[task]
            pred = Prediction.from_probabilities(labels, p / p.sum() if p.sum() > 0 else p)
            kept = track.shown.get(task)
            # Near a tie the argmax flipped with every frame's noise, and a video's label blinked between two.
            if (self.smooth and kept in labels and kept != pred.label
                    and pred.score - pred.probabilities[kept] <= self.label_margin):
                pred = replace(pred, label=kept, score=pred.probabilities[kept])
            track.shown[task] = pred.label
            out[task] = pred
        return out

    # -- public -----------------------------------------------------------------------------------

    def update(self, faces: list[Face]) -> list[Face]:
        """Assign ids to this frame's faces and smooth their probabilities; returns copies, in input order.

        A face that already carries a `track_id` of a live track (from `follow()`) stays on it.
        """
        return self.smooth_faces(self.assign(faces))

    def assign(self, faces: list[Face]) -> list[Face]:
        """The first half of `update`: ids only (copies, in input order); predictions left as they are.
        Run the heads on `heads_due(...)` of the result, then pass it to `smooth_faces`."""
        self.frame += 1
        out: list[Face | None] = [None] * len(faces)
        by_id = {t.id: t for t in self.tracks}
        matched_tracks: set[int] = set()
        free = []
        for i, f in enumerate(faces):
            t = by_id.get(f.track_id) if f.track_id is not None else None
            if t is not None and t.id not in matched_tracks:
                out[i] = self._assign(t, f, moved=False, followed=True)
                matched_tracks.add(t.id)
            else:
                free.append(i)
        candidates = [t for t in self.tracks if t.id not in matched_tracks]
        boxes = np.array([_as_array(faces[i].box) for i in free]).reshape(-1, 4)
        pairs = self._match(candidates, boxes)
        used = set()
        for r, c in pairs:
            t, i = candidates[r], free[c]
            out[i] = self._assign(t, faces[i], moved=True)
            matched_tracks.add(t.id)
            used.add(c)
        for c, i in enumerate(free):
            if c in used:
                continue
            t = _Track(id=self._next_id, box=_as_array(faces[i].box), face=faces[i])
            self._next_id += 1
            self.tracks.append(t)
            matched_tracks.add(t.id)
            out[i] = self._assign(t, faces[i], moved=False)
        for t in self.tracks:
            if t.id not in matched_tracks:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out  # type: ignore[return-value]

    def smooth_faces(self, faces: list[Face]) -> list[Face]:
        """The second half of `update`: fold each face's fresh predictions into its track's smoothed
        probabilities; a face without predictions shows the track's."""
        # Keyed by int | None so that an untracked face (track_id None) looks up as no track.
        by_id: dict[int | None, _Track] = {t.id: t for t in self.tracks}
        out = []
        for face in faces:
            t = by_id.get(face.track_id)
            if t is None:
                out.append(face)
                continue
            t.face = self._smoothed(t, face)
            out.append(t.face)
        return out

    def heads_due(self, faces: list[Face], tasks: list[str], every: int, min_iou: float = 0.5,
                  sure: float = 0.5) -> dict[str, list[int]]:
        """Task -> indices of the `assign`ed faces whose head should run this frame (noted as run).

        A head is due on a track it has not seen, on a box that moved or changed size (IoU under
        `min_iou` with the box the heads last saw: a turned head or a face stepping into the light
        reads differently), while the track's label is in doubt (top-two margin of its smoothed
        probabilities under `sure`: there one frame can flip it, so it is watched every frame), and
        otherwise every `every` frames. A new track's second turn comes 1 + (id mod every) frames
        after its first, so tracks born together (after a cut) do not all run on the same frames.
        On the hamilton clip (heads every 4 frames, fp16 heads) `sure` 0.5 keeps 98.6% of face-frames'
        labels as heads on every frame give them; 0.3 keeps 95.9%, 0 (turns only) 89%: the labels that
        differ are the ones near a tie, where the per-frame readings flip.
        """
        by_id: dict[int | None, _Track] = {t.id: t for t in self.tracks}
        due: dict[str, list[int]] = {task: [] for task in tasks}
        for i, face in enumerate(faces):
            t = by_id.get(face.track_id)
            moved = t is None or t.head_box is None or iou_matrix(t.head_box, t.box)[0, 0] < min_iou
            if t is not None and moved:
                t.head_box = t.box.copy()
            for task in tasks:
                if t is None:
                    due[task].append(i)
                    continue
                turn = t.next_heads.get(task)
                if moved or turn is None or self.frame >= turn or _margin(t.probs.get(task)) < sure:
                    due[task].append(i)
                    t.next_heads[task] = self.frame + (1 + t.id % every if turn is None else every)
        return due

    def _assign(self, t: _Track, face: Face, moved: bool, followed: bool = False) -> Face:
        new = _as_array(face.box)
        if moved:
            base = t.anchor if t.carried and t.anchor is not None else t.box
            shift = ((new[:2] + new[2:]) - (base[:2] + base[2:])) / 2 / (t.missed + t.carried + 1)
            step = np.concatenate([shift, shift])  # the centre's motion, applied to both corners
            t.velocity = self.velocity_gain * step + (1.0 - self.velocity_gain) * t.velocity
        if followed:
            t.carried += 1
        else:
            t.anchor, t.carried = new, 0
        t.box = new
        t.missed = 0
        return face.replace(track_id=t.id)

    def follow(self) -> list[Face]:
        """Faces where the live tracks are expected in the next frame, without running a detector
        (`--detect-every K`): the last box moved by the track's velocity, with its id and labels."""
        faces = []
        for t in self.tracks:
            if t.missed:
                continue
            box = t.predicted(1)
            if self.frame_size is not None:
                x1, y1, x2, y2 = box
                b = Box.clipped(x1, y1, x2, y2, width=self.frame_size[0], height=self.frame_size[1])
            else:
                b = Box(*(int(round(v)) for v in box))
            if b.is_valid(4):
                faces.append(t.face.replace(box=b))
        return faces


def match_pairs(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """The one-to-one (row, column) pairs among the `allowed` ones that are the most in number and, among
    those, cheapest in total `cost`: what the Hungarian method (scipy's linear_sum_assignment) gives with a
    forbidding cost on the pairs not allowed, sorted by row.

    Solved exactly per group of rows and columns that allowed pairs connect: in a video nearly every face
    is a group of one track and one box, and no two far-apart faces need be weighed together. scipy was a
    dependency for this alone; importing it at a video's first frame cost ~0.1 s and its BLAS buffers,
    which under a memory limit (ulimit -v 1.3 GB) hung the run at full CPU."""
    rows, cols = np.nonzero(allowed)
    if not len(rows):
        return []
    n = cost.shape[0]
    parent = list(range(n + cost.shape[1]))  # union-find over rows 0..n-1 and columns n..

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r, c in zip(rows.tolist(), cols.tolist()):
        parent[root(r)] = root(n + c)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in sorted(set(rows.tolist()) | {n + c for c in cols.tolist()}):
        members = groups.setdefault(root(i), ([], []))
        (members[0] if i < n else members[1]).append(i if i < n else i - n)
    pairs = []
    for group_rows, group_cols in groups.values():
        if len(group_rows) == len(group_cols) == 1:  # one track, one box: nothing to weigh
            pairs.append((group_rows[0], group_cols[0]))
            continue
        sub = np.ix_(group_rows, group_cols)
        for r, c in _assign(np.where(allowed[sub], cost[sub], np.inf)):
            pairs.append((group_rows[r], group_cols[c]))
    return sorted(pairs)


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment of a small matrix whose forbidden entries are inf: as many finite pairs as
    can be had, then the least total cost. The shortest-augmenting-path Hungarian method (Kuhn-Munkres with
    potentials), rows <= columns (a wider matrix is transposed); only finite pairs are returned."""
    if cost.shape[0] > cost.shape[1]:
        return [(r, c) for c, r in _assign(cost.T)]
    n, m = cost.shape
    finite = cost[np.isfinite(cost)]
    # Forbidden pairs cost more than any set of allowed ones, so the number of allowed pairs comes first.
    big = (float(np.abs(finite).sum()) + 1.0) * (n + 1)
    a = np.where(np.isfinite(cost), cost, big)
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=int)  # owner[j]: the row (1-based) holding column j; column 0 is a sentinel
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        min_reduced = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            reduced = a[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < min_reduced[1:])
            min_reduced[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_reduced[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            min_reduced[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return [(int(owner[j]) - 1, j - 1) for j in range(1, m + 1)
            if owner[j] and np.isfinite(cost[owner[j] - 1, j - 1])]


def _margin(probs: np.ndarray | None) -> float:
    """Top-one minus top-two probability (0 when there is nothing to go on)."""
    if probs is None or len(probs) < 2:
        return 0.0
    top = np.sort(probs / max(probs.sum(), 1e-12))
    return float(top[-1] - top[-2])


class SceneCuts:
    """Spots a cut between consecutive frames, after which no face can continue a track.

    Compares 32x18 grayscale thumbnails: on the hamilton clip the three cuts differ by 26-30 grey
    levels on average, ordinary frames by 2.4 (95% under 8.5), so 20 sits well between. Without it
    a face in the new shot whose box overlaps an old one inherits that face's id and its smoothed
    probabilities.

    A moving camera shifts the whole picture, which alone differs as much as a cut: a phone panning
    across a group photo at 10 px a frame (640 px wide) read as a cut every other frame, a shaking hand
    on the hamilton clip 44 times, each ending every track (one person got a new id on most frames). So
    a frame over the threshold is compared again with the last one shifted by the camera's motion
    (phase correlation on 128x72 thumbnails, shifts up to a quarter of the frame): those pans and shakes
    then differ by 1-14, while the clip's cuts still differ by 26-30 (a cut's best shift matches nothing).
    """

    MOTION_SIZE = (128, 72)

    def __init__(self, threshold: float = 20.0, follow_camera: bool = True):
        self.threshold = threshold
        # The camera's move costs ~1 ms a frame (phase correlation and the zoom's warps): a run that detects on
        # every frame never reads it, and measures it only where a frame differs enough to be a cut.
        self.follow_camera = follow_camera
        self._prev: np.ndarray | None = None
        self._prev_motion: np.ndarray | None = None
        self._prev_gray: np.ndarray | None = None
        self.shift = (0.0, 0.0)  # the camera's move since the last frame, in this frame's pixels (none on a cut)
        self.zoom = 1.0  # and its zoom about the frame's centre, applied before the shift

    def __call__(self, frame: np.ndarray) -> bool:
        import cv2

        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        thumb = cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, thumb
        # A run that does not follow the camera needs the motion thumbnails only on a frame that differs like a
        # cut: it keeps the gray frame (made anyway) and shrinks it only then, not on every frame.
        prev_gray, self._prev_gray = self._prev_gray, gray
        prev_motion, self._prev_motion = self._prev_motion, None
        self.shift, self.zoom = (0.0, 0.0), 1.0
        if prev is None:
            if self.follow_camera:
                self._prev_motion = _motion_thumb(gray, self.MOTION_SIZE)
            return False
        differs = float(np.abs(thumb - prev).mean()) > self.threshold
        if not (differs or self.follow_camera):
            return False
        motion = self._prev_motion = _motion_thumb(gray, self.MOTION_SIZE)
        if prev_motion is None:
            assert prev_gray is not None  # set with self._prev, which a frame before this one set
            prev_motion = _motion_thumb(prev_gray, self.MOTION_SIZE)
        dx, dy = _phase_shift(prev_motion, motion)
        full, (moved, before, now) = _common_part(prev_motion, motion, dx, dy)
        if differs and (dx == dy == 0.0 or float(np.abs(_thumb(moved) - _thumb(now)).mean()) > self.threshold):
            return True
        if not self.follow_camera:
            return False
        # The shift is the camera's only where it explains most of the change: a big face walking across a still
        # shot (the hamilton clip's second) moves the correlation's peak too, and there the shifted frames
        # differ 0.6-1.0 times as much as the plain ones; a pan or shake (12 Angry Men panned, the clip shaken)
        # 0.05-0.5 times, mostly under 0.3. A move under a thumbnail pixel (a 4K pan of 3 px a frame) changes
        # too little for that test, and a wrong one moves a box 1/128 of the frame at most.
        if max(abs(dx), abs(dy)) < 1.0 or float(np.abs(moved - now).mean()) <= 0.5 * float(
                np.abs(before - now).mean()):
            scale = gray.shape[1] / self.MOTION_SIZE[0], gray.shape[0] / self.MOTION_SIZE[1]
            self.shift = (dx * scale[0], dy * scale[1])
            self.zoom = _zoom(prev_motion, motion, dx, dy, full)
        return False


def _phase_shift(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """How far the picture moved between two thumbnails, in their pixels (0, 0 past a quarter of the frame:
    no pan moves that far in a frame, and a cut's best shift means nothing)."""
    import cv2

    h, w = cur.shape
    # phaseCorrelate windows its inputs in place: copies keep the thumbnails as they are.
    (dx, dy), _ = cv2.phaseCorrelate(prev.copy(), cur.copy(), _hanning(w, h))
    return (0.0, 0.0) if abs(dx) > w / 4 or abs(dy) > h / 4 else (float(dx), float(dy))


def _common_part(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float):
    """The earlier thumbnail moved by (dx, dy), and the part both show then: (moved, (moved, earlier, current))."""
    import cv2

    h, w = cur.shape
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(prev, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
    x0, x1 = int(np.ceil(max(dx, 0.0))), w - int(np.ceil(max(-dx, 0.0)))
    y0, y1 = int(np.ceil(max(dy, 0.0))), h - int(np.ceil(max(-dy, 0.0)))
    return moved, (moved[y0:y1, x0:x1], prev[y0:y1, x0:x1], cur[y0:y1, x0:x1])


def _zoom(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float, shifted: np.ndarray) -> float:
    """The zoom about the centre (with the shift) that best maps the earlier thumbnail onto the current one, in
    steps of 1% up to 5% a frame; 1 unless it matches clearly better than none (a walk toward the people).
    `shifted`: the earlier one moved by the shift alone, zoom 1's warp, which the shift's test made already."""
    import cv2

    h, w = cur.shape
    inner = (slice(h // 8, h - h // 8), slice(w // 8, w - w // 8))  # away from borders a zoom or shift fills in

    def difference(z: float) -> float:
        m = np.array([[z, 0, (1 - z) * (w - 1) / 2 + dx], [0, z, (1 - z) * (h - 1) / 2 + dy]], dtype=np.float32)
        moved = cv2.warpAffine(prev, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        return float(np.abs(moved[inner] - cur[inner]).mean())

    flat = float(np.abs(shifted[inner] - cur[inner]).mean())
    best, z = min((difference(z), z) for z in (0.95, 0.96, 0.97, 0.98, 0.99, 1.01, 1.02, 1.03, 1.04, 1.05))
    return z if best < 0.8 * flat else 1.0


def _motion_thumb(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _hanning(w: int, h: int) -> np.ndarray:
    """phaseCorrelate's window for a thumbnail size, made once (every frame made it again)."""
    import cv2

    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    window.flags.writeable = False  # shared between calls: nothing may change it
    return window


def _thumb(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)
