"""A member's outbox as a channel: waiting on it, closing it, and shared history copies."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from triochat import SLOW_CONSUMER, Hub, Message, Notice, NotInRoom


async def test_wait_returns_at_once_when_there_is_something_to_see() -> None:
    hub = Hub()
    queued, removed, closed = hub.connect("queued"), hub.connect("removed"), hub.connect("closed")
    queued.notify("here already")
    hub.disconnect(removed, "bye")
    closed.close_outbox()
    with trio.fail_after(1):
        for member in (queued, removed, closed):
            await member.wait()


async def test_one_task_at_a_time_waits_on_an_outbox() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(alice.wait)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(
            trio.BusyResourceError, match=r"^another task is already waiting on this outbox$"
        ):
            await alice.wait()
        alice.notify("wakes the first")


def test_a_closed_outbox_refuses_to_be_read() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    alice.notify("never read")
    alice.close_outbox()
    with pytest.raises(trio.ClosedResourceError, match=r"^the outbox was closed by its owner$"):
        alice.receive_nowait()


def test_the_history_copy_of_an_event_is_made_once() -> None:
    event = Message(room="#lobby", seq=1, text="hello")
    copy = event.as_history()
    assert copy.history
    assert not event.history
    assert copy == Message(room="#lobby", seq=1, time=event.time, text="hello", history=True)
    # Every newcomer gets the same object, so its bytes are rendered once per format.
    assert event.as_history() is copy
    assert copy.as_history() is copy


def test_outbox_statistics_follow_what_is_taken_and_closed() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    alice.notify("one")
    alice.notify("two")
    assert alice.statistics().queued_bytes > 0
    assert len(alice.take_all()) == 2
    alice.notify("three")
    assert len(alice.take_all()) == 1
    stats = alice.statistics()
    assert (stats.queued_events, stats.queued_bytes, stats.delivered) == (0, 0, 3)
    alice.notify("four")
    alice.close_outbox()
    assert (alice.statistics().queued_events, alice.statistics().queued_bytes) == (0, 0)


def test_an_event_exactly_the_size_of_the_byte_bound_fits() -> None:
    hub = Hub()
    event = Message(room="#lobby", seq=1, text="x" * 36)  # 64 + 36 bytes
    exact = hub.connect("exact", max_bytes=event.size)
    assert exact.deliver(event)
    assert not exact.deliver(event)  # and nothing more does
    tiny = hub.connect("tiny", max_events=1, max_bytes=1)  # the smallest bounds allowed
    assert not tiny.deliver(event)
    with pytest.raises(ValueError, match=r"^outbox bounds must be at least 1$"):
        hub.connect("none", max_bytes=0)


def test_the_doorbell_rings_only_when_armed() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    rings: list[object] = []
    alice.set_doorbell(rings.append, "answerer")
    alice.notify("one")
    assert rings == ["answerer"]
    alice.take_all()  # not armed again: the next event rings nobody
    alice.notify("two")
    assert rings == ["answerer"]
    alice.take_all(arm=True)
    alice.notify("three")
    assert rings == ["answerer", "answerer"]
    plain = hub.connect("plain")  # no doorbell: arming means nothing
    plain.take_all(arm=True)
    plain.notify("quiet")
    assert len(plain.take_all()) == 1


def test_notices_say_what_kind_they_are() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    alice.notify("fyi")
    alice.notify("oops", error=True)
    alice.notify("hi", kind="welcome")
    kinds = [(event.kind, event.error) for event in alice.take_all() if isinstance(event, Notice)]
    assert kinds == [("info", False), ("error", True), ("welcome", False)]


async def test_saying_outside_a_room_says_why() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    with pytest.raises(NotInRoom, match=r"^you are not in any room$"):
        await alice.say("hello?")
    with pytest.raises(NotInRoom, match=r"^you are not in #elsewhere$"):
        await alice.act("waves", hub.room("#elsewhere"))


# The armed doorbell is the fan-out's fast path (Member._offer): an armed member takes the
# event with no bounds checked but the byte bound. These say what it must still guarantee.


def test_an_armed_member_gets_its_line_in_order_with_others_queued() -> None:
    hub = Hub()
    room = hub.room()
    idle, busy = hub.connect("idle"), hub.connect("busy")
    rings: list[object] = []
    for member in (idle, busy):
        room.join(member)
    idle.set_doorbell(rings.append, "idle")
    busy.set_doorbell(rings.append, "busy")
    idle.take_all(arm=True)  # idle: armed, nothing queued
    busy.take_all()  # busy: its answerer is still writing, so not armed
    busy.notify("backlog")
    for text in ("one", "two", "three"):
        room._publish(Message, "bob", text=text)
    assert rings == ["idle"]  # once, for the first line; the others wait behind it
    got = {m.nick: [getattr(e, "text", "") for e in m.take_all(arm=True)] for m in (idle, busy)}
    assert got == {"idle": ["one", "two", "three"], "busy": ["backlog", "one", "two", "three"]}
    seqs = [e.seq for e in room.recent()]
    assert seqs == sorted(seqs)
    room._publish(Message, "bob", text="four")
    assert rings == ["idle", "idle", "busy"]  # both armed again by take_all(arm=True)


def test_an_armed_member_is_still_cut_off_by_its_byte_bound() -> None:
    hub = Hub()
    room = hub.room()
    small = hub.connect("small", max_bytes=100)
    room.join(small)
    rings: list[object] = []
    small.set_doorbell(rings.append, small)
    small.take_all(arm=True)
    room._publish(Message, "bob", text="x" * 200)  # larger than the whole outbox
    assert not small.connected
    assert small.removed_reason == SLOW_CONSUMER
    assert rings == []


def test_a_full_outbox_still_disconnects_behind_the_fast_path() -> None:
    hub = Hub()
    room = hub.room()
    full = hub.connect("full", max_events=3)
    room.join(full)
    rings: list[object] = []
    full.set_doorbell(rings.append, full)
    full.take_all(arm=True)
    for text in ("one", "two", "three"):
        room._publish(Message, "bob", text=text)
    assert full.connected
    assert full.queued_events == 3
    assert rings == [full]
    room._publish(Message, "bob", text="four")  # nobody took anything: the bound holds
    assert full.removed_reason == SLOW_CONSUMER


def test_an_outbox_that_takes_no_more_is_never_armed() -> None:
    hub = Hub()
    removed, closed = hub.connect("removed"), hub.connect("closed")
    rings: list[object] = []
    for member in (removed, closed):
        member.set_doorbell(rings.append, member)  # armed
    hub.disconnect(removed, "bye")
    closed.close_outbox()
    event = Message(room="#lobby", seq=1, text="late")
    assert not removed.deliver(event)
    assert not closed.deliver(event)
    for member in (removed, closed):  # nor armed again by its answerer
        assert member.arm_doorbell()
        member.take_all(arm=True)
        assert not member.deliver(event)
    assert rings == []
    assert removed.take_all() == []
    assert closed.queued_events == 0
