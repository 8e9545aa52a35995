"""The hub: rooms by name and members by nickname. The core of triochat, with no network.

A hub belongs to one trio run. Everything in it is owned by whichever task is running (trio runs
one at a time) and no method awaits while it changes state, so there are no locks and no table
that changes size while someone iterates it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Final

import attrs

from ._directory import Directory
from ._errors import (
    ChatError,
    ErrorCode,
    InvalidRoom,
    NickInUse,
    NoSuchNick,
    NotInRoom,
    TooManyRooms,
)
from ._events import DEFAULT_ROOM, Event, Private
from ._log import HistoryBudget, MemoryLog, RoomLogFactory
from ._member import DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES, SLOW_CONSUMER, Member
from ._nicks import (
    MAX_NICK_LENGTH,
    MAX_ROOM_NAME_LENGTH,
    fold_case,
    look_key,
    nick_key,
    normalize_room_name,
    validate_nick,
)
from ._room import DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_EVENTS, Room
from ._text import sanitize

__all__ = [
    "DEFAULT_HISTORY_TOTAL_BYTES",
    "DEFAULT_MAX_ROOMS",
    "DEFAULT_ROOM",
    "DEFAULT_ROOMS_PER_MEMBER",
    "MAX_NICK_LENGTH",
    "MAX_ROOM_NAME_LENGTH",
    "Hub",
    "HubStatistics",
    "normalize_room_name",
    "validate_nick",
]

#: Rooms that may exist at once.
DEFAULT_MAX_ROOMS: Final = 1000
#: Rooms one member may be in at once.
DEFAULT_ROOMS_PER_MEMBER: Final = 20
#: Bound of the history of all rooms together, in bytes of memory (256 rooms with a full
#: history of the default size).
DEFAULT_HISTORY_TOTAL_BYTES: Final = 32 * 1024 * 1024


@attrs.frozen(kw_only=True)
class HubStatistics:
    """A snapshot of a hub.

    Attributes:
      members: members connected to the hub.
      rooms: rooms that exist (the default room always does, once asked for).
      history_bytes: the memory the history of every room holds, in bytes.
    """

    members: int
    rooms: int
    history_bytes: int


@attrs.define(eq=False, kw_only=True)
class Hub:
    """Rooms and nicknames.

    Args:
      outbox_events: default bound, in events, of each member's outbox.
      outbox_bytes: default bound, in bytes, of each member's outbox.
      guest_prefix: nicks given to members that did not choose one are ``guest-1``, ``guest-2``...
      announce_limit: in a room with more members than this, joins, leaves and nick changes
        are told only to the member concerned, not announced to the room (as large IRC and
        Twitch channels do: announcing each of n joins to everyone present is n²/2 lines).
        ``None`` (the default): always announce.
      max_rooms: rooms that may exist at once (the default room included).
      rooms_per_member: rooms one member may be in at once.
      history_events, history_bytes: how much history each room keeps and replays to newcomers:
        at most *history_events* events, holding at most *history_bytes* bytes of memory (the
        events, their text, their renderings and history copies, all counted).
      history_total_bytes: bound of the memory the history of all rooms holds together; past it,
        the oldest events of the rooms with the largest history go, until 7/8 of it is left.
      room_log: opens each room's log, ``room_log(hub, room_name, deliver)``: its order,
        history and state (see :class:`~triochat.RoomLog`). The default, :class:`MemoryLog`,
        keeps them in memory within the three history bounds above.
      directory: the members of other processes that share these rooms through an engine
        (see :class:`~triochat.core._directory.Directory`): their nicks are taken here too,
        and private messages reach them. ``None`` (the default): this hub is alone.

    Nicknames are unique ignoring case and look-alikes: while ``alice`` is connected, ``ALICE``,
    ``аlice`` (a Cyrillic ``а``) and ``AIice`` (a capital ``I``) are taken too. Room names are
    unique ignoring case. Both are normalised to NFKC (the :doc:`protocol </protocol>` gives the
    rules).
    """

    outbox_events: int = DEFAULT_OUTBOX_MESSAGES
    outbox_bytes: int = DEFAULT_OUTBOX_BYTES
    guest_prefix: str = "guest"
    announce_limit: int | None = None
    max_rooms: int = DEFAULT_MAX_ROOMS
    rooms_per_member: int = DEFAULT_ROOMS_PER_MEMBER
    history_events: int = DEFAULT_HISTORY_EVENTS
    history_bytes: int = DEFAULT_HISTORY_BYTES
    history_total_bytes: int = DEFAULT_HISTORY_TOTAL_BYTES
    room_log: RoomLogFactory = MemoryLog
    #: Members held by other processes sharing these rooms (an engine's), if any.
    directory: Directory | None = None
    _rooms: dict[str, Room] = attrs.field(factory=dict, init=False)
    # Members by nick_key (how they are found) and by look_key (so that no newcomer looks like
    # them in any case): see triochat/core/_nicks.py for why one key is not enough.
    _nicks: dict[str, Member] = attrs.field(factory=dict, init=False)
    _looks: dict[str, Member] = attrs.field(factory=dict, init=False)
    _guest_numbers: itertools.count[int] = attrs.field(
        factory=lambda: itertools.count(1), init=False
    )
    # The memory the history of every MemoryLog holds, and its cap (history_total_bytes).
    _history_budget: HistoryBudget = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.history_events < 0 or self.history_bytes < 0 or self.history_total_bytes < 0:
            raise ValueError("history bounds cannot be negative")
        # A newcomer gets the whole history at once; it must fit in an outbox with room to spare.
        if self.history_events * 2 > self.outbox_events:
            raise ValueError(
                f"history_events ({self.history_events}) must be at most half of "
                f"outbox_events ({self.outbox_events})"
            )
        self._history_budget = HistoryBudget(self.history_total_bytes)

    # ---------------------------------------------------------------------------- members

    def connect(
        self,
        nick: str | None = None,
        *,
        max_events: int | None = None,
        max_bytes: int | None = None,
        address: str = "",
    ) -> Member:
        """Create a member with *nick* (or a fresh guest nick). It is in no room yet.

        *address* is where it connects from, matched by address bans.

        Raises :exc:`InvalidNick` or :exc:`NickInUse`.
        """
        if nick is None:
            nick = self._guest_nick()
        else:
            nick = validate_nick(nick)
            self._check_free(nick)
        member = Member(
            hub=self,
            nick=nick,
            max_events=self.outbox_events if max_events is None else max_events,
            max_bytes=self.outbox_bytes if max_bytes is None else max_bytes,
            address=address,
        )
        self._hold(member)
        return member

    def _guest_nick(self) -> str:
        while True:
            nick = f"{self.guest_prefix}-{next(self._guest_numbers)}"
            if self._holder(nick) is None and (
                self.directory is None or self.directory.holder(nick) is None
            ):
                return nick

    def _holder(self, nick: str) -> Member | None:
        """The member whose nick is *nick* or looks like it, if any."""
        holder = self._nicks.get(nick_key(nick))
        return holder if holder is not None else self._looks.get(look_key(nick))

    def _check_free(self, nick: str, member: Member | None = None) -> None:
        holder = self._holder(nick)
        taken = holder.nick if holder is not None and holder is not member else None
        if taken is None and self.directory is not None:
            taken = self.directory.holder(nick)
        if taken is not None:
            if taken.casefold() == nick.casefold():
                raise NickInUse(f"the nick {nick} is taken", nick=nick)
            raise NickInUse(
                f"the nick {nick} looks like {taken}, which is taken", nick=nick, like=taken
            )

    def _hold(self, member: Member) -> None:
        # The keys are kept for as long as the member: where they are equal to the nick (or to
        # each other), the tables hold one string, not three (0.06 KiB each, per member).
        nick = member.nick
        key = nick_key(nick)
        key = nick if key == nick else key
        look = look_key(nick)
        look = key if look == key else nick if look == nick else look
        self._nicks[key] = member
        self._looks[look] = member
        if self.directory is not None:
            self.directory.held(member.nick)

    def _release(self, member: Member) -> None:
        for table, key in ((self._nicks, nick_key), (self._looks, look_key)):
            if table.get(key(member.nick)) is member:
                del table[key(member.nick)]
        if self.directory is not None:
            self.directory.released(member.nick)

    def member(self, nick: str) -> Member | None:
        """The member called *nick* (any case, or a look-alike of it), if connected."""
        return self._nicks.get(nick_key(nick))

    @property
    def members(self) -> list[Member]:
        """Every connected member (a copy, safe to keep while members come and go)."""
        return list(self._nicks.values())

    def rename(self, member: Member, nick: str) -> None:
        """Change *member*'s nick and announce it in every room it is in.

        A member in no room is told with a notice instead. Raises :exc:`InvalidNick`,
        :exc:`NickInUse`, or :exc:`ChatError` if *member* has been disconnected.
        """
        if not member.connected or self._nicks.get(nick_key(member.nick)) is not member:
            raise ChatError(
                f"{member.nick} is not connected", code=ErrorCode.NOT_CONNECTED, nick=member.nick
            )
        nick = validate_nick(nick)
        self._check_free(nick, member)
        old = member.nick
        if old == nick:
            return
        self._release(member)
        member.nick = nick
        self._hold(member)
        for room in list(member.rooms.values()):
            room.announce_nick(old, nick)
        if not member.rooms:
            member.notify(f"you are now known as {nick}", kind="nick", data={"nick": nick})

    def disconnect(self, member: Member, reason: str, *, announce: bool = True) -> None:
        """Remove *member* from every room (announcing *reason*, if *announce*) and the hub.

        Idempotent. If the reason is that the member was too slow, its queued events are
        discarded at once; otherwise the owner can still read what was queued.
        """
        if not member.connected:
            return
        # Mark it gone first, so that the Left events below are not delivered to it.
        member.removed_reason = reason
        self._release(member)
        for room in list(member.rooms.values()):
            self._leave(member, room, reason, announce=announce, quit=True)
        member._close(reason, discard=reason == SLOW_CONSUMER)

    def send_private(self, sender: Member, nick: str, text: str) -> Private:
        """Deliver a private message to the member called *nick*, and its echo to *sender*.

        Raises :exc:`NoSuchNick`. A recipient whose outbox is full is disconnected as too slow.
        """
        target = self.member(nick)
        if target is None and sender.connected and self.directory is not None:
            elsewhere = self.directory.send_private(sender, nick, text)
            if elsewhere is not None:  # held by another process: echo it here
                if not sender.deliver(elsewhere):
                    self.disconnect(sender, SLOW_CONSUMER)
                return elsewhere
        if target is None or not sender.connected:
            raise NoSuchNick(f"nobody is called {nick}", nick=nick)
        event = Private(
            sender=sender.nick, target=target.nick, text=sanitize(text, keep_formatting=True)
        )
        for member in (target, sender) if target is not sender else (sender,):
            if not member.deliver(event):
                self.disconnect(member, SLOW_CONSUMER)
        return event

    # ---------------------------------------------------------------------------- rooms

    def room(self, name: str = DEFAULT_ROOM) -> Room:
        """The room called *name* (``#`` optional, any case), created if it does not exist.

        Raises :exc:`InvalidRoom`, or :exc:`TooManyRooms` if it would be one room too many.
        """
        name = normalize_room_name(name)
        room = self._rooms.get(fold_case(name))
        if room is None:
            if len(self._rooms) >= self.max_rooms:
                raise TooManyRooms(
                    f"the server has its maximum of {self.max_rooms} rooms",
                    code=ErrorCode.SERVER_ROOMS_FULL,
                    limit=self.max_rooms,
                )
            room = self._rooms[fold_case(name)] = Room(hub=self, name=name)
        return room

    def find_room(self, name: str) -> Room | None:
        """The room called *name* (``#`` optional, any case), if it exists."""
        try:
            return self._rooms.get(fold_case(normalize_room_name(name)))
        except InvalidRoom:
            return None

    def join(
        self, member: Member, name: str, *, replay: Callable[[Room], list[Event]] | None = None
    ) -> Room:
        """Put *member* in the room *name* (created on demand) and make it its current room.

        Joining a room the member is already in only makes it current. Raises
        :exc:`InvalidRoom`, :exc:`TooManyRooms`, or :exc:`ChatError` if *member* has been
        disconnected (a notice that overflowed its outbox, say).
        """
        if not member.connected:
            raise ChatError(
                f"{member.nick} is not connected", code=ErrorCode.NOT_CONNECTED, nick=member.nick
            )
        existing = self.find_room(name)
        if existing is not None and existing in member.rooms.values():
            member.current_room = existing
            return existing
        if len(member.rooms) >= self.rooms_per_member:
            raise TooManyRooms(
                f"you are already in {self.rooms_per_member} rooms", limit=self.rooms_per_member
            )
        room = self.room(name)
        room.join(member, replay=replay)  # replay: see Room.join
        return room

    def part(self, member: Member, name: str | None = None, reason: str = "") -> Room:
        """Take *member* out of room *name* (default: its current room), announcing *reason*.

        An empty room other than the default room is removed. Raises :exc:`NotInRoom`.
        """
        room = member.current_room if name is None else self.find_room(name)
        if room is None or room.name not in member.rooms:
            if name is None:
                raise NotInRoom("you are not in any room", code=ErrorCode.NO_ROOM)
            raise NotInRoom(f"you are not in {name}", room=name)
        self._leave(member, room, reason, announce=True)
        return room

    def _leave(
        self, member: Member, room: Room, reason: str, *, announce: bool, quit: bool = False
    ) -> None:
        room.part(member, reason, announce=announce, quit=quit)
        self.forget_if_empty(room)

    def forget_if_empty(self, room: Room) -> None:
        """Remove *room* if nobody is in it any more (the default room always stays)."""
        if (
            not room
            and room.name != DEFAULT_ROOM
            and self._rooms.pop(fold_case(room.name), None) is room
        ):
            room._close()

    @property
    def rooms(self) -> list[Room]:
        """Every room that exists (a copy). Empty rooms other than the default one are removed."""
        return list(self._rooms.values())

    def statistics(self) -> HubStatistics:
        """Counts of members and rooms, and the memory their history holds."""
        return HubStatistics(
            members=len(self._nicks),
            rooms=len(self._rooms),
            history_bytes=self._history_budget.total,
        )
