"""Commands a client can send, and how lines become commands (sans-IO: no trio here).

Two syntaxes reach the same command objects: the text syntax people type (``/join #rust``) and,
on connections that switched to the JSON format, one JSON object per line
(``{"cmd": "join", "room": "#rust"}``). A line that is not a command is a chat message.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

from ..core._text import sanitize

__all__ = [
    "HELP_TEXT",
    "Admin",
    "Ban",
    "Command",
    "Format",
    "Help",
    "History",
    "Join",
    "Kick",
    "Me",
    "Msg",
    "Nick",
    "Op",
    "Part",
    "Pass",
    "Quit",
    "Register",
    "Rooms",
    "Say",
    "Switch",
    "Topic",
    "Unknown",
    "Unregister",
    "Who",
    "parse_command",
]

#: Wire formats a connection can use.
FORMATS: Final = ("text", "json")


@attrs.frozen
class Say:
    """A plain chat line, to *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@attrs.frozen
class Me:
    """``/me waves``: an action, to *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@attrs.frozen
class Nick:
    """``/nick NAME [PASSWORD]``: the password is needed for a registered nick."""

    name: str
    password: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Pass:
    """``/pass PASSWORD``: the server password, on servers that need one."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Admin:
    """``/admin TOKEN``: become a server administrator."""

    token: str = attrs.field(repr=False)


@attrs.frozen
class Register:
    """``/register PASSWORD``: protect the current nick with a password."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Unregister:
    """``/unregister PASSWORD``: remove the protection of the current nick."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Kick:
    """``/kick NICK [reason]``, in the current room."""

    nick: str
    reason: str = ""


@attrs.frozen
class Op:
    """``/op NICK`` (*grant*) or ``/deop NICK``, in the current room."""

    nick: str
    grant: bool = True


@attrs.frozen
class Ban:
    """``/ban MASK`` (*add*) or ``/unban MASK``, in the current room; ``/bans`` lists them."""

    mask: str | None
    add: bool = True


@attrs.frozen
class Quit:
    """``/quit [reason]`` or the bare line ``quit``."""

    reason: str = ""


@attrs.frozen
class Help:
    """``/help``."""


@attrs.frozen
class Who:
    """``/who [#room]``: list the members of a room (``None``: the current room)."""

    room: str | None = None


@attrs.frozen
class Join:
    """``/join #room``: join (creating it if needed) and make it the current room."""

    room: str


@attrs.frozen
class Part:
    """``/part [#room] [reason]``: leave a room (``None``: the current room)."""

    room: str | None = None
    reason: str = ""


@attrs.frozen
class Rooms:
    """``/rooms``: list the rooms with their member counts and topics."""


@attrs.frozen
class Topic:
    """``/topic [text]``: show the current room's topic, or set it (``""`` clears it)."""

    text: str | None = None


@attrs.frozen
class Switch:
    """``/switch #room``: make another room you are in the current one."""

    room: str


@attrs.frozen
class Msg:
    """``/msg NICK text``: a private message."""

    nick: str
    text: str


@attrs.frozen
class History:
    """``/history [N]``: replay the last N events of the current room (``None``: all kept).

    JSON only: *after*, the kept events numbered after it (what a reconnecting client missed),
    and *room*, a room you are in instead of the current one.
    """

    count: int | None = None
    after: int | None = None
    room: str | None = None


@attrs.frozen
class Format:
    """``/format json|text``: switch this connection's wire format."""

    name: str


@attrs.frozen
class Unknown:
    """A line that starts with ``/`` but names no command, or a command used wrongly."""

    message: str


Command = (
    Say
    | Me
    | Nick
    | Quit
    | Help
    | Who
    | Join
    | Part
    | Rooms
    | Topic
    | Switch
    | Msg
    | History
    | Format
    | Pass
    | Admin
    | Register
    | Unregister
    | Kick
    | Op
    | Ban
    | Unknown
)

HELP_TEXT: Final = (
    "commands: /join #ROOM, /part [#ROOM] [REASON], /switch #ROOM (where plain lines go), "
    "/rooms, /who [#ROOM], /topic [TEXT], /msg NICK TEXT (private), /me TEXT (an action), "
    "/history [N], /nick NAME [PASSWORD], /register PASSWORD, /format json|text, /help, "
    "/quit [REASON] (the bare line 'quit' works too); room operators: /kick NICK [REASON], "
    "/op NICK, /deop NICK, /ban MASK, /unban MASK, /bans. Any other line is said in your "
    "current room; start it with '//' to say a line that begins with '/'."
)


def _split(rest: str) -> tuple[str, str]:
    first, _, remainder = rest.partition(" ")
    return first, remainder.strip()


