"""`python -m facekit serve`: the photo command with its models loaded once, for many commands in a row.

A photo command spends most of its time before the first face: starting Python, importing numpy, OpenCV and
onnxruntime, opening the detector and the heads and letting XNNPACK pack their weights (issue 17: about 0.5-0.7
s for example_03, of which the analysis itself is ~0.2). A script that runs `detect_mask_image.py` once per
photo pays that every time. While `python -m facekit serve` runs, each photo command (detect_mask_image.py,
facekit-image, python -m facekit image) of the same user hands its arguments to it instead: the server forks a
worker that already holds the warm models, and the worker runs the very same command, writing to the caller's
own terminal or pipes (their file descriptors are passed over the socket), in the caller's folder, with the
caller's environment and umask; Ctrl-C and SIGTERM reach it, and its exit status is the command's.

Where the server could run a command differently, the command runs as before, in its own process: another
facekit (version or folder), code or models changed since the server started (the server then stops), other
FACEKIT_* / thread / locale settings, a window to open, or no server. FACEKIT_SERVER=off runs every command
in its own process; FACEKIT_SERVER=PATH names another socket. Linux only (fork, descriptor passing).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
from pathlib import Path

SERVER_ENV = "FACEKIT_SERVER"
OFF = ("0", "off", "no", "false")
# Settings the warm models were made under, which a command must share to be run by them.
_SAME_SETTINGS = ("FACEKIT_", "OMP_", "OPENBLAS_", "ORT_", "TF_", "LC_ALL", "LC_CTYPE", "LANG", "PYTHONUTF8",
                  "PYTHONIOENCODING")
_MAX_HEADER = 1 << 20
_worker = False  # this process is a server's worker: its command runs here, not handed on again


def socket_path() -> Path:
    """FACEKIT_SERVER when it names a path; else the user's runtime folder (XDG_RUNTIME_DIR), else a folder of
    this user's own in the temp folder."""
    given = os.environ.get(SERVER_ENV, "")
    if given and given.lower() not in OFF:
        return Path(given).expanduser()
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


def _settings(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith(_SAME_SETTINGS) and k != SERVER_ENV}


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
    path = socket_path()
    if not path.exists() or not _private_folder(path.parent):
        return None
    if "--no-display" not in argv and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None  # a window would open: OpenCV's GUI in a worker forked from a threaded server is untried
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
        answer = _read(conn, 5)
    except OSError:  # a socket left by a server that is gone, or one that went away mid-way: run here
        conn.close()
        return None
    if answer[:1] != b"R":
        conn.close()
        return None
    return _follow(conn, struct.unpack("!i", answer[1:])[0])


