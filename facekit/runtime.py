"""How many threads each inference engine gets, decided in one place.

LiteRT (heads, face mesh), onnxruntime (SCRFD and other ONNX graphs) and OpenCV (YuNet, res10,
resizing) each start their own thread pool sized to the machine. On a 2-core laptop, a Pi or one
Ray worker among several, three pools of N threads fight over N cores and every stage gets slower.
`FACEKIT_THREADS` (or `set_threads`) caps them all; batch workers set 1 so workers scale instead.

The policy, measured on a 2-core AMD EPYC (AVX-512) with the hamilton clip:
- Each engine gets every core (at most 4): on an idle machine 2 threads cut YuNet from 9.0 to 5.8 ms
  a frame and the emotion head from 8.5 to 5.1 ms, for ~15% more CPU. OpenCV's pool gets the same cap
  (`apply_to_opencv`, called when a pipeline is built).
- Video: the detector runs ahead of the heads on worker threads (facekit.pipeline.track_faces). SCRFD,
  which onnxruntime may run from several threads at once, gets cores + 2 workers, each running whole
  frames on 1 engine thread (`set_threads_here`): one frame split over 2 threads spends 9.5-10.6 CPU ms
  of SCRFD-0.5GF (the threads wait for each other at every layer), one thread 7.6, and two frames side
  by side take 4.0 ms of wall time a frame against 6.1-6.8. The mask-head loop went from ~132 to ~160
  FPS. YuNet and res10 (one OpenCV network each) keep one worker with the engine's whole pool.
- onnxruntime's threads do not spin: alone, spinning makes SCRFD-0.5GF faster (2.9-3.0 against 3.7-3.9
  ms a 640x360 frame), but in the video loop the spinning threads take the cores from the heads (every
  head, drawn: 77 against 87-90 FPS, 25 against 19-21 CPU ms a frame).
- The face mesh keeps 1 thread (facekit.landmarks): a 192 px model split in two gains ~0.2 ms and
  loses 2-4 ms whenever the cores are busy. With two cores or more it runs on a thread of its own beside
  the heads (FacePipeline._mark_beside): every head 35.4 against 32.6 FPS on the Zen 3 machine below.
- Decoding runs on the reader thread beside them (~2.7 ms a 640x360 frame), the only overlap.
- On a machine shared with other work (load above the core count), threads that wait for each
  other burn CPU spinning: YuNet took 35 CPU ms a frame at 2 threads under load 14, 11 idle. There
  `FACEKIT_THREADS=1` is faster (the clip with the mask head at load 10: 16.4 s against 21.5 s; every
  head: 58 s against 64 s). The benchmarks print the policy beside their numbers.
- Rechecked on a 2-core AMD EPYC with AVX2 only (Zen 3), where every stage is 2-4x slower: 2 / 3 / 4
  SCRFD workers gave the mask loop 61.6 / 73.5 / 67.8 FPS and every head 30.1 / 32.2 / 32.6 (medians of
  three alternating passes, within that machine's ~10% drift), and the heads on one thread instead of two
  30.8 against 31.8 FPS with every head: the policy stays.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Literal

from .errors import native_path

_override: int | None = None
_here = threading.local()  # a per-thread cap: the video loop's detector workers (set_threads_here)


def set_threads(n: int | None) -> None:
    """Cap every engine created after this call at `n` threads (None: back to the default)."""
    global _override
    if n is not None and n < 1:
        raise ValueError(f"threads must be 1 or more, got {n}")
    _override = n


def set_threads_here(n: int | None) -> None:
    """Cap the engines this thread runs at `n` threads (None: the process-wide policy). Used by the video
    loop's detector workers, each running whole frames on one core (facekit.pipeline.track_faces)."""
    if n is not None and n < 1:
        raise ValueError(f"threads must be 1 or more, got {n}")
    _here.cap = n


def threads(default_cap: int = 4) -> int:
    """Threads for one engine: this thread's cap (set_threads_here), FACEKIT_THREADS / set_threads, else
    the cores, at most `default_cap`."""
    here = getattr(_here, "cap", None)
    if here is not None:
        return here
    if _override is not None:
        return _override
    return _env_threads() or max(1, min(default_cap, usable_cores()))


# cgroup v2's CPU quota ("max 100000", or "150000 100000" for 1.5 CPUs): what `docker run --cpus` sets.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


