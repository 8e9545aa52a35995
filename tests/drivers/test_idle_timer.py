"""The idle timer of a plain-socket reader parked in Readiness (outside its cancel scope): the
deadline moves with every line and with authentication, passes into a ping and then a goodbye,
and whoever ends the connection wakes the parked reader at once. Real sockets on 127.0.0.1,
virtual time (each wait is under LineClient's WAIT)."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from triochat import ChatServer, ServerConfig
from triochat.drivers._readiness import Readiness, abort
from triochat.session._auth import Secret


async def _serve(nursery: trio.Nursery, **options: object) -> tuple[ChatServer, int]:
    config = ServerConfig(port=0, **options)  # type: ignore[arg-type]
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    return server, server.addresses[0][1]


async def _parked(server: ChatServer) -> None:
    await trio.testing.wait_all_tasks_blocked()
    assert server._readiness._waiting, "no reader parked in Readiness"


async def test_a_line_moves_the_deadline_of_a_parked_reader(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, port = await _serve(nursery, idle_timeout=8)
    client = await LineClient.open(port)
    await client.until("joined #lobby")
    start = trio.current_time()
    await _parked(server)
    await trio.sleep(3)
    await client.send("still here")
    await client.until("still here")
    await client.until("ping")  # 4 s after the line, not 4 s after connecting
    assert trio.current_time() - start == pytest.approx(7, abs=0.1)
    await client.send("pong")
    await client.until("pong")
    await client.until("ping")
    assert trio.current_time() - start == pytest.approx(11, abs=0.1)
    assert (await client.until("goodbye"))[-1] == "*** goodbye (idle timeout)"
    assert trio.current_time() - start == pytest.approx(15, abs=0.1)
    await client.aclose()


async def test_a_parked_reader_is_held_to_the_password_deadline_and_then_the_idle_one(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, port = await _serve(
        nursery, password=Secret.from_text("sesame"), auth_timeout=3, idle_timeout=8
    )
    silent = await LineClient.open(port)
    start = trio.current_time()
    await silent.until("password")
    await _parked(server)
    assert (await silent.until("goodbye"))[-1] == "*** goodbye (authentication timeout)"
    assert trio.current_time() - start == pytest.approx(3, abs=0.1)
    # Given in time, the password moves the deadline to the idle timer's.
    member = await LineClient.open(port)
    start = trio.current_time()
    await member.until("password")
    await trio.sleep(1)
    await member.send("/pass sesame")
    await member.until("joined #lobby")
    await member.until("ping")
    assert trio.current_time() - start == pytest.approx(5, abs=0.1)
    await silent.aclose()
    await member.aclose()


async def test_ending_the_connection_of_a_parked_reader_wakes_it_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, port = await _serve(nursery, idle_timeout=600)
    client = await LineClient.open(port)
    await client.until("joined #lobby")
    await _parked(server)
    start = trio.current_time()
    (connection,) = server._connections
    assert connection.member is not None
    server.hub.disconnect(connection.member, "removed by the library")
    assert await client.rest() != []  # the goodbye, then the end of the connection
    await eventually(lambda: server.statistics().connections == 0)
    # Woken by the close, not by its deadline (which autojump would have reached).
    assert trio.current_time() - start < 1
    await client.aclose()


async def test_readiness_wakes_at_the_deadline_kept_lazily(
    autojump_clock: trio.testing.MockClock,
) -> None:
    left, right = socket.socketpair()
    readiness = Readiness()
    woken: list[float] = []
    start = trio.current_time()

    async def park(deadline: float) -> None:
        assert readiness.arm(left.fileno(), start + deadline)
        await trio.lowlevel.wait_task_rescheduled(abort)
        woken.append(trio.current_time() - start)

    with left, right, trio.fail_after(5000):  # a task never woken fails, not hangs
        async with trio.open_nursery() as nursery:
            nursery.start_soon(readiness.run)
            await trio.testing.wait_all_tasks_blocked()
            await park(10)  # woken at its deadline
            # Woken early (at 15) after parking until 20; parked again until 30, its entry
            # stays due at 20, comes up then, is pushed again, and wakes it at 30.
            async with trio.open_nursery() as inner:
                inner.start_soon(park, 20)
                await trio.sleep(5)
                readiness.wake(left.fileno())
            await park(30)
            # Parked until 50, woken at 31, parked until 40 (earlier than its entry's 50): a
            # fresh entry wakes it at 40.
            async with trio.open_nursery() as inner:
                inner.start_soon(park, 50)
                await trio.sleep(1)
                readiness.wake(left.fileno())
            await park(40)
            # Input wakes it before its deadline.
            async with trio.open_nursery() as inner:
                inner.start_soon(park, 1000)
                await trio.sleep(2)
                right.send(b"x")
            nursery.cancel_scope.cancel()
    assert woken == pytest.approx([10, 15, 30, 31, 40, 42])


def _parked_in_readiness(server: ChatServer) -> bool:
    """Whether a reader is parked in Readiness now (the tests here have one client)."""
    return any(
        entry.task is not None and entry.task.custom_sleep_data is server._readiness
        for entry in server._readiness._waiting.values()
    )


async def test_a_busy_client_waits_through_trio_and_still_times_out(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Four lines in a row under 0.1 s apart make a reader wait for input through trio (woken
    straight from its epoll); its idle timer still pings it and then cuts it off, and a line
    after a quiet spell sends it back to Readiness."""
    server, port = await _serve(nursery, idle_timeout=8)
    client = await LineClient.open(port)
    await client.until("joined #lobby")
    await trio.testing.wait_all_tasks_blocked()
    assert _parked_in_readiness(server)  # quiet so far: parked in Readiness
    for n in range(6):
        await client.send(f"line {n}")
        await client.until(f"line {n}")
        await trio.sleep(0.02)
    await trio.testing.wait_all_tasks_blocked()
    assert not _parked_in_readiness(server)  # busy: waiting through trio
    start = trio.current_time()
    await client.until("ping")
    assert trio.current_time() - start == pytest.approx(4, abs=0.1)
    await client.send("pong")  # after a quiet spell: not busy any more
    await client.until("pong")
    await trio.testing.wait_all_tasks_blocked()
    assert _parked_in_readiness(server)
    await client.until("ping")
    assert (await client.until("goodbye"))[-1] == "*** goodbye (idle timeout)"
    await client.aclose()


async def test_lines_split_over_many_short_reads_all_arrive(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A short read parks the reader without reading again: bytes that come meanwhile (the
    rest of a line, more lines) wake it at once, and nothing is lost or reordered."""
    _server, port = await _serve(nursery, idle_timeout=60)
    client = await LineClient.open(port)
    await client.until("joined #lobby")
    for n in range(20):
        for piece in (f"piece {n}".encode()[:3], f"piece {n}".encode()[3:] + b"\n"):
            await client.stream.send_all(piece)
            await trio.sleep(0.001 * (n % 3))
    for n in range(20):
        await client.until(f"piece {n}")
    await client.aclose()
