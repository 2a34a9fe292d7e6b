"""`python -m facekit serve`: the photo command with its models loaded once, for many commands in a row.

A photo command spends most of its time before the first face: starting Python, importing numpy, OpenCV and
onnxruntime, opening the detector and the heads and letting XNNPACK pack their weights (issue 17: about 0.5-0.7
s for example_03, of which the analysis itself is ~0.2). A script that runs `detect_mask_image.py` once per
photo pays that every time. While `python -m facekit serve` runs, each photo command (detect_mask_image.py,
facekit-image, python -m facekit image) of the same user hands its arguments to it instead, and the server runs
the very same command with the models it holds, writing to the caller's own terminal or pipes (their file
descriptors are passed over the socket), in the caller's folder, with the caller's environment and umask, for
the time it runs; its Ctrl-C and SIGTERM stop it at its next photo, and its exit status is the command's.

Not a worker forked per command: a fork inherits the models but not their engines' thread pools, and its first
run touches memory the parent owns, so the analysis took twice as long (0.46 s of a 0.53 s command, against
0.16 s in the server itself). Commands run one at a time; one that comes while another runs is sent back at once
to run in its own process, as is one the server could run differently: another facekit (version or folder),
facekit's code or shipped heads changed since the server started (the server then stops), other FACEKIT_* /
thread / locale settings, a window to open, or no server. FACEKIT_SERVER=off runs every command in its own
process; FACEKIT_SERVER=PATH names another socket. Linux only (descriptor passing, SO_PEERCRED).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import struct
import sys
from pathlib import Path

SERVER_ENV = "FACEKIT_SERVER"
SOCKET_PATH_MAX = 104 if sys.platform == "darwin" else 108  # sockaddr_un's sun_path, its closing NUL included
OFF = ("0", "off", "no", "false")
# Settings the warm models were made under, which a command must share to be run by them.
_SAME_SETTINGS = ("FACEKIT_", "OMP_", "OPENBLAS_", "ORT_", "TF_", "LC_ALL", "LC_CTYPE", "LANG", "PYTHONUTF8",
                  "PYTHONIOENCODING")
_MAX_HEADER = 1 << 20
ANSWER_S = 10.0  # a server answers at once, even when busy (then "run it yourself")
# A caller sends its request as it connects; one that connects and sends nothing (a probe left open, `socat -
# UNIX-CONNECT:...`) is dropped after this: it held the one thread that answers callers, so every command after it
# waited ANSWER_S and ran in its own process, and the streams it had passed stayed open in the server (a caller's
# `$(...)` or `| tee` waited for them as long as that connection lasted).
REQUEST_S = 2.0
AUTO = "auto"  # FACEKIT_SERVER=auto: a command that finds no server starts one for the commands after it
IDLE_S = 600  # ... which ends after this long without a command
RESTART_S = 30  # ... and is not started again sooner than this after the last try (one that cannot start)
_worker = False  # this process is a server's worker: its command runs here, not handed on again
# The server's own stop signal, once one came: one raised while it loads its models can be swallowed there.
_own_stop: list = [None]


def socket_path() -> Path:
    """FACEKIT_SERVER when it names a path; else the user's runtime folder (XDG_RUNTIME_DIR), else a folder of
    this user's own in the temp folder."""
    given = os.environ.get(SERVER_ENV, "")
    if given and given.lower() not in OFF + (AUTO,):
        from .assets import _setting_path

        # "~" as the folder settings read it; where it names no folder (no HOME, no passwd entry: a container run
        # as --user 12345) one line naming the setting, not a RuntimeError traceback from every photo command.
        return _setting_path(SERVER_ENV, given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "facekit" / "photo.sock"
    import tempfile

    return Path(tempfile.gettempdir()) / f"facekit-{os.getuid()}" / "photo.sock"


def _private_folder(folder: Path) -> bool:
    """Whether `folder` is this user's and no one else's: in a shared temp folder another user could have made
    it first, and a socket of theirs would receive this user's commands and open files."""
    try:
        st = folder.lstat()
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


# Settings that name a folder: a relative one (README's FACEKIT_MODELS=models) names another folder from each
# caller's folder, so they are compared as the folders they name.
_FOLDER_SETTINGS = ("FACEKIT_MODELS", "FACEKIT_ASSETS", "FACEKIT_CACHE")


def _settings(env, cwd: str) -> dict:
    """The settings a command shares with the server to be run by it, the folder ones as absolute paths from
    `cwd`: FACEKIT_MODELS=models was the same string from any folder, and a server started in one folder ran a
    command from another with the first folder's heads, without a word."""
    out = {k: v for k, v in env.items() if k.startswith(_SAME_SETTINGS) and k != SERVER_ENV}
    for name in _FOLDER_SETTINGS:
        value = out.get(name)
        if value:
            if (value == "~" or value.startswith("~/")) and env.get("HOME"):  # each side's own home folder
                value = env["HOME"] + value[1:]
            out[name] = os.path.normpath(os.path.join(cwd, value))
    return out


def _peer_uid(conn: socket.socket) -> int:
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]


