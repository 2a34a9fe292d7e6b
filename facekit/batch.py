"""facekit-batch (python -m facekit.batch): photos and videos by the thousand, on Ray Data.

    facekit-batch photos/ clips/*.mp4 --list more.txt -o results/ [--workers 4] [--every 5]
    facekit-batch /shared/archive -o /shared/results --address auto      # an existing Ray cluster

Sources are put into tasks (one video, or a few photos, per task) and run through `map_batches` with
a pool of actors: each worker loads the models once, with one thread per engine, so N workers use N
cores instead of fighting over them. A video is one task, read frame by frame by one worker, so its
track ids stay consistent from the first frame to the last.

The driver writes what each task returns, as soon as it returns:

    results/faces/part-*.parquet    one row per face: source, kind, frame, time_s, track_id, width,
                                    height (the photo's or frame's), x1..y2, score, <task>_label and
                                    <task>_<class> per head, emotion_intensity,
                                    emotion_eyes_only, pose with --landmarks (the video CSV's columns)
    results/status/part-*.parquet   one row per source: ok / error and why, faces, frames, seconds
    results/status.csv              the latest status of every source, brought up to date at the end of a run
    results/job.json                the options the results were made with, and the facekit that began them

Each part is written to a temp file and renamed into place, faces before status; a faces part whose
status part is missing (a run killed between the two renames) is removed at the next start. So the
folder only ever holds complete parts, a source counts as done once its status says ok, and a re-run
skips those: an interrupted job resumes where it stopped and never writes a face twice.
"""

from __future__ import annotations

# `python -m facekit.batch`: a Ctrl-C in the imports below (numpy, OpenCV: ~0.5 s) is the command's one line and
# exit 130 (facekit.signals.start_guard; run_script ends it), not a KeyboardInterrupt traceback. So they come after.
# ruff: noqa: E402
if __name__ == "__main__":
    from .signals import start_guard

    start_guard()

import argparse
import errno
import glob
import io
import json
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .cli.common import (ArgumentParser, add_pipeline_options, add_version, exit_status_help, guarded, info,
                         positive_int, prog_name, progress_bar, say_commercial_use, say_non_commercial, warn,
                         write_error_line)
from .cli.video import SMOOTH_LAG, check_range_order, late_pictures_line, smooth_strength, video_time
from .errors import FacekitError, NO_ROOM_ERRNOS, counted, loops, near_names, one_line, shown
from .signals import DeferredStop
from .tracking import HEAD_EVERY

# .mts / .m2ts: a camcorder's AVCHD clips; .3gp: an older phone's. A folder of them was "no videos found".
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
                    ".m2ts", ".3gp"}
# picture_start_s: when a player shows a video's first picture (its container's word, read by the worker), which the
# job's closing line says; the driver read every video's header itself at the end, a file share's round trip each.
# The status of a video that broke part-way (truncated or corrupt): its rows of the frames before are kept.
PARTIAL = "partial"
# turned: a photo's, as the photo script's JSON has it: the degrees clockwise (90, 180 or 270) its faces were found
# turned (a scan upside down, a copy whose EXIF orientation was lost), 0 where found as read; empty for a video and a
# source that failed. The faces rows alone (boxes in the photo's pixels as read) did not say which photos lay turned.
STATUS_COLUMNS = ("source", "kind", "status", "message", "faces", "frames", "seconds", "cpu_seconds", "worker",
                  "worker_rss_mb", "finished", "picture_start_s", "turned")
# emotion_eyes_only is the CSV's 0/1 flag: as a double it read 0.0 / 1.0 beside the CSV's 0 / 1, and pandas
# could not concatenate a video's CSV with its Parquet rows without one of them changing type.
INT_COLUMNS = {"frame", "track_id", "width", "height", "x1", "y1", "x2", "y2", "emotion_eyes_only"}
STRING_COLUMNS = {"source", "kind"}
CONNECT_TIMEOUT_S = 5.0
# A task whose worker dies (a photo or video that crashes a decoder, the kernel's out-of-memory killer) is tried
# this many times, each time on a fresh worker; Ray's default, forever, left a job of thousands of photos
# restarting workers on one bad file, no photo done and the file never named. Then its sources are errors, and
# the next run gives each of them a task of its own, so only the file that kills its worker fails again.
TASK_TRIES = 3
WORKER_DIED = "its worker died"
# job.json's record of the facekit that began the job, beside its options: a resume by another is warned about.
FACEKIT_KEY = "facekit"
# The options every facekit-batch has written to job.json, since the first (a1fa17c): a job.json without them is
# not a job's.
JOB_KEYS = frozenset({"tasks", "models", "detector", "confidence", "landmarks", "fast", "every", "detect_every",
                      "smooth"})


@dataclass(frozen=True)
class JobOptions:
    """Everything that decides a source's rows; stored in job.json so a resume cannot mix two settings."""

    detector: str  # a name from facekit.detection.DETECTORS
    tasks: list[str] | None = None
    models: tuple[str, ...] = ()
    confidence: float | None = None
    landmarks: bool = False
    fast: bool = False  # photos: one detector pass, as detect_mask_image.py --fast
    every: int = 1  # videos: analyse every N-th frame
    detect_every: int = 1
    smooth: float = 0.6
    # videos, as detect_mask_video.py's options of these names: the job took neither, so a trial over the first
    # seconds of each video, or labels of every frame, could not be had from it.
    head_every: int = HEAD_EVERY
    max_frames: int | None = None
    # videos: detect_mask_video.py --fine-pass, the small-face pass (and full-size tiles past 1280 px) on each
    # frame: a job of 4K videos missed their faces under ~60 px with no way to ask for it.
    fine_pass: bool = False
    # photos and videos: turned clockwise before analysis (--rotate), a camera's whose orientation was lost. None (no
    # --rotate): as read, a photo showing no face or only weak ones searched turned too, as the photo script's; 0:
    # as read, no search (a job begun before the search, whose job.json says 0, resumes so with --rotate 0).
    rotate: int | None = None
    # videos: the frames from start_s up to end_s only (--start / --end, as detect_mask_video.py's), rows keeping
    # the whole file's times: a job over minutes 10-12 of each recording had to cut every file first.
    start_s: float | None = None
    end_s: float | None = None
    # The heads' files: None = as the scripts run them (fp16 for photos, int8 twins for videos where int8
    # pays on the worker's CPU), True / False = int8 / fp16 for both (--int8, or FACEKIT_INT8 where the job
    # was started: workers on other machines do not see the driver's environment).
    int8: bool | None = None
    # Each head's model.tflite (sha256, first 16 hex digits): a head retrained in place between two runs of
    # the job mixed two models' rows in one table, since the options name only the folder.
    heads: dict[str, str] = field(default_factory=dict)
    # What each head's card.json says that changes its rows (card_digests): its labels put in another order (a card
    # mended by hand), another input size or crop, gave the same model file other rows in one table, unsaid.
    cards: dict[str, str] = field(default_factory=dict)

    def analyzer_kwargs(self) -> dict:
        return dict(tasks=self.tasks, detector=self.detector, landmarks=self.landmarks,
                    confidence=self.confidence, models=list(self.models), fine_pass=not self.fast, int8=self.int8)


def card_digests(heads: dict) -> dict[str, str]:
    """Task -> the sha256 (16 hex digits) of what its head's card says that changes its rows: labels, input size,
    colour mode, crop, min_face (not its display texts and colours)."""
    import hashlib

    def digest(card) -> str:
        said = {k: v for k, v in card.to_dict().items() if k in ("labels", "input_size", "color", "crop", "min_face")}
        return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()[:16]

    return {task: digest(head.card) for task, head in heads.items()}


def face_columns(heads: dict, landmarks: bool) -> list[str]:
    """The faces parts' columns, as a worker's analyzer of these heads writes them (FaceAnalyzer.record_columns)."""
    from .landmarks import MEASURE_NAMES
    from .records import csv_columns

    labels = {t: list(h.labels) for t, h in heads.items()}
    pose: dict[str, Any] = dict(pose=True, measures=MEASURE_NAMES) if landmarks else {}
    return ["source", "kind", *csv_columns(labels, **pose)]


def head_hashes(heads: dict) -> dict[str, str]:
    """Task -> its head's model.tflite's sha256 (16 hex digits): which model made a column, whether its folder's
    int8 twin or the file itself runs."""
    from .assets import sha256sum
    from .heads import TFLITE

    return {t: sha256sum(h.folder / TFLITE)[:16] for t, h in heads.items()}


def check_same_facekit(driver_version: str | None, heads: dict[str, str], analyzer) -> None:
    """A worker whose facekit is not the driver's (a node not upgraded with the others, a head retrained on one
    node) added rows of other models to the job's table without a word: Ray compares its own and Python's
    versions across a cluster, not ours. Raised in the worker's start, the job ends in this one line."""
    from . import __version__

    where = socket.gethostname()
    if driver_version and driver_version != __version__:
        raise FacekitError(f"worker on {where} runs facekit {__version__}, this job's driver {driver_version}: install "
                           "the same facekit on every node of the cluster")
    mine = head_hashes(analyzer.heads)
    differ = [t for t in heads if mine.get(t) != heads[t]]
    if differ:
        raise FacekitError(f"worker on {where} has other model files for {', '.join(differ)} than this job's driver "
                           f"(sha256 {', '.join(mine.get(t) or 'none' for t in differ)} there, "
                           f"{', '.join(heads[t] for t in differ)} here): give every node the same facekit and models")


def check_assets(detector: str, landmarks: bool) -> None:
    """The detector's files (and the face mesh's, with landmarks) found and whole, fetched into the cache where the
    mirror lacks them: a job missing one started Ray (seconds, its log lines) and wrote its results folder first,
    then ended in the first worker's error. On a cluster each node still finds its own copy."""
    from .assets import resolve_checked
    from .detection import DETECTOR_ASSETS

    for name in DETECTOR_ASSETS.get(detector, ()) + (("face_mesh",) if landmarks else ()):
        resolve_checked(name)


def build_parser() -> argparse.ArgumentParser:
    run = prog_name("facekit-batch")  # or `python -m facekit batch`, as typed
    p = ArgumentParser(
        prog=run,
        description="Analyse folders, globs or lists of photos and videos with Ray Data; write one Parquet row per "
                    "face and a status row per source. Re-run with the same --output to resume.",
        epilog="examples:\n"
               f"  {run} photos/ clips/ -o results/\n"
               f"  {run} 'archive/**/*.jpg' --list videos.txt -o results/ --every 5 --workers 8\n"
               f"  {run} /mnt/shared/archive -o /mnt/shared/results --address auto\n"
               "\nread back: pandas.read_parquet('results/faces'), pandas.read_csv('results/status.csv')\n"
               + exit_status_help("some sources failed: the others are done, status.csv says why; run again "
                                  "to retry them"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="image / video files, folders, or globs (quote them: 'a/**/*.jpg')")
    p.add_argument("-l", "--list", type=Path, metavar="FILE",
                   help="a text file with one source per line (a line starting with # is a comment, unless a file "
                        "has that name); - reads the lines from standard input (find ... | %(prog)s --list -)")
    p.add_argument("-o", "--output", type=Path, required=True, help="results folder (created; reused to resume)")
    p.add_argument("-w", "--workers", type=positive_int,
                   help="worker processes, one core each (default: this machine's cores; on a cluster, its CPUs); "
                        "no more start than the job has tasks")
    p.add_argument("--address", metavar="ADDR",
                   help="run on an existing Ray cluster: auto, ray://HOST:10001 or HOST:6379 (default: local)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N",
                   help="videos: analyse every N-th frame (default: 1, every frame)")
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="K",
                   help="videos: run the detector every K analysed frames and track in between, with the camera's "
                        "pans and shakes (default: 1)")
    p.add_argument("--head-every", type=positive_int, default=HEAD_EVERY, metavar="K",
                   help="videos: run each face's heads every K analysed frames and carry the labels in between, as "
                        f"detect_mask_video.py does (default: {HEAD_EVERY}; 1 = every frame)")
    p.add_argument("--max-frames", type=positive_int, metavar="N",
                   help="videos: analyse at most N frames of each (with --every M, its first N x M); a photo is "
                        "one frame whatever N is")
    p.add_argument("--start", type=video_time, metavar="TIME",
                   help="videos: each one's frames from TIME on only, seconds (95.5) or [HH:]MM:SS[.ms] (10:00), "
                        "as detect_mask_video.py --start; rows keep the whole file's frame numbers and times")
    p.add_argument("--end", type=video_time, metavar="TIME",
                   help="videos: each one's frames before TIME only (e.g. --start 10:00 --end 12:00)")
    p.add_argument("--smooth", type=smooth_strength, default=0.6,
                   help="videos: per-track smoothing of probabilities, 0 = off (default: 0.6): " + SMOOTH_LAG)
    p.add_argument("--fine-pass", action="store_true",
                   help="videos: also run the detector's small-face pass on every frame, as detect_mask_video.py "
                        "--fine-pass does (faces under ~30 px; on frames over 1280 px full-size tiles, for a 4K "
                        "frame's faces under ~60 px): 3x the detector time on 1080p, 11x on 4K. Photos always "
                        "get it (see --fast)")
    p.add_argument("--fast", action="store_true", help="photos: one detector pass (as detect_mask_image.py --fast)")
    p.add_argument("--int8", action="store_true",
                   help="run the heads' int8 twins for photos too, and for videos on any CPU (by default videos "
                        "run them where the CPU has int8 dot products, VNNI; there about 7%% more photos a second; "
                        "on street scenes the mask head read 129 of 138 unmasked faces right against 132)")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    p.add_argument("--photos-per-task", type=positive_int, metavar="N",
                   help="photos handed to a worker at a time; each task is one pair of part files (default: "
                        f"about 1/{TASKS_PER_WORKER} of a worker's share, from {MIN_PHOTOS_PER_TASK} to "
                        f"{MAX_PHOTOS_PER_TASK})")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="process at most N sources not done yet, then stop (a trial run; re-run to go on)")
    p.add_argument("--mixed-columns", action="store_true",
                   help="resume a job whose faces parts have other columns than this facekit writes (one begun by "
                        "an earlier facekit: no width, height), adding parts of this facekit's columns beside them; "
                        "read it back with DuckDB's union_by_name = true (pandas takes the first part's columns, "
                        "polars refuses the folder)")
    add_pipeline_options(p, batch=True)
    add_version(p)
    return p


