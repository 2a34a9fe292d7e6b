"""One module per root script: each has build_parser() and main(argv=None) -> int."""

import os

# One BLAS thread for the scripts and the batch job (this package is imported before numpy): facekit's own
# numpy work is on small arrays (boxes, IoU, crops), while OpenBLAS maps buffers for every core when numpy
# loads. Under a memory limit (a small board, ulimit -v) that is the difference: the video script runs in
# 1.3 GB of address space with it, and stops at "[ERROR] out of memory" without.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
