"""JSON and CSV records, all built from `Face.to_dict()` so image JSON, folder JSON Lines and the
video CSV never disagree."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

from .errors import FacekitError, shown
from .types import Face


def image_record(image_path: str | os.PathLike, width: int, height: int, faces: list[Face], **extra) -> dict:
    # As facekit-batch's `source`: the name's surrogate escapes went into the JSON as "\udce9", which
    # pandas.read_json refused (UnicodeEncodeError) and which matched no batch row's "caf\xe9.jpg".
    record = {"image": shown(str(image_path)), "width": int(width), "height": int(height),
              "faces": [f.to_dict() for f in faces]}
    record.update(extra)
    return record



def failed_record(image_path: str | os.PathLike, message: str, size: tuple[int, int] | None = None) -> dict:
    """A photo of a folder run that could not be read, in its JSON Lines beside the others: no `faces` (not a photo
    of none), `error` the one line the run printed of it, as facekit-batch's status row has `message`. size: the
    (width, height) its header states, where it states one (a download cut short), as the photo would be read."""
    record: dict[str, str | int] = {"image": shown(str(image_path))}
    if size is not None:
        # Without them a folder whose one photo failed read back with width and height as float64 in pandas (NaN in
        # that row): a download cut short, the commonest failure, still says its size in its header.
        record.update(width=int(size[0]), height=int(size[1]))
    return record | {"error": shown(message)}

def csv_row(frame: int, time_s: float, face: Face, task_labels: dict[str, list[str]],
            clock: str | None = None, size: tuple[int, int] | None = None) -> dict:
    """One flat row per face per frame (OpenFace / py-feat style), ready for pandas. clock: a camera's or
    stream's frame's local date and time (`clock_text`), a column only then. size: the (width, height) of the frame
    or photo the box is in, the `width` and `height` columns (a Face alone, `to_row()`, knows none)."""
    row: dict[str, str | int | float] = {"frame": frame, "time_s": round(time_s, 4)}
    if clock is not None:
        row["clock"] = clock
    row["track_id"] = face.track_id if face.track_id is not None else ""
    if size is not None:
        # Boxes could not be normalised (x1 / width) without opening the video again: the photo JSON has the size,
        # the video CSV and the batch Parquet had none.
        row.update(width=int(size[0]), height=int(size[1]))
    row.update({"x1": face.box.x1, "y1": face.box.y1, "x2": face.box.x2, "y2": face.box.y2,
                "score": round(face.score, 4)})
    for task, labels in task_labels.items():
        pred = face.predictions.get(task)
        row[f"{task}_label"] = pred.label if pred else ""
        for label in labels:
            row[f"{task}_{label}"] = round(pred.probabilities[label], 5) if pred else ""
        if task == "emotion":  # derived from the (smoothed) probabilities: see types.emotion_intensity
            intensity = face.emotion_intensity
            row["emotion_intensity"] = round(intensity, 5) if intensity is not None else ""
            # The JSON record has it; the CSV dropped it, so a study of intensity over time could not tell
            # a masked face's eyes-only reading from a whole face's. Only with a mask head: without one
            # nobody looked at the mouth, and a column of 0s would say it was seen uncovered.
            if "mask" in task_labels:
                # Empty where the mask head gave this face no label (a mask head whose min_face is above the
                # emotion head's): a 0 said the mouth was seen uncovered, where the JSON leaves the key out.
                row["emotion_eyes_only"] = int(face.emotion_eyes_only) if pred and "mask" in face.predictions else ""
    if face.pose is not None:
        row.update(yaw=round(face.pose.yaw, 2), pitch=round(face.pose.pitch, 2), roll=round(face.pose.roll, 2))
    for name, value in (face.measures or {}).items():
        row[name] = round(float(value), 4)
    return row


def csv_columns(task_labels: dict[str, list[str]], pose: bool = False, measures: tuple[str, ...] = (),
                clock: bool = False, size: bool = True) -> list[str]:
    """The CSV header: `csv_row`'s keys for a face with every head, and pose / measures / clock if they run; the
    frame's width and height unless size=False (`Face.to_row()`'s keys)."""
    import numpy as np

    from .types import Box, Pose, Prediction

    preds = {t: Prediction.from_probabilities(labels, np.full(len(labels), 1.0 / len(labels)))
             for t, labels in task_labels.items()}
    face = Face(Box(0, 0, 1, 1), 1.0, preds, pose=Pose(0.0, 0.0, 0.0) if pose else None,
                measures=dict.fromkeys(measures, 0.0) or None, track_id=0)
    return list(csv_row(0, 0.0, face, task_labels, clock="" if clock else None, size=(1, 1) if size else None))


def clock_text(epoch_s: float) -> str:
    """A moment as local ISO 8601 time with its UTC offset, to the millisecond: `2026-11-29T14:03:07.412+01:00`
    (pandas.to_datetime reads it; the offset keeps a night across a daylight-saving change in order)."""
    from datetime import datetime

    return datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="milliseconds")


STDOUT = "-"  # an output named "-" (or /dev/stdout) is written to standard output


def is_stdout(path) -> bool:
    return path is not None and os.fspath(path) in (STDOUT, "/dev/stdout")


def is_device(path: str | os.PathLike) -> bool:
    """/dev/null, a named pipe, a terminal: an output written straight into, with no temp file beside it
    (renamed over, its link would become a plain file, /dev/stdout itself when run as root)."""
    path = Path(path)
    return path.exists() and not path.is_file() and not path.is_dir()


def temp_prefix(name: str) -> str:
    """The hidden temp name's start for an output called `name`, written beside it until it is complete.
    The name is cut: a temp name ~15 characters longer than a long output name passes the file system's
    255-byte limit, and a run failed on a name the user could write."""
    return f".{name[:64]}."


TEMP_SUFFIX = ".part"  # then the output's extension where a writer picks its format from it (a video's)
_RANDOM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")  # mkstemp's 8 characters
_RANDOM_LEN = 8


def make_temp(path: Path, name: str | None = None, suffix: str = TEMP_SUFFIX) -> tuple[int, str]:
    """A temp file beside `path` (named from `name`, else its name), with a lock (flock) on it held for as long
    as the returned descriptor, or a dup of it, stays open: another run's `sweep_stale` leaves it alone, as
    it takes only temp files no live process holds. (fd, path); a run killed with kill -9 loses its lock with
    it."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(name or path.name), suffix=suffix, dir=path.parent)
        if not _lock(fd, wait=True) or os.fstat(fd).st_nlink:
            return fd, tmp
        os.close(fd)  # swept by another run between mkstemp and the lock: take another


