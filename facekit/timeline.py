"""How each face's class probabilities change over a video: one subplot per track, one line per
class, and for emotion the face's intensity (1 - P(neutral), `types.emotion_intensity`; none for a head without
a "neutral" class) as a thick dashed line on the same axes (the seed's "how emotion intensity changes on a face
from low to high")."""

from __future__ import annotations

import io
import os
from collections import defaultdict
from typing import cast

from .evaluation import plot_fonts
from .records import CutShort, atomic_write
from .types import Face

# Beyond this many tracks the figure stops being readable; the longest tracks are kept.
MAX_TRACKS = 8
# Tracks shorter than this are detector blips, not people.
MIN_POINTS = 3
# A track's points kept for the plot: past this, every other one is dropped (a 10-inch figure shows ~1,000 px
# across). Without a cap a camera watched for a day with --timeline grew by ~1.2 GB (30 FPS, two faces, 240
# bytes a point by tracemalloc).
MAX_POINTS = 4000
# A track unseen for this long (video seconds) is over (the tracker lets one go after 15 frames and never
# reuses its id): unless it is among the MAX_TRACKS longest, its points are let go. A busy entrance sends a
# new face every few seconds, and every point of every face was kept for a plot that draws 8 of them:
# ~40 MB an hour at two faces a frame, 30 FPS.
GONE_S = 120.0
# A track unseen for longer than this many of its usual steps between points (and 0.5 s at least) has its curves
# broken there: the tracker keeps a face through 15 analysed frames unseen (1.5 s at --every 3), and a straight
# line across that gap drew values no frame measured, as if the CSV had rows there.
GAP_STEPS = 3
MIN_GAP_S = 0.5
# Faces drawn on one time axis need to fill some of it: a 10-minute video's 8 longest faces, seen 4 s each across
# 200 s, were slivers no curve could be read in. When the shortest drawn face spans less than this share of the
# faces' whole time, each face gets its own time axis.
SHARED_AXIS_MIN = 0.1
# Colour alone told a face's curves apart: a reader who cannot tell red from green (about one man in twelve) could
# not tell its angry curve from its surprise one, nor the legend's. Each label's curve also carries a marker shape
# of its own, MARKS_PER_CURVE of them along it (staggered between labels), shown in the legend too.
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "d")
MARKS_PER_CURVE = 8


