"""One module per root script: each has build_parser() and main(argv=None) -> int."""

import os

# One BLAS thread for the scripts and the batch job (this package is imported before numpy): facekit's own
# numpy work is on small arrays (boxes, IoU, crops), while OpenBLAS maps buffers for every core when numpy
# loads. Under a memory limit (a small board, ulimit -v) that is the difference: the video script runs in
# 1.3 GB of address space with it, and stops at "[ERROR] out of memory" without.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run_script(name: str) -> int:
    """What a root script runs: facekit.cli.<name>.main(). A Ctrl-C while Python still imports OpenCV and numpy
    (the first ~0.2 s) is one line and exit 130 here, where it was a KeyboardInterrupt traceback."""
    import importlib
    import sys

    try:
        main = importlib.import_module(f"{__name__}.{name}").main
    except KeyboardInterrupt:
        print("\n[INFO] interrupted", file=sys.stderr)
        return 130
    return main()


# The console commands pip writes (facekit-image, ...) call these, so they get run_script's guard too (not
# named as the modules: importing facekit.cli.image sets the package's `image` to the module).
def image_main() -> int:
    return run_script("image")


def video_main() -> int:
    return run_script("video")


def train_main() -> int:
    return run_script("train")

