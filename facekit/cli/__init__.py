"""One module per command (image, video and train, the root scripts', and convert), each with build_parser() and
main(argv=None) -> int; common.py and window.py hold what they share."""

import os

# One BLAS thread for the scripts and the batch job (this package is imported before numpy): facekit's own
# numpy work is on small arrays (boxes, IoU, crops), while OpenBLAS maps buffers for every core when numpy
# loads. Under a memory limit (a small board, ulimit -v) that is the difference: the video script runs in
# 1.3 GB of address space with it, and stops at "[ERROR] out of memory" without.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run_script(name: str, argv: list[str] | None = None) -> int:
    """What a root script, a console command and `python -m facekit` run: facekit.cli.<name>.main(argv) (or a
    dotted module's, facekit.batch). A Ctrl-C while Python still imports OpenCV and numpy (the first ~0.2 s) is
    one line and exit 130 here (facekit.signals.start_guard), where it was a KeyboardInterrupt traceback."""
    import importlib
    import sys

    from ..signals import end_start_guard, say_interrupted, start_guard

    start_guard()
    try:
        try:
            if name in ("image", f"{__name__}.image"):  # a running `python -m facekit serve` holds its models warm
                from ..serve import served

                status = served(sys.argv[1:] if argv is None else list(argv))
                if status is not None:
                    return status
            main = importlib.import_module(name if "." in name else f"{__name__}.{name}").main
        except ImportError as err:
            # Under a tight memory limit (ulimit -v) the loader cannot map OpenCV's libraries in, and this import
            # comes before main()'s guard: a traceback and exit 1, where main() says "out of memory" and exits 2.
            from ..errors import out_of_memory

            if isinstance(err, ModuleNotFoundError) or not out_of_memory(err):
                raise
            print(f"[ERROR] out of memory (loading {err.name or 'a library'}): free some, or raise the process's "
                  "memory limit (ulimit -v, the container's); FACEKIT_THREADS=1 needs less", file=sys.stderr)
            return 2
        finally:
            end_start_guard()
        return main(argv)
    except KeyboardInterrupt:  # no guard off the main thread, and main() takes stops only once it has begun
        return say_interrupted()
    except ModuleNotFoundError as err:  # in the import, or in main() (the video script imports OpenCV there)
        if not missing_package(err):
            raise
        return 2


def missing_package(err: ModuleNotFoundError) -> bool:
    """One [ERROR] line for a package facekit needs (OpenCV, numpy, ...) that this Python lacks, and True; False
    for any other import error (facekit's own modules), which stays a traceback. `make demo` installs the
    packages into the checkout's .venv, and a new user who then types README's `python detect_mask_image.py`
    with the system Python, the venv not activated, got a ModuleNotFoundError traceback about cv2."""
    import sys
    from pathlib import Path

    package = (err.name or "").split(".")[0]
    if not package or package == "facekit":
        return False
    venv = Path(__file__).resolve().parents[2] / ".venv"
    python = venv / "bin" / "python"
    try:
        usable = python.exists()
    except OSError:  # made by another user, its python a link into their private pyenv: a PermissionError traceback
        usable = False
    if usable and Path(sys.prefix).resolve() != venv.resolve():
        hint = (f"facekit's packages are in {venv} (made by `make demo`): run `source {venv / 'bin' / 'activate'}` "
                f"first, or {python} in place of python")
    else:
        hint = "install facekit's packages: `make demo` in the checkout, or `pip install -r requirements.txt`"
    print(f"[ERROR] no module named {package!r} in this Python ({sys.executable}): {hint}", file=sys.stderr)
    return True


# The console commands pip writes (facekit-image, ...) call these, so they get run_script's guard too (not
# named as the modules: importing facekit.cli.image sets the package's `image` to the module).
def image_main() -> int:
    return run_script("image")


def video_main() -> int:
    return run_script("video")


def train_main() -> int:
    return run_script("train")


def batch_main() -> int:
    return run_script("facekit.batch")

