"""Per-person results of a video: a summary row per track (first / last time seen, frames, each head's
majority label), and `--alert`, a command run once per person seen without a mask for a while.

Both are fed the tracked, smoothed faces of each frame, so the CLI and the library share them.
"""

from __future__ import annotations

import csv
import errno
import heapq
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, cast

import numpy as np

from .errors import FacekitError, counted
from .records import CutShort, atomic_write
from .types import NEUTRAL, Face, _fixed, emotion_intensity
from .video import hide_password

MASK_TASK = "mask"
UNMASKED = "without_mask"
# One second of video time: long enough that a face turning or a hand passing does not fire it.
ALERT_AFTER_S = 1.0
# Alert commands still running at the close of a run are given this long to end before they are stopped, and those
# given SIGTERM this long more before SIGKILL.
ALERT_WAIT_S = 5.0
ALERT_KILL_S = 1.0
# Commands that end this soon at the close (a Ctrl-C passed on to them) are no wait worth a line.
ALERT_QUIET_S = 0.2


# --- per-person summary ------------------------------------------------------------------------------


# The tracker lets a track go after max(15, 2 x --detect-every) analysed frames unseen and never reuses its id: a
# person unseen for this many analysed frames (not file frames: --every skips those) is gone for good, and
# their row is final.
DONE_AFTER_FRAMES = 1800


@dataclass(slots=True)
class Person:
    """What one track saw. `tally[0, i]` counts the frames whose head gave label i (every task's labels
    side by side, as `PeopleSummary.labels` lists them); `tally[1, i]` sums label i's probability over
    the frames its head labelled, so any label's mean can be read back, not only the majority's."""

    track_id: int
    first_frame: int
    first_s: float
    tally: np.ndarray
    last_frame: int = 0
    last_s: float = 0.0
    frames: int = 0
    first_clock: str = ""  # a camera's or stream's local date and time (records.clock_text)
    last_clock: str = ""
    last_add: int = 0  # the PeopleSummary.add call (analysed frame) it was last seen in
    eyes_only: int = 0  # frames whose emotion was read from the eyes alone (the mask head saw a mask)


