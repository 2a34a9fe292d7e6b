"""Errors a user can cause. The CLIs print them as one line and exit non-zero."""

import errno
import os


class FacekitError(Exception):
    """Base class: anything raised as this is shown to the user without a traceback."""

    exit_code = 2


class AssetError(FacekitError):
    """A third-party file could not be found in the mirror, the cache or online."""


class ImageError(FacekitError):
    """An image is missing, empty, unreadable or not an image."""


class _NotFound(FileNotFoundError):
    """A FileNotFoundError as open(path) raises it (errno ENOENT, filename the path), whose str() is still facekit's
    one line: OSError's would be "[Errno 2] ...: 'path'" once filename is set."""

    def __init__(self, message: str, filename=None) -> None:
        super().__init__(message)
        self.errno = errno.ENOENT
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # a worker process's error reaches the parent with its filename
        return type(self), (str(self), self.filename)


class ImageNotFoundError(ImageError, _NotFound):
    """An image path that is not there (or a link to nothing): an ImageError, caught with every other user error,
    and a FileNotFoundError, as open(path) raises, so an app's `except FileNotFoundError` (a web handler's 404)
    catches it too. Its message is the same one line; errno is ENOENT, filename the path."""


class ModelError(FacekitError):
    """A trained model is missing, corrupt, or its card does not match the weights."""


class DatasetError(FacekitError):
    """A training or test dataset cannot be used as given."""


class VideoError(FacekitError):
    """A camera, file or stream cannot be opened or read, or a video cannot be written."""


class VideoNotFoundError(VideoError, _NotFound):
    """A video path (or an image sequence's folder) that is not there: a VideoError and a FileNotFoundError, as
    ImageNotFoundError is for a photo."""


class ArgumentError(FacekitError, ValueError):
    """A bad argument to the library (a malformed box, a frame step below 1): a FacekitError, caught with
    every other user error, and still the ValueError these arguments raised before."""


# How the engines say an allocation failed: OpenCV's cv::error ("Insufficient memory"), onnxruntime's and
# C++'s (bad_alloc), the dynamic loader's for a compiled module it could not map (one imported lazily), and
# protobuf's (onnx / onnxruntime parsing a graph: "Arena alloc failed"). Under a memory limit (a small board,
# ulimit -v) these were tracebacks, or "cannot load <model>" lines that sent users to fetch intact files again.
OUT_OF_MEMORY_WORDS = ("Insufficient memory", "Failed to allocate memory", "bad_alloc", "Cannot allocate memory",
                       "failed to map segment from shared object", "Arena alloc failed")


# How a disk says it has no room for a file: full, over the user's quota, or over the file size limit (ulimit -f).
NO_ROOM_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an engine's way of saying it ran out of memory (not a bug, not a bad file)."""
    return isinstance(exc, MemoryError) or any(w in str(exc) for w in OUT_OF_MEMORY_WORDS)