def _parse_slash(text: str) -> Command:
    name, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    match name.lower():
        case "nick":
            nick, password = _split(rest)
            if not nick or " " in password:
                return Unknown("usage: /nick NAME [PASSWORD]")
            return Nick(nick, password or None)
        case "pass":
            return Pass(rest) if rest else Unknown("usage: /pass PASSWORD")
        case "admin" | "oper":
            return Admin(rest) if rest else Unknown("usage: /admin TOKEN")
        case "register":
            return Register(rest) if rest else Unknown("usage: /register PASSWORD")
        case "unregister":
            return Unregister(rest) if rest else Unknown("usage: /unregister PASSWORD")
        case "kick":
            nick, reason = _split(rest)
            return Kick(nick, reason) if nick else Unknown("usage: /kick NICK [REASON]")
        case "op" | "deop":
            if not rest or " " in rest:
                return Unknown(f"usage: /{name.lower()} NICK")
            return Op(rest, grant=name.lower() == "op")
        case "ban" | "unban":
            if not rest or " " in rest:
                return Unknown(f"usage: /{name.lower()} MASK")
            return Ban(rest, add=name.lower() == "ban")
        case "bans":
            return Ban(None)
        case "me":
            return Me(rest) if rest else Unknown("usage: /me TEXT")
        case "quit":
            return Quit(rest)
        case "help":
            return Help()
        case "who" | "names":
            if " " in rest:
                return Unknown("usage: /who [#ROOM]")
            return Who(rest or None)
        case "join" | "j":
            if not rest or " " in rest:
                return Unknown("usage: /join #ROOM")
            return Join(rest)
        case "part" | "leave":
            first, remainder = _split(rest)
            if first.startswith("#"):
                return Part(first, remainder)
            return Part(None, rest)
        case "rooms" | "list":
            return Rooms()
        case "topic":
            return Topic(rest if rest else None)
        case "switch" | "go":
            if not rest or " " in rest:
                return Unknown("usage: /switch #ROOM")
            return Switch(rest)
        case "msg" | "query" | "tell":
            nick, message = _split(rest)
            if not nick or not message:
                return Unknown("usage: /msg NICK TEXT")
            return Msg(nick, message)
        case "history":
            if not rest:
                return History()
            if not rest.isdecimal() or int(rest) < 1:
                return Unknown("usage: /history [N], N a positive whole number")
            return History(int(rest))
        case "format":
            if rest.lower() not in FORMATS:
                return Unknown("usage: /format json|text")
            return Format(rest.lower())
        case _:
            return Unknown(f"unknown command /{name}; /help lists the commands")


def _string(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f'"{key}" is required')
        return None
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string')
    # JSON escapes (\n, \u001b...) decode to characters the line itself could not carry, so
    # the values are sanitized again, after decoding.
    return sanitize(value)


def _parse_json(text: str) -> Command:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Unknown("invalid JSON command: not a JSON object")
    if not isinstance(obj, dict):
        return Unknown("invalid JSON command: not a JSON object")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        return Unknown('invalid JSON command: "cmd" must name a command')
    try:
        return _json_command(cmd.lower(), obj)
    except ValueError as exc:
        return Unknown(f"invalid JSON command {cmd!r}: {exc}")


def _json_command(cmd: str, obj: dict[str, Any]) -> Command:
    def need(key: str) -> str:
        value = _string(obj, key, required=True)
        assert value is not None
        return value

    match cmd:
        case "say":
            return Say(need("text"), _string(obj, "room"))
        case "me":
            return Me(need("text"), _string(obj, "room"))
        case "nick":
            return Nick(need("nick"), _string(obj, "password"))
        case "pass":
            return Pass(need("password"))
        case "admin":
            return Admin(need("token"))
        case "register":
            return Register(need("password"))
        case "unregister":
            return Unregister(need("password"))
        case "kick":
            return Kick(need("nick"), _string(obj, "reason") or "")
        case "op" | "deop":
            return Op(need("nick"), grant=cmd == "op")
        case "ban" | "unban":
            return Ban(need("mask"), add=cmd == "ban")
        case "bans":
            return Ban(None)
        case "quit":
            return Quit(_string(obj, "reason") or "")
        case "help":
            return Help()
        case "who":
            return Who(_string(obj, "room"))
        case "join":
            return Join(need("room"))
        case "part":
            return Part(_string(obj, "room"), _string(obj, "reason") or "")
        case "rooms":
            return Rooms()
        case "topic":
            return Topic(_string(obj, "text"))
        case "switch":
            return Switch(need("room"))
        case "msg":
            return Msg(need("to"), need("text"))
        case "history":
            count = obj.get("count")
            if count is not None and (
                not isinstance(count, int) or isinstance(count, bool) or count < 1
            ):
                raise ValueError('"count" must be a positive integer')
            after = obj.get("after")
            if after is not None and (
                not isinstance(after, int) or isinstance(after, bool) or after < 0
            ):
                raise ValueError('"after" must be a sequence number (an integer, 0 or more)')
            return History(count, after, _string(obj, "room"))
        case "format":
            name = need("format").lower()
            if name not in FORMATS:
                raise ValueError('"format" is "json" or "text"')
            return Format(name)
        case _:
            return Unknown(f"unknown command {cmd!r}; /help lists the commands")


def parse_command(text: str, *, json_commands: bool = False) -> Command | None:
    """Turn one decoded, sanitized line into a command; ``None`` for a blank line.

    With *json_commands* (connections using the JSON format), a line that starts with ``{`` is
    parsed as a JSON command object; other lines are read as text, as always.
    """
    if not text.strip():
        return None
    if text == "quit":
        return Quit()
    if json_commands and text.lstrip().startswith("{"):
        return _parse_json(text)
    if not text.startswith("/"):
        return Say(text)
    if text.startswith("//"):
        return Say(text[1:])
    return _parse_slash(text)
