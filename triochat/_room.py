"""Rooms: a set of members and one total order of events.

Publishing is synchronous and single-owner: trio runs one task at a time, and a room hands each
event to every member's outbox in one loop with no ``await`` inside it, so every member sees the
room's events in the same order with no gaps, and nothing can change the member table while the
loop runs. Members that cannot take an event are collected and disconnected *after* the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._events import Action, Event, Joined, Left, Message, NickChanged, utc_now

if TYPE_CHECKING:
    from ._hub import Hub
    from ._member import Member

__all__ = ["Room", "RoomStatistics"]


@attrs.frozen(kw_only=True)
class RoomStatistics:
    name: str
    members: int
    published: int


@attrs.define(eq=False, kw_only=True)
class Room:
    """A chat room. Get one from :meth:`Hub.room <triochat.Hub.room>`.

    The room stamps every event with its name, the next sequence number, the UTC time and the
    sender's nick.
    """

    hub: Hub
    name: str
    #: Sequence number of the last event published (0 before the first).
    seq: int = attrs.field(default=0, init=False)
    _members: dict[Member, None] = attrs.field(factory=dict, init=False)
    # Set when a delivery left some outbox more than half full; cleared by _pace.
    _crowded: bool = attrs.field(default=False, init=False)

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
        """Add *member* (which becomes its current room) and announce it to everyone here."""
        if member.hub is not self.hub or not member.connected:
            raise ValueError(f"{member!r} is not connected to this room's hub")
        if member in self._members:
            member.current_room = self
            raise ValueError(f"{member.nick} is already in {self.name}")
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
        member.rooms.pop(self.name, None)
        if member.current_room is self:
            member.current_room = next(reversed(member.rooms.values()), None)
        if announce:
            self._publish(Left, member.nick, reason=reason)

    def announce_nick(self, old: str, new: str) -> None:
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
            from ._member import SLOW_CONSUMER

            self.hub.disconnect(member, SLOW_CONSUMER)

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
        if self._crowded:
            self._crowded = False
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()

    def _publish(self, kind: type[Event], sender: str, **fields: Any) -> Event:
        self.seq += 1
        event = kind(room=self.name, seq=self.seq, time=utc_now(), sender=sender, **fields)
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
            from ._member import SLOW_CONSUMER

            for member in overflowed:
                # Each disconnect publishes a Left here, which may overflow others in turn:
                # that recursion ends, since every step removes a member.
                self.hub.disconnect(member, SLOW_CONSUMER)
        return event

    def statistics(self) -> RoomStatistics:
        return RoomStatistics(name=self.name, members=len(self._members), published=self.seq)
