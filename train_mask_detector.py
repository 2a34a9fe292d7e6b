#!/usr/bin/env python3
"""See `python train_mask_detector.py --help`; the logic lives in facekit/cli/train.py."""

import sys

try:
    from facekit.cli.train import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing (OpenCV, numpy): one line, not a traceback
    print("\n[INFO] interrupted", file=sys.stderr)
    raise SystemExit(130)

if __name__ == "__main__":
    raise SystemExit(main())
