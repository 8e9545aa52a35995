"""Tests of the core without a network: the hub, its rooms, and members' bounded outboxes."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.lowlevel
import trio.testing

from triochat import (
    DEFAULT_ROOM,
    SLOW_CONSUMER,
    Action,
    ChatError,
    Event,
    Hub,
    InvalidNick,
    Joined,
    Left,
    Member,
    Message,
    NickChanged,
    NickInUse,
    Notice,
    NotInRoom,
)
from triochat.core._events import utc_now
from triochat.core._hub import MAX_NICK_LENGTH, validate_nick

#: Upper bound for any wait in these tests; nothing here should take more than a moment.
WAIT = 10.0


def drain(member: Member) -> list[Event]:
    """Every event queued for *member* right now, without waiting."""
    events: list[Event] = []
    while True:
        try:
            events.append(member.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events


def texts(events: list[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, Message)]


# ------------------------------------------------------------------------------------ nicks


def test_guest_nicks_count_up() -> None:
    hub = Hub()
    assert [hub.connect().nick for _ in range(3)] == ["guest-1", "guest-2", "guest-3"]


def test_guest_nick_skips_a_taken_name() -> None:
    hub = Hub()
    hub.connect("guest-2")
    hub.connect("GUEST-3")  # taken in another case counts as taken
    assert hub.connect().nick == "guest-1"
    assert hub.connect().nick == "guest-4"
    assert len({member.nick.casefold() for member in hub.members}) == 4


def test_guest_prefix_is_used() -> None:
    hub = Hub(guest_prefix="anon")
    assert hub.connect().nick == "anon-1"


@pytest.mark.parametrize(
    "nick", ["alice", "_x", "Zoë", "名前", "a1", "a-b[c]{d}|^`_", "x" * MAX_NICK_LENGTH]
)
def test_valid_nicks(nick: str) -> None:
    assert validate_nick(nick) == nick
    assert Hub().connect(nick).nick == nick


@pytest.mark.parametrize(
    "nick",
    ["", "1abc", "-a", "[a]", "a b", "a!b", "a.b", "a\n", "a\x1b", "x" * (MAX_NICK_LENGTH + 1)],
)
def test_invalid_nicks_are_refused_and_not_registered(nick: str) -> None:
    with pytest.raises(InvalidNick):
        validate_nick(nick)
    hub = Hub()
    with pytest.raises(InvalidNick):
        hub.connect(nick)
    assert hub.members == []
    assert issubclass(InvalidNick, ChatError)


def test_nicks_are_unique_ignoring_case() -> None:
    hub = Hub()
    alice = hub.connect("Alice")
    for other in ("Alice", "alice", "ALICE"):
        with pytest.raises(NickInUse):
            hub.connect(other)
    assert hub.member("aLiCe") is alice
    assert hub.members == [alice]
    bob = hub.connect("bob")
    with pytest.raises(NickInUse):
        hub.rename(bob, "ALICE")
    assert bob.nick == "bob"
    assert hub.member("bob") is bob
    assert issubclass(NickInUse, ChatError)


def test_rename_announces_in_every_room_and_frees_the_old_nick() -> None:
    hub = Hub()
    alice, bob, carol = hub.connect("alice"), hub.connect("bob"), hub.connect("carol")
    lobby, dev, other = hub.room(), hub.room("dev"), hub.room("other")
    lobby.join(alice)
    lobby.join(bob)
    dev.join(alice)
    dev.join(carol)
    other.join(bob)  # a room alice is not in hears nothing
    for member in (alice, bob, carol):
        drain(member)

    hub.rename(alice, "alicia")

    assert alice.nick == "alicia"
    assert hub.member("alicia") is alice
    assert hub.member("alice") is None
    seen_by_alice = drain(alice)
    assert [(e.room, e.sender, e.new) for e in seen_by_alice if isinstance(e, NickChanged)] == [
        (DEFAULT_ROOM, "alice", "alicia"),
        ("#dev", "alice", "alicia"),
    ]
    assert len(seen_by_alice) == 2
    (to_bob,) = drain(bob)
    assert isinstance(to_bob, NickChanged)
    assert (to_bob.room, to_bob.sender, to_bob.new) == (DEFAULT_ROOM, "alice", "alicia")
    (to_carol,) = drain(carol)
    assert isinstance(to_carol, NickChanged)
    assert to_carol.room == "#dev"
    assert other.seq == 1  # only bob's join
    # The old nick is free for someone else.
    assert hub.connect("alice").nick == "alice"


def test_rename_to_own_nick_in_another_case_is_allowed() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    lobby = hub.room()
    lobby.join(alice)
    drain(alice)
    hub.rename(alice, "ALICE")
    assert alice.nick == "ALICE"
    assert hub.member("alice") is alice
    assert len(hub.members) == 1
    (event,) = drain(alice)
    assert isinstance(event, NickChanged)
    assert (event.sender, event.new) == ("alice", "ALICE")
    # Renaming to exactly the same nick changes nothing and announces nothing.
    seq = lobby.seq
    hub.rename(alice, "ALICE")
    assert lobby.seq == seq
    assert drain(alice) == []


def test_rename_to_an_invalid_nick_changes_nothing() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    hub.room().join(alice)
    drain(alice)
    with pytest.raises(InvalidNick):
        hub.rename(alice, "9lives")
    assert alice.nick == "alice"
    assert hub.member("alice") is alice
    assert drain(alice) == []


def test_renaming_a_departed_member_is_refused_and_touches_no_one_else() -> None:
    hub = Hub()
    old = hub.connect("alice")
    hub.disconnect(old, "quit")
    with pytest.raises(ChatError):
        hub.rename(old, "zed")
    # Its nick now belongs to someone else: renaming the departed one must not steal it.
    new = hub.connect("alice")
    with pytest.raises(ChatError):
        hub.rename(old, "zed")
    assert hub.member("alice") is new
    assert hub.member("zed") is None
    assert old.nick == "alice"
    assert hub.members == [new]


# ------------------------------------------------------------------------------- disconnect


def test_disconnect_announces_to_the_others_and_frees_the_nick() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    drain(bob)
    reasons: list[str] = []
    alice.add_removal_callback(reasons.append)

    hub.disconnect(alice, "quit: bye")

    assert not alice.connected
    assert alice.removed_reason == "quit: bye"
    assert reasons == ["quit: bye"]
    assert alice not in lobby
    assert alice.rooms == {}
    assert alice.current_room is None
    assert hub.member("alice") is None
    (left,) = drain(bob)
    assert isinstance(left, Left)
    assert (left.room, left.sender, left.reason) == (DEFAULT_ROOM, "alice", "quit: bye")
    # The leaver can still read what was queued before (not a slow consumer), but not its Left.
    mine = drain(alice)
    assert [type(e) for e in mine] == [Joined, Joined]
    with pytest.raises(trio.EndOfChannel):
        alice.receive_nowait()
    assert hub.connect("ALICE").nick == "ALICE"


def test_disconnect_is_idempotent() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    reasons: list[str] = []
    alice.add_removal_callback(reasons.append)
    hub.disconnect(alice, "first")
    seq = lobby.seq
    replacement = hub.connect("alice")
    hub.disconnect(alice, "second")
    assert alice.removed_reason == "first"
    assert reasons == ["first"]
    assert lobby.seq == seq
    assert hub.member("alice") is replacement  # the second call did not touch the new owner
    assert [e.reason for e in drain(bob) if isinstance(e, Left)] == ["first"]


def test_disconnect_without_announce_is_silent() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    drain(bob)
    hub.disconnect(alice, "gone", announce=False)
    assert alice not in lobby
    assert drain(bob) == []


def test_disconnect_removes_empty_rooms_except_the_default() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby, dev, shared = hub.room(), hub.room("dev"), hub.room("shared")
    for room in (lobby, dev, shared):
        room.join(alice)
    shared.join(bob)
    assert {room.name for room in hub.rooms} == {DEFAULT_ROOM, "#dev", "#shared"}
    hub.disconnect(alice, "quit")
    assert {room.name for room in hub.rooms} == {DEFAULT_ROOM, "#shared"}
    assert hub.room() is lobby
    assert len(lobby) == 0
    assert hub.room("shared") is shared
    assert hub.room("dev") is not dev  # a fresh room, with a fresh sequence
    assert hub.room("dev").seq == 0


def test_member_as_context_manager_disconnects_on_exit() -> None:
    hub = Hub()
    bob = hub.connect("bob")
    lobby = hub.room()
    lobby.join(bob)
    with hub.connect("alice") as alice:
        lobby.join(alice)
        assert hub.member("alice") is alice
    assert alice.removed_reason == "left"
    assert alice not in lobby
    assert hub.member("alice") is None
    assert [(e.sender, e.reason) for e in drain(bob) if isinstance(e, Left)] == [("alice", "left")]

    carol = hub.connect("carol")

    def fail_inside() -> None:
        with carol:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert carol.removed_reason == "left"
    assert hub.member("carol") is None

    # Already disconnected inside the block: the exit keeps the first reason.
    with hub.connect("dave") as dave:
        hub.disconnect(dave, "kicked")
    assert dave.removed_reason == "kicked"


# ------------------------------------------------------------------------------------- rooms


def test_join_stamps_joined_and_everyone_present_sees_it() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    before = utc_now()
    first = lobby.join(alice)
    second = lobby.join(bob)
    after = utc_now()
    assert isinstance(first, Joined)
    assert (first.room, first.seq, first.sender) == (DEFAULT_ROOM, 1, "alice")
    assert (second.room, second.seq, second.sender) == (DEFAULT_ROOM, 2, "bob")
    assert before <= first.time <= second.time <= after
    assert drain(alice) == [first, second]
    got = drain(bob)
    assert got == [second]  # bob does not see what happened before he came
    assert got[0] is second
    assert alice.current_room is lobby
    assert lobby.members == [alice, bob]
    assert lobby.nicks == ["alice", "bob"]


def test_join_twice_or_when_disconnected_is_refused() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    lobby = hub.room()
    lobby.join(alice)
    with pytest.raises(ValueError, match="already"):
        lobby.join(alice)
    assert lobby.seq == 1
    hub.disconnect(alice, "quit")
    with pytest.raises(ValueError, match="not connected"):
        lobby.join(alice)
    with pytest.raises(ValueError, match="not connected"):
        lobby.join(Hub().connect("stranger"))
    assert len(lobby) == 0


async def test_sequence_numbers_are_consecutive_from_one() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    await alice.say("hello")
    await bob.act("waves")
    hub.rename(bob, "robert")
    await bob.say("hi")
    hub.disconnect(bob, "quit")
    events = drain(alice)
    assert [type(e) for e in events] == [
        Joined,
        Joined,
        Message,
        Action,
        NickChanged,
        Message,
        Left,
    ]
    assert [e.seq for e in events] == list(range(1, 8))
    assert lobby.seq == 7
    assert all(e.room == DEFAULT_ROOM for e in events)


async def test_event_time_is_aware_utc_and_stamped_now() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    lobby = hub.room()
    lobby.join(alice)
    before = dt.datetime.now(dt.UTC)
    await alice.say("what time is it")
    after = dt.datetime.now(dt.UTC)
    events = drain(alice)
    for event in events:
        assert event.time.tzinfo is not None
        assert event.time.utcoffset() == dt.timedelta(0)
    assert before <= events[-1].time <= after


async def test_sender_is_the_members_nick_at_the_time() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    drain(bob)
    await alice.say("one")
    hub.rename(alice, "alicia")
    await alice.say("two")
    await alice.act("bows")
    said = [(type(e).__name__, e.sender) for e in drain(bob)]
    assert said == [
        ("Message", "alice"),
        ("NickChanged", "alice"),
        ("Message", "alicia"),
        ("Action", "alicia"),
    ]


async def test_every_member_sees_the_same_events_in_the_same_order() -> None:
    hub = Hub()
    members = [hub.connect(f"user{i}") for i in range(4)]
    lobby = hub.room()
    for member in members:
        lobby.join(member)
    per_sender = 50

    async def chatter(member: Member) -> None:
        for n in range(per_sender):
            await member.say(f"{member.nick}:{n}")
            # Interleave with the other senders in varying patterns.
            for _ in range(n % 3):
                await trio.lowlevel.checkpoint()

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            for member in members:
                nursery.start_soon(chatter, member)
        await trio.testing.wait_all_tasks_blocked()

    # Everyone has the full room history from the last join onwards.
    streams = [[e for e in drain(m) if e.seq >= len(members)] for m in members]
    reference = streams[0]
    assert len(reference) == 1 + len(members) * per_sender
    assert [e.seq for e in reference] == list(range(len(members), lobby.seq + 1))
    for stream in streams[1:]:
        assert len(stream) == len(reference)
        assert all(mine is theirs for mine, theirs in zip(stream, reference, strict=True))
    # Each sender's lines appear in the order it said them, and they did interleave.
    said = texts(reference)
    for member in members:
        own = [t for t in said if t.startswith(f"{member.nick}:")]
        assert own == [f"{member.nick}:{n}" for n in range(per_sender)]
    assert said != sorted(said, key=lambda t: t.split(":")[0])


async def test_say_when_not_in_a_room_raises_not_in_room() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    with pytest.raises(NotInRoom):
        await alice.say("anyone?")
    with pytest.raises(NotInRoom):
        await alice.act("looks around")
    lobby = hub.room()
    lobby.join(alice)
    lobby.part(alice)
    with pytest.raises(NotInRoom):
        await alice.say("still here?")
    assert lobby.seq == 2  # the join and the part; nothing was said


async def test_say_to_a_room_the_member_is_not_in_raises_not_in_room() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.room().join(alice)
    dev = hub.room("dev")
    dev.join(bob)
    drain(bob)
    with pytest.raises(NotInRoom):
        await alice.say("let me in", room=dev)
    with pytest.raises(NotInRoom):
        await alice.act("knocks", room=dev)
    assert dev.seq == 1
    assert drain(bob) == []
    assert issubclass(NotInRoom, ChatError)


async def test_say_after_disconnect_raises_not_in_room() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    hub.room().join(alice)
    hub.disconnect(alice, "quit")
    with pytest.raises(NotInRoom):
        await alice.say("hello?")


async def test_say_goes_to_the_current_room_or_the_named_one() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    lobby, dev = hub.room(), hub.room("dev")
    lobby.join(alice)
    dev.join(alice)
    drain(alice)
    await alice.say("to dev")
    await alice.say("to lobby", room=lobby)
    lobby.part(alice)  # current room falls back to the one joined before
    dev.part(alice)
    assert alice.current_room is None
    assert [(e.room, e.text) for e in drain(alice) if isinstance(e, Message)] == [
        ("#dev", "to dev"),
        (DEFAULT_ROOM, "to lobby"),
    ]


# ------------------------------------------------------------------------------ backpressure


async def test_member_that_never_reads_is_disconnected_when_its_outbox_overflows() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    slow = hub.connect("slow", max_events=8)
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    lobby.join(slow)  # slow's outbox now holds 1 event: its own Joined
    drain(alice)
    drain(bob)
    with trio.fail_after(WAIT):
        for n in range(20):
            await alice.say(f"m{n}")
            if n < 6:
                assert slow.connected
                assert slow.queued == n + 2

    assert not slow.connected
    assert slow.removed_reason == SLOW_CONSUMER
    assert slow not in lobby
    assert hub.member("slow") is None
    # Its queued events were discarded: iterating ends at once.
    with trio.fail_after(WAIT):
        assert [event async for event in slow] == []
    assert slow.queued == 0
    assert slow.queued_bytes == 0
    # The others got everything, and heard why slow left right after the line that overflowed.
    for member in (alice, bob):
        assert member.connected
        events = drain(member)
        assert texts(events) == [f"m{n}" for n in range(20)]
        lefts = [i for i, e in enumerate(events) if isinstance(e, Left)]
        assert len(lefts) == 1
        left = events[lefts[0]]
        assert isinstance(left, Left)
        assert (left.sender, left.reason) == ("slow", SLOW_CONSUMER)
        # 8 slots: Joined + m0..m6 fit; m7 overflowed.
        assert texts(events[: lefts[0]]) == [f"m{n}" for n in range(8)]


async def test_byte_bound_disconnects_a_slow_member() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    slow = hub.connect("slow", max_events=1000, max_bytes=400)
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    lobby.join(slow)
    long_text = "x" * 100
    with trio.fail_after(WAIT):
        await alice.say(long_text)
        await alice.say(long_text)
        assert slow.connected
        assert slow.queued == 3  # far below the event bound
        assert slow.queued_bytes <= 400
        for _ in range(8):
            await alice.say(long_text)
    assert slow.removed_reason == SLOW_CONSUMER
    assert slow.queued_bytes == 0
    with pytest.raises(trio.EndOfChannel):
        slow.receive_nowait()
    for member in (alice, bob):
        assert member.connected
        events = drain(member)
        assert texts(events) == [long_text] * 10
        assert [e.sender for e in events if isinstance(e, Left)] == ["slow"]


async def test_publishing_never_blocks_on_a_slow_member(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    alice = hub.connect("alice")
    slow = hub.connect("slow", max_events=8)
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(slow)
    start = trio.current_time()
    # With the autojump clock, any wait would make the clock jump to the deadline and fail.
    with trio.fail_after(WAIT):
        for n in range(50):
            await alice.say(f"m{n}")
            await alice.act(f"a{n}")
            drain(alice)
    assert trio.current_time() == start
    assert slow.removed_reason == SLOW_CONSUMER
    assert alice.connected


async def test_overflow_on_notify_disconnects_the_member() -> None:
    hub = Hub()
    alice = hub.connect("alice", max_events=2)
    alice.notify("one")
    alice.notify("two", error=True)
    assert alice.connected
    alice.notify("three")
    assert alice.removed_reason == SLOW_CONSUMER
    assert drain(alice) == []


async def _read_all(member: Member, expected: int, into: list[str]) -> None:
    async for event in member:
        if isinstance(event, Message):
            into.append(event.text)
            if len(into) == expected:
                return


async def test_burst_with_reading_consumers_disconnects_nobody() -> None:
    hub = Hub()
    members = [hub.connect(nick, max_events=16) for nick in ("alice", "bob", "carol")]
    lobby = hub.room()
    for member in members:
        lobby.join(member)
    alice = members[0]
    count = 2000
    received: dict[str, list[str]] = {m.nick: [] for m in members}
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            for member in members:
                nursery.start_soon(_read_all, member, count, received[member.nick])
            await trio.testing.wait_all_tasks_blocked()
            for n in range(count):
                await alice.say(f"line {n}")
                assert all(m.queued <= m.max_events for m in members)
    expected = [f"line {n}" for n in range(count)]
    for member in members:
        assert member.connected, member.removed_reason
        assert received[member.nick] == expected
    assert len(lobby) == 3


async def test_same_burst_disconnects_only_the_member_that_never_reads() -> None:
    hub = Hub()
    members = [hub.connect(nick, max_events=16) for nick in ("alice", "bob", "carol")]
    lobby = hub.room()
    for member in members:
        lobby.join(member)
    alice, bob, carol = members
    count = 2000
    received: dict[str, list[str]] = {"alice": [], "bob": []}
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            for member in (alice, bob):  # nobody reads carol's outbox
                nursery.start_soon(_read_all, member, count, received[member.nick])
            await trio.testing.wait_all_tasks_blocked()
            for n in range(count):
                await alice.say(f"line {n}")
    assert carol.removed_reason == SLOW_CONSUMER
    assert alice.connected
    assert bob.connected
    assert lobby.members == [alice, bob]
    expected = [f"line {n}" for n in range(count)]
    assert received == {"alice": expected, "bob": expected}


async def test_member_whose_outbox_was_closed_can_still_be_disconnected_normally() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    bob.close_outbox()
    hub.disconnect(bob, "quit")
    assert not bob.connected
    assert bob not in lobby


async def test_delivering_to_a_closed_outbox_does_not_raise_into_the_publisher() -> None:
    hub = Hub()
    alice, bob, carol = hub.connect("alice"), hub.connect("bob"), hub.connect("carol")
    lobby = hub.room()
    for member in (alice, bob, carol):
        lobby.join(member)
    drain(alice)
    bob.close_outbox()
    await alice.say("is bob there?")
    assert not bob.connected
    assert bob not in lobby
    assert hub.member("bob") is None
    await alice.say("apparently not")
    assert texts(drain(alice)) == ["is bob there?", "apparently not"]
    assert [e.sender for e in drain(carol) if isinstance(e, Left)] == ["bob"]


# -------------------------------------------------------------------------------- receiving


async def test_receive_waits_for_an_event_and_ends_after_disconnect() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    drain(bob)
    got: list[Event] = []

    async def reader() -> None:
        async for event in bob:
            got.append(event)

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await alice.say("wake up")
            await trio.testing.wait_all_tasks_blocked()
            assert texts(got) == ["wake up"]
            hub.disconnect(bob, "quit")  # ends the reader's loop
    assert texts(got) == ["wake up"]


async def test_receive_batch_takes_everything_queued() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    hub.room().join(alice)
    for n in range(5):
        await alice.say(f"m{n}")
    with trio.fail_after(WAIT):
        assert len(await alice.receive_batch(limit=2)) == 2
        batch = await alice.receive_batch()
    assert texts(batch) == ["m1", "m2", "m3", "m4"]
    assert alice.queued == 0
    assert alice.queued_bytes == 0


# ------------------------------------------------------------------------------- statistics


async def test_statistics() -> None:
    hub = Hub(outbox_events=50, outbox_bytes=5000, history_events=10)
    assert (hub.statistics().members, hub.statistics().rooms) == (0, 0)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    lobby = hub.room()
    lobby.join(alice)
    lobby.join(bob)
    hub.room("dev").join(alice)
    stats = hub.statistics()
    assert (stats.members, stats.rooms) == (2, 2)

    await alice.say("hello", room=lobby)  # size 64 + 5
    room_stats = lobby.statistics()
    assert (room_stats.name, room_stats.members, room_stats.published) == (DEFAULT_ROOM, 2, 3)
    # Only the conversation is kept as history, not the joins; its bytes are what memory holds
    # for it (the event, its stamp and text; nothing rendered yet).
    (kept,) = lobby.recent()
    assert (room_stats.history_events, room_stats.history_bytes) == (1, kept._footprint())
    assert hub.statistics().history_bytes == kept._footprint()

    bob_stats = bob.statistics()
    assert bob_stats.queued_events == 2  # his Joined and the message
    assert bob_stats.queued_bytes == 64 + 64 + 5
    assert (bob_stats.max_events, bob_stats.max_bytes) == (50, 5000)
    assert bob_stats.delivered == 0

    bob.receive_nowait()
    bob_stats = bob.statistics()
    assert (bob_stats.queued_events, bob_stats.queued_bytes, bob_stats.delivered) == (1, 69, 1)
    with trio.fail_after(WAIT):
        await bob.receive()
    bob_stats = bob.statistics()
    assert (bob_stats.queued_events, bob_stats.queued_bytes, bob_stats.delivered) == (0, 0, 2)

    custom = hub.connect("carol", max_events=3, max_bytes=300)
    assert (custom.statistics().max_events, custom.statistics().max_bytes) == (3, 300)
    hub.disconnect(alice, "quit")
    stats = hub.statistics()
    assert (stats.members, stats.rooms) == (2, 1)  # "dev" went away with alice
    assert lobby.statistics().members == 1
    assert lobby.statistics().published == 4


def test_outbox_bounds_must_be_positive() -> None:
    hub = Hub()
    with pytest.raises(ValueError, match="at least 1"):
        hub.connect("alice", max_events=0)
    with pytest.raises(ValueError, match="at least 1"):
        hub.connect("bob", max_bytes=0)
    assert hub.members == []


def test_notice_is_outside_any_room_order() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    alice.notify("welcome")
    (notice,) = drain(alice)
    assert isinstance(notice, Notice)
    assert (notice.room, notice.seq, notice.sender, notice.text) == ("", 0, "", "welcome")


async def test_library_text_is_sanitized_too() -> None:
    # Network input is sanitized by the server; text from code using the library must not be
    # able to break a line or smuggle escapes either.
    hub = Hub()
    with hub.connect("alice") as alice, hub.connect("bob") as bob:
        hub.join(alice, "#x")
        hub.join(bob, "#x")
        drain(bob)
        await alice.say("one\n[00:00:00] <admin> two\x1b[31m")
        await alice.act("waves\r\nfake")
        hub.room("#x").set_topic(alice, "topic\nline")
        hub.send_private(alice, "bob", "pm\nline")
        received = drain(bob)
        texts_seen = [getattr(event, "text", "") for event in received]
        assert texts_seen == ["one[00:00:00] <admin> two", "wavesfake", "topicline", "pmline"]
