"""python -m bench [NAME ...]: run every benchmark module, each in its own process.

A fresh process per bench keeps one bench's imports (TensorFlow for the Keras baselines) from
slowing another's LiteRT timings. Exits non-zero when any bench fails.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import run_bench
from facekit.cli.common import ArgumentParser

HERE = Path(__file__).resolve().parent
ORDER = ["mask", "gender", "emotion", "lowlight", "detection", "video", "landmarks", "cli", "batch"]
RUN_ALONE = ("quantize",)  # makes int8 models (and, with --install, puts them in models/): never part of "all"


def main(argv: list[str] | None = None) -> int:
    found = ORDER
    p = ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benches to run (default: all of {', '.join(found)})")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in found]
    if unknown:
        # bench/quantize.py is there, so "no bench module for quantize" sent a user looking for a missing file.
        for name in unknown:
            if name in RUN_ALONE:
                p.error(f"bench.{name} makes models, so python -m bench does not run it: python -m bench.{name}")
        p.error(f"no bench module for {', '.join(unknown)} (available: {', '.join(found)})")
    names = args.names or found

    failed = []
    for k, name in enumerate(names):
        print(f"\n[INFO] === bench.{name} ===", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            # The bench got the Ctrl-C too: it is given time to clean up and say so (subprocess.call killed it
            # 0.25 s later), and the benches after it are not started.
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            left = ", ".join(names[k + 1:])
            print(f"[INFO] interrupted during bench.{name}" + (f"; not run: {left}" if left else ""),
                  file=sys.stderr, flush=True)
            return 130
        took = time.perf_counter() - start
        if code != 0:
            failed.append(name)
            print(f"[ERROR] bench.{name} failed (exit {code}) after {took:.0f}s", flush=True)
        else:
            print(f"[INFO] bench.{name} done in {took:.0f}s", flush=True)
    if failed:
        print(f"\n[ERROR] {len(failed)} of {len(names)} benches failed: {', '.join(failed)}", flush=True)
        return 1
    print(f"\n[INFO] all {len(names)} benches passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
