"""detect_mask_video.py: live webcam overlay, video files and streams; faces tracked across frames,
every head's label per face, optional annotated video, per-frame CSV and a probability timeline."""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from contextlib import ExitStack
from functools import partial
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

# cv2, numpy and the models are imported inside main(), under `guarded`: a Ctrl-C while they load
# is then one line and exit 130 instead of a traceback.
from ..errors import NAME_MAX, NO_ROOM_ERRNOS, FacekitError, VideoError, counted, native_path
from .common import (READER_CLOSED, READER_STOPPED, WRITE_ERRNOS, ArgumentParser, add_pipeline_options, add_version,
                     build_pipeline, check_output_path, example_command, exit_status_help, fail, guarded, has_display,
                     info, number, positive_int, prog_name, progress_bar, reader_gone, refuse_overwriting,
                     report_landmarks, results_to_stdout, say, say_commercial_use, say_non_commercial, sibling_command,
                     warn, where, window_title, write_error_line)
from .window import CLOSED, LOST, Window

if TYPE_CHECKING:
    from ..landmarks import LandmarkStats
    from ..records import CutShort, MadeFolders

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # q or Q, Esc
PAUSE_KEY = ord(" ")  # space, as most players: holds the frame shown, again resumes
# Faces narrower than this (px) in the one pass a frame gets are often missed: mask_scenes_val's scenes tiled into
# 4K frames, shrunk 3x for that pass, kept 20 of 88 faces 16-32 px wide, 23 of 52 at 32-64 px, 13 of 16 wider.
SMALL_FACE_AT_BASE = 20
WINDOW_KEYS = "space pauses, q or Esc quits"  # the live window's title names them, after the source
# A camera or stream that stops sending (a dropped connection, one that stalls: up to 5 minutes of reconnection)
# left its last frame in the live window with the FPS it had, as if it were still live. After this long without a
# frame the window says so, with the seconds, until frames come again.
WAITING_SHOWN_S = 2.0
# Said where no window can open (no display, or one that refused it): the run goes on without one.
HEADLESS = "running headless (add --no-display to silence this; use --output / --csv / --timeline to keep results)"
TIMELINE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".pdf", ".svg"}
LIVE_SUMMARY_EVERY_S = 60.0
# The outputs a folder run (or one video's run into a folder) writes per video, and each one's file in its folder:
# NAME.mp4 (the video's own extension where OpenCV writes it), NAME.csv, NAME.people.csv, NAME.timeline.png, so
# one folder can take them all.
FOLDER_OUTPUTS = {"output": "--output", "csv": "--csv", "summary": "--summary", "timeline": "--timeline"}
FOLDER_ENDINGS = {"csv": ".csv", "summary": ".people.csv", "timeline": ".timeline.png"}
# Table formats that --csv and --summary do not write (they write CSV whatever the name): named so, refused.
OTHER_TABLE_FORMATS = {".json": "JSON", ".jsonl": "JSON Lines", ".ndjson": "JSON Lines", ".parquet": "Parquet",
                       ".xlsx": "an Excel workbook", ".xls": "an Excel workbook", ".tsv": "tab-separated values"}


if TYPE_CHECKING:
    _ConcretePath = Path
else:  # Python before 3.12 subclasses only the class Path() makes (PosixPath, WindowsPath), not Path itself
    _ConcretePath = type(Path())


class OutputFolder(_ConcretePath):
    """An output typed with a separator at its end (`-o out/`): a folder, made if need be, as the photo command
    reads it. A plain Path drops the separator that says so."""


def output_path(value: str) -> Path:
    folder = len(value) > 1 and value.endswith(tuple({os.sep, os.altsep or os.sep}))
    return OutputFolder(value) if folder else Path(value)


def frame_rate(value: str) -> float:
    v = number(value)
    if not 0.0 < v < float("inf"):  # NaN too
        raise argparse.ArgumentTypeError(f"a frame rate is a number above 0, e.g. 25; got {value}")
    return v


def video_time(value: str) -> float:
    """--start / --end: a time in the video as ffmpeg's -ss and -to take it (95.5, 1:35.5, 0:10:00)."""
    from ..video import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# How far the smoothed numbers lag a change (README: How far the numbers lag a change), in --smooth's help here and
# in facekit-batch's, which smooths its videos alike.
SMOOTH_LAG = ("a new reading weighs 1 - SMOOTH, so at 0.6 a change on a still face shows on the head's next turn "
              "(--head-every) 87%% of the way, N times later in time with --every N (README: How far the numbers "
              "lag a change)")


def smooth_strength(value: str) -> float:
    v = number(value)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): 0 = off, 0.9 = very steady; got {value}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from ..tracking import HEAD_EVERY

    run = example_command("detect_mask_video.py")
    p = ArgumentParser(
        prog=prog_name("detect_mask_video.py"),
        description="Detect, track and classify faces (mask, emotion, gender, ...) in a webcam, video file or "
                    "stream. In the live window space pauses (and resumes), q or Esc quits.",
        epilog="examples:\n"
               f"  {run}                      # webcam 0, live overlay\n"
               f"  {run} --source clip.mp4 --output annotated.mp4 --csv faces.csv \\\n"
               "      --timeline timeline.png --no-display\n"
               f"  {run} --source rtsp://camera.local/stream --detect-every 3 --output cam.mkv\n"
               f"  {run} --source clips/ --output annotated/ --csv tables/    # a folder: one of each per video\n"
               + exit_status_help("some videos of a folder could not be read: the others are done, a [WARN] line "
                                  "names each"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-s", "--source", default="0",
                   help="camera index (0, 1, ...), video file, folder of video files, image sequence "
                        "(frames/%%04d.png), stream URL (rtsp://, http://...), or - for a video file piped in (read "
                        "to its end first). Default: 0")
    p.add_argument("-o", "--output", type=output_path,
                   help="write the annotated video here: .mp4, .mkv (MPEG-4 Part 2) or .avi (MJPEG) play in desktop "
                        "players such as VLC, not in web browsers; .webm (VP8) plays in browsers too, for ~20 ms "
                        "more CPU a 640x360 frame. For a camera .mkv or .avi, which survive a kill or power cut. "
                        "Pictures only: a file's sound is left out (the run prints the ffmpeg command that adds it). "
                        "A folder (out/) takes it under the video's name, one per video of a folder --source")
    p.add_argument("--csv", type=output_path,
                   help="one row per face per frame: frame, time_s (seconds from the video's first picture; a "
                        "camera's or stream's also clock, its date and time), track_id, width, height (the frame's, "
                        "in pixels: the box's x1 / width is 0-1), the box x1, y1, x2, y2 in pixels, score (the "
                        "detector's, 0-1), each head's <task>_label and <task>_<class> "
                        "probabilities (0-1, smoothed: --smooth), emotion_intensity (1 - P(neutral), 0-1) and with a "
                        "mask head emotion_eyes_only (1: masked, the emotion read from the eyes alone), with "
                        "--landmarks yaw, pitch, roll (degrees), eye_openness, mouth_openness (- for standard output; "
                        "a folder: NAME.csv for each video)")
    p.add_argument("--timeline", type=output_path,
                   help="plot each tracked face's emotion (else first head's) probabilities over time (.png, .jpg, "
                        ".pdf or .svg)")
    p.add_argument("--summary", type=output_path, metavar="PEOPLE.CSV",
                   help="one row per tracked person: track_id, first_frame / last_frame and first_s / last_s "
                        "(seconds) it was seen (a camera's or stream's also first_clock / last_clock), frames, each "
                        "head's <task>_label (its majority label) and <task>_prob (that label's mean probability), "
                        "the emotion's two followed, with a mask head too, by emotion_eyes_only (the share of its "
                        "frames whose emotion was read from the eyes alone) and by emotion_intensity (the mean of the "
                        "CSV's 1 - P(neutral), 0 to 1, over its frames) (- for standard output; a folder: "
                        "NAME.people.csv for each video)")
    p.add_argument("--alert", metavar="CMD",
                   help="run CMD (no shell; split like a shell does) once per person whose mask label stays "
                        "without_mask for 1 s; FACEKIT_TRACK_ID, FACEKIT_TIME_S, FACEKIT_SINCE_S, FACEKIT_FRAME, "
                        "FACEKIT_LABEL, FACEKIT_PROBABILITY, FACEKIT_SOURCE (a stream's password as ***) and a "
                        "camera's FACEKIT_CLOCK are in its environment; one still running 5 s after the run's end is "
                        "stopped (a folder's run ends after its last video)")
    p.add_argument("--no-display", action="store_true", help="never open a window")
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="stop after N analysed frames (with --every M, the file's first N x M)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N",
                   help="analyse every N-th frame of a file only (the loop about N times faster; frame numbers and "
                        "times stay the file's, --output gets those frames at 1/N of the rate); a camera or stream "
                        "is always read at its newest frame (default: 1)")
    p.add_argument("--start", type=video_time, metavar="TIME",
                   help="a file's frames from TIME on only: seconds (95.5) or [HH:]MM:SS[.ms] (10:00, 1:02:03.5), as "
                        "ffmpeg's -ss; it seeks there, and frame numbers and times stay the whole file's (a row at "
                        "10:00.033 says 600.033); --output holds the range only")
    p.add_argument("--end", type=video_time, metavar="TIME",
                   help="a file's frames before TIME only (as ffmpeg's -to), e.g. --start 10:00 --end 12:00; past the "
                        "file's end, it is read to its end")
    p.add_argument("--fps", type=frame_rate, metavar="RATE",
                   help="an image sequence's frame rate, for its times and --output (it holds none; default: 30; "
                        "OpenCV writes a video at over 0.001 and, but for .avi and .webm, at most 65,535); a video "
                        "file's times are its own")
    p.add_argument("--smooth", type=smooth_strength, default=0.6,
                   help="per-face smoothing of class probabilities over frames, 0 = off (default: 0.6): "
                        + SMOOTH_LAG)
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="K",
                   help="run the face detector every K analysed frames (with --every N: every K x N of the "
                        "video's) and follow faces by tracking in between, with the camera's pans and shakes "
                        "(default: 1, every frame); a face that moves on its own is carried by its past motion "
                        "until the next search")
    p.add_argument("--head-every", type=positive_int, default=HEAD_EVERY, metavar="K",
                   help="run each face's heads (mask, emotion, ...) every K analysed frames, staggered across faces, "
                        "and at once on a new face, one whose box changed or one whose label is in doubt; labels are "
                        f"carried in between (default: {HEAD_EVERY}; 1 = every frame)")
    p.add_argument("--fine-pass", action="store_true",
                   help="also run the detector's extra pass for small faces on every frame, as the image script "
                        "does: faces under ~30 px, and on frames over 1280 px, which one pass sees shrunk to 1280, "
                        "full-size tiles (a 4K frame's faces under ~60 px); costs 2-3x the detector time, 3x on "
                        "1080p, 11x on 4K (with --detect-every K about 1/K of that, as good while the people hold "
                        "still)")
    add_pipeline_options(p, video=True)
    add_version(p)
    return p