# --- sources ----------------------------------------------------------------------------------------
def source_kind(path: Path) -> str:
    from .preprocess import is_image_path

    if is_image_path(path):
        return "image"
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "other"


def gather_sources(inputs: list[str], list_file: Path | None, recursive: bool, ordered: bool = True,
                   say: bool = True) -> tuple[list[tuple[str, str]], int]:
    """(absolute path, kind) for every source, in order, without repeats; and how many files in the
    folders given were neither images nor videos (skipped). A source is named by its path as the folders
    show it, links not followed (a photo archive of links into a blob store keeps its own names); two
    paths to one file are one source, under the first name met. Files named in the --list that are missing
    or of another kind stay in: their error belongs in the status table. A path typed on the command
    line that does not exist is a typo: refused before any work (it ran as "1 photo" that then failed).
    ordered False: a folder's files as it lists them, not sorted (a resume's look-up of what is done, where sorting
    a million names took a third of its listing), the same sources under the same names but where two paths lead
    to one file (the first name met decides): then sorted all the same. say False: no warning (said already)."""
    from .preprocess import natural_key, recursive_hint

    for item in inputs:
        if _web_address(item):
            raise FacekitError(f"{item}: {WEB_ADDRESS}")
        if not any(c in item for c in "*?[") and not os.path.exists(item):
            if item.endswith("/") and os.path.isfile(item.rstrip("/")):  # not "no such file" of a file that is there
                raise FacekitError(f"{item}: a file, not a folder: name it without the / at its end")
            raise FacekitError(f"{item}: no such file or folder{near_names(item)}")
    named = list(inputs)
    if list_file is not None:
        try:
            # utf-8-sig: a list saved by Notepad or Windows PowerShell starts with a byte-order mark, which made
            # its first entry "\ufeff/path/a.jpg": a failed source, "no such file", the mark invisible in the
            # message. surrogateescape: names that are not UTF-8 stay the names the folders give.
            # One name a line, split at "\n" alone: splitlines() also split at "\x1c", "\x85", "\u2028", ..., which
            # file names may hold, and made two other paths of one name ("/up/a\u2028/etc/b.jpg": /etc/b.jpg).
            # "-": standard input, as `find /archive -name '*.jpg' | facekit-batch --list - -o out` gives it (it was
            # "cannot read ([Errno 2] No such file or directory: '-')"). A file named "-" is still read as that file.
            if str(list_file) == "-" and not list_file.exists():  # read as read_text reads a file
                if sys.stdin is None or sys.stdin.isatty():  # it would wait, without a word, for lines typed
                    raise FacekitError("--list -: standard input is a terminal; pipe the list in (find ... | "
                                       "facekit-batch --list - ...) or give its file")
                text = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape").read()
            else:
                text = list_file.read_text(encoding="utf-8-sig", errors="surrogateescape")
            lines = text.split("\n")
        except FileNotFoundError:
            # Was "cannot read ([Errno 2] No such file or directory: 'nosuch.txt')", where a missing input is
            # "no such file or folder" and the folder it was looked for in.
            raise FacekitError(f"--list {list_file}: no such file{near_names(list_file)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FacekitError(f"--list {list_file}: cannot read ({exc})") from None
        if "\x00" in text:  # no file name holds one: `--list photo.jpg` ended in "ValueError: embedded null byte"
            raise FacekitError(f"--list {list_file}: not a list of file names (it holds a NUL byte: a photo or "
                               "another binary file?); give a text file with one name a line")
        # A line starting with # is a comment, unless it names a file: "#2.png" in the list was dropped unsaid.
        lines = [s for s in (line.removesuffix("\r") for line in lines) if s.strip() and (
            not s.lstrip().startswith("#") or os.path.lexists(s) or os.path.lexists(s.strip()))]
        # A name as written (" a.jpg" is a file too), else without the spaces a hand-typed list leaves around it.
        named += [s if s == s.strip() or os.path.lexists(s) else s.strip() for s in lines]
    found: dict[str, tuple[str, str]] = {}  # the file itself -> (its first name, kind)
    skipped, met = 0, 0
    real_folders: dict[str, str] = {}
    only_below: list[Path] = []  # folders given whose photos and videos are all in sub-folders
    for item in named:
        if _web_address(item):
            # Kept as written: as a path it became "<cwd>/https:/host/a.jpg" (Path folds "//"), "no such file", a
            # name no row of the user's own list matched. Its status row says why it was not read.
            found.setdefault(item, (item, source_kind(Path(item.split("?")[0]))))
            met += 1
            continue
        # A file named so ("photo[1].jpg", "what?.jpg") is that file: as a pattern it matched nothing, and the
        # job said "no images or videos found in photo[1].jpg".
        if any(c in item for c in "*?[") and not os.path.lexists(item):
            paths = sorted((Path(p) for p in glob.glob(item, recursive=True)), key=natural_key)
            if not paths and say:
                warn(f"{item}: the pattern matches nothing")
        elif (file := _plain_file(item, real_folders)) is not None:
            # A file (or a name of none) that is no link: named and resolved as a string through its folder, where a
            # Path, realpath's lstat of every part of the path and two stat calls took a --list of a million photos
            # 100 s on this busy machine before a resume with nothing left to do said so.
            found.setdefault(file[0], file[1])
            met += 1
            continue
        else:
            paths = [Path(item)]
        for path in paths:
            if path.is_dir():
                # A named pipe or a socket among the photos was left out uncounted: "skipped N files" missed it.
                specials: list[Path] = []
                reals, pairs, others = _folder_sources(path, recursive, specials, ordered)
                wanted = len(reals)
                met += wanted
                listed = dict(zip(reals, pairs))
                if len(listed) == wanted and found.keys().isdisjoint(listed):  # no file met twice: at C's pace
                    found.update(listed)
                else:
                    for real, pair in zip(reals, pairs):
                        if real not in found:
                            found[real] = pair
                skipped += others + len(specials)
                if not wanted and recursive_hint([path], recursive, lambda f: source_kind(f) != "other"):
                    only_below.append(path)
            else:
                found.setdefault(os.path.realpath(path), (_source_name(path), source_kind(path)))
                met += 1
    sources = list(found.values())
    if not ordered and met > len(found):  # two paths to one file: which name it keeps depends on the order
        sources = gather_sources(inputs, list_file, recursive, ordered=True, say=False)[0]
    if found and say:
        # `archive/2019 archive/2020 -o out` where 2020 holds only month folders ran 2019 alone without a word:
        # the job "finished", a year missing from its table. (With nothing found at all, main's error says it.)
        for path in only_below:
            warn(f"{path}: left out, its photos and videos are in its sub-folders: add --recursive")
    return sources, skipped


# A --list of web addresses (an export of a photo site's links) is not read: the workers read files, which on a
# cluster every node must see at the same path.
WEB_ADDRESS = "a web address; facekit-batch reads files (download it first, to a folder every worker can read)"


def _plain_file(item: str, real_folders: dict[str, str]) -> tuple[str, tuple[str, str]] | None:
    """(the file itself, (source name, kind)) of a name that is a file, or no file at all (its worker says so), as
    gather_sources takes it (realpath, _source_name, source_kind); None for a folder, a link, or a name of "..", "."
    or ending in "/", left to the general way. real_folders: each folder's real path, as found so far."""
    from .preprocess import IMAGE_EXTENSIONS

    try:
        mode = os.lstat(item).st_mode
    except (OSError, ValueError):
        mode = None
    if mode is not None and (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        return None
    if item.endswith("/") or any(part in (".", "..") for part in item.split("/")):
        return None
    name = os.path.abspath(item)
    folder, base = os.path.split(name)
    if folder not in real_folders:
        real_folders[folder] = os.path.join(os.path.realpath(folder), "")
    dot = base.rfind(".")  # the suffix as Path takes it
    suffix = base[dot:].lower() if 0 < dot < len(base) - 1 else ""
    kind = "image" if suffix in IMAGE_EXTENSIONS else "video" if suffix in VIDEO_EXTENSIONS else "other"
    return real_folders[folder] + base, (name, kind)


def _folder_sources(folder: Path, recursive: bool, specials: list[Path],
                    ordered: bool = True) -> tuple[list[str], list[tuple[str, str]], int]:
    """The photos and videos in `folder` as preprocess.folder_files finds them (hidden files left out, a link to
    nothing kept, sub-folders that are links followed, each real folder once), in a file browser's order
    (natural_key): the files themselves, and (source name, kind) of each; and how many other files there are. Strings
    a folder at a time, not a Path and three stat calls a file: listing a million photos took 131 s of the 150 s a
    resume with nothing left to do took to say so (a busy machine). ordered False: as the folders list them."""
    from .preprocess import IMAGE_EXTENSIONS, _natural, _natural_folder, special_kind

    def listing(top: str):
        # os.walk's own walk (top-down, links to folders followed, an unreadable folder passed over), keeping each
        # entry's type as the folder listing gave it.
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            if not recursive:  # as Path.iterdir raises it
                raise
            return
        dirs: list[os.DirEntry[str]] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry)
        yield top, dirs, files

    seen: set[str] = set()
    suffix_keys: dict[str, tuple] = {}  # a few in a whole archive (.jpg, .JPG, .png)
    keyed, reals, named, others = [], [], [], 0
    pending = [str(folder)]
    while pending:
        top = pending.pop()
        for root, dirs, entries in listing(top):
            real_root = os.path.realpath(root)
            if recursive:
                if real_root in seen:
                    continue
                seen.add(real_root)
                # Real sub-folders before links to them, then by name, as folder_files walks them.
                dirs.sort(key=lambda e: (e.is_symlink(), e.name))
                pending += [os.path.join(root, e.name) for e in reversed(dirs)]
            base = Path(root)
            prefix = str(base / "x")[:-1]  # a file's path as Path(root, name) writes it
            folder_key = tuple((_natural_folder(part), ()) for part in base.parts)
            real_prefix = os.path.join(real_root, "")
            plain = ".." not in base.parts  # its files' source names are their absolute paths
            name_prefix = os.path.join(os.path.abspath(root), "") if plain else ""
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    is_file = entry.is_file()
                except OSError:  # a loop of links: a failed source, as a link to nothing is
                    is_file = False
                link = entry.is_symlink()
                if not (is_file or (link and not os.path.exists(entry.path))):
                    if special_kind(Path(prefix + name)) is not None:
                        specials.append(Path(prefix + name))
                    continue
                dot = name.rfind(".")  # the suffix as Path takes it
                suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
                low = suffix.lower()
                kind = "image" if low in IMAGE_EXTENSIONS else "video" if low in VIDEO_EXTENSIONS else "other"
                if kind == "other":
                    others += 1
                    continue
                # realpath, not resolve(): a link that loops (a.jpg -> b.jpg -> a.jpg) made Python 3.11's resolve()
                # raise "RuntimeError: Symlink loop", a traceback before any work; it is a failed source instead.
                real = os.path.realpath(prefix + name) if link else real_prefix + name
                source = name_prefix + name if plain else _source_name(Path(prefix + name), real)
                if not ordered:
                    reals.append(real)
                    named.append((source, kind))
                    continue
                if suffix not in suffix_keys:
                    suffix_keys[suffix] = _natural(suffix)
                stem = name[:len(name) - len(suffix)]
                key = (*folder_key, (_natural(stem), suffix_keys[suffix]))
                keyed.append((key, prefix + name, real, (source, kind)))
        if not recursive:
            break
    if ordered:
        keyed.sort(key=lambda k: (k[0], k[1]))
        reals, named = [k[2] for k in keyed], [k[3] for k in keyed]
    return reals, named, others


def _web_address(item: str) -> bool:
    """Whether a source as given is a URL ("https://...", "s3://..."), not a file or folder of that name."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", item)) and not os.path.lexists(item)


def _source_name(path: Path, real: str | None = None) -> str:
    """The absolute path of `path` without following links; '..' folded away unless a link makes that another
    file ('link/../x' is x beside the link's target, not beside the link). real: path's realpath, if known."""
    name = os.path.abspath(path)
    if ".." not in Path(path).parts:  # nothing folded away: the same file
        return name
    return name if os.path.realpath(name) == (real or os.path.realpath(path)) else str(path.absolute())


# Photos per task, when --photos-per-task is not given: each worker's share in about TASKS_PER_WORKER
# tasks, so the last ones end close together, but at least MIN (a small job keeps a lively progress bar and
# loses little to a kill) and at most MAX. With 8 a task, a million photos made 125,000 tasks: 250,000 part
# files, and ~5 ms of Ray's own time each (a trivial actor pool here); at 256, 3,907 tasks.
TASKS_PER_WORKER = 32
MIN_PHOTOS_PER_TASK = 8
MAX_PHOTOS_PER_TASK = 256


def photos_per_task(photos: int, workers: int) -> int:
    """The default task size for `photos` photos on `workers` workers (see TASKS_PER_WORKER)."""
    share = -(-photos // max(1, workers * TASKS_PER_WORKER))
    return max(MIN_PHOTOS_PER_TASK, min(MAX_PHOTOS_PER_TASK, share))


def as_read(sources: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`sources` with each animated GIF or PNG's kind "video", as a worker reads it (Worker.run_source): the job's
    start line counted one among the photos, and it shared a photo task where, as a video, it has one of its own
    and starts first. Only a PNG whose header holds an animation chunk is opened with Pillow: ~40 us a photo, a
    minute before Ray starts for a million PNGs, where the chunk scan takes a few."""
    from .video import animated

    def is_video(source: str, kind: str) -> bool:
        suffix = Path(source).suffix.lower()
        return kind == "image" and suffix in (".gif", ".png") and (suffix == ".gif" or _apng_header(source)) \
            and animated(Path(source))

    return [(source, "video") if is_video(source, kind) else (source, kind) for source, kind in sources]


def _apng_header(path: str) -> bool:
    """Whether a .png file may be animated: its chunks before the pixels hold an acTL, or it is no PNG inside (a
    GIF renamed, which Pillow reads as what it is)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return True
            while len(head := fh.read(8)) == 8:
                if head[4:] == b"acTL":
                    return True
                if head[4:] in (b"IDAT", b"IEND"):
                    return False
                fh.seek(int.from_bytes(head[:4], "big") + 4, os.SEEK_CUR)  # the chunk's data and its CRC
    except OSError:  # its worker says what is wrong with it
        return False
    return False


def make_tasks(sources: list[tuple[str, str]], photos_per_task: int,
               alone: list[bool] | None = None, ramp: int = 0) -> list[list[tuple[str, str]]]:
    """Each video alone, photos in groups. Videos go first: the long tasks start early, so the last
    minutes are not one worker finishing a video while the others sit idle. Sources marked `alone` (their
    worker died on them last time) get a task each, so one that kills its worker takes no other with it.
    ramp: the workers; the first photo tasks are then of MIN_PHOTOS_PER_TASK, `ramp` of them, then `ramp` of twice
    that, and so on up to photos_per_task. At 256 from the start, a big job on 2 workers wrote its first part, and
    moved its progress bar, only after 256 photos a worker: 296 s after Ray was up on a busy machine, now 36 s."""
    alone = alone or [False] * len(sources)
    single = [[s] for s, a in zip(sources, alone) if s[1] == "video" or a]
    rest = [s for s, a in zip(sources, alone) if s[1] != "video" and not a]
    groups, size = [], MIN_PHOTOS_PER_TASK if ramp else photos_per_task
    while rest:
        size = min(size, photos_per_task)
        groups.append(rest[:size])
        rest = rest[size:]
        if ramp and len(groups) % ramp == 0:
            size *= 2
    return single + groups


# --- the worker: one per core, models loaded once -----------------------------------------------------
class Worker:
    """A Ray Data actor: `__call__` gets a batch of tasks, returns for each its faces as Parquet bytes
    and its sources' status rows."""

    OPTIONS: dict = {}
    DRIVER_VERSION: str | None = None  # the driver's facekit, which each worker's must be

    def __init__(self, options: dict | None = None):
        import cv2

        from .analyzer import FaceAnalyzer
        from .runtime import set_threads
        from .video import silence_opencv

        set_threads(1)  # each worker owns one core: N single-thread workers beat N workers of N threads
        cv2.setNumThreads(1)
        silence_opencv()
        self.options = JobOptions(**(options if options is not None else self.OPTIONS))
        self.analyzer = FaceAnalyzer(**self.options.analyzer_kwargs())
        check_same_facekit(self.DRIVER_VERSION, self.options.heads, self.analyzer)
        self.columns = ["source", "kind", *self.analyzer.record_columns()]
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict) -> dict:
        parts, faces, statuses = [], [], []
        for part, task in zip(batch["part"], batch["task"]):
            rows, status = [], []
            for source, kind in json.loads(task):
                source_rows, row = self.run_source(source, kind)
                rows += source_rows
                status.append(row)
            parts.append(part)
            faces.append(self.parquet(rows))
            statuses.append(json.dumps(status))
        return {"part": parts, "faces": faces, "status": statuses}

    def run_source(self, source: str, kind: str) -> tuple[list[dict], dict]:
        """Rows of one source and its status: all or none, but for a video that breaks part-way (truncated, a
        download or recording cut short), whose rows of the frames before are kept, its status PARTIAL."""
        from .preprocess import as_image, rotate_clockwise
        from .records import csv_row

        task_labels = self.analyzer.task_labels
        started, cpu = time.perf_counter(), time.process_time()
        rows, frames, message, picture_start, broke, nothing, turned = [], 0, "", None, False, False, None
        try:
            if _web_address(source):
                raise FacekitError(f"{source}: {WEB_ADDRESS}")
            if not Path(source).exists():
                # A link to nothing says where it points, as the image script does: a share not mounted on
                # this node reads very differently from a file deleted.
                target = f": a link to {os.readlink(source)}, which does not exist" if Path(source).is_symlink() else ""
                if target and loops(source):
                    raise FacekitError(f"{source}: a link to {os.readlink(source)}, which leads back to itself (a "
                                       "loop of links), not a file")
                raise FacekitError(f"{source}: no such file{target}")
            if not Path(source).is_dir() and not Path(source).is_file():
                # A named pipe in the --list was opened as a photo or video, and the open waited forever for a
                # writer: the job with it. (The image script reads one it is given, as `-i <(curl ...)` hands it a
                # pipe; a job of thousands must not wait on one.)
                raise FacekitError(f"{source}: not a regular file (a named pipe, socket or device), not a "
                                   + ("photo" if kind == "image" else "video"))
            from .video import NothingInRange, animated

            if kind == "image" and animated(Path(source)):  # its frames, as detect_mask_video.py --source reads it
                kind = "video"
            if kind == "image":
                # Read here, as analyze() reads it, for its size (turned by --rotate): the rows' width and height.
                image = rotate_clockwise(as_image(source), self.options.rotate or 0)
                size = image.shape[1], image.shape[0]
                # Given no --rotate, a photo showing no face or only weak ones is searched turned too, its boxes
                # still in its pixels as read (FaceAnalyzer.analyze); one turned by --rotate is read as turned.
                faces = self.analyzer.analyze(image, rotate=None if self.options.rotate is None else 0)
                for face in faces:
                    rows.append(csv_row(0, 0.0, face, task_labels, size=size) | {"frame": None, "time_s": None})
                frames, turned = 1, getattr(faces, "turned", 0)
            elif kind == "video":
                o = self.options
                try:
                    for result in self.analyzer.analyze_video(source, detect_every=o.detect_every, every=o.every,
                                                              smooth=o.smooth, head_every=o.head_every,
                                                              max_frames=o.max_frames, fine_pass=o.fine_pass,
                                                              rotate=o.rotate or 0, start_s=o.start_s,
                                                              end_s=o.end_s):
                        size = result.frame.shape[1], result.frame.shape[0]
                        rows += [csv_row(result.frame_index, result.time_s, face, task_labels, size=size)
                                 for face in result.faces]
                        frames += 1
                except NothingInRange as exc:
                    # Shorter than --start: read whole, nothing in the range, as the video script's folder run skips
                    # it. An error row was tried again by every resume, and counted among the job's failures.
                    nothing, message = True, str(exc)
                except FacekitError as exc:
                    # A truncated video lost every row, where the video script keeps its outputs of the frames before.
                    if not frames:
                        raise
                    broke, message = True, f"{exc}; the rows of the {counted(frames, 'frame')} before are kept"
                from .container import sound

                found = sound(source)
                picture_start = None if found is None else round(found.picture_start_s, 4)
            else:
                raise FacekitError(f"{source}: neither an image nor a video (by its extension)")
        except FacekitError as exc:
            rows, message, turned = [], str(exc), None
        except Exception as exc:  # noqa: BLE001 - one broken file must not end a job of thousands
            last = (str(exc).strip().splitlines() or [""])[-1]
            rows, message, turned = [], f"{source}: {type(exc).__name__}: {last}", None
        name = shown(source)
        rows = [{"source": name, "kind": kind, **row} for row in rows]
        state = PARTIAL if broke else "error" if message and not nothing else "ok"
        status = {"source": name, "kind": kind, "status": state, "message": shown(message),
                  "faces": len(rows), "frames": frames, "seconds": round(time.perf_counter() - started, 4),
                  "cpu_seconds": round(time.process_time() - cpu, 4), "worker": self.name,
                  "worker_rss_mb": round(_peak_rss_mb(), 1), "finished": _now(), "picture_start_s": picture_start,
                  "turned": turned}
        return rows, status

    def parquet(self, rows: list[dict]) -> bytes:
        return self.parquet_of(rows, self.columns)

    @staticmethod
    def parquet_of(rows: list[dict], known: list[str]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = known + [c for c in (rows[0] if rows else {}) if c not in known]
        # csv_row leaves "" where a face has no value (no track in a photo, no label on a tiny face).
        data = {c: [None if (v := r.get(c)) == "" else v for r in rows] for c in columns}
        schema = pa.schema([pa.field(c, _arrow_type(c, data[c])) for c in columns])
        buf = io.BytesIO()
        pq.write_table(pa.table(data, schema=schema), buf)
        return buf.getvalue()


def _arrow_type(column: str, values: list):
    """Fixed types for the known columns, so every part file has the same schema (a part whose faces
    all lack a value would otherwise get a null column); numbers for the rest unless they hold text."""
    import pyarrow as pa

    if column in STRING_COLUMNS or column.endswith("_label") or any(isinstance(v, str) for v in values):
        return pa.string()
    return pa.int64() if column in INT_COLUMNS else pa.float64()


def _now() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="milliseconds")  # orders a source's tries, even within a second


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows: no getrusage; the status column is then empty, the job the same
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


# --- the results folder -----------------------------------------------------------------------------
class Results:
    """The output folder: complete part files only, the job's options, what is done."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.faces_dir = folder / "faces"
        self.status_dir = folder / "status"
        self.written: list[str] = []  # the status parts this run wrote, for write_summary

    def check_writable(self) -> None:
        """Refuse before any work (and without writing anything) when results could not be written."""
        where = str(self.folder.absolute())  # the current folder's name counts too
        if shown(where) != where:
            # pyarrow takes a path as UTF-8: the job wrote its parts (through file handles), then failed reading
            # them back for status.csv, a UnicodeEncodeError traceback; pandas.read_parquet cannot open them either.
            raise FacekitError(f"--output {shown(where)}: a folder name not in UTF-8, which pyarrow (and "
                               "pandas.read_parquet) cannot open: give another --output")
        if (self.folder / "status.csv").exists() and not (self.folder / "job.json").exists() \
                and not self.status_dir.is_dir():
            # Not a job's (each writes job.json and status/ first): `-o photos/` where the user keeps a status.csv
            # of their own had it replaced by the job's, without a word.
            raise FacekitError(f"--output {self.folder}: its status.csv is not a facekit-batch job's (no job.json or "
                               "status/ beside it), and the job would write over it: give another --output")
        if loops(str(self.folder)):  # it "did not exist": the job ran on to "OSError: Too many levels of ..."
            raise FacekitError(f"--output {self.folder}: a link that leads back to itself (a loop of links): remove "
                               "it or name another")
        probe = self.folder
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise FacekitError(f"--output {self.folder}: {probe} is a file, not a folder")
        try:
            with tempfile.TemporaryFile(dir=probe):
                pass
        except OSError as exc:
            raise FacekitError(f"--output {self.folder}: cannot write in {probe} ({exc.strerror or exc})") from None

    def check_options(self, options: JobOptions, warn_now: bool = True) -> str | None:
        """Results of other options (another head, --every, ...) are not mixed into one table. A job begun by
        another facekit is resumed with a warning, given back instead with warn_now False: the run says it only
        once it has work to do (a finished job run again adds no row of this facekit's)."""
        job = self.folder / "job.json"
        if not job.is_file():
            return None
        try:
            had = json.loads(job.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FacekitError(f"{job}: cannot read ({exc}); use another --output") from None
        if not isinstance(had, dict):  # `[1, 2]`, a file of another tool's: a TypeError traceback below
            raise FacekitError(f"{job}: not a facekit-batch job record (a JSON {type(had).__name__}, not an object); "
                               "use another --output")
        if not JOB_KEYS <= had.keys():
            # Another tool's job.json (a scheduler's, a labelling tool's) was read as a job begun by an older
            # facekit: "other options (detector): none in job.json", or, its keys aside, resumed into.
            raise FacekitError(f"{job}: not a facekit-batch job record (no {', '.join(sorted(JOB_KEYS - had.keys()))}:"
                               " another tool's?); the job would write beside it: use another --output")
        wanted = json.loads(json.dumps(asdict(options)))
        # An option added since that job ran is missing from its job.json: it ran with that option's default.
        had = {**json.loads(json.dumps({f.name: f.default for f in fields(JobOptions) if f.default is not MISSING})),
               **had}
        began = had.pop(FACEKIT_KEY, None)
        unrecorded = "heads" not in had
        if unrecorded:  # a job begun before job.json held the heads' files: taken as the same ones
            had["heads"] = wanted["heads"]
        had.setdefault("cards", wanted["cards"])  # so too before it held their cards
        # An option given as the value its default takes is that default: `-c 0.5` (scrfd's own) or `--tasks
        # mask,emotion,gender` (every head there is) on a job begun without them was refused as "confidence: none in
        # job.json, 0.5 in this run", the same rows either way. Only an option whose values differ is compared so.
        changed = [k for k in wanted if k not in ("heads", "cards") and had.get(k) != wanted[k]
                   and _as_run(had, k, unrecorded) != _as_run(wanted, k, False)]
        if changed:
            # "Use the same options" alone, to a user who typed the same command after an upgrade: an option left
            # out takes today's default (the detector went from yunet to scrfd), so the values are named.
            # A commercial-use job's tasks [] (no head left) and a run's tasks not given both read "none", in a line
            # saying they differ.
            def shown(options: dict, key: str) -> str:
                return "no head" if key == "tasks" and options.get(key) == [] else _option_text(options.get(key))

            values = "; ".join(f"{k}: {shown(had, k)} in job.json, {shown(wanted, k)} in this run" for k in changed)
            raise FacekitError(f"{self.folder} holds results made with other options ({', '.join(changed)}): {values}; "
                               "use the same options to resume (one not given takes this facekit's default, which "
                               "may not be the default of the facekit that began the job), or another --output")
        if had["heads"] != wanted["heads"]:
            which = ", ".join(t for t in wanted["heads"] if had["heads"].get(t) != wanted["heads"][t])
            raise FacekitError(f"{self.folder} holds results of other models for {which or 'its heads'} (one was "
                               "retrained or replaced since); use another --output, or the models it was made with")
        if had["cards"] != wanted["cards"]:
            which = ", ".join(t for t in wanted["cards"] if had["cards"].get(t) != wanted["cards"][t])
            raise FacekitError(f"{self.folder} holds results of other model cards for {which or 'its heads'} (a "
                               "card.json edited since: labels, input size, crop or min_face); use another "
                               "--output, or the cards it was made with")
        from . import __version__

        # Taken as the same job, but an upgrade between two runs changes rows without changing an option: the
        # shipped heads are retrained, the detector's thresholds and the photos' int8 choice move. A job from
        # before job.json held the version was resumed in silence, the old heads' rows beside the new ones'.
        if began == __version__:
            return None
        who = f"facekit {began}" if began else "an older facekit (its job.json names no version)"
        heads = ", which did not record its heads' model files" if unrecorded else ""
        note = (f"{self.folder} was begun by {who}{heads}: the sources done then keep that facekit's rows, those "
                f"done now get facekit {__version__}'s (its heads, detector and defaults); for one consistent "
                "table, use another --output")
        if warn_now:
            warn(note)
        return note

    def check_columns(self, columns: list[str]) -> None:
        """Refuse a resume whose faces parts have other columns than `columns`, this facekit's. A job begun before
        width, height and resumed after took them in silence: pandas.read_parquet then read every part with the first
        part's columns (the new rows' sizes dropped), polars refused the folder ("extra column in file"). Every part
        of one run has the same columns, so one part a run is read (its start's ms in the name), not thousands."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        committed = {p.name for p in self.status_dir.glob("part-*.parquet")}  # the others go at open()
        runs: set[str | None] = set()
        for part in sorted(self.faces_dir.glob("part-*.parquet")):
            run = m.group(1) if (m := re.fullmatch(r"part-\d{10}-(\d{13})-[0-9a-f]{8}\.parquet", part.name)) else None
            if run in runs or part.name not in committed or _stub_part(part):
                continue
            try:
                have = pq.read_schema(part).names
            except (pa.ArrowInvalid, OSError):  # a damaged part: read back, the reader names it
                continue
            runs.add(run)
            missing, extra = [c for c in columns if c not in have], [c for c in have if c not in columns]
            if missing or extra:
                differ = "; ".join(([f"without {', '.join(missing)}"] if missing else [])
                                   + ([f"with {', '.join(extra)}, which it does not write"] if extra else []))
                raise FacekitError(f"{self.folder}: its faces parts have other columns than this facekit writes "
                                   f"({differ}: begun by an earlier facekit?), and a resume would mix the two in one "
                                   "folder (pandas.read_parquet reads every part with the first one's columns, polars "
                                   "refuses it): give another --output for one table, or add --mixed-columns to "
                                   "resume it so")

    def open(self, options: JobOptions, licences: dict | None = None) -> None:
        """licences: the terms of the detector's and heads' weights, kept in job.json beside the options (not
        compared on resume), so results handed on say what made them and on what terms."""
        from .records import write_json

        for d in (self.faces_dir, self.status_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.lock()
        if not (self.folder / "job.json").is_file():
            from . import __version__

            write_json(self.folder / "job.json", {**asdict(options), FACEKIT_KEY: __version__}
                       | ({"licences": licences} if licences else {}))
        self.remove_incomplete()

    def lock(self) -> None:
        """One job at a time in a results folder, held until this process ends. A second one (the same
        command started again while the first still ran: a second terminal, a scheduler's retry) did every
        source the first had not finished yet again, so those faces were written twice, and its start removed
        the first one's temp files. A lock on the folder itself: nothing left behind. Where the file system
        has no such locks (some network shares), the job runs without one."""
        try:
            import fcntl
        except ImportError:  # Windows
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FacekitError(f"{self.folder}: another facekit-batch is writing there; let it finish (or stop it) "
                               "and run the same command again") from None
        except OSError:
            os.close(fd)
            return
        self._lock_fd = fd  # closed, and so released, when the process ends

    def remove_incomplete(self) -> None:
        """Temp files of a killed run, faces parts whose status part never landed (their sources
        are not done, so keeping the faces would count them twice after the re-run), and the empty stubs
        an older facekit wrote for a task whose worker died (`_stub_part`)."""
        for d in (self.faces_dir, self.status_dir):
            for tmp in d.glob(".*.part"):
                tmp.unlink(missing_ok=True)
        committed = {p.name for p in self.status_dir.glob("part-*.parquet")}
        for part in self.faces_dir.glob("part-*.parquet"):
            if part.name not in committed or _stub_part(part):
                part.unlink()

    def latest(self, columns: tuple[str, ...] = STATUS_COLUMNS, ordered: bool = True):
        """The latest status row of every source seen so far, with `columns` (source and finished among
        them), as one Arrow table in the order they finished. Columnar all the way: on a million photos'
        results the resume's look-up peaked at 0.62 GB and status.csv at 0.55 GB (the process, all told),
        where Python rows took 0.76 and 1.08 GB. ordered False: for look-ups alone (_latest_rows)."""
        import pyarrow as pa

        parts = sorted(self.status_dir.glob("part-*.parquet"))
        if not parts:
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        return _latest_rows(pa.concat_tables([_read_status(p, columns) for p in parts]), ordered)

    def write(self, part: str, faces: bytes | None, status: list[dict]) -> None:
        """A task's faces part (None: none, for a task that never came back) and then its status part."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .records import atomic_write

        # sweep=False: `remove_incomplete` clears these folders at start, under the job's lock; a scan of a
        # thousand parts at each write would be quadratic. sync=True: a status part renamed into place says its
        # sources are done, so after a power cut an empty one (or faces part) would lose them for good.
        if faces is not None:
            with atomic_write(self.faces_dir / part, "wb", sweep=False, sync=True) as fh:
                fh.write(faces)
        # Typed: a part of photos alone has no picture_start_s, a null column that no other part's would match.
        table = pa.table({c: pa.array([row.get(c) for row in status], STATUS_NUMBERS.get(c)) for c in STATUS_COLUMNS})
        try:
            with atomic_write(self.status_dir / part, "wb", sweep=False, sync=True) as fh:  # last: marks them done
                pq.write_table(table, fh)
            self.written.append(part)
        except OSError:
            # A full disk: the faces part of sources not done would be removed at the next start anyway; it goes
            # now, giving its room back, rather than lie in the folder beside the parts that count.
            (self.faces_dir / part).unlink(missing_ok=True)
            raise

    def write_summary(self, fresh: bool = False):
        """status.csv: each source's latest row, in the order they finished; returns the rows it wrote, as `latest`.
        Where status.csv holds every other part's rows (its record, SUMMARY_RECORD, names them) and this run's rows
        all finished after them, a copy of it takes this run's rows at its end, and a run that wrote none leaves it as
        it is: rewritten whole, a results folder of a million photos took 11-19 s at the end of every run, a Ctrl-C's
        and a finished job's "nothing to do" included. fresh: none of this run's sources had a status row before it;
        otherwise the copy leaves out the old row of each source tried again. Else every part is read and status.csv
        written whole (a hand edit, a run killed before its summary)."""
        import pyarrow as pa

        from .records import atomic_write

        path = self.folder / "status.csv"
        before = sorted({p.name for p in self.status_dir.glob("part-*.parquet")} - set(self.written))
        had = self._summary_covers(before)
        if had is not None and not self.written:
            return pa.table({c: pa.array([], STATUS_NUMBERS.get(c, "string")) for c in STATUS_COLUMNS})
        rows = None
        if had is not None:
            rows = _latest_rows(pa.concat_tables([_read_status(self.status_dir / p, STATUS_COLUMNS)
                                                  for p in self.written]))
            if "last" not in had or had["last"] is not None and rows["finished"][0].as_py() <= had["last"]:
                rows = None  # a row of this run among the old ones (a node's clock behind): in order, written whole
        if rows is not None:
            with atomic_write(path, "wb") as fh, open(path, "rb") as old:
                _copy_status_rows(old, fh, set() if fresh else set(rows["source"].to_pylist()))
                _write_status_rows(fh, rows, header=False)
            last = rows["finished"][-1].as_py()
        else:
            rows = self.latest()
            with atomic_write(path, "wb") as fh:
                _write_status_rows(fh, rows, header=True)
            last = rows["finished"][-1].as_py() if len(rows) else None
        self._record_summary(before + self.written, last)
        return rows

    def _summary_state(self, parts: list[str]) -> dict | None:
        """What status.csv holds: the status parts whose rows it has (a digest of their names), its columns, and the
        size and time of the file as written, so one changed since (a run killed while it wrote, a hand edit) is
        written whole. The columns: one written before `turned` took this run's rows of one column more under its
        header (every reader then had each new row's fields one place off, or refused the file); it is written whole
        once, with the column, its earlier rows' empty."""
        import hashlib

        try:
            st = (self.folder / "status.csv").stat()
        except OSError:
            return None
        return {"parts": hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest(),
                "count": len(parts), "columns": list(STATUS_COLUMNS), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def _summary_covers(self, parts: list[str]) -> dict | None:
        """The record of status.csv where it holds `parts`' rows and nothing else, with its last row's `finished`
        ("last": None where it has no row; none in a record an older facekit wrote, whose rows' times are unknown)."""
        try:
            had = json.loads((self.folder / SUMMARY_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(had, dict) or {k: v for k, v in had.items() if k != "last"} != self._summary_state(parts):
            return None
        return had

    def _record_summary(self, parts: list[str], last: str | None) -> None:
        from .records import write_json

        state = self._summary_state(sorted(parts))
        if state is None:  # status.csv removed since it was written: a record left as it was matches no file
            return
        write_json(self.folder / SUMMARY_RECORD, {**state, "last": last})


def _latest_rows(table, ordered: bool = True):
    """`table`'s latest row of each source (by `finished`), in the order they finished; ties by source, as status.csv
    is written whole and as its copy takes a run's rows. ordered False (a table with `status`), for look-ups alone: in
    no particular order, and a source whose every row is ok or PARTIAL may keep more than one (one is never tried
    again): only the rows of sources that ever failed are sorted, where sorting a million names took a third of a
    resume's reading of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not ordered and "status" in table.column_names:
        settled = pc.is_in(table["status"], value_set=pa.array(["ok", PARTIAL]))
        failed = pc.unique(table.filter(pc.invert(settled))["source"])
        tried = pc.is_in(table["source"], value_set=failed)
        return pa.concat_tables([table.filter(pc.invert(tried)), _latest_rows(table.filter(tried))])
    table = table.sort_by([("source", "ascending"), ("finished", "ascending")])  # a stable sort
    source = table["source"]
    last = pc.not_equal(source.slice(0, len(source) - 1), source.slice(1))  # a source's last row
    table = table.filter(pa.concat_arrays([*last.chunks, pa.array([True])]) if len(source) else last)
    return table.sort_by("finished")


def _copy_status_rows(old, fh, leave_out: set[str]) -> None:
    """status.csv's lines from the binary file `old` into `fh`, but for the rows of the sources in `leave_out` (a
    run's sources tried again: their new rows go at the end). Line by line, a row whose quoted field holds a line
    break taken whole: a million rows, 1,000 of them left out, in 3.0 s on a busy machine, where reading every status
    part and writing status.csv whole took 20.1 s."""
    import csv
    import shutil

    if not leave_out:
        shutil.copyfileobj(old, fh)
        return
    drop = {name.encode("utf-8") for name in leave_out}
    fh.write(old.readline())  # the header
    record, quotes = [], 0
    for line in old:
        record.append(line)
        quotes += line.count(b'"')
        if quotes % 2:  # inside a quoted field: the row goes on
            continue
        first = record[0]
        if first.startswith(b'"'):
            text = b"".join(record).decode("utf-8")
            source = next(csv.reader(io.StringIO(text, newline="")))[0].encode("utf-8")
        else:
            source = first[:first.find(b",")]
        if source not in drop:
            fh.writelines(record)
        record, quotes = [], 0
    fh.writelines(record)  # a last row cut short (not as written): kept as it was

# Beside status.csv: which status parts it holds the rows of (Results.write_summary).
SUMMARY_RECORD = ".status.csv.json"


def _write_status_rows(fh, table, header: bool) -> None:
    """`table`'s rows as status.csv's lines, into the binary file `fh`, a batch of rows at a time."""
    import csv

    import pyarrow.compute as pc

    text = io.TextIOWrapper(fh, encoding="utf-8", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(STATUS_COLUMNS)
    for batch in table.to_batches(max_chunksize=50_000):
        rows = zip(*(batch.column(c).to_pylist() for c in STATUS_COLUMNS))
        # The csv module quotes a field for the line ending it writes, "\n", not for a "\r": a file named
        # "a\rb.jpg" split its row in two for every reader (csv, pandas). Such rows are quoted for "\r\n".
        named = (pc.any(pc.match_substring(batch.column(c), "\r")).as_py() for c in ("source", "message"))
        if not any(named):
            writer.writerows(rows)
            continue
        for row in rows:
            line = io.StringIO()
            csv.writer(line, lineterminator="\r\n").writerow(row)
            text.write(line.getvalue()[:-2] + "\n")
    text.flush()
    text.detach()  # fh stays open for atomic_write to close and rename


def _stub_part(part: Path) -> bool:
    """Whether a faces part is the empty two-column one (source, kind) a facekit before 6c2124d wrote for a task
    whose worker died: read first, it made the whole folder's schema, and every face came back without its box
    and labels. It holds no face, so removing it loses nothing. Only a part this small can be one."""
    import pyarrow.parquet as pq

    if part.stat().st_size > 1024:
        return False
    try:
        meta = pq.read_metadata(part)
    except (OSError, ValueError):  # pyarrow.ArrowInvalid is a ValueError: not ours to judge
        return False
    return meta.num_rows == 0 and set(meta.schema.names) <= {"source", "kind"}


# The status parts' types, for a column a part written by an older facekit lacks.
STATUS_NUMBERS = {"faces": "int64", "frames": "int64", "seconds": "float64", "cpu_seconds": "float64",
                  "worker_rss_mb": "float64", "picture_start_s": "float64", "turned": "int64"}


def _read_status(path: Path, columns: tuple[str, ...]):
    """One status part's `columns`; one the part lacks is null. The first facekit-batch wrote no cpu_seconds, and
    a resume of its results ended in pyarrow's 'No match for FieldRef.Name(cpu_seconds)' traceback, after doing
    the work, with status.csv left as it was."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=list(columns))
    except pa.ArrowInvalid:
        try:
            have = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as exc:  # cut short (a full disk, a copy stopped): pyarrow's traceback
            raise FacekitError(f"{path}: a damaged status part ({str(exc).splitlines()[0]}); move it out of the "
                               "results folder (its sources are run again)") from None
        if any(c not in have for c in ("source", "status")):
            raise FacekitError(f"{path}: not a facekit-batch status part (no source or status column); move it "
                               "out of the results folder") from None
        table = pq.read_table(path, columns=[c for c in columns if c in have])
        return pa.table({c: table[c] if c in have else pa.nulls(len(table), STATUS_NUMBERS.get(c, "string"))
                         for c in columns})


def _as_run(options: dict, key: str, unrecorded: bool):
    """A job option as it ran: a confidence not given is its detector's own, tasks not given are every head found
    (the heads job.json records, where it records them)."""
    value = options.get(key)
    if value is not None:
        return value
    if key == "confidence":
        from .detection import Res10Detector, YuNetDetector
        from .scrfd import SCRFD500MDetector, SCRFDDetector

        kinds = {d.name: d for d in (Res10Detector, YuNetDetector, SCRFDDetector, SCRFD500MDetector)}
        return getattr(kinds.get(str(options.get("detector"))), "default_confidence", None)
    if key == "tasks" and not unrecorded:
        return list(options.get("heads") or {}) or None
    return None


def _option_text(value) -> str:
    """A job option as a refusal shows it: what was given, or 'none'."""
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


# What a resume reads of the status parts, once for both look-ups below: read apart, a resume of a million photos
# read its 3,900 parts twice before the first photo (7 of its 32 s on 2 cores).
RESUME_COLUMNS = ("source", "status", "message", "finished")


def done_already(results: Results, sources: list[tuple[str, str]], latest=None) -> list[bool]:
    """For each source, whether its latest status is ok or PARTIAL (a resume skips it: read again, a truncated video
    gives the same frames, whose rows are kept already). latest: results.latest(RESUME_COLUMNS), if read already."""
    import pyarrow as pa
    import pyarrow.compute as pc

    latest = results.latest(("source", "status", "finished")) if latest is None else latest
    done = pc.is_in(latest["status"], value_set=pa.array(["ok", PARTIAL]))
    return _is_in(sources, latest.filter(done)["source"])


def pending(results: Results, sources: list[tuple[str, str]], latest=None) -> list[tuple[str, str]]:
    """The sources not done yet, in the order given."""
    return [s for s, done in zip(sources, done_already(results, sources, latest)) if not done]


def killed_a_worker(results: Results, sources: list[tuple[str, str]], latest=None) -> list[bool]:
    """For each source, whether its latest status says its worker died on its task (see TASK_TRIES)."""
    import pyarrow.compute as pc

    latest = results.latest(("source", "message", "finished")) if latest is None else latest
    return _is_in(sources, latest.filter(pc.match_substring(latest["message"], WORKER_DIED))["source"])


def _failed(latest):
    """The sources whose latest row in `latest` (a status table, each source's latest row) is an error: a re-run
    tries them again."""
    import pyarrow.compute as pc

    return latest.filter(pc.equal(latest["status"], "error"))["source"]


def _is_in(sources: list[tuple[str, str]], names) -> list[bool]:
    """For each source, whether it is among `names` (an Arrow column) by its name, or else by its resolved path:
    a job begun before sources kept their links' names recorded those (a folder under macOS's /tmp as
    /private/tmp/...), and its resume would otherwise start again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def look_up(paths: list[str]) -> list[bool]:
        try:
            given = pa.array(paths, pa.string())
        except UnicodeEncodeError:  # a name that is not UTF-8: shown as the rows show it
            given = pa.array([shown(p) for p in paths], pa.string())
        return pc.is_in(given, value_set=names.combine_chunks()).to_pylist()

    found = look_up([s for s, _ in sources])
    missing = [i for i, f in enumerate(found) if not f] if len(names) else []
    for i, hit in zip(missing, look_up([os.path.realpath(sources[i][0]) for i in missing]) if missing else []):
        found[i] = hit
    return found


# --- Ray ----------------------------------------------------------------------------------------------
def check_address(address: str) -> None:
    """A cluster that does not answer is one line within seconds (Ray itself waits 30 s to minutes)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise FacekitError(f"--address {address}: expected auto, ray://HOST:PORT or HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise FacekitError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


class _HeldWhileRayStarts(DeferredStop):
    """A Ctrl-C or SIGTERM while Ray starts, held until it is up (DeferredStop) and said at once: Ray takes
    seconds to come up, and a Ctrl-C that did nothing visible is pressed again and again."""

    def _note(self, signum=None, *_):
        if not self.received:  # standard output: Ray's start holds standard error back (quiet_stderr)
            info("stopping once Ray is up (a few seconds)...")
        super()._note(signum)


LOCAL_RAY_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node address is 127.0.0.1, its servers bind there
# The pid of the facekit-batch whose local Ray a process belongs to: every process of that Ray inherits it.
DRIVER_PID = "FACEKIT_BATCH_DRIVER"


def stop_orphans(driver: int | None = None) -> list[int]:
    """Stop what a killed job's local Ray left running, and return their pids. A facekit-batch killed outright
    (kill -9, a scheduler's hard kill) left Ray's DashboardAgent and RuntimeEnvAgent running for good, about 90 MB
    each, two more at every such kill, and nothing said how to find them. Only processes whose facekit-batch is
    gone are stopped (a job still running keeps its own), and with `driver` only that one's (the job's watchdog,
    _watch_driver); where /proc cannot be read (macOS), none."""
    import signal

    mine = os.getuid() if hasattr(os, "getuid") else None
    stopped: list[int] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return stopped
    for pid in pids:
        try:
            if pid == os.getpid() or os.stat(f"/proc/{pid}").st_uid != mine or not _is_ray(pid):
                continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        ours = next((v.split(b"=", 1)[1] for v in env if v.startswith(DRIVER_PID.encode() + b"=")), b"")
        owner = int(ours) if ours.isdigit() else None
        if owner is None or driver not in (None, owner):
            # An agent whose retitling blanked its variable: by the session folder it writes in, the watchdog's
            # driver's, or one a facekit-batch marked as its own (a `ray start` cluster's is never marked).
            session = _session_of(pid)
            if session is not None and (session[0] == driver or driver is None and session[1]):
                owner = session[0]
        if owner is None or owner == pid or driver not in (None, owner) or _alive(owner):
            continue
        try:
            os.kill(pid, signal.SIGKILL)  # its raylet is gone, so nothing would hear what a SIGTERM asked
            stopped.append(pid)
        except OSError:
            continue
    return stopped


def _session_of(pid: int) -> tuple[int, bool] | None:
    """(the pid in its name, whether a facekit-batch marked it its own: SESSION_MARK) of the Ray session folder
    process `pid` writes in, or None. ray.init names a local Ray's session folder session_<date>_<driver's pid>. Ray's
    agents retitle themselves (setproctitle), which may blank the environment /proc shows: their DRIVER_PID was
    gone, and a watchdog or a next job that looked for it alone left them running."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            found = _SESSION.search(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
        if found:
            return int(found[2]), os.path.isfile(os.path.join(found[1], SESSION_MARK))
    return None


_SESSION = re.compile(r"^(.*[/\\]session_[^/\\]*_(\d+))[/\\]")
# Written by a local job into its Ray's session folder once Ray is up: a folder named after a pid that is gone is
# also a `ray start` cluster's (the pid of the command that started it), which must keep running.
SESSION_MARK = "facekit-batch"


def _mark_session(ray) -> None:
    try:
        folder = ray._private.worker._global_node.get_session_dir_path()
        with open(os.path.join(folder, SESSION_MARK), "w") as fh:
            fh.write(f"{os.getpid()}\n")
    except (AttributeError, OSError):  # another Ray's layout, or no room: the watchdog still knows its driver
        pass


# The watchdog a local job starts beside itself (_watch_driver): it waits on a pipe only the driver holds, whose end
# comes when the driver exits however it does; a "." written at a clean exit (after Ray's own shutdown) means there
# is nothing to stop. Plain Python until then (10 MB, no facekit imported), so it costs nothing while the job runs.
_WATCHDOG = """if True:
    import os, sys, time
    if os.read(0, 1) != b".":
        from facekit.batch import stop_orphans
        for _ in range(3):  # a worker the raylet was starting as it died shows up a moment later
            stop_orphans(int(sys.argv[1]))
            time.sleep(1)
"""
_watching: list[int] = []  # the driver whose watchdog runs: one per process, a notebook's kernel running many jobs


def _watch_driver() -> None:
    """A local job killed outright (kill -9, the OOM killer, a scheduler's hard kill) left its Ray's DashboardAgent
    and RuntimeEnvAgent running (85 MB each) until the next facekit-batch stopped them: Ray fate-shares its raylet
    and GCS with the driver (PR_SET_PDEATHSIG) and its workers follow the raylet, but the agents, the raylet's
    children, try to report its death to the dead GCS, and were still there a minute later. No ray.init option stops
    them, so a watchdog in a session of its own (a Ctrl-C to the terminal's group is the job's, which shuts Ray down
    itself) stops them as the driver goes: none was left 3 s after a kill -9. Only this job's local Ray's processes
    (its DRIVER_PID, or its session folder): a cluster given by --address is never touched."""
    import atexit
    import subprocess

    if not os.path.isdir("/proc") or _watching == [os.getpid()]:
        return
    read, write = os.pipe()  # not inheritable: Ray's processes, started after, do not hold it open
    try:
        subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())], stdin=read, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:  # no watchdog (a process limit): the next job's start still stops what a kill leaves
        os.close(write)
        return
    finally:
        os.close(read)
    _watching[:] = [os.getpid()]

    def clean_end() -> None:
        try:
            os.write(write, b".")
        except OSError:  # the watchdog is gone (killed on its own): nothing to tell
            pass

    # Registered before ray.init, so it runs after Ray's own atexit shutdown: a clean end says so, the watchdog quits.
    atexit.register(clean_end)


def _is_ray(pid: int) -> bool:
    """Whether process `pid` is one of Ray's (raylet, gcs_server, its agents and workers): the driver's variable is
    inherited by anything it starts, and facekit-batch run from a notebook leaves it set in the kernel, whose later
    children are the user's own work, not a dead job's leftovers. Ray's own are named by its package's files or
    by the "ray::" titles its agents and workers take; "ray" anywhere in a command line also killed a user's
    `python array_stats.py` or anything under /home/ray."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return False
    return args[0].startswith(b"ray::") or any(_RAY_FILE.search(arg) for arg in args)


_RAY_FILE = re.compile(rb"[/\\](?:site|dist)-packages[/\\]ray[/\\]")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    # A zombie (exited, not reaped yet: a driver just killed by a shell that has not waited) is gone too.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def _token_for_a_home_that_cannot_keep_it() -> None:
    """A local Ray turns token authentication on and keeps its token in ~/.ray/auth_token, made on its first start.
    Where that cannot be made (a service's read-only home, systemd's ProtectHome=read-only; a user with no home
    folder) the job ended in "cannot start Ray here ([Errno 30] Read-only file system: '/home/u/.ray'); /tmp, where
    Ray keeps its session, cannot be written: set RAY_TMPDIR ...", of a /tmp that could be. The job's Ray is given
    a token of its own in its environment instead, which its processes inherit: authenticated all the same."""
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token" or os.environ.get("RAY_AUTH_TOKEN") \
            or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    try:
        folder = Path.home() / ".ray"
        if (folder / "auth_token").is_file():
            return
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found (a uid with no passwd entry)
        pass
    import secrets

    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def start_ray(address: str | None, workers: int | None) -> int:
    """Connect to (or start) Ray quietly; return the number of workers to run."""
    import logging
    import warnings

    if address is None:
        # Local workers start from this environment: make sure they can import this facekit.
        here = str(Path(__file__).resolve().parent.parent)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        # A local Ray's servers (its GCS, raylet, workers) listened on every network interface, unauthenticated:
        # while the job ran, anyone who could reach this machine could join that Ray and run code as its user.
        # Its workers are all here, so it runs as Ray runs on macOS and Windows, on 127.0.0.1 alone.
        os.environ.setdefault(LOCAL_RAY_ONLY, "0")
        stopped = stop_orphans()
        if stopped:
            info(f"stopped {counted(len(stopped), 'Ray process', 'Ray processes')} that a facekit-batch killed "
                 f"outright left running (pid {', '.join(map(str, stopped))})")
        os.environ[DRIVER_PID] = str(os.getpid())
        _watch_driver()
        _token_for_a_home_that_cannot_keep_it()
        constants: Any = sys.modules.get("ray._private.ray_constants")  # Ray imported already (a notebook): read then
        if constants is not None and os.environ[LOCAL_RAY_ONLY] == "0":
            constants.ENABLE_RAY_CLUSTER = False
    store = _object_store_size() if address is None else {}  # before Ray's imports, which a tight limit fails
    try:
        import ray
    except ImportError:
        raise FacekitError("facekit-batch needs Ray and pyarrow: pip install 'facekit[scale]'") from None
    from .video import quiet_stderr

    warnings.filterwarnings("ignore", module="ray")
    # Ray's C++ side logs to the terminal: a line on start-up (hidden below) and an ERROR for every actor Ray
    # Data creates (constructor arguments kept in the object store: how Ray Data always starts its actors).
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    from .signals import check_stop, set_stop_handler, stop_handler

    # A stop while Ray starts waits until it is up: ray.init's own SIGTERM handler (sys.exit) ended the job with
    # exit 15 and no word, and a stop part-way left Ray's agents running for good, orphaned. Held, it shuts that
    # Ray down and ends the job as Ctrl-C does: "interrupted", exit 143.
    held = _HeldWhileRayStarts()
    held.arm()
    ray_utils: Any = sys.modules.get("ray._private.utils")
    own = getattr(ray_utils, "set_sigterm_handler", None)
    if own is not None:
        ray_utils.set_sigterm_handler = lambda handler: None
    try:
        with quiet_stderr():
            _init(ray, address, workers, store)
    except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception for a node that did not start in time
        where = f"--address {address}: cannot connect to Ray" if address else "cannot start Ray here"
        if address and _refused_for_token(exc):
            raise FacekitError(f"{where}: the cluster asks for Ray's authentication token ({RAY_TOKEN_HINT})") from None
        if address == "auto" and str(exc).startswith(NO_RAY_HERE):
            # Ray's own line went on "Please specify the one to connect to by setting `--address` flag", to a user
            # who had given --address.
            raise FacekitError(f"{where}: no Ray cluster runs on this machine (RAY_ADDRESS unset, none started by "
                               "`ray start --head` here): start one, give its address, or leave --address out for "
                               "a local job") from None
        raise FacekitError(f"{where} ({str(exc).splitlines()[0]}){'' if address else _ray_room(exc)}") from None
    finally:
        if own is not None:
            ray_utils.set_sigterm_handler = own
    # Ray's core takes SIGTERM over when it starts: a scheduler's stop then ended the job in a stack dump and
    # exit 134. Given back, it ends the job as Ctrl-C does (facekit.signals): "interrupted", exit 143.
    set_stop_handler(stop_handler)
    if address is None:
        _mark_session(ray)
    if held.received:
        ray.shutdown()
        check_stop()
    _hush_teardown()
    import ray.data

    # Ray Data logs each execution's start, plan and end to the console; its log file keeps them.
    for handler in logging.getLogger("ray.data").handlers:
        if not type(handler).__name__.startswith("SessionFile"):
            handler.setLevel(logging.CRITICAL)  # a task dropped after TASK_TRIES: our [WARN] line names it
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts sources and frames; Ray's counts blocks
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
    if workers:
        return workers
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def more_workers_than_cores(workers: int, address: str | None, running: int | None = None) -> str | None:
    """The warning for --workers past the cores that run them (this machine's, or a running cluster's CPUs), or None.
    Each worker loads its own models and takes a core: 8 on this project's 2 cores were slower than 2 and held 2.2x
    the memory, and nothing said so. Not refused: a cluster's CPUs may be more than this machine's, or its nodes
    about to grow. running: the workers that start (one a task); a job of 2 tasks on --workers 8 warned of 3.0 GB
    more memory where 2 workers ran, no more than the cores."""
    running = workers if running is None else running
    if address is None:
        from .runtime import usable_cores

        cores, where = usable_cores(), "this machine may use"
    else:
        import ray

        cores, where = int(ray.cluster_resources().get("CPU", 0)), "the Ray cluster has"
    if running <= cores:
        return None
    return (f"--workers {workers}, where {where} {counted(cores, 'core')}: each worker loads its own models (about "
            f"{WORKER_GB} GB) and they share the cores, so the job runs slower, not faster, and holds about "
            f"{(running - cores) * WORKER_GB:.1f} GB more memory; give --workers {cores} or fewer (or leave it out)")


# One worker's peak memory with the shipped heads (status.csv's worker_rss_mb: 0.46-0.65 GB, 40 photos on 8 workers).
# Measured: 40 photos (media, annotated_faces, mask_scenes_val), --photos-per-task 2 so every worker had tasks, on a
# 2-core machine busy with other work: 88 s and 5.3 GB with --workers 8, 56 s and 2.4 GB with 2 (memory: the summed
# RSS of the driver and its Ray's processes).
WORKER_GB = 0.5


# Ray 2.60's `ray start --head` turns token authentication on by itself where ~/.ray/auth_token exists, while
# ray.init(address=...) sends the token only with RAY_AUTH_MODE=token: the job said "cannot connect to Ray (Failed
# to connect to Ray cluster at HOST:6379)" of a cluster that answered, its cause left in the exception's chain.
RAY_TOKEN_HINT = ("run with RAY_AUTH_MODE=token, the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN; "
                  "see Ray's docs on token authentication")


# How Ray's error begins for address="auto" where it finds no cluster to join.
NO_RAY_HERE = "Could not find any running Ray instance"


def _refused_for_token(exc: BaseException) -> bool:
    """Whether Ray's connection error was, down its chain of causes, the cluster refusing a missing token."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if type(link).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(link):
            return True
        link = link.__cause__ or link.__context__
    return False


RAY_ROOM_MB = 64  # less free than this where a local Ray keeps its session (logs, sockets) is named as the cause


def _ray_room(exc: BaseException | None = None) -> str:
    """Why a local Ray may not have started for want of room: a full disk where it keeps its session, or a file size
    limit (ulimit -f) its logs pass. Its raylet then never wrote its files, and Ray waited 30 s and said only
    "Timed out waiting for file .../gcs_server_port_...", or, under the limit, raised a bare Exception that ended
    the job in a traceback."""
    from .runtime import file_size_limit, size_text

    try:
        from ray._common.utils import get_default_system_temp_dir  # RAY_TMPDIR, TMPDIR, else /tmp

        folder = get_default_system_temp_dir()
    except ImportError:
        folder = tempfile.gettempdir()
    notes = []
    if isinstance(exc, PermissionError) or isinstance(exc, OSError) and exc.errno == errno.EROFS:
        # A read-only /tmp (a systemd unit's ProtectSystem=strict, `docker run --read-only`): "[Errno 13] Permission
        # denied: '/tmp/ray'" named neither what the folder is for nor the setting that moves it.
        notes.append(f"{folder}, where Ray keeps its session, cannot be written: set RAY_TMPDIR to a folder this "
                     "user can write")
    try:
        free = shutil.disk_usage(folder).free / 2**20
    except OSError:
        free = None
    # Not beside "cannot be written": "make room there" sent one to free a disk no write could reach.
    if free is not None and free < RAY_ROOM_MB and not notes:
        notes.append(f"{folder}, where Ray keeps its session, has {free:.1f} MB free: make room there, or set "
                     "RAY_TMPDIR to a folder on a disk with room")
    limit = file_size_limit()
    if limit is not None:
        notes.append(f"files may not grow past {size_text(limit)} here (ulimit -f): too little for Ray's logs")
    return "".join(f"; {note}" for note in notes)


# Set once the job's results stop being read (its end, a stop, an error): Ray Data then kills the actors.
_TEARING_DOWN = threading.Event()


def _hush_teardown() -> None:
    """Ray Data kills the job's actors when the job stops (Ctrl-C, SIGTERM, an output that cannot be written),
    and the driver's listener printed the raylet's note of every task still in flight, beside "interrupted" or
    the job's [ERROR] line, on standard output and in colour: "(raylet) Task MapWorker(MapBatches(Worker)).submit
    failed. There are 2 retries remaining, so the task will be retried ... killed by `ray.kill`", as if the job
    went on. Once a stop is asked for or the job is over, those notes are ours and are dropped; Ray's others (a
    node short of memory) still show while the job runs, but not its notes of retried tasks of the job's own workers,
    whose sources the job accounts for itself (a status row, a [WARN] line): a worker that refused to start
    (another facekit on its node) ended the job in its one line with, on a busy machine, "(raylet) Task
    MapWorker(MapBatches(Worker)).get_location failed. There are 2 retries remaining ... The actor is temporarily
    unavailable" above it."""
    from .signals import stop_requested

    try:
        import ray._private.worker as ray_worker  # its listener looks this name up at each note
    except ImportError:
        return
    show = getattr(ray_worker, "print_to_stdstream", None)
    if show is None or getattr(show, "facekit_hushed", False):
        return

    def print_to_stdstream(data, *args, **kwargs):
        # A worker's own refusal to start (check_same_facekit) is the job's one line when it ends (_guard_ray).
        lines = "\n".join(data.get("lines") or []).splitlines()
        ours = _raised_by_facekit(lines) or any(line.lstrip().startswith(_OUR_TASKS) for line in lines)
        if not (stop_requested() or _TEARING_DOWN.is_set() or ours):
            show(data, *args, **kwargs)

    setattr(print_to_stdstream, "facekit_hushed", True)  # read above: a second call does not wrap it again
    ray_worker.print_to_stdstream = print_to_stdstream


# Under an address-space limit (ulimit -v, a small board's) a local Ray and its workers need this much at least:
# below it the job ended in an abort or exit 1 without a word, or in "out of memory" from one of Ray's imports.
# At 2.3 GB (2 cores, one worker) Ray started and its threads could not: "the Ray job stopped after 0 sources
# (can't start new thread) ... run the same command to go on", twice, of a command that would fail again; at 2.6 and
# 2.8 GB three photos were done, at 3.0 GB too, with two workers restarted.
RAY_MIN_ADDRESS_SPACE = 2400 << 20
OBJECT_STORE_SHARE = 8  # of the limit, for Ray's object store (facekit's rows are small: 1 GB under 8 GB)


def _object_store_size() -> dict:
    """ray.init's object_store_memory under an address-space limit, else nothing (Ray's default). Ray sizes its
    object store from the machine's memory (30%: 6.5 GB of 23), and every worker maps it whole: under `ulimit -v 8G`
    the workers failed their mmap and the job waited for them for good, saying nothing; under 3 GB Ray timed out."""
    from .runtime import address_space_limit, check_address_space

    soft = address_space_limit()
    if soft is None:
        return {}
    check_address_space(RAY_MIN_ADDRESS_SPACE, "a local Ray", "run facekit-image / facekit-video, which need less")
    return {"object_store_memory": soft // OBJECT_STORE_SHARE}


def _entrypoint_in_utf8() -> None:
    r"""Ray names the driver by its command line (psutil's, a name not in UTF-8 as surrogate escapes) and its core
    takes that name as UTF-8: a photo typed or globbed on the command line as "caf\xe9.jpg", or such an --output,
    ended the job in "cannot start Ray here ('utf-8' codec can't encode character '\udce9' ...)", before any work,
    though the same file in a folder given is a source like any other. Its odd bytes are shown as \xNN there."""
    try:
        import ray._private.utils as ray_utils
    except ImportError:
        return
    name = getattr(ray_utils, "get_entrypoint_name", None)
    if name is None or getattr(name, "facekit_utf8", False):
        return

    def get_entrypoint_name() -> str:
        return shown(name())

    get_entrypoint_name.facekit_utf8 = True  # type: ignore[attr-defined]
    ray_utils.get_entrypoint_name = get_entrypoint_name


def _init(ray, address: str | None, workers: int | None, store: dict) -> None:
    import logging

    from .runtime import usable_cores

    _entrypoint_in_utf8()

    quiet = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address is None:
        # "local": a Ray of its own, as the docs promise. Without it ray.init() joins whatever cluster
        # /tmp/ray/ray_current_cluster names (a `ray start` left running, or a stale file after one died)
        # and then refuses num_cpus.
        ray.init(address="local", num_cpus=workers or usable_cores(), include_dashboard=False, **quiet, **store)
    else:
        ray.init(address=address, **quiet)
    # ray.init imports Ray's cli_logger, whose colorama.init(strip=False) leaves an exit hook that wrote a stray
    # ESC[0m to the terminal after the job's last line; nothing here colours its output.
    import atexit

    for name in ("colorama.initialise", "ray.thirdparty_files.colorama.initialise"):
        if hasattr(sys.modules.get(name), "reset_all"):
            atexit.unregister(sys.modules[name].reset_all)


def part_name(rank: int, run_ms: int) -> str:
    """A task's part file name. Readers (pyarrow, pandas.read_parquet) take a folder's parts in name order, so
    the name leads with the place of the task's first source among those given: `results/faces` reads back in
    the sources' order, the same from run to run. Named by a random id alone, two runs of one job gave the
    same rows in another order each time (the tasks finish in any order; the id keeps resumed parts apart).
    Then the run's start (ms since 1970, 13 digits): a source tried again on a resume, whose task has the rank of
    the one it first ran in, came before or after that task's part by the random id."""
    return f"part-{rank:010d}-{run_ms:013d}-{uuid.uuid4().hex[:8]}.parquet"


def run_job(tasks: list[list[tuple[str, str]]], options: JobOptions, results: Results, workers: int,
            order: dict[tuple[str, str], int] | None = None, suspects: bool = False) -> dict:
    """Run every task through the actor pool and write each result as it comes back. order: each source's
    place among all those given (the part files' names follow it). suspects: some sources killed their worker
    in an earlier run (each now has a task of its own)."""
    import warnings

    import ray.data

    order = order or {}
    run_ms = time.time_ns() // 1_000_000
    items = [{"part": part_name(min((order.get((source, kind), 0) for source, kind in t), default=0), run_ms),
              "task": json.dumps(t)} for t in tasks]
    # A task whose worker died TASK_TRIES times is left out rather than ending the job (its sources get an
    # error row below). Set before the dataset is made: a dataset keeps a copy of the context.
    ray.data.DataContext.get_current().max_errored_blocks = -1
    ds: ray.data.Dataset = ray.data.from_items(items, override_num_blocks=len(items))
    # The options ride on the class rather than as constructor arguments, which Ray would keep in its object
    # store and warn about for every actor.
    from . import __version__

    worker = type("Worker", (Worker,), {"OPTIONS": asdict(options), "DRIVER_VERSION": __version__})
    # Two tasks in flight per actor: the next one waits in the worker's queue, so a worker never idles for a
    # round trip through the driver between tasks (each got 78% of a core with one in flight, 92% with two).
    # Not in a run that retries sources which killed their worker: a task queued behind one of those died with
    # it, and was retried with it, TASK_TRIES times (a clean-clone CI run's good photo failed twice so), so
    # "a task of its own" did not keep the good sources apart from the bad. Nor in a job with videos: a video
    # takes minutes, and the first worker up took the second video into its queue too, so two long videos on
    # --workers 2 ran one after the other on one worker while the other sat idle.
    in_flight = 1 if suspects or any(kind == "video" for task in tasks for _, kind in task) else 2
    # Ray 2.60 deprecates passing actor options this way and names no other for these two (hence ray < 2.64 in
    # the requirements, where it goes).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map_batches(worker, batch_size=1,
                            compute=ray.data.ActorPoolStrategy(size=min(workers, len(items)),
                                                               max_tasks_in_flight_per_actor=in_flight),
                            num_cpus=1, zero_copy_batch=False, max_restarts=-1, max_task_retries=TASK_TRIES - 1)
    totals: dict[str, Any] = {"sources": 0, "frames": 0, "faces": 0, "failed": 0, "partial": 0, "picture_start_s": {},
                              "turned": 0}
    returned = set()
    bar = progress_bar(total=sum(len(t) for t in tasks), desc="[INFO] sources", unit="src")

    def failed(row: dict) -> None:
        totals["failed"] += 1
        totals["partial"] += row["status"] == PARTIAL
        if totals["failed"] <= FAILURES_SHOWN:
            bar.write(f"[WARN] {one_line(row['message'])}", file=sys.stderr)
        elif totals["failed"] == FAILURES_SHOWN + 1:
            bar.write(f"[WARN] more than {FAILURES_SHOWN} sources failed: the others are not named here one by one; "
                      f"{results.folder / 'status.csv'} gives each its reason", file=sys.stderr)
    _TEARING_DOWN.clear()
    batches = _guard_ray(ds.iter_batches(batch_size=None, batch_format="numpy"), totals)
    try:
        for batch in batches:
            for part, faces, status_json in zip(batch["part"], batch["faces"], batch["status"]):
                status = json.loads(status_json)
                results.write(str(part), bytes(faces), status)
                returned.add(str(part))
                for row in status:
                    totals["sources"] += 1
                    totals["frames"] += row["frames"]
                    totals["faces"] += row["faces"]
                    if row.get("picture_start_s"):
                        totals["picture_start_s"][row["source"]] = row["picture_start_s"]
                    totals["turned"] += bool(row.get("turned"))
                    if row["status"] != "ok":
                        failed(row)
                bar.update(len(status))
                bar.set_postfix(frames=totals["frames"], faces=totals["faces"], failed=totals["failed"])
        for item in items:  # every task has come back, or its worker died TASK_TRIES times on it
            if item["part"] not in returned:
                status = [worker_died(source, kind) for source, kind in json.loads(item["task"])]
                # No faces part: one of two columns (source, kind), read first, became the schema of the whole
                # folder for pyarrow and pandas, and every face came back without its box and labels.
                results.write(item["part"], None, status)
                totals["sources"] += len(status)
                for row in status:
                    failed(row)
                bar.update(len(status))
    finally:
        _TEARING_DOWN.set()
        # Closed here, once the flag is up: left to the unwinding of the loop, the iterator went (and Ray Data
        # killed its actors) before this block ran.
        batches.close()
        bar.close()
    return totals


# Failed sources named one by one as they fail; the rest are in status.csv. An archive of a million photos, 1% of
# them unreadable, printed 10,000 lines, its progress bar scrolled away among them.
FAILURES_SHOWN = 20


def worker_died(source: str, kind: str) -> dict:
    """The status of a source whose task never came back: its worker died TASK_TRIES times."""
    return {"source": shown(source), "kind": kind, "status": "error",
            "message": f"{shown(source)}: not done, its task never came back ({WORKER_DIED} {TASK_TRIES} times: a "
                       "crash or out of memory, on this file or one run with it); a re-run gives it a task of its own",
            "faces": 0, "frames": 0, "seconds": float("nan"), "cpu_seconds": float("nan"), "worker": "",
            "worker_rss_mb": float("nan"), "finished": _now(), "picture_start_s": None, "turned": None}


# How the raylet's note of a task of the job's workers (Ray Data's actors of the Worker class) begins.
_OUR_TASKS = "Task MapWorker(MapBatches(Worker))."
# How a FacekitError raised in a worker (check_same_facekit) ends Ray's traceback of it: "facekit.errors.X: ...".
_WORKER_ERROR = re.compile(r"^facekit\.errors\.\w+: (.+)$")


def _raised_by_facekit(lines: list[str]) -> str | None:
    """The message of a FacekitError a worker raised, when Ray's text of its failure ends in one."""
    return next((m.group(1) for line in reversed(lines) if (m := _WORKER_ERROR.match(line.strip()))), None)


def _guard_ray(batches, totals: dict):
    """Ray's own failures (a worker that cannot start or dies: facekit missing on a node, out of memory)
    as one line; what was finished is on disk, so the same command resumes. A worker that refused to start
    (another facekit than the driver's) is its own line: the same command would meet it again."""
    try:
        yield from batches
    except Exception as exc:  # noqa: BLE001 - Ray raises many types; each ends the job the same way
        ours = _raised_by_facekit(str(exc).splitlines())
        if ours:
            raise FacekitError(f"{ours} (the job stopped after {totals['sources']} sources; what was finished is "
                               "saved)") from None
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        from .errors import out_of_memory
        from .runtime import address_space_limit, size_text

        # "Run the same command to go on" sent one to a command that met the same limit again.
        limit = address_space_limit()
        fix = ("run the same command to go on" if not (out_of_memory(exc) or "can't start new thread" in first) else
               "too little memory for Ray's workers (" + (f"this process may use {size_text(limit)}, ulimit -v; "
                                                          if limit is not None else "") +
               "the container's limit?): raise it, or give fewer --workers, then run the same command to go on")
        raise FacekitError(f"the Ray job stopped after {totals['sources']} sources ({first.strip()[:300]}); "
                           f"what was finished is saved: {fix}") from None


# Videos named one by one in the closing lines whose pictures start late; a job of thousands gets a count beyond.
LATE_PICTURES_SHOWN = 5


def hive_line(output: Path) -> str | None:
    """The line for a results folder whose path holds a folder named key=value (`archive/year=2024/results`, `-o
    run=3`): DuckDB's read_parquet('results/faces/*.parquet'), and its read_csv of status.csv, took each such part as
    a hive partition, a column of that value on every row (`year`, 2024), and one of a column's name (`kind=x/`)
    replaced the column's values. pandas and polars, given the faces folder, read the parts' own columns alone."""
    parts = [part for part in Path(os.path.abspath(output)).parts[1:] if re.fullmatch(r"[^=]+=[^=]*", part)]
    if not parts:
        return None
    return (f"{shown(str(output))}'s path holds {', '.join(parts)}: DuckDB reads each such folder as a column of "
            f"every row (a hive partition); read the faces with read_parquet('{shown(str(output))}/faces/*.parquet', "
            "hive_partitioning = false), status.csv with read_csv(..., hive_partitioning = false)")


def _say_late_pictures(videos: list[tuple[str, float | None]], faces: str) -> None:
    """As the video script does: a video's time_s counts from its first picture, which a player may show later (the
    hamilton clip's at 0.852 s), and nothing said so, so a row looked up in a player landed 25 frames early.
    videos: (video, its picture_start_s as its worker's status row gave it)."""
    late = [(video, line) for video, start in videos if (line := late_pictures_line(start, [faces])) is not None]
    for video, line in late[:LATE_PICTURES_SHOWN]:
        info(f"{shown(str(video))}: {line}")
    if len(late) > LATE_PICTURES_SHOWN:
        info(f"and {counted(len(late) - LATE_PICTURES_SHOWN, 'more video')} whose pictures a player shows later: "
             "their times count from their first picture too")


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.inputs and args.list is None:
        raise FacekitError("give image / video files, folders or globs, or --list FILE")
    check_range_order(args.start, args.end)  # before any video is read: none holds a frame
    # "~/results" as typed where no shell expands it (--output=~/results, a scheduler's job file, a subprocess list):
    # the job wrote into a folder named "~" here, then pyarrow, which does expand "~", read the status parts from
    # the home folder: a FileNotFoundError traceback after all the work, and on every resume. Read as a shell does.
    args.output = args.output.expanduser()
    results = Results(args.output)
    results.check_writable()
    # A resume looks up what is done among the sources as the folders list them, sorted only if there is work (a
    # list on standard input is read once: sorted from the start).
    ordered = not results.status_dir.is_dir() or (str(args.list) == "-" and not args.list.exists())
    sources, skipped = gather_sources(args.inputs, args.list, args.recursive, ordered)
    if skipped:
        info(f"skipped {counted(skipped, 'file')} in the folders that are neither images nor videos")
    if not sources:
        from .preprocess import recursive_hint

        listed = "standard input" if str(args.list) == "-" and not args.list.exists() else args.list
        raise FacekitError(f"no images or videos found in {' '.join(args.inputs) or listed}"
                           + recursive_hint(args.inputs, args.recursive, lambda f: source_kind(f) != "other"))
    from .heads import card_terms, forced_int8, load_heads, withheld_heads

    # Loaded once, as the driver finds them: a model that cannot load is one line here, before Ray starts.
    heads = load_heads(args.tasks, [str(m) for m in args.model], commercial_use=args.commercial_use)
    check_assets(args.detector, bool(args.landmarks))
    withheld = {}
    if args.commercial_use and args.tasks is None:
        # The workers load the heads the driver kept, named: not every head there is, as they would by default.
        withheld, args.tasks = withheld_heads([str(m) for m in args.model]), list(heads)
    options = JobOptions(tasks=args.tasks, models=tuple(args.model), detector=args.detector,
                         confidence=args.confidence, landmarks=bool(args.landmarks), fast=args.fast,
                         every=args.every, detect_every=args.detect_every, smooth=args.smooth,
                         head_every=args.head_every, max_frames=args.max_frames, fine_pass=args.fine_pass,
                         rotate=args.rotate, start_s=args.start, end_s=args.end,
                         int8=True if args.int8 else forced_int8(), heads=head_hashes(heads),
                         cards=card_digests(heads))
    upgraded = results.check_options(options, warn_now=False)
    from .detection import LICENCES

    licences = {"detector": f"{args.detector}: {LICENCES[args.detector]}",
                "heads": {task: card_terms(head.card) for task, head in heads.items()}}
    if args.landmarks:  # the pose and openness columns are the face mesh's: its terms were left out
        from .assets import REGISTRY

        licences["landmarks"] = f"face mesh: {REGISTRY['face_mesh'].licence}"
    if args.address:
        check_address(args.address)
    todo = latest = None
    if results.status_dir.is_dir():
        # A resume reads what is done before Ray starts, so a job with nothing left ends here: starting Ray took
        # seconds and a worker process per core, to print "0 sources to do ... on 2 worker(s)" and do nothing.
        results.open(options, licences)
        latest = results.latest(RESUME_COLUMNS, ordered=False)
        todo = pending(results, sources, latest)
        if not todo:
            results.write_summary(fresh=True)  # as every run ends: a run killed before its summary left it behind
            info(f"nothing to do: all {counted(len(sources), 'source')} already done in {args.output}")
            return 0
        if not ordered:
            sources = gather_sources(args.inputs, args.list, args.recursive, say=False)[0]
            todo = pending(results, sources, latest)
    if todo and not args.mixed_columns:  # a finished job run again adds no part: nothing to mix
        results.check_columns(face_columns(heads, bool(args.landmarks)))
    if upgraded:
        warn(upgraded)
    # Once there is work: a finished job resumed ends in its one line.
    if args.commercial_use:
        say_commercial_use(args.detector, heads, withheld, bool(args.landmarks))
    else:
        say_non_commercial(args.detector, heads)
    # A new job's folder is made only once Ray answers: a wrong --address leaves no empty results folder behind.
    try:
        workers = start_ray(args.address, args.workers)
    except KeyboardInterrupt:
        # A stop while Ray started ended in a bare "[INFO] interrupted": a stop once it is up says what is left.
        from .signals import exit_status

        failed = 0 if todo is None or latest is None else sum(_is_in(todo, latest["source"]))  # a resume's
        waiting = len(sources) if todo is None else len(todo) - failed
        print(f"[INFO] interrupted while Ray started: {waiting} of {counted(len(sources), 'source')} not done yet"
              + (f" and {failed} that failed (tried again then)" if failed else "")
              + ", none begun: run the same command to go on", file=sys.stderr, flush=True)
        return exit_status()
    if todo is None:
        results.open(options, licences)
        latest = results.latest(RESUME_COLUMNS, ordered=False)
        todo = pending(results, sources, latest)
    assert latest is not None  # read with todo: on a resume above, else just now
    if len(todo) < len(sources):
        info(f"resuming: {len(sources) - len(todo)} of {counted(len(sources), 'source')} already done in {args.output}")
    if args.limit is not None:
        todo = todo[:args.limit]
    todo = as_read(todo)
    had_row = _is_in(sources, latest["source"])  # what the sources done before this run are, for "not done yet"
    failed_before = _failed(latest)  # and those of them a re-run would try again, for the same line
    fresh = not any(_is_in(todo, latest["source"]))  # none tried again: status.csv can take this run's rows as they are
    n_videos = sum(kind == "video" for _, kind in todo)
    n_other = sum(kind == "other" for _, kind in todo)  # named in --list: each an error in status.csv
    per_task = args.photos_per_task or photos_per_task(len(todo) - n_videos, workers)
    ramp = 0 if args.photos_per_task else workers  # the first tasks small, so the first results come in seconds
    largest = min(per_task, len(todo) - n_videos)  # 2 photos said "8 photos a task"
    sizes = f"{MIN_PHOTOS_PER_TASK} to {largest}" if ramp and largest > MIN_PHOTOS_PER_TASK else str(largest)
    died = killed_a_worker(results, todo, latest) if todo else []
    tasks = make_tasks(todo, per_task, died, ramp)
    # A worker a task: 40 photos (5 tasks) on --workers 8 said "on 8 workers" where 5 started.
    running = min(workers, len(tasks))
    if args.workers and (line := more_workers_than_cores(args.workers, args.address, running)) is not None:
        warn(line)
    info(f"{counted(len(todo), 'source')} to do ({counted(len(todo) - n_videos - n_other, 'photo')}, "
         f"{counted(n_videos, 'video')}" + (f", {n_other} neither" if n_other else "")
         + f") on {counted(running, 'worker')}"
         + (f" ({counted(len(tasks), 'task')}; {workers} {'asked' if args.workers else 'cores'})"
            if running < workers else "")
         + (f", {sizes} photo{'s' if sizes != '1' else ''} a task" if len(todo) > n_videos else ""))
    started = time.perf_counter()
    totals: dict[str, Any] = {"sources": 0, "frames": 0, "faces": 0, "failed": 0}
    interrupted = False
    no_room = None  # the part a full disk (or quota) refused: the job stops there, as it will not make room itself
    try:
        if todo:
            rank = {source: i for i, (source, _) in enumerate(sources)}  # by name: as_read may have changed a kind
            del latest  # a million rows, not needed while the job runs
            totals = run_job(tasks, options, results, running, {s: rank[s[0]] for s in todo}, suspects=any(died))
    except KeyboardInterrupt:
        interrupted = True
    except OSError as exc:
        if exc.errno not in NO_ROOM_ERRNOS:
            raise
        no_room = exc
    finally:
        try:
            latest = results.write_summary(fresh)
        except OSError as exc:
            # On that full disk status.csv fails too: its line named status.csv, not the part the job stopped at,
            # and said nothing of what was saved.
            if no_room is None or exc.errno not in NO_ROOM_ERRNOS:
                raise
            latest = results.latest()
    # Sources with no status row: none before this run, none written by it.
    left = sum(not (had or now) for had, now in zip(had_row, _is_in(sources, latest["source"])))
    if no_room is not None or interrupted:
        # The sources that failed are tried again too: "1086 of 2001 sources not done yet", then a resume of 1,087.
        # Those are the ones that failed in this run, and those that had failed before it and were not tried again.
        import pyarrow as pa
        import pyarrow.compute as pc

        again = pa.concat_arrays([_failed(latest).combine_chunks(), failed_before.filter(
            pc.invert(pc.is_in(failed_before, value_set=latest["source"].combine_chunks()))).combine_chunks()])
        failed = sum(_is_in(sources, pa.chunked_array([again], pa.string())))
        not_done = f"{left} of {counted(len(sources), 'source')} not done yet" + (
            f" and {failed} that failed (tried again then)" if failed else "")
    if no_room is not None:
        raise FacekitError(f"{write_error_line(no_room)}: the job stopped there, {not_done}; what was finished is "
                           "saved: free some space and run the same command to go on")
    if interrupted:
        from .signals import exit_status

        # A bare "interrupted" left the operator to read the README to learn that nothing was lost and how to go on.
        print(f"[INFO] interrupted: {not_done}; what was finished is saved: run the same command to go on",
              file=sys.stderr, flush=True)
        return exit_status()
    secs = time.perf_counter() - started
    # A video's faces are counted once a frame: "142 faces" of a clip where the video script says "142 face
    # detections" (and 9 people) read as 142 people.
    info(f"{counted(totals['sources'], 'source')}, {counted(totals['frames'], 'frame')}, "
         f"{counted(totals['faces'], 'face detection' if n_videos else 'face')} in {secs:.1f}s "
         f"({totals['frames'] / secs if secs > 0 else 0:.1f} FPS); results in {args.output}/faces")
    if totals.get("turned"):  # as the photo script's line says it of each: a scan archive's are in status.csv
        its = "its" if totals["turned"] == 1 else "their"
        info(f"{counted(totals['turned'], 'photo')} found turned (lying on a side or upside down): status.csv's turned "
             f"gives the degrees clockwise; {its} faces' boxes are in {its} pixels as read")
    starts = totals.get("picture_start_s", {})
    _say_late_pictures([(source, starts.get(shown(source))) for source, kind in todo if kind == "video"],
                       f"{args.output}/faces")
    if (hive := hive_line(args.output)) is not None:
        info(hive)
    if left:
        info(f"{counted(left, 'source')} not done yet: run the same command again to go on")
    partial = totals.get("partial", 0)
    if totals["failed"] > partial:
        warn(f"{counted(totals['failed'] - partial, 'source')} failed: see {args.output}/status.csv (a re-run tries "
             "them again)")
    if partial:
        warn(f"{counted(partial, 'video')} ended part-way (truncated or corrupt): the rows of the frames before are "
             f"kept, status {PARTIAL} in {args.output}/status.csv (a re-run leaves them)")
    if totals["failed"]:
        return 1
    return 0


if __name__ == "__main__":  # `python -m facekit.batch`: the guard its console command has
    from .cli import run_script

    sys.exit(run_script("facekit.batch"))
