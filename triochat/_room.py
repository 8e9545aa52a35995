"""Rooms: a set of members and one total order of events.

Publishing is synchronous and single-owner: trio runs one task at a time, and a room hands each
event to every member's outbox in one loop with no ``await`` inside it, so every member sees the
room's events in the same order with no gaps, and nothing can change the member table while the
loop runs. Members that cannot take an event are collected and disconnected *after* the loop.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from ._errors import ChatError, NotInRoom
from ._events import (
    Action,
    Event,
    Joined,
    Left,
    Message,
    NickChanged,
    TopicChanged,
    utc_now,
)
from ._member import SLOW_CONSUMER
from ._wire import sanitize

if TYPE_CHECKING:
    from ._hub import Hub
    from ._member import Member

__all__ = ["DEFAULT_HISTORY_BYTES", "DEFAULT_HISTORY_EVENTS", "Room", "RoomStatistics"]

#: Events a room keeps for members who join later (and for ``/history``).
DEFAULT_HISTORY_EVENTS: Final = 100
#: Bound of a room's history in bytes (an estimate, see :attr:`Event.size`).
DEFAULT_HISTORY_BYTES: Final = 64 * 1024
#: Longest topic, in characters.
MAX_TOPIC_LENGTH: Final = 300


# What the history keeps: the conversation, not the comings and goings.
_KEPT: Final = frozenset({Message, Action, TopicChanged})


@attrs.frozen(kw_only=True)
class RoomStatistics:
    name: str
    members: int
    published: int
    history_events: int
    history_bytes: int


@attrs.define(eq=False, kw_only=True)
class Room:
    """A chat room. Get one from :meth:`Hub.room <triochat.Hub.room>`.

    The room stamps every event with its name, the next sequence number, the UTC time and the
    sender's nick. It keeps the last *history_events* messages, actions and topic changes (at
    most *history_bytes* bytes of them) and replays them, marked as history, to each member that
    joins, right before that member's own :class:`Joined` event.
    """

    hub: Hub
    name: str
    history_events: int = DEFAULT_HISTORY_EVENTS
    history_bytes: int = DEFAULT_HISTORY_BYTES
    #: Sequence number of the last event published (0 before the first).
    seq: int = attrs.field(default=0, init=False)
    #: The topic, ``""`` if none.
    topic: str = attrs.field(default="", init=False)
    _members: dict[Member, None] = attrs.field(factory=dict, init=False)
    _history: deque[Event] = attrs.field(factory=deque, init=False)
    _history_size: int = attrs.field(default=0, init=False)

    def __repr__(self) -> str:
        return f"<Room {self.name!r} members={len(self._members)}>"

    @property
    def members(self) -> list[Member]:
        """The members, in the order they joined (a copy: safe to keep)."""
        return list(self._members)

    @property
    def nicks(self) -> list[str]:
        return [member.nick for member in self._members]

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __len__(self) -> int:
        return len(self._members)

    # ---------------------------------------------------------------------------- membership

    def join(self, member: Member) -> Joined:
        """Add *member* (which becomes its current room) and announce it to everyone here.

        The new member first receives the room's history (copies of the last events, marked
        ``history=True``), then its own :class:`Joined` event, then live events: no gap, no
        duplicate, because nothing can be published between the two steps.
        """
        if member.hub is not self.hub or not member.connected:
            raise ValueError(f"{member!r} is not connected to this room's hub")
        if member in self._members:
            member.current_room = self
            raise ValueError(f"{member.nick} is already in {self.name}")
        for event in self._history:
            if not member.deliver(event.as_history()):
                break  # its outbox is smaller than the history: the live events will tell
        self._members[member] = None
        member.rooms[self.name] = self
        member.current_room = self
        event = self._publish(Joined, member.nick)
        assert isinstance(event, Joined)
        return event

    def part(self, member: Member, reason: str = "", *, announce: bool = True) -> None:
        """Remove *member* and tell those who stay (if *announce*). Unknown members are ignored."""
        if member not in self._members:
            return
        del self._members[member]
        member.rooms.pop(self.name, None)
        if member.current_room is self:
            member.current_room = next(reversed(member.rooms.values()), None)
        if announce:
            self._publish(Left, member.nick, reason=reason)

    def announce_nick(self, old: str, new: str) -> None:
        self._publish(NickChanged, old, new=new)

    def set_topic(self, member: Member, text: str) -> TopicChanged:
        """Set the topic (``""`` clears it) and announce it. *member* must be in the room."""
        if member not in self._members:
            raise NotInRoom(f"you are not in {self.name}")
        if len(text) > MAX_TOPIC_LENGTH:
            raise ChatError(f"a topic has at most {MAX_TOPIC_LENGTH} characters")
        text = sanitize(text)
        self.topic = text
        event = self._publish(TopicChanged, member.nick, text=text)
        assert isinstance(event, TopicChanged)
        return event

    def recent(self, count: int | None = None) -> list[Event]:
        """The last *count* events kept in the history (all of them if ``None``), oldest first."""
        events = list(self._history)
        return events if count is None else events[-count:] if count > 0 else []

    # ---------------------------------------------------------------------------- publishing

    async def publish_message(self, sender: Member, text: str) -> Message:
        event = self._publish(Message, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Message)
        return event

    async def publish_action(self, sender: Member, text: str) -> Action:
        event = self._publish(Action, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Action)
        return event

    async def _pace(self) -> None:
        # A burst must not look like a slow consumer. If any outbox is more than half full, let
        # every runnable writer take its turn before publishing more: a writer empties its whole
        # outbox when it runs, so after one scheduling round only members whose *socket* is not
        # draining still have a backlog, and only they can overflow.
        for member in self._members:
            if member.queued * 2 > member.max_events or member.queued_bytes * 2 > member.max_bytes:
                await trio.lowlevel.checkpoint()
                return
        await trio.lowlevel.checkpoint_if_cancelled()

    def _publish(self, kind: type[Event], sender: str, **fields: Any) -> Event:
        self.seq += 1
        event = kind(room=self.name, seq=self.seq, time=utc_now(), sender=sender, **fields)
        if kind in _KEPT:
            history = self._history
            history.append(event)
            self._history_size += event.size
            while len(history) > self.history_events or self._history_size > self.history_bytes:
                self._history_size -= history.popleft().size
        overflowed: list[Member] | None = None
        for member in self._members:
            if not member.deliver(event):
                if overflowed is None:
                    overflowed = []
                overflowed.append(member)
        if overflowed:
            for member in overflowed:
                # Each disconnect publishes a Left here, which may overflow others in turn:
                # that recursion ends, since every step removes a member.
                self.hub.disconnect(member, SLOW_CONSUMER)
        return event

    def statistics(self) -> RoomStatistics:
        return RoomStatistics(
            name=self.name,
            members=len(self._members),
            published=self.seq,
            history_events=len(self._history),
            history_bytes=self._history_size,
        )
