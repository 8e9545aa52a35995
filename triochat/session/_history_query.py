"""Which kept events a CHATHISTORY request asks for (IRCv3 chathistory), read from a room's log.

A reference is a message (its room's epoch and seq, from its ``msgid``) or a time. Times are
compared to the millisecond, the precision of the ``time`` tag clients see: a client that asks
for what came after the time of the last message it saw does not get that message again.

Only messages and actions answer: a reply batch holds nothing but ``PRIVMSG`` and ``NOTICE``
for a client without ``draft/event-playback`` (which triochat does not offer), so a topic change,
although kept in the room's history, is not history here.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final

from ..core._events import Action, Message
from ..core._position import Position

if TYPE_CHECKING:
    from ..core._events import Event
    from ..core._room import Room
    from ._front_commands import ChatHistory, Reference

__all__ = ["history_for", "latest_message"]

_HISTORIC: Final = (Message, Action)

#: Events one CHATHISTORY request looks through at most, going back page by page for those
#: older than its timestamp (a durable room's log reads them from the disk).
_SCAN_EVENTS: Final = 10_000

_MILLISECOND: Final = dt.timedelta(milliseconds=1)

#: Reads of the log one time reference may take to find its place in the order (a binary
#: search: about log2 of the events kept).
_SEARCH_READS: Final = 64


async def history_for(room: Room, command: ChatHistory) -> list[Event]:
    """The kept events *command* asks for, oldest first: the first *limit* after its *after*
    (the last ones with *latest*), else the last *limit* (before its *before*, if any), or
    those around its *around*."""
    epoch = room.log.epoch

    def usable(reference: Reference | None) -> Reference | None:
        # A message of another run of the room's order names nothing here any more.
        if isinstance(reference, Position) and reference.epoch != epoch:
            return None
        return reference

    limit = command.limit
    around = usable(command.around)
    if around is not None:
        return await _around(room, around, limit)
    after, before = usable(command.after), usable(command.before)
    first = after is not None and not command.latest
    events = await _span(room, after, before, limit, first=first)
    if after is not None and before is not None and not events:
        # BETWEEN with the later reference first: the same span, the events nearest the first.
        return (await _span(room, before, after, limit, first=False))[-limit:]
    return events[:limit] if first else events[-limit:]


async def latest_message(room: Room, after: dt.datetime, before: dt.datetime) -> Event | None:
    """The latest kept message of *room* strictly between *after* and *before*, if any."""
    found = await _span(room, after, before, 1, first=False)
    return found[-1] if found else None


async def _around(room: Room, reference: Reference, limit: int) -> list[Event]:
    """Up to *limit* events: half before *reference*, the rest from it on (the message it
    names included); when one side runs short, the other gives more."""
    earlier = await _span(room, None, reference, limit, first=False)
    start: Reference
    if isinstance(reference, Position):
        start = Position(reference.epoch, reference.seq - 1)
    else:
        start = reference - _MILLISECOND
    later = (await _span(room, start, None, limit, first=True))[:limit]
    take_later = min(len(later), limit - min(limit // 2, len(earlier)))
    take_earlier = min(len(earlier), limit - take_later)
    return earlier[len(earlier) - take_earlier :] + later[:take_later]


async def _span(
    room: Room, after: Reference | None, before: Reference | None, limit: int, *, first: bool
) -> list[Event]:
    """The kept events strictly after *after* and before *before* (``None``: no bound), oldest
    first: at least the first (*first*) or the last *limit* of them if there are that many.

    A time is turned into the room's numbers first (:func:`_position_at`), so that the answer
    is exact however long the history; then it pages through the room's log (memory first; a
    durable log reads its disk), looking at ``_SCAN_EVENTS`` events at most.
    """
    if isinstance(after, dt.datetime):
        after = await _position_at(room, after, later=True)
    if isinstance(before, dt.datetime):
        before = await _position_at(room, before, later=False)

    def inside(event: Event) -> bool:
        return (
            isinstance(event, _HISTORIC)
            and (after is None or _later(*_key(event, after)))
            and (before is None or _later(*reversed(_key(event, before))))
        )

    below = before.seq if isinstance(before, Position) else None
    found: list[Event] = []
    page_size = max(limit, 100)
    pages = max(_SCAN_EVENTS // page_size, 1)
    if first and isinstance(after, Position):
        # Forwards from a message: the log finds the start itself (pages, since a topic change
        # among the events is not history here).
        start = after.seq
        for _ in range(pages):
            page = await room.history(page_size, after=start, before=below)
            found += [event for event in page if inside(event)]
            if len(page) < page_size or len(found) >= limit:
                break
            start = page[-1].seq
        return found
    for _ in range(pages):
        page = await room.history(page_size, before=below)
        found[:0] = [event for event in page if inside(event)]
        if len(page) < page_size:
            break
        reached_after = after is not None and not _later(*_key(page[0], after))
        if reached_after or (not first and len(found) >= limit):
            break
        below = page[0].seq
    return found


async def _position_at(room: Room, time: dt.datetime, *, later: bool) -> Position:
    """Where *time* falls in the room's order, to the millisecond: the events after the position
    are those after *time* (*later*), or those before it are those before *time*.

    A binary search over the numbers, one one-event read of the log a step (about log2 of the
    events kept; a durable log reads its disk): events are numbered in the order they were
    published, so their times grow with their numbers.
    """
    limit = _to_millisecond(time)

    def beyond(event: Event) -> bool:
        stamp = _to_millisecond(event.time)
        return stamp > limit if later else stamp >= limit

    low, high = 0, room.seq  # every kept event after high is beyond the time; none to low
    for _ in range(_SEARCH_READS):
        if low >= high:
            break
        middle = (low + high) // 2
        found = await room.history(1, after=middle)
        if not found or beyond(found[0]):
            high = middle
        else:
            low = found[0].seq
    return Position(room.log.epoch, high if later else high + 1)


def _key(event: Event, reference: Reference) -> tuple[Any, Any]:
    if isinstance(reference, Position):
        return event.seq, reference.seq
    return _to_millisecond(event.time), _to_millisecond(reference)


def _to_millisecond(time: dt.datetime) -> dt.datetime:
    return time.replace(microsecond=time.microsecond // 1000 * 1000)


def _later(one: Any, other: Any) -> bool:
    return bool(one > other)