@dataclass
class RunStats:
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0  # the frame loop only: models already loaded
    outage_s: float = 0.0  # of those, the seconds a live stream was gone (being opened again)
    tracks: set = field(default_factory=set)
    interrupted: bool = False
    stopped: str | None = None  # how the user ended a live-window run early: "the q key", "the window closed"
    display_lost: str | None = None  # why the live window went (its X connection broke): the run stops as on Ctrl-C
    reader_gone: bool = False  # the reader of `--csv -` closed it
    summary_unread: bool = False  # the reader of `--summary -` closed it before the summary, written last
    csv_failed: bool = False  # the CSV met a full disk (or quota) mid-run: the run stopped there
    error: str | None = None
    source_broke: bool = False  # of the errors, one reading the source (not one writing an output)
    skipped: int = 0  # frames a camera or stream gave that a slower loop never got (it takes the newest)
    landmarks: LandmarkStats | None = None  # the landmarker's counts as of the last frame the outputs took
    cut: CutShort = field(kw_only=True)  # a file's run that stopped before its end: where its outputs went
    people: int = 0
    unmasked: int | None = None  # people whose majority mask label is without_mask; None: no mask head
    headline: str = ""  # "N people seen, M without a mask"
    kept: list = field(default_factory=list)  # the files besides the CSV that were written, as the user named them
    unwritten: set = field(default_factory=set)  # the outputs ("timeline", "summary") that could not be written
    sound_left_out: str | None = None  # the line saying the annotated video lacks the source's sound, and the fix
    late_pictures: str | None = None  # the line saying a player's clock runs ahead of the outputs' times, by how much
    numbering: str | None = None  # the line saying an image sequence numbered from 1 has its image 1 as frame 0

    @property
    def fps(self) -> float:
        """Frames a second while there were frames to read: a stream's outage is no slowness of the loop."""
        running = self.seconds - self.outage_s
        return self.frames / running if running > 0 else 0.0


def check_outputs(args) -> None:
    from ..batch import VIDEO_EXTENSIONS
    from ..people import parse_alert_command
    from ..preprocess import is_image_path
    from ..records import is_device, is_stdout
    from ..video import check_video_output

    for path, what in ((args.csv, "--csv"), (args.timeline, "--timeline"), (args.summary, "--summary"),
                       (args.output, "--output")):
        check_output_path(path, what)
    if args.alert is not None:
        parse_alert_command(args.alert)  # a typo fails now, not at the first alert
    if args.timeline is not None and args.timeline.suffix.lower() not in TIMELINE_EXTENSIONS:
        raise FacekitError(f"--timeline must end in one of {', '.join(sorted(TIMELINE_EXTENSIONS))}: {args.timeline}")
    if args.timeline is not None:
        from ..runtime import matplotlib_folder

        matplotlib_folder(check_only=True)  # no folder matplotlib can write: said now, not after the video
    if args.output is not None:
        if is_image_path(args.output):
            raise FacekitError(f"--output is a video: use .mp4, .mkv, .avi or .webm, not {args.output.suffix}")
        # An image sequence's --fps is known now: a rate no writer takes is said before any work.
        check_video_output(args.output, *([args.fps / args.every] if args.fps is not None else []))
    source = Path(args.source)
    refuse_overwriting([source] if source.is_file() else [],
                       [(option, [path], "file") for option, path in (("--output", args.output), ("--csv", args.csv),
                                                                       ("--timeline", args.timeline),
                                                                       ("--summary", args.summary))])
    # After the input check: writing over the source says so first.
    for path, what in ((args.csv, "--csv"), (args.summary, "--summary")):
        # `--csv photo.jpg` (or the video's name, typed for -o) replaced the photo with a table, read-only or not.
        if path is not None and (is_image_path(path) or path.suffix.lower() in VIDEO_EXTENSIONS):
            raise FacekitError(f"{what} {path}: a table is written there, and {path.suffix} names a "
                               f"{'photo' if is_image_path(path) else 'video'}: name it .csv (the annotated video "
                               "is --output)")
        # `--summary people.json` wrote CSV text into a file named .json, exit 0: json.load then failed on it.
        if path is not None and path.suffix.lower() in OTHER_TABLE_FORMATS:
            raise FacekitError(f"{what} {path}: writes CSV, and {path.suffix} names "
                               f"{OTHER_TABLE_FORMATS[path.suffix.lower()]}: name it .csv")
        # `--csv notes.txt` replaced the user's notes with a table, exit 0, where `-o notes.txt` and `--timeline
        # notes.txt` are refused: a name whose extension is not .csv is not taken to be a CSV's to replace.
        if path is not None and path.suffix.lower() not in ("", ".csv") and not is_stdout(path) \
                and not is_device(path) and not isinstance(path, OutputFolder):
            raise FacekitError(f"{what} {path}: writes CSV, and {path.suffix} is not .csv (a file there would be "
                               f"replaced by the table): name it {path.with_suffix('.csv').name}")


# The analysed frames (from 0) a run that has found no face yet keeps, to search turned after the last of them.
TURN_SAMPLES = (0, 15, 29)


class TurnHint:
    """A video lying on its side or upside down that says nothing of it (a phone's whose rotation flag was lost, a
    camera mounted upside down) gave few faces or none, and nothing said why: the hamilton clip turned 90 degrees,
    4 face-frames in its first 90. Where the first 30 analysed frames have no face, three of them are searched
    turned each way, once (9 detections, ~0.5 s): the turn that finds the most faces, in 2 of them or more, is named.
    Named, not taken: a wrong quarter turn finds faces too (the clip turned 180 degrees: 3 in 2 of the 3 frames
    turned 90 more, 6 in 3 turned 180), and the outputs' size and pixels are the user's to choose. An empty scene
    rarely shows one turned: mask_scenes_val's with their faces painted out, 1 face in 156 turned searches of 52.
    Returns the line to say, once."""

    def __init__(self, detect):
        self.detect = detect
        self.frames: list = []
        self.done = False

    def add(self, index: int, frame, faces_so_far: int) -> str | None:
        """`index`: the analysed frame's number from 0; `frame` before anything is drawn on it."""
        from ..preprocess import rotate_clockwise

        if self.done or faces_so_far:
            self.done, self.frames = True, []
            return None
        if index in TURN_SAMPLES:
            self.frames.append(frame.copy())  # the loop draws on the frame itself
        if index < TURN_SAMPLES[-1]:
            return None
        self.done = True
        found = {turn: [len(self.detect(rotate_clockwise(f, turn), closeup=False)) for f in self.frames]
                 for turn in (90, 180, 270)}
        self.frames = []
        best = max(found, key=lambda turn: sum(found[turn]))
        holding = sum(1 for n in found[best] if n)
        if holding < 2 or any(sum(found[turn]) >= sum(found[best]) for turn in found if turn != best):
            return None
        return (f"no face in the first {index + 1} frames, but turned {best} degrees clockwise {holding} of "
                f"{len(found[best])} of them show {counted(sum(found[best]), 'face')}: if the video lies on its side "
                f"or upside down, --rotate {best} reads it turned")


def run(args, pipeline=None, report=True, progress: bool | None = None, alerts=None) -> RunStats:
    """Open the source, run the loop, and finalize every output however the loop ends (normal end,
    q / Esc, Ctrl-C, a source that breaks). Bad input before the first frame raises VideoError. progress: a file's
    progress bar on a terminal (default: as `report`). alerts: a folder run's --alert dispatcher, which goes on to
    this video and is left running at its end (the folder run closes it after the last)."""
    from ..video import opencv_quiet

    # OpenCV's log is silent while the video runs and as it was after: run in a notebook's kernel (`%run
    # detect_mask_video.py`, or main() from a cell), it stayed silent, and a later cv2.imread("typo.png") there
    # gave None without OpenCV's "can't open/read file" line.
    with opencv_quiet():
        return _run(args, pipeline, report, progress, alerts)


def _run(args, pipeline, report: bool, progress: bool | None, going_on) -> RunStats:
    from ..records import CutShort
    from ..signals import DeferredStop

    if pipeline is None:
        pipeline = build_pipeline(args, fine_pass=args.fine_pass, video=True)
    task_labels = {t: list(h.labels) for t, h in pipeline.heads.items()}
    display = _display_wanted(args, report)
    alert_argv = _alert_command(args, task_labels)
    source, reader = _open_source(args, report)
    if report:
        _say_how_frames_are_read(args, source, pipeline)
    alerts = _alerts(args, alert_argv, source, going_on)
    stats = RunStats(cut=CutShort(inputs=[args.source]))
    # The landmarker counts a frame's faces before the loop gets the frame: a Ctrl-C (or a `--csv -` reader gone)
    # in between left one frame the outputs never took in its "landmarks on N of M face(s)". Its counts are taken
    # now, and again once every output has a frame.
    _take_landmark_counts(stats, pipeline)
    finishing = DeferredStop()
    # `finishing` exits after the stack: the CSV rename and the source release run under it too.
    with finishing, ExitStack() as stack:
        stack.callback(source.close)
        if alerts is not None and going_on is None:
            stack.callback(_close_alerts, alerts, finishing)
        view = _LiveView(source, stats, stack) if display else None
        outputs = _Outputs(args, pipeline, source, task_labels, alerts, stats.cut, stack, display)
        bar = _progress_bar(args, source, report if progress is None else progress, stack)
        _frame_loop(args, pipeline, source, reader, outputs, view, bar, stats, report)
        finishing.arm()
        bug = outputs.finalize(stats)
    if bug is not None:
        raise bug
    stats.interrupted = stats.interrupted or finishing.received or stats.display_lost is not None
    _sum_up(args, stats, source, outputs)
    if report:
        _report(args, stats, outputs)
    return stats


