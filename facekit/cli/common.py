"""Pieces every CLI shares: options for detector / heads / landmarks, building the pipeline,
display detection, and turning user errors into one line and an exit code."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import functools
import io
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from ..errors import NO_ROOM_ERRNOS, FacekitError, loops, name_too_long_line, one_line, out_of_memory


# Where the [INFO] lines and summaries go: standard output, unless a result is written there (`-j -`,
# `--csv -`), where they would break the JSON or CSV a pipe reads; then standard error.
_human = {"stream": "stdout"}


def results_to_stdout() -> None:
    if sys.stdout is None:  # `>&-`: the JSON or CSV went nowhere, and its write ended the run in a traceback
        raise FacekitError("results go to standard output (-), which is closed: name a file instead")
    _human["stream"] = "stderr"


def fill_closed_streams() -> None:
    """A script run with standard output or error closed (`>&-`, `2>&-`, as some cron jobs and services do) has
    sys.stdout / sys.stderr None, and print(file=None) writes to the other one: [INFO] and [WARN] lines went into
    `-j -`'s JSON. A closed descriptor is also the next file opened, where a native library's line for it would
    land. Both point at /dev/null instead, where such a user meant them to go."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")


def _console_text(exc: UnicodeError) -> tuple[str, int]:
    r"""What a console that cannot show a character prints for it: \xNN for a byte of a file name that is not
    UTF-8 (as facekit.errors.shown writes it in JSON and CSV), \uNNNN for the rest (a Windows cp1252 console and
    a Japanese name)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    # Not ascii(c): it writes é as \xe9, which read as the odd byte of a name that is not UTF-8 (caf\xe9.jpg).
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                   else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
                   for c in exc.object[exc.start:exc.end]), exc.end


def _console_bytes(exc: UnicodeError) -> tuple[str | bytes, int]:
    """As _console_text, but a file name's bytes go out as they are, as Python's surrogateescape writes them
    (the C locale's choice: `ls` shows them so, and a UTF-8 terminal shows the name right)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    odd = exc.object[exc.start:exc.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in odd):
        return bytes(ord(c) - 0xDC00 for c in odd), exc.end
    return _console_text(exc)


def console_streams() -> None:
    """Every line prints whatever the console's encoding. Standard output is strict by default: a photo named
    Müller_café.jpg or 東京.png ended a run under PYTHONIOENCODING=ascii, and 東京 on a Windows cp1252 console, in
    a UnicodeEncodeError traceback at its "[INFO] ... 1 face" line, before its JSON and image were written. What
    a stream cannot show is escaped; under the C locale (surrogateescape) a file name's bytes still go out raw."""
    # Registered here, not at import: importing facekit changes nothing in the process (registering again is a
    # replacement by the same functions).
    codecs.register_error("facekit-console-text", _console_text)
    codecs.register_error("facekit-console-bytes", _console_bytes)
    raw = getattr(sys.stdout, "errors", None) == "surrogateescape"
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "backslashreplace", "surrogateescape"):
            with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
                # Any stream that has reconfigure (a TextIOWrapper, or a wrapper passing it on); TextIO lacks it.
                cast(io.TextIOWrapper, stream).reconfigure(
                    errors="facekit-console-bytes" if raw else "facekit-console-text")


def where(path) -> str:
    """An output's place in a message: its path, or "standard output"."""
    from ..records import is_stdout

    return "standard output" if is_stdout(path) else str(path)


def say(text: str) -> None:
    """A line for the person at the terminal (summaries, tables)."""
    stream = getattr(sys, _human["stream"])
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:  # `... | head`: these lines lost their reader; the run's outputs have not
        reader_gone(stream)


def reader_gone(stream=None) -> None:
    """The reader of standard output (or `stream`) has gone (`... | head`): what is written there from now
    on goes nowhere, so neither a later line nor the flush at exit fails again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, (stream or sys.stdout).fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no standard output to replace
        pass


class _LogOnly:
    """Standard output for work that writes only its log there, Keras's included: a reader that goes away ends
    the log, not the work."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            reader_gone(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            reader_gone(self._stream)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def log_only_stdout():
    """`train_mask_detector.py ... | head -1`: the trainer's second line met a closed pipe, and the run ended there
    with exit 0, no word and no model. Its lines now go nowhere once their reader has gone; the training goes on."""
    if sys.stdout is None:
        yield
        return
    own = sys.stdout
    sys.stdout = _LogOnly(own)
    try:
        yield
    finally:
        if sys.stdout.__class__ is _LogOnly:
            sys.stdout = own


# The line a run ends with when the reader of its results on standard output (`-j -`, `--csv -`) has gone.
READER_CLOSED = "standard output was closed by its reader"
READER_STOPPED = f"{READER_CLOSED}: stopped there"
READER_GONE = f"{READER_STOPPED}, the other outputs kept"


# Each one line, whatever the file names in it (facekit.errors.one_line).
def info(message: str) -> None:
    say(f"[INFO] {one_line(message)}")


