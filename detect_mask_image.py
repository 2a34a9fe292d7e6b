#!/usr/bin/env python3
"""See `python detect_mask_image.py --help`; the logic lives in facekit/cli/image.py."""

import sys

try:
    from facekit.cli.image import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing (OpenCV, numpy): one line, not a traceback
    print("\n[INFO] interrupted", file=sys.stderr)
    raise SystemExit(130)

if __name__ == "__main__":
    raise SystemExit(main())
