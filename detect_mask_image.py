#!/usr/bin/env python3
"""See `python detect_mask_image.py --help`; the logic lives in facekit/cli/image.py."""

from facekit.cli import run_script

if __name__ == "__main__":
    raise SystemExit(run_script("image"))
