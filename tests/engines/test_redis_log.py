"""The Redis engine's room log: one order per room for several processes (here several hubs,
each with its own engine and connection, in one trio run), history, state, outages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import coredis
import pytest
import trio
import trio.testing

from tests.conftest import eventually
from tests.engines.conftest import RedisServer
from triochat import (
    ChatError,
    ErrorCode,
    Event,
    Hub,
    Joined,
    Kicked,
    Member,
    Message,
    NickInUse,
    Notice,
    Private,
)
from triochat.engines._redis import RedisEngine
from triochat.protocols.text._phrases import ERRORS

WAIT = 10.0


async def _engines(nursery: trio.Nursery, url: str, count: int) -> list[RedisEngine]:
    return [await nursery.start(RedisEngine(url).serve) for _ in range(count)]


def _hub(engine: RedisEngine) -> Hub:
    return engine.attach(Hub())


async def _until(member: Member, last: Callable[[Event], bool]) -> list[Event]:
    """The events *member* receives up to and including the first for which *last* is true."""
    events: list[Event] = []
    with trio.fail_after(WAIT):
        while not events or not last(events[-1]):
            events.append(await member.receive())
    return events


def _joined(nick: str) -> Callable[[Event], bool]:
    return lambda event: isinstance(event, Joined) and event.sender == nick


async def _messages(member: Member, count: int) -> list[Message]:
    """The next *count* messages *member* receives (other events skipped)."""
    messages: list[Message] = []
    with trio.fail_after(WAIT):
        while len(messages) < count:
            event = await member.receive()
            if isinstance(event, Message):
                messages.append(event)
    return messages


async def test_three_hubs_see_one_order(redis_server: RedisServer) -> None:
    async with trio.open_nursery() as nursery:
        engines = await _engines(nursery, redis_server.url, 3)
        hubs = [_hub(engine) for engine in engines]
        members = [hub.connect(f"user{i}") for i, hub in enumerate(hubs)]
        for member, hub in zip(members, hubs, strict=True):
            hub.join(member, "#shared")
        # Its own Joined comes back to each once its hub has the room loaded.
        for member in members:
            await _until(member, _joined(member.nick))
        for round_ in range(5):
            for member in members:
                await member.say(f"{member.nick} {round_}", "#shared")
        seen = []
        for member in members:
            messages = await _messages(member, 15)
            seen.append([(e.room, e.seq, e.sender, e.text) for e in messages])
        assert seen[0] == seen[1] == seen[2]
        seqs = [seq for _, seq, _, _ in seen[0]]
        assert seqs == list(range(seqs[0], seqs[0] + 15))
        nursery.cancel_scope.cancel()


async def _notice(member: Member, needle: str) -> None:
    """Skip to the first notice whose text has *needle* (the outage notice itself says
    "until it is back": wait for "store is back", not "is back")."""
    with trio.fail_after(WAIT):
        while True:
            event = await member.receive()
            if isinstance(event, Notice) and needle in event.text:
                return


# coredis (6.9) leaves the anyio memory streams of a connection that Redis dropped unclosed: a
# ResourceWarning when they are collected, not a leak of ours (the sockets are closed).
_COREDIS_DROPPED_CONNECTION = pytest.mark.filterwarnings(
    "ignore:Unclosed <MemoryObject:ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)


@_COREDIS_DROPPED_CONNECTION
async def test_redis_restarted_mid_chat(redis_server: RedisServer) -> None:
    async with trio.open_nursery() as nursery:
        engines = await _engines(nursery, redis_server.url, 2)
        hubs = [_hub(engine) for engine in engines]
        alice, bob = hubs[0].connect("alice"), hubs[1].connect("bob")
        hubs[0].join(alice, "#shared")
        await _until(alice, _joined("alice"))
        hubs[1].join(bob, "#shared")
        await _until(bob, _joined("bob"))
        await alice.say("before", "#shared")
        before = await _messages(bob, 1)
        redis_server.kill()
        await _notice(alice, "unreachable")
        await _notice(bob, "unreachable")
        with pytest.raises(ChatError) as refused:
            await alice.say("during", "#shared")
        assert refused.value.code is ErrorCode.STORE_UNAVAILABLE
        redis_server.start()  # the same port, no data: the room starts a new epoch
        await _notice(alice, "store is back")
        await alice.say("after", "#shared")
        after = await _messages(bob, 1)
        assert [m.text for m in before + after] == ["before", "after"]
        assert after[0].seq == 1  # a new epoch: Redis lost the order, and said so
        assert bob.hub.find_room("#shared") is not None
        nursery.cancel_scope.cancel()


async def test_presence_nicks_and_private_messages_across_processes(
    redis_server: RedisServer,
) -> None:
    async with trio.open_nursery() as nursery:
        engines = await _engines(nursery, redis_server.url, 2)
        hubs = [engine.attach(Hub()) for engine in engines]
        alice = hubs[0].connect("alice")
        hubs[0].join(alice, "#shared")
        await _until(alice, _joined("alice"))
        # The other process hears of alice's nick through the stream.
        await eventually(lambda: engines[1].directory.holder("alice") is not None)
        with pytest.raises(NickInUse):
            hubs[1].connect("ALICE")
        with pytest.raises(NickInUse):
            hubs[1].connect("aIice")  # a look-alike
        bob = hubs[1].connect("bob")
        hubs[1].join(bob, "#shared")
        await _until(bob, _joined("bob"))
        await _until(alice, _joined("bob"))
        room_a, room_b = hubs[0].find_room("#shared"), hubs[1].find_room("#shared")
        assert room_a is not None
        assert room_b is not None
        assert sorted(room_a.nicks) == sorted(room_b.nicks) == ["alice", "bob"]
        # A private message to a member of the other process; its echo here.
        hubs[1].send_private(bob, "Alice", "psst")
        echo = await bob.receive()
        assert isinstance(echo, Private)
        assert echo.target == "alice"
        with trio.fail_after(WAIT):
            got = await alice.receive()
        assert isinstance(got, Private)
        assert (got.sender, got.text) == ("bob", "psst")
        # An operator on one process kicks a member held by the other.
        assert room_a.is_operator(alice)
        room_a.kick(alice, "bob", "out")
        kicked = await _until(bob, lambda e: isinstance(e, Kicked))
        assert kicked[-1].seq > 0
        assert bob not in room_b
        assert "#shared" not in bob.rooms
        await eventually(lambda: "bob" not in room_a.nicks)
        # bob leaves the server: his nick is free on the other process.
        hubs[1].disconnect(bob, "bye")
        await eventually(lambda: engines[0].directory.holder("bob") is None)
        hubs[0].connect("bob")
        nursery.cancel_scope.cancel()


def test_the_refusal_while_the_room_store_is_down_is_worded_for_rooms() -> None:
    error = ChatError("", code=ErrorCode.STORE_UNAVAILABLE, store="rooms")
    worded = ERRORS[error.code](error.params)
    assert worded is not None
    assert "room store is unreachable" in worded


async def test_the_nicks_of_a_crashed_process_free_themselves(redis_server: RedisServer) -> None:
    # Short presence keys, so that the test waits about a second, not half a minute.
    def engine() -> RedisEngine:
        return RedisEngine(redis_server.url, presence_seconds=0.5, heartbeat=0.1)

    async with trio.open_nursery() as nursery:
        survivor = await nursery.start(engine().serve)
        hub = survivor.attach(Hub())
        async with trio.open_nursery() as doomed_nursery:
            doomed = await doomed_nursery.start(engine().serve)
            doomed.attach(Hub()).connect("carol")
            await eventually(lambda: survivor.directory.holder("carol") is not None)
            with pytest.raises(NickInUse):
                hub.connect("carol")
            doomed_nursery.cancel_scope.cancel()  # no goodbye: its keys stay until they expire
        await eventually(lambda: survivor.directory.holder("carol") is None)
        assert hub.connect("carol").nick == "carol"
        nursery.cancel_scope.cancel()


@_COREDIS_DROPPED_CONNECTION
async def test_after_a_restart_that_kept_the_data_the_order_resumes_where_it_was(
    tmp_path: Path,
) -> None:
    redis_server = RedisServer(tmp_path, persistent=True)
    redis_server.start()
    try:
        async with trio.open_nursery() as nursery:
            engines = await _engines(nursery, redis_server.url, 2)
            hubs = [engine.attach(Hub()) for engine in engines]
            alice, bob = hubs[0].connect("alice"), hubs[1].connect("bob")
            hubs[0].join(alice, "#shared")
            await _until(alice, _joined("alice"))
            hubs[1].join(bob, "#shared")
            await _until(alice, _joined("bob"))
            for number in range(5):
                await bob.say(f"line {number}", "#shared")
            before = await _messages(alice, 5)
            epoch = hubs[0].room("#shared").log.epoch
            redis_server.kill()
            await _notice(alice, "unreachable")
            redis_server.start()  # the same port and data (append-only file)
            await _notice(alice, "store is back")
            await _notice(bob, "store is back")
            for number in range(5, 10):
                await bob.say(f"line {number}", "#shared")
            after = await _messages(alice, 5)
            heard = before + after
            assert [m.text for m in heard] == [f"line {n}" for n in range(10)]
            assert [m.seq for m in heard] == list(range(heard[0].seq, heard[0].seq + 10))
            assert hubs[0].room("#shared").log.epoch == epoch
            nursery.cancel_scope.cancel()
    finally:
        redis_server.kill()


async def test_a_malformed_entry_in_the_stream_is_skipped(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        (engine,) = await _engines(nursery, redis_server.url, 1)
        hub = engine.attach(Hub())
        alice = hub.connect("alice")
        hub.join(alice, "#shared")
        await _until(alice, _joined("alice"))
        admin = coredis.Redis.from_url(redis_server.url, decode_responses=True)
        async with admin:  # another writer of the stream, with a bug
            await admin.xadd(engine.all_key, {"t": "e", "room": "#shared", "kind": "Message"})
        await alice.say("still here", "#shared")
        (heard,) = await _messages(alice, 1)
        assert heard.text == "still here"
        assert "a malformed entry" in caplog.text
        nursery.cancel_scope.cancel()


async def test_the_first_member_of_a_room_on_a_process_gets_its_history(
    redis_server: RedisServer,
) -> None:
    async with trio.open_nursery() as nursery:
        engines = await _engines(nursery, redis_server.url, 2)
        hubs = [engine.attach(Hub()) for engine in engines]
        alice = hubs[0].connect("alice")
        hubs[0].join(alice, "#shared")
        for number in range(3):
            await alice.say(f"line {number}", "#shared")
        await _messages(alice, 3)
        bob = hubs[1].connect("bob")
        hubs[1].join(bob, "#shared")  # the room opens on bob's process now: history comes
        events = await _until(bob, _joined("bob"))
        history = [e for e in events if e.history]
        assert [e.text for e in history if isinstance(e, Message)] == [
            f"line {n}" for n in range(3)
        ]
        assert events[: len(history)] == history  # first, then his own Joined
        nursery.cancel_scope.cancel()
