"""How many threads each inference engine gets, decided in one place.

LiteRT (heads, face mesh), onnxruntime (SCRFD and other ONNX graphs) and OpenCV (YuNet, res10,
resizing) each start their own thread pool sized to the machine. On a 2-core laptop, a Pi or one
Ray worker among several, three pools of N threads fight over N cores and every stage gets slower.
`FACEKIT_THREADS` (or `set_threads`) caps them all; batch workers set 1 so workers scale instead.
"""

from __future__ import annotations

import os
from pathlib import Path

_override: int | None = None


def set_threads(n: int | None) -> None:
    """Cap every engine created after this call at `n` threads (None: back to the default)."""
    global _override
    if n is not None and n < 1:
        raise ValueError(f"threads must be 1 or more, got {n}")
    _override = n


def threads(default_cap: int = 4) -> int:
    """Threads for one engine: FACEKIT_THREADS / set_threads, else the cores, at most `default_cap`."""
    if _override is not None:
        return _override
    env = os.environ.get("FACEKIT_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(default_cap, os.cpu_count() or 1))


def ort_session(path: Path | str, num_threads: int | None = None):
    """An onnxruntime CPU session with a deliberate thread count (its default spins one pool thread
    per core and busy-waits between runs, stealing time from the other stages)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