class PeopleSummary:
    """One row per track while a video runs. A camera watched for weeks sees tens of thousands of people:
    someone unseen for DONE_AFTER_FRAMES is kept as their finished row alone (a tuple of ~0.4 KB; their
    label counters took 2.5 KB), so memory grows with the people in view, not with everyone ever seen."""

    def __init__(self, task_labels: dict[str, list[str]], clock: bool = False):
        """clock: rows also say when (local date and time) each person was first and last seen, from the
        `clock` given to `add` (a camera or stream: seconds since the start say little a week on)."""
        self.tasks = list(task_labels)
        self.clock = clock
        self.labels = [(task, label) for task in self.tasks for label in task_labels[task]]
        # As the per-frame CSV's emotion_eyes_only: only with a mask head, else nobody looked for a mask.
        self.eyes = "emotion" in self.tasks and MASK_TASK in self.tasks
        self._index = {key: i for i, key in enumerate(self.labels)}
        self._spans, at = {}, 0
        for task in self.tasks:
            self._spans[task] = range(at, at + len(task_labels[task]))
            at += len(task_labels[task])
        self.people: dict[int, Person] = {}  # in view (or lately)
        # Why a track no head has labelled yet got none ("too dark to read"), for the closing table: a row of
        # dashes said nothing. Shared short strings; a track is dropped from it once a head labels it.
        self._why: dict[int, str] = {}
        self._done: list[tuple] = []  # the others' rows, in `columns()` order
        # Analysed frames (add calls), as the tracker counts them: with --every 150 a file's frame number jumps
        # 150 a frame, and a person missed for 13 of them (still one track) was closed and came back as a second
        # row of the same track id.
        self._adds = 0
        self._swept = 0

    def __len__(self) -> int:
        return len(self.people) + len(self._done)

    def add(self, frame: int, time_s: float, faces: Iterable[Face], clock: str | None = None,
            why: Callable[[Face], str | None] | None = None) -> None:
        """why: for a face no head labelled, the reason in words (FacePipeline.why_unlabelled on this frame)."""
        index = self._index
        self._adds += 1
        for face in faces:
            if face.track_id is None:
                continue
            person = self.people.get(face.track_id)
            if person is None:
                person = self.people[face.track_id] = Person(face.track_id, frame, time_s,
                                                              np.zeros((2, len(self.labels))), first_clock=clock or "")
            person.last_frame, person.last_s, person.last_clock = frame, time_s, clock or ""
            person.last_add = self._adds
            person.frames += 1
            if face.predictions:
                self._why.pop(face.track_id, None)
            elif why is not None and face.track_id not in self._why and (reason := why(face)):
                self._why[face.track_id] = sys.intern(reason.split(" (")[0])  # "too dark to read"
            if self.eyes and face.emotion_eyes_only:
                person.eyes_only += 1
            for task in self.tasks:
                pred = face.predictions.get(task)
                if pred is None:  # faces too small for the heads get no label: no vote
                    continue
                if (i := index.get((task, pred.label))) is not None:
                    person.tally[0, i] += 1
                for label, probability in pred.probabilities.items():
                    if (i := index.get((task, label))) is not None:
                        person.tally[1, i] += probability
        if self._adds - self._swept >= DONE_AFTER_FRAMES:
            self._swept = self._adds
            for person in [p for p in self.people.values() if self._adds - p.last_add > DONE_AFTER_FRAMES]:
                self._done.append(self._row(person))
                del self.people[person.track_id]

    def majority(self, person: Person, task: str) -> tuple[str, float] | None:
        """The label `task`'s head gave most often (ties: the higher summed probability) and the mean of
        that label's probability over every frame the head labelled; None if it never labelled."""
        span = self._spans[task]
        counts, sums = person.tally[0], person.tally[1]
        total = counts[span.start:span.stop].sum()
        if not total:
            return None
        best = max(span, key=lambda i: (counts[i], sums[i]))
        return self.labels[best][1], float(sums[best] / total)

    def _row(self, p: Person) -> tuple:
        # Times rounded as the per-frame CSV rounds them, so the two files agree exactly.
        row: list[Any] = [p.track_id, p.first_frame, p.last_frame, round(p.first_s, 4), round(p.last_s, 4)]
        if self.clock:
            row += [p.first_clock, p.last_clock]
        row.append(p.frames)
        for task in self.tasks:
            m = self.majority(p, task)
            row += (m[0], round(m[1], 4)) if m else ("", "")
            if task == "emotion" and self.eyes:
                # A masked person's emotion is the eyes' reading alone: the share of the frames the emotion head
                # labelled that were so, or a study read it as a whole face's.
                span = self._spans[task]
                labelled = p.tally[0, span.start:span.stop].sum()
                row.append(round(p.eyes_only / labelled, 4) if labelled else "")
            if task == "emotion":
                row.append(self._mean_intensity(p))
        return tuple(row)

    def _mean_intensity(self, p: Person) -> float | str:
        """The mean of the CSV's emotion_intensity (1 - P(neutral)) over the frames the emotion head labelled: a
        study of intensity per person had to compute it from the per-frame CSV. "" where never labelled."""
        span = self._spans["emotion"]
        labelled = p.tally[0, span.start:span.stop].sum()
        neutral = self._index.get(("emotion", NEUTRAL))
        if not labelled or neutral is None:
            return ""
        # Not None: the mapping holds NEUTRAL.
        return round(float(cast(float, emotion_intensity({NEUTRAL: p.tally[1, neutral] / labelled}))), 4)

    def _rows(self) -> list[tuple]:
        return sorted(self._done + [self._row(p) for p in self.people.values()], key=lambda r: r[0])

    def count(self, task: str = MASK_TASK, label: str = UNMASKED) -> int:
        """People whose majority label for `task` is `label`."""
        at = self.columns().index(f"{task}_label")
        return sum(1 for row in self._done if row[at] == label) + sum(
            1 for p in self.people.values() if (m := self.majority(p, task)) and m[0] == label)

    def columns(self) -> list[str]:
        cols = ["track_id", "first_frame", "last_frame", "first_s", "last_s"]
        cols += ["first_clock", "last_clock", "frames"] if self.clock else ["frames"]
        for task in self.tasks:
            cols += [f"{task}_label", f"{task}_prob"]
            if task == "emotion" and self.eyes:
                cols.append("emotion_eyes_only")
            if task == "emotion":
                cols.append("emotion_intensity")
        return cols

    def rows(self) -> list[dict]:
        columns = self.columns()
        return [dict(zip(columns, row)) for row in self._rows()]

    def headline(self) -> str:
        text = f"{counted(len(self), 'person', 'people')} seen"  # "1 people seen" was a video of one person's
        if MASK_TASK in self.tasks:
            text += f", {self.count()} without a mask"
        return text

    def table(self, max_rows: int = 20) -> list[str]:
        """The summary as aligned console lines, longest-seen people first when there are many."""
        columns, tuples = self.columns(), self._rows()
        if len(tuples) > max_rows:
            frames = columns.index("frames")
            tuples = sorted(heapq.nlargest(max_rows, tuples, key=lambda r: r[frames]), key=lambda r: r[0])
        rows = [dict(zip(columns, row)) for row in tuples]
        heads = [f"{t} (mean p)" for t in self.tasks]
        if self.clock:  # a camera's: when, to the second (2026-11-29 14:03:07), not seconds since the start
            # A run across a daylight-saving change has two offsets, and the hour after the clocks go back reads
            # as the hour before: without its offset someone was "last seen" an hour before they were first seen.
            zoned = len({c[23:] for r in rows for c in (r["first_clock"], r["last_clock"])}) > 1

            def local(clock: str) -> str:  # 2026-11-29T14:03:07.412+01:00 -> 2026-11-29 14:03:07 (+01:00 if zoned)
                return clock[:19].replace("T", " ") + (clock[23:] if zoned else "")

            seen = [(local(r["first_clock"]), local(r["last_clock"])) for r in rows]
        else:
            seen = [(f"{r['first_s']:.2f}", f"{r['last_s']:.2f}") for r in rows]

        def cell(r: dict, t: str) -> str:
            if not r[f"{t}_label"]:
                return "-"
            text = f"{r[f'{t}_label']} {_fixed(r[f'{t}_prob'])}"  # 0.9987 is not "1.00", as in Face's repr
            eyes = r.get("emotion_eyes_only") if t == "emotion" else None
            # As the timeline's "(eyes only)": all of its frames, or the share when only some were.
            return text + (" (eyes only)" if eyes == 1 else f" (eyes only {eyes:.0%})" if eyes else "")

        def cells_of(r: dict, t: str) -> list[str]:
            # The summary CSV's emotion_intensity beside the emotion, as there: the table left it out.
            if t != "emotion" or "emotion_intensity" not in r:
                return [cell(r, t)]
            return [cell(r, t), "-" if r["emotion_intensity"] == "" else _fixed(r["emotion_intensity"])]

        cells = [[str(r["track_id"]), *when, str(r["frames"])] + [c for t in self.tasks for c in cells_of(r, t)]
                 for r, when in zip(rows, seen)]
        if "emotion_intensity" in columns:
            heads.insert(self.tasks.index("emotion") + 1, "intensity (mean)")
        header = ["track", *(("first seen", "last seen") if self.clock else ("first_s", "last_s")), "frames", *heads]
        widths = [max(len(c) for c in col) for col in zip(header, *cells)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *cells]]
        if len(self) > len(rows):
            # Not "shorter": tracks seen in as many frames as the last row shown are left out too (a looped
            # clip's 22 tracks of 26 frames: 20 shown, the other 2 called shorter).
            lines.append(f"... and {counted(len(self) - len(rows), 'more track')}, none seen in more frames (every "
                         "one is in --summary)")
        return lines + self._unlabelled_lines()

    def _unlabelled_lines(self) -> list[str]:
        """"no label for tracks 4, 9: too dark to read", a line per reason, for the tracks no head labelled."""
        labels = [self.columns().index(f"{task}_label") for task in self.tasks]
        by_reason: dict[str, list[int]] = {}
        for row in self._rows():
            if row[0] in self._why and not any(row[i] for i in labels):
                by_reason.setdefault(self._why[row[0]], []).append(row[0])
        lines = []
        for reason, tracks in by_reason.items():
            shown = ", ".join(map(str, tracks[:10])) + (f" and {len(tracks) - 10} more" if len(tracks) > 10 else "")
            lines.append(f"no label for track{'s' if len(tracks) > 1 else ''} {shown}: {reason}")
        return lines

    def save(self, path: str | os.PathLike, cut: CutShort | None = None) -> None:
        """cut: a run cut short does not replace a summary already there (`records.CutShort`)."""
        with atomic_write(path, "w", cut=cut) as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(self.columns())
            writer.writerows(self._rows())


