"""`python -m facekit serve`: photo commands handed to a warm server give what they give in their own process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, _environment, line_on_stdout, run_script, signals_default

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server forks and passes descriptors")


def _start(sock: Path, env: dict | None = None, timeout: float = 180) -> subprocess.Popen:
    """The server, ready: its ready line in proc.ready, and every line it prints in proc.lines (a thread reads them
    as they come). A readline() here waited for ever on a server that hung before a line; one that ends first, or
    is not ready in `timeout` s (killed then), fails the test with what it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "facekit", "serve", "--socket", str(sock)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_environment(env))
    proc.lines = []
    proc.reader = threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True)
    proc.reader.start()
    deadline = time.monotonic() + timeout
    while True:
        ended = not proc.reader.is_alive()  # before the look at the lines: its last ones are in by then
        proc.ready = next((line for line in list(proc.lines) if line.startswith("[INFO] ready")), None)
        if proc.ready:
            return proc
        if ended:
            raise AssertionError(f"the server ended before it was ready (exit {proc.wait(timeout=60)}): "
                                 f"{''.join(proc.lines)}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the server was not ready in {timeout:.0f} s: {''.join(proc.lines)}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    folder.chmod(0o700)
    sock = folder / "photo.sock"
    proc = _start(sock)
    yield sock, proc
    # Stopped right after a command: it was taken for that command's caller's own signal, and ignored.
    assert _command(["--version"], sock).returncode == 0
    proc.send_signal(signal.SIGTERM)  # as systemctl stop does
    try:
        status = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # not left running after the tests, holding its models
        raise
    assert status == 143
    assert not sock.exists(), "the server left its socket behind"


def _command(args, sock, cwd=ROOT, env=None, umask=None):
    def child():
        if umask is not None:
            os.umask(umask)

    return subprocess.run([sys.executable, str(ROOT / "detect_mask_image.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300, preexec_fn=child,
                          env=_environment({"FACEKIT_SERVER": str(sock), **(env or {})}))


def _log(proc, *expected: str) -> str:
    """What the server printed so far (a line per command, flushed as the command is handed on), once it holds each
    of `expected` or 60 s have passed: a reader thread collects the lines, and a fixed wait assumed it had by then."""
    deadline = time.monotonic() + 60
    while not all(text in "".join(proc.lines) for text in expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "".join(proc.lines)


def _served(proc: subprocess.Popen, sock: Path, args: list, **popen) -> subprocess.Popen:
    """The photo command `args`, started once the server, not its caller's own process, runs it. The server lets go
    of a command only after its outputs are finished and its caller told, or gone: a caller started then (a test's
    next, on a loaded machine) was sent back to run in its own process, which the test stopped or fed as if the
    server ran it. Such a one is killed and started again."""
    said = " ".join(map(str, args))
    deadline = time.monotonic() + 120
    while True:
        seen = len(proc.lines)
        caller = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_image.py"), *map(str, args)], cwd=ROOT,
                                  env=_environment({"FACEKIT_SERVER": str(sock)}), **popen)
        due = time.monotonic() + 60  # the server's line on it, taken or sent back, read by _start's thread
        while not (lines := [line for line in proc.lines[seen:] if line.rstrip().endswith(said)]) \
                and time.monotonic() < due:
            time.sleep(0.05)
        if lines and lines[0].startswith("[INFO] command "):
            return caller
        caller.kill()
        caller.wait()
        assert lines, f"the server said nothing of {said} in 60 s: {''.join(proc.lines)}"
        assert time.monotonic() < deadline, f"the server sent {said} back for 120 s: {''.join(proc.lines)}"
        time.sleep(0.5)


def _listening_server(tmp_path):
    """A serve.Server listening on a socket in a private folder, with the queue and locks its threads share and no
    models: for the tests of how it answers what comes over the socket."""
    import queue

    from facekit import serve

    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    server = serve.Server(folder / "photo.sock")
    server.listen()
    server.jobs, server.busy, server.state = queue.Queue(), threading.Lock(), threading.Lock()
    return server


def _answering_server(tmp_path):
    """A _listening_server done loading and answering callers on a thread; and a request it takes to run (this
    process's facekit, settings and folder)."""
    server = _listening_server(tmp_path)
    server.loading = False
    threading.Thread(target=server._answer, daemon=True).start()
    request = {"argv": ["-i", "a.jpg"], "prog": "detect_mask_image.py", "cwd": os.getcwd(), "env": dict(os.environ),
               "umask": 0o022, "version": server.version, "package": str(server.package),
               "fsencoding": sys.getfilesystemencoding(), "streams": [None, None, None]}
    return server, request


def test_a_server_on_a_socket_commands_do_not_look_for_says_which_commands_it_gets(server):
    """`serve --socket PATH` said "photo commands by this user now run here" while each command ran on in its own
    process: none looks there unless FACEKIT_SERVER names it (the tests' is off)."""
    sock, proc = server
    assert proc.ready.rstrip() == (f"[INFO] ready (pid {proc.pid}): photo commands run here where FACEKIT_SERVER={sock}"
                                   f" is set ({sock}); Ctrl-C stops it"), proc.ready


def test_a_served_photo_command_gives_what_its_own_process_gives(server, media, tmp_path):
    """Same console lines, same JSON, the photo named relative to the caller's folder, files made under the
    caller's umask, and errors with their exit status; the server says it ran each one."""
    sock, proc = server
    shutil.copy(media / "two_people.jpg", tmp_path / "photo.jpg")
    served = _command(["-i", "photo.jpg", "-j", "served.json", "-o", "served.png", "--no-display"], sock,
                      cwd=tmp_path, umask=0o077)
    own = run_script("detect_mask_image.py", "-i", tmp_path / "photo.jpg", "-j", tmp_path / "own.json",
                     "--no-display")
    assert served.returncode == own.returncode == 0, served.stderr
    assert json.loads((tmp_path / "served.json").read_text())["faces"] == json.loads(
        (tmp_path / "own.json").read_text())["faces"]
    assert len(json.loads((tmp_path / "served.json").read_text())["faces"]) == 2
    face_lines = [ln for ln in served.stdout.splitlines() if ln.startswith("  face ")]
    assert len(face_lines) == 2 and face_lines == [ln for ln in own.stdout.splitlines() if ln.startswith("  face ")]
    assert (tmp_path / "served.png").stat().st_mode & 0o777 == 0o600
    missing = _command(["-i", "nope.jpg", "--no-display"], sock, cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("[ERROR] nope.jpg: no such file"), missing.stderr
    log = _log(proc, "-i photo.jpg -j served.json", "-i nope.jpg")
    assert "-i photo.jpg -j served.json" in log and "-i nope.jpg" in log, log


def test_a_served_command_stops_on_ctrl_c_and_when_its_caller_is_killed(server, media, tmp_path):
    """Ctrl-C reaches the server's worker (exit 130, the JSON Lines of the photos done kept whole); a caller
    killed outright ends its worker as a closed terminal does, and its outputs are finished, not left half."""
    sock, proc = server
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(30):
        shutil.copy(media / "solvay_conference.jpg", photos / f"p{i}.jpg")
    for how, out in (("ctrl-c", tmp_path / "a.jsonl"), ("kill", tmp_path / "b.jsonl")):
        caller = _served(proc, sock, ["-i", photos, "-j", out, "--no-display", "--tasks", "mask"], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=signals_default)
        line_on_stdout(caller, "p0.jpg", timeout=300)
        caller.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        caller.communicate(timeout=120)
        if how == "ctrl-c":
            assert caller.returncode == 130
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline:  # the worker finishes after its caller is gone
            time.sleep(0.2)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert 1 <= len(records) < 30, how
        assert all(len(r["faces"]) > 3 for r in records)


def test_a_command_that_comes_while_another_runs_runs_in_its_own_process(server, media, tmp_path):
    """The server runs one command at a time: a second caller is sent back at once to run in its own process,
    rather than waiting behind a long run; both give their results. The first reads its photo piped in (`-i -`),
    so it runs for as long as the test holds its pipe open: a folder of 12 photos, timed to outlast the second
    caller's start, left that race to a loaded machine's pace."""
    sock, proc = server
    # The server runs it, waiting for the photo.
    long = _served(proc, sock, ["-i", "-", "-j", tmp_path / "long.json", "--no-display", "--tasks", "mask"],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        short = _command(["-i", media / "obama.jpg", "-j", tmp_path / "short.json", "--no-display"], sock)
        assert short.returncode == 0, short.stderr
        assert len(json.loads((tmp_path / "short.json").read_text())["faces"]) == 1
        assert long.poll() is None  # still running when the second came
        _, err = long.communicate((media / "two_people.jpg").read_bytes(), timeout=300)
    finally:
        if long.poll() is None:
            long.kill()
            long.wait()
    assert long.returncode == 0, err
    assert len(json.loads((tmp_path / "long.json").read_text())["faces"]) == 2
    # The server's line on the second caller, read by _start's thread: not there yet, maybe, when the test is.
    sent_back = f"ran in its own process (another command was running): -i {media / 'obama.jpg'}"
    assert sent_back in _log(proc, sent_back), "".join(proc.lines)


def test_the_server_steps_aside_for_other_settings(server, media, tmp_path):
    """A command with other FACEKIT_* settings than the server's runs in its own process, and says nothing
    of it: its results are the same."""
    sock, proc = server
    res = _command(["-i", media / "obama.jpg", "-j", tmp_path / "o.json", "--no-display", "--tasks", "mask"], sock,
                   env={"FACEKIT_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert len(json.loads((tmp_path / "o.json").read_text())["faces"]) == 1
    assert "ran in its own process (other FACEKIT_*" in _log(proc, "ran in its own process (other FACEKIT_*")


def test_auto_starts_a_server_for_the_commands_after_the_first_which_ends_when_idle(media, tmp_path):
    """FACEKIT_SERVER=auto in a job's environment: the first command runs in its own process and starts a server
    in the background; the next ones are handed to it; it ends by itself after --idle seconds without one."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {"FACEKIT_SERVER": "auto", "XDG_RUNTIME_DIR": str(runtime)}
    first = _command(["-i", media / "obama.jpg", "-j", tmp_path / "1.json", "--no-display", "--tasks", "mask"],
                     "auto", env=env)
    assert first.returncode == 0, first.stderr
    log, sock = runtime / "facekit" / "serve.log", runtime / "facekit" / "photo.sock"
    deadline = time.monotonic() + 120
    while "[INFO] ready" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sock.exists(), log.read_text()
    pid = int(log.read_text().split("ready (pid ")[1].split(")")[0])
    assert f"ready (pid {pid}): photo commands by this user now run here ({sock})" in log.read_text()
    try:
        second = _command(["-i", media / "obama.jpg", "-j", tmp_path / "2.json", "--no-display", "--tasks", "mask"],
                          "auto", env=env)
        assert second.returncode == 0, second.stderr
        assert json.loads((tmp_path / "2.json").read_text()) == json.loads((tmp_path / "1.json").read_text())
        assert f"command 1: -i {media / 'obama.jpg'} -j {tmp_path / '2.json'}" in log.read_text(), log.read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    # --idle: the server ends by itself, its socket gone.
    idle = subprocess.Popen([sys.executable, "-m", "facekit", "serve", "--socket", str(tmp_path / "idle.sock"),
                             "--idle", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = idle.communicate(timeout=120)
    assert idle.returncode == 0 and "stopped: no command for 1 s" in out, out
    assert not (tmp_path / "idle.sock").exists()


def test_changed_code_or_models_stop_the_server(tmp_path):
    """A server started before a `git pull` or a retrained head would run the old code and models: it sends
    such a command back to run in its own process."""
    from facekit.serve import Server

    code = tmp_path / "pkg"
    code.mkdir()
    (code / "module.py").write_text("A = 1\n")
    server = Server(tmp_path / "unused.sock")
    server.folders = [code]
    server.stamp = __import__("facekit.serve", fromlist=["_stamp"])._stamp([code])
    request = {"version": server.version, "package": str(server.package), "fsencoding": sys.getfilesystemencoding(),
               "env": dict(os.environ), "cwd": os.getcwd()}
    assert server._refusal(request, [0, 1, 2]) == ""
    os.utime(code / "module.py", ns=(time.time_ns() + 10**9,) * 2)
    assert "changed since the server started" in server._refusal(request, [0, 1, 2])
    assert "another facekit" in server._refusal({**request, "version": "0.0.1"}, [0, 1, 2])


def test_a_socket_folder_others_may_write_is_neither_served_nor_used(tmp_path, media, monkeypatch):
    """In a shared temp folder another user could make the folder first and listen there: the server refuses
    a folder that is not the user's alone, and commands do not hand themselves to a socket in one."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    res = subprocess.run([sys.executable, "-m", "facekit", "serve", "--socket", str(shared / "p.sock")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == (f"[ERROR] cannot serve at {shared / 'p.sock'}: {shared} is not this user's own "
                                  "folder (mode 700): choose another (--socket, FACEKIT_SERVER)")
    bad = subprocess.run([sys.executable, "-m", "facekit", "serve", "--socket", str(tmp_path / "p.sock")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=_environment({"FACEKIT_THREADS": "abc"}))
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "[ERROR] FACEKIT_THREADS=abc: expected a whole number, 1 or more"], bad.stderr
    from facekit import serve

    monkeypatch.setenv("FACEKIT_SERVER", str(shared / "p.sock"))
    (shared / "p.sock").write_text("")  # something there, in a folder anyone may write
    assert serve.served(["-i", str(media / "obama.jpg"), "--no-display"]) is None


def test_a_bad_serve_option_is_one_error_line():
    """`python -m facekit serve --idle abc` (or an unknown option) was argparse's usage and a line "python -m facekit
    serve: error: ...": no [ERROR] line for a service's log, unlike every other command's."""
    for args, needle in ((["--idle", "abc"], "invalid float value: 'abc'"), (["--idle", "0"], "--idle 0: give a "),
                         (["--bogus"], "unrecognized arguments: --bogus")):
        res = subprocess.run([sys.executable, "-m", "facekit", "serve", *args], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 2, res.stderr
        line, = res.stderr.splitlines()
        assert line.startswith("[ERROR] ") and needle in line and line.endswith(
            "(see python -m facekit serve --help)"), line


def test_serve_help_reads_as_the_other_commands(capsys):
    """`python -m facekit serve --help` began with its docstring's Markdown ("`python -m facekit serve`: the photo
    command ...") and, alone of the commands, listed no exit statuses."""
    from facekit.serve import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    said = capsys.readouterr().out
    assert "`" not in said and "\nThe photo command with its models loaded once" in said, said
    assert "\nexit status:\n  0    " in said and "\n  130  stopped by Ctrl-C" in said, said


def test_a_relative_models_folder_is_the_callers_own_not_the_servers(monkeypatch, tmp_path):
    """FACEKIT_MODELS=models (README: a folder's own heads) in the server's environment and a command's: the same
    string, so a server started in one folder ran a command from another with the first folder's heads, and
    its results were those of other heads, without a word. The folder settings are compared as folders."""
    from facekit.serve import Server, _settings

    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    monkeypatch.setenv("FACEKIT_MODELS", "models")
    monkeypatch.chdir(here)
    server = Server(tmp_path / "unused.sock")
    request = {"version": server.version, "package": str(server.package), "fsencoding": sys.getfilesystemencoding(),
               "env": dict(os.environ), "cwd": str(here)}
    assert server._refusal(request, [0, 1, 2]) == ""
    assert "other FACEKIT_*" in server._refusal({**request, "cwd": str(there)}, [0, 1, 2])
    # An absolute setting is one folder from anywhere; "~" is each side's own home.
    assert _settings({"FACEKIT_MODELS": str(here / "models")}, str(there)) == \
        _settings({"FACEKIT_MODELS": "models"}, str(here))
    assert _settings({"FACEKIT_CACHE": "~/c", "HOME": str(here)}, "/") == {"FACEKIT_CACHE": str(here / "c")}


def test_serve_replaces_a_stale_socket_but_never_a_file(tmp_path):
    """`python -m facekit serve --socket results.csv` (or FACEKIT_SERVER naming a photo, a slip) in a folder of the
    user's own: a file there that no server answered on was taken for a killed server's socket and deleted."""
    import socket

    from facekit.serve import Server

    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    kept = folder / "results.csv"
    kept.write_text("precious\n")
    res = subprocess.run([sys.executable, "-m", "facekit", "serve", "--socket", str(kept), "--idle", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.splitlines() == [
        f"[ERROR] cannot serve at {kept}: {kept} is there and is not a socket: name a path where no file is "
        "(--socket, FACEKIT_SERVER)"], res.stderr
    assert kept.read_text() == "precious\n"
    # A socket left by a server that was killed is still replaced.
    stale = folder / "photo.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(stale))
    left.close()
    server = Server(stale)
    try:
        server.listen()
    finally:
        server.close()
    assert not stale.exists()


def test_a_tilde_that_names_no_folder_is_one_line_from_the_server_and_the_commands(tmp_path, media):
    """A user with no home folder (a container run as --user 12345, no HOME): FACEKIT_MODELS=~/models ended the
    server in an AssetError traceback as it started, FACEKIT_SERVER=~/photo.sock every photo command in a
    RuntimeError traceback, and so did --socket ~/photo.sock. Each is one line naming the setting."""
    code = ("import pathlib, sys\n"
            "real = pathlib.Path.expanduser\n"
            "def no_home(self):\n"
            "    if str(self).startswith('~'):\n"
            "        raise RuntimeError('Could not determine home directory.')\n"
            "    return real(self)\n"
            "pathlib.Path.expanduser = no_home\n"
            "sys.argv[0] = 'facekit-image'\n"
            "from facekit.cli import run_script\n"
            "sys.exit(run_script(sys.argv[1], sys.argv[2:]))\n")
    sock = str(tmp_path / "p.sock")
    for env, args, setting in (({"FACEKIT_MODELS": "~/models"}, ["facekit.serve", "--socket", sock], "FACEKIT_MODELS"),
                               ({"FACEKIT_SERVER": "~/p.sock"}, ["image", "-i", media / "obama.jpg", "--no-display"],
                                "FACEKIT_SERVER"),
                               ({"FACEKIT_SERVER": None}, ["facekit.serve", "--socket", "~/p.sock"], "--socket")):
        res = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env=_environment(env))
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.splitlines()[-1].startswith(f"[ERROR] {setting}=~/"), res.stderr
        assert "~ names no folder here (HOME is not set" in res.stderr.splitlines()[-1], res.stderr


def test_a_caller_that_connects_and_sends_nothing_does_not_hold_up_the_others(tmp_path):
    """A connection left open without a request (a probe, `socat - UNIX-CONNECT:photo.sock`) held the thread that
    answers callers: every command after it waited 10 s, then ran in its own process, while the server kept the
    streams it had passed (a caller's `$(...)` waited on them for as long as that connection lasted)."""
    import socket
    import struct

    server = _listening_server(tmp_path)
    threading.Thread(target=server._answer, daemon=True).start()
    silent, caller = (socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2))
    read_end, write_end = os.pipe()
    try:
        silent.connect(str(server.path))
        caller.connect(str(server.path))
        header = json.dumps({"argv": ["-i", "a.jpg"], "version": "0.0.0", "package": "/elsewhere"}).encode()
        socket.send_fds(caller, [struct.pack("!I", len(header)) + header], [write_end, write_end, write_end])
        os.close(write_end)
        caller.settimeout(8)  # below the 10 s a caller waits for an answer
        assert caller.recv(1) == b"N"  # sent back to run in its own process, at once
        os.set_blocking(read_end, False)
        assert os.read(read_end, 1) == b""  # and the server holds none of its streams
    finally:
        for sock in (silent, caller):
            sock.close()
        os.close(read_end)
        server.close()


def test_a_sigterm_to_the_server_during_a_command_stops_the_server_after_it(tmp_path, monkeypatch):
    """`systemctl stop` (one SIGTERM) while a command ran stopped that command and no more: the server went on,
    and systemd waited 90 s and killed it. The command is finalized (exit 143) and then the server stops; a
    SIGTERM its caller passes on stops the command alone."""
    import socket
    import struct

    from facekit import serve
    from facekit.signals import (clear_stop, exit_status, restore_handlers, set_stop_handler, stop_handler,
                                 stop_requested)

    def command(to_server, caller):
        def run(_argv):
            clear_stop()  # as every command starts
            previous = set_stop_handler(stop_handler)
            try:
                if to_server:
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    caller.sendall(bytes([signal.SIGTERM]))  # the caller's own, passed on
                deadline = time.monotonic() + 10
                while not stop_requested() and time.monotonic() < deadline:
                    time.sleep(0.01)
                return exit_status() if stop_requested() else 0
            except KeyboardInterrupt:
                return exit_status()
            finally:
                restore_handlers(previous)
        return run

    server = serve.Server(tmp_path / "unused.sock")
    server.state, server.busy = threading.Lock(), threading.Lock()
    request = {"argv": ["-i", "a.jpg"], "prog": "detect_mask_image.py", "cwd": str(tmp_path), "env": dict(os.environ),
               "umask": 0o022, "streams": [None, None, None]}
    try:
        for to_server in (True, False):
            server.busy.acquire(blocking=False)  # as the thread that answered the caller holds it
            here, there = socket.socketpair()
            here.settimeout(60)  # a server that kept the connection and sent no status held the test for ever
            monkeypatch.setattr(serve, "_command", command(to_server, here))
            fds = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
            stopped = None
            try:
                server._run(1, there, dict(request), fds)
            except KeyboardInterrupt as exc:
                stopped = getattr(exc, "signum", None)
            assert here.recv(1) == b"R" and struct.unpack("!i", here.recv(4))[0] == 143
            assert stopped == (signal.SIGTERM if to_server else None), to_server
            assert server.busy.locked() == to_server  # a server that stops takes no command after it
            here.close()
    finally:
        clear_stop()


def test_a_scripts_next_command_sent_as_the_last_one_ends_is_run_by_the_server(tmp_path, monkeypatch):
    """The server told a caller its command's exit status before it was free for the next: a script's next command,
    sent as soon as the last one's status came, could find it still busy ("another command was running") and run
    in its own process, its models loaded again. Made certain here by a server slow (0.5 s) between the two: both
    commands are now taken."""
    import socket
    import struct

    from facekit import serve, signals

    real = signals.stop_requested

    def slow_stop_requested():
        time.sleep(0.5)
        return real()

    monkeypatch.setattr(signals, "stop_requested", slow_stop_requested)
    monkeypatch.setattr(serve, "_command", lambda argv: 0)
    server, request = _answering_server(tmp_path)
    answers: list = []

    def script():
        try:
            for _ in range(2):
                caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                streams = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
                try:
                    caller.connect(str(server.path))
                    header = json.dumps(request).encode()
                    socket.send_fds(caller, [struct.pack("!I", len(header)) + header], streams)
                    caller.settimeout(30)
                    answers.append(caller.recv(1))
                    if answers[-1] == b"R":
                        answers.append(struct.unpack("!i", caller.recv(4))[0])
                finally:
                    caller.close()
                    for fd in streams:
                        os.close(fd)
        finally:
            server.jobs.put(None)  # then the server stops

    helper = threading.Thread(target=script, daemon=True)
    helper.start()
    try:
        server.run()
    finally:
        server.close()
    helper.join(timeout=60)
    assert answers == [b"R", 0, b"R", 0], answers


def test_a_command_whose_caller_gave_up_waiting_is_not_run_nor_written_to(tmp_path, monkeypatch, capfd):
    """A server stopped with Ctrl-Z (or slow to load) answers a caller after its 10 s wait, when the caller has run
    the command in its own process: the server tried to run it too, and the caller's output got a last line
    "[ERROR] [Errno 32] Broken pipe" after its command's own lines and exit 0."""
    import socket

    from facekit import serve

    ran = []
    monkeypatch.setattr(serve, "_command", lambda argv: ran.append(argv) or 0)
    server = serve.Server(tmp_path / "unused.sock")
    server.state = threading.Lock()
    here, there = socket.socketpair()
    here.close()  # the caller, gone
    read_end, write_end = os.pipe()
    fds = [os.open(os.devnull, os.O_RDONLY), write_end, os.dup(write_end)]
    request = {"argv": ["-i", "a.jpg"], "prog": "detect_mask_image.py", "cwd": str(tmp_path), "env": dict(os.environ),
               "umask": 0o022, "streams": [None, ["utf-8", "strict", True, False], ["utf-8", "strict", True, False]]}
    server._run(1, there, request, fds)
    os.set_blocking(read_end, False)
    assert os.read(read_end, 100) == b"" and ran == []  # nothing said to it, its command not run twice
    os.close(read_end)
    assert "not run (its caller ran it in its own process" in capfd.readouterr().out


def test_a_command_that_comes_while_the_server_loads_is_sent_back_at_once(tmp_path):
    """The socket is there before the models are loaded (FACEKIT_SERVER=auto's next command finds it): a caller
    then waited for the loading to end, up to 10 s on a slow machine, before it ran in its own process anyway."""
    import socket
    import struct

    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    sock = folder / "photo.sock"
    proc = subprocess.Popen([sys.executable, "-m", "facekit", "serve", "--socket", str(sock)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_environment(None))
    caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                caller.connect(str(sock))
                break
            except OSError:  # not there yet, or bound and not yet listening
                assert time.monotonic() < deadline
                time.sleep(0.02)
        header = json.dumps({"argv": ["-i", "a.jpg"], "version": "0.0.0", "package": "/elsewhere"}).encode()
        socket.send_fds(caller, [struct.pack("!I", len(header)) + header], [0, 1, 2])
        caller.settimeout(60)
        assert caller.recv(1) == b"N"
    finally:
        caller.close()
        proc.send_signal(signal.SIGTERM)
        said = proc.communicate(timeout=60)[0].decode()
    # Answered while it loads: the server's line on the caller comes before its ready line, if any (the test's
    # own look at the output after the answer came could be late by as long as a loaded machine kept it waiting).
    sent_back = said.find("ran in its own process (another facekit")
    assert 0 <= sent_back and "[INFO] ready" not in said[:sent_back], said


def test_a_malformed_request_is_sent_back_and_its_streams_closed(tmp_path):
    """A request the server could not make sense of other than as a JSON or key error (nested too deep, "env" a
    list) had no answer and its three streams stayed open in the server: a caller's `$(...)` hung until it ended."""
    import socket
    import struct

    server = _listening_server(tmp_path)
    threading.Thread(target=server._answer, daemon=True).start()
    good = {"argv": ["-i", "a.jpg"], "version": server.version, "package": str(server.package),
            "fsencoding": sys.getfilesystemencoding(), "cwd": str(tmp_path)}
    try:
        for header in (b"[" * 100_000, json.dumps({**good, "env": ["FACEKIT_THREADS=1"]}).encode()):
            caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            read_end, write_end = os.pipe()
            try:
                caller.connect(str(server.path))
                socket.send_fds(caller, [struct.pack("!I", len(header)) + header], [write_end] * 3)
                os.close(write_end)
                caller.settimeout(8)
                assert caller.recv(1) == b"N"
                os.set_blocking(read_end, False)
                assert os.read(read_end, 1) == b""  # the server holds none of its streams
            finally:
                caller.close()
                os.close(read_end)
    finally:
        server.close()


def test_idle_inf_is_never_not_a_traceback(tmp_path):
    """`serve --idle inf` (never: the default) or 1e10 was an OverflowError traceback from the wait for a command,
    once the models had loaded."""
    import queue

    from facekit import serve

    server = serve.Server(tmp_path / "unused.sock", idle=float("inf"))
    server.jobs, server.busy = queue.Queue(), threading.Lock()
    threading.Timer(0.3, server.jobs.put, args=(None,)).start()  # a command of changed code: the server stops
    server.run()


def test_a_request_of_the_wrong_shape_is_sent_back_not_run(tmp_path):
    """A request that passed the server's checks (its facekit, settings) with an "umask" or "argv" of another type
    ended the server in a traceback as its command began: every caller after it ran in its own process."""
    import socket
    import struct

    server, good = _answering_server(tmp_path)
    try:
        for change in ({"umask": "022"}, {"umask": 1 << 40}, {"argv": ["-i", 5]}, {"streams": [["nope", "strict",
                                                                                                 False, False]] * 3}):
            caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                caller.connect(str(server.path))
                header = json.dumps({**good, **change}).encode()
                socket.send_fds(caller, [struct.pack("!I", len(header)) + header], [0, 1, 2])
                caller.settimeout(8)
                assert caller.recv(1) == b"N", change
                assert server.jobs.empty(), change  # not taken up to be run
            finally:
                caller.close()
        caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        caller.connect(str(server.path))
        header = json.dumps(good).encode()
        socket.send_fds(caller, [struct.pack("!I", len(header)) + header], [0, 1, 2])
        conn, request, fds = server.jobs.get(timeout=8)  # the request as sent is taken up
        for fd in fds:
            os.close(fd)
        conn.close()
        caller.close()
    finally:
        server.close()


def test_a_photo_name_with_a_line_break_stays_on_its_command_line_in_the_servers_log(capfd):
    """The server logged each command's arguments as they were: a photo named "a\\n[INFO] stopped" split its
    command's line in two in a service's log, the second read as a line of the server's own."""
    from facekit import serve

    serve.log("command 1: -i a.jpg\n[INFO] stopped\r --no-display")
    assert capfd.readouterr().out == "[INFO] command 1: -i a.jpg\\n[INFO] stopped\\r --no-display\n"


def test_a_socket_path_over_the_limit_says_the_limit(tmp_path):
    """`--socket` deep in a project folder said "cannot serve at ...: AF_UNIX path too long": neither the limit
    nor what to do about it."""
    from facekit.serve import SOCKET_PATH_MAX, Server

    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    path = folder / ("s" * (120 - len(os.fsencode(folder))))
    with pytest.raises(OSError) as caught:
        Server(path).listen()
    assert str(caught.value) == (f"a socket's path is at most {SOCKET_PATH_MAX - 1} bytes here (this one: 121): "
                                 "choose a shorter one (--socket, FACEKIT_SERVER)")
    assert not path.exists()


def test_a_command_hands_itself_to_no_socket_in_a_shared_folder_nor_with_a_window_to_open(tmp_path, media,
                                                                                          monkeypatch):
    """A photo command must not pass its arguments, environment and streams to a socket in a folder others may
    write (theirs could be listening there), nor to a server when it would open a window (on the server's display,
    in its process). A socket that listens but never answers shows whether the command connected at all."""
    import socket

    from facekit import serve

    monkeypatch.setattr(serve, "ANSWER_S", 0.2)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    photo = ["-i", str(media / "obama.jpg")]

    def connected(folder: Path, argv: list[str]) -> bool:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(folder / "p.sock"))
        listener.listen(1)
        listener.setblocking(False)
        monkeypatch.setenv("FACEKIT_SERVER", str(folder / "p.sock"))
        try:
            assert serve.served(argv) is None  # no answer: it runs in its own process
            try:
                listener.accept()[0].close()
            except BlockingIOError:
                return False
            return True
        finally:
            listener.close()
            (folder / "p.sock").unlink()

    own, shared = tmp_path / "own", tmp_path / "shared"
    own.mkdir(mode=0o700)
    shared.mkdir()
    shared.chmod(0o777)
    assert connected(own, [*photo, "--no-display"])  # the case a server takes: the socket does see a caller
    assert not connected(shared, [*photo, "--no-display"])
    monkeypatch.setenv("DISPLAY", ":0")
    assert not connected(own, photo)
    assert connected(own, [*photo, "--no-display"])


def test_a_head_retrained_in_place_or_a_folder_others_may_write_is_not_served(tmp_path):
    """A head retrained into its own folder (models/mask/model.tflite written anew) while a server ran: a fresh
    process loads the new model, so the server must send the command back rather than run the old one. And a
    socket folder is the user's alone only where neither its group nor others have any access to it (mode 700)."""
    from facekit.serve import Server, _private_folder, _stamp

    heads = tmp_path / "mask"
    heads.mkdir()
    (heads / "model.tflite").write_bytes(b"TFL3 before")
    server = Server(tmp_path / "unused.sock")
    server.folders = [heads]
    server.stamp = _stamp([heads])
    request = {"version": server.version, "package": str(server.package), "fsencoding": sys.getfilesystemencoding(),
               "env": dict(os.environ), "cwd": os.getcwd()}
    assert server._refusal(request, [0, 1, 2]) == ""
    os.utime(heads / "model.tflite", ns=(time.time_ns() + 10**9,) * 2)
    assert "changed since the server started" in server._refusal(request, [0, 1, 2])
    for mode, private in ((0o700, True), (0o770, False), (0o750, False), (0o707, False)):
        folder = tmp_path / f"run{mode:o}"
        folder.mkdir()
        folder.chmod(mode)
        assert _private_folder(folder) is private, oct(mode)


def test_a_server_that_ends_during_a_command_is_one_line_and_exit_1(tmp_path, media, monkeypatch, capsys):
    """The server killed while it runs a command (the out-of-memory killer, kill -9): the caller, which had handed
    the command on, says so in one line and exits 1, rather than wait or end in a traceback."""
    import signal
    import socket

    from facekit import serve

    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "p.sock"))
    listener.listen(1)

    def taken_then_killed():
        conn, _ = listener.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        for fd in fds:
            os.close(fd)
        conn.sendall(b"R")  # taken: the caller now waits for its exit status
        conn.close()

    server = threading.Thread(target=taken_then_killed, daemon=True)
    server.start()
    monkeypatch.setenv("FACEKIT_SERVER", str(folder / "p.sock"))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
    try:
        assert serve.served(["-i", str(media / "obama.jpg"), "--no-display"]) == 1
    finally:
        for s, handler in handlers.items():  # the caller passes its stop signals on: not pytest's own
            signal.signal(s, handler)
        listener.close()
    server.join(timeout=10)
    assert capsys.readouterr().err.startswith("[ERROR] the facekit server ended during this command (it crashed or "
                                              "was killed)")


def test_a_server_that_says_ready_takes_the_next_command(tmp_path):
    """The ready line came before the server stopped sending callers back as "still loading its models": a caller
    that had read it (a script waiting for it, FACEKIT_SERVER=auto's next command) could be sent back in between,
    on a loaded machine. Whether callers are taken is read as the line is said; the models' warm-up is left out."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    code = ("import sys; from facekit import serve; from facekit.cli import common\n"
            "class Analyzer:\n"
            "    def analyze(self, *args, **kwargs): return []\n"
            "common.build_pipeline, common.keep_warm = lambda args: Analyzer(), lambda: None\n"
            "servers, warm, log = [], serve.Server.warm, serve.log\n"
            "serve.Server.warm = lambda self: servers.append(self) or warm(self)\n"
            "serve.log = lambda text: log(text + (f' [loading: {servers[0].loading}]' if text.startswith('ready') "
            "else ''))\n"
            "serve.Server.run = lambda self: None\n"
            "sys.exit(serve.main(['--socket', 'photo.sock']))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=run, capture_output=True, text=True, timeout=120,
                         env=_environment({"PYTHONPATH": str(ROOT)}))
    assert res.returncode == 0, res.stderr
    ready = [line for line in res.stdout.splitlines() if line.startswith("[INFO] ready")]
    assert len(ready) == 1 and ready[0].endswith("Ctrl-C stops it [loading: False]"), res.stdout


def test_a_relative_socket_is_named_as_the_folder_it_is_in(tmp_path):
    """`serve --socket photo.sock` said "photo commands run here where FACEKIT_SERVER=photo.sock is set": a command
    given that from any other folder looked for ./photo.sock there and ran in its own process. The ready line names
    the socket's absolute path, which a command from another folder then finds."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    # The real main, its models and its loop of commands left out: this is about the line it prints when ready.
    code = ("import sys; from facekit import serve; serve.Server.warm = serve.Server.run = lambda self: None; "
            "sys.exit(serve.main(['--socket', 'photo.sock']))")
    res = subprocess.run([sys.executable, "-c", code], cwd=run, capture_output=True, text=True, timeout=120,
                         env=_environment({"PYTHONPATH": str(ROOT)}))
    assert res.returncode == 0, res.stderr
    sock = run / "photo.sock"
    assert f"photo commands run here where FACEKIT_SERVER={sock} is set ({sock}); Ctrl-C stops it" in res.stdout, \
        res.stdout
    assert not sock.exists()  # removed as the server ended, from its own folder


def test_ctrl_c_while_the_server_still_starts_is_one_line_and_exit_130(tmp_path):
    """A Ctrl-C while `python -m facekit serve` still imported its modules, before its own handler (the first
    ~0.5 s), was a KeyboardInterrupt traceback; now it is the commands' line, exit 130, and no socket is left.
    The Ctrl-C lands while it imports facekit.records (held there)."""
    from tests.conftest import interrupt_during_import

    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    res = interrupt_during_import("facekit.records", [sys.executable, "-m", "facekit", "serve", "--socket",
                                                      run / "photo.sock"], tmp_path)
    assert res.returncode == 130, res.stderr
    assert res.stderr == "\n[INFO] interrupted\n"
    assert not list(run.iterdir())


def test_a_ctrl_c_that_the_model_loading_swallows_still_stops_the_server(tmp_path):
    """A Ctrl-C while the server loaded its models (after its own handler was in) was swallowed there in 1 of 5
    tries at 0.6-1.5 s: the server went on to "ready" and served until stopped again (or its --idle ran out:
    exit 0), or said "cannot load scrfd" (exit 2). Now it says "stopped" once the loading ends, exit 130, and its
    socket goes. Here the import of onnxruntime (SCRFD's engine) is held and swallows the KeyboardInterrupt."""
    from tests.conftest import interrupt_during_import

    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    res = interrupt_during_import("onnxruntime", [sys.executable, "-m", "facekit", "serve", "--socket",
                                                  run / "photo.sock", "--idle", "5"], tmp_path, swallow=True)
    assert res.returncode == 130, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "[INFO] stopped" and "ready" not in res.stdout, res.stdout
    assert not list(run.iterdir())
