"""The server's logging: a bounded queue and a writer thread, and per-address connection limits.

ISSUE 10 item 8: with stderr on a pipe nobody read, a log write blocked the event loop and the
server stopped serving everyone. These tests use a writer that is stuck for real (a handler that
waits, a pipe nobody reads) and check that logging calls still return at once.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio

from tests.conftest import LineClient
from triochat import ChatServer, ServerConfig
from triochat.cli._logging import (
    CONNECTION_MESSAGES,
    ConnectionLogLimiter,
    DroppingQueueHandler,
    LogWriter,
    log_to_stderr,
)


class StuckHandler(logging.Handler):
    """Writes nothing until released: a stderr that nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.unblock = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.unblock.wait()
        self.messages.append(record.getMessage())


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, not the root's handlers (pytest's capture is left alone)."""
    logger = logging.getLogger("triochat.test-logging")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


def _log_in_a_thread(logger: logging.Logger, count: int) -> None:
    """Log *count* lines from another thread; fail (not hang) if logging blocks."""

    def log_lines() -> None:
        for n in range(count):
            logger.info("line %d", n)

    thread = threading.Thread(target=log_lines)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "a logging call blocked on the stuck writer"


def test_a_stuck_writer_never_blocks_logging_and_drops_are_counted(
    logger: logging.Logger,
) -> None:
    records: queue.Queue[Any] = queue.Queue(5)
    handler = DroppingQueueHandler(records)
    output = StuckHandler()
    writer = LogWriter(records, output)
    logger.addHandler(handler)
    writer.start()
    try:
        _log_in_a_thread(logger, 1000)
        # The writer holds one record, the queue five; the rest were dropped, not waited for.
        assert handler.dropped_total >= 1000 - 6
        output.unblock.set()
        _wait_until(records.empty)  # the writer caught up
        logger.info("after the gap")  # room again: the count goes ahead of this line
        assert writer.stop_within(5)
    finally:
        output.unblock.set()
        writer.stop_within(5)
    messages = output.messages
    # One count per gap, ahead of the first line after it (the writer may have made room once,
    # early, by taking its first record); here the last gap ends just before "after the gap".
    assert messages[-1] == "after the gap"
    assert "log lines dropped" in messages[-2]
    assert sum(_dropped(m) for m in messages) == handler.dropped_total
    written = [int(m.split()[1]) for m in messages if m.startswith("line ")]
    assert written == sorted(written)
    assert len(written) + handler.dropped_total == 1000


def _dropped(message: str) -> int:
    """The count of a "N log lines dropped" message (0 for any other message)."""
    match = re.search(r"(\d+) log lines dropped", message)
    return int(match[1]) if match else 0


def test_the_drop_count_is_written_at_exit_when_nothing_follows(logger: logging.Logger) -> None:
    records: queue.Queue[Any] = queue.Queue(2)
    handler = DroppingQueueHandler(records)
    output = StuckHandler()
    writer = LogWriter(records, output)
    logger.addHandler(handler)
    writer.start()
    _log_in_a_thread(logger, 50)
    output.unblock.set()
    handler.report_dropped(timeout=5)
    assert writer.stop_within(5)
    assert "log lines dropped" in output.messages[-1]
    assert sum(_dropped(m) for m in output.messages) == handler.dropped_total
    assert handler.dropped == 0


def test_stop_gives_up_on_a_writer_stuck_for_good(logger: logging.Logger) -> None:
    records: queue.Queue[Any] = queue.Queue(1)
    output = StuckHandler()
    writer = LogWriter(records, output)
    logger.addHandler(DroppingQueueHandler(records))
    writer.start()
    _log_in_a_thread(logger, 10)
    assert not writer.stop_within(0.2)  # returns, although the writer is still stuck
    output.unblock.set()
    assert writer.stop_within(5)


def test_log_to_a_pipe_nobody_reads_then_catch_up() -> None:
    # The whole arrangement over a real pipe: fill it, keep logging, then read it all.
    read_end, write_end = os.pipe()
    try:
        log = logging.getLogger("triochat.test-pipe")
        with log_to_stderr(logging.INFO, queue_size=50, fd=write_end) as handler:
            _log_in_a_thread(log, 5000)  # about 400 KB of lines: far more than a pipe holds
            assert handler.dropped_total > 0
            reader = _PipeReader(read_end)  # now read: the writer catches up
            reader.start()
            _wait_until(handler.records.empty)
            log.info("the last line")
        os.close(write_end)  # end of file for the reader, once the writer is done
        write_end = -1
        reader.join(10)
        assert not reader.is_alive()
        text = reader.data.decode()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    lines = text.splitlines()
    dropped = [line for line in lines if "log lines dropped" in line]
    written = [line for line in lines if "INFO triochat.test-pipe: line " in line]
    assert dropped  # one line per gap (the writer made some room while the pipe filled up)
    assert sum(_dropped(line) for line in dropped) == 5000 - len(written)
    assert handler.dropped_total == 5000 - len(written)
    assert lines[-1].endswith("INFO triochat.test-pipe: the last line")
    assert logging.getLogger().handlers.count(handler) == 0  # removed on the way out


class _PipeReader(threading.Thread):
    """Reads a pipe to its end."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.data = b""

    def run(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.data += chunk


def _wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    """Wait until *predicate* holds (state changed by another thread); fail on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# ------------------------------------------------------------------- connection line limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _line(peer: str, kind: str = "connect") -> logging.LogRecord:
    """A connect or disconnect record as the server makes them."""
    message: str = "connect %s as %s"
    args: tuple[str, ...] = (peer, "guest-1")
    if kind == "disconnect":
        message, args = "disconnect %s (%s): %s", (peer, "guest-1", "quit")
    return logging.LogRecord("triochat.server", logging.INFO, __file__, 0, message, args, None)


SUMMARY = "{} connect/disconnect lines from {} not logged (at most 3 per 10 s per address)"


def test_connection_lines_are_limited_per_address(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter = ConnectionLogLimiter(limit=3, window=10, clock=clock)
    caplog.set_level(logging.INFO, logger="triochat.server")
    kinds = ["connect", "disconnect"] * 3
    assert [limiter.filter(_line(f"192.0.2.1:{n}", kind)) for n, kind in enumerate(kinds)] == [
        *[True] * 3,
        *[False] * 3,
    ]
    assert limiter.filter(_line("[2001:db8::1]:5000"))  # another address: an allowance of its own
    other = logging.LogRecord(
        "triochat.server", logging.INFO, "", 0, "listening on %s", ("x",), None
    )
    assert limiter.filter(other)  # not a connection line
    clock.now = 9.9
    assert not limiter.filter(_line("192.0.2.1:99"))  # still the same window
    assert caplog.messages == []
    clock.now = 10.0
    assert limiter.filter(_line("192.0.2.1:100"))  # a new window, after the count of the last
    assert caplog.messages == [SUMMARY.format(4, "192.0.2.1")]


def test_counts_of_a_quiet_address_come_with_the_next_sweep_or_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    limiter = ConnectionLogLimiter(limit=3, window=10, clock=clock)
    caplog.set_level(logging.INFO, logger="triochat.server")
    for n in range(5):
        limiter.filter(_line(f"192.0.2.1:{n}"))
    for n in range(4):
        limiter.filter(_line(f"192.0.2.2:{n}"))
    clock.now = 15.0
    assert limiter.filter(_line("198.51.100.7:1"))  # the sweep reports the quiet addresses
    assert caplog.messages == [SUMMARY.format(2, "192.0.2.1"), SUMMARY.format(1, "192.0.2.2")]
    caplog.clear()
    for n in range(5):
        limiter.filter(_line(f"198.51.100.7:{n}"))
    limiter.flush()  # at exit
    assert caplog.messages == [SUMMARY.format(3, "198.51.100.7")]
    caplog.clear()
    limiter.flush()
    assert caplog.messages == []


def test_beyond_the_tracked_addresses_new_ones_share_one_allowance() -> None:
    limiter = ConnectionLogLimiter(limit=3, window=10, clock=FakeClock(), max_tracked=2)
    assert limiter.filter(_line("192.0.2.1:1"))
    assert limiter.filter(_line("192.0.2.2:1"))
    fresh = [limiter.filter(_line(f"203.0.113.{n}:1")) for n in range(5)]
    assert fresh == [True] * 3 + [False] * 2
    assert limiter.filter(_line("192.0.2.1:2"))  # the tracked ones keep their own


async def test_the_limiter_knows_the_servers_connection_lines(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    # If the server's wording changes, the limiter must follow: check what it really logs.
    caplog.set_level(logging.INFO, logger="triochat.server")
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    client = await (await LineClient.open(server.addresses[0][1])).registered("logged")
    await client.send("/quit")
    await client.rest()
    await client.aclose()
    with trio.fail_after(5):
        await server.shutdown()
    templates = [r.msg for r in caplog.records if r.name == "triochat.server"]
    connection_lines = [t for t in templates if t in CONNECTION_MESSAGES]
    assert len(connection_lines) == 2, templates
    limiter = ConnectionLogLimiter(limit=0)
    assert not any(limiter.filter(r) for r in caplog.records if r.msg in CONNECTION_MESSAGES)