# --- --alert -------------------------------------------------------------------------------------------


def parse_alert_command(command: str) -> list[str]:
    """Split `command` as a shell would (no shell runs it) and check its program exists and is
    executable, so a typo fails before the video starts rather than at the first alert."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise FacekitError(f"--alert: cannot split {command!r}: {exc}") from None
    if not argv:
        raise FacekitError("--alert: the command is empty")
    program = argv[0]
    if shutil.which(program) is None:
        if os.sep in program or (os.altsep and os.altsep in program):
            from .errors import near_names

            why = "is not an executable file" if Path(program).exists() else f"does not exist{near_names(program)}"
            raise FacekitError(f"--alert: {program} {why}")
        # cron's PATH is /usr/bin:/bin: a notifier in /usr/local/bin or ~/bin, found from a terminal, is not there.
        raise FacekitError(f"--alert: command not found: {program} (not on PATH, which is "
                           f"{os.environ.get('PATH') or 'empty'}: name it by its absolute path)")
    refused = _why_it_cannot_start(shutil.which(program) or program)
    if refused is not None:
        raise FacekitError(f"--alert: {program} {refused}")
    return argv


def _why_it_cannot_start(path: str) -> str | None:
    """Why the system would refuse to start the executable file `path` (None: it would start). A script without a
    #! line runs from a terminal, and from cron, whose shells run it themselves when the system will not; no shell
    runs an --alert, and such a script ("Exec format error"), or one whose #! names a program not there, failed at
    every alert with a [WARN] line while the video went on, where a typo in the command stops it at the start."""
    if os.name != "posix":
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:  # executable but unreadable: the system may start it still
        return None
    if not head.startswith(b"#!"):
        if b"\0" in head:  # a program (ELF, Mach-O): its format is the system's business
            return None
        return ("is neither a program nor a script with a #! line (as #!/bin/sh, its first line): a shell runs such "
                "a file itself, and no shell runs an --alert")
    words = os.fsdecode(head[2:].split(b"\n", 1)[0]).split()
    if not words:
        return "has a #! line that names no program"
    interpreter = words[0]
    if not (os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)):
        return f"names {interpreter} on its #! line, which is not an executable file"
    if Path(interpreter).name == "env" and len(words) > 1 and not words[1].startswith("-") and \
            "=" not in words[1] and shutil.which(words[1]) is None:
        return f"names {words[1]} on its #! line, which is not on PATH ({os.environ.get('PATH') or 'empty'})"
    return None


def check_alert_heads(task_labels: dict[str, list[str]]) -> None:
    if UNMASKED not in task_labels.get(MASK_TASK, ()):
        raise FacekitError(f"--alert needs a mask head with a {UNMASKED} label (train one, or add "
                           f"--model models/mask / --tasks mask)")


# A track's no-mask streak is broken by a gap longer than this between two of its frames: a camera that
# froze or dropped for 6 s saw nobody for 6 s, and someone seen for 0.1 s before it was alerted on.
ALERT_GAP_S = 2.0


class AlertDispatcher:
    """Runs `argv` once per track whose (smoothed) mask label stays without_mask for `after_s` seconds.

    The streak is broken by another mask label, or by more than `gap_s` without the face (a stream that
    froze or dropped saw nobody meanwhile); a frame where the face is missed or too small to label is no
    evidence either way. Commands start without waiting (Popen) and are reaped on every
    update, so a slow command never holds up the frames and finished ones never pile up as zombies.
    A command that fails is reported through `warn` as one line; the video goes on. What the commands print
    is passed on by this process (`_Relay`), and `close` stops those still running after a while. A folder run's
    one dispatcher goes from video to video (`next_source`), its commands running on, and is closed once.
    """

    def __init__(self, argv: list[str], source: str = "", after_s: float = ALERT_AFTER_S,
                 warn: Callable[[str], None] | None = None, gap_s: float = ALERT_GAP_S, stdout=None,
                 info: Callable[[str], None] | None = None):
        """stdout: where the commands' output goes (a file descriptor or file; None: this process's standard
        output); their standard error goes to this process's."""
        self.argv = list(argv)
        self.stdout = stdout
        self._relay: _Relay | None = None  # started at the first command
        self.after_s = after_s
        self.warn = warn or (lambda message: print(f"[WARN] {message}", file=sys.stderr, flush=True))
        self.info = info or (lambda message: print(f"[INFO] {message}", flush=True))
        self.fired: list[tuple[int, float]] = []  # (track id, time), in order
        self.failed = 0
        self.stopped = 0  # still running at the close, and stopped
        self._running: list[tuple[int, str, subprocess.Popen]] = []  # (track, source, command)
        self._stopping: set[int] = set()  # the commands signalled by `close`, by process id
        self._stopped: list[tuple[int, str]] = []  # their (track, source), once ended
        # A folder's videos share track ids (the tracker starts again at each): its lines name the video too.
        self._many = False
        self._start(source, gap_s)

    def _start(self, source: str, gap_s: float) -> None:
        """What one source's frames build up, from nothing."""
        # The command's environment reaches its logs and messages (a chat post, a mail): an IP camera's
        # password stays out of them, as out of every line facekit prints.
        self.source = hide_password(str(source))
        self.gap_s = gap_s
        self.since: dict[int, tuple[float, float]] = {}  # track id -> (streak start, last seen)
        # Alerted tracks -> the last update (analysed frame) they were seen in. Both tables are swept of people
        # gone for good: a camera watched for weeks kept an entry for every passer-by ever seen unmasked, which
        # grew without end. Updates, not frame numbers, as the tracker counts: with --every 150 a file's frame
        # number jumps 150 a frame, and a track the tracker still held would be forgotten and alerted on again.
        self._done: dict[int, int] = {}
        self._updates = 0
        self._swept_s: float | None = None
        self._swept_update = 0

    def next_source(self, source: str, gap_s: float = ALERT_GAP_S) -> None:
        """A folder run's next video: its tracks and times start again (the tracker's ids do: its track 4 is not the
        video before's), while the commands still running go on and the counts add up. Closed at each video's end,
        they cut off a notifier slower than ALERT_WAIT_S that fired near it and held the run up between videos."""
        self.poll()
        self._many = True
        self._start(source, gap_s)

    def update(self, frame: int, time_s: float, faces: Iterable[Face], clock: str | None = None) -> None:
        """clock: the frame's local date and time for a camera or stream (FACEKIT_CLOCK), None for a file."""
        self.poll()
        self._updates += 1
        for face in faces:
            pred = face.predictions.get(MASK_TASK)
            track = face.track_id
            if track in self._done:
                self._done[track] = self._updates
                continue
            if pred is None or track is None:
                continue
            if pred.label != UNMASKED:
                self.since.pop(track, None)
                continue
            start, last = self.since.get(track, (time_s, time_s))
            if time_s - last > self.gap_s:  # not seen in between (a stream outage): the streak starts again
                start = time_s
            self.since[track] = (start, time_s)
            if time_s - start >= self.after_s - 1e-6:  # 2.3 - 1.3 < 1.0 in floating point
                self._done[track] = self._updates
                self.since.pop(track, None)
                self._fire(track, frame, time_s, start, pred.score, clock)
        self._sweep(time_s)

    def _sweep(self, time_s: float) -> None:
        """Let go of the people who left. A streak unseen for over `gap_s` starts again anyway (`update`), so
        dropping it changes nothing; an alerted track unseen for DONE_AFTER_FRAMES analysed frames is gone for
        good (the tracker lets one go after 15, or 2 x --detect-every, and never reuses an id): it cannot fire
        twice."""
        if self._swept_s is None or abs(time_s - self._swept_s) >= self.gap_s:
            self._swept_s = time_s
            self.since = {t: v for t, v in self.since.items() if time_s - v[1] <= self.gap_s}
        if self._updates - self._swept_update >= DONE_AFTER_FRAMES:
            self._swept_update = self._updates
            self._done = {t: n for t, n in self._done.items() if self._updates - n <= DONE_AFTER_FRAMES}

    def _fire(self, track: int, frame: int, time_s: float, since_s: float, probability: float,
              clock: str | None = None) -> None:
        self.fired.append((track, time_s))
        env = dict(os.environ, FACEKIT_TRACK_ID=str(track), FACEKIT_TIME_S=f"{time_s:.3f}",
                   FACEKIT_SINCE_S=f"{since_s:.3f}", FACEKIT_FRAME=str(frame), FACEKIT_LABEL=UNMASKED,
                   FACEKIT_PROBABILITY=f"{probability:.4f}", FACEKIT_SOURCE=self.source)
        if clock:
            env["FACEKIT_CLOCK"] = clock
        else:  # a file's: none, whatever the caller's environment held
            env.pop("FACEKIT_CLOCK", None)
        try:
            if self._relay is None:
                out = self.stdout if self.stdout is None or isinstance(self.stdout, int) else self.stdout.fileno()
                self._relay = _Relay(1 if out is None else out, 2)
            # Their own session: the close can stop a script's children with it (its process group), and no
            # terminal signals it behind this process's back.
            proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, stdout=self._relay.stdout,
                                    stderr=self._relay.stderr, start_new_session=True)
        except OSError as exc:  # e.g. removed or made non-executable since the start; out of processes
            self._failed(track, self.source, f"could not start: {exc.strerror or exc}")
            return
        self._running.append((track, self.source, proc))

    def _failed(self, track: int, source: str, why: str) -> None:
        self.failed += 1
        self.warn(f"--alert for {self._named([(track, source)])} {why}: {shlex.join(self.argv)}")

    def _named(self, tracks: list[tuple[int, str]]) -> str:
        """"track 7", "tracks 2, 3"; a folder run's with their videos: "track 4 of a.mp4; tracks 2, 3 of b.mp4"."""
        by_source: dict[str, list[int]] = {}
        for track, source in tracks:
            by_source.setdefault(source, []).append(track)
        return "; ".join(f"{'track' if len(ids) == 1 else 'tracks'} {', '.join(map(str, ids))}"
                         + (f" of {source}" if self._many else "") for source, ids in by_source.items())

    def poll(self) -> None:
        """Reap the commands that have finished, reporting those that failed."""
        still = []
        for track, source, proc in self._running:
            code = proc.poll()
            if code is None:
                still.append((track, source, proc))
            elif proc.pid in self._stopping:
                self._stopped.append((track, source))
            elif code != 0:
                self._failed(track, source, f"exited with {code}")
        self._running = still

    def close(self, wait_s: float = ALERT_WAIT_S, signum: int | None = None,
              hurry: Callable[[], bool] | None = None) -> None:
        """At the end of a run: give running commands up to `wait_s` to finish (reported like any other), then
        stop those still running (SIGTERM to each one's process group, SIGKILL to what outlives ALERT_KILL_S of it),
        and stop passing their output on. Nothing of theirs outlives the run: a command left running held the
        run's standard output and error, and with them a `| tee` (or a cron job's mail), 8.3 s past the run's end
        for `--alert 'sleep 15'`.
        signum: the signal that stopped the run, passed on to the commands first (a Ctrl-C at the terminal
        reached them too before they had a session of their own). hurry: True once the wait is to end now (a Ctrl-C
        during it), checked every 0.1 s."""
        started = time.monotonic()
        self.poll()
        if signum is not None:
            self._signal(signum)
        self._wait(started + min(ALERT_QUIET_S, wait_s))
        if self._running:
            self.info(f"waiting up to {wait_s:.0f} s for {counted(len(self._running), 'alert command')} still "
                      f"running (then stopped)")
            self._wait(started + wait_s, hurry)
        if self._running:
            self._signal(signal.SIGTERM)
            self._wait(time.monotonic() + ALERT_KILL_S)
            # Only those whose group leader is not reaped yet: a reaped one's number can be another process's now.
            self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))
            self._wait(time.monotonic() + ALERT_KILL_S)
            # Stuck in the kernel (a dead NFS mount).
            self._stopped += [(track, source) for track, source, _ in self._running]
            self._running = []
        if self._stopped:
            self.stopped += len(self._stopped)
            self.warn(f"--alert: stopped {counted(len(self._stopped), 'command')} still running at the end "
                      f"({self._named(self._stopped)}): {shlex.join(self.argv)}")
            self._stopped = []
        self._stopping.clear()
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def _signal(self, signum: int) -> None:
        for _, _, proc in self._running:
            self._stopping.add(proc.pid)
            _signal_group(proc, signum)

    def _wait(self, until: float, hurry: Callable[[], bool] | None = None) -> None:
        """Reap the commands that end before `until`, or before `hurry` says to stop waiting."""
        for _, _, proc in self._running:
            while proc.poll() is None and not (hurry is not None and hurry()):
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    proc.wait(timeout=left if hurry is None else min(left, 0.1))
                except subprocess.TimeoutExpired:
                    pass
        self.poll()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signum)  # its session's group (start_new_session): a script's children too
        else:
            proc.terminate()
    except OSError:  # gone already
        pass