def _display_wanted(args, report: bool) -> bool:
    """Whether the live window opens: not with --no-display, nor where there is no display to open it on."""
    display = not args.no_display and has_display()
    if not args.no_display and not display and report:
        info(f"no display found: {HEADLESS}")
    return display


def _alert_command(args, task_labels: dict[str, list[str]]) -> list[str] | None:
    """--alert's command, checked against the heads before the source opens."""
    from ..people import check_alert_heads, parse_alert_command

    if args.alert is None:
        return None
    check_alert_heads(task_labels)
    return parse_alert_command(args.alert)


def _open_source(args, report: bool):
    """The source, opened (bad input raises VideoError), and the reader that hands the loop its frames."""
    from ..video import EveryNth, FrameSource

    if report:
        info("starting video stream...")
    source = FrameSource(args.source, notify=warn, rotate=args.rotate, **_time_range(args))
    if report:
        _say_end_past(args, source)
    if source.live:  # opened: a camera that is not there moves nothing
        _keep_earlier_outputs(args, report)
    if args.fps is not None:  # _main has refused it for anything but an image sequence
        source.timed_at(args.fps)
    return source, (EveryNth(source, args.every) if args.every > 1 else source)


def _keep_earlier_outputs(args, report: bool) -> None:
    """A camera's or stream's outputs cannot be made again: an earlier run's are moved aside, not replaced."""
    from ..records import is_stdout, keep_earlier

    kept = [(path, moved) for path in (args.output, args.csv, args.summary, args.timeline)
            if path is not None and not is_stdout(path) and (moved := keep_earlier(path)) is not None]
    if kept and report:
        info(f"kept what an earlier run left: {', '.join(f'{path} as {moved.name}' for path, moved in kept)} (a "
             "camera's or stream's outputs cannot be made again; this run's take their names)")


def _say_how_frames_are_read(args, source, pipeline) -> None:
    """What the user should know of how the source is read before its frames come: options it ignores, a frame
    rate it lacks, pixels that are not square, faces too small for one pass."""
    if source.live and args.every > 1:  # it did nothing there, without a word
        warn(f"--every {args.every} is for files: a camera or stream is read at its newest frame, and each frame "
             f"the loop gets is analysed (--detect-every K and --head-every K make each one cheaper)")
    if not source.live and not source.fps_known and (args.output is not None or source.sequence):
        said = f"reports {source.reported_fps:g} fps" if source.reported_fps else "has no frame rate"
        uses = "times and --output" if source.sequence else "--output (times are the file's own)"
        warn(f"{args.source} {said}: {uses} at {source.fps:g} fps" + (" (--fps RATE gives its own)"
                                                                       if source.sequence else ""))
    if source.size != source.stored_size:
        info(f"{source.spec.describe()}: its {source.stored_size[0]}x{source.stored_size[1]} pictures are shown "
             f"{source.size[0]}x{source.size[1]} (pixels not square): read at that size, as players show them "
             f"(boxes in those pixels)")
    if (line := _small_faces_line(args, source, pipeline)) is not None:
        info(line)


def _small_faces_line(args, source, pipeline) -> str | None:
    """The line saying which faces one detector pass misses in frames larger than it sees; None where it sees them
    whole (or --fine-pass searches them)."""
    base_side = getattr(pipeline.detector, "base_side", None)
    if args.fine_pass or not base_side or max(source.size) <= base_side:
        return None
    # One pass sees a 4K frame shrunk 3x: 0.29 of the faces in mask_scenes_val's scenes tiled into 4K frames
    # were found, 0.76 with --fine-pass, and nothing said so (the README's tiles were for photos).
    scale = base_side / max(source.size)
    width, height = source.size
    tiled = getattr(pipeline.detector, "tiled_max_side", max(source.size))
    size = "at full size" if max(source.size) <= tiled else f"shrunk to {tiled} px"
    # --detect-every K is the cheaper lever: on mask_scenes_val's scenes tiled into a still 4K video,
    # --fine-pass --detect-every 5 found 0.74 of the faces on every frame (0.75 with --fine-pass alone) for a
    # fifth of its searches; the tracker follows the camera's shift, so a pan of 3 px a frame kept 0.70 (0.71
    # still), where moving boxes by the faces' past motion alone kept 0.55.
    cheaper = ("; --fine-pass --detect-every K searches every K-th frame only and the tracker carries the "
               "faces between: about 1/K of that cost, as good while the people hold still") \
        if args.detect_every == 1 else ""
    # At least 1 px a side, as the detector shrinks them: a 5000x1 frame was "shrunk to 1280x0".
    return (f"{width}x{height} frames are searched for faces shrunk to {max(1, round(width * scale))}x"
            f"{max(1, round(height * scale))}: faces narrower than about {round(SMALL_FACE_AT_BASE / scale)} px are "
            f"often missed; --fine-pass also searches them {size}, in tiles (several times the "
            f"detector time: 3x a 1080p frame's, 11x a 4K one's){cheaper}")


def _alerts(args, alert_argv: list[str] | None, source, going_on=None):
    """The --alert command's dispatcher for this source; None without --alert. going_on: a folder run's, which goes
    on to this source, its commands still running."""
    from ..people import ALERT_GAP_S, AlertDispatcher
    from ..records import is_stdout

    if alert_argv is None:
        return None
    # A file read sparsely (--every, a time-lapse) sees each face seconds apart: that is no gap.
    gap_s = ALERT_GAP_S if source.live else max(ALERT_GAP_S, 2 * args.every / source.fps)
    named = "-" if getattr(args, "piped", False) else args.source  # not the temporary file it was read into
    if going_on is not None:
        going_on.next_source(named, gap_s)
        return going_on
    # With `--csv -` or `--summary -` standard output is the table a pipe reads: a command's `echo` went into
    # its rows, which pandas then read as text. Its output goes where every other line does, standard error.
    results_out = is_stdout(args.csv) or is_stdout(args.summary)
    return AlertDispatcher(alert_argv, source=named, warn=warn, info=info, gap_s=gap_s,
                           stdout=2 if results_out else None)  # fd 2: sys.stderr may be a capture


def _close_alerts(alerts, finishing) -> None:
    """The --alert commands at the run's end: given their time, then stopped (AlertDispatcher.close). A Ctrl-C or a
    terminal's hang-up reached them too while they shared its process group: in sessions of their own now, they get
    it passed on. A SIGTERM was this process's alone (`kill`, `docker stop`): they get their time. A stop signal
    during that time (`finishing` holds it back from the outputs being finalized) ends it: a Ctrl-C at "waiting up
    to 5 s" did nothing for those 5 s."""
    import signal

    from ..signals import exit_status, stop_requested

    signum = exit_status() - 128 if stop_requested() else None
    before = finishing.received  # one during the outputs' finalizing is the stop whose time this is
    alerts.close(signum=signum if signum in (signal.SIGINT, getattr(signal, "SIGHUP", None)) else None,
                 hurry=lambda: finishing.received and not before)


def _close_folder_alerts(alerts) -> bool:
    """A folder run's --alert commands, closed once its last video is done or the run stopped, as one video's are at
    its end (_close_alerts), with the stop signals held back meanwhile: a Ctrl-C during the wait ends it, where it
    would have left them running. True when one came."""
    from ..signals import DeferredStop

    with DeferredStop() as finishing:
        finishing.arm()
        _close_alerts(alerts, finishing)
    return finishing.received


def _alerts_line(alerts) -> str:
    """The line counting a run's --alert commands, once they are closed."""
    return (f"--alert ran {counted(len(alerts.fired), 'time')}" + (f", {alerts.failed} failed" if alerts.failed else "")
            + (f", {alerts.stopped} stopped at the end" if alerts.stopped else ""))


def _shown_name(spec) -> str:
    """The source as the live window's title names it: a file's (or image sequence's) name, a camera's number, a
    stream's address without its password."""
    return Path(spec.target).name if spec.kind not in ("camera", "stream") else spec.describe()


def _take_landmark_counts(stats: RunStats, pipeline) -> None:
    """The landmarker's counts as of now, into `stats` (a copy: the landmarker goes on counting)."""
    marks = getattr(pipeline.landmarker, "stats", None)
    if marks is not None:
        stats.landmarks = replace(marks)


