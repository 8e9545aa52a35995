"""What the benchmark reads of its processes: CPU time, memory, threads (from ``/proc``), and
the percentiles of latency samples."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .loadgen import Load

CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
PAGE: Final = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User plus system CPU seconds of process *pid* and (with *children*) its live children
    (the workers of ``--workers N`` under their supervising parent), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0  # a child that ended between the listing and the read
    # After the command name: state is field 0, utime field 11, stime field 12.
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    if not children:
        return own
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return children


def rss_bytes(pid: int) -> int:
    """Resident set size of process *pid*, from /proc/PID/statm."""
    with open(f"/proc/{pid}/statm", "rb") as file:
        return int(file.read().split()[1]) * PAGE


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as file:
        for line in file:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    return 0


class Window:
    """CPU seconds of the server and of the load generator (with its workers) over an interval:
    in all, and of its busiest process (the one that would be the bottleneck)."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.start = time.monotonic()
        self.server_cpu = cpu_seconds(load.server_pid)
        self.own = self._each()

    def _each(self) -> dict[int, float]:
        # Each process's own CPU: the workers are the main process's children, and counting
        # them in it too would count them twice.
        pids = [os.getpid(), *(worker.pid for worker in self.load.workers)]
        return {pid: cpu_seconds(pid, children=False) for pid in pids}

    def result(self) -> dict[str, Any]:
        wall = time.monotonic() - self.start
        used = [(after - self.own.get(pid, 0.0)) / wall for pid, after in self._each().items()]
        return {
            "seconds": wall,
            "server_cpu": (cpu_seconds(self.load.server_pid) - self.server_cpu) / wall,
            "loadgen_cpu": sum(used),
            "loadgen_busiest_cpu": max(used),
            "loadgen_processes": len(used),
            # The main process (senders, setup clients) first, then each receiver worker.
            "loadgen_cpu_each": used,
        }


def percentiles(values: list[int]) -> dict[str, float]:
    """p50/p99/max of nanosecond samples, in milliseconds."""
    if not values:
        nan = float("nan")
        return {"samples": 0, "p50_ms": nan, "p99_ms": nan, "max_ms": nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {"samples": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)}


def cdf(values: list[int], points: int = 200) -> list[float]:
    """Latency (ms) at *points* evenly spaced quantiles, for the CDF plot."""
    if not values:
        return []
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, i * len(ordered) // points)] / 1e6 for i in range(points)]
