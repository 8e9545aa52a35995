"""Rooms: a set of members and one total order of events.

Publishing is synchronous and single-owner: trio runs one task at a time, and a room hands each
event to every member's outbox in one loop with no ``await`` inside it, so every member sees the
room's events in the same order with no gaps, and nothing can change the member table while the
loop runs. Members that cannot take an event are collected and disconnected *after* the loop.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from ._errors import Banned, ChatError, NotInRoom, NotOperator
from ._events import (
    DEFAULT_ROOM,
    Action,
    BanChanged,
    Event,
    Joined,
    Kicked,
    Left,
    Message,
    NickChanged,
    OperatorChanged,
    TopicChanged,
    utc_now,
)
from ._member import SLOW_CONSUMER
from ._text import sanitize

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
#: Bans one room may hold.
MAX_BANS: Final = 100
_MASK: Final = re.compile(r"[^\s@]{0,40}(?:@[^\s@]{1,64})?")


# What the history keeps: the conversation, not the comings and goings.
_KEPT: Final = frozenset({Message, Action, TopicChanged})


@attrs.frozen(kw_only=True)
class RoomStatistics:
    """A snapshot of a room.

    Attributes:
      name: the room's name.
      members: members in the room.
      published: events published so far (the room's last sequence number).
      history_events: events kept in the room's history.
      history_bytes: their estimated size in bytes.
    """

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
    #: The sequence number of the newest event the history has forgotten, 0 if none yet. A
    #: client that saw the room only up to an earlier number missed events it cannot get back.
    forgotten: int = attrs.field(default=0, init=False)
    #: The topic, ``""`` if none.
    topic: str = attrs.field(default="", init=False)
    #: Members who may kick, ban and promote here (besides server admins). Whoever creates a
    #: room (other than the default room) is its first operator.
    operators: set[Member] = attrs.field(factory=set, init=False)
    #: The ban masks, each ``NICK``, ``@ADDRESS`` or ``NICK@ADDRESS``, with ``*`` and ``?``.
    bans: list[str] = attrs.field(factory=list, init=False)
    _members: dict[Member, None] = attrs.field(factory=dict, init=False)
    # Set when a delivery left some outbox more than half full; cleared by _pace.
    _crowded: bool = attrs.field(default=False, init=False)
    _history: deque[Event] = attrs.field(factory=deque, init=False)
    _history_size: int = attrs.field(default=0, init=False)
    # Slow consumers cut off but not yet announced, as (nick, reason): see _pace.
    _departures: deque[tuple[str, str]] = attrs.field(factory=deque, init=False)

    def __repr__(self) -> str:
        return f"<Room {self.name!r} members={len(self._members)}>"

    @property
    def members(self) -> list[Member]:
        """The members, in the order they joined; a copy, safe to keep."""
        return list(self._members)

    @property
    def nicks(self) -> list[str]:
        """The members' nicks, in the order they joined."""
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
        if self.is_banned(member):
            raise Banned(f"you are banned from {self.name}")
        if self.seq == 0 and not self._members and self.name != DEFAULT_ROOM:
            self.operators.add(member)  # a new room's creator runs it
        for event in self._history:
            if not member.deliver(event.as_history()):
                break  # its outbox is smaller than the history: the live events will tell
        self._members[member] = None
        member.rooms[self.name] = self
        member.current_room = self
        if self._quiet():
            joined = Joined(room=self.name, time=utc_now(), sender=member.nick)
            self._tell(member, joined)
            return joined
        event = self._publish(Joined, member.nick)
        assert isinstance(event, Joined)
        return event

    def part(self, member: Member, reason: str = "", *, announce: bool = True) -> None:
        """Remove *member* and tell those who stay (if *announce*). Unknown members are ignored."""
        if member not in self._members:
            return
        announce = announce and not self._quiet()
        del self._members[member]
        self.operators.discard(member)
        member.rooms.pop(self.name, None)
        if member.current_room is self:
            member.current_room = next(reversed(member.rooms.values()), None)
        if not announce:
            return
        if reason == SLOW_CONSUMER:
            # Many members can overflow on the same event (a hundred clients that never read);
            # announcing all their departures at once would put that many events in every
            # healthy outbox with no chance to drain, and cut the healthy members off too. So
            # they are announced by the next publisher, one at a time, pacing itself (_pace).
            self._departures.append((member.nick, reason))
        else:
            self._publish(Left, member.nick, reason=reason)

    def announce_nick(self, old: str, new: str) -> None:
        """Publish a :class:`NickChanged` event. :meth:`Hub.rename` calls it for every room."""
        if self._quiet():
            member = self.hub.member(new)
            if member is not None:
                self._tell(member, NickChanged(room=self.name, time=utc_now(), sender=old, new=new))
            return
        self._publish(NickChanged, old, new=new)

    def _quiet(self) -> bool:
        """Whether the room is too large to announce joins, leaves and nick changes."""
        limit = self.hub.announce_limit
        return limit is not None and len(self._members) > limit

    def _tell(self, member: Member, event: Event) -> None:
        # An event for one member only: sequence number 0, outside the room's order (like a
        # notice), so that the others see no gap in theirs.
        if not member.deliver(event):
            self.hub.disconnect(member, SLOW_CONSUMER)

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

    # ---------------------------------------------------------------------------- moderation

    def is_operator(self, member: Member) -> bool:
        """Whether *member* may moderate this room: an operator of it, or a server admin."""
        return member.is_admin or member in self.operators

    def is_banned(self, member: Member) -> bool:
        """Whether a ban matches *member* (admins are never banned)."""
        return not member.is_admin and any(_matches(mask, member) for mask in self.bans)

    def _check_operator(self, actor: Member) -> None:
        if not self.is_operator(actor):
            raise NotOperator(f"you are not an operator of {self.name}")

    def _member_named(self, nick: str) -> Member:
        for member in self._members:
            if member.nick.casefold() == nick.casefold():
                return member
        raise NotInRoom(f"{nick} is not in {self.name}")

    def kick(self, actor: Member, nick: str, reason: str = "") -> Kicked:
        """Remove the member called *nick*; everyone here, the target included, sees why.

        Raises :exc:`NotOperator` or :exc:`NotInRoom`. Only an admin can kick an admin.
        """
        self._check_operator(actor)
        target = self._member_named(nick)
        if target.is_admin and not actor.is_admin:
            raise NotOperator(f"{target.nick} is a server admin")
        event = self._publish(Kicked, actor.nick, target=target.nick, reason=sanitize(reason))
        self.part(target, announce=False)
        assert isinstance(event, Kicked)
        return event

    def set_operator(self, actor: Member, nick: str, *, operator: bool) -> OperatorChanged:
        """Make the member called *nick* an operator here, or take that away."""
        self._check_operator(actor)
        target = self._member_named(nick)
        if operator:
            self.operators.add(target)
        else:
            self.operators.discard(target)
        event = self._publish(OperatorChanged, actor.nick, target=target.nick, operator=operator)
        assert isinstance(event, OperatorChanged)
        return event

    def ban(self, actor: Member, mask: str) -> BanChanged:
        """Ban *mask* and remove the members it matches (except admins)."""
        self._check_operator(actor)
        mask = _validate_mask(mask)
        if mask not in self.bans:
            if len(self.bans) >= MAX_BANS:
                raise ChatError(f"{self.name} already has {MAX_BANS} bans; /unban one")
            self.bans.append(mask)
        event = self._publish(BanChanged, actor.nick, mask=mask, banned=True)
        for member in [m for m in self._members if m is not actor and _matches(mask, m)]:
            if not member.is_admin:
                self.kick(actor, member.nick, "banned")
        assert isinstance(event, BanChanged)
        return event

    def unban(self, actor: Member, mask: str) -> BanChanged:
        """Lift the ban *mask* and announce it. *actor* must be an operator of the room.

        Raises :exc:`NotOperator`, or :exc:`ChatError` if *mask* is not banned here.
        """
        self._check_operator(actor)
        mask = _validate_mask(mask)
        if mask not in self.bans:
            raise ChatError(f"{mask} is not banned in {self.name}")
        self.bans.remove(mask)
        event = self._publish(BanChanged, actor.nick, mask=mask, banned=False)
        assert isinstance(event, BanChanged)
        return event

    def recent(self, count: int | None = None) -> list[Event]:
        """The last *count* events kept in the history (all of them if ``None``), oldest first."""
        events = list(self._history)
        return events if count is None else events[-count:] if count > 0 else []

    # ---------------------------------------------------------------------------- publishing

    async def publish_message(self, sender: Member, text: str) -> Message:
        """Publish *text* as a :class:`Message` from *sender*; :meth:`Member.say` calls this."""
        event = self._publish(Message, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Message)
        return event

    async def publish_action(self, sender: Member, text: str) -> Action:
        """Publish *text* as an :class:`Action` from *sender*; :meth:`Member.act` calls this."""
        event = self._publish(Action, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Action)
        return event

    async def _pace(self) -> None:
        # A burst must not look like a slow consumer. If any outbox is more than half full, let
        # every runnable writer take its turn before publishing more: a writer empties its whole
        # outbox when it runs, so after one scheduling round only members whose *socket* is not
        # draining still have a backlog, and only they can overflow. Departures of slow
        # consumers waiting to be announced go out here the same way: one event per round.
        while self._departures:
            nick, reason = self._departures.popleft()
            self._publish(Left, nick, reason=reason)
            await trio.lowlevel.checkpoint()
        if self._crowded:
            self._crowded = False
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()

    def _publish(self, kind: type[Event], sender: str, **fields: Any) -> Event:
        self.seq += 1
        event = kind(room=self.name, seq=self.seq, time=utc_now(), sender=sender, **fields)
        if kind in _KEPT:
            history = self._history
            history.append(event)
            self._history_size += event.size
            while len(history) > self.history_events or self._history_size > self.history_bytes:
                dropped = history.popleft()
                self._history_size -= dropped.size
                self.forgotten = dropped.seq
        overflowed: list[Member] | None = None
        size = event.size
        crowded = 0
        for member in self._members:
            state = member._offer(event, size)
            if state > 0:
                crowded = 1
            elif state < 0:
                if overflowed is None:
                    overflowed = []
                overflowed.append(member)
        if crowded:
            self._crowded = True
        if overflowed:
            for member in overflowed:
                # Each disconnect publishes a Left here, which may overflow others in turn:
                # that recursion ends, since every step removes a member.
                self.hub.disconnect(member, SLOW_CONSUMER)
        return event

    def statistics(self) -> RoomStatistics:
        """The room's name, member count, events published and history kept."""
        return RoomStatistics(
            name=self.name,
            members=len(self._members),
            published=self.seq,
            history_events=len(self._history),
            history_bytes=self._history_size,
        )


def _validate_mask(mask: str) -> str:
    mask = mask.strip().casefold()
    if not mask or mask == "@" or not _MASK.fullmatch(mask):
        raise ChatError("a ban mask is NICK, @ADDRESS or NICK@ADDRESS, with * and ? wildcards")
    return mask


def _matches(mask: str, member: Member) -> bool:
    nick_pattern, _, address_pattern = mask.partition("@")
    if nick_pattern and not fnmatch.fnmatchcase(member.nick.casefold(), nick_pattern):
        return False
    return not address_pattern or fnmatch.fnmatchcase(member.address.casefold(), address_pattern)