class _LiveView:
    """The live window: each frame as drawn, with the loop's FPS; q, Esc and its x are heard (stats say which),
    also while a stream is gone, when it shows the last frame saying for how long no frame has come. Space pauses:
    the frame shown is held until space again. A file is read no further meanwhile; a camera or stream goes on
    being read and recorded (its frames would be lost otherwise), the window holding its frame."""

    def __init__(self, source, stats: RunStats, stack: ExitStack):
        from ..video import FPSMeter

        # Which video plays: a folder run's windows were all "facekit (q or Esc quits)", one after another.
        self.window: Window | None = Window(window_title(_shown_name(source.spec), WINDOW_KEYS))
        stack.callback(self.window.close)
        self.stats = stats
        self.meter = FPSMeter()
        self.fps = 0.0
        self.last: dict = {"frame": None, "at": time.monotonic(), "said": None}  # the last frame shown, and when
        self.live = source.live
        self.paused = False
        self.paused_s = 0.0  # a file's time held paused, which the run's FPS leaves out
        # While a stream is gone the loop waits for its next frame (up to the 5 minutes of reconnection):
        # the window's q, Esc and x are read there too, or they went unheard until the stream came back.
        source.waiting = self._waiting

    def tick(self) -> None:
        """A frame came: counted for the FPS shown."""
        self.fps = self.meter.tick()

    def show(self, frame) -> bool:
        """`frame` shown with the FPS (held while paused); whether the window asked to stop. A file's run paused
        waits here for space again, or a stop."""
        from ..drawing import draw_fps

        if self.window is None:
            return False
        if not self.paused:
            draw_fps(frame, self.fps)
            self.window.show(frame)
            self.last.update(frame=frame, at=time.monotonic(), said=None)
        else:  # a camera's frame, recorded: the stream is not gone, whatever the window holds
            self.last["at"] = time.monotonic()
        if self._says_stop():
            return True
        if self.paused and not self.live:
            held = time.perf_counter()
            try:
                while self.paused and not self.window.gone:
                    if self._says_stop(wait=0.05):
                        return True
            finally:
                self.paused_s += time.perf_counter() - held
        if self.window.gone:  # it never opened, and said so: the run goes on without it
            self.window = None
        return False

    def _pause(self) -> None:
        """Space: the frame shown held, saying so, or let go (its FPS counted afresh: the pause is no slowness)."""
        from ..drawing import draw_status

        self.paused = not self.paused
        frame = self.last["frame"]
        if frame is None:
            return
        if self.paused:
            frame = frame.copy()
            goes_on = " (frames still analysed)" if self.live else ""
            draw_status(frame, f"paused: space resumes{goes_on}")
        else:
            self.meter.reset()
        assert self.window is not None  # space came from the window (_says_stop)
        self.window.show(frame)

    def _waiting(self) -> bool:
        return self.window is not None and not self.window.gone and (
            (not self.paused and self._show_waiting()) or self._says_stop())

    def _show_waiting(self) -> bool:
        """The last frame, saying for how long no frame has come, once that is WAITING_SHOWN_S; and the FPS counted
        afresh from the next frame (counted over the wait, it read 1.6 for a 30 fps stream). Always False."""
        from ..drawing import draw_status

        gone = time.monotonic() - self.last["at"]
        said = f"waiting: no frames for {gone:.0f} s"
        if self.last["frame"] is not None and gone >= WAITING_SHOWN_S and said != self.last["said"]:
            frame = self.last["frame"].copy()
            draw_status(frame, said)
            assert self.window is not None  # _waiting asks only while there is one
            self.window.show(frame)
            self.last["said"] = said
            self.meter.reset()
        return False

    def _says_stop(self, wait: float | None = None) -> bool:
        """Whether the window asked to stop: q or Esc, its x, or its process gone (stats say which); space pauses
        or resumes. wait: seconds to wait for a first event."""
        window, stats = self.window, self.stats
        assert window is not None  # asked by show() and _waiting only while there is one
        while (event := window.event(wait)) is not None:
            wait = None
            if event == PAUSE_KEY:
                self._pause()
                continue
            if event == LOST and not window.opened:
                info(f"no window could be opened ({window.why_lost()}): {HEADLESS}")
                return False
            if event == LOST:
                stats.display_lost = window.why_lost()
                return True
            if event == CLOSED:
                stats.stopped = "the window closed"
                return True
            if event in QUIT_KEYS:
                stats.stopped = "Esc" if event == 27 else f"the {chr(event)} key"
                return True
        return False


class _FrameRows:
    """--csv: its header, then each frame's rows, appended whole or not at all (append_lines, as the photo
    command's JSON Lines): on a disk that filled up, the text stream's buffer failed at a row cut part-way, and the
    whole file was thrown away with the frames before it. A write the disk refuses is kept in `failed`."""

    def __init__(self, path: Path, pipeline, task_labels: dict[str, list[str]], live: bool, cut: CutShort,
                 stack: ExitStack):
        import csv
        import io

        from ..records import atomic_write, csv_columns, live_write

        self.path, self.task_labels = path, task_labels
        self.failed: OSError | None = None
        # The CSV's own stack: a write that fails mid-run unwinds it alone, so its temp file goes while the
        # other outputs are still finalized with the frames before.
        self.stack = stack.enter_context(ExitStack())
        # A camera or stream has no end to wait for: its rows are written as they come (live_write).
        self.fh = self.stack.enter_context(live_write(path, "w") if live else atomic_write(path, "w", cut=cut))
        landmarks = pipeline.landmarker is not None
        if landmarks:
            from ..landmarks import MEASURE_NAMES
        columns = csv_columns(task_labels, pose=landmarks, measures=MEASURE_NAMES if landmarks else (), clock=live)
        self.rows = io.StringIO()
        self.writer = csv.DictWriter(self.rows, fieldnames=columns, extrasaction="ignore", restval="",
                                     lineterminator="\n")
        self.writer.writeheader()
        # `--csv - | true`: a reader gone before the header was a BrokenPipeError out of here, past the loop that
        # says so, and the run ended in no line at all, exit 0. The loop now stops before its first frame.
        self.reader_lost = False
        try:
            self._append()
        except BrokenPipeError:
            reader_gone()
            self.reader_lost = True

    def add(self, index: int, time_s: float, faces, clock: str | None, size: tuple[int, int]) -> bool:
        """A frame's rows; whether the disk took them."""
        from ..records import csv_row

        self.writer.writerows(csv_row(index, time_s, f, self.task_labels, clock, size) for f in faces)
        return self._append()

    def _append(self) -> bool:
        from ..records import append_lines

        try:
            append_lines(self.fh, _taken(self.rows))
        except OSError as exc:  # a BrokenPipeError is raised: `--csv - | head` stops the run as Ctrl-C does
            # A full disk here threw away the video, summary and timeline too (wherever they were written): the run
            # stops as on Ctrl-C, this frame in none of them.
            if exc.errno not in WRITE_ERRNOS:
                raise
            self.failed = exc
        return self.failed is None

    def give_up(self, frames: int, cut: CutShort) -> str:
        """After a write the disk refused: the rows of the `frames` before, if any, kept; the [ERROR] line's part
        that says so."""
        failed = self.failed
        assert failed is not None  # given up only after a write failed
        before = counted(frames, 'frame')
        kept = f"it is not kept; the other outputs hold the {before} before"
        if frames:
            # The rows of the frames before are whole: kept, as a camera's (written in place) always were.
            # A file's go into place as a stopped run's do, beside an earlier run's CSV (.partial).
            with contextlib.suppress(OSError):
                self.stack.close()
                kept = (f"the rows of the {before} before are kept in {cut.shown(self.path)}; the other "
                        "outputs stop at the same frame")
        else:  # nothing but its header, if that: raised inside its stack, the temp file is removed
            with contextlib.suppress(OSError), self.stack:
                raise failed
        why = failed.strerror or failed
        return f"cannot write {where(self.path)}: {why} ({kept})"


class _Outputs:
    """What a run writes, opened on `stack`: the annotated video, the CSV, the timeline, the people summary (a
    camera's also rewritten every LIVE_SUMMARY_EVERY_S) and the alerts. A frame goes into every one of them."""

    def __init__(self, args, pipeline, source, task_labels: dict[str, list[str]], alerts, cut: CutShort,
                 stack: ExitStack, display: bool):
        from ..drawing import Style
        from ..people import PeopleSummary
        from ..records import is_stdout

        self.args, self.source, self.task_labels, self.alerts = args, source, task_labels, alerts
        self.why_unlabelled = pipeline.why_unlabelled
        self.style = Style.from_heads(pipeline.heads, args.landmarks)
        # A camera's or stream's rows also say when (its time_s counts from the start only): the CSV's `clock`,
        # the summary's first / last_clock, the alert's FACEKIT_CLOCK.
        self.people = PeopleSummary(task_labels, clock=source.live)
        self.sink = self._video(stack)
        self.rows = None if args.csv is None else _FrameRows(args.csv, pipeline, task_labels, source.live, cut,
                                                              stack)
        self.timeline = self._timeline()
        # A camera's or stream's --summary is also rewritten (whole, temp file and rename) every
        # LIVE_SUMMARY_EVERY_S: there is no end to wait for, and a killed run would lose all of it.
        self.live_summary = args.summary is not None and source.live and not is_stdout(args.summary)
        self.next_summary = time.monotonic() + LIVE_SUMMARY_EVERY_S
        self.draw = display or self.sink is not None

    def _video(self, stack: ExitStack):
        from ..video import VideoSink

        args, source = self.args, self.source
        if args.output is None:
            return None
        # --every N: 1/N of the frames at 1/N of the rate, so the video lasts as long as its source
        sink = VideoSink(args.output, source.fps / (1 if source.live else args.every), source.size, live=source.live)
        stack.callback(sink.abort)  # only does something if the loop died of a bug before close()
        return sink

    def _timeline(self):
        from ..timeline import Timeline

        if self.args.timeline is None:
            return None
        task = Timeline.pick_task(self.task_labels)
        if task is None:
            warn("--timeline: no heads loaded, nothing to plot")
            return None
        labels = self.task_labels[task]
        return Timeline(task, labels, {label: self.style.color(task, label, labels) for label in labels})

    @property
    def csv_failed(self) -> OSError | None:
        return None if self.rows is None else self.rows.failed

    def add(self, index: int, time_s: float, frame, faces, clock: str | None):
        """A frame's faces into the summary, the alerts, the timeline and the annotated video (after the CSV, which
        takes them first); returns the frame drawn on, where it is drawn (for a video or a window)."""
        from ..drawing import annotate

        self.people.add(index, time_s, faces, clock, why=partial(self.why_unlabelled, frame))
        if self.alerts is not None:
            self.alerts.update(index, time_s, faces, clock)
        if self.timeline is not None:
            self.timeline.add(time_s, faces)
        if self.live_summary and time.monotonic() >= self.next_summary:
            self.people.save(self.args.summary)
            self.next_summary = time.monotonic() + LIVE_SUMMARY_EVERY_S
        if not self.draw:
            return None
        shown = annotate(frame, faces, self.style, copy=False)
        if self.sink is not None:
            if self.source.live:  # as long as the run: a slow loop's skipped frames are filled
                self.sink.write_at(shown, time_s)
            else:  # at its own time: a phone's variable frame rate plays at its speed
                self.sink.write_timed(shown, time_s)
        return shown

    def finalize(self, stats: RunStats) -> OSError | None:
        """Each output finalized, even if one before it fails (a full disk, a plot that cannot be drawn): an
        exception here would also have thrown away the CSV, which the stack renames last. The run's one [ERROR]
        line (stats.error) names every output that failed: it named only the last, so on a full disk a video that
        could not be written went unsaid behind the timeline's line (and the CSV and summary written, too).
        Returns an OSError no disk explains, to be raised once the CSV is in place, as a bug's traceback."""
        from ..records import is_stdout

        args, sink = self.args, self.sink
        # A file's run that ended before the file did (a stop of any kind, a full disk, a broken frame) writes
        # outputs that are short: they must not replace an earlier run's whole ones. A camera has no end: a stop
        # is how each of its runs ends.
        stats.cut.cut = not self.source.live and (
            stats.interrupted or bool(stats.stopped or stats.display_lost) or stats.reader_gone
            or self.csv_failed is not None or stats.error is not None)
        problems = [stats.error] if stats.error else []
        bug = None
        for name, output, named, finalize in [
                ("video", sink, args.output, lambda: sink.close(stats.cut)),
                ("timeline", self.timeline, args.timeline, lambda: self.timeline.save(args.timeline, cut=stats.cut)),
                ("summary", args.summary, args.summary, lambda: self.people.save(args.summary, cut=stats.cut))]:
            if output is None:
                continue
            try:
                finalize()
                if (output is not sink or sink.written) and not is_stdout(named):  # a video of no frames is not
                    stats.kept.append(named)
            except FacekitError as exc:  # VideoError: the video, not whole, was removed
                problems.append(str(exc))
                stats.unwritten.add(name)
            except BrokenPipeError:
                # `--summary - | true`: a bug's traceback held for the end, which the catch-all then ended in
                # silence, exit 0, the run's counts and lines unsaid. The other outputs are whole.
                reader_gone()
                stats.unwritten.add(name)
                stats.summary_unread = True
            except OSError as exc:
                if exc.errno not in WRITE_ERRNOS:
                    bug = bug or exc
                problems.append(write_error_line(exc))
                stats.unwritten.add(name)
        if self.rows is not None and self.rows.failed is not None:  # self.csv_failed, which mypy cannot see through
            stats.csv_failed = True
            problems.append(self.rows.give_up(stats.frames, stats.cut))
        stats.error = "; ".join(problems) or None
        return bug


