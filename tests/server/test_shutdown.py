"""``ChatServer.shutdown()`` in process: what it waits for, what it delivers, how to cut it
short."""

from __future__ import annotations

import trio
import trio.testing

from tests.conftest import LineClient
from tests.drivers.test_timeouts import StuckStream
from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig

#: Events queued for a client that is not reading when the shutdown starts.
BACKLOG = 20


async def _serve_and_note_the_end(
    server: ChatServer, ended: list[float], *, task_status: trio.TaskStatus[ChatServer]
) -> None:
    await server.serve(task_status=task_status)
    ended.append(trio.current_time())


async def test_shutdown_returns_only_once_serve_has_finished(nursery: trio.Nursery) -> None:
    # ISSUE 11 defect 8: shutdown() cancelled serve and returned while serve was still running.
    ended: list[float] = []
    server = ChatServer(config=ServerConfig(port=0))
    await nursery.start(_serve_and_note_the_end, server, ended)
    clients = [await (await LineClient.open(server.addresses[0][1])).registered() for _ in range(3)]
    with trio.fail_after(5):
        await server.shutdown()
    assert ended, "shutdown() returned while serve() was still running"
    assert server.statistics().connections == 0
    for client in clients:
        assert (await client.rest())[-1] == "*** goodbye (server shutting down)"
        await client.aclose()


async def test_shutdown_of_a_server_not_serving_returns_at_once() -> None:
    server = ChatServer(config=ServerConfig(port=0))
    with trio.fail_after(1):
        await server.shutdown()  # never served: nothing to wait for
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)  # shut down already: serves nothing, ends at once
    assert server.statistics().accepted == 0


async def test_shutdown_after_serve_ended_returns_at_once(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    await server.shutdown()
    with trio.fail_after(1):
        await server.shutdown()


async def test_second_shutdown_call_cuts_the_grace_short(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # ISSUE 11 defect 8 / ISSUE 10 item 10: a second Ctrl-C during the grace must stop at once.
    # One client whose socket never takes anything holds the first shutdown for its whole grace.
    ended: list[float] = []
    server = ChatServer(config=ServerConfig(port=0, shutdown_grace=1000, write_timeout=10_000))
    async with trio.open_nursery() as nursery:
        await nursery.start(_serve_and_note_the_end, server, ended)
        nursery.start_soon(server.handle_stream, StuckStream(), "stuck:1")
        await trio.testing.wait_all_tasks_blocked()
        first_done = trio.Event()

        async def first_shutdown() -> None:
            await server.shutdown()
            first_done.set()

        nursery.start_soon(first_shutdown)
        await trio.sleep(5)  # well into the grace period
        assert not first_done.is_set()
        start = trio.current_time()
        await server.shutdown(grace=0)
        assert ended
        assert ended[0] - start < 5  # not the 995 s of grace that were left
        with trio.fail_after(1):
            await first_done.wait()  # the first call returns too: serve has finished
        nursery.cancel_scope.cancel()  # the stuck stream's own task, which is ours


async def test_shutdown_with_a_shorter_grace(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(port=0, shutdown_grace=1000, write_timeout=10_000))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        nursery.start_soon(server.handle_stream, StuckStream(), "stuck:1")
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await server.shutdown(grace=3)
        assert 3 <= trio.current_time() - start < 5
        nursery.cancel_scope.cancel()


async def test_graceful_shutdown_delivers_a_real_backlog_then_goodbye(
    nursery: trio.Nursery,
) -> None:
    # Mutation survivor: a shutdown that aborted writers instead of flushing them still passed
    # every test, because no client had anything queued when shutdown() was called. Here the
    # client reads nothing (a lockstep stream: the server's send waits until the client reads),
    # so when the shutdown starts its writer is stuck in one send and BACKLOG events wait behind.
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    client_end, server_end = trio.testing.lockstep_stream_pair()
    nursery.start_soon(server.handle_stream, server_end, "slow:1")
    slow = FakeClient(client_end, timeout=10)
    await slow.until("joined #lobby")
    talker = await FakeClient.connect(nursery, server, "talker:1", timeout=10)
    await talker.send(b"".join(b"queued %d\n" % n for n in range(BACKLOG)))
    await talker.until(f"queued {BACKLOG - 1}")  # everything was published to both members
    await trio.testing.wait_all_tasks_blocked()
    slow_member = server.hub.member("guest-1")
    assert slow_member is not None
    assert slow_member.statistics().queued_events >= BACKLOG - 1  # really queued, not sent
    shutdown_done = trio.Event()

    async def shut_down() -> None:
        await server.shutdown()
        shutdown_done.set()

    nursery.start_soon(shut_down)
    rest = await slow.rest()  # the client starts reading only now
    said = [line.split("> ", 1)[1] for line in rest if "<guest-2> " in line]
    assert said == [f"queued {n}" for n in range(BACKLOG)]
    assert rest[-1] == "*** goodbye (server shutting down)"
    with trio.fail_after(5):
        await shutdown_done.wait()
