#!/usr/bin/env python3
"""See `python detect_mask_video.py --help`; the logic lives in facekit/cli/video.py."""

from facekit.cli.video import main

if __name__ == "__main__":
    raise SystemExit(main())
