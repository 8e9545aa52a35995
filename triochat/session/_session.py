"""What a connected client does in the hub: carrying out its commands.

A :class:`Session` has no I/O of its own. The connection feeds it parsed commands; it acts on
the hub and answers through the member's outbox, so that every reply takes its place in the same
order as the room events around it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from ..core._errors import AuthenticationFailed, ChatError, NotInRoom
from ..core._hub import validate_nick
from ._auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Guard
from ._commands import (
    HELP_TEXT,
    Admin,
    Ban,
    Command,
    Format,
    Help,
    History,
    Join,
    Kick,
    Me,
    Msg,
    Nick,
    Op,
    Part,
    Pass,
    Quit,
    Register,
    Rooms,
    Say,
    Switch,
    Topic,
    Unknown,
    Unregister,
    Who,
)
from ._input import InputError, InputProblem
from ._reasons import CloseReason, seconds

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ..core._member import Member
    from ..core._room import Room
    from ._nick_store import NickStore, Registration

__all__ = ["Ending", "Session"]

#: Why a connection must end: the reason, and what the client said (its quit message) or ``""``.
Ending = tuple[CloseReason, str]

moderation_log = logging.getLogger("triochat.moderation")
auth_log = logging.getLogger("triochat.auth")

# Longest list of names that one text reply shows (the JSON reply has them all).
_LIST_LIMIT: Final = 100


class Session:
    """One client's commands, carried out on the hub on behalf of *member*."""

    __slots__ = ("authenticated", "guard", "hub", "member")

    def __init__(self, hub: Hub, member: Member, guard: Guard | None = None) -> None:
        self.hub = hub
        self.member = member
        self.guard = guard or Guard()
        #: False until the client gives the server password, on servers that have one.
        self.authenticated = self.guard.password is None

    def notify(
        self, text: str, *, error: bool = False, kind: str | None = None, **data: Any
    ) -> None:
        self.member.notify(f"error: {text}" if error else text, error=error, kind=kind, data=data)

    def start(self) -> None:
        """Greet the client: welcome it into the default room, or ask for the password."""
        if self.authenticated:
            self._enter()
        else:
            self.notify(
                f"welcome to triochat, {self.member.nick}! This server needs a password: "
                "send /pass PASSWORD (/quit leaves).",
                kind="password",
                nick=self.member.nick,
            )

    def _enter(self) -> None:
        room = self.hub.room()
        self.welcome(room)
        try:
            self.hub.join(self.member, room.name)
        except ChatError as exc:  # banned from the default room: still connected, in no room
            self.notify(str(exc), error=True)

    def welcome(self, room: Room) -> None:
        others = len(room)
        self.notify(
            f"welcome to triochat, {self.member.nick}! You are in {room.name} with {others} "
            f"other{'' if others == 1 else 's'}. /nick NAME sets your nick, /join #ROOM joins a "
            "room, /help lists the commands, /quit leaves.",
            kind="welcome",
            nick=self.member.nick,
            room=room.name,
        )

    def ping(self, idle: float) -> None:
        self.notify(
            f"ping: no complete line for {seconds(idle)}; send any line within {seconds(idle)} "
            "or you will be disconnected",
            kind="ping",
        )

    def input_error(self, error: InputError) -> None:
        """Answer a frame the client's codec could not read."""
        if error.problem is InputProblem.LINE_TOO_LONG:
            self.notify(f"line too long (the limit is {error.limit} bytes); discarded", error=True)
        else:
            self.notify(
                f"line is not valid UTF-8 (bad byte at offset {error.offset}); discarded",
                error=True,
            )

    def slow_down(self, rate: float, burst: int) -> None:
        """Tell the client that lines it sends faster than *rate* a second are discarded."""
        self.notify(
            f"slow down: at most {rate:g} lines a second, {burst} at once; lines sent faster "
            "are discarded",
            error=True,
        )

    async def execute(self, command: Command) -> Ending | None:
        """Carry out *command*. Returns why the connection must end (the reason and its
        detail), or ``None`` to go on.

        User errors (a bad nick, an unknown room...) become error notices, never exceptions.
        """
        try:
            if not self.authenticated and not isinstance(command, Pass | Quit | Help | Format):
                raise AuthenticationFailed("this server needs a password first: /pass PASSWORD")
            return await self._execute(command)
        except ChatError as exc:
            self.notify(str(exc), error=True)
            return None

    async def _execute(self, command: Command) -> Ending | None:
        hub, member = self.hub, self.member
        match command:
            case Say(text=text, room=room_name):
                await member.say(text, self._room(room_name))
            case Me(text=text, room=room_name):
                await member.act(text, self._room(room_name))
            case Nick(name=name, password=password):
                await self._rename(name, password)
            case Pass(password=password):
                await self._pass(password)
            case Admin(token=token):
                await self._admin(token)
            case Register(password=password):
                await self._register(password)
            case Unregister(password=password):
                await self._unregister(password)
            case Kick(nick=nick, reason=reason):
                room = self._current()
                room.kick(member, nick, reason)
                hub.forget_if_empty(room)
                moderation_log.info(
                    "%s kicked %s from %s (%s)", member.nick, nick, room.name, reason
                )
            case Op(nick=nick, grant=grant):
                room = self._current()
                room.set_operator(member, nick, operator=grant)
                moderation_log.info(
                    "%s %s %s in %s", member.nick, "opped" if grant else "deopped", nick, room.name
                )
            case Ban(mask=None):
                room = self._current()
                self.notify(
                    f"bans in {room.name}: {', '.join(room.bans) or 'none'}",
                    kind="bans",
                    room=room.name,
                    bans=list(room.bans),
                )
            case Ban(mask=mask, add=add):
                assert mask is not None
                room = self._current()
                if add:
                    room.ban(member, mask)
                    hub.forget_if_empty(room)
                else:
                    room.unban(member, mask)
                moderation_log.info(
                    "%s %s %s in %s", member.nick, "banned" if add else "unbanned", mask, room.name
                )
            case Quit(reason=reason):
                return CloseReason.QUIT, reason
            case Help():
                self.notify(HELP_TEXT, kind="help")
            case Who(room=room_name):
                self._who(self._room(room_name, must_be_in=False))
            case Join(room=name):
                room = hub.join(member, name)
                self.notify(f"now talking in {room.name}", kind="switch", room=room.name)
            case Part(room=name, reason=reason):
                room = hub.part(member, name, reason)
                current = member.current_room
                where = (
                    f"now talking in {current.name}"
                    if current is not None
                    else "you are in no room now; /join #ROOM"
                )
                self.notify(
                    f"you left {room.name}; {where}",
                    kind="switch",
                    room=current.name if current is not None else None,
                )
            case Switch(room=name):
                room = self._room(name)
                member.switch(room)
                self.notify(f"now talking in {room.name}", kind="switch", room=room.name)
            case Rooms():
                self._rooms()
            case Topic(text=None):
                room = self._current()
                self.notify(
                    f"topic of {room.name}: {room.topic}"
                    if room.topic
                    else f"{room.name} has no topic",
                    kind="topic",
                    room=room.name,
                    topic=room.topic,
                )
            case Topic(text=text):
                assert text is not None
                self._current().set_topic(member, "" if text == "-" else text)
            case Msg(nick=nick, text=text):
                hub.send_private(member, nick, text)
            case History(count=count, after=after, room=room_name):
                self._history(self._room(room_name), count, after)
            case Format(name=name):
                # The codec switched its input already; its output switches at this notice.
                current = member.current_room
                self.notify(
                    f"format is now {name}",
                    kind="format",
                    format=name,
                    nick=member.nick,
                    room=current.name if current is not None else None,
                )
            case Unknown(message=message):
                self.notify(message, error=True)
        return None

    # ---------------------------------------------------------------------------- passwords

    async def _check(self, target: str, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        """Run *check* (is the secret right?) in its turn for (*target*, the client's address).

        Over the throttle's limit the attempt is delayed, never refused: the client is told how
        long, and a right secret gets in when its turn comes. A wrong one is counted, logged and
        raised as :exc:`AuthenticationFailed` ("wrong *what*").
        """
        throttle = self.guard.throttle
        key = (target, self.member.address)
        delay = throttle.delay(key)
        if delay > 0:
            self.notify(
                f"too many failed attempts from your address: yours is checked in at most "
                f"{seconds(math.ceil(delay))}",
                kind="throttled",
                seconds=math.ceil(delay),
            )
        async with throttle.turn(key):
            if await check():
                return
            throttle.count(key)
        auth_log.warning("failed %s from %s (%s)", what, self.member.address, self.member.nick)
        raise AuthenticationFailed(f"wrong {what}")

    async def _pass(self, password: str) -> None:
        if self.authenticated:
            raise ChatError("you are already in")
        secret = self.guard.password
        assert secret is not None

        async def right() -> bool:
            return secret.matches(password)

        await self._check("pass", "password", right)
        self.authenticated = True
        self._enter()

    async def _admin(self, token: str) -> None:
        secret = self.guard.admin_token
        if secret is None:
            raise ChatError("this server has no admin token")

        async def right() -> bool:
            return secret.matches(token)

        await self._check("admin", "admin token", right)
        self.member.is_admin = True
        auth_log.warning("%s (%s) is now a server admin", self.member.nick, self.member.address)
        self.notify("you are now a server admin: an operator in every room", kind="admin")

    def _store(self) -> NickStore:
        if self.guard.nick_store is None:
            raise ChatError("this server does not keep registered nicks")
        return self.guard.nick_store

    async def _check_nick_password(
        self, nick: str, registration: Registration, password: str
    ) -> None:
        hasher, address = self.guard.hasher, self.member.address

        async def right() -> bool:
            return await hasher.matches(registration, password, address=address)

        await self._check(f"nick:{nick.casefold()}", f"password for {nick}", right)

    async def _rename(self, name: str, password: str | None) -> None:
        store = self.guard.nick_store
        if password is not None and store is None:
            # No registered nicks here: "/nick two words" is a typo, not a password.
            raise ChatError("usage: /nick NAME (a nick has no spaces)")
        if store is not None and name.casefold() != self.member.nick.casefold():
            validate_nick(name)
            registration = await store.lookup(name)
            if registration is not None:
                if password is None:
                    raise AuthenticationFailed(
                        f"the nick {name} is registered; /nick {name} PASSWORD"
                    )
                await self._check_nick_password(name, registration, password)
        self.hub.rename(self.member, name)

    async def _register(self, password: str) -> None:
        store = self._store()
        nick, address = self.member.nick, self.member.address
        if re.fullmatch(rf"{re.escape(self.hub.guest_prefix)}-\d+", nick):
            raise ChatError("choose a nick with /nick NAME before registering it")
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise ChatError(
                f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
            )
        # Cheap checks first: the expensive hash only for a registration that can succeed.
        if await store.lookup(nick) is not None:
            raise ChatError(f"the nick {nick} is registered already")
        throttle, key = self.guard.throttle, ("register", address)
        if not throttle.allowed(key):
            raise ChatError(
                "too many registrations from your address; try again in "
                f"{seconds(math.ceil(throttle.delay(key)))}"
            )
        throttle.count(key)
        registration = await self.guard.hasher.new(password, address=address)
        if not await store.add(nick, registration):  # someone was quicker
            raise ChatError(f"the nick {nick} is registered already")
        auth_log.info("%s registered by %s", nick, address)
        self.notify(
            f"the nick {nick} is now registered: nobody else can take it without the password",
            kind="registered",
            nick=nick,
        )

    async def _unregister(self, password: str) -> None:
        store = self._store()
        nick = self.member.nick
        registration = await store.lookup(nick)
        if registration is None:
            raise ChatError(f"the nick {nick} is not registered")
        await self._check_nick_password(nick, registration, password)
        await store.remove(nick)
        self.notify(f"the nick {nick} is no longer registered", kind="registered", nick=None)

    # ---------------------------------------------------------------------------- helpers

    def _current(self) -> Room:
        room = self.member.current_room
        if room is None:
            raise NotInRoom("you are not in any room; /join #ROOM")
        return room

    def _room(self, name: str | None, *, must_be_in: bool = True) -> Room:
        """The room called *name*, or the current room for ``None``."""
        if name is None:
            return self._current()
        room = self.hub.find_room(name)
        if room is None:
            raise NotInRoom(f"there is no room {name}")
        if must_be_in and self.member.rooms.get(room.name) is not room:
            raise NotInRoom(f"you are not in {room.name}; /join {room.name}")
        return room

    def _who(self, room: Room) -> None:
        nicks = room.nicks
        shown = ", ".join(nicks[:_LIST_LIMIT])
        more = f" and {len(nicks) - _LIST_LIMIT} more" if len(nicks) > _LIST_LIMIT else ""
        self.notify(
            f"{len(nicks)} in {room.name}: {shown}{more}", kind="who", room=room.name, members=nicks
        )

    def _history_gap(self, room: Room, after: int) -> None:
        """Tell a client that asked for what followed *after* if part of it is lost for good."""
        if after > room.seq:
            self.notify(
                f"{room.name} started again since event {after}: what was said before is gone",
                kind="history-gap",
                room=room.name,
                after=after,
                restarted=True,
            )
        elif after < room.forgotten:
            self.notify(
                f"events {after + 1} to {room.forgotten} of {room.name} are no longer kept",
                kind="history-gap",
                room=room.name,
                after=after,
                forgotten=room.forgotten,
                restarted=False,
            )

    def _rooms(self) -> None:
        rooms = sorted(self.hub.rooms, key=lambda room: room.name.casefold())
        listing = [{"name": room.name, "members": len(room), "topic": room.topic} for room in rooms]
        shown = ", ".join(
            f"{room.name} ({len(room)})" + (f": {room.topic}" if room.topic else "")
            for room in rooms[:_LIST_LIMIT]
        )
        more = f" and {len(rooms) - _LIST_LIMIT} more" if len(rooms) > _LIST_LIMIT else ""
        self.notify(
            f"{len(rooms)} room{'' if len(rooms) == 1 else 's'}: {shown}{more}",
            kind="rooms",
            rooms=listing,
        )

    def _history(self, room: Room, count: int | None, after: int | None = None) -> None:
        events = room.recent()
        if after is not None:
            self._history_gap(room, after)
            if after <= room.seq:  # else the room started again: all it kept is new
                events = [event for event in events if event.seq > after]
        if count is not None:
            events = events[-count:]
        self.notify(
            f"history of {room.name}: {len(events)} event{'' if len(events) == 1 else 's'}",
            kind="history",
            room=room.name,
            count=len(events),
        )
        from ..core._member import SLOW_CONSUMER

        for event in events:
            if not self.member.deliver(event.as_history()):
                self.hub.disconnect(self.member, SLOW_CONSUMER)
                return
        self.notify(f"end of history of {room.name}", kind="history-end", room=room.name)
