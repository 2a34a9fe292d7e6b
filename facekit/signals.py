"""Stop signals: Ctrl-C (SIGINT) and SIGTERM, which `docker stop`, `systemctl stop`, `kill` and cluster
schedulers send, end a run the same way: every output finalized (renamed into place), nothing half-written.
Python turns SIGINT into KeyboardInterrupt by itself; SIGTERM it leaves to the default action, which ends
the process at once and leaves the temp files of every output behind, and none of the outputs."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

# SIGHUP: the terminal went away (an ssh session to a Pi dropped, a terminal window closed). Its default
# action also ends the process at once, every output lost; under nohup it is ignored and stays so.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
_stopped = threading.Event()
# The stop signal that came last: the exit status says which (128 + its number, as a shell reports a process that
# signal ended: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP). Every stop was 130, so a service manager or a script could
# not tell `docker stop` or a scheduler's time limit from a person's Ctrl-C.
_signal: list[int] = [signal.SIGINT]
# A stop signal this soon after the one before is the same stop (Ctrl-C pressed twice, a supervisor's second
# SIGTERM): noted, not raised again. Raised while the run was stopping, it landed in a finalizer or a weakref
# callback (Python's clean-up of the first one's frames), where Python prints "Exception ignored in ...",
# a traceback, under the run's "interrupted" line. Later than that it is raised again: a first one that a
# library swallowed, or a run that does not end, can still be stopped with another.
REPEAT_S = 2.0
_last = [float("-inf")]
# sys.unraisablehook from before `stop_handler` put `_unraisable` in its place.
_unraisable_before = [sys.unraisablehook]
# The handlers `start_guard` replaced, until `end_start_guard` puts them back; None while no guard is on.
_before_start: list = [None]


def stop_handler(signum, frame):
    """Python's own Ctrl-C handler (raise KeyboardInterrupt), remembering that a stop came: a library that
    runs Python code from C and clears its errors swallows the KeyboardInterrupt raised there (numpy's
    Cython start-up under a lazy `import scipy.optimize` did, and a video run went on to the end), and one
    raised inside a compiled module's import comes back as ImportError. `check_stop` raises it again."""
    repeat = _stopped.is_set() and time.monotonic() - _last[0] < REPEAT_S
    _note_signal(signum)
    if not repeat:
        if sys.unraisablehook is not _unraisable:
            _unraisable_before[0], sys.unraisablehook = sys.unraisablehook, _unraisable
        raise KeyboardInterrupt


def _unraisable(unraisable) -> None:
    """sys.unraisablehook once `stop_handler` has raised: a KeyboardInterrupt it raised inside a __del__ or a weakref
    callback (which Python cannot pass on, so it prints it as "Exception ignored in ...", a traceback, and drops it)
    is not printed; the stop is noted, and `check_stop` raises it. A Ctrl-C as the video script ended landed in
    LiteRT's Interpreter.__del__ or a WeakSet's callback in 3 of 9 tries at its last line. Anything else goes to
    the hook that was there."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _stopped.is_set():
        return
    _unraisable_before[0](unraisable)


def _note_signal(signum) -> None:
    if isinstance(signum, int):
        _signal[0] = signum
    _last[0] = time.monotonic()
    _stopped.set()


def request_stop(signum: int) -> None:
    """A stop that comes other than as a signal to this process (facekit.serve: a caller's Ctrl-C, or its end):
    noted as that signal would be, and raised at the run's next photo or frame (`check_stop`); a run that ends
    first ends with its exit status. Cleared, like any, when the next run starts (`clear_stop`)."""
    _note_signal(signum)


def exit_status() -> int:
    """128 + the number of the stop signal that came last (130 for a Ctrl-C, and when none came: a
    KeyboardInterrupt raised some other way)."""
    return 128 + int(_signal[0] if _stopped.is_set() else signal.SIGINT)


def line_start() -> str:
    """What an "interrupted" line starts with: a new line after a Ctrl-C, whose "^C" the terminal echoed where
    the line would start; nothing after a SIGTERM or SIGHUP, where it was a blank line in the service's log."""
    return "\n" if exit_status() == 128 + signal.SIGINT else ""


def say_interrupted() -> int:
    """The line a command that a stop signal ended says last, on stderr; its exit status."""
    print(f"{line_start()}[INFO] interrupted", file=sys.stderr, flush=True)
    return exit_status()


def start_guard() -> None:
    """For a command's first lines, before its heavy imports (OpenCV, numpy, TensorFlow: 0.2-5 s), until
    `end_start_guard`: a stop signal ends it at once with its one line and exit status. Raised there as
    KeyboardInterrupt, it came out of whatever module was loading, under `python -m` outside any try of
    facekit's (a bench's `import cv2`), as a traceback, or as the ImportError a compiled module's import makes
    of it. Nothing is written yet, so there is nothing to finalize. A process with stop handlers of its own
    (facekit serve's, which runs commands in itself; a host program's) keeps them."""
    if _before_start[0] is None and threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_DFL, signal.SIG_IGN):
        _before_start[0] = set_stop_handler(_stop_at_start)


def end_start_guard() -> None:
    """The handlers from before `start_guard` back: the command's main() takes stops from here."""
    previous, _before_start[0] = _before_start[0], None
    restore_handlers(previous)


def _stop_at_start(signum, frame):
    _note_signal(signum)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()  # what was printed before, ahead of the line (os._exit drops Python's buffers)
    except (OSError, ValueError):  # a reader gone, a stream closed
        pass
    try:
        if sys.stderr is not None:  # closed (a cron job's 2>&-): print would write the line to stdout
            say_interrupted()
    except (OSError, ValueError):  # the exit status still says it
        pass
    os._exit(exit_status())


def made_of_interrupt(exc: BaseException | None) -> bool:
    """Whether `exc` is a KeyboardInterrupt or was raised from one: a Ctrl-C inside a compiled module's import
    comes out as ImportError("initialization failed") caused by it (LiteRT's, as bench.landmarks began to use it)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def stop_requested() -> bool:
    return _stopped.is_set()


def check_stop() -> None:
    """Raise KeyboardInterrupt if a stop signal came while `stop_handler` was installed, even if what it
    raised was swallowed: called once a frame or a photo."""
    if _stopped.is_set():
        raise KeyboardInterrupt


def clear_stop() -> None:
    _stopped.clear()
    _signal[0] = signal.SIGINT
    _last[0] = float("-inf")


def set_stop_handler(handler) -> dict | None:
    """Install `handler` for both stop signals; returns the previous handlers for `restore_handlers`, or
    None off the main thread (where Python cannot handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS
            if sig in (signal.SIGINT, signal.SIGTERM) or signal.getsignal(sig) is not signal.SIG_IGN}


def restore_handlers(previous: dict | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


class DeferredStop:
    """Once armed, a Ctrl-C or SIGTERM waits until the block ends, so the outputs being written are never
    left half-written or out of step with each other; it is then reported through `received`, and
    `check_stop` raises it."""

    def __init__(self):
        self.received = False
        self._old = None

    def arm(self) -> None:
        self._old = set_stop_handler(self._note)

    def _note(self, signum=None, *_):
        self.received = True
        _note_signal(signum)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        restore_handlers(self._old)
        self._old = None
        return False
