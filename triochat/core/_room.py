"""Rooms: a set of members and one total order of events.

Publishing is synchronous and single-owner: trio runs one task at a time, and a room hands each
event to every member's outbox in one loop with no ``await`` inside it, so every member sees the
room's events in the same order with no gaps, and nothing can change the member table while the
loop runs. Members that cannot take an event are collected and disconnected *after* the loop.

What a room remembers (its ``seq``, its history, its topic, operators and bans) is in its log
(``_log.py``): the room publishes through the log, and the log hands each stamped event back to
the room's fan-out, :meth:`Room._deliver`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._departures import Departures
from ._errors import Banned, ChatError, ErrorCode, NotInRoom, NotOperator
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
from ._log import RoomLog
from ._masks import matches as _matches
from ._masks import validate_mask as _validate_mask
from ._member import SLOW_CONSUMER
from ._nicks import nick_key
from ._statistics import RoomStatistics
from ._text import sanitize

if TYPE_CHECKING:
    from ._hub import Hub
    from ._member import Member

__all__ = ["DEFAULT_HISTORY_BYTES", "DEFAULT_HISTORY_EVENTS", "Room", "RoomStatistics"]

#: Events a room keeps for members who join later (and for ``/history``).
DEFAULT_HISTORY_EVENTS: Final = 100
#: Bound of a room's history in bytes of memory: every event kept, with its strings, its
#: renderings and its history copy (see docs/operations.md). About a hundred ordinary lines.
DEFAULT_HISTORY_BYTES: Final = 128 * 1024
#: Longest topic, in characters.
MAX_TOPIC_LENGTH: Final = 300
#: Bans one room may hold.
MAX_BANS: Final = 100


def _nick_key(nick: str) -> str:
    # The one place a room turns a nick into the key its operators are kept under and members
    # are found by: the hub's own comparison of nicks (look-alikes and case folded away).
    return nick_key(nick)


@attrs.define(eq=False, kw_only=True)
class Room(Departures):
    """A chat room. Get one from :meth:`Hub.room <triochat.Hub.room>`.

    The room's log (the hub's ``room_log``, by default a :class:`~triochat.MemoryLog`) stamps
    every event with the room's name, the next sequence number, the UTC time and the sender's
    nick. It keeps the last ``history_events`` messages, actions and topic changes (as many of
    them as fit in ``history_bytes`` bytes of memory, counting every form memory holds them in),
    which the room replays, marked as history, to each member that joins, right before that
    member's own :class:`Joined` event. The hub may take the oldest of them sooner, to keep the
    history of all rooms within :attr:`Hub.history_total_bytes <triochat.Hub>`.
    """

    hub: Hub
    name: str
    _members: dict[Member, None] = attrs.field(factory=dict, init=False)
    # The room's order, history and state; opened by the hub's room_log factory.
    _log: RoomLog = attrs.field(init=False)
    # Set when a delivery left some outbox more than half full; cleared by _pace.
    _crowded: bool = attrs.field(default=False, init=False)
    # Slow consumers cut off but not yet announced, as (nick, reason): see _announce_departures.
    _departures: deque[tuple[str, str]] = attrs.field(factory=deque, init=False)
    # True while _announce_departures publishes, so that those publications do not recurse.
    _announcing: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._log = self.hub.room_log(self.hub, self.name, self._deliver)

    @property
    def log(self) -> RoomLog:
        """The log that keeps the room's order, history and state (a :class:`~triochat.RoomLog`)."""
        return self._log

    @property
    def seq(self) -> int:
        """Sequence number of the last event published (0 before the first)."""
        return self._log.seq

    @property
    def forgotten(self) -> int:
        """The sequence number of the newest event the history has forgotten, 0 if none yet. A
        client that saw the room only up to an earlier number missed events it cannot get back."""
        return self._log.forgotten

    @property
    def topic(self) -> str:
        """The topic, ``""`` if none."""
        return self._log.state.topic

    @property
    def operators(self) -> frozenset[str]:
        """Who may kick, ban and promote here (besides server admins), as nick keys (the nick
        case-folded): whoever creates a room (other than the default room) is its first
        operator, keeps it through a change of nick, and loses it on leaving."""
        return self._log.state.operators

    @property
    def bans(self) -> list[str]:
        """The ban masks, each ``NICK``, ``@ADDRESS`` or ``NICK@ADDRESS``, with ``*`` and ``?``."""
        return list(self._log.state.bans)

    def __repr__(self) -> str:
        return f"<Room {self.name!r} members={len(self._members)}>"

    @property
    def members(self) -> list[Member]:
        """The members, in the order they joined; a copy, safe to keep."""
        return list(self._members)

    @property
    def nicks(self) -> list[str]:
        """The members' nicks, in the order they joined (then those of :attr:`others`)."""
        return [member.nick for member in self._members] + list(self._log.others)

    @property
    def others(self) -> list[str]:
        """The nicks of members held by other processes sharing this room (through an
        engine); empty for a room of this process only."""
        return list(self._log.others)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __len__(self) -> int:
        return len(self._members)

    # ---------------------------------------------------------------------------- membership

    def join(
        self, member: Member, *, replay: Callable[[Room], list[Event]] | None = None
    ) -> Joined:
        """Add *member* (which becomes its current room) and announce it to everyone here.

        The new member first receives the room's history (copies of the last events, marked
        ``history=True``), then its own :class:`Joined` event, then live events: no gap, no
        duplicate, because nothing can be published between the two steps. *replay*, if
        given, is called (at that moment, with this room) for the events to send instead of
        the history: what a reconnecting client missed (see ``_recovery.py``).
        """
        if member.hub is not self.hub or not member.connected:
            raise ValueError(f"{member!r} is not connected to this room's hub")
        if member in self._members:
            member.current_room = self
            raise ValueError(f"{member.nick} is already in {self.name}")
        if self.is_banned(member):
            raise Banned(f"you are banned from {self.name}", room=self.name)
        if not self._members and not self._log.state.operators and self.name != DEFAULT_ROOM:
            # A new room's creator runs it; so does whoever comes back first to a room that
            # emptied, which a durable log keeps (leaving costs an operator its status).
            self._set_operator(member.nick, True)
        if self._departures:
            # Announced before the newcomer is in the room (those a crowded room still holds
            # back come after its Joined): its view starts with its history and its own Joined,
            # not with the departures of members it never saw here.
            self._announce_departures()
        # recent() is a copy: making a history copy charges the history, which may evict.
        events = self._log.recent() if replay is None else replay(self)
        for event in events:
            if not member.deliver(event.as_history()):
                break  # its outbox is smaller than the history: the live events will tell
        self._members[member] = None
        member.rooms[self.name] = self
        member.current_room = self
        if self._quiet():
            joined = Joined(room=self.name, time=utc_now(), sender=member.nick)
            self._tell(member, joined)
            return joined
        event = self._publish(Joined, member.nick, departures_first=False)
        assert isinstance(event, Joined)
        return event

    def part(
        self, member: Member, reason: str = "", *, announce: bool = True, quit: bool = False
    ) -> None:
        """Remove *member* and tell those who stay (if *announce*), as leaving the server if
        *quit*. Unknown members are ignored."""
        if member not in self._members:
            return
        announce = announce and not self._quiet()
        del self._members[member]
        self._set_operator(member.nick, False)
        member.rooms.pop(self.name, None)
        if member.current_room is self:
            member.current_room = next(reversed(member.rooms.values()), None)
        if not announce:
            return
        if reason == SLOW_CONSUMER:
            # Many members can overflow on the same event (a hundred clients that never read);
            # announcing all their departures at once would put that many events in every
            # healthy outbox with no chance to drain, and cut the healthy members off too. So
            # they wait in a queue that is announced with care (_announce_departures).
            self._departures.append((member.nick, reason))
        else:
            # Reasons come from clients (an IRC PART or QUIT) as well as the server.
            reason = sanitize(reason, keep_formatting=True)
            self._publish(Left, member.nick, reason=reason, quit=quit)

    def announce_nick(self, old: str, new: str) -> None:
        """Publish a :class:`NickChanged` event, and move operator status from *old* to *new*.

        :meth:`Hub.rename` calls it for every room the member is in.
        """
        state = self._log.state
        old_key, new_key = _nick_key(old), _nick_key(new)
        if old_key in state.operators and new_key != old_key:
            operators = state.operators - {old_key} | {new_key}
            self._log.set_state(attrs.evolve(state, operators=operators))
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
            raise NotInRoom(f"you are not in {self.name}", room=self.name)
        if len(text) > MAX_TOPIC_LENGTH:
            raise ChatError(
                f"a topic has at most {MAX_TOPIC_LENGTH} characters",
                code=ErrorCode.TOPIC_TOO_LONG,
                limit=MAX_TOPIC_LENGTH,
            )
        text = sanitize(text, keep_formatting=True)
        self._log.set_state(attrs.evolve(self._log.state, topic=text))
        event = self._publish(TopicChanged, member.nick, text=text)
        assert isinstance(event, TopicChanged)
        return event

    # ---------------------------------------------------------------------------- moderation

    def is_operator(self, member: Member) -> bool:
        """Whether *member* may moderate this room: an operator of it, or a server admin."""
        return member.is_admin or _nick_key(member.nick) in self._log.state.operators

    def is_banned(self, member: Member) -> bool:
        """Whether a ban matches *member* (admins are never banned)."""
        bans = self._log.state.bans
        return not member.is_admin and any(_matches(mask, member) for mask in bans)

    def _set_operator(self, nick: str, operator: bool) -> None:
        state = self._log.state
        key = _nick_key(nick)
        if (key in state.operators) != operator:
            operators = state.operators | {key} if operator else state.operators - {key}
            self._log.set_state(attrs.evolve(state, operators=operators))

    def _check_operator(self, actor: Member) -> None:
        if not self.is_operator(actor):
            raise NotOperator(f"you are not an operator of {self.name}", room=self.name)

    def _member_named(self, nick: str) -> Member:
        key = _nick_key(nick)
        for member in self._members:
            if _nick_key(member.nick) == key:
                return member
        raise NotInRoom(
            f"{nick} is not in {self.name}",
            code=ErrorCode.USER_NOT_IN_ROOM,
            nick=nick,
            room=self.name,
        )

    def _other_named(self, nick: str) -> str | None:
        """The nick of a member of another process called *nick*, unless this one has it."""
        key = _nick_key(nick)
        if any(_nick_key(member.nick) == key for member in self._members):
            return None
        return next((other for other in self._log.others if _nick_key(other) == key), None)

    def kick(self, actor: Member, nick: str, reason: str = "") -> Kicked:
        """Remove the member called *nick*; everyone here, the target included, sees why.

        Raises :exc:`NotOperator` or :exc:`NotInRoom`. Only an admin can kick an admin.
        """
        self._check_operator(actor)
        elsewhere = self._other_named(nick)
        if elsewhere is not None:  # its own process removes it when the kick is delivered
            kicked = self._publish(
                Kicked, actor.nick, target=elsewhere, reason=sanitize(reason, keep_formatting=True)
            )
            assert isinstance(kicked, Kicked)
            return kicked
        target = self._member_named(nick)
        if target.is_admin and not actor.is_admin:
            raise NotOperator(
                f"{target.nick} is a server admin", code=ErrorCode.TARGET_IS_ADMIN, nick=target.nick
            )
        event = self._publish(
            Kicked, actor.nick, target=target.nick, reason=sanitize(reason, keep_formatting=True)
        )
        assert isinstance(event, Kicked)  # delivered, it removed the target (_deliver)
        return event

    def set_operator(self, actor: Member, nick: str, *, operator: bool) -> OperatorChanged:
        """Make the member called *nick* an operator here, or take that away."""
        self._check_operator(actor)
        target = self._member_named(nick)
        self._set_operator(target.nick, operator)
        event = self._publish(OperatorChanged, actor.nick, target=target.nick, operator=operator)
        assert isinstance(event, OperatorChanged)
        return event

    def ban(self, actor: Member, mask: str) -> BanChanged:
        """Ban *mask* and remove the members it matches (except admins)."""
        self._check_operator(actor)
        mask = self.add_ban(mask)
        event = self._publish(BanChanged, actor.nick, mask=mask, banned=True)
        assert isinstance(event, BanChanged)  # delivered, it removed whom it matches (_deliver)
        return event

    def add_ban(self, mask: str) -> str:
        """Add the ban *mask* (as the server: no operator, no announcement, nobody removed);
        return it as kept (normalised). Raises :exc:`ChatError` for a bad mask or too many."""
        mask = _validate_mask(mask)
        state = self._log.state
        if mask not in state.bans:
            if len(state.bans) >= MAX_BANS:
                raise ChatError(
                    f"{self.name} already has {MAX_BANS} bans",
                    code=ErrorCode.TOO_MANY_BANS,
                    room=self.name,
                    limit=MAX_BANS,
                )
            self._log.set_state(attrs.evolve(state, bans=(*state.bans, mask)))
        return mask

    def unban(self, actor: Member, mask: str) -> BanChanged:
        """Lift the ban *mask* and announce it. *actor* must be an operator of the room.

        Raises :exc:`NotOperator`, or :exc:`ChatError` if *mask* is not banned here.
        """
        self._check_operator(actor)
        mask = _validate_mask(mask)
        state = self._log.state
        if mask not in state.bans:
            raise ChatError(
                f"{mask} is not banned in {self.name}",
                code=ErrorCode.NOT_BANNED,
                mask=mask,
                room=self.name,
            )
        bans = tuple(ban for ban in state.bans if ban != mask)
        self._log.set_state(attrs.evolve(state, bans=bans))
        event = self._publish(BanChanged, actor.nick, mask=mask, banned=False)
        assert isinstance(event, BanChanged)
        return event

    def recent(self, count: int | None = None, *, before: int | None = None) -> list[Event]:
        """The last *count* events kept in the history (all of them if ``None``), oldest first;
        with *before*, only those whose sequence number is lower. From memory, at once."""
        return self._log.recent(count, before=before)

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        """Kept events, oldest first: the last *count* before sequence number *before* (or the
        newest), or with *after*, the first *count* after it. ``count=None``: all the log holds
        in memory. A log that keeps more than memory (on disk) may reach further back, and
        wait for it; the default log answers at once."""
        return await self._log.history(count, before=before, after=after)

    # ---------------------------------------------------------------------------- publishing

    async def publish_message(self, sender: Member, text: str) -> Message:
        """Publish *text* as a :class:`Message` from *sender*; :meth:`Member.say` calls this."""
        if self._departures:
            await self._settle_departures()
        event = self._publish(Message, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Message)
        return event

    async def publish_action(self, sender: Member, text: str) -> Action:
        """Publish *text* as an :class:`Action` from *sender*; :meth:`Member.act` calls this."""
        if self._departures:
            await self._settle_departures()
        event = self._publish(Action, sender.nick, text=text)
        await self._pace()
        assert isinstance(event, Action)
        return event

    def _publish(
        self, kind: type[Event], sender: str, *, departures_first: bool = True, **fields: Any
    ) -> Event:
        if self._departures and departures_first and not self._announcing:
            self._announce_departures()
        # The log stamps the event and hands it to _deliver before it returns it.
        return self._log.append(kind, sender, fields)

    def _deliver(self, event: Event) -> None:
        """The fan-out: offer *event* to every member, then cut off those who could not take
        it. The room's log calls it with each event it stamps, once, in order."""
        overflowed: list[Member] | None = None
        size = event.size
        crowded = 0
        for member in self._members:
            state = member._offer(event, size)
            if state:  # the common case, 0, is one test
                if state > 0:
                    crowded = 1
                else:
                    if overflowed is None:
                        overflowed = []
                    overflowed.append(member)
        if crowded:
            self._crowded = True
        if overflowed:
            for member in overflowed:
                self.hub.disconnect(member, SLOW_CONSUMER)  # queues its departure
            if not crowded and not self._announcing:
                self._announce_departures()  # at once, unless this event crowded an outbox
        if isinstance(event, Kicked):
            # The kick takes effect here, once everyone (the target included) has been offered
            # it: with a log whose order is made remotely this is the moment it is in the
            # order, and a kick made by another process reaches this process's member only so.
            self._remove_kicked(event.target)
        elif isinstance(event, BanChanged) and event.banned:
            # So too a ban: each process kicks its own members that it matches.
            self._kick_banned(event)

    def _kick_banned(self, event: BanChanged) -> None:
        actor = _nick_key(event.sender)
        for member in [m for m in self._members if _matches(event.mask, m)]:
            if not member.is_admin and _nick_key(member.nick) != actor:
                self._publish(Kicked, event.sender, target=member.nick, reason="banned")

    def _remove_kicked(self, nick: str) -> None:
        key = _nick_key(nick)
        for member in self._members:
            if _nick_key(member.nick) == key:
                self.part(member, announce=False)
                return

    def _close(self) -> None:
        """The room is going away: close its log (which lets go of the history)."""
        self._log.close()

    def statistics(self) -> RoomStatistics:
        """The room's name, member count, events published and history kept."""
        return RoomStatistics(
            name=self.name,
            members=len(self._members),
            published=self._log.seq,
            history_events=self._log.history_events,
            history_bytes=self._log.history_bytes,
        )