@functools.cache  # asked for every detection on a photo; a process keeps its cores
def usable_cores() -> int:
    """The cores this process may run on: those `taskset` / its affinity allow, and no more than a container's
    CPU quota gives (rounded up). os.cpu_count() counts the machine's: under `taskset -c 0` the engines ran 2
    threads each and SCRFD 4 workers, all fighting over one core."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        n = os.cpu_count() or 1
    try:
        with open(CGROUP_CPU_MAX) as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max" and int(period) > 0:
            n = min(n, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, n)


def file_size_limit() -> int | None:
    """The most bytes a file this process writes may hold (`ulimit -f`, RLIMIT_FSIZE), or None where there is no
    limit. Past it a write fails as on a full disk, on a disk with room: "N MB free there" alone misled."""
    return _soft_limit("RLIMIT_FSIZE")


def _soft_limit(name: str) -> int | None:
    """The soft limit `resource.<name>` sets on this process, or None where there is none (or no such module)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    try:
        soft = resource.getrlimit(getattr(resource, name))[0]
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def size_text(n: int) -> str:
    """A file size for a message: "4 kB", "0.5 MB" read alike; a limit of 4 kB was "0.0 MB"."""
    return f"{n / 2**20:.1f} MB" if n >= 2**19 else f"{n / 1024:.0f} kB"


def room_note(folder) -> str:
    """The room a write into `folder` had: its disk's free MB, and the file size limit where one is set."""
    import shutil

    try:
        note = f"{shutil.disk_usage(folder).free / 2**20:.1f} MB free there"
    except OSError:
        note = "the disk's free space unknown"
    limit = file_size_limit()
    return note if limit is None else f"{note}, and files may not grow past {size_text(limit)} (ulimit -f)"


def video_detector_workers(concurrent: bool = True) -> int:
    """Detector threads for the video loop: a detector that may run on several threads at once gets two
    more workers than the cores allowed, so that a frame's detection is always queued when a core frees
    up, whatever the main thread is doing (hamilton clip, 2 cores, mask head: 1 / 2 / 3 workers gave a
    median 131.9 / 158.4 / 161.4 FPS over five alternating passes; in another session 3 / 4 / 5 gave
    134.0 / 138.8 / 139.8 over seven, and every head the same with 3 or 4). One worker with one core
    allowed (FACEKIT_THREADS=1: batch workers, a loaded machine) or for a detector that may not run
    concurrently."""
    n = threads()
    return n + 2 if n > 1 and concurrent and not low_address_space() else 1


# Each SCRFD worker holds a session of its own, with its arena and threads: under `ulimit -v 1000000` four of them
# (2 cores) took what the rest of the video loop then failed to allocate, and a thread started after that ended
# the run in glibc's "cannot allocate memory for thread-local data: ABORT" (exit 127 or 134, a .part file left).
# The photo command runs in 600 MB, the video loop with one worker in 800 MB.
LOW_ADDRESS_SPACE = 2 << 30


def address_space_limit() -> int | None:
    """The most address space this process may map (`ulimit -v`, RLIMIT_AS), or None where there is no limit."""
    return _soft_limit("RLIMIT_AS")


def check_address_space(need: int, what: str, instead: str) -> None:
    """Refuse, before any work, a run that `ulimit -v` leaves less than `need` bytes: `what` needs them (past the
    limit its engine aborts or fails in an import, saying nothing of memory); `instead`: what the user can do."""
    soft = address_space_limit()
    if soft is not None and soft < need:
        from .errors import FacekitError

        raise FacekitError(f"this process may use {size_text(soft)} of memory (ulimit -v): {what} needs "
                           f"{size_text(need)} at least; raise the limit, or {instead}")


def low_address_space() -> bool:
    """Whether `ulimit -v` leaves less than LOW_ADDRESS_SPACE: one detector worker in the video loop then."""
    limit = address_space_limit()
    return limit is not None and limit < LOW_ADDRESS_SPACE


@functools.cache  # a process keeps its CPU
def cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name and its feature flags, from /proc/cpuinfo (x86 "flags", ARM "Features"); on other
    systems the name platform gives and no flags."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware") and value.strip():
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
    except OSError:  # not Linux
        pass
    return model, frozenset(flags)


