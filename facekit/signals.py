"""Stop signals: Ctrl-C (SIGINT) and SIGTERM, which `docker stop`, `systemctl stop`, `kill` and cluster
schedulers send, end a run the same way: every output finalized (renamed into place), nothing half-written.
Python turns SIGINT into KeyboardInterrupt by itself; SIGTERM it leaves to the default action, which ends
the process at once and leaves the temp files of every output behind, and none of the outputs."""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def set_stop_handler(handler) -> dict | None:
    """Install `handler` for both stop signals; returns the previous handlers for `restore_handlers`, or
    None off the main thread (where Python cannot handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def restore_handlers(previous: dict | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)