def _progress_bar(args, source, wanted: bool, stack: ExitStack):
    """A file's progress, on a terminal only: a long recording said nothing for minutes."""
    if not wanted or source.live:
        return None
    from ..video import progress_total

    total = progress_total(source.frames_shown, args.max_frames, args.every)
    return stack.enter_context(progress_bar(total=total, unit="frame", desc="[INFO] frames", leave=False))


def _frame_loop(args, pipeline, source, reader, outputs: _Outputs, view: _LiveView | None, bar, stats: RunStats,
                report: bool) -> None:
    """Every frame into every output, until the source ends or the run stops (q / Esc / the window's x, Ctrl-C, a
    `--csv -` reader gone, a full disk under the CSV, a source that breaks: `stats` say which); timed."""
    from ..pipeline import track_faces
    from ..records import clock_text
    from ..signals import DeferredStop, check_stop
    from ..tracking import IoUTracker
    from ..video import fill_bar

    tracker = IoUTracker(smooth=args.smooth, max_missed=max(15, 2 * args.detect_every))
    turn_hint = TurnHint(pipeline.detect) if args.rotate == 0 else None
    started = time.perf_counter()
    frames = None
    try:
        if outputs.rows is not None and outputs.rows.reader_lost:
            stats.reader_gone = True
        elif outputs.csv_failed is None:
            frames = track_faces(reader, pipeline, tracker, args.detect_every, args.max_frames,
                                 head_every=args.head_every)
        for index, frame, faces in frames or ():
            if view is not None:
                view.tick()
            time_s = source.time_s(index)  # a file's timestamp; a camera's: when the frame came
            clock = clock_text(source.wall_time(time_s)) if source.live else None  # a file's: none
            # A Ctrl-C while this frame is recorded waits until every output has it: the CSV, the
            # summary, the timeline and the mp4 then hold the same frames.
            with DeferredStop() as holding:
                holding.arm()
                # The CSV first: on standard output it is the one that breaks when its reader goes
                # (`| head`), and the frame it could not take is then in none of the other outputs.
                if outputs.rows is not None and not outputs.rows.add(index, time_s, faces, clock,
                                                                     (frame.shape[1], frame.shape[0])):
                    break
                stats.frames += 1
                stats.faces += len(faces)
                if turn_hint is not None and (line := turn_hint.add(stats.frames - 1, frame, stats.faces)):
                    with bar.external_write_mode() if bar is not None else contextlib.nullcontext():
                        # Above the progress bar, not through it; a folder's run names its video.
                        info(line if report else f"{source.spec.describe()}: {line}")
                stats.tracks.update(f.track_id for f in faces)
                _take_landmark_counts(stats, pipeline)
                shown = outputs.add(index, time_s, frame, faces, clock)
                if bar is not None:  # a time range's frames, from its first
                    bar.update(index + 1 - source.first_index - bar.n)
            check_stop()  # one held back by `holding`, or one a library swallowed
            if view is not None and view.show(shown):
                break
        else:
            fill_bar(bar, source.frames_read)
    except KeyboardInterrupt:
        stats.interrupted = True
    except BrokenPipeError:  # `--csv - | head`: stop as on Ctrl-C, keeping every other output
        reader_gone()
        stats.reader_gone = True
    except VideoError as exc:
        stats.error, stats.source_broke = str(exc), True
    finally:
        # A loop left early (a full disk, q, Ctrl-C) ends its detector's threads here. Left to the garbage
        # collector (a caught error's traceback holds this frame, and so the loop), they outlived the run in
        # a process that goes on: python -m facekit serve, a test, a host calling run().
        if frames is not None:
            frames.close()
    stats.seconds = time.perf_counter() - started - (view.paused_s if view is not None else 0.0)
    stats.outage_s = min(source.outage_s, stats.seconds)
    stats.skipped = source.skipped


def _sum_up(args, stats: RunStats, source, outputs: _Outputs) -> None:
    """The run's counts, and the lines about its outputs, into `stats`: for its report, or a folder's."""
    people = outputs.people
    stats.people, stats.headline = len(people), people.headline()
    stats.unmasked = people.count() if "mask" in outputs.task_labels else None
    if outputs.sink is not None and outputs.sink.written:
        stats.sound_left_out = _sound_left_out(Path(stats.cut.shown(args.output)), source,
                                               getattr(args, "piped", False))
    summary = None if stats.summary_unread else args.summary  # lines about it would name what was not written
    timed = [stats.cut.shown(out) for out in (args.csv, summary, args.timeline) if out is not None]
    if stats.frames and timed:
        stats.late_pictures = _late_pictures(source, timed)
    numbered = [stats.cut.shown(out) for out in (args.csv, summary) if out is not None]
    if stats.frames and numbered:
        stats.numbering = _sequence_numbering(source, numbered)


def _taken(text) -> str:
    """What an io.StringIO holds, which is emptied."""
    taken = text.getvalue()
    text.seek(0)
    text.truncate()
    return taken


def _time_range(args) -> dict:
    """FrameSource's start_s / end_s from --start / --end (none given: none passed)."""
    given = {"start_s": getattr(args, "start", None), "end_s": getattr(args, "end", None)}
    return {name: value for name, value in given.items() if value is not None}


def _check_time_range(args, spec) -> None:
    """--start / --end that cannot make a range, said before the models load. A live stream's URL is only known to
    be one once it opens: FrameSource refuses it then."""
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is None and end is None:
        return
    if spec.kind == "camera":
        raise FacekitError(f"--start / --end are for a video file: {spec.describe()} is live, its times count from "
                           "when it is opened (--max-frames N stops after N frames)")
    check_range_order(start, end)


def check_range_order(start: float | None, end: float | None) -> None:
    """--end not after --start (or 0) holds no frame of any video: said before one is read, in the same words by
    this script and facekit-batch (whose line said "each video's frames" where this one said "the frames")."""
    from ..video import time_text

    if end is not None and start is None and end <= 0:
        raise FacekitError("--end 0 leaves no frame: it counts from the video's start (--end 12:00: to 12 minutes)")
    if end is not None and end <= (start or 0.0):
        raise FacekitError(f"--end {time_text(end)} is not after --start {time_text(start or 0.0)}: the range "
                           "is a video's frames from --start up to --end")


def _say_end_past(args, source) -> None:
    """A --end past the file's end reads it to its end, as ffmpeg's -to does: said, as the times asked for are not
    all there. A folder's videos are of many lengths: not said for each."""
    from ..video import time_text

    end, last = getattr(args, "end", None), source.duration_s
    if end is not None and last is not None and end > last + 1.0 / source.fps:
        warn(f"--end {time_text(end)} is past the end of {source.spec.describe()} ({time_text(last)}): read to its "
             "end")


def _sound_left_out(output: Path, source, piped: bool = False) -> str | None:
    """The line saying that the annotated video has none of its source file's sound, with the ffmpeg command that
    puts it back in step; None where the source has none (or is a camera, a stream, an image sequence). piped: the
    source came on standard input (its temporary file is gone once the run ends: ffmpeg is to read it there)."""
    import shlex

    from ..container import sound

    if source.live or source.sequence:
        return None
    found = sound(source.spec.target)
    if found is None or not found.tracks:
        return None
    with_sound = output.with_name(f"{output.stem}_sound{output.suffix}")
    # The source's first picture may come after its sound starts (the hamilton clip's at 0.852 s): OpenCV times
    # it 0, so without the shift the sound played 0.85 s early. -shortest: a --max-frames run's video is shorter.
    shift = f"-itsoffset {found.picture_start_s:.3f} " if found.picture_start_s >= 0.0005 else ""
    # A time range's video starts at its first frame: the sound is taken from there (--start 5: 5.857 s in the
    # hamilton clip's sound), where the whole file's command put the sound's start under it.
    cue = ""
    if getattr(source, "first_s", 0.0) > 0:
        shift, cue = "", f"-ss {found.picture_start_s + source.first_s:.3f} "
    return (f"{output} has no sound: OpenCV writes pictures only, and the source's "
            f"{'sound track is' if found.tracks == 1 else f'{found.tracks} sound tracks are'} left out. With ffmpeg: "
            f"{'... | ' if piped else ''}ffmpeg {shift}-i {shlex.quote(str(output))} {cue}-i "
            f"{'-' if piped else shlex.quote(str(source.spec.target))} -map 0:v "
            f"-map 1:a -c:v copy -shortest {shlex.quote(str(with_sound))}")


