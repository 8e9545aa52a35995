"""The hub: rooms by name and members by nickname. The core of triochat, with no network.

A hub belongs to one trio run. Everything in it is owned by whichever task is running (trio runs
one at a time) and no method awaits while it changes state, so there are no locks and no table
that changes size while someone iterates it.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

import attrs

from ._member import DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES, Member
from ._room import Room

__all__ = [
    "DEFAULT_ROOM",
    "MAX_NICK_LENGTH",
    "ChatError",
    "Hub",
    "HubStatistics",
    "InvalidNick",
    "NickInUse",
    "NotInRoom",
    "validate_nick",
]

#: The room every network client starts in.
DEFAULT_ROOM: Final = "lobby"
MAX_NICK_LENGTH: Final = 24
# A letter or underscore, then letters, digits and a few punctuation marks IRC users expect.
_NICK: Final = re.compile(r"[^\W\d][\w\-\[\]{}|^`]*")


class ChatError(Exception):
    """Base class of errors a user can cause and be told about (a bad nick, a bad room...)."""


class InvalidNick(ChatError):
    pass


class NickInUse(ChatError):
    pass


class NotInRoom(ChatError):
    pass


def validate_nick(nick: str) -> str:
    """Return *nick* if it is acceptable, else raise :exc:`InvalidNick` saying why."""
    if not 1 <= len(nick) <= MAX_NICK_LENGTH:
        raise InvalidNick(f"a nick has 1 to {MAX_NICK_LENGTH} characters")
    if not _NICK.fullmatch(nick):
        raise InvalidNick(
            "a nick starts with a letter or '_' and has only letters, digits and _-[]{}|^`"
        )
    return nick


@attrs.frozen(kw_only=True)
class HubStatistics:
    members: int
    rooms: int


@attrs.define(eq=False, kw_only=True)
class Hub:
    """Rooms and nicknames.

    Args:
      outbox_events: default bound, in events, of each member's outbox.
      outbox_bytes: default bound, in bytes, of each member's outbox.
      guest_prefix: nicks given to members that did not choose one are ``guest-1``, ``guest-2``...
      announce_limit: in a room with more members than this, joins, leaves and nick changes
        are told only to the member concerned, not announced to the room (as large IRC and
        Twitch channels do: announcing each of *n* joins to everyone present is *n*²/2 lines).
        ``None`` (the default): always announce.

    Nicknames are unique, compared case-insensitively.
    """

    outbox_events: int = DEFAULT_OUTBOX_MESSAGES
    outbox_bytes: int = DEFAULT_OUTBOX_BYTES
    guest_prefix: str = "guest"
    announce_limit: int | None = None
    _rooms: dict[str, Room] = attrs.field(factory=dict, init=False)
    _nicks: dict[str, Member] = attrs.field(factory=dict, init=False)
    _guest_numbers: itertools.count[int] = attrs.field(
        factory=lambda: itertools.count(1), init=False
    )

    # ---------------------------------------------------------------------------- members

    def connect(
        self,
        nick: str | None = None,
        *,
        max_events: int | None = None,
        max_bytes: int | None = None,
    ) -> Member:
        """Create a member with *nick* (or a fresh guest nick). It is in no room yet.

        Raises :exc:`InvalidNick` or :exc:`NickInUse`.
        """
        if nick is None:
            nick = self._guest_nick()
        else:
            self._check_free(validate_nick(nick))
        member = Member(
            hub=self,
            nick=nick,
            max_events=self.outbox_events if max_events is None else max_events,
            max_bytes=self.outbox_bytes if max_bytes is None else max_bytes,
        )
        self._nicks[nick.casefold()] = member
        return member

    def _guest_nick(self) -> str:
        while True:
            nick = f"{self.guest_prefix}-{next(self._guest_numbers)}"
            if nick.casefold() not in self._nicks:
                return nick

    def _check_free(self, nick: str, member: Member | None = None) -> None:
        holder = self._nicks.get(nick.casefold())
        if holder is not None and holder is not member:
            raise NickInUse(f"the nick {nick} is taken")

    def member(self, nick: str) -> Member | None:
        """The member called *nick* (any case), if connected."""
        return self._nicks.get(nick.casefold())

    @property
    def members(self) -> list[Member]:
        return list(self._nicks.values())

    def rename(self, member: Member, nick: str) -> None:
        """Change *member*'s nick and announce it in every room it is in.

        Raises :exc:`InvalidNick`, :exc:`NickInUse`, or :exc:`ChatError` if *member* has been
        disconnected.
        """
        if not member.connected or self._nicks.get(member.nick.casefold()) is not member:
            raise ChatError(f"{member.nick} is not connected")
        self._check_free(validate_nick(nick), member)
        old = member.nick
        if old == nick:
            return
        del self._nicks[old.casefold()]
        self._nicks[nick.casefold()] = member
        member.nick = nick
        for room in list(member.rooms.values()):
            room.announce_nick(old, nick)

    def disconnect(self, member: Member, reason: str, *, announce: bool = True) -> None:
        """Remove *member* from every room (announcing *reason*, if *announce*) and the hub.

        Idempotent. If the reason is that the member was too slow, its queued events are
        discarded at once; otherwise the owner can still read what was queued.
        """
        if not member.connected:
            return
        from ._member import SLOW_CONSUMER

        # Mark it gone first, so that the Left events below are not delivered to it.
        member.removed_reason = reason
        if self._nicks.get(member.nick.casefold()) is member:
            del self._nicks[member.nick.casefold()]
        for room in list(member.rooms.values()):
            room.part(member, reason, announce=announce)
            if not room and room.name != DEFAULT_ROOM:
                self._rooms.pop(room.name, None)
        member._close(reason, discard=reason == SLOW_CONSUMER)

    # ---------------------------------------------------------------------------- rooms

    def room(self, name: str = DEFAULT_ROOM) -> Room:
        """The room called *name*, created if it does not exist yet."""
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = Room(hub=self, name=name)
        return room

    @property
    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def statistics(self) -> HubStatistics:
        return HubStatistics(members=len(self._nicks), rooms=len(self._rooms))
