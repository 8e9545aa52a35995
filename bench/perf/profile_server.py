"""Run ``triochat serve`` under pyinstrument and write its top costs as JSON when it stops.

    python -m bench.perf.profile_server --output profile.json -- serve --port 0

The profile samples the whole process (one thread: Trio's) every half millisecond. On exit it
writes the functions with the most *self* time (where the CPU actually went) and the most total
time (what they were called from), aggregated over every call path.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

#: How many functions the profile keeps, by self time and by total time.
TOP = 25


def _aggregate(
    frame: Any, own: dict[str, float], total: dict[str, float], stack: tuple[str, ...]
) -> None:
    if frame.is_synthetic:
        # pyinstrument's "[self]" and similar leaves: time spent in the parent function itself.
        name = stack[-1] if stack else "[root]"
        own[name] += frame.time
        return
    name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
    if not frame.children:
        own[name] += frame.time
    if name not in stack:  # count recursion once
        total[name] += frame.time
    for child in frame.children:
        _aggregate(child, own, total, (*stack, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    arguments = [a for a in args.arguments if a != "--"]

    from pyinstrument import Profiler

    from triochat.cli._main import main as triochat_main

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        triochat_main(arguments)
    finally:
        session = profiler.stop()
        root = session.root_frame()
        own: dict[str, float] = defaultdict(float)
        total: dict[str, float] = defaultdict(float)
        if root is not None:
            _aggregate(root, own, total, ())
        duration = session.duration or 1.0
        result = {
            "duration": duration,
            "cpu_time": session.cpu_time,
            "self": sorted(((v / duration, k) for k, v in own.items()), reverse=True)[:TOP],
            "total": sorted(((v / duration, k) for k, v in total.items()), reverse=True)[:TOP],
        }
        args.output.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