def _late_pictures(source, outputs: list[str]) -> str | None:
    """late_pictures for a FrameSource: None for a camera, a stream or an image sequence."""
    if source.live or source.sequence:
        return None
    return late_pictures(source.spec.target, outputs)


def _sequence_numbering(source, outputs: list[str]) -> str | None:
    """The line saying that an image sequence numbered from 1 (ffmpeg's frame export writes 0001.png first) has its
    image 1 as the outputs' frame 0: a row looked up as the image of its frame number was the next frame's. None for
    any other source, and for a sequence numbered from 0."""
    first = getattr(source, "first_image", None)
    if not first:
        return None
    pattern = Path(source.spec.target).name
    return (f"the frame numbers in {_listed(outputs)} count the images of {pattern} from 0: frame 0 is "
            f"{pattern % first}, frame N the image numbered N + {first}")


def _listed(outputs: list[str]) -> str:
    return ", ".join(outputs[:-1]) + (" and " if len(outputs) > 1 else "") + outputs[-1]


def late_pictures(video, outputs: list[str]) -> str | None:
    """The line saying that the outputs' times count from the first picture of the file `video`, which a player shows
    later (the hamilton clip's at 0.852 s, after its sound starts); None where the pictures start at 0 or the
    container does not say."""
    from ..container import sound

    found = sound(video)
    return late_pictures_line(None if found is None else found.picture_start_s, outputs)


def late_pictures_line(picture_start_s: float | None, outputs: list[str]) -> str | None:
    """late_pictures' line from the container's picture start (seconds; None where it does not say), read where the
    video is: facekit-batch's workers give it in their status rows."""
    if picture_start_s is None or not picture_start_s >= 0.0005:  # NaN too: a status row's "not told"
        return None
    start = f"{picture_start_s:.3f}"
    return (f"the times in {_listed(outputs)} count from the video's first picture, which a player shows at {start} "
            f"s (the file holds its pictures back that long): add {start} to line them up with a player's clock, the "
            f"sound or a transcript")


def _report(args, stats: RunStats, outputs: _Outputs) -> None:
    sink, timeline, people, alerts = outputs.sink, outputs.timeline, outputs.people, outputs.alerts
    if stats.display_lost:
        warn(f"the live window is gone ({stats.display_lost}): stopping as on Ctrl-C")
    if stats.stopped:
        info(f"stopped with {stats.stopped} after {counted(stats.frames, 'frame')}: every output finalized")
    gone = f", {stats.outage_s:.1f}s of it with the stream gone" if stats.outage_s >= 0.05 else ""
    # With --detect-every K the detector runs every K frames and the tracker moves the faces in between: "310 face
    # detections" counted those carried faces too, from a detector that had run on a third of the frames.
    faces = (counted(stats.faces, "face detection") if args.detect_every == 1 else
             f"{counted(stats.faces, 'tracked face')} (the detector ran every {args.detect_every} frames)")
    info(f"{counted(stats.frames, 'frame')}, {faces}, "
         f"{counted(len(stats.tracks), 'track')} "
         f"in {stats.seconds:.1f}s{gone} ({stats.fps:.1f} FPS)")
    # On one slow core (a Pi) a camera outruns the loop, which then reads only its newest frame: the FPS
    # alone did not say that rows and labels came from a share of the frames.
    if stats.skipped and stats.skipped >= 0.05 * (stats.frames + stats.skipped):
        # Measured: an MJPEG stream reports FFmpeg's default 25 fps whatever it sends (30 here).
        running = stats.seconds - stats.outage_s
        rate = f" (about {(stats.frames + stats.skipped) / running:.0f} fps)" if running > 0 else ""
        # The levers not pulled yet: "(--detect-every 3, fewer --tasks)" was said to a run with both.
        levers = [f"--detect-every {3 if args.detect_every < 3 else 2 * args.detect_every}"]
        if args.tasks is None or len(args.tasks) > 1:
            levers.append("fewer --tasks")
        warn(f"could not keep up with the source{rate}: analysed {stats.frames} of the "
             f"{stats.frames + stats.skipped} frames it gave, the newest each time; for more, lighten the loop "
             f"({', '.join(levers)})")
    if sink is not None:
        if sink.written:
            info(f"annotated video written to {stats.cut.shown(args.output)} ({counted(sink.frames, 'frame')})")
            if stats.sound_left_out is not None:
                warn(stats.sound_left_out)
        elif not sink.frames:
            warn(f"no frames processed: {args.output} not written")
    if args.csv is not None and not stats.reader_gone and not stats.csv_failed:
        info(f"per-frame results written to {stats.cut.shown(args.csv)}")
    if timeline is not None and "timeline" not in stats.unwritten:
        info(f"timeline written to {stats.cut.shown(args.timeline)}{timeline.left_out()}")
    if stats.late_pictures is not None:
        info(stats.late_pictures)
    if stats.numbering is not None:
        info(stats.numbering)
    info(people.headline())  # "0 people seen" too: a run that found nobody says so
    if len(people):
        say("\n".join(people.table()))
    if args.summary is not None and "summary" not in stats.unwritten:
        info(f"per-person summary written to {stats.cut.shown(args.summary)}")
    _say_where_short_outputs_went(args, stats.cut)
    if alerts is not None:
        info(_alerts_line(alerts))


def _say_where_short_outputs_went(args, cut: CutShort) -> None:
    """Where a run that stopped before its file's end put its outputs, and the partial ones an earlier run left
    that a whole run cleared away."""
    outputs = [args.output, args.csv, args.summary, args.timeline]
    for said in (cut.line(outputs), cut.cleared_line(outputs)):
        if said is not None:
            info(said)


@guarded
def main(argv: list[str] | None = None) -> int:
    from ..records import MadeFolders

    # An output folder the run made and left empty is removed, however it ends; so is a video piped in.
    with MadeFolders() as made, ExitStack() as spooled:
        return _main(argv, made, spooled)


