"""One module per root script: each has build_parser() and main(argv=None) -> int."""

import os

# One BLAS thread for the scripts and the batch job (this package is imported before numpy and scipy):
# facekit's own numpy / scipy work is on small arrays (boxes, IoU, the tracker's assignment), while scipy's
# OpenBLAS maps buffers for every core when it loads at a video's first frame. Under a memory limit (ulimit -v
# 1.5 GB, a small board) that load failed with a traceback ("failed to map segment") or hung at full CPU.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