class _Relay:
    """Copies what the alert commands write, as they write it, to this process's standard output and error (the
    file descriptors `out` and `err`). The commands write into pipes that this process reads, never into its own
    outputs, so no command (nor a child of one) holds those open once the run has ended. A thread per pipe, reading
    until every writer is gone: Windows' select() takes sockets only."""

    def __init__(self, out: int, err: int):
        self._ends: dict[int, int] = {}  # destination -> the write end the commands get
        self._threads = []
        self._closed = threading.Event()
        for dest in {out, err}:
            read, self._ends[dest] = os.pipe()
            thread = threading.Thread(target=self._copy, args=(read, dest), name="facekit-alert-output", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.stdout, self.stderr = self._ends[out], self._ends[err]

    def _copy(self, read: int, dest: int) -> None:
        lost = False
        try:
            while data := os.read(read, 65536):
                while data and not lost and not self._closed.is_set():
                    try:
                        data = data[os.write(dest, data):]
                    except OSError as exc:  # read on whatever the error, so no command blocks on its pipe
                        lost = exc.errno in (errno.EPIPE, errno.EBADF)  # its reader gone (`| head`), or closed
                        break  # a full disk: this piece is lost, the next may find room
        finally:
            os.close(read)

    def close(self, timeout: float = 0.5) -> None:
        """Once the commands are done: pass on what they wrote last, and stop passing on (what a child that escaped
        its group's stop writes from then on is read and dropped, as long as it runs)."""
        for end in self._ends.values():
            os.close(end)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._closed.set()
