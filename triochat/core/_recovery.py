"""Recovery: what a reconnecting member missed in a room, all or nothing.

A client that lost its connection knows the last event it saw in each room: a
:class:`Position`, the room log's ``epoch`` and that event's ``seq``. Joining again with it
(:func:`join_since`), it gets exactly the kept events numbered after it (messages, actions,
topic changes: what a room's history keeps), if the log still keeps every one of them and they
are at most a bound; otherwise one "not recovered" marker and the latest history, as on a plain
join. Never part of what it missed: a client that gets some lines back must be able to trust
that it has all of them.

This is built on the room-log contract alone (``epoch``, ``seq``, ``forgotten`` and
``history(after=)``), so it works the same over every log: the memory log answers from memory;
a durable log may reach its disk for events memory no longer holds.

The order, for either outcome: the marker (a notice of kind ``recovered`` or
``not-recovered``), the events (copies marked as history), the member's own ``Joined``, then
live events, with no gap and no duplicate between the replay and the live events: the replay is
completed and the member added in one step with no ``await`` (see :meth:`Room.join`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import attrs

from ._events import Event
from ._member import SLOW_CONSUMER
from ._position import Position

if TYPE_CHECKING:
    from ._hub import Hub
    from ._member import Member
    from ._room import Room

__all__ = [
    "MAX_RECOVERED",
    "NOT_RECOVERED",
    "RECOVERED",
    "Position",
    "Recovery",
    "join_since",
]

logger = logging.getLogger("triochat.recovery")

#: Most events one recovery replays; more missed than this is "not recovered" (and never more
#: than fits in half of the member's outbox, as for any replay).
MAX_RECOVERED: Final = 1000
# Reads of the log while events keep coming, before the rest is taken from memory.
_FETCH_ROUNDS: Final = 3
#: The kind of the marker notice before recovered events.
RECOVERED: Final = "recovered"
#: The kind of the marker notice before the latest history, when what was missed is not given.
NOT_RECOVERED: Final = "not-recovered"

# Why a recovery failed (the marker's ``reason``).
#: Another run of the room's order: the room started again (emptied, or the server restarted
#: with a log that keeps nothing), or a store lost data.
RESTARTED: Final = "restarted"
#: Some of the missed events are no longer kept.
FORGOTTEN: Final = "forgotten"
#: More were missed than one recovery replays.
TOO_MANY: Final = "too-many"
#: The position names an event the room never had.
UNKNOWN: Final = "unknown"


@attrs.frozen(kw_only=True)
class Recovery:
    """What :func:`join_since` replayed.

    Attributes:
      room: the room joined.
      recovered: whether the events replayed are exactly the ones missed.
      count: the events replayed (the missed ones, or else the latest history).
      epoch: the room's epoch now, for the client's next position.
      reason: why not recovered (``restarted``, ``forgotten``, ``too-many``, ``unknown``),
        ``None`` if recovered.
    """

    room: str
    recovered: bool
    count: int
    epoch: str
    reason: str | None = None

    def data(self) -> dict[str, object]:
        """The marker's data (for the JSON format)."""
        data: dict[str, object] = {"room": self.room, "count": self.count, "epoch": self.epoch}
        if self.reason is not None:
            data["reason"] = self.reason
        return data


def _obstacle(room: Room, since: Position) -> str | None:
    """Why *room* cannot give back what followed *since*, judged by the log's numbers alone."""
    log = room.log
    if since.epoch != log.epoch:
        return RESTARTED
    if since.seq > log.seq:
        return UNKNOWN
    if since.seq < log.forgotten:
        return FORGOTTEN
    return None


