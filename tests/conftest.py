"""Shared fixtures: real photos and the asset mirror. Tests use real data, never mocks of it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_MIRROR = ROOT.parent / "shared" / "assets"
if "FACEKIT_ASSETS" not in os.environ and (_MIRROR / "MANIFEST.md").exists():
    os.environ["FACEKIT_ASSETS"] = str(_MIRROR)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A `python -m facekit serve` the developer left running would take the tests' photo commands (those whose
# settings match its own): each command here runs in its own process, unless a test names a server of its own.
os.environ["FACEKIT_SERVER"] = "off"

ASSETS = Path(os.environ.get("FACEKIT_ASSETS", _MIRROR))
MEDIA = ASSETS / "media"
DATASETS = ASSETS / "datasets"

needs_mirror = pytest.mark.skipif(not (ASSETS / "MANIFEST.md").exists(),
                                  reason="the asset mirror (FACEKIT_ASSETS) is not available")


# `make test` runs the suite on two workers (pytest-xdist, `--dist loadgroup`): 16 minutes in one process on a
# 2-core AMD EPYC with AVX2, 10.5 with each file on a worker, where the trainer's file alone took 9.7 minutes.
# A module's tests stay together (its module fixtures are built once), except these files', spread test by test:
# minutes-long training runs, whose fixtures are only paths. (Under pytest 9.2 no group stays together,
# pytest-xdist#1386: the costliest module fixtures are built_once.)
SPREAD_BY_TEST = {"test_training.py"}


def read_pyproject() -> dict:
    """pyproject.toml as a dict. tomllib is new in Python 3.11; on 3.10, which the package supports, the same
    parser is tomli, which pytest itself installs there: the tests stopped at ModuleNotFoundError on 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pytest_collection_modifyitems(config, items):
    """Group each test for xdist, and put the longest work first (the training runs, then the other slow
    tests' modules), so that no worker is handed a minutes-long test while the other one has finished."""
    for item in items:
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group(item.nodeid if name in SPREAD_BY_TEST else name))
    slow_modules = {item.path.name for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path.name not in SPREAD_BY_TEST, item.path.name not in slow_modules))


def built_once(tmp_path_factory, name: str, build):
    """`build(folder)`'s result, made in a new folder by the first of make test's two workers to ask, and read back
    by the other: pytest-xdist spreads a module's tests over both (its --dist loadgroup keeps no group together
    under pytest 9.2, pytest-xdist#1386), and each built the module fixtures it met, a batch job run twice (`job`
    took 41 s and 38 s of two tests' set-ups in one CI log) or a model converted. Only for a fixture whose tests
    read what it made and write nothing there; the result must pickle."""
    import pickle

    try:
        import fcntl
    except ImportError:  # Windows: each worker builds its own, as before
        fcntl = None
    root = tmp_path_factory.getbasetemp()
    if fcntl and os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's, shared by its workers
    done = root / f"built-{name}.pickle"
    with open(root / f"built-{name}.lock", "w") as lock:
        if fcntl:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits here for the first one's build
        if done.is_file():
            return pickle.loads(done.read_bytes())
        folder = root / f"built-{name}"
        shutil.rmtree(folder, ignore_errors=True)  # a failed build's (the next test asks again)
        folder.mkdir()
        result = build(folder)
        done.write_bytes(pickle.dumps(result))
        return result