class Timeline:
    """Collects (time, probabilities) per track for one task while the video runs."""

    def __init__(self, task: str, labels: list[str], colors: dict[str, tuple] | None = None):
        """colors: label -> BGR, as the video is drawn (`Style.color`); each curve takes its label's hue, darkened
        to read on the plot's white (the video's cyan "Happy" was a red curve, and orange meant disgust there)."""
        self.task = task
        self.labels = list(labels)
        self.colors = {label: on_white(bgr) for label, bgr in (colors or {}).items()}
        self.series: dict[int, list[tuple[float, list[float]]]] = defaultdict(list)
        self.intensity: dict[int, list[float | None]] = defaultdict(list)  # per point, None without one
        self.points: dict[int, int] = {}  # every point a kept track was given (its series may be thinned)
        self.eyes_only: dict[int, int] = {}  # points whose emotion was read from the eyes alone (a mask)
        self.last_s: dict[int, float] = {}
        self.seen = 0  # tracks with predictions, kept or not
        # Of those, the tracks labelled in MIN_POINTS frames or more, the ones a plot may draw, let go or not: the
        # plot's "(the 3 longest of 8 labelled)" counted 5 blips of a frame or two that no plot draws.
        self.long = 0
        self._pruned_s = 0.0

    @staticmethod
    def pick_task(task_labels: dict[str, list[str]]) -> str | None:
        """Emotion when there is an emotion head, else the first head (e.g. mask)."""
        if "emotion" in task_labels:
            return "emotion"
        return next(iter(task_labels), None)

    def add(self, time_s: float, faces: list[Face]) -> None:
        for face in faces:
            pred = face.predictions.get(self.task)
            if pred is None or face.track_id is None:
                continue
            track = face.track_id
            if track not in self.points:
                self.seen += 1
            self.points[track] = self.points.get(track, 0) + 1
            self.long += self.points[track] == MIN_POINTS
            if self.task == "emotion" and face.emotion_eyes_only:
                self.eyes_only[track] = self.eyes_only.get(track, 0) + 1
            self.last_s[track] = time_s
            series, intensity = self.series[track], self.intensity[track]
            series.append((time_s, [pred.probabilities.get(k, 0.0) for k in self.labels]))
            intensity.append(pred.intensity if self.task == "emotion" else None)
            if len(series) > MAX_POINTS:
                self.series[track], self.intensity[track] = series[::2], intensity[::2]
        if time_s - self._pruned_s >= GONE_S:
            self._pruned_s = time_s
            longest = set(sorted(self.points, key=lambda t: -self.points[t])[:MAX_TRACKS])
            for t in [t for t in self.points if t not in longest and time_s - self.last_s[t] > GONE_S]:
                for table in (self.series, self.intensity, self.points, self.last_s):
                    del table[t]
                self.eyes_only.pop(t, None)

    def tracks(self) -> list[int]:
        kept = [t for t, n in self.points.items() if n >= MIN_POINTS]
        kept.sort(key=lambda t: -self.points[t])
        return sorted(kept[:MAX_TRACKS])

    def left_out(self) -> str:
        """What the plot does not show, for the line that says where it went ("" when it shows every face)."""
        drawn, blips = len(self.tracks()), self.seen - self.long
        if self.seen and not drawn:
            return f" (empty: no face had {self.task} labels in {MIN_POINTS} frames or more)"
        # Labelled, not seen: a face no head read is counted nowhere here, as it has no curve to leave out.
        short = f"{blips} labelled in under {MIN_POINTS} frames not drawn"
        if self.long > drawn:
            return (f" ({drawn} of the {self.long} faces with {self.task} labels in {MIN_POINTS} frames or more: "
                    f"the longest-seen" + (f"; {short}" if blips else "") + ")")
        return f" (every face with {self.task} labels in {MIN_POINTS} frames or more; {short})" if blips else ""

    @plot_fonts
    def save(self, path: str | os.PathLike, title: str = "", cut: CutShort | None = None) -> int:
        """Write the figure (format from the extension); returns the number of tracks drawn. cut: a run cut
        short does not replace a plot already there (`records.CutShort`)."""
        from .runtime import figure

        tracks = self.tracks()
        rows = max(1, len(tracks))
        spans = [(self.series[t][0][0], self.series[t][-1][0]) for t in tracks]
        whole = max((end for _, end in spans), default=0.0) - min((start for start, _ in spans), default=0.0)
        own_axes = whole > 0 and min(end - start for start, end in spans) < SHARED_AXIS_MIN * whole
        # Constrained layout keeps the title and the legend above the plots, off every face's curves.
        fig = figure(figsize=(10, 1.2 + 2.2 * rows), layout="constrained")
        axes = fig.subplots(rows, 1, sharex=not own_axes, squeeze=False)
        dashed = False  # an emotion head without a "neutral" class has no intensity: no dashed line to name
        for ax, track in zip(axes[:, 0], tracks):
            pts = self.series[track]
            times = [t for t, _ in pts]
            gaps = _gaps(times)
            every = max(1, len(times) // MARKS_PER_CURVE)
            for j, label in enumerate(self.labels):
                ax.plot(*_broken(times, [p[j] for _, p in pts], gaps), label=label, linewidth=1.4,
                        color=self.colors.get(label), marker=MARKERS[j % len(MARKERS)], markersize=5,
                        markevery=(j * every // max(1, len(self.labels)), every))
            strength = self.intensity.get(track, [])
            if strength and all(v is not None for v in strength):
                # every point has one: the all() above
                ax.plot(*_broken(times, cast("list[float]", strength), gaps), label="intensity", color="black",
                        linewidth=2.4, linestyle="--")
                dashed = True
            ax.set_ylim(-0.02, 1.02)
            # The drawing, the JSON and the CSV say a masked face's emotion was read from the eyes alone; the
            # plot drew its curves as a whole face's, the less certain reading unmarked.
            eyes = self.eyes_only.get(track, 0)
            ax.set_ylabel(f"face #{track}" + ("\n(eyes only)" if eyes == self.points[track] else
                                                f"\n(eyes only {eyes / self.points[track]:.0%})" if eyes else ""))
            ax.grid(alpha=0.3)
        if not tracks:
            why = (f"no face labelled in {MIN_POINTS} frames or more" if self.seen
                   else "no tracked faces with predictions")
            axes[0, 0].text(0.5, 0.5, why, ha="center", va="center", transform=axes[0, 0].transAxes)
        if tracks:
            axes[0, 0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(self.labels) + 1, 8),
                              fontsize=8, frameon=False)
        axes[-1, 0].set_xlabel("time (s), each face on its own axis" if own_axes else "time (s)")
        what = "probability and intensity (dashed)" if dashed else "probability"
        shown = (f" (the {len(tracks)} longest of {self.long} labelled in {MIN_POINTS} frames or more)"
                 if self.long > len(tracks) and tracks else "")
        fig.suptitle(title or f"{self.task} {what} over time, per face{shown}")
        buf = io.BytesIO()
        fmt = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
        fig.savefig(buf, format=fmt, dpi=100)
        with atomic_write(path, "wb", cut=cut) as fh:
            fh.write(buf.getvalue())
        return len(tracks)


def _gaps(times: list[float]) -> set[int]:
    """Indices i where the track went unseen between point i - 1 and point i (see GAP_STEPS)."""
    steps = sorted(b - a for a, b in zip(times, times[1:]))
    if not steps:
        return set()
    limit = max(MIN_GAP_S, GAP_STEPS * steps[len(steps) // 2])
    return {i for i in range(1, len(times)) if times[i] - times[i - 1] > limit}


def _broken(times: list[float], values: list[float], gaps: set[int]) -> tuple[list[float], list[float]]:
    """The curve with a NaN point at each gap, where matplotlib lifts the pen."""
    xs, ys = [], []
    for i, (t, v) in enumerate(zip(times, values)):
        if i in gaps:
            xs.append((times[i - 1] + t) / 2)
            ys.append(float("nan"))
        xs.append(t)
        ys.append(v)
    return xs, ys


def on_white(bgr: tuple) -> tuple[float, float, float]:
    """A drawing colour (BGR, 0-255) as a matplotlib RGB that reads on white: the same hue, its brightest channel
    brought down to 0.7 (the video's yellow and cyan, drawn on dark label blocks, vanish on a white plot)."""
    rgb = [c / 255.0 for c in reversed(bgr)]
    k = min(1.0, 0.7 / max(max(rgb), 1e-6))
    return (rgb[0] * k, rgb[1] * k, rgb[2] * k)

