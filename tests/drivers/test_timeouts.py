"""Timeouts and shutdown over trio.testing streams, on a virtual clock (autojump_clock).

No test here sleeps for real: the clock jumps ahead whenever every task is blocked, so a
300-second idle timeout takes microseconds and the times asserted are exact.
"""

from __future__ import annotations

import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig


class StuckStream(trio.abc.Stream):
    """A peer whose TCP window never opens: every send waits forever, nothing arrives."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.sleep_forever()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.sleep_forever()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def _connect(nursery: trio.Nursery, server: ChatServer, peer: str = "fake:1") -> FakeClient:
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.handle_stream, server_end, peer)
    client = FakeClient(client_end, timeout=10_000)
    await client.until("joined #lobby")
    return client


async def test_idle_client_is_pinged_at_half_then_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=300))
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        client = await _connect(nursery, server)
        ping = await client.until("ping")
        assert trio.current_time() - start == 150
        assert "send any line" in ping
        goodbye = await client.until("goodbye")
        assert trio.current_time() - start == 300
        assert goodbye == "*** goodbye (idle timeout)"
        assert await client.line() is None  # and the server closed the connection
    assert server.hub.statistics().members == 0


async def test_any_line_resets_the_idle_timer(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=10))
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        client = await _connect(nursery, server)
        await client.until("ping")  # at 5 s
        await client.send("still here")  # answering the ping resets the timer
        await client.until("<guest-1> still here")
        await client.until("ping")  # 5 s after the answer, not at 10 s
        assert trio.current_time() - start == 10
        assert await client.until("goodbye") == "*** goodbye (idle timeout)"
        assert trio.current_time() - start == 15


async def test_idle_timeout_is_announced_to_the_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=60))
    async with trio.open_nursery() as nursery:
        sleeper = await _connect(nursery, server, "fake:1")
        awake = await _connect(nursery, server, "fake:2")
        # "awake" talks every 20 s; "sleeper" says nothing and is dropped at 60 s.
        for n in range(3):
            await trio.sleep(20)
            await awake.send(f"tick {n}")
        left = await awake.until("left #lobby")
        assert left.endswith("guest-1 left #lobby (idle timeout)")
        assert await sleeper.until("goodbye") == "*** goodbye (idle timeout)"
        nursery.cancel_scope.cancel()


async def test_socket_that_accepts_nothing_is_closed_after_write_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(write_timeout=30, idle_timeout=1000))
    start = trio.current_time()
    with trio.fail_after(60):
        await server.handle_stream(StuckStream(), "stuck:1")  # returns once it gave up
    assert trio.current_time() - start == 30
    assert server.statistics().connections == 0
    assert server.hub.statistics().members == 0


async def test_graceful_shutdown_is_bounded_by_the_grace_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # One client never reads (lockstep), one is healthy: shutdown waits at most the grace period
    # for the stuck one, and the healthy one still gets its goodbye.
    server = ChatServer(config=ServerConfig(port=0, shutdown_grace=2, write_timeout=100))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        healthy = await _connect(nursery, server, "ok:1")
        nursery.start_soon(server.handle_stream, StuckStream(), "stuck:2")
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await server.shutdown()
        assert trio.current_time() - start <= 2
        assert await healthy.until("goodbye") == "*** goodbye (server shutting down)"
    assert server.statistics().connections == 0