def _follow(conn: socket.socket, worker: int) -> int:
    """Pass this process's stop signals on to the worker and wait for its exit status."""
    import signal

    def forward(signum, _frame):
        try:
            os.kill(worker, signum)
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
        print(f"[ERROR] the facekit server's worker (pid {worker}) ended without an exit status: it crashed or was "
              "killed; see the server's output", file=sys.stderr)
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
    def __init__(self, path: Path):
        import facekit
        from .heads import models_dir

        self.path = path
        self.package = Path(facekit.__file__).resolve().parent
        self.version = facekit.__version__
        self.folders = [self.package, Path(models_dir()).resolve()]
        self.stamp = _stamp(self.folders)
        self.settings = _settings(os.environ)
        self.sock: socket.socket | None = None
        self.identity = None

    def warm(self) -> None:
        """The photo command's default analyzer, made and run once (the detector's passes, each head's XNNPACK
        weights), and left where build_pipeline finds it."""
        import numpy as np

        from .cli import image
        from .cli.common import build_pipeline, keep_warm

        args = image.build_parser().parse_args(["-i", "photo.jpg", "--no-display"])
        analyzer = build_pipeline(args)
        frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        analyzer.analyze(frame)
        for n in (1, 2):
            analyzer.analyze(frame, faces=[(100 + 150 * i, 100, 240 + 150 * i, 260) for i in range(n)])
        keep_warm(args, analyzer)

    def listen(self) -> None:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_folder(folder):
            raise OSError(f"{folder} is not this user's own folder (mode 700): choose another with {SERVER_ENV}")
        if self.path.exists() or self.path.is_symlink():
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
        self.sock.bind(str(self.path))
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

    def run(self) -> None:
        import signal

        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers reaped as they end
        while True:
            conn, _ = self.sock.accept()
            with conn:
                if not self._take(conn):
                    log("stopped: facekit's code or models changed since it started (start it again to serve them)")
                    return

    def _take(self, conn: socket.socket) -> bool:
        """Fork a worker for one command; False when the server must stop (its code changed)."""
        fds: list[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                return True
            data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
            if len(data) < 4:
                return True
            size = struct.unpack("!I", data[:4])[0]
            if size > _MAX_HEADER:
                return True
            data = data[4:] + _read(conn, size - len(data) + 4)
            request = json.loads(data)
            why = self._refusal(request, fds)
            if why:
                log(f"ran in its own process ({why}): {' '.join(request['argv'])}")
                conn.sendall(b"N" + struct.pack("!i", 0))
                return not why.startswith("facekit's")
            pid = os.fork()
            if pid == 0:
                self.sock.close()
                _work(conn, request, fds)  # never returns
            conn.sendall(b"R" + struct.pack("!i", pid))
            log(f"worker {pid}: {' '.join(request['argv'])}")
            return True
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log(f"a request could not be read: {exc}")
            return True
        finally:
            for fd in fds:
                os.close(fd)

    def _refusal(self, request: dict, fds: list[int]) -> str:
        if len(fds) != 3:
            return "its standard streams did not come"
        if request["version"] != self.version or Path(request["package"]) != self.package:
            return f"another facekit: {request['version']} in {request['package']}"
        if request["fsencoding"] != sys.getfilesystemencoding() or _settings(request["env"]) != self.settings:
            return "other FACEKIT_*, thread or locale settings than the server's"
        if _stamp(self.folders) != self.stamp:
            return "facekit's code or models changed since the server started; it stops: start it again"
        return ""


def _work(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked worker: become the caller's command, run it, send its exit status, exit."""
    global _worker
    import io
    import signal
    import threading

    _worker = True
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # the server's own Ctrl-C stops the server, not the commands it is running
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["prog"], *request["argv"]]
        streams = []
        for fd, spec in zip((0, 1, 2), request["streams"]):
            if spec is None:
                streams.append(None)
                continue
            encoding, errors, line, through = spec
            raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
            buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
            streams.append(io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line,
                                            write_through=through))
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams

        def caller_gone():  # the caller was killed (kill -9): stop as when a terminal closes
            try:
                _read(conn, 1)
            except OSError:
                pass
            os.kill(os.getpid(), signal.SIGHUP)

        threading.Thread(target=caller_gone, daemon=True).start()
        os.chdir(request["cwd"])
        from .cli import run_script

        code = run_script("image", request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - a bug: its traceback goes to the caller, as it would have
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a reader gone: nothing more to say to it
                pass
        try:
            conn.sendall(struct.pack("!i", code))
        except OSError:
            pass
        os._exit(code)


def log(text: str) -> None:
    print(f"[INFO] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m facekit serve", description=__doc__.split("\n\n")[0],
        epilog="Start it in a terminal of its own (or as a user service) and run photo commands as usual; Ctrl-C "
               "stops it. README: 'Many photo commands in a row'.")
    p.add_argument("--socket", help=f"the socket to listen on (default: {SERVER_ENV}, else the user's runtime "
                                    "folder)")
    args = p.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("[ERROR] facekit serve runs on Linux only (it forks, and passes file descriptors)", file=sys.stderr)
        return 2
    path = Path(args.socket).expanduser() if args.socket else socket_path()
    if os.environ.get(SERVER_ENV, "").lower() in OFF and not args.socket:
        print(f"[ERROR] {SERVER_ENV}={os.environ[SERVER_ENV]} turns the server off: unset it", file=sys.stderr)
        return 2
    for fd in (0, 1, 2):  # a closed one would be the number a command's passed stream is given
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    server = Server(path)
    try:
        server.listen()
    except OSError as exc:
        print(f"[ERROR] cannot serve at {path}: {exc}", file=sys.stderr)
        return 2
    import signal

    from .errors import FacekitError
    from .runtime import check_settings

    stopped_by = [signal.SIGINT]

    def stop(signum, _frame):
        stopped_by[0] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # as Ctrl-C: the socket goes with the server (systemctl stop, kill)
    try:
        check_settings()
        log("loading the photo command's models...")
        server.warm()
        log(f"ready: photo commands by this user now run here ({path}); Ctrl-C stops it")
        server.run()
        return 0
    except KeyboardInterrupt:
        log("stopped")
        return 128 + stopped_by[0]  # 130 Ctrl-C, 143 SIGTERM, as the commands end
    except FacekitError as exc:  # a bad FACEKIT_* setting, a model missing or broken: as the photo command says it
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        server.close()
