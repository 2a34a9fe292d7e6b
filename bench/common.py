"""Helpers shared by the benchmarks: tables, timing, asset paths."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_MIRROR = ROOT.parent / "shared" / "assets"
if "FACEKIT_ASSETS" not in os.environ and (_MIRROR / "MANIFEST.md").exists():
    os.environ["FACEKIT_ASSETS"] = str(_MIRROR)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The scripts' parser: a usage error is one "[ERROR] ..." line, as every other command's, where argparse's own began
# "python -m bench.X: error:".
from facekit.cli.common import ArgumentParser  # noqa: E402  (after sys.path holds the checkout)


def run_bench(main) -> int:
    """A bench's entry point: Ctrl-C is one line and exit 130, as the scripts' own, where it was a
    KeyboardInterrupt traceback from whatever the bench was doing (a subprocess, an import, LiteRT). Before
    main(), while the bench's modules load, bench/__init__.py's guard answers it."""
    from facekit.signals import end_start_guard, made_of_interrupt, say_interrupted

    try:
        end_start_guard()
        return main()
    except KeyboardInterrupt:
        return say_interrupted()
    except Exception as exc:
        # A Ctrl-C inside a compiled module's import (LiteRT's, loaded at a bench's first model) is its ImportError.
        if made_of_interrupt(exc):
            return say_interrupted()
        raise


def limit_count(text: str) -> int:
    """--limit's type: --limit 0 ran every image (minutes, not the quick look asked for) and a negative one
    stopped with numpy's traceback after the data was read. The scripts' own rule for counts."""
    from facekit.cli.common import positive_int

    return positive_int(text)


def head_bench_args(task: str, doc: str, argv: list[str] | None, limit_help: str):
    """A head benchmark's --model and --limit, for one that takes no other options (bench.mask: the others
    build their own parsers)."""
    p = ArgumentParser(prog=f"python -m bench.{task}", description=doc.split("\n\n")[0])
    p.add_argument("--model", help=f"model folder (default: models/{task})")
    p.add_argument("--limit", type=limit_count, help=f"use an evenly spread subset of N {limit_help} (development)")
    return p.parse_args(argv)


def assets_root() -> Path:
    root = os.environ.get("FACEKIT_ASSETS")
    if not root or not Path(root).is_dir():
        raise SystemExit("[ERROR] benchmarks need the asset mirror: set FACEKIT_ASSETS (e.g. ../shared/assets)")
    return Path(root)


def print_table(title: str, headers: list[str], rows: list[list], notes: list[str] | None = None) -> str:
    """Print (and return) a plain-text table; numbers are formatted, columns aligned."""
    # One precision a column: a recall of 1.0 under 0.9000, or 13.0 s under 0.8304 s, read as another kind of
    # number (or a rounded one) in the same column.
    fine = [any(isinstance(v, float) and abs(v) < 1 for v in column) for column in zip(*rows)]

    def fmt(v, i):
        if isinstance(v, float):
            return f"{v:.4f}" if fine[i] else f"{v:.1f}"
        return str(v)

    cells = [[fmt(v, i) for i, v in enumerate(row)] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [f"\n## {title}", " | ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "-|-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    for note in notes or []:
        lines.append(f"  {note}")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def time_per_call(fn, repeat: int = 50, warmup: int = 5) -> float:
    """Median milliseconds per call of fn()."""
    import statistics  # here, not at the top: `python -m bench` imports this module and should start fast

    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


_SIMD = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
         "avx512_bf16", "amx_tile", "neon", "asimd", "asimddp", "sve")


def machine_info() -> str:
    """One line naming the CPU, its SIMD flags that matter for inference, the cores and the load.

    Speed figures depend on the instruction set (LiteRT/XNNPACK and onnxruntime pick AVX-512/VNNI kernels
    when present), so every bench prints this next to its table."""
    from facekit.runtime import cpu_info

    model, flags = cpu_info()
    simd = [f for f in _SIMD if f in flags]
    if any(f.startswith("avx512") for f in flags) and "avx512f" not in simd:
        simd.append("avx512")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"CPU: {model} ({os.cpu_count()} logical cores); SIMD: {' '.join(simd) or 'none found'}; "
            f"load avg: {load}")


def maxrss_mb(maxrss: int) -> float:
    """getrusage's ru_maxrss in MB: the kernel gives KiB on Linux and bytes on macOS (a Mac's peak read 1024x)."""
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MB. From /proc where there is one (Linux); elsewhere (macOS, where
    reading /proc/self/status ended bench.video in a FileNotFoundError after its timings) from `ps`, whose RSS is
    KiB on both; NaN where neither answers."""
    import subprocess

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(os.getpid())], capture_output=True, text=True,
                             timeout=10).stdout
        return int(out.split()[0]) / 1024.0
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return float("nan")


def resolve_recorded(recorded: str) -> Path:
    """A dataset file as a model's test_split.csv recorded it (absolute, relative to the repo root, or
    anywhere with a datasets/... tail), found on this machine: the same tail in the asset mirror."""
    path = Path(recorded)
    for candidate in (path, ROOT / path):
        if candidate.is_file():
            return candidate
    parts = path.parts
    if "datasets" in parts:
        candidate = assets_root().joinpath(*parts[parts.index("datasets"):])
        if candidate.is_file():
            return candidate
    raise SystemExit(f"[ERROR] {recorded} (in the model's test_split.csv) is not found here")