def _stream_spec(stream) -> list | None:
    if stream is None or not hasattr(stream, "encoding"):
        return None
    return [stream.encoding, stream.errors, getattr(stream, "line_buffering", False),
            getattr(stream, "write_through", False)]


def served(argv: list[str]) -> int | None:
    """Run the photo command `argv` in a running server and return its exit status; None where there is no
    server to take it or it must run here (the module's docstring says when)."""
    if _worker or not sys.platform.startswith("linux") or os.environ.get(SERVER_ENV, "").lower() in OFF:
        return None
    from .errors import FacekitError

    try:
        path = socket_path()
    except FacekitError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    auto = os.environ.get(SERVER_ENV, "").lower() == AUTO
    if not path.exists():
        if auto:
            _start_in_background(path)
        return None
    if not _private_folder(path.parent):
        return None
    if "--no-display" not in argv and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None  # a window would open in the server's process, on its display
    try:
        cwd = os.getcwd()
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed one (a cron job's >&-) cannot be passed: the command handles that itself
    except OSError:
        return None
    import facekit

    mask = os.umask(0)
    os.umask(mask)
    header = json.dumps({
        "argv": list(argv), "prog": sys.argv[0] if sys.argv else "", "cwd": cwd, "env": dict(os.environ),
        "umask": mask, "version": facekit.__version__, "package": str(Path(facekit.__file__).resolve().parent),
        "fsencoding": sys.getfilesystemencoding(),
        "streams": [_stream_spec(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
    }).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        if _peer_uid(conn) != os.getuid():
            return None
        socket.send_fds(conn, [struct.pack("!I", len(header)) + header], [0, 1, 2])
        conn.settimeout(ANSWER_S)  # a server that does not answer (stopped, stuck): the command runs here
        answer = _read(conn, 1)
        conn.settimeout(None)
    except OSError as exc:  # a socket left by a server that is gone, or one that went away mid-way: run here
        conn.close()
        if auto and isinstance(exc, ConnectionRefusedError):  # gone: a new one takes its socket
            _start_in_background(path)
        return None
    if answer[:1] != b"R":
        conn.close()
        return None
    return _follow(conn)


def _start_in_background(path: Path) -> None:
    """FACEKIT_SERVER=auto: start a server for the commands after this one (this one runs in its own process),
    detached, its lines in serve.log beside its socket; it ends by itself after IDLE_S without a command."""
    import subprocess
    import time

    import facekit

    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_folder(folder):
            return
        log_path = folder / "serve.log"
        if log_path.exists() and time.time() - log_path.stat().st_mtime < RESTART_S:
            return  # one was started a moment ago (it is loading, or it could not start: its log says why)
        with open(log_path, "ab") as log_file:
            package_root = str(Path(facekit.__file__).resolve().parent.parent)  # a checkout run as a script too
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                                            os.environ.get("PYTHONPATH")]))}
            # It runs in "/": a relative folder setting is given as the folder it names from here, where the
            # commands it is started for run (else FACEKIT_MODELS=models named /models and it could not start).
            env.update({k: v for k, v in _settings(os.environ, os.getcwd()).items() if k in _FOLDER_SETTINGS})
            subprocess.Popen([sys.executable, "-m", "facekit", "serve", "--socket", str(path), "--idle", str(IDLE_S)],
                             stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, cwd="/", env=env,
                             start_new_session=True)  # not in the caller's process group: its Ctrl-C is its own
    except OSError:
        return


