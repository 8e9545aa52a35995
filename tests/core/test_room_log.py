"""The room-log seam: a log plugged in through the hub sees every event and every change of state
in order; history is asked of the log; topic, operators and bans are kept by nick, not by member.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import (
    ChatServer,
    Event,
    Hub,
    Joined,
    Member,
    MemoryLog,
    Message,
    NickChanged,
    NotOperator,
    RoomState,
    ServerConfig,
)


def _recording_log_from_the_docs() -> type[MemoryLog]:
    """The RecordingLog shown in docs/architecture.md: the page's code is what is tested."""
    page = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "RecordingLog" in b)
    namespace: dict[str, Any] = {"__name__": "recording_log"}
    exec(compile(block, "docs/architecture.md", "exec"), namespace)
    log: type[MemoryLog] = namespace["RecordingLog"]
    return log


RecordingLog = _recording_log_from_the_docs()


def drain(member: Member) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            events.append(member.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events


def recorded(hub: Hub, name: str) -> tuple[list[Event], list[RoomState]]:
    room = hub.find_room(name)
    assert room is not None
    assert isinstance(room.log, RecordingLog)
    log: Any = room.log  # the page's class, which mypy does not see
    return log.events, log.states


async def test_a_log_plugged_in_through_the_hub_sees_each_event_once_before_members() -> None:
    hub = Hub(room_log=RecordingLog, outbox_events=6, history_events=3)
    alice = hub.connect("alice")
    bob = hub.connect("bob", max_events=100)
    slow = hub.connect("slow", max_events=4)  # overflows: its departure is published mid-fan-out
    for member in (alice, bob, slow):
        hub.join(member, "#log")
    for number in range(5):
        await alice.say(f"line {number}")
        drain(alice)
    events, _ = recorded(hub, "#log")
    # One dense order, recorded as stamped (the Left published inside a delivery is not first).
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert any(event.sender == "slow" and type(event).__name__ == "Left" for event in events)
    # Every event bob saw is the very object the log recorded at that seq.
    seen = [event for event in drain(bob) if event.room == "#log" and not event.history]
    assert seen
    assert all(events[event.seq - 1] is event for event in seen)


async def test_state_changes_reach_the_log_and_history_is_asked_of_it() -> None:
    hub = Hub(room_log=RecordingLog)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    room = hub.join(alice, "#mod")
    hub.join(bob, "#mod")
    room.set_topic(alice, "first")
    room.set_operator(alice, "bob", operator=True)
    room.ban(alice, "mallory")
    room.unban(alice, "mallory")
    _, states = recorded(hub, "#mod")
    assert states == [
        RoomState(operators=frozenset({"alice"})),
        RoomState(topic="first", operators=frozenset({"alice"})),
        RoomState(topic="first", operators=frozenset({"alice", "bob"})),
        RoomState(topic="first", operators=frozenset({"alice", "bob"}), bans=("mallory",)),
        RoomState(topic="first", operators=frozenset({"alice", "bob"})),
    ]
    assert room.log.state is states[-1]


async def test_recent_and_history_before_and_after_a_seq() -> None:
    hub = Hub(history_events=10)
    alice = hub.connect("alice")
    room = hub.join(alice, "#h")
    for number in range(6):
        await alice.say(f"m{number}")
    seqs = [event.seq for event in room.recent()]
    assert seqs == [2, 3, 4, 5, 6, 7]  # seq 1 is alice's Joined, which is not kept
    assert [event.seq for event in room.recent(2, before=6)] == [4, 5]
    assert [event.seq for event in room.recent(before=4)] == [2, 3]
    assert room.recent(0, before=6) == []
    assert [event.seq for event in await room.history(2, before=6)] == [4, 5]
    assert [event.seq for event in await room.history(2, after=3)] == [4, 5]
    assert [event.seq for event in await room.history(after=3, before=6)] == [4, 5]
    assert [event.seq for event in await room.history()] == seqs


async def test_history_from_the_default_log_lets_no_other_task_run() -> None:
    # /history must be as immediate as it was: nothing can be published in between.
    hub = Hub()
    alice = hub.connect("alice")
    room = hub.join(alice, "#h")
    await alice.say("kept")
    others_ran = False

    async def other() -> None:
        nonlocal others_ran
        others_ran = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        events = await room.history()
        assert not others_ran
    assert [event.seq for event in events] == [2]


class ArchiveLog(MemoryLog):
    """A log that keeps more than memory: history asked of it comes from its archive."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.archive: list[Event] = []

    def appended(self, event: Event) -> None:
        if isinstance(event, Message):
            self.archive.append(event)

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        await trio.lowlevel.checkpoint()  # as a query in a worker thread would
        return self.archive if count is None else self.archive[-count:]


async def test_history_command_goes_through_the_rooms_log(nursery: trio.Nursery) -> None:
    hub = Hub(room_log=ArchiveLog, history_events=2)
    server = ChatServer(config=ServerConfig(port=0), hub=hub)
    alice = await FakeClient.connect(nursery, server, "fake:alice")
    for number in range(5):
        await alice.send(f"line {number}")
    await alice.until("line 4")
    lobby = hub.room()
    assert len(lobby.recent()) == 2  # memory holds two; the archive all five
    await alice.send("/history")
    replay = [await alice.until("history of #lobby")]
    while "end of history" not in replay[-1]:
        line = await alice.line()
        assert line is not None
        replay.append(line)
    assert replay[0] == "*** history of #lobby: 5 events"
    assert [line.rsplit("> ", 1)[1] for line in replay[1:-1]] == [f"line {n}" for n in range(5)]


@pytest.mark.parametrize("announce_limit", [None, 0], ids=["announced", "quiet room"])
async def test_operator_status_follows_a_rename_and_ends_on_leaving(
    announce_limit: int | None,
) -> None:
    hub = Hub(announce_limit=announce_limit)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    room = hub.join(alice, "#ops")
    hub.join(bob, "#ops")
    room.set_topic(alice, "kept by name")
    room.ban(alice, "mallory@*")
    hub.rename(alice, "Alicia")
    assert room.operators == frozenset({"alicia"})
    assert room.is_operator(alice)
    room.set_operator(alice, "bob", operator=True)  # still allowed under the new nick
    assert room.topic == "kept by name"
    assert room.bans == ["mallory@*"]
    # Nobody inherits the old nick's status.
    newcomer = hub.connect("alice")
    hub.join(newcomer, "#ops")
    assert not room.is_operator(newcomer)
    with pytest.raises(NotOperator):
        room.kick(newcomer, "bob")
    # Leaving ends it; coming back does not restore it.
    hub.part(bob, "#ops")
    assert room.operators == frozenset({"alicia"})
    hub.join(bob, "#ops")
    assert not room.is_operator(bob)


async def test_a_case_change_keeps_operator_status() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    room = hub.join(alice, "#ops")
    hub.rename(alice, "ALICE")
    assert room.operators == frozenset({"alice"})
    assert room.is_operator(alice)


async def test_a_room_made_again_starts_a_new_epoch_at_seq_one() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    room = hub.join(alice, "#again")
    await alice.say("hello")
    epoch = room.log.epoch
    hub.part(alice, "#again")
    again = hub.join(alice, "#again")
    assert again is not room
    assert again.log.epoch != epoch
    (joined,) = [event for event in drain(alice) if event.room == "#again"][-1:]
    assert isinstance(joined, Joined)
    assert joined.seq == again.seq == 1


async def test_a_nick_change_is_one_event_of_the_order() -> None:
    hub = Hub(room_log=RecordingLog)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#n")
    hub.join(bob, "#n")
    hub.rename(bob, "robert")
    events, states = recorded(hub, "#n")
    assert isinstance(events[-1], NickChanged)
    assert events[-1].seq == 3
    assert states[-1].operators == frozenset({"alice"})  # bob was never one