def _stdin_video(spooled: ExitStack) -> str:
    """`--source -`, a video piped in (`cat clip.mp4 | ...`, `curl -s URL | ...`), as `-i -` is a photo: it was
    "-: no such file". Read to its end into a temporary file that OpenCV opens as any other: from a pipe it reads
    no MP4 whose index is at its end (most are), and no frame count, which a file's checks need."""
    import shutil
    import tempfile

    from ..records import TEMP_SUFFIX, make_temp_dir, sweep_stale

    if sys.stdin is None or sys.stdin.isatty():  # a terminal's: the command would wait for typed bytes
        raise FacekitError("--source - reads a video piped in (cat clip.mp4 | ... --source -), and standard input is "
                           + ("closed" if sys.stdin is None else "a terminal"))
    info("reading the video on standard input to its end (a live feed never ends: give its stream URL or camera "
         "instead)")
    # A run killed with kill -9 (the out-of-memory killer) kept its copy, a whole video, in the temp folder for
    # good (a tmpfs: memory) and no later run removed it: it is locked while its run lives, and the next piped
    # run takes the ones no run holds.
    spool = Path(tempfile.gettempdir(), "facekit-stdin")  # another user's are not this user's to take
    sweep_stale(spool.parent, [(spool.name, TEMP_SUFFIX)], folders=True)
    folder, held = make_temp_dir(spool)
    spooled.callback(os.close, held)
    spooled.callback(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "stdin"
    try:
        with open(path, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    except OSError as exc:
        # "cannot write an output: No space left on device" named no output: the full disk is the temp folder's.
        if exc.errno not in NO_ROOM_ERRNOS:
            raise
        copied = path.stat().st_size if path.is_file() else 0
        raise FacekitError(f"--source -: no room in the temp folder {spool.parent} for the piped video's copy "
                           f"({exc.strerror} after {copied / 1e6:.1f} MB): set TMPDIR to a folder with room for "
                           "the whole video") from None
    if path.stat().st_size == 0:
        raise FacekitError("--source -: nothing came on standard input")
    return str(path)


def _main(argv: list[str] | None, made: MadeFolders, spooled: ExitStack) -> int:
    args = build_parser().parse_args(argv)
    args.piped = args.source.strip() == "-"
    if args.piped:
        args.source = _stdin_video(spooled)
    # Read by OpenCV's FFmpeg backend when it loads, so before cv2 is imported: FFmpeg's own
    # complaints (overread, moov atom not found) would otherwise follow our one-line errors.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    from ..records import is_stdout
    from ..video import NothingInRange, SourceSpec, check_file_source, no_time_range

    spec = SourceSpec.parse(args.source)
    _check_time_range(args, spec)
    _check_fps(args, spec)
    if spec.kind == "file" and str(spec.target) and os.path.isdir(spec.target):
        return _folder_run(args, spec.path, made)
    folders = _outputs_into_folders(args, spec)
    if is_stdout(args.csv) or is_stdout(args.summary):  # `--csv -`: the CSV for a pipe, the rest to stderr
        results_to_stdout()
    check_file_source(spec)  # a missing video named before the models load (~1 s), and before a folder is made
    refused = no_time_range(spec) if args.start is not None or args.end is not None else None
    if refused is not None:  # a photo's came after "read as a video of one frame" and the models' ~1 s load
        raise FacekitError(refused)
    if spec.kind == "file" and os.path.isfile(spec.target):
        _say_image_read_as_video(spec.path)
    _make_folders(folders, made)
    check_outputs(args)
    pipeline = _load(args)
    try:
        stats = run(args, pipeline)
    except VideoError as exc:  # named as the user gave it, not by the temporary file it was read into
        if args.piped and type(exc) in (VideoError, NothingInRange):  # --start past its end too
            raise type(exc)(str(exc).replace(args.source, "-")) from None
        raise
    report_landmarks(pipeline, stats.landmarks, video=True)
    return _end_of_run(args, stats)


def _check_fps(args, spec) -> None:
    """--fps where it means something: an image sequence's, which holds no frame rate."""
    from ..video import _is_sequence

    if args.fps is not None and not (spec.kind == "file" and _is_sequence(Path(spec.target))):
        # A video file's times come from its container, a camera's from the clock: the rate would change nothing.
        # describe(): a stream's password as ***, as every other line shows it ("camera 0", not "0").
        raise FacekitError(f"--fps is for an image sequence (frames/%04d.png), which holds no frame rate: "
                           f"{spec.describe()}'s times are its own")


def _outputs_into_folders(args, spec) -> dict[str, Path]:
    """The outputs given as folders, each set to its file there under the video's name; by attribute."""
    if not (spec.kind == "file" and str(spec.target)):
        return {}
    # `-o annotated/` was "needs a video extension" (an existing folder: "is a folder"): as for one photo,
    # it means "into this folder, under the video's name".
    folders = _output_folders(args, many=False)
    for attr, folder in folders.items():
        setattr(args, attr, folder / _name_in_folder(attr, Path(Path(spec.target).name), Path(spec.target)))
    return folders


def _say_image_read_as_video(path: Path) -> None:
    """A photo or an animated image given as the video is read as one: said, as a folder run says so (it ran as a
    one-frame video without a word)."""
    import shlex

    from ..errors import shown as printable
    from ..preprocess import is_image_path
    from ..video import animated, image_frames

    if not is_image_path(path):
        return
    images = sibling_command("detect_mask_video.py", "detect_mask_image.py")
    frames = image_frames(path)
    # FFmpeg reads a GIF's or APNG's every frame, at its own times: "of one frame" was untrue. An animated
    # WebP's it cannot read: FrameSource says so.
    if animated(path):
        info(f"{printable(str(path))} is an animated image: read as a video of its {frames} frames")
    elif frames == 1:
        info(f"{printable(str(path))} is a photo: read as a video of one frame ({images} -i "
             f"{shlex.quote(str(path))} reads photos)")


def _end_of_run(args, stats: RunStats) -> int:
    """One video's run ended: its [ERROR] line (an output not written, a source that broke), its interrupted line
    or the reader of its `--csv -` gone, and the exit status."""
    if stats.error:
        error = stats.error.replace(args.source, "-") if args.piped else stats.error
        return fail(error)
    if stats.interrupted:
        from ..signals import exit_status

        print("[INFO] interrupted: outputs finalized", file=sys.stderr, flush=True)
        return exit_status()
    if stats.reader_gone:
        info(_reader_gone_line(args, stats))
    if stats.summary_unread:
        info(f"{READER_CLOSED} before the per-person summary (--summary -): it was not written; the run was whole")
    return 0


def _load(args):
    from ..heads import check_models_folder

    check_models_folder()
    info("loading face detector model...")
    pipeline = build_pipeline(args, fine_pass=args.fine_pass, video=True)
    _check_memory_limit(pipeline)
    if args.commercial_use:
        say_commercial_use(args.detector, pipeline.heads, pipeline.withheld, bool(args.landmarks))
    else:
        say_non_commercial(args.detector, pipeline.heads)
    if not pipeline.heads and not pipeline.withheld:  # heads left out for commercial use were named above
        warn("no trained heads found: faces are found and tracked but not classified "
             "(train one with train_mask_detector.py)")
    return pipeline


# The least address space (`ulimit -v`) the video loop ran in on the hamilton clip, one detector worker: with the mask
# head alone 768 MiB, each other head 128 MiB more, the face mesh 256 MiB more. Short of it, LiteRT's XNNPACK failed
# to plan a head at its first faces and freed a buffer twice: glibc aborted the run (exit 134) without a word.
VIDEO_ADDRESS_SPACE, HEAD_ADDRESS_SPACE, MESH_ADDRESS_SPACE = 768 << 20, 128 << 20, 256 << 20


def _check_memory_limit(pipeline) -> None:
    """Refuse, before the first frame, a run that `ulimit -v` leaves too little memory for its heads and mesh."""
    from ..runtime import check_address_space

    heads, mesh = len(pipeline.heads), pipeline.landmarker is not None
    need = VIDEO_ADDRESS_SPACE + HEAD_ADDRESS_SPACE * max(0, heads - 1) + (MESH_ADDRESS_SPACE if mesh else 0)
    what = f"the video loop with {counted(heads, 'head')}" + (" and the face mesh (--landmarks)" if mesh else "")
    check_address_space(need, what, "run fewer heads (--tasks mask)" + (" or leave out --landmarks" if mesh else ""))


def _output_folders(args, many: bool) -> dict[str, Path]:
    """The outputs given as folders (a name ending in /, or one without an extension that is a folder or, for a
    folder of videos, is not there yet), by attribute. many: a folder of videos, where each output must be a folder."""
    from ..records import is_stdout

    folders = {}
    for attr, option in FOLDER_OUTPUTS.items():
        path = getattr(args, attr)
        if path is None:
            continue
        # A folder named like a file (`-o out.mp4`, a folder of that name in the way) is refused where it is used,
        # as the photo command refuses one: the name says a file.
        if not is_stdout(path) and (isinstance(path, OutputFolder) or not path.suffix and (many or path.is_dir())):
            folders[attr] = Path(path)
        elif many:
            what = {"output": "annotated video", "csv": "CSV", "summary": "summary", "timeline": "timeline"}[attr]
            name = {"output": "annotated", "csv": "faces", "summary": "people", "timeline": "timelines"}[attr] \
                if is_stdout(path) else path.with_suffix("")
            raise FacekitError(f"{option} {path}: a folder of videos gets one {what} per video, named as the video: "
                               f"name a folder, e.g. {option} {name}{os.sep}")
    return folders


def _name_in_folder(attr: str, name: Path, video: Path) -> Path:
    """The file an output given as a folder gets for `video`, whose outputs' name is `name` (its own, or _2 ...)."""
    from ..video import FOURCC

    stem = name.with_suffix("")
    if attr == "output":  # the video's own kind where OpenCV writes it (a .mov stays a .mov), else MPEG-4
        ending = video.suffix.lower() if video.suffix.lower() in FOURCC else ".mp4"
    else:
        ending = FOLDER_ENDINGS[attr]
    # Cut to fit, as a photo's annotated name is: a video named with 246 bytes was refused, after it had been
    # found, for its NAME.timeline.png of 259 ("a name too long: give a shorter one", of a name nobody gave).
    text = stem.name
    while len(os.fsencode(text + ending)) > NAME_MAX:
        text = text[:-1]
    return stem.with_name(text + ending)


def _apart(videos: list[Path], names: list[Path], folders: dict[str, Path], spare: int) -> list[Path]:
    """`names` with _2, _3, ... where one video's output would be another's: x.mp4's --summary x.people.csv was
    x.people.mp4's --csv in one folder, and the run was refused ("give each its own file", of names it chose)."""
    from .image import _fitted, name_key

    where = {attr: folder.resolve() for attr, folder in folders.items()}
    taken: set[str] = set()
    apart = []
    for video, name in zip(videos, names):
        given, n = name, 1
        while True:
            keys = {name_key(where[attr] / _name_in_folder(attr, name, video)) for attr in where}
            if not keys & taken:
                break
            n += 1
            name = _fitted(given, f"_{n}", spare)
        taken |= keys
        apart.append(name)
    return apart


def _make_folders(folders: dict[str, Path], made: MadeFolders) -> None:
    """The output folders that are not there yet, made for the checks that open a file in them; `made` removes
    them again at the run's end where still empty: a refused run leaves nothing behind, nor does one that could
    write nothing (a full disk, ulimit -f), which left the empty folders it had made."""
    for attr, folder in folders.items():
        check_output_path(folder, FOLDER_OUTPUTS[attr], folder=True)
    for folder in folders.values():
        made.make(folder)


def _folder_run(args, folder: Path, made: MadeFolders) -> int:
    """Each video in `folder`, as the photo command runs a folder of photos: the outputs given as folders get one
    file per video under its name (_2, _3, ... where two share one), files that are not videos are named and
    skipped, a video that cannot be read is a [WARN] line and the run goes on (exit 1), and one line sums up."""
    from ..people import AlertDispatcher

    folders = _output_folders(args, many=True)
    videos, names, runs, skipped = _folder_plan(args, folder, folders)
    # A folder of outputs that is the videos' own folder (`-o clips/`) would write over them.
    refuse_overwriting(videos, [(option, [getattr(one, attr) for one in runs], "folder")
                                for attr, option in FOLDER_OUTPUTS.items() if attr in folders])
    _make_folders(folders, made)
    for one in runs:
        # A video OpenCV cannot open by its name (not UTF-8: an old archive's Latin-1 "cl\xe9ment.mp4") is skipped
        # below, as it is without -o; its output's name, as unopenable, refused the whole folder's run.
        if native_path(one.source) is not None:
            check_outputs(one)
    if not folders:
        info("no --output, --csv, --summary or --timeline: the people are only counted (add -o FOLDER/ or "
             "--csv FOLDER/ to keep them)")
    pipeline = _load(args)
    alert_argv = _alert_command(args, {task: list(head.labels) for task, head in pipeline.heads.items()})
    # One dispatcher for every video, closed after the last: closed at each video's end, it cut off a notifier
    # slower than its 5 s that fired near that end, and held the run up 5 s between two videos.
    alerts = None if alert_argv is None else AlertDispatcher(alert_argv, warn=warn, info=info)
    _say_skipped_files(skipped)
    tally = _FolderTally(len(videos))
    started = time.perf_counter()
    try:
        _read_videos(videos, names, runs, pipeline, alerts, tally)
    finally:  # whatever ended the run: no command of its outlives it
        if alerts is not None and _close_folder_alerts(alerts):
            tally.stopped = "interrupted"  # a Ctrl-C or SIGTERM during their wait
    report_landmarks(pipeline, tally.marks, video=True)
    repeated = sum(same is not None for _, same in skipped)
    info(tally.line(time.perf_counter() - started, len(skipped) - repeated, repeated))
    if alerts is not None:
        info(_alerts_line(alerts))
    if folders and tally.written:
        _say_names_in_folders(folders, tally.written)
    return tally.end()


def _read_videos(videos: list[Path], names: list[Path], runs: list, pipeline, alerts, tally: _FolderTally) -> None:
    """A folder run's videos read in turn (`runs`: each one's args) into `tally`, until the last or a stop."""
    from ..pipeline import for_one_video
    from ..signals import DeferredStop
    from ..video import NothingInRange, SourceSpec, check_file_source

    try:
        for video, name, one in zip(videos, names, runs):
            try:
                check_file_source(SourceSpec.parse(one.source))
                stats = run(one, for_one_video(pipeline), report=False, progress=True, alerts=alerts)
            except NothingInRange as exc:  # shorter than --start: no failure to read, nothing in the range
                tally.before_start += 1
                info(f"skipped {exc}")
                continue
            except VideoError as exc:
                tally.failed += 1
                warn(f"skipped {exc}")
                continue
            # A Ctrl-C while a video that ended is counted and said waits until it is: one that landed here (or
            # between two videos, below) ended the run without the line summing up what was done.
            with DeferredStop() as holding:
                holding.arm()
                tally.add(video, name, one, stats)
            if stats.interrupted or holding.received:
                tally.stopped = "interrupted"
                break
            if stats.stopped:
                tally.stopped = stats.stopped
                break
    except KeyboardInterrupt:  # while a video was being opened, or between two
        tally.stopped = "interrupted"


def _folder_plan(args, folder: Path, folders: dict[str, Path]):
    """The videos in `folder` (VideoError where there are none), their outputs' names, the run of each (args with
    its source and outputs) and the files skipped, as gather_inputs gives them."""
    import shlex

    from ..batch import VIDEO_EXTENSIONS
    from ..preprocess import is_image_path
    from ..records import partial_name
    from ..video import FOURCC, animated
    from .image import gather_inputs

    def is_video(path: Path) -> bool:
        return path.suffix.lower() in VIDEO_EXTENSIONS or animated(path)

    # Named as CSVs: a.mp4 and a.mkv share every output's name but the video's, so the second one is a_2.
    # Cut here to fit the longest ending: cut later, two videos named alike past 242 bytes got one NAME.timeline.png
    # and the run was refused, "--timeline and --timeline would both write" one file.
    spare = max(map(len, [*FOLDER_ENDINGS.values(), *FOURCC])) - len(".csv")
    videos, names, skipped, _ = gather_inputs([folder], False, wanted=is_video, name_of=lambda n: n.with_suffix(".csv"),
                                              spare=spare)
    if not videos:
        photos = sum(is_image_path(path) for path, _ in skipped)
        images = sibling_command("detect_mask_video.py", "detect_mask_image.py")
        # A folder of a video's frames, given as the folder: the pattern that reads them as one video.
        held = (f"; it holds {counted(photos, 'image')}: as a video's frames, give a pattern such as "
                f"{folder / '%04d.png'}; as photos, {images} -i {shlex.quote(str(folder))}") if photos else ""
        raise VideoError(f"no videos found in {folder} (looked for {', '.join(sorted(VIDEO_EXTENSIONS))}){held}")
    names = _apart(videos, names, folders, spare)
    runs = []
    for video, name in zip(videos, names):
        one = copy.copy(args)
        one.source = str(video)
        for attr, out in folders.items():
            setattr(one, attr, out / _name_in_folder(attr, name, video))
        runs.append(one)
    # `--csv clips/`: the next run said "skipped clips/walk.csv: not a video file" of the last one's tables and
    # counted them among the folder's other files.
    own = {path.resolve() for one in runs for attr in folders
           for path in (getattr(one, attr), partial_name(getattr(one, attr)))}
    skipped = [(path, same) for path, same in skipped if same is not None or Path(os.path.realpath(path)) not in own]
    return videos, names, runs, skipped


def _say_skipped_files(skipped: list) -> None:
    """The folder's files that are not videos, each named with why (a photo: the command that reads it)."""
    import shlex

    from ..errors import shown as printable
    from ..preprocess import is_image_path
    from .image import say_skipped

    photo = sibling_command("detect_mask_video.py", "detect_mask_image.py")
    say_skipped(skipped, lambda path: f"a photo ({photo} -i {printable(shlex.quote(str(path)))} reads it)"
                if is_image_path(path) else "not a video file (by its extension)")


@dataclass
class _FolderTally:
    """A folder run's counts, video by video, for the line that sums it up and its exit status."""
    videos: int  # in the folder
    done: int = 0  # read to their end (or stopped by the user), their outputs written
    short: int = 0  # of those, stopped before their end
    failed: int = 0  # unreadable
    broken: int = 0  # broke part-way
    unwritten: int = 0  # read, but their outputs could not be written
    before_start: int = 0  # no frame from --start to --end
    frames: int = 0
    people: int = 0
    unmasked: int | None = None  # None: no mask head
    # The runs (args, name) whose outputs were kept, for the line naming them: from every video's, it listed
    # "NAME{.avi,.mov,.mp4}" where the one .mov could not be read and had none.
    written: list = field(default_factory=list)
    marks: LandmarkStats | None = None
    stopped: str | None = None  # "interrupted", or how the user stopped it ("the q key")

    @property
    def reached(self) -> int:
        return self.done + self.failed + self.broken + self.unwritten + self.before_start

    def add(self, video: Path, name: Path, one, stats: RunStats) -> None:
        """A video that was read (`one`: its run's args), counted, and its lines said."""
        from ..errors import shown as printable

        self.marks = stats.landmarks or self.marks
        self.frames += stats.frames
        self.people += stats.people
        if stats.unmasked is not None:
            self.unmasked = (self.unmasked or 0) + stats.unmasked
        renamed = name.with_suffix("").name != video.stem
        cut = stats.interrupted or stats.stopped
        line = (f"{printable(str(video))}: {counted(stats.frames, 'frame')}"
                f"{' (stopped before its end)' if cut else ''}, {stats.headline}"
                + (f" (its outputs named {name.with_suffix('').name}: another video has its name)"
                   if renamed else ""))
        if stats.kept or (one.csv is not None and stats.frames > 0):  # the CSV's rows
            self.written.append((one, name))
        if stats.error:
            # A video read to its end whose outputs could not be written (a full disk) did not break: the
            # summing-up said "broke part-way (their outputs hold the frames before)" of outputs not kept.
            self.broken += stats.source_broke
            self.unwritten += not stats.source_broke
            warn(f"{line}; stopped there: {stats.error}")
        else:
            self.done += 1
            self.short += bool(cut)
            info(line)
        _say_where_short_outputs_went(one, stats.cut)
        if stats.sound_left_out is not None:  # a folder of phone videos lost every one's sound unsaid
            warn(stats.sound_left_out)
        if stats.late_pictures is not None:
            info(f"{printable(str(video))}: {stats.late_pictures}")

    def line(self, seconds: float, non_videos: int, repeated: int) -> str:
        """The line summing the run up."""
        return (f"{counted(self.done, 'video')}" + (f" ({self.short} stopped before its end)" if self.short else "")
                + f", {counted(self.frames, 'frame')}, {counted(self.people, 'person', 'people')} seen"
                + (f", {self.unmasked} without a mask" if self.unmasked is not None else "")
                + f" in {seconds:.1f}s; skipped {counted(self.failed, 'unreadable video')} and "
                  f"{counted(non_videos, 'non-video file')}"
                + (f"; {counted(self.before_start, 'video')} with no frame from --start to --end"
                   if self.before_start else "")
                + (f"; {self.broken} broke part-way (their outputs hold the frames before)" if self.broken else "")
                + (f"; {self.unwritten} whose outputs could not be written (above)" if self.unwritten else "")
                + (f"; {counted(repeated, 'video')} met twice, read once" if repeated else "")
                + (f"; {self.videos - self.reached} not reached"
                   if self.stopped and self.videos > self.reached else ""))

    def end(self) -> int:
        """The run's exit status, with the line a stopped run ends with; an error where no video was done."""
        from ..signals import exit_status
        from ..video import NothingInRange

        if self.stopped == "interrupted":
            print(f"[INFO] interrupted after {self.reached} of {self.videos} videos: outputs finalized",
                  file=sys.stderr, flush=True)
            return exit_status()
        if self.stopped:
            info(f"stopped with {self.stopped}: every output finalized")
        if not self.done and self.reached == self.videos:
            if self.unwritten == self.reached:
                raise VideoError(f"the outputs of none of the {self.videos} video(s) could be written (above)")
            if self.before_start == self.reached:
                raise NothingInRange(f"none of the {self.videos} video(s) has a frame from --start to --end (above)")
            raise VideoError(f"none of the {self.videos} video(s) could be read to its end")
        return 1 if self.failed or self.broken else 0


def _say_names_in_folders(folders: dict[str, Path], written: list) -> None:
    """How the outputs given as folders are named: after each video, with the endings they got (`written`: the runs,
    with their names, whose outputs were kept)."""
    endings = {attr: sorted({getattr(one, attr).name[len(name.stem):] for one, name in written})
               for attr in folders}
    shown = {attr: ends[0] if len(ends) == 1 else "{" + ",".join(ends) + "}" for attr, ends in endings.items()}
    info("outputs written as each video's name: " + ", ".join(f"{out}{os.sep}NAME{shown[attr]}"
                                                               for attr, out in folders.items()))


def _reader_gone_line(args, stats: RunStats) -> str:
    """`--csv - | head -1`: "the other outputs kept" was said of a video that had no frame and was not written."""
    said = f"{READER_STOPPED} after {counted(stats.frames, 'frame')}"
    if stats.kept:
        return f"{said}: kept {', '.join(stats.cut.shown(p) for p in stats.kept)}"
    asked = any(p is not None and p != args.csv for p in (args.output, args.timeline, args.summary))
    return f"{said}; no other output was written" if asked else said
