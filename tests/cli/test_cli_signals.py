"""Stopping ``triochat serve`` with signals: the first is graceful, a second one stops at once.

ISSUE 10 item 10: SIGINT, SIGINT ended in exit -2 and a KeyboardInterrupt traceback, SIGTERM,
SIGTERM in exit -15; the "stopped" line was missing and the second signal did not speed up
anything. Real processes, real signals, loopback only.
"""

from __future__ import annotations

import logging
import signal

import pytest
import trio

from tests.adversarial.helpers import Reader, ServerProcess, open_raw, serve_process
from tests.conftest import LineClient, eventually
from triochat import ServerConfig
from triochat.cli._serve import EXIT_OK, ServeOptions, hold_stop_signals, serve_until_stopped

#: Long enough that a test waiting it out would fail: only a second signal ends it sooner.
GRACE = 60
#: Lines of chat, each LINE_BYTES long, queued for a client that does not read.
BACKLOG_LINES = 500
LINE_BYTES = 4000
#: Seconds from the second signal to the exit we allow (each stuck client gets at most 0.5 s
#: per last word, and the interpreter must stop).
STOP_AT_ONCE = 5


async def _hold_the_shutdown(server: ServerProcess, nursery: trio.Nursery) -> Reader:
    """Make a client that holds a graceful shutdown for its whole grace: its socket takes
    (almost) nothing, with megabytes queued for it. Returns a healthy client that chatted."""
    stuck = await open_raw(server.port, rcvbuf=4096)
    nursery.start_soon(_close_at_the_end, stuck)
    talker = Reader(await open_raw(server.port))
    nursery.start_soon(_close_at_the_end, talker.stream)
    nursery.start_soon(talker.run)
    await talker.wait_for_line("joined #lobby")
    line = b"x" * LINE_BYTES
    for number in range(BACKLOG_LINES):
        await talker.stream.send_all(line + b" %d\n" % number)
    last = f" {BACKLOG_LINES - 1}"
    await talker.wait(lambda r: bool(r.lines) and r.lines[-1].endswith(last))
    return talker


async def _close_at_the_end(stream: trio.SocketStream) -> None:
    try:
        await trio.sleep_forever()
    finally:
        await trio.aclose_forcefully(stream)


def _check_clean_stop(log: str) -> None:
    assert "Traceback" not in log
    assert "KeyboardInterrupt" not in log
    assert log.rstrip("\n").splitlines()[-1].endswith("INFO triochat.cli: stopped")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_second_signal_during_the_grace_stops_at_once(signum: signal.Signals) -> None:
    args = ["--shutdown-grace", str(GRACE), "--rate", "inf"]
    args += ["--outbox", "100000", "--outbox-bytes", "16000000"]  # never too slow: stuck
    async with serve_process(*args) as server, trio.open_nursery() as nursery:
        talker = await _hold_the_shutdown(server, nursery)
        server.process.send_signal(signum)
        await eventually(lambda: f"{signum.name} received: shutting down" in server.log)
        await talker.wait(lambda r: r.eof)  # the healthy client got its goodbye
        assert talker.lines[-1] == "*** goodbye (server shutting down)"
        assert server.process.returncode is None  # the stuck client holds the shutdown
        start = trio.current_time()
        server.process.send_signal(signum)  # the second one
        server.process.send_signal(signum)  # and a third, which must be swallowed too
        with trio.fail_after(STOP_AT_ONCE):
            returncode = await server.process.wait()
        assert trio.current_time() - start < STOP_AT_ONCE
        nursery.cancel_scope.cancel()
    assert returncode == 0
    assert f"{signum.name} received again: stopping at once" in server.log
    _check_clean_stop(server.log)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_two_signals_at_once_stop_cleanly(signum: signal.Signals) -> None:
    async with serve_process() as server:
        client = await (await LineClient.open(server.port)).registered()
        server.process.send_signal(signum)
        server.process.send_signal(signum)
        with trio.fail_after(STOP_AT_ONCE):
            returncode = await server.process.wait()
        assert (await client.rest())[-1] == "*** goodbye (server shutting down)"
        await client.aclose()
    assert returncode == 0
    _check_clean_stop(server.log)


async def test_a_signal_before_the_server_started_stops_it_before_it_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The command's own handlers note a signal that comes before Trio listens for signals.
    caplog.set_level(logging.INFO, logger="triochat.cli")
    with trio.fail_after(5):
        assert (
            await serve_until_stopped(ServeOptions(config=ServerConfig(port=0)), [signal.SIGTERM])
            == EXIT_OK
        )
    assert caplog.messages == ["SIGTERM received: not starting"]


def test_the_command_notes_stop_signals_instead_of_dying() -> None:
    # From before Trio starts until the process exits, a SIGINT or SIGTERM that Trio's signal
    # receiver is not there to take (during start-up, handed back as the receiver closes, while
    # the last log lines are written) must neither raise KeyboardInterrupt nor kill the process.
    # SIGHUP (a reload, once serving) does nothing then, instead of ending the process.
    stop_and_hup = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in stop_and_hup}
    try:
        noted = hold_stop_signals()
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGTERM)
        assert noted == [signal.SIGINT, signal.SIGTERM]
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
