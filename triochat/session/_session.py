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

import attrs

from ..core._errors import AuthenticationFailed, ChatError, ErrorCode, InvalidNick, NotInRoom
from ..core._hub import MAX_NICK_LENGTH, MAX_ROOM_NAME_LENGTH
from ..core._nicks import nick_key, validate_nick
from ..core._recovery import Position, join_since
from ..core._room import MAX_TOPIC_LENGTH
from ._auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Guard
from ._commands import (
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
from ._front import FRONT_COMMANDS, run_front_command
from ._front_commands import FrontCommand
from ._input import InputError, InputProblem
from ._policy import SessionPolicy
from ._reasons import CloseReason, seconds
from ._replies import ReplyKind

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

# Most entries (rooms, names) in one page of a listing.
_LIST_LIMIT: Final = 100
# Most bytes one entry can take in a listing reply, in the JSON format, which carries it twice
# (in the text, and in the data): every character of a name or topic can take 4 bytes in UTF-8,
# and the rest (member count, quotes, separators, keys) takes less than 48.
_ROOM_ENTRY_BYTES: Final = 2 * (4 * (1 + MAX_ROOM_NAME_LENGTH + MAX_TOPIC_LENGTH) + 48)
_NAME_ENTRY_BYTES: Final = 2 * (4 * MAX_NICK_LENGTH + 8)


class Session:
    """One client's commands, carried out on the hub on behalf of *member*."""

    __slots__ = ("arrivals", "authenticated", "guard", "hub", "member", "owned", "policy")

    def __init__(
        self,
        hub: Hub,
        member: Member,
        guard: Guard | None = None,
        policy: SessionPolicy | None = None,
    ) -> None:
        self.hub = hub
        self.member = member
        self.guard = guard = guard or Guard()
        self.policy = policy = policy or SessionPolicy.for_guard(guard)
        if policy.password_required != (guard.password is not None):
            raise ValueError("the policy must require a password exactly when the guard has one")
        #: False until the client gives the server password, on servers that need one.
        self.authenticated = not policy.password_required
        #: nick_key of the registered nicks the current nick is or looks like, whose password
        #: this client gave (or which it registered): renaming among their look-alikes is free.
        self.owned: set[str] = set()
        #: The room's seq when this client joined each room (by name), so that a reconnecting
        #: client joined to a room before it could ask can still catch up on what preceded.
        self.arrivals: dict[str, int] = {}

    def reply(self, kind: ReplyKind, params: dict[str, Any] | None = None, **data: Any) -> None:
        """Answer with a reply of *kind*: *data* for programs (the JSON format's ``data``),
        *params* the other values a protocol words it with. No text: each codec words it."""
        self.member.notify("", kind=kind, data=data, params=params)

    def fail(self, code: ErrorCode, **params: Any) -> None:
        """Answer with an error: its *code*, and the values a protocol words it with."""
        self.member.notify("", error=True, kind="error", code=code, params=params)

    def _failed(self, exc: ChatError) -> None:
        # The description is what a protocol with no wording of its own for the code says.
        self.fail(exc.code, description=str(exc), **exc.params)

    def start(self) -> None:
        """Greet the client: welcome it (into the policy's room), or ask for the password.

        A policy without greeting (a front end that greets in its own way and joins what the
        client asks for, as IRC does) makes this do nothing."""
        if not self.policy.greet:
            return
        if self.authenticated:
            self._enter()
        else:
            self.reply(ReplyKind.PASSWORD, nick=self.member.nick)

    def _enter(self) -> None:
        if self.policy.auto_join is None:
            self.welcome(None)
            return
        room = self.hub.room(self.policy.auto_join)
        self.welcome(room)
        if not self.member.connected:
            return  # the welcome overflowed the outbox (a client that sent a lot unread)
        try:
            self.hub.join(self.member, room.name)
        except ChatError as exc:  # banned from the default room: still connected, in no room
            self._failed(exc)
        else:
            self.arrivals[room.name] = room.seq  # where it came in (see _join)

    def welcome(self, room: Room | None) -> None:
        """Welcome the client, into *room* (``None``: it starts in no room)."""
        others = {"others": 0 if room is None else len(room)}
        name = None if room is None else room.name
        self.reply(
            ReplyKind.WELCOME,
            others,
            nick=self.member.nick,
            room=name,
            **self._epoch(room),
            **self._limits(),
        )

    @staticmethod
    def _epoch(room: Room | None) -> dict[str, Any]:
        # The epoch of the room a client is told it is in: with the seq of the events it sees,
        # where it can ask to resume from after a reconnection (see core/_recovery.py).
        return {} if room is None else {"epoch": room.log.epoch}

    def _limits(self) -> dict[str, Any]:
        # The welcome and the format reply tell the client its limits, so it can pace itself.
        limits = self.policy.limits
        return {} if limits is None else {"limits": limits.as_data()}

    def ping(self, idle: float) -> None:
        self.reply(ReplyKind.PING, {"idle": idle})

    def input_error(self, error: InputError) -> None:
        """Answer a frame the client's codec could not read."""
        if error.problem is InputProblem.LINE_TOO_LONG:
            self.fail(ErrorCode.LINE_TOO_LONG, limit=error.limit)
        else:
            self.fail(ErrorCode.NOT_UTF8, offset=error.offset)

    def slow_down(self, rate: float, burst: int) -> None:
        """Tell the client that lines it sends faster than *rate* a second are discarded."""
        self.fail(ErrorCode.SLOW_DOWN, rate=rate, burst=burst)

    async def execute(self, command: Command | FrontCommand) -> Ending | None:
        """Carry out *command*. Returns why the connection must end (the reason and its
        detail), or ``None`` to go on.

        User errors (a bad nick, an unknown room...) become error notices, never exceptions.
        """
        if isinstance(command, FRONT_COMMANDS):
            return await run_front_command(self, command)
        try:
            if not self.authenticated and not isinstance(command, Pass | Quit | Help | Format):
                raise AuthenticationFailed(
                    "this server needs a password first", code=ErrorCode.PASSWORD_REQUIRED
                )
            return await self._execute(command)
        except ChatError as exc:
            self._failed(exc)
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
                self.reply(ReplyKind.BANS, room=room.name, bans=list(room.bans))
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
                self.reply(ReplyKind.HELP)
            case Who(room=room_name, page=page):
                self._who(self._room(room_name, must_be_in=False), page)
            case Join(room=name, since=since):
                await self._join(name, since)
            case Part(room=name, reason=reason):
                room = hub.part(member, name, reason)
                current = member.current_room
                self.reply(
                    ReplyKind.SWITCH,
                    {"left": room.name},
                    room=current.name if current is not None else None,
                    **self._limits(),
                )
            case Switch(room=name):
                room = self._room(name)
                member.switch(room)
                self.reply(ReplyKind.SWITCH, room=room.name)
            case Rooms(page=page):
                self._rooms(page)
            case Topic(text=None):
                room = self._current()
                self.reply(ReplyKind.TOPIC, room=room.name, topic=room.topic)
            case Topic(text=text):
                assert text is not None
                self._current().set_topic(member, "" if text == "-" else text)
            case Msg(nick=nick, text=text):
                hub.send_private(member, nick, text)
            case History(count=count, after=after, room=room_name):
                await self._history(self._room(room_name), count, after)
            case Format(name=name):
                # The codec switched its input already; its output switches at this notice.
                current = member.current_room
                self.reply(
                    ReplyKind.FORMAT,
                    format=name,
                    nick=member.nick,
                    room=current.name if current is not None else None,
                    **self._epoch(current),
                    **self._limits(),
                )
            case Unknown(message=message, code=code):
                self.fail(code, message=message)
        return None

    # ---------------------------------------------------------------------------- passwords

    async def _check(
        self, target: str, secret: str, check: Callable[[], Awaitable[bool]], nick: str = ""
    ) -> None:
        """Run *check* (is the secret right?) in its turn for (*target*, the client's address).

        Over the throttle's limit the attempt is delayed, never refused: the client is told how
        long, and a right secret gets in when its turn comes. A wrong one is counted, logged and
        raised as :exc:`AuthenticationFailed` ("wrong *what*").
        """
        throttle = self.guard.throttle
        key = (target, self.member.address)
        delay = throttle.delay(key)
        if delay > 0:
            self.reply(ReplyKind.THROTTLED, seconds=math.ceil(delay))
        async with throttle.turn(key):
            if await check():
                return
            throttle.count(key)
        what = {"server": "password", "admin": "admin token"}.get(secret, f"password for {nick}")
        auth_log.warning("failed %s from %s (%s)", what, self.member.address, self.member.nick)
        raise AuthenticationFailed(f"wrong {what}", secret=secret, nick=nick)

    async def _pass(self, password: str) -> None:
        if self.authenticated:
            raise ChatError("you are already in", code=ErrorCode.ALREADY_AUTHENTICATED)
        secret = self.guard.password
        assert secret is not None

        async def right() -> bool:
            return secret.matches(password)

        await self._check("pass", "server", right)
        self.authenticated = True
        self._enter()

    async def _admin(self, token: str) -> None:
        secret = self.guard.admin_token
        if secret is None:
            raise ChatError("this server has no admin token", code=ErrorCode.NO_ADMIN_TOKEN)

        async def right() -> bool:
            return secret.matches(token)

        await self._check("admin", "admin", right)
        self.member.is_admin = True
        auth_log.warning("%s (%s) is now a server admin", self.member.nick, self.member.address)
        self.reply(ReplyKind.ADMIN)

    def _store(self) -> NickStore:
        if self.guard.nick_store is None:
            raise ChatError(
                "this server does not keep registered nicks", code=ErrorCode.NO_NICK_STORE
            )
        return self.guard.nick_store

    async def _check_nick_password(
        self, nick: str, registration: Registration, password: str
    ) -> None:
        hasher, address = self.guard.hasher, self.member.address

        async def right() -> bool:
            return await hasher.matches(registration, password, address=address)

        await self._check(f"nick:{nick.casefold()}", "nick", right, nick)

    async def _rename(self, name: str, password: str | None) -> None:
        store = self.guard.nick_store
        if password is not None and store is None:
            # No registered nicks here: "/nick two words" is a typo, not a password.
            raise InvalidNick("a nick has no spaces", nick=name, problem="spaces")
        if store is None:
            self.hub.rename(self.member, name)
            return
        name = validate_nick(name)
        owners = await self._check_registered(store, name, password)
        self.hub.rename(self.member, name)
        self.owned = {nick_key(owner) for owner in owners}

    async def _check_registered(
        self, store: NickStore, name: str, password: str | None
    ) -> list[str]:
        """The registered nicks *name* is or looks like, once *password* is shown to be theirs.

        Those the client's current nick is already bound to need no password again: re-casing
        your own nick is free. Raises :exc:`AuthenticationFailed`.
        """
        owners = await store.registered_like(name)
        unproven = [owner for owner in owners if nick_key(owner) not in self.owned]
        if not unproven:
            return owners
        if password is None:
            owner = unproven[0]
            if owner.casefold() == name.casefold():
                raise AuthenticationFailed(
                    f"the nick {name} is registered: it needs its password",
                    code=ErrorCode.NICK_REGISTERED,
                    nick=name,
                )
            raise AuthenticationFailed(
                f"the nick {name} looks like {owner}, which is registered: it needs its password",
                code=ErrorCode.NICK_REGISTERED,
                nick=name,
                like=owner,
            )
        for owner in unproven:
            registration = await store.lookup(owner)
            if registration is not None:  # None: unregistered meanwhile, nothing to prove
                await self._check_nick_password(owner, registration, password)
        return owners

    async def _register(self, password: str) -> None:
        store = self._store()
        nick, address = self.member.nick, self.member.address
        if re.fullmatch(rf"{re.escape(self.hub.guest_prefix)}-\d+", nick):
            raise ChatError(
                "choose a nick before registering it", code=ErrorCode.GUEST_NICK, nick=nick
            )
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise ChatError(
                f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
                code=ErrorCode.INVALID_PASSWORD,
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
            )
        # Cheap checks first: the expensive hash only for a registration that can succeed.
        if await store.registered_like(nick):
            raise ChatError(
                f"the nick {nick}, or one that looks like it, is registered already",
                code=ErrorCode.ALREADY_REGISTERED,
                nick=nick,
            )
        throttle, key = self.guard.throttle, ("register", address)
        if not throttle.allowed(key):
            wait = math.ceil(throttle.delay(key))
            raise ChatError(
                f"too many registrations from your address; try again in {seconds(wait)}",
                code=ErrorCode.TOO_MANY_REGISTRATIONS,
                seconds=wait,
            )
        throttle.count(key)
        registration = await self.guard.hasher.new(password, address=address)
        if not await store.add(nick, registration):  # someone was quicker
            raise ChatError(
                f"the nick {nick}, or one that looks like it, is registered already",
                code=ErrorCode.ALREADY_REGISTERED,
                nick=nick,
            )
        self.owned = {nick_key(nick)}
        auth_log.info("%s registered by %s", nick, address)
        self.reply(ReplyKind.REGISTERED, nick=nick)

    async def _unregister(self, password: str) -> None:
        store = self._store()
        nick = self.member.nick
        registration = await store.lookup(nick)
        if registration is None:
            raise ChatError(
                f"the nick {nick} is not registered", code=ErrorCode.NOT_REGISTERED, nick=nick
            )
        await self._check_nick_password(nick, registration, password)
        await store.remove(nick)
        self.owned.discard(nick_key(nick))
        self.reply(ReplyKind.REGISTERED, {"nick": nick, "registered": False}, nick=None)

    # ---------------------------------------------------------------------------- helpers

    def _current(self) -> Room:
        room = self.member.current_room
        if room is None:
            raise NotInRoom("you are not in any room", code=ErrorCode.NO_ROOM, hint="join")
        return room

    def _room(self, name: str | None, *, must_be_in: bool = True) -> Room:
        """The room called *name*, or the current room for ``None``."""
        if name is None:
            return self._current()
        room = self.hub.find_room(name)
        if room is None:
            raise NotInRoom(f"there is no room {name}", code=ErrorCode.NO_SUCH_ROOM, room=name)
        if must_be_in and self.member.rooms.get(room.name) is not room:
            raise NotInRoom(f"you are not in {room.name}", room=room.name, hint="join")
        return room

    def _page(self, total: int, page: int, entry_bytes: int, listing: str, room: str = "") -> _Page:
        """The part of a listing of *total* entries that *page* shows.

        A page holds at most :data:`_LIST_LIMIT` entries, and fewer if that many could take more
        than half of this member's outbox: a reply must never by itself cut off whoever asked.
        Raises :exc:`ChatError` for a page past the last.
        """
        per_page = max(1, min(_LIST_LIMIT, self.member.max_bytes // 2 // entry_bytes))
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

    async def _join(self, name: str, since: Position | None) -> None:
        """Join room *name*; with *since*, replay what the client missed there after it."""
        member = self.member
        existing = self.hub.find_room(name)
        already = existing is not None and member in existing
        if since is None:
            room = self.hub.join(member, name)
        else:
            # Already in: joined on connecting, before it could ask; it missed what preceded.
            arrived = self.arrivals.get(existing.name) if existing is not None else None
            room, _ = await join_since(self.hub, member, name, since, arrived=arrived)
        if not already or room.name not in self.arrivals:
            self.arrivals[room.name] = room.seq
        for left in [left for left in self.arrivals if left not in member.rooms]:
            del self.arrivals[left]  # bounded by the rooms it is in
        self.reply(ReplyKind.SWITCH, room=room.name, epoch=room.log.epoch)

    def _who(self, room: Room, page: int = 1) -> None:
        nicks = room.nicks
        part = self._page(len(nicks), page, _NAME_ENTRY_BYTES, "who", room.name)
        shown = nicks[part.start : part.stop]
        self.reply(ReplyKind.WHO, part.params(), room=room.name, members=shown, **part.data())

    def _history_gap(self, room: Room, after: int) -> None:
        """Tell a client that asked for what followed *after* if part of it is lost for good."""
        if after > room.seq:
            self.reply(ReplyKind.HISTORY_GAP, room=room.name, after=after, restarted=True)
        elif after < room.forgotten:
            self.reply(
                ReplyKind.HISTORY_GAP,
                room=room.name,
                after=after,
                forgotten=room.forgotten,
                restarted=False,
            )

    def _rooms(self, page: int = 1) -> None:
        rooms = sorted(self.hub.rooms, key=lambda room: room.name.casefold())
        part = self._page(len(rooms), page, _ROOM_ENTRY_BYTES, "rooms")
        shown = rooms[part.start : part.stop]
        listing = [{"name": room.name, "members": len(room), "topic": room.topic} for room in shown]
        self.reply(ReplyKind.ROOMS, part.params(), rooms=listing, **part.data())

    async def _history(self, room: Room, count: int | None, after: int | None = None) -> None:
        if after is not None:
            self._history_gap(room, after)
            if after > room.seq:  # the room started again: all it kept is new
                after = None
        # Through the room's log: the default one answers from memory without waiting.
        events = await room.history(count, after=after)
        # Like a listing, a replay must never by itself overflow the outbox of whoever asked:
        # it sends the most recent events that fit in half of it (a room's history is bounded
        # to half an outbox in events, but its bound in bytes is configured on its own).
        member = self.member
        room_events, room_bytes = member.max_events // 2 - 2, member.max_bytes // 2
        fit = 0
        for event in reversed(events):
            room_bytes -= event.size
            if fit >= room_events or room_bytes < 0:
                break
            fit += 1
        total = len(events)
        events = events[total - fit :]
        self.reply(ReplyKind.HISTORY, {"total": total}, room=room.name, count=fit)
        from ..core._member import SLOW_CONSUMER

        for event in events:
            if not member.deliver(event.as_history()):
                self.hub.disconnect(member, SLOW_CONSUMER)
                return
        self.reply(ReplyKind.HISTORY_END, room=room.name)


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
