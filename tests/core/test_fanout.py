"""The fan-out path: outbox bounds and order, quiet large rooms, and the eager write path."""

from __future__ import annotations

import math
import os
import socket

import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from triochat import (
    SLOW_CONSUMER,
    ChatServer,
    Event,
    Hub,
    Joined,
    Left,
    Member,
    Message,
    NickChanged,
    ServerConfig,
)


def drain(member: Member) -> list[Event]:
    """Every event waiting in *member*'s outbox."""
    events = []
    while True:
        try:
            events.append(member.receive_nowait())
        except trio.WouldBlock:
            return events


async def test_large_room_tells_joins_leaves_and_renames_only_to_the_member() -> None:
    hub = Hub(announce_limit=2)
    room = hub.room()
    first, second = hub.connect("first"), hub.connect("second")
    room.join(first)
    room.join(second)
    assert [type(e) for e in drain(first)] == [Joined, Joined]
    drain(second)
    third = hub.connect("third")
    joined = room.join(third)
    # The third member makes the room larger than the limit: only it hears of its join, with a
    # sequence number outside the room's order, and the room's order has no gap.
    assert drain(first) == drain(second) == []
    assert drain(third) == [joined]
    assert joined.seq == 0
    hub.rename(third, "trois")
    assert drain(first) == []
    assert [(type(e), e.seq) for e in drain(third)] == [(NickChanged, 0)]
    await first.say("hello")
    assert [e.seq for e in drain(first)] == [e.seq for e in drain(second)] == [room.seq] == [3]
    hub.disconnect(third, "quit")
    assert drain(first) == drain(second) == []
    # Back at the limit: announced again.
    hub.disconnect(second, "quit")
    assert [type(e) for e in drain(first)] == [Left]


# ---------------------------------------------------------------------- the doorbell (Member)


async def test_doorbell_rings_once_per_idle_period_and_not_while_events_wait() -> None:
    hub = Hub()
    room = hub.room()
    owner, other = hub.connect("owner"), hub.connect("other")
    room.join(other)
    rings: list[int] = []
    owner.set_doorbell(lambda member: rings.append(member.queued), owner)
    room.join(owner)
    assert rings == [1]  # the first event rings
    await other.say("one")
    await other.say("two")
    assert rings == [1]  # not again until re-armed: the answerer has not taken the events
    assert [type(e) for e in owner.take_all()] == [Joined, Message, Message]
    assert owner.arm_doorbell()
    await other.say("three")
    assert rings == [1, 1]
    assert not owner.arm_doorbell()  # an event waits: take it first
    owner.take_all()
    assert owner.arm_doorbell()


async def test_a_member_without_doorbell_wakes_its_waiting_task() -> None:
    hub = Hub()
    room = hub.room()
    reader, talker = hub.connect("reader"), hub.connect("talker")
    room.join(reader)
    room.join(talker)
    drain(reader)
    got: list[Event] = []

    async def read() -> None:
        got.append(await reader.receive())

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            await talker.say("hi")
    assert [e.text for e in got if isinstance(e, Message)] == ["hi"]


async def test_outbox_bounds_hold_with_a_doorbell_nobody_answers() -> None:
    hub = Hub(outbox_events=4, history_events=0)
    room = hub.room()
    stuck, talker = hub.connect("stuck"), hub.connect("talker")
    stuck.set_doorbell(lambda _: None, None)  # rung, never answered: a socket that never drains
    room.join(stuck)
    room.join(talker)
    for text in "ab":
        await talker.say(text)
    assert stuck.connected  # two joins and two messages: full, not over
    await talker.say("c")
    assert stuck.removed_reason == SLOW_CONSUMER
    assert stuck.queued == 0  # discarded, as a slow consumer's outbox is


# --------------------------------------------------------------- the flusher (over sockets)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every eager write the flusher makes, in order (still written to the socket)."""
    seen: list[bytes] = []
    real = os.write

    def write(fd: int, data: bytes) -> int:
        seen.append(bytes(data))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)  # the module _connection writes with
    return seen


async def test_flusher_writes_everything_published_in_one_round_with_one_send(
    nursery: trio.Nursery, writes: list[bytes]
) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    client = await (await LineClient.open(port)).registered("reader")
    await trio.testing.wait_all_tasks_blocked()
    writes.clear()
    bot = server.hub.connect("bot")
    server.hub.room().join(bot)
    for i in range(50):  # one task step: no await in between
        server.hub.room()._publish(Message, "bot", text=f"line {i}")
    await trio.testing.wait_all_tasks_blocked()
    assert len(writes) == 1  # one send for the join and all 50 lines, in order
    lines = (await client.until("<bot> line 49"))[-51:]
    assert lines[0].endswith("bot joined #lobby")
    assert [line.split("> ")[1] for line in lines[1:]] == [f"line {i}" for i in range(50)]
    assert writes[0].decode().splitlines()[1:] == lines[1:]
    # Idle again: no writer task is kept for it.
    assert all(c._writer is None for c in server._connections)
    await client.aclose()


async def test_what_the_kernel_does_not_take_goes_to_a_writer_in_order(
    nursery: trio.Nursery,
) -> None:
    # A reader with a tiny receive buffer that is slow, not stuck: eager writes fill the socket,
    # a writer task takes over for the rest, and every line arrives once, in order.
    # (No line rate limit here: the paste is the point.)
    config = ServerConfig(port=0, outbox_events=4096, outbox_bytes=1 << 24, message_rate=math.inf)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    slow = await LineClient.open(port)
    assert isinstance(slow.stream, trio.SocketStream)
    slow.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await slow.registered("slow")
    talker = await (await LineClient.open(port)).registered("talker")
    paste = b"".join(b"%04d %s\n" % (i, b"y" * 400) for i in range(500))  # ~200 KB
    await talker.send(paste)
    (connection,) = [c for c in server._connections if c.member and c.member.nick == "slow"]
    await eventually(lambda: connection._writer is not None)
    lines = [line for line in await slow.until("<talker> 0499 ") if "<talker>" in line]
    assert [int(line.split("> ")[1][:4]) for line in lines] == list(range(500))
    # All sent: the writer task is gone again (the talker, which reads nothing, keeps its own).
    await eventually(lambda: connection._writer is None)
    assert server.statistics().connections == 2
    for client in (slow, talker):
        await client.aclose()