def mp4_cut_by_copy(path: Path, frames: int, hidden: int, fps: int = 10, faststart: bool = True) -> None:
    """An MP4 as `ffmpeg -ss T -i long.mp4 -c copy` writes one: all `frames` pictures held and counted, and an edit
    list that shows only those after the first `hidden` (the lead-in from the keyframe before T); its index (moov)
    first, as -movflags +faststart puts it (so that a copy cut short in the pictures still opens), or last."""
    import struct

    import numpy as np

    from facekit.video import VideoSink

    sink = VideoSink(path, fps, (64, 48))
    for i in range(frames):
        sink.write(np.full((48, 64, 3), 10 * i, np.uint8))
    assert sink.close()
    data = path.read_bytes()
    at = data.index(b"moov") - 4
    moov = bytearray(data[at:])  # FFmpeg's muxer writes it last, with an edit list of one entry that shows all
    scale = {kind: struct.unpack(">I", moov[moov.index(kind) + 16:][:4])[0] for kind in (b"mvhd", b"mdhd")}
    elst = moov.index(b"elst") + 12
    struct.pack_into(">Ii", moov, elst, (frames - hidden) * scale[b"mvhd"] // fps, hidden * scale[b"mdhd"] // fps)
    if not faststart:
        path.write_bytes(data[:at] + moov)
        return
    stco = moov.index(b"stco") + 8
    count = struct.unpack(">I", moov[stco:stco + 4])[0]
    offsets = struct.unpack_from(f">{count}I", moov, stco + 4)
    struct.pack_into(f">{count}I", moov, stco + 4, *(offset + len(moov) for offset in offsets))
    ftyp = struct.unpack(">I", data[:4])[0]
    path.write_bytes(data[:ftyp] + moov + data[ftyp:at])


@pytest.fixture(autouse=True)
def _stream_readers_end_in_their_test():
    """A stream's reader thread that close() left blocked in FFmpeg (up to its 5 s read timeout) printed FFmpeg's
    "Connection refused" / "Error reading HTTP response" once its test's server was gone: seen between tests, and
    inside a later test on the same worker it would be that test's stray stderr line. Such a thread is given up
    to 30 s to end in the test that started it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 30
    for thread in [t for t in threading.enumerate() if t not in before and t.name == "frame-reader"]:
        thread.join(max(0.0, deadline - time.monotonic()))


@pytest.fixture
def threads_started_here():
    """`alive(prefix, within=0)`: names of the threads this test started that still run, after each has had up to
    `within` seconds to end. A check over the whole process failed CI: three facekit-landmarks threads of
    analyzers another test on the same worker had dropped unclosed (theirs end at a garbage collection) were
    counted against the analyzer under test. `within` is for threads that end on their own, not in a call the
    test made: a dropped analyzer's thread ends once it is next scheduled after the collection that freed its
    pool (still there right after gc.collect() in 1 check of 8 on two busy cores); it takes milliseconds, so
    60 s holds on a machine 10x slower, and one that something holds never ends."""
    before = set(threading.enumerate())

    def alive(prefix: str = "facekit", within: float = 0.0) -> list[str]:
        started = [t for t in threading.enumerate() if t not in before and t.name.startswith(prefix)]
        deadline = time.monotonic() + within
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in started if t.is_alive()]

    return alive


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip("media photos need the asset mirror (FACEKIT_ASSETS)")
    return MEDIA


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip("datasets need the asset mirror (FACEKIT_ASSETS)")
    return DATASETS


@pytest.fixture(scope="session")
def res10():
    """The res10 detector, loaded once (detection tests, and landmark tests: the mesh margin was chosen on its boxes)."""
    from facekit.detection import create_detector

    return create_detector("res10")


@pytest.fixture(scope="session")
def small_faces_photo(media):
    """A 3000x2000 photo with four 25 px faces (obama.jpg at 1/10), one plain and three on the edges and
    corners of the detector's 1280 px tiles (which start at x 0/860/1720, y 0/720); and their boxes."""
    import cv2
    import numpy as np

    from facekit.detection import create_detector
    from facekit.preprocess import load_image

    small = cv2.resize(load_image(media / "obama.jpg"), None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    ref = create_detector().detect(small)[0].box
    canvas = np.full((2000, 3000, 3), 127, dtype=np.uint8)
    boxes = []
    for cx, cy in ((250, 230), (1280, 1280), (860, 720), (1280, 700)):
        x0, y0 = int(cx - (ref.x1 + ref.x2) / 2), int(cy - (ref.y1 + ref.y2) / 2)
        canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        boxes.append([ref.x1 + x0, ref.y1 + y0, ref.x2 + x0, ref.y2 + y0])
    return canvas, np.array(boxes, dtype=np.float32)


# A script run's time limit only catches a hang; the longest runs (a trainer's) take 60-160 s on a quiet 2-core
# machine and took 577 s once at load 20 here, failing a 300 s limit (the smoke training test).
RUN_TIMEOUT = 600


def _environment(env: dict | None) -> dict:
    """This process's environment with `env`'s variables set (None: unset)."""
    full_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    return full_env


def broken_tensorflow(folder: Path, message: str) -> tuple[dict, Path]:
    """(env, mark): run with env, a command finds a `tensorflow` first on its path that fails to import with
    ImportError(message), as a TensorFlow built against another numpy does, and leaves `mark` where it is imported."""
    package = folder / "broken_tensorflow" / "tensorflow"
    package.mkdir(parents=True)
    mark = folder / "tensorflow_imported"
    (package / "__init__.py").write_text(f"open({str(mark)!r}, 'w').close()\nraise ImportError({message!r})\n")
    return {"PYTHONPATH": str(package.parent)}, mark


def run_script(script: str, *args, timeout: int = RUN_TIMEOUT, env: dict | None = None,
               max_file_bytes: int | None = None, max_address_bytes: int | None = None) -> subprocess.CompletedProcess:
    """Run a root script as a user would, in a fresh process. env: variables to set (None: to unset).
    max_file_bytes: no file it writes may grow past this (RLIMIT_FSIZE; a write past it fails with EFBIG, as a
    full disk fails one with ENOSPC). max_address_bytes: `ulimit -v` (RLIMIT_AS), a small board's memory."""
    full_env = _environment(env)

    def limit():
        import resource

        if max_file_bytes:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error from write(), not a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        if max_address_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (max_address_bytes, max_address_bytes))

    # A root script's file, or a module run as `python -m` (facekit.assets).
    command = [sys.executable, str(ROOT / script)] if script.endswith(".py") else [sys.executable, "-m", script]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env,
                          preexec_fn=limit if max_file_bytes or max_address_bytes else None)