def warn(message: str) -> None:
    print(f"[WARN] {one_line(message)}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> int:
    print(f"[ERROR] {one_line(message)}", file=sys.stderr, flush=True)
    return code


# The machine's fault, not the program's: a full disk or quota, a file over the size limit, a read-only
# or failing disk, permissions changed during a run. One line, like any bad input.
WRITE_ERRNOS = NO_ROOM_ERRNOS | {errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}


def guarded(main):
    """Wrap a CLI main(): user errors and a disk that refuses the outputs -> one line + exit 2, Ctrl-C
    or SIGTERM -> exit 130 or 143, never a traceback for any of them. Anything else is a bug and keeps its
    traceback."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        from ..signals import clear_stop, restore_handlers, set_stop_handler, stop_handler, stop_requested

        fill_closed_streams()
        console_streams()
        clear_stop()
        previous = set_stop_handler(stop_handler)  # SIGTERM ends a run as Ctrl-C does
        _human["stream"] = "stdout"  # until this run writes a result there
        try:
            # Before any work, so a bad setting is the run's one line. --help and --version still answer: the
            # help is where one looks up what a setting takes.
            if not {"-h", "--help", "--version"} & {str(a) for a in (sys.argv[1:] if argv is None else argv)}:
                from ..runtime import check_settings

                check_settings()
            code = main(argv)
            # A Ctrl-C that third-party code swallowed (facekit.signals.stop_handler) still ends as one.
            return _interrupted() if stop_requested() and code == 0 else code
        except KeyboardInterrupt:
            return _interrupted()
        except Exception as exc:
            if stop_requested():  # e.g. the ImportError a Ctrl-C inside a compiled module's import becomes
                return _interrupted()
            if isinstance(exc, FacekitError):
                return fail(str(exc), exc.exit_code)
            if isinstance(exc, BrokenPipeError):  # e.g. `... | head`, once every output is finalized
                reader_gone()
                return 0
            if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
                # pthread_create refused: under ulimit -v a thread's stack (8 MB by default) no longer fits, or
                # the process / container thread limit is reached. It came out of the video loop as a traceback.
                return fail("cannot start a thread (out of memory for its stack, or the process's thread limit "
                            "reached): free some memory, or raise the limit (ulimit -v, ulimit -u, the container's)")
            if out_of_memory(exc):
                return fail(out_of_memory_line(exc))
            if isinstance(exc, FileNotFoundError) and exc.filename is None and _current_folder_gone():
                # A relative name resolved in a folder removed under the shell or the job (a clean-up of dated
                # folders, a share unmounted): os.path.abspath's FileNotFoundError, which names nothing.
                return fail("the current folder is gone (removed or moved): cd to a folder that exists, or name "
                            "the inputs and outputs by absolute paths")
            if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
                # A name over the file system's limit, input or output (`-j` of 300 letters): a traceback from
                # the first look at it (Path.is_dir, is_symlink), before any work.
                return fail(name_too_long_line(exc))
            if not isinstance(exc, OSError) or exc.errno not in WRITE_ERRNOS:
                raise
            # The outputs' temp files are gone already (atomic writes); what was complete stays.
            return fail(write_error_line(exc))
        finally:
            restore_handlers(previous)

    return wrapper


def out_of_memory_line(exc: BaseException, what: str = "") -> str:
    """The line for an exception `out_of_memory` takes for one: the engine it came from, what it was working on
    (`what`: a photo and its size), and what to do."""
    engine = type(exc).__module__.split(".")[0]
    where = {"cv2": "OpenCV", "onnxruntime": "onnxruntime"}.get(engine) or (
        f"loading {exc.name}" if isinstance(exc, ImportError) and exc.name else str(exc) or "Python")
    return (f"out of memory ({where}{', ' + what if what else ''}): free some, or raise the process's memory limit "
            "(ulimit -v, the container's); FACEKIT_THREADS=1 needs less")


def write_error_line(exc: OSError) -> str:
    """The line for an OSError in WRITE_ERRNOS: the file, and why."""
    if exc.errno in (errno.EACCES, errno.EPERM) and exc.filename:
        # The outputs' folders were checked before any work, so this is most often a file read: a model
        # folder or cache another user made under umask 077, which "cannot write ..." sent one to fix.
        return (f"permission denied: {exc.filename} (this user may not read or write it, or may not look into a "
                "folder above it: check their owners and permissions)")
    return f"cannot write {exc.filename or 'an output'}: {exc.strerror or exc}"


def _current_folder_gone() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _interrupted() -> int:
    from ..signals import say_interrupted

    return say_interrupted()


class ArgumentParser(argparse.ArgumentParser):
    """A bad option is one [ERROR] line, as --help's exit status says: argparse's own was the usage and a line
    starting "facekit-image: error:", which a log searched for [ERROR] (a cron job's) did not show."""

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)
        # `--start -0:05` was argparse's "expected one argument": a value starting "-" that is no negative number is
        # taken for an option. A TIME option's value is joined to it, so the time's own check says what is wrong.
        given = self._argv
        for i, arg in enumerate(given[:-1]):
            if arg == "--":
                break
            action = self._option_string_actions.get(arg) if isinstance(arg, str) else None
            nxt = given[i + 1]
            if action is not None and action.metavar == "TIME" and isinstance(nxt, str) and nxt[:2].startswith("-") \
                    and nxt[1:2].isdigit():
                args = [*given[:i], f"{arg}={nxt}", *given[i + 2:]]
                break
        parsed = super().parse_known_args(args, namespace)
        if hasattr(parsed[0], "commercial_use"):
            _commercial_use(self, parsed[0])
        # `-i *.jpg` beside a photo named "-old.jpg" read it as `-o ld.jpg`: an annotated image written to ld.jpg
        # (over a file of that name), "-joe.jpg" a JSON file named oe.jpg, with no word of the photo.
        for arg in self._argv:
            if arg == "--":  # what follows is no option: `facekit-batch -o out -- -old.jpg`
                break
            action = self._option_string_actions.get(arg[:2]) if isinstance(arg, str) and len(arg) > 2 else None
            if action is not None and not arg.startswith("--") and action.nargs != 0 and os.path.isfile(arg):
                self.error(f"{arg} was read as {arg[:2]} {shlex.quote(arg[2:])}")
        return parsed

    # Options that name a file or folder, whatever their type (some stay str: Path("out/") drops the "/").
    PATH_DESTS = frozenset({"image", "output", "json", "source", "csv", "summary", "timeline", "model", "list",
                            "dataset", "test_dataset", "plot", "soft_labels", "init_model", "ensemble", "inputs"})

    def _get_value(self, action, arg_string):
        # `-i "$PHOTO"` with PHOTO unset: Path("") is ".", and the run took every photo in the current folder (with
        # --recursive, a home folder's); `-o ""` was "would write over the input photo.jpg", `-j ''` "--json . is
        # a folder", of a "." nobody typed.
        if isinstance(arg_string, str) and not arg_string.strip() and (action.type is Path
                                                                       or action.dest in self.PATH_DESTS):
            raise argparse.ArgumentError(action, "an empty name (an unset shell variable?): give a file or folder")
        return super()._get_value(action, arg_string)

    def _get_option_tuples(self, option_string):
        # A hidden option (the tutorial's --face) must not take a shown one's abbreviation: "--fa", --fast until
        # --face came, became "ambiguous option: --fa could match --fast, --face", naming an option --help hides.
        matches = super()._get_option_tuples(option_string)
        shown = [m for m in matches if m[0].help is not argparse.SUPPRESS]
        return shown if shown else matches

    def print_help(self, file=None):
        # `--help >&-`: argparse writes what is meant for a closed standard output to standard error, and the 70
        # lines of help landed in a cron job's error log.
        if file is None and sys.stdout is None:
            return
        super().print_help(file)

    def error(self, message):
        # A file named like an option ("-dash.jpg", which `-i *.jpg` hands over as it is) left argparse saying
        # "expected at least one argument" (one was given) or "unrecognized arguments", nothing about the file.
        # An output so named (`-j -out.json`, `-o -dash.png`) is not there yet, and the option to name it with is
        # the one before it: "--image=-dash.png" was offered for -o's.
        argv = getattr(self, "_argv", [])
        argv = argv[:argv.index("--")] if "--" in argv else argv  # what follows was taken as named
        dashed = []
        for i, arg in enumerate(argv):
            if not isinstance(arg, str) or not arg.startswith("-") or arg in ("-", "--") \
                    or arg.split("=", 1)[0] in self._option_string_actions:
                continue
            before = self._option_string_actions.get(argv[i - 1]) if i else None
            if before is None or before.nargs == 0 or before.dest not in self.PATH_DESTS or arg.startswith("--"):
                before = None  # `-j --no-dispaly`: a mistyped option more likely than a name
            if before is not None or os.path.isfile(arg):
                dashed.append((arg, before))
        if dashed:
            arg, before = dashed[0]
            image = next((a for a in self._actions if a.dest == "image"), None)
            option = before or image
            message += f": {arg} is a file" if os.path.isfile(arg) else f": {arg} is read as an option"
            # Quoted as a shell takes it: "./-my photo.jpg" pasted back was two words.
            message += f": name it {shlex.quote('./' + arg)}" + (" (for a shell pattern, ./*.jpg)"
                                                                 if option in (None, image) else "")
            if option is not None:
                message += f" or {option.option_strings[-1]}={shlex.quote(arg)}"
        else:
            message += self._split_name_hint(message) or self._stray_path_hint(message)
        self.exit(2, f"[ERROR] {one_line(message)} (see {self.prog} --help)\n")

    def _split_name_hint(self, message: str) -> str:
        """`--source my clip.mp4`, a name with spaces left unquoted (a phone's "VID 2026-11-30.mp4", a download's
        "Talk (1080p).mp4"), was "unrecognized arguments: clip.mp4", nothing said of the spaces: where an option's
        value and the words after it name a file, the line gives it quoted."""
        argv = getattr(self, "_argv", [])
        if not message.startswith("unrecognized arguments:"):
            return ""
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                continue
            option, _, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            action = self._option_string_actions.get(option)
            if action is None or action.nargs == 0 or action.dest not in self.PATH_DESTS:
                continue
            words = [value] if value else []
            for word in argv[i + 1:]:
                if not isinstance(word, str) or words and word.startswith("-"):
                    break
                words.append(word)
                if len(words) > 1 and os.path.exists(" ".join(words)):
                    return f": a name with spaces must be quoted: {option} {shlex.quote(' '.join(words))}"
        return ""

    def _stray_path_hint(self, message: str) -> str:
        """`detect_mask_video.py clip.mp4`, the file given without its option as most tools take it, was
        "unrecognized arguments: clip.mp4" (or "required: -i/--image"): the option it needs is named."""
        wanted = next((a for a in self._actions if a.dest in ("image", "source", "dataset") and a.option_strings),
                      None)
        argv = getattr(self, "_argv", [])
        if wanted is None or not (message.startswith("unrecognized arguments:") or "required:" in message
                                  and "/".join(wanted.option_strings) in message):
            return ""
        stray = []
        for i, arg in enumerate(argv):
            if not isinstance(arg, str) or arg.startswith("-") or not os.path.exists(arg):
                continue
            before = argv[i - 1] if i else ""
            action = self._option_string_actions.get(before) if before.startswith("-") else None
            if action is not None and action.nargs != 0:  # the value of an option before it
                continue
            stray.append(arg)
        if not stray or message.startswith("unrecognized") and stray[0] not in message:
            return ""
        return f": name the file with its option, {wanted.option_strings[0]} {shlex.quote(stray[0])}"


def prog_name(script: str) -> str:
    """The name --help shows: the console command (facekit-image, ...) or `python -m facekit image` when run as
    one, else the script."""
    invoked = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if invoked.startswith("python -m facekit "):  # set by facekit.__main__
        return invoked
    invoked = os.path.basename(invoked)
    return invoked if invoked.startswith("facekit-") else script


def example_command(script: str) -> str:
    """How --help's examples start: the command as it was run (`facekit-image`, `python detect_mask_image.py`,
    `python ~/facekit/detect_mask_image.py` from another folder)."""
    prog = prog_name(script)
    if prog != script or not script.endswith(".py"):
        return prog
    # Run from another folder, "python train_mask_detector.py" named a file that is not there: the trainer's
    # "run it: python detect_mask_image.py ..." and the card's command failed as given ("can't open file").
    invoked = sys.argv[0] if sys.argv and sys.argv[0] else script
    with contextlib.suppress(OSError):
        here = os.path.realpath(os.getcwd())
        if os.path.basename(invoked) == script and os.path.realpath(os.path.dirname(os.path.abspath(invoked))) != here:
            return f"python {shlex.quote(invoked)}"
    return f"python {script}"


# Each script's word in its console script (facekit-image) and in `python -m facekit image`.
_SUBCOMMANDS = {"detect_mask_image.py": "image", "detect_mask_video.py": "video", "train_mask_detector.py": "train"}


def sibling_command(script: str, other: str) -> str:
    """The command that runs the script `other` the way `script` was run (`facekit-train` -> `facekit-image`,
    `python -m facekit image` -> `python -m facekit video`, `python detect_mask_image.py` -> ...video.py), for a
    message that sends the user on to it."""
    this, that = _SUBCOMMANDS[script], _SUBCOMMANDS[other]
    return (example_command(script).replace(script, other).replace(f"facekit-{this}", f"facekit-{that}")
            .replace(f"facekit {this}", f"facekit {that}"))


class _Version(argparse.Action):
    """--version: facekit's and its engines' versions, for a bug report, read only when asked: building the
    parser imports nothing."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import platform
        from importlib.metadata import PackageNotFoundError, version

        from .. import __version__

        try:  # whichever wheel brought it (opencv-python, -headless, -contrib)
            import cv2

            engines = [f"OpenCV {cv2.__version__}"]
        except ImportError:
            engines = ["OpenCV not installed"]
        for package in ("ai-edge-litert", "onnxruntime", "numpy"):
            try:
                engines.append(f"{package} {version(package)}")
            except PackageNotFoundError:
                engines.append(f"{package} not installed")
        print(f"facekit {__version__} (Python {platform.python_version()}; {', '.join(engines)})")
        parser.exit()


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action=_Version, help="print facekit's and its engines' versions and exit")


def exit_status_help(partly: str | None = None) -> str:
    """--help's exit codes, the same in every script; `partly` says what exit 1 means where a run can go on past
    a bad source. It starts with a blank line: it follows the examples, and argparse prints an epilog as given."""
    return ("\nexit status:\n  0    done\n"
            + (f"  1    {partly}\n" if partly else "")
            + "  2    an error, one [ERROR] line: a bad option or input, an output that cannot be written\n"
              "  130  interrupted by Ctrl-C (143 by SIGTERM, 129 by SIGHUP): what was done is kept")


def progress_bar(iterable=None, **options):
    """A tqdm bar on standard error, drawn on a terminal only (logs stay clean), and none at all when standard
    error is closed (`2>&-`: sys.stderr is None, which tqdm writes to anyway, ending the run in an error)."""
    from tqdm import tqdm

    # A terminal of no size (`script -qc` or a CI runner's pty: 0 columns, or 0 rows where only the width was set)
    # drew no bar but an empty line where it was. Such a terminal is a log's, which gets no bar.
    try:
        sized = min(os.get_terminal_size(sys.stderr.fileno())) > 0
    except (AttributeError, OSError, ValueError):  # no file descriptor (a StringIO), or not a terminal at all
        sized = True
    return tqdm(iterable, file=sys.stderr, disable=None if sys.stderr and sized else True, dynamic_ncols=True,
                **options)


def has_display() -> bool:
    """cv2.imshow without a display aborts the process (uncatchable), so ask before showing."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        if os.environ.get("WAYLAND_DISPLAY"):
            return True
        return bool(os.environ.get("DISPLAY")) and _x_display_opens()
    return True


def window_title(name: str, keys: str) -> str:
    """A window's title: "facekit: NAME (KEYS)", which photo or video it shows and how to leave it. A name that is not
    UTF-8 (a Latin-1 camera card's) is shown as the run's lines show it: as the title, it kept the window from
    opening at all."""
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return f"facekit: {shown} ({keys})"


def window_closed(name: str) -> bool:
    """Whether the user closed window `name` (its title bar's x). OpenCV's Qt windows (the opencv-python
    wheels) raise "NULL guiReceiver" instead of answering once the last window is closed: that was a
    traceback, exit 1, and the video's --output lost."""
    import cv2

    try:
        return cv2.getWindowProperty(name, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:
        return True


# OpenCV's Qt window puts a toolbar above the picture and a status bar below it, and its resizeWindow sizes the
# whole window: a picture fitted without them was letterboxed in a window too small for it (measured: 40 + 22).
QT_CHROME_PX = 62
SCREEN_SHARE = 0.9  # of the screen a fitted window may take: a desktop's panels and title bars need the rest
_fitted: set[str] = set()  # windows already sized


def show_image(name: str, image) -> None:
    """cv2.imshow into a window no bigger than the screen. OpenCV sizes a window to its picture, so a 2048-px
    photo, or a 1080p camera on a 1366x768 laptop, opened a window past the screen's edges, with a third of the
    picture (and its labels) out of sight and the corner to resize it out of reach. Such a picture gets a window
    scaled to fit, which the user can still resize (the picture follows, its shape kept); one that fits is
    shown pixel for pixel as before."""
    import cv2

    if name not in _fitted:
        _fitted.add(name)
        screen = screen_size()
        height, width = image.shape[:2]
        chrome = QT_CHROME_PX if _ui_framework(cv2) == "QT" else 0
        if screen is not None:
            room_w, room_h = screen[0] * SCREEN_SHARE, screen[1] * SCREEN_SHARE - chrome
            scale = min(room_w / width, room_h / height)
            if scale < 1:
                cv2.namedWindow(name, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_EXPANDED)
                cv2.resizeWindow(name, max(1, round(width * scale)), max(1, round(height * scale)) + chrome)
    cv2.imshow(name, image)


def close_windows() -> None:
    import cv2

    cv2.destroyAllWindows()
    _fitted.clear()


def _ui_framework(cv2) -> str:
    try:
        return cv2.currentUIFramework()  # OpenCV 4.6 and later
    except (AttributeError, cv2.error):
        return "QT"  # the opencv-python wheels' windows


def screen_size() -> tuple[int, int] | None:
    """The X screen's width and height in pixels, or None where it cannot be asked (no X display: Wayland
    without XWayland, macOS, Windows), where a window keeps OpenCV's own size."""
    if not (sys.platform.startswith("linux") or "bsd" in sys.platform) or not os.environ.get("DISPLAY"):
        return None
    import ctypes

    with _x_connection() as x:
        screen = _x_screen(*x) if x is not None else None
        if screen is None:
            return None
        # xcb_screen_t: five 32-bit ids and masks, then width_in_pixels and height_in_pixels (16-bit each)
        width, height = (ctypes.c_uint16 * 2).from_address(screen + 20)
        return (width, height) if width and height else None


def _x_screen(xcb, connection, number: int) -> int | None:
    """The address of the xcb_screen_t that DISPLAY names (its first 32 bits: the root window's id), or None."""
    import ctypes

    class ScreenIterator(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]

    xcb.xcb_get_setup.restype = ctypes.c_void_p
    xcb.xcb_get_setup.argtypes = [ctypes.c_void_p]
    xcb.xcb_setup_roots_iterator.restype = ScreenIterator
    xcb.xcb_setup_roots_iterator.argtypes = [ctypes.c_void_p]
    xcb.xcb_screen_next.argtypes = [ctypes.POINTER(ScreenIterator)]
    screens = xcb.xcb_setup_roots_iterator(xcb.xcb_get_setup(connection))
    for _ in range(number):  # DISPLAY=:0.1 names the second screen
        xcb.xcb_screen_next(ctypes.byref(screens))
    return screens.data if screens.rem > 0 and screens.data else None


X_TREE_DEPTH, X_TREE_WINDOWS = 8, 50_000


def x_window_id(title: str) -> int | None:
    """The X id of this process's window titled `title` (by its _NET_WM_PID and _NET_WM_NAME, which Qt sets) anywhere
    in the screen's tree of windows (a window manager's frames hold it one or more levels down); 0 where the X
    server answers but has no such window (not yet there, or already destroyed); None where it cannot be asked."""
    import ctypes

    with _x_connection() as x:
        screen = _x_screen(*x) if x is not None else None
        if screen is None:
            return None
        xcb, connection, _ = x
        _xcb_prototypes(xcb)
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]

        def replies(call, *calls):
            """Each call's reply (NULL where the server answered with an error: a window gone meanwhile), all
            asked before any answer is read: one round trip, not one a window (a remote display's ~50 ms each)."""
            cookies = [getattr(xcb, call)(connection, *args) for args in calls]
            return [getattr(xcb, f"{call}_reply")(connection, cookie, None) for cookie in cookies]

        atoms = []
        for got in replies("xcb_intern_atom", (1, 11, b"_NET_WM_PID"), (1, 12, b"_NET_WM_NAME")):
            atoms.append(ctypes.c_uint32.from_address(got + 8).value if got else 0)
            libc.free(got)
        if not all(atoms):
            return None  # a server that has never heard of _NET_WM_PID: no window manager hints to go by

        def props(windows, atom) -> list[bytes]:
            values = []
            for got in replies("xcb_get_property", *[(0, window, atom, 0, 0, 1024) for window in windows]):
                size = xcb.xcb_get_property_value_length(got) if got else 0
                values.append(ctypes.string_at(xcb.xcb_get_property_value(got), size) if got else b"")
                libc.free(got)
            return values

        def children(windows) -> list[int]:
            ids = []
            for got in replies("xcb_query_tree", *[(window,) for window in windows]):
                if got:
                    ids += (ctypes.c_uint32 * xcb.xcb_query_tree_children_length(got)).from_address(
                        xcb.xcb_query_tree_children(got))
                libc.free(got)
            return ids

        # Level by level, each one round trip; a desktop has a few hundred windows, the caps only guard a loop.
        windows: list[int] = []
        level = [ctypes.c_uint32.from_address(screen).value]
        for _ in range(X_TREE_DEPTH):
            level = children(level)
            if not level or len(windows) > X_TREE_WINDOWS:
                break
            windows += level
        pid = os.getpid().to_bytes(4, sys.byteorder)
        ours = [window for window, value in zip(windows, props(windows, atoms[0])) if value == pid]
        names = dict(zip(ours, props(ours, atoms[1])))
        for window, value in names.items():
            if value == title.encode("utf-8", "replace"):
                return window
        # The window process has one window: a title Qt shows altered ("[*]" is its placeholder) is still it.
        named = [window for window, value in names.items() if value]
        return named[0] if len(named) == 1 else 0


def x_window_exists(window: int) -> bool:
    """Whether X window `window` is still there (True where that cannot be asked). Another program can destroy a
    window (xdotool windowclose, a window manager's own kill): OpenCV's Qt window never learns it, and a run went
    on with no window to press q in, a camera's for ever."""
    with _x_connection() as x:
        if x is None:
            return True
        xcb, connection, _ = x
        _xcb_prototypes(xcb)
        got = xcb.xcb_get_window_attributes_reply(connection, xcb.xcb_get_window_attributes(connection, window),
                                                  None)
        if got:
            import ctypes

            ctypes.CDLL(None).free(ctypes.c_void_p(got))
            return True
        return xcb.xcb_connection_has_error(connection) != 0  # a broken connection is LOST's to tell


def _xcb_prototypes(xcb) -> None:
    import ctypes as c

    for call in ("xcb_intern_atom", "xcb_query_tree", "xcb_get_property", "xcb_get_window_attributes"):
        getattr(xcb, call).restype = c.c_uint  # a cookie: one 32-bit sequence number, returned by value
        getattr(xcb, f"{call}_reply").restype = c.c_void_p
        getattr(xcb, f"{call}_reply").argtypes = [c.c_void_p, c.c_uint, c.c_void_p]
    xcb.xcb_intern_atom.argtypes = [c.c_void_p, c.c_uint8, c.c_uint16, c.c_char_p]
    xcb.xcb_query_tree.argtypes = xcb.xcb_get_window_attributes.argtypes = [c.c_void_p, c.c_uint32]
    xcb.xcb_get_property.argtypes = [c.c_void_p, c.c_uint8] + [c.c_uint32] * 5
    xcb.xcb_get_property_value.restype = xcb.xcb_query_tree_children.restype = c.c_void_p
    xcb.xcb_get_property_value.argtypes = xcb.xcb_query_tree_children.argtypes = [c.c_void_p]
    xcb.xcb_get_property_value_length.argtypes = xcb.xcb_query_tree_children_length.argtypes = [c.c_void_p]


def _x_display_opens() -> bool:
    """Whether the X display in DISPLAY accepts this process, asked the way OpenCV's Qt will (libxcb, with
    XAUTHORITY). A DISPLAY left from an ssh -X session whose forwarding is gone, or one another user owns
    (su, sudo), made Qt abort the process (exit 134, "could not connect to display"), every output lost."""
    with _x_connection() as x:
        return x is not None


@contextlib.contextmanager
def _x_connection():
    """libxcb, a connection to DISPLAY's X server and the screen number DISPLAY names, or None where libxcb is
    missing (Qt's xcb plugin cannot load either) or the server refuses this process; disconnected after."""
    import ctypes
    import ctypes.util

    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    except OSError:
        yield None
        return
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    number = ctypes.c_int(0)
    connection = xcb.xcb_connect(None, ctypes.byref(number))  # never NULL: an error connection when it fails
    try:
        yield None if xcb.xcb_connection_has_error(connection) else (xcb, connection, number.value)
    finally:
        xcb.xcb_disconnect(connection)


def one_file(option: str, example: str):
    """The type of an option that writes one file. A name ending in a separator says a folder, as -o's does:
    `-j results/` (or `-p plots/`), that folder not there yet, wrote a file named `results`."""
    def path(value: str) -> Path:
        if len(value) > 1 and value.endswith(tuple({os.sep, os.altsep or os.sep})):
            raise argparse.ArgumentTypeError(f"{value}: a folder's name (it ends in {os.sep}); {option} writes one "
                                             f"file: name one in a folder that exists, e.g. {value}{example}")
        return Path(value)

    return path


def number(value: str, kind=float):
    """`value` as an int or float for an argparse type; a word is "expected a number" (argparse's own wording
    named the type function: "invalid positive_int value: 'x'")."""
    try:
        return kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'a whole number' if kind is int else 'a number'}, got {value!r}") from None


