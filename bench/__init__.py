"""Benchmarks: each module prints one table comparing facekit with its baseline in the same run.

    python -m bench            # all of them
    python -m bench.mask       # one
"""
