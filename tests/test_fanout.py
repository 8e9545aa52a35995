"""The fan-out path: outbox bounds and order, quiet large rooms, and the eager write path."""

from __future__ import annotations

import trio

from triochat import Event, Hub, Joined, Left, Member, NickChanged


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
