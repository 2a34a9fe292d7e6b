#!/usr/bin/env python3
"""See `python detect_mask_video.py --help`; the logic lives in facekit/cli/video.py."""

import sys

try:
    from facekit.cli.video import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: one line, not a traceback
    print("\n[INFO] interrupted", file=sys.stderr)
    raise SystemExit(130)

if __name__ == "__main__":
    raise SystemExit(main())
