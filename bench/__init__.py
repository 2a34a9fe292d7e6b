"""Benchmarks: each module prints one table comparing facekit with its baseline in the same run.

    python -m bench            # all of them
    python -m bench.mask       # one
"""

import sys

if sys.argv[:1] == ["-m"]:
    # `python -m bench[.NAME]` (Python names argv[0] "-m" while it finds the module): this runs before the bench's
    # own imports (OpenCV, numpy, TensorFlow: seconds), where a Ctrl-C was a KeyboardInterrupt traceback, not one
    # line and exit 130. run_bench ends the guard. Imported any other way (the tests), nothing happens here.
    from facekit.signals import start_guard

    start_guard()
