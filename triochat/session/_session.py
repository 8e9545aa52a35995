"""What a connected client does in the hub: carrying out its commands.

A :class:`Session` has no I/O of its own. The connection feeds it parsed commands; it acts on
the hub and answers through the member's outbox, so that every reply takes its place in the same
order as the room events around it. The commands are carried out by the handlers of the command
table (:mod:`._handlers`); passwords and registered nicks are in :mod:`._accounts`, listings and
history in :mod:`._listings`, the commands of richer front ends (IRC) in :mod:`._front`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..core._errors import AuthenticationFailed, ChatError, ErrorCode, NotInRoom
from ._auth import Guard
from ._commands import Command, Format, Help, Pass, Quit
from ._front import FRONT_COMMANDS, run_front_command
from ._front_commands import FrontCommand
from ._handlers import HANDLERS
from ._input import InputError, InputProblem
from ._policy import SessionPolicy
from ._reasons import CloseReason
from ._replies import ReplyKind

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ..core._member import Member
    from ..core._room import Room

# What a session owns until it proves a nick is its own (shared: an empty set is 216 bytes).
_NO_NICKS: Final[frozenset[str]] = frozenset()

__all__ = ["Ending", "Session"]

#: Why a connection must end: the reason, and what the client said (its quit message) or ``""``.
Ending = tuple[CloseReason, str]


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
        #: (Replaced, never changed in place: until then every session shares one empty set.)
        self.owned: frozenset[str] = _NO_NICKS
        #: The room's seq when this client joined each room, as (name, seq) pairs, so that a
        #: reconnecting client joined to a room before it could ask can still catch up on what
        #: preceded. Pairs, not a dict: one room's worth is 104 bytes instead of 184 (a dict and
        #: its table), for every connection. See :meth:`arrived` and :meth:`note_arrival`.
        self.arrivals: tuple[tuple[str, int], ...] = ()

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
            self.note_arrival(room.name, room.seq)  # where it came in (see _handlers._join)

    def arrived(self, room: str) -> int | None:
        """The seq of *room* when this client joined it (``None``: not noted)."""
        for name, seq in self.arrivals:
            if name == room:
                return seq
        return None

    def note_arrival(self, room: str, seq: int) -> None:
        """Note that this client joined *room* at *seq*, and forget the rooms it has left (so
        that the pairs are bounded by the rooms it is in)."""
        rooms = self.member.rooms
        kept = tuple(pair for pair in self.arrivals if pair[0] != room and pair[0] in rooms)
        self.arrivals = (*kept, (room, seq))

    def welcome(self, room: Room | None) -> None:
        """Welcome the client, into *room* (``None``: it starts in no room)."""
        others = {"others": 0 if room is None else len(room)}
        name = None if room is None else room.name
        self.reply(
            ReplyKind.WELCOME,
            others,
            nick=self.member.nick,
            room=name,
            **self.epoch(room),
            **self.limits(),
        )

    @staticmethod
    def epoch(room: Room | None) -> dict[str, Any]:
        """The epoch of the room a client is told it is in, as the data of a reply: with the seq
        of the events it sees, where it can resume from after a reconnection."""
        return {} if room is None else {"epoch": room.log.epoch}

    def limits(self) -> dict[str, Any]:
        """The limits the client is held to, as the data of a reply (``{}``: none told)."""
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
        handler = HANDLERS.get(type(command))
        return None if handler is None else await handler(self, command)

    # ---------------------------------------------------------------------------- helpers

    def current(self) -> Room:
        """The client's current room (where plain lines go). Raises :exc:`NotInRoom`."""
        room = self.member.current_room
        if room is None:
            raise NotInRoom("you are not in any room", code=ErrorCode.NO_ROOM, hint="join")
        return room

    def room(self, name: str | None, *, must_be_in: bool = True) -> Room:
        """The room called *name*, or the current room for ``None``; one the client is in,
        unless not *must_be_in*. Raises :exc:`NotInRoom`."""
        if name is None:
            return self.current()
        room = self.hub.find_room(name)
        if room is None:
            raise NotInRoom(f"there is no room {name}", code=ErrorCode.NO_SUCH_ROOM, room=name)
        if must_be_in and self.member.rooms.get(room.name) is not room:
            raise NotInRoom(f"you are not in {room.name}", room=room.name, hint="join")
        return room