def _bounds(member: Member, limit: int) -> tuple[int, int]:
    # A replay never fills more than half the outbox (as /history): it must not by itself
    # cut off whoever asked. The marker and the member's own Joined take two more places.
    return max(0, min(limit, member.max_events // 2 - 2)), member.max_bytes // 2


def _fits(events: list[Event], limit: int, budget: int) -> bool:
    return len(events) <= limit and sum(event.size for event in events) <= budget


async def join_since(
    hub: Hub,
    member: Member,
    name: str,
    since: Position,
    *,
    limit: int = MAX_RECOVERED,
    arrived: int | None = None,
) -> tuple[Room, Recovery | None]:
    """Join *member* to room *name* (as :meth:`Hub.join`), replaying what it missed after
    *since*: every kept event numbered after it, or a "not recovered" marker and the latest
    history. Returns the room and what was replayed.

    A member already in the room (a server that joins each newcomer to a room before it can
    say anything) gets the same for the events before it arrived there, at seq *arrived*
    (from then on it received them live); without *arrived*, nothing is replayed and the join
    only makes the room current (the result is ``None``).

    Waits only for the log to fetch the missed events (a durable log may read its disk);
    raises what :meth:`Hub.join` raises, with nothing sent.
    """
    limit, budget = _bounds(member, limit)
    room = hub.find_room(name)
    if room is not None and member in room:
        member.current_room = room
        if arrived is None:
            return room, None
        return room, await _replay_until(room, member, since, arrived, limit, budget)
    fetched: list[Event] | None = None
    if room is not None and member not in room and _obstacle(room, since) is None:
        fetched = await _fetch(room, since.seq, limit)
    recovery: Recovery | None = None

    def replay(joined: Room) -> list[Event]:
        # Called by Room.join when the member is about to be added: nothing can be published
        # from here until it is in, so events after the fetch are taken from memory now.
        nonlocal recovery
        reason = _obstacle(joined, since)
        if reason is None and (joined is not room or fetched is None):
            reason = RESTARTED  # the room went and came back while the log was read
        events: list[Event] = []
        if reason is None:
            assert fetched is not None
            last = fetched[-1].seq if fetched else since.seq
            if max(joined.forgotten, joined.log.evicted) > last:
                # Memory let go of events after the fetch (a long wait and a busy room): the
                # log may still keep them, but they cannot be taken from memory now.
                reason = FORGOTTEN
            else:
                events = fetched + [event for event in joined.recent() if event.seq > last]
                if not _fits(events, limit, budget):
                    reason = TOO_MANY
        if reason is not None:
            events = joined.recent()
        recovery = Recovery(
            room=joined.name,
            recovered=reason is None,
            count=len(events),
            epoch=joined.log.epoch,
            reason=reason,
        )
        member.notify("", kind=RECOVERED if reason is None else NOT_RECOVERED, data=recovery.data())
        return events

    joined = hub.join(member, name, replay=replay)
    if recovery is not None:
        logger.debug("%s rejoined %s after %s: %s", member.nick, joined.name, since, recovery)
    return joined, recovery


async def _fetch(room: Room, after: int, limit: int) -> list[Event]:
    """The first ``limit + 1`` kept events after *after*, fetched again for what was published
    while the log was read, until nothing was (a few rounds at most)."""
    published = room.seq
    fetched = await room.history(limit + 1, after=after)
    for _ in range(_FETCH_ROUNDS):
        if room.seq == published or len(fetched) > limit:
            break
        # Events came while the log was read (a durable log reading its disk). The rest is
        # taken from memory at the join; fetching again keeps that rest short, so that memory
        # (the newest events) surely still holds it.
        published = room.seq
        last = fetched[-1].seq if fetched else after
        fetched += await room.history(limit + 1 - len(fetched), after=last)
    return fetched


async def _replay_until(
    room: Room, member: Member, since: Position, arrived: int, limit: int, budget: int
) -> Recovery:
    """What :func:`join_since` does for a member already in *room* since seq *arrived*."""
    reason = _obstacle(room, since)
    events: list[Event] = []
    if reason is None and since.seq < arrived:
        events = await room.history(limit + 1, after=since.seq, before=arrived + 1)
        # Re-checked after the wait: a log may have let go of events meanwhile.
        reason = _obstacle(room, since)
        if reason is None and not _fits(events, limit, budget):
            reason = TOO_MANY
    if reason is not None:
        events = room.recent(before=arrived + 1)
    recovery = Recovery(
        room=room.name,
        recovered=reason is None,
        count=len(events),
        epoch=room.log.epoch,
        reason=reason,
    )
    member.notify("", kind=RECOVERED if reason is None else NOT_RECOVERED, data=recovery.data())
    for event in events:
        if not member.deliver(event.as_history()):
            room.hub.disconnect(member, SLOW_CONSUMER)  # as for /history
            break
    logger.debug("%s caught up on %s after %s: %s", member.nick, room.name, since, recovery)
    return recovery