def at_least(least: int):
    """An argparse type: a whole number of at least `least` (--max-per-class 0 used every image, --synth-masks -1
    was a traceback)."""
    def whole(value: str) -> int:
        v = number(value, int)
        if v < least:
            raise argparse.ArgumentTypeError(f"must be {least} or more, got {value}")
        return v

    return whole


positive_int = at_least(1)  # --every, --workers, --max-frames, ...


def probability(value: str) -> float:
    v = number(value)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return v


def rotation(value: str) -> int:
    """--rotate's degrees, clockwise: 0, 90, 180 or 270 (-90 is 270, as ffmpeg's and OpenCV's users write it)."""
    from ..preprocess import check_rotation

    try:
        return check_rotation(number(value, int))
    except (argparse.ArgumentTypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be 90, 180 or 270 (degrees clockwise), or 0; got {value}") from None


def task_list(value: str) -> list[str]:
    tasks = [t.strip() for t in value.split(",") if t.strip()]
    if not tasks:  # `--tasks ""` (an unset shell variable) would turn every head off
        raise argparse.ArgumentTypeError("give at least one task, e.g. mask or mask,emotion")
    return tasks


class _TutorialFaceFolder(argparse.Action):
    """The PyImageSearch tutorial's -f/--face DIR (its res10 files' folder), which its readers type from memory:
    argparse's "unrecognized arguments: -f face_detector" said nothing of what to do instead."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = f"{option_string} {values}" if values else option_string
        parser.error(f"{given}: facekit finds its face detector's files itself (no folder to "
                     "give); leave it out, or add --detector res10 for the tutorial's detector (the default, "
                     "scrfd, finds more faces, masked ones above all)")


class _DefaultDetector(str):
    """--detector's default as given to argparse, told from the same name typed: commercial use replaces the one
    and refuses the other."""


def _commercial_use(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--commercial-use, or FACEKIT_COMMERCIAL_USE=1, read once the options are: the default detector becomes
    YuNet, and one named by --detector whose weights are not for commercial use is the run's one error line (the
    heads are checked where they load: FaceAnalyzer's commercial_use)."""
    from ..licensing import check_detector, from_env

    try:
        args.commercial_use = from_env(True if args.commercial_use else None)
        detector = getattr(args, "detector", None)
        if args.commercial_use and isinstance(detector, _DefaultDetector):
            args.detector = _DefaultDetector("yunet")  # still not typed: --crops says nothing of it
        elif args.commercial_use and detector is not None:
            check_detector(detector, f"--detector {detector}")
    except FacekitError as exc:  # the detector's LicenceError, or a FACEKIT_COMMERCIAL_USE of another value
        parser.error(str(exc))


def detector_given(args: argparse.Namespace) -> bool:
    """Whether --detector was typed, not argparse's default (nor commercial use's yunet, which stands in for it)."""
    return not isinstance(getattr(args, "detector", None), _DefaultDetector)


def detector_name(value: str) -> str:
    """--detector's value as DETECTORS spells it: `--detector SCRFD` or `YuNet` (the papers' and OpenCV's
    spelling) or `scrfd_500m` was "invalid choice" though the user named an offered detector. A real typo gets
    the nearest names."""
    from ..detection import DETECTORS

    if isinstance(value, _DefaultDetector):  # argparse passes its default through here: kept as the default
        return value
    name = value.strip().lower().replace("_", "-")
    if name in DETECTORS:
        return name
    import difflib  # only for a name not offered: argparse passes every run's default through here

    near = difflib.get_close_matches(name, list(DETECTORS), n=2, cutoff=0.6)
    hint = f": did you mean {' or '.join(near)}?" if near else ""
    raise argparse.ArgumentTypeError(f"no detector {value!r}{hint} (choose from {', '.join(DETECTORS)})")


def add_pipeline_options(parser: argparse.ArgumentParser, video: bool = False, batch: bool = False) -> None:
    """`video`: the video script's default detector (fast enough for every frame) instead of the photo one.
    `batch`: facekit-batch, which runs one detector on photos and videos alike and draws nothing."""
    from ..detection import DEFAULT_DETECTOR, DETECTORS, LICENCES, VIDEO_DETECTOR
    from ..licensing import ENV

    default = VIDEO_DETECTOR if video else DEFAULT_DETECTOR
    if batch:
        chosen = (f"for photos and videos alike (default: {default}, the photo script's; {VIDEO_DETECTOR} gives a "
                  "video the video script's boxes)")
        # The rows hold no landmark: "add landmarks ... to each face's row" sent a reader looking for point columns.
        landmarks = ("add head pose and openness to each face's row: yaw, pitch, roll, eye_openness, mouth_openness "
                     "(the mesh's points are not written; nothing is drawn, so 5 gives the same rows as the mesh)")
    else:
        chosen = f"(default: {default}, the most accurate within this script's time budget)"
        landmarks = ("add landmarks and head pose: the 468-point mesh (default) or the 5 key points, drawn where the "
                     "annotated image or video is written")

    g = parser.add_argument_group("detection and heads")
    g.add_argument("-m", "--model", action="append", default=[], metavar="PATH",
                   help="trained model folder (or its card.json), one per task; repeat for several heads. "
                        "Each replaces the models/ head of its task; the other tasks keep theirs (--tasks "
                        "picks which run, each of these among them). A Keras file (the PyImageSearch tutorial's "
                        "mask_detector.model) is made one by python -m facekit.convert")
    from ..assets import REGISTRY
    from ..heads import weights_terms

    terms = "; ".join(f"{task} ({text})" for task, text in weights_terms().items())
    g.add_argument("--tasks", type=task_list, default=None, metavar="T1,T2",
                   help="heads to run, e.g. mask,emotion,gender (default: every head whose model exists)" +
                        (f". Shipped weights' terms: {terms}" if terms else ""))
    g.add_argument("-c", "--confidence", type=probability, default=None,
                   help="minimum face detection score (default: the detector's own, chosen on data: "
                        "scrfd and scrfd-500m 0.5, yunet 0.75, res10 0.5)")
    g.add_argument("--detector", type=detector_name, choices=list(DETECTORS), default=_DefaultDetector(default),
                   metavar="NAME",
                   help=f"face detector {chosen}. Weights' licences: "
                        + "; ".join(f"{n} ({LICENCES[n]})" for n in DETECTORS)
                        + ". res10 is the PyImageSearch one")
    what, flag, lost = (("photo and video", "rotation flag or EXIF orientation", "a phone's file whose flag was lost")
                        if batch else ("video frame", "rotation flag", "a phone video whose flag was lost") if video
                        else ("photo", "EXIF orientation", "a photo whose orientation was lost"))
    # A photo (not a video; facekit-batch's photos too) given no --rotate is searched turned where it shows no face or
    # only weak ones (FaceAnalyzer.analyze); None tells that from `--rotate 0`, as read and no search.
    photos = not video
    g.add_argument("--rotate", type=rotation, default=None if photos else 0, metavar="DEGREES",
                   help=f"turn each {what} 90, 180 or 270 degrees clockwise before it is analysed, after the file's "
                        f"own {flag} ({lost}, a camera mounted upside down or sideways): the detector finds few "
                        "faces lying on their side and fewer upside down. "
                        + ("Boxes are in the turned picture's pixels" if batch else
                           "What is written is the turned picture, and boxes are in its pixels")
                        + (" (default: as read; a photo with no face or only weak ones, or whose best face scores "
                           "clearly higher upside down, is searched turned each other way too, and where its faces "
                           "show it lies turned, "
                           + ("its status row's turned says how" if batch else "its line and JSON say how")
                           + "; 0: as read, no search)" if photos else " (default: 0)"))
    g.add_argument("--commercial-use", action="store_true", default=None,
                   help="load only weights whose terms allow commercial use: the default detector becomes yunet "
                        "(MIT), and only heads whose card.json terms allow it run (none of the shipped ones: "
                        "research, education or non-commercial data); a detector or head asked for that is not is "
                        f"one error line. Also on with {ENV}=1 (README: Licences)")
    if not batch:
        g.add_argument("-f", "--face", nargs="?", action=_TutorialFaceFolder, help=argparse.SUPPRESS)
    g.add_argument("--landmarks", nargs="?", const="mesh", choices=["mesh", "5"], default=None,
                   help=f"{landmarks}. Both come from MediaPipe's face mesh model "
                        f"({REGISTRY['face_mesh'].licence}). Pose in degrees: yaw > 0 face turned to the image's "
                        "right, pitch > 0 up, roll > 0 eye line clockwise; "
                        "eye_openness / mouth_openness: lid / lip gap over eye / mouth width (README: Landmarks)")


def say_non_commercial(detector: str | None, heads: dict) -> None:
    """One line naming the weights of this run that are for non-commercial research only, then the other heads whose
    terms do not allow commercial use either. The defaults (SCRFD, the gender head) are such weights: a run that
    never opened --help said nothing of it; and the mask and emotion heads (research and education) went unnamed,
    so `--detector yunet --tasks mask,emotion` looked clear for a product."""
    from ..detection import LICENCES
    from ..heads import card_terms
    from ..licensing import card_allows

    used, others = [], []
    if detector is not None and "non-commercial" in LICENCES.get(detector, ""):
        used.append(f"the {detector} detector ({LICENCES[detector].split(':')[0]}; --detector yunet "
                    f"is {LICENCES['yunet']})")
    for task, head in heads.items():
        if "non-commercial" in card_terms(head.card).lower():
            used.append(f"the {task} head (its card.json: {card_terms(head.card)})")
        elif not card_allows(head.card):
            others.append(f"the {task} head ({card_terms(head.card)})")
    parts = [f"for non-commercial research only: {', '.join(used)}"] if used else []
    parts += [f"not for commercial use{' either' if used else ''}: {', '.join(others)}"] if others else []
    if parts:
        info("; ".join(parts) + " (--commercial-use loads only weights whose terms allow it)")


def say_commercial_use(detector: str | None, heads: dict, withheld: dict[str, str], landmarks: bool = False) -> None:
    """Under commercial use, one line naming what this run loads and the terms of each, and the heads it left
    out: a mask script that runs no mask head must say why."""
    from ..assets import REGISTRY
    from ..detection import LICENCES
    from ..heads import card_terms

    used = [f"the {detector} detector ({LICENCES[detector]})"] if detector in LICENCES else []
    used += [f"the {task} head ({card_terms(head.card)})" for task, head in heads.items()]
    used += [] if heads else ["no head" + (" (boxes only)" if used else "")]
    used += [f"the face mesh ({REGISTRY['face_mesh'].licence})"] if landmarks else []
    left = "; ".join(f"the {task} head ({terms})" for task, terms in withheld.items())
    info("commercial use: loading " + ("only " if used[0] != "no head" else "") + ", ".join(used)
         + (f"; left out, their weights not for commercial use: {left}" if left else ""))


# Analyzers `python -m facekit serve` keeps loaded between the commands it runs (facekit.serve): a command whose
# options are one's takes it, its models loaded and warm, instead of loading them again. Only in a server, and at
# most KEEP_WARM of them (each holds ~50-100 MB); none with the face mesh, whose counts a run reports, and none
# with a model folder of the user's (-m), which a training run may replace between two commands (the server
# watches only facekit's own heads).
_WARM: dict[str, object] = {}
KEEP_WARM = 4
_keeping = [False]


def build_pipeline(args: argparse.Namespace, detector: bool = True, fine_pass: bool = True, video: bool = False):
    """Load the detector, heads and landmarker once, from parsed options: the same FaceAnalyzer
    the library hands out, so scripts and library never disagree. video: the heads as video runs them."""
    from ..analyzer import FaceAnalyzer
    from ..heads import use_int8

    options = dict(tasks=args.tasks, detector=args.detector if detector else None,
                   landmarks=bool(getattr(args, "landmarks", None)), confidence=args.confidence,
                   models=args.model, fine_pass=fine_pass, int8=use_int8(video),
                   commercial_use=bool(getattr(args, "commercial_use", False)))
    key = repr(options)
    analyzer = _WARM.pop(key, None)
    if analyzer is None:
        analyzer = FaceAnalyzer(**options)
    if _keeping[0] and not options["landmarks"] and not options["models"]:
        _WARM[key] = analyzer  # the most recently used last
        while len(_WARM) > KEEP_WARM:
            _WARM.pop(next(iter(_WARM)))
    return analyzer


def keep_warm() -> None:
    """From now on, keep the analyzers build_pipeline makes for later calls (facekit.serve)."""
    _keeping[0] = True


def report_landmarks(pipeline, stats=None, video: bool = False) -> None:
    """One line on faces left without landmarks (too small, or not a face to the mesh model), so a
    record without a "landmarks" key is explained rather than silent. stats: the counts over the faces
    written, where the landmarker's own also hold faces it marked for an output that never took them.
    video: faces are tracks' frames, whose median pose is a way round a small face's."""
    if stats is None:
        stats = getattr(pipeline.landmarker, "stats", None)
    if stats is not None and stats.faces:
        (warn if stats.landmarked < stats.faces else info)(stats.summary("face detection" if video else "face"))
    if stats is not None and getattr(stats, "small_pose", None):
        from ..landmarks import small_pose_note

        warn(small_pose_note(stats.small_pose, video))


def check_output_path(path: Path | None, what: str = "output", folder: bool = False) -> None:
    """Fail early, before any work, when an output could not be written. folder: the output is a folder
    (else a folder already at `path` would stop the file being renamed into place, after all the work)."""
    from ..records import is_device, is_stdout  # here, not at import: it loads numpy (see facekit.cli.video)

    if path is None or is_stdout(path):
        return
    if path.is_symlink() and not path.exists() and loops(path):
        # Path.resolve() below raised "RuntimeError: Symlink loop" (Python 3.11), a traceback before any work.
        raise FacekitError(f"{what} {path}: a link that leads back to itself (a loop of links): remove it or name "
                           "another")
    if not folder and path.is_dir():
        raise FacekitError(f"{what} {path} is a folder: name a file (in it, or beside it)")
    if folder and path.exists() and not path.is_dir():
        raise FacekitError(f"{what} {path} is a file, not a folder")
    # A folder that exists gets its files inside it: it is the one that must take them (a folder owned by
    # another user failed after the models loaded and the first photo was done).
    parent = path.resolve() if folder and path.is_dir() else path.resolve().parent
    if not parent.is_dir():
        # "does not exist" would send the user looking for a missing folder where a file is in the way.
        above = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if above is not None and not above.is_dir():
            raise FacekitError(f"{what} {path}: {above} is a file, not a folder")
        raise FacekitError(f"{what} folder does not exist: {parent}")
    if is_device(path):
        return  # written into, no temp file beside it
    if not os.access(parent, os.W_OK):
        raise FacekitError(f"{what} folder is not writable: {parent}")
    import tempfile

    try:  # where root may write by its permissions and still not create a file (/proc, a read-only mount)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise FacekitError(f"{what} {path}: cannot write in {parent} ({exc.strerror or exc})") from None


def refuse_overwriting(inputs: Iterable[Path], outputs: Iterable[tuple[str, Iterable[Path | None], str]]) -> None:
    """Fail before any work when an output would be written over an input or over another output:
    `-i photo.jpg -o photo.jpg`, an --output folder that is the photos' own folder, or a --csv naming the
    video would replace the user's original with an annotated copy or a results file. Files are compared
    by identity (device and inode), so a relative path, a symlink or a hard link to an input counts too.
    outputs: (option, the files it would write, "file" or "folder": what to choose instead)."""
    from ..records import STDOUT, file_identity, is_device, is_stdout

    originals: dict[tuple[int, int] | None, Path] = {}  # None (no file there) is looked up, never stored
    for source in inputs:
        key = file_identity(source)  # None: not there (yet), nothing to lose
        if key is not None:
            originals.setdefault(key, source)
    written: dict[Path, str] = {}
    for option, paths, noun in outputs:
        for path in paths:
            if path is None:
                continue
            if is_stdout(path):
                path = Path(STDOUT)  # "-" and /dev/stdout are one place
            original = originals.get(file_identity(path))
            if original is not None:
                raise FacekitError(f"{option} would write over the input {original}: choose another {noun}")
            resolved = path.resolve()
            if is_device(resolved) and not is_stdout(path):
                continue  # /dev/null: written into, by any number of outputs
            if resolved in written:
                raise FacekitError(f"{written[resolved]} and {option} would both write {path}: give each its own "
                                   "file")
            written[resolved] = option