# Here, not in facekit.cli, so that the library's own messages (a stream's, in facekit/video.py) word their counts
# with it too: importing the CLI package sets OPENBLAS_NUM_THREADS for the process and its children.
def counted(n: int, noun: str, plural: str | None = None) -> str:
    """"1 video", "2 videos", "0 videos": the counts in the progress lines are often 1. `plural`: a noun's own
    ("person", "people")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def shown(text: str) -> str:
    r"""A path (or a message naming one) as Arrow, CSV and JSON readers can hold it. A file name that is not UTF-8
    (an old archive's Latin-1 "caf\xe9.jpg") reaches Python as surrogate escapes, which pyarrow refuses: one such
    name ended a whole facekit-batch job in a UnicodeEncodeError traceback, exit 1, before any work. Its odd bytes
    are shown as \xNN here; the file is still opened by its real name."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def loops(path) -> bool:
    """Whether `path` is a link that leads back to itself (self.jpg -> self.jpg, a -> b -> a)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


# A line break in a file's name ("a\n[INFO] stopped.jpg") split the line naming it in two, the second read as a
# line of facekit's own; other control characters (ESC) are a terminal's commands. Tabs are left as they are.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09} | {0x0A: "\\n", 0x0D: "\\r"}


def one_line(text: str) -> str:
    r"""A console or log line that names a user's file, kept on one line: a line break in it as \n (\r), any
    other control character but a tab as \xNN, and a name's byte that is not UTF-8 as \xNN (`shown`): its raw
    byte made the line no longer UTF-8 ("caf\ufffd.jpg" in a terminal, a UnicodeDecodeError for a reader)."""
    try:
        text = shown(text)
    except UnicodeEncodeError:  # a lone surrogate no file name gives (JSON's "\ud800"): the error line must not fail
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.translate(_CONTROL)


NAME_MAX = 255  # bytes in one part of a path: ext4's, XFS's, Btrfs's, NTFS's (in UTF-16 units), APFS's


def name_too_long_line(exc: OSError) -> str:
    """The line for an ENAMETOOLONG: the name, and which of its parts (or its whole length) is over the limit."""
    if not exc.filename:
        return f"a file name too long for the file system ({exc.strerror or exc})"
    name = os.fsencode(exc.filename)
    longest = max(len(part) for part in name.split(b"/"))
    why = (f"one part of it is {longest:,} bytes, over the {NAME_MAX} a file system allows a name" if longest > NAME_MAX
           else f"it is {len(name):,} bytes in all, over what the system allows a path")
    return f"{exc.filename}: a name too long ({why}): give a shorter one"


def native_path(path) -> str | None:
    r"""The str that OpenCV, LiteRT and onnxruntime open `path` by (they take a str's UTF-8 bytes for the file's
    name), or None when the name's bytes are not UTF-8 (a Latin-1 "caf\xe9.mp4"). Under a locale that is not
    UTF-8 (LC_ALL=C with PYTHONUTF8=0, a Latin-1 one) Python decodes a name such as vidéo.mp4 to a str whose UTF-8
    bytes are another name, or to surrogate escapes, on which these bindings crashed the process (OpenCV,
    SIGSEGV) or raised a TypeError traceback (LiteRT, after a whole training run); its real bytes decoded as UTF-8
    name the file for them."""
    try:
        return os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return None


def near_names(path) -> str:
    """" (did you mean X?)" naming the files beside a missing `path` that it is the start of with an extension
    added ("photos/obama" for obama.jpg), or that differ from it in case only; else, for a relative `path`, the
    folder it was looked for in; else "". "no such file" alone left a user who typed a name as a file manager shows
    it (extensions hidden) looking at a file that is there, and an operator whose cron job or systemd service
    (started in the home folder, or in /) named its photos relative to the project's folder wondering why."""
    import glob
    import os
    from pathlib import Path

    path = Path(path)
    if any(c in str(path) for c in "*?"):  # not "[": a name such as "photo[1].jpg" is more often meant as written
        # A quoted "photos/*.jpg" (or one given to analyze()) is a name, never expanded: "no such file" of a pattern
        # that matches a folder of photos read as if they were not there.
        try:
            matched = len(glob.glob(str(path)))
        except (OSError, ValueError):
            matched = 0
        if matched:
            files = f"{matched} files match" if matched != 1 else "1 file matches"
            return (f" (a pattern, which is not expanded here: {files} it; glob.glob() gives them in Python, and a "
                    f"shell expands it left unquoted)")
    try:
        where = "" if path.is_absolute() else f" (looked for in the current folder, {os.getcwd()})"
    except OSError:  # the current folder removed under the process
        where = " (looked for in the current folder, which is gone)"
    try:
        if not path.name or not path.parent.is_dir():
            return where
        near = sorted({p for p in path.parent.glob(glob.escape(path.name) + ".*") if p.is_file()}
                      # Case, or a space at either end (pasted with the name): "photo.jpg : no such file".
                      | {p for p in path.parent.iterdir() if p.name.strip().lower() == path.name.strip().lower()
                         and p != path})
        # The first word of a name with spaces left unquoted (`-i my photo.jpg`: "my" and "photo.jpg", each "no
        # such file", nothing said of the spaces).
        spaced = [] if near else sorted(p for p in path.parent.glob(glob.escape(path.name) + " *") if p.is_file())
    except OSError:  # an unreadable folder: the plain "no such file" stands
        return where
    if spaced:
        import shlex

        names = " or ".join(shlex.quote(str(p)) for p in spaced[:3]) + (" or ..." if len(spaced) > 3 else "")
        return f" (did you mean {names}? a name with spaces must be quoted)"
    if not near:
        return where
    return f" (did you mean {' or '.join(str(p) for p in near[:3])}{' or ...' if len(near) > 3 else ''}?)"