def _follow(conn: socket.socket) -> int:
    """Pass this process's stop signals on to the server (a byte each, the signal's number) and wait for the
    command's exit status."""
    import signal

    def forward(signum, _frame):
        try:
            conn.sendall(bytes([signum]))
        except OSError:
            pass

    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    try:
        status = _read(conn, 4)
    except OSError:
        status = b""
    if len(status) < 4:
        print("[ERROR] the facekit server ended during this command (it crashed or was killed): see its output; "
              "run the command again (it runs in its own process while no server answers)", file=sys.stderr)
        return 1
    return struct.unpack("!i", status)[0]


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- the server ---------------------------------------------------------------------------------------------

def _stamp(folders) -> dict:
    """Each file's change time under `folders` (facekit's code, its heads): a command must not run on code
    or models other than the ones a fresh process would load."""
    out = {}
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                if name.endswith((".py", ".tflite", ".json", ".onnx")):
                    p = os.path.join(root, name)
                    try:
                        out[p] = os.stat(p).st_mtime_ns
                    except OSError:
                        pass
    return out


class Server:
    def __init__(self, path: Path, idle: float | None = None):
        import facekit
        from .heads import models_dir

        self.path = path
        # Seconds without a command after which it ends (None: never). Longer than a lock can wait (--idle inf,
        # "never", or 1e10) was an OverflowError traceback once the models had loaded.
        import threading

        self.idle = idle if idle is None or idle <= threading.TIMEOUT_MAX else None
        self.package = Path(facekit.__file__).resolve().parent
        self.version = facekit.__version__
        self.folders = [self.package, Path(models_dir()).resolve()]
        self.stamp = _stamp(self.folders)
        self.settings = _settings(os.environ, os.getcwd())
        self.sock: socket.socket | None = None
        self.identity: int | None = None
        # The command under way: (its connection, its number), for its caller's signals.
        self.running: tuple[socket.socket, int] | None = None
        self.caller_stopped = False  # ... and whether its stop came from its caller, not to the server itself
        self.loading = True  # until warm() is done: callers are sent back at once to run in their own process
        self.freed = False  # whether the command under way let go of `busy` before telling its caller (_run)

    def warm(self) -> None:
        """The photo command's default analyzer, made and run once (the detector's passes, each head's XNNPACK
        weights), and left where build_pipeline finds it."""
        import numpy as np

        from .cli import image
        from .cli.common import build_pipeline, keep_warm

        keep_warm()
        analyzer = build_pipeline(image.build_parser().parse_args(["-i", "photo.jpg", "--no-display"]))
        frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        analyzer.analyze(frame)
        for n in (1, 2):
            analyzer.analyze(frame, faces=[(100 + 150 * i, 100, 240 + 150 * i, 260) for i in range(n)])
        # Here, before the ready line, not as run() starts: a caller that had read that line (a script waiting for
        # it, FACEKIT_SERVER=auto's next command) was sent back as "still loading" in between.
        self.loading = False

    def listen(self) -> None:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_folder(folder):
            # Named as the not-a-socket refusal names them: `serve --socket PATH` was told of FACEKIT_SERVER alone.
            raise OSError(f"{folder} is not this user's own folder (mode 700): choose another (--socket, {SERVER_ENV})")
        if self.path.exists() or self.path.is_symlink():
            import stat

            # Only a socket is replaced: `--socket results.csv` (or FACEKIT_SERVER naming a photo) deleted that file.
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OSError(f"{self.path} is there and is not a socket: name a path where no file is (--socket, "
                              f"{SERVER_ENV})")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()  # left by a server that was killed
            else:
                raise OSError(f"a facekit server already runs at {self.path}")
            finally:
                probe.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(str(self.path))
        except OSError as exc:
            self.sock.close()
            self.sock = None
            if "too long" not in str(exc):
                raise
            # Said as "AF_UNIX path too long": neither the limit nor what to do.
            raise OSError(f"a socket's path is at most {SOCKET_PATH_MAX - 1} bytes here (this one: "
                          f"{len(os.fsencode(self.path)):,}): choose a shorter one (--socket, {SERVER_ENV})") from None
        os.chmod(self.path, 0o600)
        self.identity = os.stat(self.path).st_ino
        self.sock.listen(16)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            try:
                if os.stat(self.path).st_ino == self.identity:  # not a newer server's socket
                    self.path.unlink()
            except OSError:
                pass

    def answer(self) -> None:
        """A thread answers each caller at once: one that comes while a command runs, or while the models still
        load, is sent back to run in its own process rather than left waiting. Started as the socket is made: a
        caller during the loading (FACEKIT_SERVER=auto's next command; seconds on a small board) waited for it
        up to ANSWER_S, then ran in its own process that much later."""
        import queue
        import threading

        self.jobs: queue.Queue = queue.Queue()
        self.busy = threading.Lock()
        self.state = threading.Lock()
        threading.Thread(target=self._answer, daemon=True, name="facekit-serve-accept").start()

    def run(self) -> None:
        """Commands one at a time, on this (the main) thread: Python delivers signals here, where each command's
        Ctrl-C handling expects them."""
        import queue

        number = 0
        while True:
            try:
                job = self.jobs.get(timeout=self.idle)
            except queue.Empty:
                if self.busy.acquire(blocking=False):  # no caller is being answered: nothing is lost
                    log(f"stopped: no command for {self.idle:.0f} s")
                    return
                continue
            if job is None:
                log("stopped: facekit's code or models changed since it started (start it again to serve them)")
                return
            number += 1
            self.freed = False
            try:
                self._run(number, *job)
            finally:
                if not self.freed:
                    self.busy.release()

    def _answer(self) -> None:
        assert self.sock is not None  # answer() starts this thread only once listen() has made it
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the socket closed: the server is stopping
                return
            try:
                job = self._request(conn)
            except Exception as exc:  # noqa: BLE001 - a bug here must not leave callers waiting on a dead thread
                log(f"a request failed: {exc!r}")
                job = None
            if job is None:
                conn.close()
            elif job == "stale":
                conn.close()
                self.jobs.put(None)
                return
            elif self.loading:
                log(f"ran in its own process (the server is still loading its models): {' '.join(job[1]['argv'])}")
                self._decline(conn, job[2])
            elif not self.busy.acquire(blocking=False):
                log(f"ran in its own process (another command was running): {' '.join(job[1]['argv'])}")
                self._decline(conn, job[2])
            else:
                self.jobs.put(job)

    def _request(self, conn: socket.socket):
        """(conn, request, its three descriptors); None for a caller sent back (said in the log); "stale"."""
        fds: list[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                return None
            conn.settimeout(REQUEST_S)
            data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
            size = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else _MAX_HEADER + 1
            if size > _MAX_HEADER:
                raise ValueError("no request header")
            request = json.loads(data[4:] + _read(conn, size - len(data) + 4))
            conn.settimeout(None)
            why = self._refusal(request, fds)
            if why:
                log(f"ran in its own process ({why}): {' '.join(request['argv'])}")
                self._decline(conn, fds)
                return "stale" if why.startswith("facekit's") else None
            _check_request(request)
            return conn, request, fds
        # Any request that is not one (nested too deep: RecursionError; "env" a list: AttributeError) is sent back
        # and its streams closed: left to _answer's catch-all, they stayed open in the server, and a caller's
        # `$(...)` or `| tee` waited on them for as long as the server ran.
        except Exception as exc:  # noqa: BLE001
            log(f"a request could not be read: {exc}")
            self._decline(conn, fds)
            return None

    def _refusal(self, request: dict, fds: list[int]) -> str:
        """Why this command must run in its own process ("" where the server runs it as that process would)."""
        if len(fds) != 3:
            return "its standard streams did not come"
        if request["version"] != self.version or Path(request["package"]) != self.package:
            return f"another facekit: {request['version']} in {request['package']}"
        if request["fsencoding"] != sys.getfilesystemencoding() or _settings(request["env"], request["cwd"]) != \
                self.settings:
            return "other FACEKIT_*, thread or locale settings than the server's"
        if _stamp(self.folders) != self.stamp:
            return "facekit's code or models changed since the server started; it stops: start it again"
        return ""

    @staticmethod
    def _decline(conn: socket.socket, fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(b"N")
        except OSError:
            pass

    def _run(self, number: int, conn: socket.socket, request: dict, fds: list[int]) -> None:
        """Run one command here as its caller's process would: its streams, folder, environment, umask and
        arguments for the time it runs, then this process's own again."""
        import signal
        import threading

        try:
            conn.sendall(b"R")
        except OSError:
            # Its caller gave up waiting for an answer (a server stopped with Ctrl-Z, or still loading, for
            # ANSWER_S) and ran the command in its own process: run here too, it ended in "[ERROR] [Errno 32]
            # Broken pipe" on the caller's output, after that command's own lines and its exit 0.
            log(f"not run (its caller ran it in its own process, having waited for an answer): "
                f"{' '.join(request['argv'])}")
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        log(f"command {number}: {' '.join(request['argv'])}")
        saved = ([os.dup(fd) for fd in (0, 1, 2)], (sys.stdin, sys.stdout, sys.stderr),
                 (sys.__stdin__, sys.__stdout__, sys.__stderr__), dict(os.environ), os.getcwd(), list(sys.argv))
        mask = os.umask(request["umask"])
        code = 1
        try:
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            _caller_streams(request["streams"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = [request["prog"], *request["argv"]]
            with self.state:
                self.running = (conn, number)
                self.caller_stopped = False
            threading.Thread(target=self._watch, args=(conn, number), daemon=True).start()
            os.chdir(request["cwd"])
            code = _command(request["argv"])
        except OSError as exc:  # the caller's folder went away
            print(f"[ERROR] {exc}", file=sys.stderr)
            code = 2
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a reader gone: nothing more to say to it
                    pass
            with self.state:
                self.running = None
            fd_saved, streams, dunder, env, cwd, argv = saved
            for target, fd in enumerate(fd_saved):
                os.dup2(fd, target)
                os.close(fd)
            for fd in fds:
                os.close(fd)
            sys.stdin, sys.stdout, sys.stderr = streams
            sys.__stdin__, sys.__stdout__, sys.__stderr__ = dunder  # type: ignore[misc]  # Final in typeshed
            os.environ.clear()
            os.environ.update(env)
            os.chdir(cwd)
            os.umask(mask)
            sys.argv = argv
            from .signals import exit_status, stop_requested

            # A SIGTERM or SIGHUP to the server itself (systemctl stop, kill; not its caller's, which come over the
            # socket) stopped the command under way and no more: the server went on, and systemctl waited its 90 s
            # and killed it. The command's outputs are finalized; now the server stops too. (Its Ctrl-C stops the
            # command alone: the next one, the server.)
            stopping = stop_requested() and not self.caller_stopped and exit_status() != 128 + signal.SIGINT
            if not stopping:
                # Free for the next command before its caller hears this one's status: a script's next command,
                # sent as soon as it had it, found the server still busy and ran in its own process.
                self.freed = True
                self.busy.release()
            try:
                conn.sendall(struct.pack("!i", code))
            except OSError:
                pass
            conn.close()
        if stopping:
            raise _Stop(exit_status() - 128)

    def _watch(self, conn: socket.socket, number: int) -> None:
        """The caller's stop signals (a byte each), and its end (killed outright) as SIGHUP, a closed terminal's:
        the command stops at its next photo, with that signal's exit status. Not as signals to this process,
        whose handler then may already be the server's own again (the command just over): a caller's Ctrl-C at
        that moment stopped the server, and holding stops back after each command kept a SIGTERM from stopping it."""
        import signal

        from .signals import request_stop

        while True:
            try:
                data = conn.recv(1)
            except OSError:
                data = b""
            with self.state:
                if self.running != (conn, number):
                    return
                self.caller_stopped = True
                request_stop(data[0] if data else signal.SIGHUP)
            if not data:
                return

    @staticmethod
    def stop_signal(signum, _frame) -> None:
        """The server's own Ctrl-C, SIGTERM or SIGHUP (a command under way has its own handler for them). Noted too:
        raised while the models load, inside onnxruntime's or LiteRT's start, it was swallowed there and the server
        went on to "ready" (1 of 5 Ctrl-Cs 0.6-1.5 s after its start, at load 30), or it came out as "[ERROR]
        cannot load scrfd", exit 2."""
        _own_stop[0] = signum
        raise _Stop(signum)


class _Stop(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum


def _check_request(request) -> None:
    """ValueError unless `request` has the shape `served` gives it: a request that passed the checks with an
    "umask" or "argv" of another type ended the server in a traceback as its command began (outside its try)."""
    def texts(value) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    if not (isinstance(request, dict) and texts(request.get("argv")) and isinstance(request.get("prog"), str)
            and isinstance(request.get("cwd"), str) and type(request.get("umask")) is int
            and 0 <= request["umask"] <= 0o777 and isinstance(request.get("env"), dict)
            and texts(list(request["env"].values()))
            and isinstance(request.get("streams"), list) and len(request["streams"]) == 3
            and all(s is None or (isinstance(s, list) and len(s) == 4 and all(isinstance(v, str) for v in s[:2])
                                  and all(isinstance(v, bool) for v in s[2:])) for s in request["streams"])):
        raise ValueError("not a facekit photo command's request")
    import codecs

    for spec in filter(None, request["streams"]):  # LookupError: the streams' encoding, as the caller's are made
        codecs.lookup(spec[0])
        codecs.lookup_error(spec[1])


def _caller_streams(specs: list) -> None:
    """sys.stdin / stdout / stderr over descriptors 0-2 (the caller's now), encoded and buffered as the caller's."""
    import io

    streams: list[io.TextIOWrapper | None] = []  # None where the caller had none (or one with no encoding)
    for fd, spec in zip((0, 1, 2), specs):
        if spec is None:
            streams.append(None)
            continue
        encoding, errors, line, through = spec
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        streams.append(io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line,
                                        write_through=through))
    sys.stdin, sys.stdout, sys.stderr = streams
    # Final in typeshed, yet the command runs as the caller's process would, whose original streams these are.
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]


def _command(argv: list[str]) -> int:
    """The photo command, as `detect_mask_image.py ARGV` runs it; its exit status."""
    from .cli import run_script

    try:
        return run_script("image", argv)
    except SystemExit as exc:  # argparse's --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # noqa: BLE001 - a bug: its traceback goes to the caller, as it would have; the server goes on
        import traceback

        traceback.print_exc()
        return 1


_log_fd = 1  # the server's own standard output, kept aside while a command has descriptor 1 (main)


def log(text: str) -> None:
    """A line on the server's own output, whoever's output sys.stdout is now. A terminal gone (closed, an ssh
    session dropped) ends nothing: the server goes on until stopped."""
    from .errors import one_line

    # One line each: a photo named "a\n[INFO] stopped" split its command's line in two, the second a line of
    # the server's own to a service's log.
    text = one_line(text)
    try:
        os.write(_log_fd, f"[INFO] {text}\n".encode(errors="backslashreplace"))
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .cli.common import ArgumentParser, add_version

    # The commands' parser: a bad option is one [ERROR] line, as on every other command (argparse's own was the
    # usage and "python -m facekit serve: error: ...", which a service's log searched for [ERROR] did not show).
    # --help showed the docstring's Markdown ("`python -m facekit serve`: the photo command ...") and, alone of the
    # commands, no exit statuses.
    p = ArgumentParser(
        prog="python -m facekit serve",
        description=__doc__.split("\n\n")[0].split("`: ", 1)[-1].replace("the", "The", 1),
        epilog="Start it in a terminal of its own (or as a user service) and run photo commands as usual;\n"
               "Ctrl-C stops it. README: 'Many photo commands in a row'.\n\nexit status:\n"
               "  0    ended after --idle seconds without a command\n"
               "  2    an error, one [ERROR] line: a bad option, a socket it cannot listen on, a model missing\n"
               "  130  stopped by Ctrl-C (143 by SIGTERM, 129 by SIGHUP)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", help=f"the socket to listen on (default: {SERVER_ENV}, else the user's runtime "
                                    f"folder); commands look for another only where {SERVER_ENV} names it")
    p.add_argument("--idle", type=float, metavar="SECONDS",
                   help=f"end after this long without a command (default: never; {SERVER_ENV}=auto starts one with "
                        f"{IDLE_S})")
    add_version(p)
    args = p.parse_args(argv)
    if args.idle is not None and not args.idle > 0:
        p.error(f"--idle {args.idle:g}: give a number of seconds above 0")
    if not sys.platform.startswith("linux"):
        print("[ERROR] facekit serve runs on Linux only (it passes file descriptors between processes)",
              file=sys.stderr)
        return 2
    from .assets import _setting_path
    from .errors import FacekitError

    try:
        path = _setting_path("--socket", args.socket) if args.socket else socket_path()
        # As the folder it names from here: `--socket photo.sock` said "where FACEKIT_SERVER=photo.sock is set", which
        # a command run from any other folder looked for in its own folder, found nowhere, and ran in its own process.
        path = Path(os.path.abspath(path))
    except FacekitError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    if os.environ.get(SERVER_ENV, "").lower() in OFF and not args.socket:
        print(f"[ERROR] {SERVER_ENV}={os.environ[SERVER_ENV]} turns the server off: unset it", file=sys.stderr)
        return 2
    for fd in (0, 1, 2):  # a closed one would be the number a command's passed stream is given
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    global _log_fd, _worker
    _log_fd = os.dup(1)
    _worker = True  # its commands run here, not handed on again
    try:
        server = Server(path, args.idle)
    except FacekitError as exc:  # a setting it reads (FACEKIT_MODELS=~/m where "~" is no folder): as the commands
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        server.listen()
    except OSError as exc:
        print(f"[ERROR] cannot serve at {path}: {exc}", file=sys.stderr)
        return 2
    server.answer()
    import signal

    from .runtime import check_settings

    # SIGTERM (systemctl stop, kill) as Ctrl-C: the socket goes with the server. SIGHUP too, which the server's
    # commands also take as their caller's, whose end (killed outright) is theirs.
    _own_stop[0] = None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, server.stop_signal)
    try:
        check_settings()
        log("loading the photo command's models...")
        server.warm()
        if _own_stop[0] is not None:
            raise _Stop(_own_stop[0])
        # A --socket other than the one commands look for: "now run here" while every command ran on in its own
        # process, for none looks there without FACEKIT_SERVER naming it.
        try:
            found = os.path.abspath(socket_path()) == os.path.abspath(path)
        except FacekitError:
            found = False
        whose = "photo commands by this user now run here" if found else \
            f"photo commands run here where {SERVER_ENV}={shlex.quote(str(path))} is set"
        log(f"ready (pid {os.getpid()}): {whose} ({path}); Ctrl-C stops it")
        server.run()
        return 0
    except KeyboardInterrupt as exc:
        log("stopped")
        return 128 + getattr(exc, "signum", signal.SIGINT)  # 130 Ctrl-C, 143 SIGTERM, as the commands end
    except FacekitError as exc:  # a bad FACEKIT_* setting, a model missing or broken: as the photo command says it
        if _own_stop[0] is not None:  # a model a swallowed stop broke off
            log("stopped")
            return 128 + _own_stop[0]
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        server.close()
