"""A server whose stderr nobody reads must go on serving: logging never blocks the event loop.

ISSUE 10 item 8: with stderr on a pipe that nobody read, the pipe filled after a few hundred
connect/close cycles, the event loop blocked in a log write, and a healthy client got no echo for
as long as the pipe stayed full. The log queue is made small here (``--log-queue``) and the
per-address limit of connection lines is off (``--log-connections 0``: every test client is
127.0.0.1), so that the pipe fills and records are dropped within a few hundred cycles.
"""

from __future__ import annotations

import re
import signal

import trio

from tests.adversarial.helpers import Reader, open_raw, serve_process, size
from tests.conftest import WAIT, LineClient

CYCLES = size(1500, 6000)
ECHO_EVERY = 100
#: The slowest echo we accept during the churn (before the fix: none for as long as the pipe
#: was not read); generous, for a loaded two-core machine.
ECHO_BOUND = 2.0


async def test_a_stderr_nobody_reads_never_stalls_the_server() -> None:
    args = ["--log-queue", "100", "--log-connections", "0", "--max-clients-per-ip", "1000"]
    async with serve_process(*args, read_stderr=False) as server, trio.open_nursery() as nursery:
        healthy = Reader(await open_raw(server.port))
        nursery.start_soon(healthy.run)
        await healthy.wait_for_line("joined #lobby")
        slowest = 0.0
        for number in range(CYCLES):
            await _connect_and_close(server.port)
            if number % ECHO_EVERY == 0:
                start = trio.current_time()
                await healthy.stream.send_all(b"echo %d\n" % number)
                await healthy.wait_for_line(f"> echo {number}", timeout=ECHO_BOUND * 5)
                slowest = max(slowest, trio.current_time() - start)
        assert slowest < ECHO_BOUND
        # Now read stderr: the writer catches up, and says what it had to drop ahead of the
        # next line it can write.
        nursery.start_soon(server.collect_stderr)
        await healthy.stream.send_all(b"echo after\n")
        await healthy.wait_for_line("> echo after")
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(WAIT):
            await server.process.wait()
        await healthy.stream.aclose()
    log = server.log
    dropped = sum(int(n) for n in re.findall(r"(\d+) log lines dropped", log))
    connection_lines = len(re.findall(r" INFO triochat\.server: conn \d+: (?:dis)?connect ", log))
    # Every connect and disconnect was either written or counted, none lost unsaid (the
    # healthy client's two lines, and a few others, may have been dropped too).
    assert 2 * CYCLES <= connection_lines + dropped <= 2 * CYCLES + 10
    assert dropped > 0
    assert server.process.returncode == 0
    assert log.rstrip("\n").splitlines()[-1].endswith("INFO triochat.cli: stopped")


async def _connect_and_close(port: int) -> None:
    """One short session: the server logs its connect and its disconnect."""
    client = await (await LineClient.open(port)).registered()
    await client.aclose()


async def test_connection_lines_are_limited_per_address() -> None:
    async with serve_process("--max-clients-per-ip", "1000") as server:
        for _ in range(100):
            await _connect_and_close(server.port)
    log = server.log
    shown = re.findall(r" INFO triochat\.server: conn \d+: (?:dis)?connect 127\.0\.0\.1:", log)
    counted = re.findall(r"(\d+) connect/disconnect lines from 127\.0\.0\.1 not logged", log)
    assert len(shown) + sum(int(n) for n in counted) == 200
    assert len(shown) <= 100  # 20 a window: 100 would take 50 s of windows
    assert server.process.returncode == 0