def int8_pays() -> bool:
    """Whether int8 networks run faster than float ones on this CPU, for the heads' int8 twins.

    On x86, XNNPACK's int8 kernels beat float only with VNNI's int8 dot products (AVX-512 VNNI, AVX-VNNI):
    on a 2-core AMD EPYC with AVX-512 VNNI the twins took about half the CPU per face (mask 0.63 against
    1.23 ms), while on a 2-core AMD EPYC with AVX2 and no VNNI they took more (one thread, batch 1: mask
    5.1 against 4.5 ms, emotion 5.9 / 4.8, gender 5.6 / 5.3) and the hamilton clip with every head ran 6%
    slower (24.9 against 26.5 FPS, heads every frame). Elsewhere (ARM's NEON dot products, or an x86 CPU
    whose flags cannot be read) the twins are kept, as they were before this check."""
    import platform

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")
    flags = cpu_info()[1]
    if not x86 or not flags:
        return True
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _env_threads() -> int | None:
    """FACEKIT_THREADS when it is set (a count of 1 or more), at most the usable cores, else None. More threads
    than cores only wait for each other, and a slip such as 100000 started that many in each engine, taking the
    machine's whole process limit (every other user's fork failed); 2**31 and more were an engine's TypeError
    traceback. Lowered rather than refused: one setting serves machines of several sizes (4 on a 2-core one)."""
    n = env_count("FACEKIT_THREADS")
    return None if n is None else min(n, usable_cores())


# facekit's environment settings are read where they act; a value that is not one is one line naming it
# (FACEKIT_INT8=false turned the int8 twins on, FACEKIT_THREADS=abc was ignored without a word).
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_switch(name: str) -> bool | None:
    """An on / off setting (1 / 0, true / false, yes / no, on / off; any case), or None when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if value.lower() in _ON + _OFF:
        return value.lower() in _ON
    from .errors import FacekitError

    # The message names every pair it takes: "yes" worked but the line offered only true / false and on / off.
    raise FacekitError(f"{name}={value}: expected 1 or 0 (or true / false, yes / no, on / off)")


def env_count(name: str) -> int | None:
    """A count of 1 or more, or None when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit() and int(value) > 0:  # "²" is a digit to isdigit(), not to int()
        return int(value)
    from .errors import FacekitError

    raise FacekitError(f"{name}={value}: expected a whole number, 1 or more")


# The settings env_switch / env_count read, each where it acts: that was after a run's first lines and model
# loads ("[INFO] loading face detector model..." and then the error), so the CLIs check them all first.
SWITCHES = ("FACEKIT_INT8", "FACEKIT_MALLOC", "FACEKIT_COMMERCIAL_USE")


def check_settings() -> None:
    """Raise FacekitError, naming it, for the first FACEKIT_* setting that is set to something it cannot be
    (FACEKIT_ASSETS and FACEKIT_CACHE too: every detector and base network is looked up there first)."""
    for name in SWITCHES:
        env_switch(name)
    _env_threads()
    from .assets import check_cache, mirror_root

    mirror_root()
    check_cache()


# Whether this process is a fork of one that had OpenCV loaded. There, changing OpenCV's thread count hangs for good
# once the parent ran OpenCV's pool from a thread of its own (the face mesh's, beside the heads): a pool
# worker that builds an analyzer (README's FACEKIT_THREADS=1 initializer), forked from a process that had used
# one with landmarks, never got past cv2.setNumThreads. OpenCV's work itself runs there on the inherited count.
_forked_with_opencv = False


def _note_opencv_fork() -> None:
    global _forked_with_opencv
    if "cv2" in sys.modules:
        _forked_with_opencv = True


def apply_to_opencv() -> int:
    """Give OpenCV's pool (YuNet / res10 through cv2.dnn, resizing, colour conversion) the same cap.
    OpenCV's setting is process-wide, so this is called whenever a pipeline is built; returns the count
    (in a fork of a process that had OpenCV loaded, the count it inherited: see above)."""
    import cv2

    if _forked_with_opencv:
        return cv2.getNumThreads()
    n = threads()
    if cv2.getNumThreads() != n:
        cv2.setNumThreads(n)
    return n


