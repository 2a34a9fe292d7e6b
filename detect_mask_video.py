#!/usr/bin/env python3
"""See `python detect_mask_video.py --help`; the logic lives in facekit/cli/video.py."""

from facekit.cli import run_script

if __name__ == "__main__":
    raise SystemExit(run_script("video"))