@contextlib.contextmanager
def killed_after(proc: subprocess.Popen, seconds: float, what: str):
    """A blocking read of `proc`'s pipes, bounded: past `seconds` the process is killed, which ends the read (its
    pipes close), and the test fails saying what it waited for. Unbounded, a run that hung, or never heard the key
    or signal that was to end it, held the whole CI run until its 90-minute limit."""
    killed = threading.Event()
    timer = threading.Timer(seconds, lambda: killed.set() or proc.kill())
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    assert not killed.is_set(), f"killed after waiting {seconds:.0f} s for {what}"


def line_on_stdout(proc: subprocess.Popen, text: str, timeout: float = 120) -> str:
    """The first line holding `text` on `proc`'s standard output, read as it comes (bounded: `killed_after`)."""
    with killed_after(proc, timeout, f"{text!r} on its standard output"):
        for line in proc.stdout:
            if text in line:
                return line
    said = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"the run ended (exit {proc.wait(timeout=60)}) before {text!r} on its standard output: "
                         f"{said}")


def whole_lines(path: Path, count: int, timeout: float = 120) -> list[str]:
    """The lines of a file other processes append to (--alert commands), once `count` whole ones (each ended by a
    line break) are there. A run gives its commands 5 s at its end and then stops those still running: on a loaded
    machine a command's Python start can take longer, and its line never comes (its file missing, or there empty
    from its open() to its write). `timeout` is a hang's bound; the test fails if fewer, or more, lines came."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.is_file() else ""
        if text.count("\n") >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert text.count("\n") == count and text.endswith("\n" if count else ""), \
        f"{path}: {count} whole lines awaited for up to {timeout:.0f} s, it holds {text!r}"
    return text.splitlines()


def run_script_reader_gone(script: str, *args, lines: int = 0, timeout: int = RUN_TIMEOUT,
                           env: dict | None = None) -> tuple[int, str]:
    """Run a root script whose standard output's reader goes away after reading `lines` lines (`... | head
    -n LINES`); (exit code, stderr). env: as run_script's."""
    proc = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_environment(env))
    with killed_after(proc, timeout, f"{script} to end with its reader gone after {lines} lines"):
        for _ in range(lines):
            proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.wait(timeout=60)
    return proc.returncode, stderr


def signals_default() -> None:
    """Popen preexec_fn: a process started in the background by a non-interactive shell (CI scripts,
    `cmd &`) inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt. Under nohup (a
    test run started so) it inherits SIGHUP ignored, and a run keeps it so, as it must: the SIGHUP test's run went
    on to its end (exit 0 for 129)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def interrupt_video_run(*args, after: float = 1.5, sig: int = signal.SIGINT,
                        with_stdout: bool = False, until=None) -> tuple[int, str]:
    """Run detect_mask_video.py headless, press Ctrl-C (or send `sig`) `after` seconds into its frame loop;
    (exit code, stderr), or with_stdout (exit code, what it printed to stdout after the loop began + stderr).
    until: a check polled (up to 60 s) before those seconds start, for a test that needs the loop to have got
    somewhere first (on a loaded machine 1.5 s can pass before the first face)."""
    env = dict(os.environ, DISPLAY="", WAYLAND_DISPLAY="")
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), *map(str, args), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            preexec_fn=signals_default)
    line_on_stdout(proc, "starting video stream", timeout=300)
    deadline = time.monotonic() + 60
    while until is not None and not until() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(after)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, (stdout + stderr if with_stdout else stderr)


NEEDS_X = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                             reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@contextlib.contextmanager
def on_x_screen(script: str, *args):
    """`script` run with its window on a fresh 1280x800 Xvfb: yields (the process, its env, the X server), and
    ends both, whatever the test did. -noreset: a bare X server resets when its last client leaves (an xdotool
    poll), refusing connections meanwhile, the window's among them; a desktop's panels stay connected."""
    xvfb = ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"]
    server = subprocess.Popen(xvfb, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc = None
    try:
        with killed_after(server, 120, "Xvfb to say its display"):
            env = {**os.environ, "DISPLAY": f":{server.stdout.readline().strip()}"}
        proc = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        yield proc, env, server
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.terminate()
        server.wait(timeout=15)


def window_on_screen(proc, env, name: str = "^facekit", timeout: float = 120, every: float = 0.5) -> list[str]:
    """The ids of the windows named like `name` (a regex) once the script run by on_x_screen has opened one, asked
    every `every` seconds; the test fails with the script's output if it ends, or shows none, first."""
    window, deadline = [], time.monotonic() + timeout
    while not window and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(every)
        window = subprocess.run(["xdotool", "search", "--name", name], env=env, capture_output=True,
                                text=True).stdout.split()
    assert window, proc.communicate(timeout=30)
    return window


def press_close_button(env, window: str) -> None:
    """What a window manager does when the user clicks a window's close button (its title bar's x): a
    WM_DELETE_WINDOW message to it. xdotool's windowclose destroys the window instead, which no close button does,
    and a bare Xvfb has no window manager for wmctrl -c to ask."""
    import ctypes

    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XInternAtom.restype, x11.XInternAtom.argtypes = ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):  # XClientMessageEvent, padded to XEvent's 24 longs
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]

    display = x11.XOpenDisplay(env["DISPLAY"].encode())
    assert display, f"cannot open {env['DISPLAY']}"
    try:
        message = ClientMessage(type=33, send_event=1, display=display, window=int(window), format=32,
                                message_type=x11.XInternAtom(display, b"WM_PROTOCOLS", 0))
        message.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
        assert x11.XSendEvent(display, int(window), 0, 0, ctypes.byref(message))
        x11.XFlush(display)
    finally:
        x11.XCloseDisplay(display)

@contextlib.contextmanager
def refused_to_this_user(monkeypatch, path: Path, call: str = "open"):
    """`path` as a service user finds what root made under umask 077 (a file 0600, a folder 0700). Root may read
    anything, so as root the refusal is raised where it comes: `call` is "open" (builtins.open of the file),
    "read_text" (Path.read_text of it) or "stat" (Path.stat of anything in the folder). Elsewhere: chmod 000."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode & 0o777
        path.chmod(0o000)
        try:
            yield
        finally:
            path.chmod(mode)
        return

    def denied(name):
        raise PermissionError(13, "Permission denied", str(name))

    if call == "open":
        import builtins

        real_open = builtins.open
        monkeypatch.setattr(builtins, "open", lambda file, *a, **k: denied(file) if str(file) == str(path)
                            else real_open(file, *a, **k))
    elif call == "read_text":
        real_read = Path.read_text
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: denied(self) if self == path
                            else real_read(self, *a, **k))
    else:
        real_stat = Path.stat
        monkeypatch.setattr(Path, "stat", lambda self, *, follow_symlinks=True: denied(self) if self.parent == path
                            else real_stat(self, follow_symlinks=follow_symlinks))
    yield


# Write-only kernel files (mode 0200) refuse a reader with EACCES even as root, whose chmod 000 file reads:
# sysfs's have a size (4096), as a photo or video has; /proc/sys's are empty.
_WRITE_ONLY = ("/sys/bus/pci/rescan", "/sys/devices/pci*/*/rescan", "/proc/sys/vm/drop_caches",
               "/proc/sys/vm/compact_memory")


def unreadable_file(folder: Path, name: str, like: Path) -> Path:
    """folder/name, a file that a script given it cannot read whoever runs it (root included): a link to a
    write-only kernel file, or as another user a chmod 000 copy of `like`. Skips where neither holds. Each call
    in a folder links to another file: facekit-batch reads two names of one file as one source."""
    import glob

    path = folder / name
    if os.geteuid() != 0:
        shutil.copy(like, path)
        path.chmod(0)
        return path
    taken = {os.readlink(p) for p in folder.iterdir() if p.is_symlink()}
    for target in (t for pattern in _WRITE_ONLY for t in sorted(glob.glob(pattern)) if t not in taken):
        try:
            open(target, "rb").close()
        except PermissionError:
            path.symlink_to(target)
            return path
        except OSError:
            continue
    pytest.skip("no file here that root cannot read")


def killed_runs_temp_folder(output: Path) -> Path:
    """The hidden temp folder a run killed with kill -9 leaves for `output` (a trainer's or converter's model
    beside it, a piped video's copy in the temp folder): made and locked by a process of its own
    (`records.make_temp_dir`, as theirs is), a file written in it, then the process killed."""
    code = ("import sys, time; from pathlib import Path; from facekit.records import make_temp_dir; "
            "tmp, _ = make_temp_dir(Path(sys.argv[1])); (tmp / 'written').write_bytes(bytes(4096)); "
            "print(tmp, flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(output)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=_environment(None))
    try:
        with killed_after(proc, 120, "the temp folder's name"):
            made = Path(proc.stdout.readline().strip())
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert (made / "written").is_file() and made.parent == output.parent, made
    return made


# A sitecustomize.py (Python runs the first on sys.path at start) that holds one module's first import, by name,
# until a signal ends the wait, and makes a file when it begins holding. With FACEKIT_TEST_HOLD_SWALLOW set it
# swallows the KeyboardInterrupt, as a library's compiled start-up that clears Python's errors does.
_HOLD_IMPORT = """
import os, sys, time

class HoldImport:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["FACEKIT_TEST_HOLD_IMPORT"]:
            sys.meta_path.remove(self)
            open(os.environ["FACEKIT_TEST_HOLD_MARK"], "w").close()
            try:
                time.sleep(120)
            except KeyboardInterrupt:
                if not os.environ.get("FACEKIT_TEST_HOLD_SWALLOW"):
                    raise

sys.meta_path.insert(0, HoldImport())
"""


def interrupt_during_import(module: str, command: list, folder: Path, sig: int = signal.SIGINT,
                            swallow: bool = False) -> subprocess.CompletedProcess:
    """Run `command` (python ..., as a user would) and send `sig` to its process group (a terminal's Ctrl-C goes
    to the whole foreground group) while `module` is being imported for the first time: its import is held until
    the signal comes, so the stop lands in it for certain, not at a moment guessed on a loaded machine. The
    process must have begun that import (a file says so) or the test fails. folder: for the hook's files.
    swallow: the import swallows the KeyboardInterrupt (and goes on), as some libraries' do."""
    hook = folder / "hold_import"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HOLD_IMPORT)
    mark = folder / "import_held"
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    env = _environment({"PYTHONPATH": path, "FACEKIT_TEST_HOLD_IMPORT": module, "FACEKIT_TEST_HOLD_MARK": str(mark),
                        "FACEKIT_TEST_HOLD_SWALLOW": "1" if swallow else None})
    proc = subprocess.Popen([str(c) for c in command], cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=signals_default)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        held = mark.exists() and proc.poll() is None
        if held:
            os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # none of the group left behind, whatever failed
        proc.wait()
    assert held, f"{module} was never imported (exit {proc.returncode}): {err[-2000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