# glibc's malloc returns a big freed block to the system and page-faults it back in on the next
# frame: its mmap threshold adapts to the sizes it sees, and once the video reader or a head has freed a
# large block, the detector's per-frame buffers (a 640x384 float blob is 2.9 MB) land where every free
# trims the heap. In the video loop that made SCRFD-0.5GF take 11.6-12.1 ms a frame instead of the 7.8-8.0
# it takes in a plain loop over the same frames (1 thread; hamilton clip). Fixed thresholds keep freed
# blocks of up to 32 MB for reuse, so the buffers are recycled without faults.
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for M_MMAP_THRESHOLD on 64-bit
TRIM_THRESHOLD = 64 << 20
_malloc_tuned = False


def keep_freed_memory() -> bool:
    """Set glibc's M_MMAP_THRESHOLD / M_TRIM_THRESHOLD once per process (see above); True when set.
    Nothing on other C libraries, or when MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ are set (the
    user's choice), or with FACEKIT_MALLOC=0."""
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if env_switch("FACEKIT_MALLOC") is False or any(
            k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl (Alpine) and others: no libc.so.6 / no mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    _malloc_tuned = bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold,
                                                                                     TRIM_THRESHOLD))
    return _malloc_tuned


_malloc_trim: Callable[[int], object] | Literal[False] | None = None  # None: not looked up yet; False: none here


def give_back_freed_memory() -> bool:
    """glibc's malloc_trim(0) (True when it ran), at the end of each analyze_video: what its reader thread's malloc
    arena freed stayed with the process, so a web server analysing a video a request held ~20-30 MB more (266-267 MB
    after 12 calls of a 2 s clip, 241-249 MB trimmed; both still grow by 1-2 MB a call over the first ~10), for
    ~2 ms a call, 0.15% of one. Nothing on other C libraries, or with FACEKIT_MALLOC=0."""
    global _malloc_trim
    if env_switch("FACEKIT_MALLOC") is False:
        return False
    if _malloc_trim is None:
        import ctypes
        import sys

        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim if sys.platform.startswith("linux") else False
        except (OSError, AttributeError):  # musl (Alpine) and others: no libc.so.6 / no malloc_trim
            _malloc_trim = False
    if not _malloc_trim:
        return False
    _malloc_trim(0)
    return True


def describe() -> str:
    """The thread policy in force, for benchmarks and logs."""
    source = "set_threads" if _override is not None else (
        "FACEKIT_THREADS" if _env_threads() else "default")
    n, n_workers = threads(), video_detector_workers()
    workers = f"{n_workers} SCRFD workers of 1 thread" if n_workers > 1 else "1 detector worker"
    return (f"{n} per engine ({source}; LiteRT heads, onnxruntime, OpenCV), face mesh 1; video: {workers}, "
            f"1 reader thread; {usable_cores()} of {os.cpu_count()} logical cores usable; malloc: "
            f"{'fixed thresholds' if keep_freed_memory() else 'the C library default'}; int8 twins pay on this CPU: "
            f"{'yes' if int8_pays() else 'no (no VNNI)'}")


# What LiteRT's C++ logger prints on its own when the first interpreter allocates (once per process), with no
# setting to turn it off (it ignores TF_CPP_MIN_LOG_LEVEL): noise between a script's own lines.
NATIVE_NOISE = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
# TensorFlow's C++ start-up and converter chatter (absl INFO / WARNING lines such as "I0000 00:00:1795926869.6
# 19401 port.cc:153] oneDNN custom operations are on ...", which TF_CPP_MIN_LOG_LEVEL no longer reaches); its
# errors (E / F lines) are kept.
_ABSL_CHATTER = re.compile(r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
                           r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                           r"|To enable the following instructions: ")
_stderr_lock = threading.RLock()  # a held block may open something that holds it too


def _holding_file():
    """An unnamed file to hold fd 2's lines in: in memory where the system has memfd (Linux), else a temp file;
    None where neither can be made. A read-only root (`docker run --read-only`, a systemd unit with
    ProtectSystem=strict and no PrivateTmp) leaves no temp folder: the first model load ended in a "No usable
    temporary directory found" traceback."""
    if hasattr(os, "memfd_create"):
        try:
            return open(os.memfd_create("facekit-stderr", getattr(os, "MFD_CLOEXEC", 0)), "w+b")
        except OSError:
            pass
    try:
        return tempfile.TemporaryFile()
    except OSError:
        return None


