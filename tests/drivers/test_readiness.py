"""Idle plain-socket readers park in the server's Readiness (one epoll set), not in trio's
wait_readable: they are woken by input, cancelled by their scopes, and fall back to trio's wait
when Readiness stops."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from triochat import ChatServer, ServerConfig
from triochat.drivers._readiness import Readiness, abort


async def test_idle_readers_park_in_readiness_and_wake_on_input(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    alice = await (await LineClient.open(port)).registered("alice")
    bob = await (await LineClient.open(port)).registered("bob")
    await trio.testing.wait_all_tasks_blocked()
    fds = {c._descriptor for c in server._connections if c._descriptor >= 0}
    assert len(fds) == 2
    assert set(server._readiness._waiting) == fds
    await alice.send("hello\n")
    await bob.until("<alice> hello")
    await alice.aclose()
    await eventually(lambda: server.statistics().connections == 1)
    await trio.testing.wait_all_tasks_blocked()
    assert len(server._readiness._waiting) == 1  # bob's, parked again; alice's forgotten
    await bob.aclose()


async def _park(readiness: Readiness, fd: int, woken: list[str]) -> None:
    def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        readiness.disarm(fd)
        return trio.lowlevel.Abort.SUCCEEDED

    assert readiness.arm(fd)
    try:
        await trio.lowlevel.wait_task_rescheduled(abort)
        woken.append("woken")
    except trio.Cancelled:
        woken.append("cancelled")
        raise


async def test_a_parked_task_is_woken_cancelled_or_released_when_readiness_stops() -> None:
    left, right = socket.socketpair()
    with left, right:
        readiness = Readiness()
        woken: list[str] = []
        async with trio.open_nursery() as outer:
            runner = trio.CancelScope()

            async def run() -> None:
                with runner:
                    await readiness.run()

            outer.start_soon(run)
            await trio.testing.wait_all_tasks_blocked()
            # Readable: woken.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_park, readiness, left.fileno(), woken)
                await trio.testing.wait_all_tasks_blocked()
                assert woken == []
                right.send(b"x")
            assert woken == ["woken"]
            left.recv(1)
            # Cancelled while parked: nobody waits on the descriptor any more.
            with trio.move_on_after(0.01):
                await _park(readiness, left.fileno(), woken)
            assert woken[-1] == "cancelled"
            assert not readiness._waiting
            # Readiness stops: a parked task is woken (to wait through trio from then on).
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_park, readiness, left.fileno(), woken)
                await trio.testing.wait_all_tasks_blocked()
                runner.cancel()
            assert woken[-1] == "woken"
            assert not readiness.running
            assert not readiness.arm(left.fileno())


async def test_the_shared_abort_leaves_a_stale_entry_that_wakes_nobody() -> None:
    # A reader cancelled while parked with the shared abort (which knows no descriptor) leaves
    # its entry behind: input arriving while that task waits for something else must not wake
    # it, and the task can arm the same descriptor again.
    left, right = socket.socketpair()
    with left, right:
        readiness = Readiness()
        events: list[str] = []
        async with trio.open_nursery() as outer:
            outer.start_soon(readiness.run)
            await trio.testing.wait_all_tasks_blocked()
            elsewhere = trio.Event()

            async def reader() -> None:
                assert readiness.arm(left.fileno())
                with trio.move_on_after(0.01):
                    await trio.lowlevel.wait_task_rescheduled(abort)
                events.append("cancelled")
                assert left.fileno() in readiness._waiting  # stale, not removed
                await elsewhere.wait()
                events.append("elsewhere")
                assert readiness.arm(left.fileno())  # armed again over its stale entry
                await trio.lowlevel.wait_task_rescheduled(abort)
                events.append("readable")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                await trio.sleep(0.05)
                assert events == ["cancelled"]
                right.send(b"x")  # ready, but its task waits for something else
                await trio.sleep(0.05)
                await trio.testing.wait_all_tasks_blocked()
                assert events == ["cancelled"]
                elsewhere.set()
            assert events == ["cancelled", "elsewhere", "readable"]
            outer.cancel_scope.cancel()


async def test_an_idle_socket_keeps_only_its_descriptor_and_still_times_out(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Parked in Readiness, a connection holds neither a stream nor socket objects; its idle
    # timer still cancels the parked reader, and the goodbye goes out through the stream made
    # from the descriptor at the end (which closes it: the client then reads end of file).
    config = ServerConfig(port=0, idle_timeout=8)  # each wait shorter than LineClient's
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    client = await LineClient.open(server.addresses[0][1])
    await client.until("joined #lobby")
    await trio.testing.wait_all_tasks_blocked()
    (connection,) = server._connections
    assert connection._stream is None
    assert connection._socket is None
    assert connection._descriptor in server._readiness._waiting
    start = trio.current_time()
    assert "send any line" in (await client.until("ping"))[-1]
    assert (await client.until("goodbye"))[-1] == "*** goodbye (idle timeout)"
    assert trio.current_time() - start == pytest.approx(8, abs=0.1)
    assert await client.rest() == []
    await eventually(lambda: server.statistics().connections == 0)
    assert not server._readiness._waiting
    await client.aclose()
