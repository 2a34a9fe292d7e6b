#!/usr/bin/env python3
"""See `python detect_mask_image.py --help`; the logic lives in facekit/cli/image.py."""

from facekit.cli.image import main

if __name__ == "__main__":
    raise SystemExit(main())
