#!/usr/bin/env python3
"""See `python train_mask_detector.py --help`; the logic lives in facekit/cli/train.py."""

from facekit.cli import run_script

if __name__ == "__main__":
    raise SystemExit(run_script("train"))
