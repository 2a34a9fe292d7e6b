"""detect_mask_image.py on one photo: wall time from the command to the written JSON, as a user sees it,
beside a PyImageSearch-style script (TensorFlow, its Keras mask model, res10) on the same photo; then
where that time goes (interpreter, imports, each model's loading, detection, each head, writing),
timed step by step in a fresh process the way the script does them.

    python -m bench.cli [--image PATH] [--runs N]
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, ArgumentParser, assets_root, limit_count, machine_info, print_table, run_bench

# The PyImageSearch flow, as its detect_mask_image.py does it: import TensorFlow / Keras, load the mask
# model, res10 at 300x300, classify each face crop with model.predict, then write the result.
_BASELINE = r"""
import json, sys, cv2, numpy as np
from pathlib import Path
from bench.baselines import build_pyimagesearch_mask
from keras.applications.mobilenet_v2 import preprocess_input
from facekit.detection import Res10Detector, DetectorOptions
model = build_pyimagesearch_mask(Path(sys.argv[2]))
image = cv2.imread(sys.argv[1])
faces = Res10Detector(DetectorOptions(confidence=0.5), single_pass=True).detect(image)
out = []
for f in faces:
    crop = cv2.resize(cv2.cvtColor(image[f.box.y1:f.box.y2, f.box.x1:f.box.x2], cv2.COLOR_BGR2RGB), (224, 224))
    p = model.predict(preprocess_input(crop[None].astype("float32")), verbose=0)[0]
    out.append({"box": f.box.as_list(), "with_mask": float(p[0]), "without_mask": float(p[1])})
Path(sys.argv[3]).write_text(json.dumps(out))
"""


# The image script's steps, each timed (wall and process CPU), in a fresh interpreter like the script's.
_STAGES = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
steps = []
def step(name):
    global t0, c0
    t, c = time.perf_counter(), time.process_time()
    steps.append((name, 1000 * (t - t0), 1000 * (c - c0)))
    t0, c0 = t, c
import numpy, cv2
step("import numpy + cv2")
from facekit.cli.image import build_parser
from facekit.cli.common import build_pipeline
step("import facekit CLI")
from ai_edge_litert.interpreter import Interpreter
step("import LiteRT")
args = build_parser().parse_args(["-i", sys.argv[1], "-j", sys.argv[2], "--no-display"])
from facekit.detection import create_detector
detector = create_detector(args.detector, args.confidence, True)
step("load detector")
from facekit.heads import Head, available_tasks
for task, folder in available_tasks().items():
    Head.load(folder)
    step(f"load head: {task}")
pipeline = build_pipeline(args, fine_pass=True)
t0, c0 = time.perf_counter(), time.process_time()  # that was the script's loading again: not counted
from facekit.preprocess import load_image
image = load_image(sys.argv[1])
step("read image")
faces = pipeline.classify(image, pipeline.detect(image))
step(f"detect + heads ({len(faces)} faces)")
steps += [(f"  {name}", ms, float("nan")) for name, ms, _, _ in pipeline.times.table()]
from facekit.records import image_record, write_json
write_json(sys.argv[2], image_record(sys.argv[1], image.shape[1], image.shape[0], faces))
step("write JSON")
print(json.dumps(steps))
"""


