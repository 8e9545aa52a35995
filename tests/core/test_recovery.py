"""Recovery over the room-log seam: a member that rejoins with the last (epoch, seq) it saw gets
exactly the kept events after it, or a "not recovered" marker and the latest history; never part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.test_room_log import drain
from triochat import Event, Hub, Joined, Member, MemoryLog, Message, Notice
from triochat.core._recovery import Position, join_since


def _left_at(hub: Hub, member: Member, name: str) -> Position:
    """Take *member* out of *name* (as a lost connection would) and say where it was."""
    room = hub.find_room(name)
    assert room is not None
    seen = [event.seq for event in drain(member) if event.room == name and event.seq]
    position = Position(room.log.epoch, seen[-1])
    hub.part(member, name)
    return position


async def _chat(member: Member, lines: int, prefix: str = "line") -> None:
    for number in range(lines):
        await member.say(f"{prefix} {number}")


def _replay(member: Member, name: str) -> tuple[Notice, list[Event], Joined]:
    """The marker, the replayed events and the member's own Joined, from its outbox."""
    events = drain(member)
    marker = next(e for e in events if isinstance(e, Notice) and e.kind.endswith("recovered"))
    joined = next(e for e in events if isinstance(e, Joined) and e.sender == member.nick)
    start, stop = events.index(marker), events.index(joined)
    replayed = [e for e in events[start + 1 : stop] if e.room == name]
    assert all(event.history for event in replayed)
    return marker, replayed, joined


async def test_a_rejoin_gets_exactly_the_missed_events_then_live_ones() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    await _chat(alice, 2, "before")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 3, "missed")
    room, recovery = await join_since(hub, bob, "#r", since)
    assert recovery is not None
    assert recovery.recovered
    assert recovery.count == 3
    marker, replayed, joined = _replay(bob, "#r")
    assert marker.kind == "recovered"
    assert marker.data == {"room": "#r", "count": 3, "epoch": room.log.epoch}
    assert [e.text for e in replayed if isinstance(e, Message)] == [f"missed {n}" for n in range(3)]
    assert [e.seq for e in replayed] == list(range(since.seq + 2, since.seq + 5))  # after the Left
    await alice.say("live")
    live = drain(bob)
    assert [(type(e), e.history) for e in live] == [(Message, False)]
    assert live[0].seq == joined.seq + 1


async def test_nothing_missed_is_recovered_with_count_zero() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    await _chat(alice, 4)
    room = hub.find_room("#r")
    assert room is not None
    since = Position(room.log.epoch, room.seq)
    hub.part(bob, "#r")
    drain(bob)
    _, recovery = await join_since(hub, bob, "#r", since)
    assert recovery is not None
    assert recovery.recovered
    assert recovery.count == 0
    _, replayed, _ = _replay(bob, "#r")
    assert replayed == []


async def test_another_epoch_gives_the_marker_and_the_latest_history() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(bob, "#r")
    await _chat(bob, 2, "old")
    since = _left_at(hub, bob, "#r")  # the room empties and goes: its next run is a new epoch
    hub.join(alice, "#r")
    await _chat(alice, 2, "new")
    room, recovery = await join_since(hub, bob, "#r", since)
    assert recovery is not None
    assert not recovery.recovered
    assert recovery.reason == "restarted"
    assert recovery.epoch == room.log.epoch != since.epoch
    marker, replayed, _ = _replay(bob, "#r")
    assert marker.kind == "not-recovered"
    assert marker.data["reason"] == "restarted"
    assert [e.text for e in replayed if isinstance(e, Message)] == ["new 0", "new 1"]


async def test_a_room_that_does_not_exist_any_more_is_not_recovered() -> None:
    hub = Hub()
    bob = hub.connect("bob")
    _, recovery = await join_since(hub, bob, "#gone", Position("feedface", 7))
    assert recovery is not None
    assert recovery.reason == "restarted"
    assert recovery.count == 0


async def test_forgotten_events_are_not_recovered_not_even_in_part() -> None:
    hub = Hub(history_events=5)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 8, "missed")
    _, recovery = await join_since(hub, bob, "#r", since)
    assert recovery is not None
    assert recovery.reason == "forgotten"
    _, replayed, _ = _replay(bob, "#r")
    assert [e.text for e in replayed if isinstance(e, Message)] == [
        f"missed {n}" for n in range(3, 8)
    ]


async def test_more_missed_than_the_bound_is_not_recovered() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 4)
    _, recovery = await join_since(hub, bob, "#r", since, limit=3)
    assert recovery is not None
    assert recovery.reason == "too-many"
    assert recovery.count == 4
    hub.part(bob, "#r")
    drain(bob)
    _, recovery = await join_since(hub, bob, "#r", since, limit=4)
    # bob's own Joined and Left since are not conversation: still exactly 4 to recover
    assert recovery is not None
    assert recovery.recovered
    assert recovery.count == 4


async def test_the_bound_is_half_the_outbox() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob", max_events=20)
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 9)
    _, recovery = await join_since(hub, bob, "#r", since)
    assert recovery is not None
    assert recovery.reason == "too-many"
    assert bob.connected


async def test_a_seq_the_room_never_had_is_unknown() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    room = hub.find_room("#r")
    assert room is not None
    _, recovery = await join_since(hub, bob, "#r", Position(room.log.epoch, room.seq + 5))
    assert recovery is not None
    assert recovery.reason == "unknown"


