"""detect_mask_image.py on one photo: wall time from the command to the written JSON, as a user sees it,
beside a PyImageSearch-style script (TensorFlow, its Keras mask model, res10) on the same photo.

    python -m bench.cli [--image PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, assets_root, print_table

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


def wall(cmd: list[str], out: Path) -> float:
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if res.returncode != 0 or not out.exists():
        raise SystemExit(f"[ERROR] {' '.join(cmd[:3])}... failed: {res.stderr.strip().splitlines()[-1:]}")
    return secs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, help="photo (default: media/example_03.png)")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    root = assets_root()
    image = args.image or root / "media" / "example_03.png"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        facekit = [sys.executable, str(ROOT / "detect_mask_image.py"), "-i", str(image), "-j", str(out), "--no-display"]
        runs = [wall(facekit, out) for _ in range(args.runs)]
        n_faces = len(json.loads(out.read_text())["faces"])
        baseline = [sys.executable, "-c", _BASELINE, str(image),
                    str(root / "baselines" / "pyimagesearch_mask_detector.h5"), str(out)]
        base_runs = [wall(baseline, out) for _ in range(max(1, args.runs // 2))]
        base_faces = len(json.loads(out.read_text()))
    print_table(
        f"detect_mask_image.py on {image.name}: command -> JSON written",
        ["pipeline", "faces", "median s", "best s", "target"],
        [["facekit (default detector, every head in models/)", n_faces, statistics.median(runs), min(runs), "< 1.5 s"],
         ["PyImageSearch-style (TensorFlow + Keras model, res10)", base_faces, statistics.median(base_runs),
          min(base_runs), "-"]],
        [f"{args.runs} runs each, a new process per run (imports and model loading included); the machine's",
         "  other load counts too, so these are upper bounds."],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