def stage_times(image: Path, out: Path) -> list[tuple[str, float, float]]:
    """(step, wall ms, CPU ms) of one fresh run of the image script's steps."""
    res = subprocess.run([sys.executable, "-c", _STAGES, str(image), str(out)], cwd=ROOT, capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise SystemExit(f"[ERROR] stage timing failed: {last_line(res.stderr)}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def last_line(text: str) -> str:
    """What a failed command said last (its [ERROR] line), where the message showed it as a list: "['...']"."""
    return (text.strip().splitlines() or ["(nothing on stderr)"])[-1]


def wall(cmd: list[str], out: Path, server: Path | None = None) -> float:
    """Seconds from the command to its output. server: the socket of a `python -m facekit serve` to hand the
    photo command to; without one, the command runs in its own process even where the user runs a server."""
    out.unlink(missing_ok=True)
    env = {**os.environ, "FACEKIT_SERVER": str(server) if server else "off"}
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t
    if res.returncode != 0 or not out.exists():
        raise SystemExit(f"[ERROR] {' '.join(cmd[:3])}... failed: {last_line(res.stderr)}")
    return secs


@contextlib.contextmanager
def facekit_server(folder: Path):
    """A `python -m facekit serve` on a socket in `folder`, ready (models loaded) when this yields its path."""
    sock = folder / "server" / "photo.sock"
    sock.parent.mkdir(mode=0o700)
    proc = subprocess.Popen([sys.executable, "-m", "facekit", "serve", "--socket", str(sock)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for line in proc.stdout:
            if line.startswith("[INFO] ready"):
                break
        else:
            raise SystemExit(f"[ERROR] python -m facekit serve ended (exit {proc.wait()}) before it was ready")
        yield sock
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.cli", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, help="photo (default: media/example_03.png)")
    p.add_argument("--runs", type=limit_count, default=5, help="timed runs of each command (default: 5)")
    args = p.parse_args(argv)
    # Checked before the server starts: a missing photo was found only by the first timed command.
    if args.image is not None and not args.image.is_file():
        from facekit.preprocess import special_kind

        # /dev/null, a named pipe: "no such file" of a path that is there (a pipe would block every timed run).
        special = special_kind(args.image)
        p.error(f"argument --image: {args.image}: {special}, not a photo" if special
                else f"argument --image: no such file: {args.image}")
    root = assets_root()
    from bench.baselines import require

    require("pyimagesearch_mask")
    image = args.image or root / "media" / "example_03.png"
    print(f"[INFO] {machine_info()}", flush=True)
    # As bench.video does, and README says both do: the commands timed here inherit this environment's policy.
    from facekit.runtime import describe as thread_policy

    print(f"[INFO] threads: {thread_policy()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        facekit = [sys.executable, str(ROOT / "detect_mask_image.py"), "-i", str(image), "-j", str(out), "--no-display"]
        runs, served = [], []
        with facekit_server(Path(tmp)) as sock:
            for _ in range(args.runs):  # alternating, so both see the same load
                runs.append(wall(facekit, out))
                served.append(wall(facekit, out, sock))
        n_faces = len(json.loads(out.read_text())["faces"])
        baseline = [sys.executable, "-c", _BASELINE, str(image),
                    str(root / "baselines" / "pyimagesearch_mask_detector.h5"), str(out)]
        base_runs = [wall(baseline, out) for _ in range(max(1, args.runs // 2))]
        base_faces = len(json.loads(out.read_text()))
    print_table(
        f"detect_mask_image.py on {image.name}: command -> JSON written",
        ["pipeline", "faces", "median s", "best s", "target"],
        [["facekit (default detector, every head in models/)", n_faces, statistics.median(runs), min(runs), "<= 0.4 s"],
         ["facekit, handed to a running `python -m facekit serve`", n_faces, statistics.median(served), min(served),
          "-"],
         ["PyImageSearch-style (TensorFlow + Keras model, res10)", base_faces, statistics.median(base_runs),
          min(base_runs), "-"]],
        [f"{args.runs} runs each, a new process per run (imports and model loading included); the machine's",
         "  other load counts too, so these are upper bounds. Served: the same command, alternating with the",
         "  first row's, while a server holds the models loaded (its start is not counted).", machine_info()],
    )
    with tempfile.TemporaryDirectory() as tmp:
        interpreter = statistics.median(wall([sys.executable, "-c", f"open({str(Path(tmp) / 'x')!r}, 'w')"],
                                             Path(tmp) / "x") for _ in range(3))
        steps = stage_times(image, Path(tmp) / "result.json")
    rows = [["python interpreter start", f"{1000 * interpreter:.0f}", "-"]]
    rows += [[name, f"{ms:.1f}", "-" if cpu != cpu else f"{cpu:.1f}"] for name, ms, cpu in steps]
    print_table(f"where detect_mask_image.py's time goes on {image.name} (one fresh process)",
                ["step", "wall ms", "CPU ms"], rows,
                ["detector / head:* rows are the pipeline's own stage timer, inside the 'detect + heads' row.",
                 machine_info()])
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