@contextmanager
def native_stderr(drop_all: bool = False):
    """Hold what native code (LiteRT, FFmpeg, OpenCV, TensorFlow) writes to the process's stderr, file
    descriptor 2, while the block runs; then pass it on without the NATIVE_NOISE lines and TensorFlow's
    chatter, so a real warning or error still shows, a moment later. drop_all: pass nothing on (where the
    caller reports the failure in its own line)."""
    with _stderr_lock:  # one holder at a time: a second would save the first one's file as "stderr"
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (AttributeError, OSError, ValueError):  # no stderr to hold (some embedded interpreters)
            yield
            return
        held = _holding_file()
        if held is None:  # nowhere to hold it: native lines pass as they come, noise and all
            os.close(saved)
            yield
            return
        with held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                text = "" if drop_all else held.read().decode(errors="replace")
                kept = "".join(ln for ln in text.splitlines(keepends=True)
                               if ln.strip() not in NATIVE_NOISE and not _ABSL_CHATTER.match(ln))
                if kept:
                    os.write(2, kept.encode())


# Every engine facekit built (onnxruntime sessions, LiteRT interpreters), for `_keep_inherited_engines`.
_ENGINES: weakref.WeakSet = weakref.WeakSet()


def engine(obj):
    """`obj` (a native engine just built), noted so that a forked child never frees it; returns it."""
    try:
        _ENGINES.add(obj)
    except TypeError:  # a wrapper without weak references: nothing to note
        pass
    return obj


def _keep_inherited_engines() -> None:
    """In a forked child, the parent's engines are never freed.

    Their thread pools did not come across the fork, and freeing one waits on those threads or touches their
    state: an analyzer made before a fork pool and dropped in a worker (its initializer building the worker's
    own into the same global, `del analyzer`) hung the worker for good in onnxruntime's session destructor, and
    LiteRT's killed it with SIGSEGV. Using them in the child works (the pool's workers run their photos), so
    each gets one reference more that nothing gives back: the pages stay shared with the parent, untouched."""
    if not _ENGINES:  # no engine built: a child of a process that only imported facekit imports nothing here
        return
    import ctypes

    for obj in list(_ENGINES):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


# Objects whose `_lock` only guards a few microseconds of bookkeeping (pipeline.StageTimes), taken outside the
# fork gate: a thread of the parent inside one at a fork left the child's copy held for ever. The child gets
# each of them a fresh lock.
_RENEWED_LOCKS: weakref.WeakSet = weakref.WeakSet()


def renew_lock_after_fork(obj) -> None:
    """Give `obj._lock` a fresh threading.Lock in a forked child (the parent's may have been held at the fork)."""
    _RENEWED_LOCKS.add(obj)


