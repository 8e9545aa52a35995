"""Listings and replays: ``/who`` and ``/rooms`` a page at a time, and ``/history``.

A reply must never by itself overflow the outbox of whoever asked (that would cut it off): a
page holds only as many entries as fit in half of it, and a replay only the most recent events
that do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs

from ..core._errors import ChatError, ErrorCode
from ..core._hub import MAX_NICK_LENGTH, MAX_ROOM_NAME_LENGTH
from ..core._room import MAX_TOPIC_LENGTH
from ._replies import ReplyKind

if TYPE_CHECKING:
    from ..core._room import Room
    from ._session import Session

__all__ = ["history", "rooms", "who"]

# Most entries (rooms, names) in one page of a listing.
_LIST_LIMIT: Final = 100
# Most bytes one entry can take in a listing reply, in the JSON format, which carries it twice
# (in the text, and in the data): every character of a name or topic can take 4 bytes in UTF-8,
# and the rest (member count, quotes, separators, keys) takes less than 48.
_ROOM_ENTRY_BYTES: Final = 2 * (4 * (1 + MAX_ROOM_NAME_LENGTH + MAX_TOPIC_LENGTH) + 48)
_NAME_ENTRY_BYTES: Final = 2 * (4 * MAX_NICK_LENGTH + 8)


def _page(
    session: Session, total: int, page: int, entry_bytes: int, listing: str, room: str = ""
) -> _Page:
    """The part of a listing of *total* entries that *page* shows.

    A page holds at most :data:`_LIST_LIMIT` entries, and fewer if that many could take more
    than half of this member's outbox: a reply must never by itself cut off whoever asked.
    Raises :exc:`ChatError` for a page past the last.
    """
    per_page = max(1, min(_LIST_LIMIT, session.member.max_bytes // 2 // entry_bytes))
    pages = max(1, -(-total // per_page))
    if page > pages:
        raise ChatError(
            f"there {'is' if pages == 1 else 'are'} {_plural(pages, 'page')}",
            code=ErrorCode.NO_SUCH_PAGE,
            listing=listing,
            pages=pages,
            room=room,
        )
    start = (page - 1) * per_page
    return _Page(start, start + per_page, page, pages, total)


def who(session: Session, room: Room, page: int = 1) -> None:
    """Answer ``/who``: page *page* of the nicks in *room*."""
    nicks = room.nicks
    part = _page(session, len(nicks), page, _NAME_ENTRY_BYTES, "who", room.name)
    shown = nicks[part.start : part.stop]
    session.reply(ReplyKind.WHO, part.params(), room=room.name, members=shown, **part.data())


def _history_gap(session: Session, room: Room, after: int) -> None:
    """Tell a client that asked for what followed *after* if part of it is lost for good."""
    if after > room.seq:
        session.reply(ReplyKind.HISTORY_GAP, room=room.name, after=after, restarted=True)
    elif after < room.forgotten:
        session.reply(
            ReplyKind.HISTORY_GAP,
            room=room.name,
            after=after,
            forgotten=room.forgotten,
            restarted=False,
        )


def rooms(session: Session, page: int = 1) -> None:
    """Answer ``/rooms``: page *page* of every room, by name."""
    every = sorted(session.hub.rooms, key=lambda room: room.name.casefold())
    part = _page(session, len(every), page, _ROOM_ENTRY_BYTES, "rooms")
    shown = every[part.start : part.stop]
    listing = [{"name": room.name, "members": len(room), "topic": room.topic} for room in shown]
    session.reply(ReplyKind.ROOMS, part.params(), rooms=listing, **part.data())


async def history(
    session: Session, room: Room, count: int | None, after: int | None = None
) -> None:
    """Answer ``/history``: the last *count* events of *room* (those after seq *after*)."""
    if after is not None:
        _history_gap(session, room, after)
        if after > room.seq:  # the room started again: all it kept is new
            after = None
    # Through the room's log: the default one answers from memory without waiting.
    events = await room.history(count, after=after)
    # Like a listing, a replay must never by itself overflow the outbox of whoever asked:
    # it sends the most recent events that fit in half of it (a room's history is bounded
    # to half an outbox in events, but its bound in bytes is configured on its own).
    member = session.member
    room_events, room_bytes = member.max_events // 2 - 2, member.max_bytes // 2
    fit = 0
    for event in reversed(events):
        room_bytes -= event.size
        if fit >= room_events or room_bytes < 0:
            break
        fit += 1
    total = len(events)
    events = events[total - fit :]
    session.reply(ReplyKind.HISTORY, {"total": total}, room=room.name, count=fit)
    from ..core._member import SLOW_CONSUMER

    for event in events:
        if not member.deliver(event.as_history()):
            session.hub.disconnect(member, SLOW_CONSUMER)
            return
    session.reply(ReplyKind.HISTORY_END, room=room.name)


@attrs.frozen
class _Page:
    """Entries *start* to *stop* of a listing of *total*: page *page* of *pages*.

    A listing that fits in one page reads as it always did, in both formats; only a longer one
    names its page, points to the next, and carries ``page``, ``pages`` and ``total`` in its data.
    """

    start: int
    stop: int
    page: int
    pages: int
    total: int

    def params(self) -> dict[str, Any]:
        return {"count": self.total, "page": self.page, "pages": self.pages}

    def data(self) -> dict[str, Any]:
        if self.pages == 1:
            return {}
        return {"page": self.page, "pages": self.pages, "total": self.total}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
