"""Room history: exact bounds in events and in bytes, bytes that are what memory really holds,
and the cap on the history of all rooms together."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest
import trio

from triochat import Event, Hub, Member, Message
from triochat.protocols.text._codec import RENDERERS

#: The longest line a client can send: 1 024 astral characters, 4 096 bytes of UTF-8 and 4 KiB
#: as a CPython str.
ASTRAL = "\U0001f600" * 1024


def drain(member: Member) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            events.append(member.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events


def encode_everywhere(events: list[Event]) -> None:
    """What the server's connections do with each event: render it in each wire format."""
    for event in events:
        for wire_format, render in RENDERERS.items():
            event.encode(wire_format, render)


def texts(events: list[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, Message)]


async def test_history_keeps_exactly_the_last_n_events() -> None:
    hub = Hub(history_events=5, history_bytes=1 << 20)
    alice = hub.connect("alice")
    room = hub.room("#log")
    room.join(alice)
    for number in range(12):
        await alice.say(f"m{number}", room)
    assert texts(room.recent()) == [f"m{number}" for number in range(7, 12)]
    assert room.statistics().history_events == 5
    bob = hub.connect("bob")
    room.join(bob)
    replay = drain(bob)
    assert texts(replay) == [f"m{number}" for number in range(7, 12)]
    assert all(event.history for event in replay[:-1])
    assert not replay[-1].history  # bob's own Joined, live


@pytest.mark.parametrize(("slack", "kept"), [(0, 3), (-1, 2)])
async def test_history_byte_bound_keeps_exactly_what_fits(slack: int, kept: int) -> None:
    # Lines of the same length from the same sender cost the same: measure one, then fill a
    # room whose bound is exactly three of them (or one byte less).
    probe = Hub()
    alice = probe.connect("alice")
    probe.room("#log").join(alice)
    await alice.say("x" * 100, probe.room("#log"))
    one = probe.room("#log").statistics().history_bytes
    assert one > 100

    hub = Hub(history_events=50, history_bytes=3 * one + slack)
    alice = hub.connect("alice")
    room = hub.room("#log")
    room.join(alice)
    for number in range(10):
        await alice.say(f"{number}" + "x" * 99, room)
    assert [text[0] for text in texts(room.recent())] == [str(n) for n in range(10 - kept, 10)]
    assert room.statistics().history_bytes == kept * one


async def test_outbox_bytes_are_utf8_bytes() -> None:
    assert Message(text=ASTRAL).size == 64 + 4096
    assert Message(text="x" * 100).size == 64 + 100
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.room().join(alice)
    hub.room().join(bob)
    drain(bob)
    await alice.say(ASTRAL)
    assert bob.queued_bytes == 64 + 4096


async def test_history_bytes_count_encodings_and_history_copies() -> None:
    hub = Hub(history_bytes=1 << 20)
    alice = hub.connect("alice")
    room = hub.room("#log")
    room.join(alice)
    await alice.say("hello", room)
    bare = room.statistics().history_bytes
    assert bare >= sys.getsizeof("hello") + sys.getsizeof(room.recent()[0])
    encode_everywhere(drain(alice))
    encoded = room.statistics().history_bytes
    (event,) = room.recent()
    rendered = [event.encode(name, render) for name, render in RENDERERS.items()]
    assert encoded == bare + sum(sys.getsizeof(data) for data in rendered)
    bob = hub.connect("bob")
    room.join(bob)
    replayed = drain(bob)
    assert room.statistics().history_bytes > encoded  # the history copy
    encode_everywhere(replayed)
    copy = replayed[0]
    assert copy.history
    rendered = [copy.encode(name, render) for name, render in RENDERERS.items()]
    assert room.statistics().history_bytes > encoded + sum(sys.getsizeof(d) for d in rendered)


async def test_evicted_events_release_every_byte_charged_for_them() -> None:
    hub = Hub(history_events=3, history_bytes=1 << 20)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    room = hub.room("#log")
    room.join(alice)
    for number in range(3):
        await alice.say(f"old {number} " + ASTRAL, room)
    encode_everywhere(drain(alice))
    room.join(bob)
    encode_everywhere(drain(bob))
    full = room.statistics().history_bytes
    assert full > 3 * 4 * 4096  # text, encodings and history copies of three astral lines
    for number in range(3):
        await alice.say(f"new {number}", room)
    # The old events are gone from the history: encoding them again charges nobody.
    small = room.statistics().history_bytes
    assert small < full / 10
    assert hub.statistics().history_bytes == small
    assert texts(room.recent()) == [f"new {number}" for number in range(3)]


async def test_history_memory_stays_within_its_bound() -> None:
    bound = 64 * 1024
    hub = Hub(history_events=100, history_bytes=bound)
    alice = hub.connect("alice")
    room = hub.room("#astral")
    room.join(alice)
    drain(alice)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            await alice.say(ASTRAL, room)
            encode_everywhere(drain(alice))  # a text and a JSON client read each line
        visitor = hub.connect("visitor")
        room.join(visitor)  # gets the history replayed, in both formats too
        encode_everywhere(drain(visitor))
        encode_everywhere(drain(alice))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    accounted = room.statistics().history_bytes
    assert 0 < accounted <= bound
    assert room.statistics().history_events >= 2
    assert held <= 1.5 * bound, f"history holds {held} bytes for a bound of {bound}"


async def test_hub_caps_the_history_of_all_rooms_evicting_from_the_largest() -> None:
    cap = 40_000
    hub = Hub(history_events=100, history_bytes=1 << 20, history_total_bytes=cap)
    alice = hub.connect("alice")
    small = hub.room("#small")
    small.join(alice)
    await alice.say("short and early", small)
    big = [hub.room(f"#big{index}") for index in range(4)]
    for room in big:
        room.join(alice)
    for number in range(30):
        for room in big:
            await alice.say(f"{number} " + "y" * 1000, room)
    total = sum(room.statistics().history_bytes for room in hub.rooms)
    assert total == hub.statistics().history_bytes
    assert total <= cap
    assert texts(small.recent()) == ["short and early"]
    for room in big:
        kept = texts(room.recent())
        assert 0 < len(kept) < 30
        assert [int(text.split()[0]) for text in kept] == list(range(30 - len(kept), 30))


async def test_a_room_that_goes_away_gives_its_history_bytes_back() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    room = hub.room("#gone")
    room.join(alice)
    await alice.say("something to keep", room)
    encode_everywhere(drain(alice))
    assert hub.statistics().history_bytes > 0
    hub.part(alice, "#gone")
    assert hub.find_room("#gone") is None
    assert hub.statistics().history_bytes == 0
