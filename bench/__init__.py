"""The benchmark suite (see bench/run.py)."""