def make_temp_dir(path: Path, suffix: str = TEMP_SUFFIX) -> tuple[Path, int]:
    """A temp folder beside `path`, named as `make_temp` names a file, and a descriptor holding a lock on it for
    as long as it stays open, so that `sweep_stale(..., folders=True)` takes it only once its run is gone: a
    trainer killed while exporting (kill -9, the out-of-memory killer) left its hidden model folder there for
    good. (path, fd)."""
    while True:
        tmp = tempfile.mkdtemp(prefix=temp_prefix(path.name), suffix=suffix, dir=path.parent)
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:  # Windows opens no folder: no lock, and its sweep takes none either
            return Path(tmp), os.open(os.devnull, os.O_RDONLY)
        if not _lock(fd, wait=True) or os.fstat(fd).st_nlink:
            return Path(tmp), fd
        os.close(fd)  # swept by another run between mkdtemp and the lock: take another


def _lock(fd: int, wait: bool) -> bool:
    """flock `fd` exclusively; False where there is no such lock (Windows, some network shares) or, without
    `wait`, where another process holds it."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def sweep_stale(folder: Path, outputs, folders: bool = False) -> int:
    """Remove the temp files that runs killed with kill -9 (or a power cut, the out-of-memory killer) left in
    `folder` for these outputs, (name, suffix) pairs as `make_temp` named them: hidden files that stayed there
    for good, a video's as big as the video. Only facekit's own names for those outputs, only this user's
    files, and only those no live run holds locked (two runs writing the same output at once keep theirs).
    Where locks are not to be had (Windows, some network shares) nothing is removed. folders: the temp folders
    `make_temp_dir` names so are taken too, with what is in them (a model's). Returns the count."""
    wanted = {(temp_prefix(name), suffix) for name, suffix in outputs}
    suffixes = {suffix for _, suffix in wanted}
    removed = 0
    try:
        entries = os.scandir(folder)
    except OSError:
        return 0
    with entries:
        for entry in entries:
            name = entry.name
            for suffix in suffixes:
                stem = name[:-len(suffix)] if name.endswith(suffix) else ""
                if (len(stem) > _RANDOM_LEN and (stem[:-_RANDOM_LEN], suffix) in wanted
                        and _RANDOM.issuperset(stem[-_RANDOM_LEN:]) and _take_stale(entry.path, folders)):
                    removed += 1
                    break
    return removed


def _take_stale(tmp: str, folders: bool = False) -> bool:
    """Unlink `tmp` if it is a plain file (or, with `folders`, a folder) of this user's that no process holds
    locked."""
    if not hasattr(os, "geteuid"):  # Windows: no owner to compare (and no flock), so nothing is taken
        return False
    try:
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        held = os.fstat(fd)
        folder = folders and stat.S_ISDIR(held.st_mode)
        if not (stat.S_ISREG(held.st_mode) or folder) or held.st_uid != os.geteuid() or not _lock(fd, wait=False):
            return False
        now = os.stat(tmp, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):  # replaced since it was opened
            return False
        if folder:
            shutil.rmtree(tmp)  # a link inside is removed, not followed
        else:
            os.unlink(tmp)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def file_identity(path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` names (a link's target), or None where there is none: the same file
    under two names (a relative path, a link, a hard link) has one identity."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def partial_name(path: Path) -> Path:
    """Where a run cut short puts an output whose name is taken: faces.csv -> faces.partial.csv (the extension
    kept last: a player opens out.partial.mp4, a spreadsheet faces.partial.csv)."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def keep_earlier(path: str | os.PathLike) -> Path | None:
    """A camera's or stream's run keeps what an earlier run left at its output `path`: renamed to NAME.<when that
    was last written>.EXT (faces.2026-11-30T14-03-07.csv), which is returned; None where there is nothing to keep
    (no file, an empty one, a link or a device, written through as before). A file's outputs are replaced, since
    a re-run makes them again; a camera's frames are gone once seen, and a second run emptied the first one's CSV
    the moment it started."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(st.st_mtime))  # no colons: Windows shares
    kept, n = path.with_name(f"{path.stem}.{stamp}{path.suffix}"), 1
    while os.path.lexists(kept):
        n += 1
        kept = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}")
    with _naming(path):
        os.rename(path, kept)
    return kept


class CutShort:
    """Whether a run ended before its input did (Ctrl-C, SIGTERM, q, a full disk, a broken source), and where its
    outputs went then. Such a run's output never replaces a file already at its name: that may be an earlier
    run's whole one, and a re-run stopped half-way replaced it with half of one. It goes beside it as
    NAME.partial.EXT (an older partial there is replaced); where nothing was there it takes its own name, as
    every output of a stopped run did. Decided when each output is renamed into place, so set `cut` before.
    A run that was not cut short removes an older NAME.partial.EXT of an output it renamed into place (`placed`):
    what an earlier run stopped short left there is out of date beside this run's whole one, and a later `ls` took
    it for this run's."""

    def __init__(self, inputs=()) -> None:
        self.cut = False
        self.aside: dict[str, Path] = {}  # the real path an output would have replaced -> where it went
        self.cleared: dict[str, list[Path]] = {}  # the real path of a whole output -> the older partials removed
        self._inputs = inputs  # the run's own input files: a partial name is never one of them

    def destination(self, path: Path) -> Path:
        if not self.cut or not os.path.lexists(path):
            return path
        partial, n = partial_name(path), 1
        # `--source out.partial.mp4 --output out.mp4`, stopped: its partial video replaced the video it read.
        while file_identity(partial) in self._input_identities():  # None is never among them
            n += 1
            partial = path.with_name(f"{path.stem}.partial-{n}{path.suffix}")
        self.aside[os.path.realpath(path)] = partial
        return partial

    def placed(self, path: Path) -> None:
        """`path` is in place, whole: an older run's partial of it (NAME.partial.EXT, .partial-2, ...) is removed.
        One that is this run's own input, or not a plain file (a link, a folder), stays."""
        if self.cut:
            return
        partial, n = partial_name(path), 1
        while os.path.lexists(partial):
            try:
                plain = stat.S_ISREG(os.lstat(partial).st_mode)
                if plain and file_identity(partial) not in self._input_identities():
                    os.unlink(partial)
                    self.cleared.setdefault(os.path.realpath(path), []).append(partial)
            except OSError:  # not ours to remove (another user's folder): it stays, as before
                pass
            n += 1
            partial = path.with_name(f"{path.stem}.partial-{n}{path.suffix}")

    def cleared_line(self, given: list) -> str | None:
        """The one line naming the older partials removed beside `given` outputs (as the user named them), or
        None."""
        removed = []
        for p in given:
            if p is None or is_stdout(p):
                continue
            for partial in self.cleared.get(os.path.realpath(p), []):
                as_named = os.path.abspath(p) == os.path.realpath(p)
                removed.append(str(Path(p).with_name(partial.name) if as_named else partial))
        if not removed:
            return None
        one = len(removed) == 1
        return (f"removed {', '.join(removed)}: an earlier run stopped short left {'it' if one else 'them'}, and this "
                f"run's {'output is' if one else 'outputs are'} whole")

    def _input_identities(self) -> set:
        if not isinstance(self._inputs, set):  # asked only once a run is cut short and a name is taken
            self._inputs = {key for key in map(file_identity, self._inputs) if key is not None}
        return self._inputs

    def shown(self, path) -> str:
        """An output's place in a message: the partial name where it went there."""
        if is_stdout(path):
            return "standard output"
        went = self.aside.get(os.path.realpath(path))
        if went is None:
            return str(path)
        # As the user named the output, where no link moved it elsewhere.
        return str(Path(path).with_name(went.name) if os.path.abspath(path) == os.path.realpath(path) else went)

    def line(self, given: list) -> str | None:
        """The one line saying which outputs went beside a file already there, or None. given: the outputs as
        the user named them, in the order to name them."""
        moved = [p for p in given if p is not None and not is_stdout(p) and os.path.realpath(p) in self.aside]
        if not moved:
            return None
        return (f"stopped before the end, so what was already at {', '.join(str(p) for p in moved)} is kept "
                f"as it was; this run's {'output is' if len(moved) == 1 else 'outputs are'} beside "
                f"{'it' if len(moved) == 1 else 'them'}: {', '.join(self.shown(p) for p in moved)}")


def folder_gone(folder: Path, path: Path | None = None) -> FacekitError:
    """The one line for an output folder removed or moved while a run goes on."""
    return FacekitError(f"cannot write {path or folder}: the folder {folder} is gone (removed or moved during the "
                        "run?)")


class MadeFolders:
    """The output folders a run makes (`-o out/`, a --recursive run's sub-folders in it), removed at its end where
    it left them empty: a run whose first annotated image could not be written (a full disk, ulimit -f) left an
    empty out/ of its own making. A folder that was there before the run is never removed."""

    def __init__(self) -> None:
        self._made: list[Path] = []  # parents before their sub-folders
        self._seen: set[Path] = set()  # every folder this run found or made

    def make(self, folder: Path) -> None:
        """mkdir(parents=True, exist_ok=True), noting each folder this call made. A folder this run already
        had that is gone now raises `folder_gone`: made again, the output folder a clean-up job removed mid-run
        held only the later photos, and the run said it had written them all (an unmounted share's folder made
        again writes onto the local disk under the mount point)."""
        if folder.is_dir():
            self._seen.add(folder)
            return
        if folder in self._seen:
            raise folder_gone(folder)
        if folder.parent != folder:
            self.make(folder.parent)
        try:
            folder.mkdir()
        except FileExistsError:  # made meanwhile by another run (not ours to remove), or a file there
            if not folder.is_dir():
                raise
            self._seen.add(folder)
            return
        self._made.append(folder)
        self._seen.add(folder)

    def __enter__(self) -> MadeFolders:
        return self

    def __exit__(self, *exc) -> Literal[False]:
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:  # not empty (the run's outputs are in it), or gone
                pass
        self._made.clear()
        return False


def sync_if_replacing(tmp: int | str | os.PathLike, dest: str | os.PathLike) -> None:
    """fsync a temp file (a descriptor, or a path) before it is renamed over `dest`, where `dest` is there. Without it
    a power cut after the rename could leave the new name empty on some file systems (XFS, btrfs, ext4 without
    auto_da_alloc) and the user's earlier file gone with it. A new name costs nothing (nothing of the user's can be
    lost), so a folder run of new photos pays no sync; one that replaces pays ~1.6 ms a 280 KB file here, more on
    an SD card."""
    if not os.path.lexists(dest):
        return
    if isinstance(tmp, int):
        os.fsync(tmp)
        return
    try:
        fd = os.open(tmp, os.O_RDWR)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", follow_links: bool = True,
                 cut: CutShort | None = None, sweep: bool = True, sync: bool = False) -> Iterator:
    """Write to a temp file beside `path` and rename it into place only if the block succeeds,
    so an interrupted run never leaves a half-written file (or clobbers the old one).

    A link is followed and its target replaced, so the link stays one. A target that is not a regular
    file (a pipe, /dev/null, a terminal) is written straight into: renamed over, the device's link (run
    as root, /dev/stdout itself) would have become a plain file. "-" is standard output.
    follow_links=False, for a name the user did not give (a folder run's annotated images): a link there is
    replaced by the file. Followed, a link in the --output folder named like a photo had the file it pointed
    to, anywhere, replaced by an annotated image.
    cut: an output that grows over a run (a folder's JSON Lines, a video's CSV): where the run was cut short,
    it does not replace a file already there (`CutShort`).
    sweep: first remove this output's temp files that killed runs left (`sweep_stale`); False where the caller
    sweeps a folder of outputs at once (a scan of the folder for each of its thousand photos is quadratic).
    sync: fsync before the rename even where no file is replaced (`sync_if_replacing` does where one is): a file
    whose rename is a record that work is done (a batch job's parts) must not be there empty after a power cut."""
    if is_stdout(path):
        stream = sys.stdout.buffer if "b" in mode else _Utf8Stdout() if _console_encoded() else sys.stdout
        yield stream
        stream.flush()
        return
    # Not the locale's: a CSV is UTF-8 wherever it is read.
    text: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8"}
    given = Path(path)
    path = Path(os.path.realpath(path)) if follow_links else Path(os.path.realpath(given.parent), given.name)
    if is_device(path) and not path.is_symlink():
        with _naming(path), open(path, mode, **text) as fh:
            yield fh
        return
    # The folder removed or moved while a run goes on (a clean-up job, a share unmounted), before this file or
    # with its temp file in it: that was a FileNotFoundError traceback, and exit 1 ("some photos failed").
    gone = folder_gone(path.parent, path)
    if sweep:
        sweep_stale(path.parent, [(path.name, TEMP_SUFFIX)])
    try:
        fd, tmp = make_temp(path)
    except FileNotFoundError:
        raise gone from None
    held = os.dup(fd)  # the lock lasts until the rename: closed first, the file is free for a sweep to take
    try:
        with _naming(path), os.fdopen(fd, mode, **text) as fh:
            yield fh
        try:
            dest = cut.destination(path) if cut is not None else path
            if sync:
                os.fsync(held)
            else:
                sync_if_replacing(held, dest)
            make_ordinary(tmp, replacing=dest)
            os.replace(tmp, dest)
            if cut is not None:
                cut.placed(dest)
        except FileNotFoundError:
            raise gone from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(held)


@contextmanager
def _naming(path: Path) -> Iterator:
    """A write that fails (a full disk: ENOSPC, EFBIG) raises an OSError that names no file; name the
    output, so the one line a script prints says which of its outputs could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


@contextmanager
def live_write(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """A file that grows while a camera or stream runs: written in place, a line at a time, so `tail -f`
    shows it and a killed run keeps every line written. A temp file renamed at the end (`atomic_write`)
    would show nothing for as long as the camera is watched, and lose it all to a kill -9 or a power cut.
    "-" is standard output; a link is followed."""
    if is_stdout(path):
        with atomic_write(path, mode) as fh:
            yield fh
        return
    # Line-buffered: each row reaches the file.
    text: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8"}
    with _naming(Path(path)), open(os.path.realpath(path), mode, buffering=1, **text) as fh:
        yield fh


def append_lines(fh, text: str) -> None:
    """Add `text`, whole lines, to an output opened by atomic_write, and send them on now. Into a file, it goes in
    whole or not at all: a write the disk refuses part-way (full, a quota, ulimit -f) raises with the file cut back
    to the lines before, which the caller may keep. Through the text stream, the refused bytes stayed in its buffer
    and were written again, or failed again, when it closed. A pipe or device is written through the stream."""
    fh.flush()
    try:
        fd = fh.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both an OSError and a ValueError
        regular = False
    if not regular:
        fh.write(text)
        fh.flush()
        return
    start = os.lseek(fd, 0, os.SEEK_CUR)
    data = memoryview(text.encode("utf-8"))
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
        raise


def _console_encoded() -> bool:
    """Whether standard output encodes text for a console that is not UTF-8 (PYTHONIOENCODING=cp1252, a Windows
    pipe's ANSI code page, LC_ALL=C with PYTHONUTF8=0)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return codecs.lookup(encoding).name != "utf-8" and getattr(sys.stdout, "buffer", None) is not None


class _Utf8Stdout:
    """Standard output's bytes, written as UTF-8: `--csv - | ...` is data for a program, which reads UTF-8. On a
    cp1252 console a custom head's label "ohne_東京" was a UnicodeEncodeError traceback, later \\u6771 in the CSV.
    Lines end as standard output's own do."""

    def __init__(self) -> None:
        sys.stdout.flush()  # what was printed there before comes first

    def write(self, text: str) -> int:
        sys.stdout.buffer.write(text.replace("\n", os.linesep).encode("utf-8", "surrogateescape"))
        return len(text)

    def flush(self) -> None:
        sys.stdout.buffer.flush()


def make_ordinary(path: str | os.PathLike, replacing: str | os.PathLike | None = None) -> None:
    """mkstemp / mkdtemp make temp files and folders private (0600 / 0700); what they become once
    renamed into place should get the permissions any new file or folder gets (the umask's), or, when it
    is `replacing` a regular file, that file's permissions and group, as `>` in a shell keeps them: a report
    an operator had made readable to a group or a web server (chmod 664, chgrp) was turned private
    (0600 under cron's umask 077) and handed to the run's own group by the first scheduled run."""
    try:
        old = os.lstat(replacing) if replacing is not None else None
    except OSError:
        old = None
    if old is None or not stat.S_ISREG(old.st_mode):
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~mask)
        return
    if hasattr(os, "chown"):  # not on Windows
        for owner in (old.st_uid, -1):  # only root may give the file its old owner; any user a group of theirs
            try:
                os.chown(path, owner, old.st_gid)
                break
            except OSError:
                pass
    os.chmod(path, stat.S_IMODE(old.st_mode) & 0o777)  # after chown, which may clear bits; no set-id bits


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_write(path) as fh:
        # UTF-8 as README promises, readable: a label 'lächeln' was written 'l\u00e4cheln', unlike the CSV's cell.
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
