"""The performance benchmark suite: `python -m bench.perf.run` (see run.py)."""