class _ForkGate:
    """Engine calls and forks never overlap: a fork waits for the calls under way to end and holds new ones back.

    A process forked while another thread was inside an engine inherited that call half done: the head's lock
    held by a thread the child does not have, so its first face waited for ever (2 of 20 forks, with two threads
    analysing photos). Each engine call (`engine_call`) passes this gate, and every engine's own lock is taken
    inside it, so the child inherits engines at rest and no lock of theirs held."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._forking = 0

    @contextmanager
    def call(self):
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._inside += 1
        try:
            yield
        finally:
            with self._cond:
                self._inside -= 1
                if not self._inside:
                    self._cond.notify_all()

    def before_fork(self) -> None:
        self._cond.acquire()  # held across the fork: no thread is then between two of its steps
        self._forking += 1
        # Engine calls take milliseconds; the limit only keeps a fork from waiting for ever on one that never ends.
        self._cond.wait_for(lambda: not self._inside, timeout=FORK_WAIT_S)

    def after_fork_in_parent(self) -> None:
        self._forking -= 1
        self._cond.notify_all()
        self._cond.release()


FORK_WAIT_S = 60.0
_fork_gate = _ForkGate()


def engine_call():
    """`with engine_call():` around one run of a native engine (and its lock), so that no fork happens inside it."""
    return _fork_gate.call()


def _before_fork() -> None:
    _fork_gate.before_fork()


def _after_fork_in_parent() -> None:
    _fork_gate.after_fork_in_parent()


def _after_fork_in_child() -> None:
    global _fork_gate, _stderr_lock
    # The child's only thread is the one that forked: a gate of its own, and the stderr lock a vanished thread
    # may have held while a video opened.
    _fork_gate = _ForkGate()
    _stderr_lock = threading.RLock()
    for obj in list(_RENEWED_LOCKS):
        obj._lock = threading.Lock()
    _note_opencv_fork()
    _keep_inherited_engines()


# Registered once, when facekit.runtime is first imported: a fork is the one moment these can be noted.
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


def ort_session(path: Path | str | bytes, num_threads: int | None = None):
    """An onnxruntime CPU session with a deliberate thread count (its default spins one pool thread
    per core and busy-waits between runs, stealing time from the other stages)."""
    # onnxruntime 1.32 keeps a telemetry device id in ~/.cache/Microsoft when it loads; where HOME is not
    # writable (a service user, HOME=/nonexistent) it printed a colour-coded warning into every run's log.
    # Off unless the user chose (ORT_DISABLE_TELEMETRY=0); read when the library loads.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    # bytes: a graph edited in memory (SCRFD), or a file whose name onnxruntime cannot be given (not UTF-8)
    model = path if isinstance(path, bytes) else native_path(path) or Path(path).read_bytes()
    return engine(ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"]))


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return folder.is_dir() and os.access(folder, os.W_OK)


def matplotlib_folder(check_only: bool = False) -> None:
    """Where the home folder cannot be written (a service user, HOME=/nonexistent, a read-only home), matplotlib
    printed two warnings into every run's log ("mkdir -p failed for path ...", "Matplotlib created a temporary
    cache directory ..."): its font cache goes to facekit's cache folder instead, or to a private temp folder
    removed at exit, without a word. Where none can be written (a read-only root, `docker run --read-only`), one
    FacekitError, which the video script raises before any work for --timeline (check_only: nothing is made or
    set then, so a camera watched for days has no temp folder that a kill -9 would leave). MPLCONFIGDIR, set by
    the user, is left to matplotlib."""
    if "matplotlib" in sys.modules or os.environ.get("MPLCONFIGDIR") or not sys.platform.startswith("linux"):
        return
    try:
        home: Path | None = Path.home()
    except RuntimeError:  # no HOME and no password entry
        home = None
    defaults = [Path(os.environ[xdg]) if os.environ.get(xdg) else home and home / fallback
                for xdg, fallback in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"))]
    if all(base and _writable_folder(base / "matplotlib") for base in defaults):
        return
    from .assets import AssetError, cache_root

    try:
        folder: Path | None = cache_root() / "matplotlib"
    except AssetError:  # no home folder at all
        folder = None
    if folder is None or not _writable_folder(folder):
        import atexit
        import shutil

        try:
            if check_only:
                tempfile.gettempdir()  # tries each candidate folder, and raises where none can be written
                return
            folder = Path(tempfile.mkdtemp(prefix="facekit-matplotlib-"))
        except OSError:  # matplotlib's own OSError here was a traceback, after the video's work
            from .errors import FacekitError

            raise FacekitError(f"matplotlib, which draws the plot, needs a folder it can write: neither "
                               f"{defaults[0] or 'the home folder'}/matplotlib, {folder or 'a cache folder'} nor a "
                               "temp folder can be written; set MPLCONFIGDIR (or FACEKIT_CACHE, or TMPDIR) to one "
                               "that can") from None
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if not check_only:
        os.environ["MPLCONFIGDIR"] = str(folder)
        import logging

        # A folder of facekit's choosing starts without matplotlib's font cache (a temp one, every run): building
        # it took over 5 s on a loaded machine, and matplotlib then logged "Matplotlib is building the font cache;
        # this may take a moment." into the log this folder keeps clean.
        logging.getLogger("matplotlib.font_manager").addFilter(_not_font_cache_building)


def _not_font_cache_building(record) -> bool:
    return not str(record.msg).startswith("Matplotlib is building the font cache")


def figure(**options):
    """A matplotlib Figure of facekit's own (options as Figure takes them), its folder chosen by
    `matplotlib_folder`: saved by Agg (or the extension's own writer, SVG, PDF), no display needed, never a
    window, and outside pyplot. pyplot's was reached through matplotlib.use("Agg"), which switched the whole
    process: in a notebook, after `%run detect_mask_video.py --timeline ...` (or a training run from a cell) the
    kernel's plt.plot showed nothing, and a desktop session's open figures (a Mac's macosx windows) were closed."""
    matplotlib_folder()
    from matplotlib.figure import Figure

    return Figure(**options)