async def test_already_in_the_room_only_makes_it_current() -> None:
    hub = Hub()
    bob = hub.connect("bob")
    room = hub.join(bob, "#r")
    hub.join(bob, "#s")
    drain(bob)
    joined, recovery = await join_since(hub, bob, "#r", Position(room.log.epoch, 0))
    assert joined is room
    assert recovery is None
    assert bob.current_room is room
    assert drain(bob) == []


class SlowLog(MemoryLog):
    """A log whose history() waits, as one reading a disk does; *during* runs meanwhile (on
    the first *reads* calls)."""

    during: Callable[[], Any] | None = None
    reads = 1

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        events = await super().history(count, before=before, after=after)
        if SlowLog.during is not None and SlowLog.reads > 0:
            SlowLog.reads -= 1
            await SlowLog.during()
        return events


@pytest.mark.parametrize("reads", [1, 10])
async def test_events_published_while_the_log_is_read_are_neither_lost_nor_doubled(
    reads: int,
) -> None:
    # Once: read again, and all of it comes from the log. Every time: after a few reads, the
    # rest comes from memory at the join.
    SlowLog.reads = reads
    hub = Hub(room_log=SlowLog)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 2, "missed")

    async def more() -> None:
        await _chat(alice, 2, "meanwhile")

    SlowLog.during = more
    try:
        _, recovery = await join_since(hub, bob, "#r", since)
    finally:
        SlowLog.during = None
    rounds = min(reads, 4)  # the first read, and at most three more
    assert recovery is not None
    assert recovery.recovered
    assert recovery.count == 2 + 2 * rounds
    _, replayed, _ = _replay(bob, "#r")
    texts = [e.text for e in replayed if isinstance(e, Message)]
    assert texts == ["missed 0", "missed 1", *["meanwhile 0", "meanwhile 1"] * rounds]
    room = hub.find_room("#r")
    assert room is not None
    assert [e.seq for e in replayed] == [e.seq for e in room.recent() if e.seq > since.seq]


async def test_a_room_recreated_while_the_log_is_read_is_not_recovered() -> None:
    hub = Hub(room_log=SlowLog)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 1)

    async def recreate() -> None:
        hub.part(alice, "#r")
        hub.join(alice, "#r")

    SlowLog.during, SlowLog.reads = recreate, 1
    try:
        _, recovery = await join_since(hub, bob, "#r", since)
    finally:
        SlowLog.during = None
    assert recovery is not None
    assert recovery.reason == "restarted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.integers(0, 12),
    missed=st.lists(st.sampled_from(["say", "join", "part"]), max_size=25),
    kept=st.integers(1, 15),
    limit=st.integers(0, 20),
)
async def test_recovered_means_exactly_the_kept_events_after_the_position(
    before: int, missed: list[str], kept: int, limit: int
) -> None:
    hub = Hub(history_events=kept)
    alice, bob, carol = hub.connect("alice"), hub.connect("bob"), hub.connect("carol")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    await _chat(alice, before)
    since = _left_at(hub, bob, "#r")
    room = hub.find_room("#r")
    assert room is not None
    for step in missed:
        if step == "say":
            await alice.say("x")
        elif step == "join" and carol not in room:
            hub.join(carol, "#r")
        elif step == "part" and carol in room:
            hub.part(carol, "#r")
    expected = [e.seq for e in room.recent() if e.seq > since.seq]
    complete = room.forgotten <= since.seq
    drain(bob)
    _, recovery = await join_since(hub, bob, "#r", since, limit=limit)
    assert recovery is not None
    _, replayed, _ = _replay(bob, "#r")
    if complete and len(expected) <= limit:
        assert recovery.recovered
        assert [e.seq for e in replayed] == expected
    else:
        assert recovery.reason == ("forgotten" if not complete else "too-many")
        assert [e.seq for e in replayed] == [e.seq for e in room.recent() if e.seq < room.seq]
    await trio.testing.wait_all_tasks_blocked()


class DiskLikeLog(SlowLog):
    """A log that keeps every event elsewhere (as a durable one does on its disk) and only the
    newest few in memory: its ``forgotten`` stays 0, since nothing is lost, while memory lets
    go of events."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.disk: list[Event] = []

    @property
    def forgotten(self) -> int:
        return 0

    @forgotten.setter
    def forgotten(self, seq: int) -> None:
        pass  # memory let go of it; the "disk" still has it

    def appended(self, event: Event) -> None:
        if isinstance(event, Message):
            self.disk.append(event)

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        events = [e for e in self.disk if (after is None or e.seq > after)]
        events = [e for e in events if before is None or e.seq < before]
        if count is not None:
            events = events[:count] if after is not None else events[-count:]
        await SlowLog.history(self, 0)  # the wait, and what is published during it
        return events


async def test_events_memory_let_go_of_during_the_read_are_not_skipped() -> None:
    # The log forgets nothing, but the tail after the last read comes from memory at the join:
    # if memory no longer holds all of it, recovering would skip events without a word.
    SlowLog.reads = 10
    hub = Hub(room_log=DiskLikeLog, history_events=3)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#r")
    hub.join(bob, "#r")
    since = _left_at(hub, bob, "#r")
    await _chat(alice, 2, "missed")

    async def more() -> None:
        await _chat(alice, 5, "meanwhile")

    SlowLog.during = more
    try:
        _, recovery = await join_since(hub, bob, "#r", since)
    finally:
        SlowLog.during = None
    room = hub.find_room("#r")
    assert room is not None
    assert isinstance(room.log, DiskLikeLog)
    _, replayed, _ = _replay(bob, "#r")
    assert recovery is not None
    if recovery.recovered:
        assert [e.seq for e in replayed] == [e.seq for e in room.log.disk if e.seq > since.seq]
    else:
        assert recovery.reason == "forgotten"
