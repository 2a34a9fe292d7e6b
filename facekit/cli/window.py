"""The scripts' windows, drawn by a child process.

OpenCV's Qt windows end the whole process, with exit(1) and Qt's "The X11 connection broke" line, when the
connection to the X server breaks: a window closed with xkill (or a desktop's "force quit"), an X server that
stops, a remote desktop or `ssh -X` session that drops. Nothing of Python runs then, so a video run lost every
output it had (its annotated video and CSV left as hidden .part files) and said only that. The window lives in
its own process instead: when that one goes, the run learns it and stops as on Ctrl-C, every output finalized.
"""

from __future__ import annotations

import functools
import queue
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HEADER = struct.Struct("<III")  # height, width, channels of the 8-bit picture that follows
CLOSED, LOST = "closed", "lost"  # events besides a key's code: the user closed the window; its process is gone
OPENED = "opened"  # what the child says once its first picture is on the screen


class Window:
    """One window, shown with `show(image)`; `event()` gives what happened since: a key's code (int), CLOSED (its
    title bar's x) or LOST (its process ended: the display went away), or None. Neither call waits on the window:
    a frame is handed to a thread that sends it, and a window slower than the loop shows the newest frame."""

    def __init__(self, title: str):
        self.title = title
        self._proc: subprocess.Popen[bytes] | None = None
        self._frame: tuple[bytes, bytes] | None = None  # the newest frame not yet sent: (header, bytes)
        self._ready = threading.Condition()
        self._events: queue.Queue = queue.Queue()
        self._stderr: list[str] = []  # the child's first lines there: why it ended
        self._closing = False
        self.gone = False  # CLOSED or LOST was seen
        # Whether the window ever showed a picture: one LOST before that never opened (DISPLAY unset under a
        # Wayland session, where the opencv-python wheels' Qt has only X11's plugin), which is no stop.
        self.opened = False

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # facekit's parent: the checkout, or site-packages
        # The child imports facekit whatever the current folder is (a root script run from elsewhere).
        code = f"import sys; sys.path.insert(0, {root!r}); from facekit.cli.window import child; child()"
        self._proc = subprocess.Popen([sys.executable, "-c", code, self.title], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for target in (self._send, self._read_events, self._read_stderr):
            threading.Thread(target=target, daemon=True).start()

    def show(self, image) -> None:
        if self.gone:
            return
        if self._proc is None:
            self._start()
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else image.shape[2]
        with self._ready:
            # A copy now: the caller's frame buffer may be reused for the next frame while this one is sent.
            self._frame = (HEADER.pack(height, width, channels), image.tobytes())
            self._ready.notify()

    def event(self, timeout: float | None = None):
        """The next event, waiting up to `timeout` seconds for one (None: not at all)."""
        try:
            got = self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
        except queue.Empty:
            return None
        if got in (CLOSED, LOST):
            self.gone = True
        return got

    def why_lost(self) -> str:
        """The window process's first line on standard error, Qt's "The X11 connection broke (error 1). Did the X11
        server die?" or "could not connect to display" (the last was at times Qt's list of its platform plugins)."""
        return self._stderr[0] if self._stderr else "its process ended"

    def close(self) -> None:
        if self._proc is None:
            return
        with self._ready:
            self._closing = True
            self._ready.notify()
        assert self._proc.stdin is not None  # _start opened it as a PIPE
        try:
            self._proc.stdin.close()  # the child's cue to close its window and end
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _send(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None  # _start sets both (a PIPE) before this thread starts
        pipe = proc.stdin
        while True:
            with self._ready:
                while self._frame is None and not self._closing:
                    self._ready.wait()
                if self._closing:
                    return
                assert self._frame is not None  # the wait above ends on a frame or on closing
                header, data = self._frame
                self._frame = None
            try:
                pipe.write(header)
                pipe.write(data)
                pipe.flush()
            except (OSError, ValueError):  # the child is gone (LOST comes from its standard output) or closed
                return

    def _read_events(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None  # _start sets both (a PIPE) before this thread starts
        closed = False
        for line in proc.stdout:
            word = line.decode("ascii", "replace").strip()
            if word == OPENED:
                self.opened = True
            elif word == CLOSED:
                closed = True
                self._events.put(CLOSED)
            elif word.lstrip("-").isdigit():
                self._events.put(int(word))
        if not closed and not self._closing:
            proc.wait()
            self._events.put(LOST)

    def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None  # _start sets both (a PIPE) before this thread starts
        for line in proc.stderr:
            text = line.decode("utf-8", "replace").strip()
            if text and len(self._stderr) < 5:
                self._stderr.append(text)


def child() -> None:
    """The window process: frames from standard input, keys and the window's close on standard output."""
    import signal

    import numpy as np

    from .common import close_windows, show_image, window_closed

    # Ctrl-C and a closed terminal reach the whole process group: the script decides, and closes this window.
    for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    title = sys.argv[1]
    latest: list = [None]
    ended = threading.Event()
    lock = threading.Lock()

    def receive():
        stdin = sys.stdin.buffer
        while True:
            header = stdin.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            height, width, channels = HEADER.unpack(header)
            data = stdin.read(height * width * channels)
            if len(data) < height * width * channels:
                break
            shape = (height, width) if channels == 1 else (height, width, channels)
            with lock:
                latest[0] = np.frombuffer(data, np.uint8).reshape(shape)
        ended.set()

    import cv2

    threading.Thread(target=receive, daemon=True).start()
    say = functools.partial(print, flush=True)  # each event a line the parent reads as it comes
    shown = False
    x_window = XWindow(title)
    while not ended.is_set():
        with lock:
            image, latest[0] = latest[0], None
        if image is not None:
            show_image(title, image)
            if not shown:
                say(OPENED)
            shown = True
        if not shown:
            ended.wait(0.01)
            continue
        key = cv2.waitKey(10)
        if key != -1:
            say(key & 0xFF)
        if window_closed(title):
            say(CLOSED)
            break
        if x_window.destroyed():
            say(CLOSED)
            break
    if shown and not window_closed(title):
        close_windows()
        cv2.waitKey(1)  # lets Qt take the window down before the process ends


class XWindow:
    """Whether the shown window was destroyed by another program (xdotool windowclose, a window manager's kill),
    which Qt never tells: its X id is looked up by title, then asked after once a second, a connection to the X
    server each time. A window destroyed before its id was found is known by its absence: the X server answers,
    yet no window of this process is there, time and again, seconds after the picture went up (the loaded CI
    machine's xdotool found and closed it first, and the photo script then waited for a key for ever)."""

    FIND_EVERY_S, CHECK_EVERY_S = 0.25, 1.0
    GONE_AFTER_S, GONE_AFTER_MISSES = 3.0, 5  # never found: long enough for a busy X server to show it
    UNASKABLE_TRIES = 5  # no X display (or no window manager hints): stop asking

    def __init__(self, title: str):
        self.title = title
        self.id: int | None = None  # found
        self.misses = self.unaskable = 0  # lookups that found no such window; that could not ask
        self.since: float | None = None
        self.asked: float | None = None

    def destroyed(self) -> bool:
        from .common import x_window_exists, x_window_id

        now = time.monotonic()
        if self.since is None:
            self.since = now
        every = self.CHECK_EVERY_S if self.id else self.FIND_EVERY_S
        if self.unaskable >= self.UNASKABLE_TRIES or (self.asked is not None and now - self.asked < every):
            return False
        self.asked = now
        if self.id and x_window_exists(self.id):
            return False
        had = self.id
        found = x_window_id(self.title)  # again where it went: Qt makes a window anew when some flags change
        if found is None:  # the connection broke (LOST's to tell) or there is no X display
            self.unaskable += 1
            return False
        self.id = found or None
        if found or had:
            return not found
        self.misses += 1
        return self.misses >= self.GONE_AFTER_MISSES and now - self.since >= self.GONE_AFTER_S
