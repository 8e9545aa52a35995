"""``triochat serve --workers N``: N server processes on one port, supervised by this one.

Each worker is ``triochat serve`` run again with the same arguments (without ``--workers``)
and :data:`WORKER_ENV` set, which makes it listen with ``SO_REUSEPORT``: the kernel spreads
new connections over the workers, and the workers share rooms through ``--engine`` (Redis).
The parent does nothing but supervise: it forwards SIGINT and SIGTERM to every worker (so the
first one stops them gracefully, a second one at once, as for a single server), reports a
worker that ends on its own, and exits once they have all ended (0 if they all exited 0).
A worker that dies takes only its own connections with it; the others go on.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

import trio

__all__ = ["WORKER_ENV", "supervise_workers", "worker_argv"]

log = logging.getLogger("triochat.cli")

#: Set (to the worker's number, from 1) in the environment of each worker.
WORKER_ENV: Final = "TRIOCHAT_WORKER"
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG: Final = 1  # from <sys/prctl.h>


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line of a worker: the parent's, without ``--workers N``."""
    result: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--workers":
            skip = True
        elif not word.startswith("--workers="):
            result.append(word)
    return result


async def supervise_workers(argv: Sequence[str], count: int, early_signals: list[int]) -> int:
    """Start *count* workers running ``triochat`` with *argv*; the exit code once all ended."""
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        if early_signals:
            return 0
        processes: list[subprocess.Popen[bytes]] = []
        stopping = False
        async with trio.open_nursery() as nursery:
            for number in range(1, count + 1):
                # Started from this (the main) thread, not trio's worker threads: the death
                # signal set in _stop_with_parent follows the thread that started the child.
                process = subprocess.Popen(  # noqa: ASYNC220 - quick, and see above
                    [sys.executable, "-m", "triochat", *argv],
                    env={**os.environ, WORKER_ENV: str(number)},
                    stdin=subprocess.DEVNULL,
                    preexec_fn=_stop_with_parent,
                )
                processes.append(process)
            log.info("started %d workers: pids %s", count, ", ".join(str(p.pid) for p in processes))

            async def forward_signals() -> None:
                nonlocal stopping
                async for signum in signals:
                    stopping = True
                    for process in processes:
                        if process.poll() is None:
                            process.send_signal(signum)

            nursery.start_soon(forward_signals)
            async with trio.open_nursery() as watchers:
                for number, process in enumerate(processes, 1):
                    watchers.start_soon(_watch, number, process, lambda: stopping)
            nursery.cancel_scope.cancel()
    return 0 if all(p.returncode == 0 for p in processes) else 1


def _stop_with_parent() -> None:
    """In the worker, before it runs: SIGTERM when the parent dies, even by SIGKILL (Linux), so
    that no worker outlives its supervisor."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _watch(number: int, process: subprocess.Popen[bytes], stopping: object) -> None:
    code = await trio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
    asked = callable(stopping) and stopping()
    if code != 0 or not asked:
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        log.error("worker %d (pid %d) %s", number, process.pid, how)
