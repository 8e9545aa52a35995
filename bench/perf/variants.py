"""The servers the benchmark measures: triochat over each front end and engine, and the
baselines; how to start each (a set-up around a round: a temporary directory, a redis-server of
our own), and which are not available in this build.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs

ROOT: Final = Path(__file__).resolve().parent.parent.parent
#: Seconds a redis-server has to answer, and to exit.
START_TIMEOUT: Final = 15.0
STOP_TIMEOUT: Final = 3.0
#: The IRC front end gets this many idle connections (see the variant).
IRC_IDLE_CONNECTIONS: Final = 2_000
#: The thread-per-client server gets this many idle connections (a thread each).
THREAD_IDLE_CONNECTIONS: Final = 2_000
PYTHON: Final = sys.executable
#: triochat's own abuse limits are off, as the baselines have none: every benchmark client comes
#: from 127.0.0.1 (over the per-address limit) and sends faster than a person types.
TRIOCHAT_LIMITS_OFF: Final = ["--max-clients-per-ip", "20000", "--rate", "inf"]
TRIOCHAT: Final = [
    PYTHON, "-m", "triochat", "serve", "--log-level", "warning", "--max-clients", "20000",
    *TRIOCHAT_LIMITS_OFF,
]  # fmt: skip
PLAIN: Final = ["--port", "0"]
#: The scenarios every variant runs; the text front end and the baselines run them all.
FRONT_END_SCENARIOS: Final = ("fanout", "latency", "idle")


@attrs.frozen
class Variant:
    """A server to measure: its command, how the load generator's receivers speak to it (senders
    always speak text on its plain TCP endpoint), which of its endpoints they use, a flag its
    ``serve --help`` must offer (else it is "not available in this build"), a set-up around each
    run that gives extra arguments (a temporary directory, a redis-server), and its scenarios."""

    command: list[str]
    dialect: str = "text"
    endpoint: str = "tcp"
    needs: str | None = None
    setup: Callable[[], contextlib.AbstractContextManager[list[str]]] | None = None
    scenarios: tuple[str, ...] | None = None  # None: all
    #: A source tree to run triochat from (``--before``), instead of this one.
    tree: str | None = None
    #: At most this many connections in (d).
    idle_connections: int | None = None


@contextlib.contextmanager
def _temporary_data_dir() -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory(prefix="triochat-bench-") as directory:
        yield ["--data-dir", directory]


@contextlib.contextmanager
def _redis_server() -> Iterator[list[str]]:
    """A redis-server of our own on a free loopback port, persistence off; stopped by its PID."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield ["--engine", f"redis://127.0.0.1:{port}/0"]
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _redis_server_two_workers() -> Iterator[list[str]]:
    """The same, served by ``--workers 2`` on one fixed port (the workers share it)."""
    with _redis_server() as engine, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        yield [*engine, "--workers", "2", "--port", str(port)]


SERVERS: Final[dict[str, Variant]] = {
    "triochat": Variant([*TRIOCHAT, *PLAIN]),
    "triochat-json": Variant([*TRIOCHAT, *PLAIN], dialect="json", scenarios=FRONT_END_SCENARIOS),
    "triochat-irc": Variant(
        [*TRIOCHAT, "--listen", "tcp://127.0.0.1:0", "--listen", "irc://127.0.0.1:0"],
        dialect="irc", endpoint="irc", scenarios=FRONT_END_SCENARIOS,
        # Each IRC JOIN is answered with the names of everyone in the channel (353): 10 000 joins
        # would be 50 million names, minutes of setup that measure nothing of the idle server.
        idle_connections=IRC_IDLE_CONNECTIONS,
    ),
    "triochat-ws": Variant(
        [*TRIOCHAT, "--listen", "tcp://127.0.0.1:0", "--listen", "ws://127.0.0.1:0"],
        dialect="websocket", endpoint="ws", scenarios=FRONT_END_SCENARIOS,
    ),
    "triochat-sqlite": Variant(
        [*TRIOCHAT, *PLAIN], needs="--data-dir", setup=_temporary_data_dir,
        scenarios=FRONT_END_SCENARIOS,
    ),
    "triochat-redis": Variant(
        [*TRIOCHAT, *PLAIN], needs="--engine", setup=_redis_server, scenarios=FRONT_END_SCENARIOS,
    ),
    "triochat-redis-2-workers": Variant(
        [*TRIOCHAT, *PLAIN], needs="--workers", setup=_redis_server_two_workers,
        scenarios=("fanout", "latency"),
    ),
    "asyncio": Variant([PYTHON, "-m", "bench.perf.servers.asyncio_chat", *PLAIN]),
    "uvloop": Variant([PYTHON, "-m", "bench.perf.servers.asyncio_chat", *PLAIN, "--uvloop"]),
    "threads": Variant(
        [PYTHON, "-m", "bench.perf.servers.thread_chat", *PLAIN],
        idle_connections=THREAD_IDLE_CONNECTIONS,
    ),
}  # fmt: skip
#: Where each endpoint's port is in the server's "serving on" line.
ENDPOINTS: Final = {
    "tcp": re.compile(rb"serving on (?:[^\n]*? )?127\.0\.0\.1:(\d+)"),
    "irc": re.compile(rb"irc://127\.0\.0\.1:(\d+)"),
    "ws": re.compile(rb"http://127\.0\.0\.1:(\d+)/"),
}
UNAVAILABLE: Final = "not available in this build"


def unavailable(variants: dict[str, Variant]) -> set[str]:
    """The variants whose flag ``triochat serve --help`` does not offer."""
    needed = {v.needs for v in variants.values() if v.needs}
    if not needed:
        return set()
    shown = subprocess.run(
        [*TRIOCHAT[:4], "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    return {name for name, v in variants.items() if v.needs and v.needs not in shown}
