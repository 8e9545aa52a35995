"""The admin console: commands on a running server, over a Unix socket or at its own terminal.

Its own small line protocol, not a chat front end: a client (``triochat admin``) connects to the
control socket (mode 0600: only the server's user, and root, can), sends one command line, and
reads the answer until the server closes the connection. An answer that starts with ``error:``
is a failure. The same commands can be typed at ``triochat serve``'s own prompt when it runs in
a terminal (:mod:`triochat.cli._console`).

Commands act on the server's hub through its public API, as the server itself (``kick`` and
``ban`` need no operator in the room); nothing here is in the core.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..core._errors import ChatError
from ..drivers._endpoints import Endpoint
from ..drivers._listeners import open_listeners
from ._tasks import task_tree

if TYPE_CHECKING:
    from ..core._member import Member
    from ._server import ChatServer

__all__ = ["COMMANDS", "AdminConsole", "AdminError", "serve_control"]

log = logging.getLogger("triochat.admin")

#: Longest command line accepted, and how long a client has to send it.
MAX_COMMAND_BYTES: Final = 4096
COMMAND_TIMEOUT: Final = 5.0
#: How long an answer may take to be written (a client that does not read is cut off).
ANSWER_TIMEOUT: Final = 10.0

#: Each command, its arguments, and what it does (the ``help`` command prints this).
COMMANDS: Final = {
    "who": ("[ROOM]", "connections (of ROOM's members): id, nick, address, front end, outbox, age"),
    "rooms": ("", "rooms: members, events published, history kept, topic"),
    "kick": ("NICK [REASON]", "disconnect NICK from the server"),
    "ban": ("MASK", "ban NICK, @ADDRESS or NICK@ADDRESS (* and ?) from every room; cut matches"),
    "say": ("ROOM TEXT", "tell every member of ROOM, as the server"),
    "stats": ("", "the server's counts"),
    "tasks": ("", "the server's live task tree"),
    "reload": ("", "read the config file again (as SIGHUP does)"),
    "shutdown": ("[GRACE]", "stop gracefully, giving clients GRACE seconds"),
    "help": ("", "this list"),
}


class AdminError(Exception):
    """A command that cannot be carried out; its message is the answer."""


@attrs.define(eq=False)
class AdminConsole:
    """Carries out admin commands on *server*.

    *stop* is called with the grace period by ``shutdown``; *reload* runs the reload (its result
    is the answer); both are given by whoever runs the server (the command line).
    """

    server: ChatServer
    stop: Callable[[float | None], None] | None = None
    reload: Callable[[], Awaitable[str]] | None = None

    async def run(self, line: str) -> str:
        """The answer to one command line; raises :exc:`AdminError`."""
        name, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if name not in COMMANDS:
            raise AdminError(f"unknown command {name!r}; try help")
        if name == "reload":
            if self.reload is None:
                raise AdminError("this server has no config file to reload")
            return await self.reload()
        command: Callable[[str], str] = getattr(self, f"_{name}")
        return command(rest)

    def _help(self, rest: str) -> str:
        width = max(len(f"{n} {a}") for n, (a, _) in COMMANDS.items())
        return "\n".join(f"{f'{n} {a}':<{width}}  {h}" for n, (a, h) in COMMANDS.items())

    def _who(self, rest: str) -> str:
        hub = self.server.hub
        members: set[Member] | None = None
        if rest:
            room = hub.find_room(rest)
            if room is None:
                raise AdminError(f"no room {rest}")
            members = set(room.members)
        now = trio.current_time()
        rows = [("conn", "nick", "address", "front end", "rooms", "outbox", "age")]
        for connection in self.server.connections:
            member = connection.member
            if member is None or (members is not None and member not in members):
                continue
            rows.append(
                (
                    str(connection.id),
                    member.nick,
                    connection.peer,
                    connection.codec.name,
                    ",".join(member.rooms) or "-",
                    str(member.queued_events),
                    f"{now - connection.opened_at:.0f} s",
                )
            )
        return _table(rows)

    def _rooms(self, rest: str) -> str:
        rows = [("room", "members", "published", "history", "topic")]
        for room in self.server.hub.rooms:
            statistics = room.statistics()
            rows.append(
                (
                    room.name,
                    str(statistics.members),
                    str(statistics.published),
                    str(statistics.history_events),
                    room.topic,
                )
            )
        return _table(rows)

    def _member(self, nick: str) -> Member:
        member = self.server.hub.member(nick)
        if member is None:
            raise AdminError(f"nobody is called {nick}")
        return member

    def _kick(self, rest: str) -> str:
        nick, _, reason = rest.partition(" ")
        if not nick:
            raise AdminError("usage: kick NICK [REASON]")
        member = self._member(nick)
        said = "kicked by the server" + (f": {reason.strip()}" if reason.strip() else "")
        self.server.hub.disconnect(member, said)
        log.warning("admin console kicked %s (%s)", member.nick, said, extra={"nick": member.nick})
        return f"kicked {member.nick}"

    def _ban(self, rest: str) -> str:
        mask = rest.strip()
        nick, _, address = mask.partition("@")
        if not mask or " " in mask or not (nick or address):
            raise AdminError("usage: ban NICK, ban @ADDRESS or ban NICK@ADDRESS")
        hub = self.server.hub
        try:
            for room in hub.rooms:
                room.add_ban(mask)
        except ChatError as exc:
            raise AdminError(str(exc)) from None
        cut = [m for m in hub.members if not m.is_admin and _matches(nick, address, m)]
        for member in cut:
            hub.disconnect(member, "banned by the server")
        log.warning("admin console banned %s (%d cut off)", mask, len(cut))
        return f"banned {mask} in {len(hub.rooms)} rooms; cut off {len(cut)}"

    def _say(self, rest: str) -> str:
        name, _, text = rest.partition(" ")
        if not name or not text.strip():
            raise AdminError("usage: say ROOM TEXT")
        room = self.server.hub.find_room(name)
        if room is None:
            raise AdminError(f"no room {name}")
        for member in room.members:
            member.notify(f"[server] {text.strip()}", data={"room": room.name})
        return f"told {len(room)} members of {room.name}"

    def _stats(self, rest: str) -> str:
        statistics = self.server.statistics()
        counters = self.server.counters
        fields = attrs.asdict(statistics)
        fields["lines_in"] = counters.lines_in + sum(c.lines_in for c in self.server.connections)
        fields["bytes_out"] = counters.bytes_out + sum(c.bytes_out for c in self.server.connections)
        for reason, count in sorted(counters.closed_by_reason.items()):
            fields[f"closed_{reason.lower()}"] = count
        return "\n".join(f"{key}: {value}" for key, value in fields.items())

    def _tasks(self, rest: str) -> str:
        return task_tree()

    def _shutdown(self, rest: str) -> str:
        if self.stop is None:
            raise AdminError("this server cannot be stopped from here")
        try:
            grace = float(rest) if rest else None
        except ValueError:
            raise AdminError(f"{rest!r} is not a number of seconds") from None
        self.stop(grace)
        return "shutting down"


def _matches(nick: str, address: str, member: Member) -> bool:
    if nick and not fnmatch.fnmatchcase(member.nick.casefold(), nick.casefold()):
        return False
    return not address or fnmatch.fnmatchcase(member.address, address)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def serve_control(
    console: AdminConsole,
    endpoint: Endpoint,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer admin commands on the Unix socket *endpoint* (mode 0600) until cancelled; the
    socket file is removed when this ends.

    Error handling: :exc:`~triochat.ListenFailed` if the socket cannot be opened.
    """
    async with open_listeners([endpoint]) as listening, trio.open_nursery() as nursery:
        log.info("admin console on %s", endpoint)
        task_status.started()
        listener = listening[0].listener
        while True:
            stream = await listener.accept()
            nursery.start_soon(_answer, console, stream)


async def _answer(console: AdminConsole, stream: trio.SocketStream) -> None:
    async with stream:
        line = b""
        with trio.move_on_after(COMMAND_TIMEOUT):
            while b"\n" not in line and len(line) <= MAX_COMMAND_BYTES:
                try:
                    data = await stream.receive_some(MAX_COMMAND_BYTES)
                except trio.BrokenResourceError:
                    return
                if not data:
                    break
                line += data
        command = line.split(b"\n", 1)[0].decode(errors="replace")
        try:
            if len(command) > MAX_COMMAND_BYTES:
                raise AdminError(f"a command is at most {MAX_COMMAND_BYTES} bytes")
            answer = await console.run(command)
        except AdminError as exc:
            answer = f"error: {exc}"
        except Exception as exc:  # a bug of ours costs this command, never the server
            log.exception("admin command %r failed", command)
            answer = f"error: internal error ({type(exc).__name__})"
        with trio.move_on_after(ANSWER_TIMEOUT):
            try:
                await stream.send_all((answer.rstrip("\n") + "\n").encode())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
