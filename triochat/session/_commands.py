"""Commands a client can send, and how lines become commands (sans-IO: no trio here).

Two syntaxes reach the same command objects: the text syntax people type (``/join #rust``) and,
on connections that switched to the JSON format, one JSON object per line
(``{"cmd": "join", "room": "#rust"}``). A line that is not a command is a chat message.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

from ..core._text import is_blank, sanitize, strip_leading_blanks

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
#: Largest count or page number a command takes. Bounding the digits before ``int()`` keeps
#: a long line of digits (past Python's 4 300-digit limit) an error reply, not an exception.
MAX_COUNT: Final = 999_999_999
_MAX_COUNT_DIGITS: Final = len(str(MAX_COUNT))
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


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
    """``/who [#room [page]]``: list the members of a room (``None``: the current room), one
    page at a time."""

    room: str | None = None
    page: int = 1


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
    """``/rooms [page]``: list the rooms with their member counts and topics, a page at a time."""

    page: int = 1


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
    """``/history [N]``: replay the last N events of the current room (``None``: all kept)."""

    count: int | None = None


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
    "/rooms [PAGE], /who [#ROOM [PAGE]], /topic [TEXT], /msg NICK TEXT (private), "
    "/me TEXT (an action), /history [N], /nick NAME [PASSWORD], /register PASSWORD, "
    "/format json|text, /help, "
    "/quit [REASON] (the bare line 'quit' works too); room operators: /kick NICK [REASON], "
    "/op NICK, /deop NICK, /ban MASK, /unban MASK, /bans. Any other line is said in your "
    "current room; start it with '//' to say a line that begins with '/'."
)


def _count(text: str) -> int | None:
    """*text* as a count from 1 to :data:`MAX_COUNT`, or ``None`` if it is not one."""
    if not text.isdecimal() or len(text) > _MAX_COUNT_DIGITS:
        return None
    count = int(text)
    return count if count >= 1 else None


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
            return Unknown("usage: /me TEXT") if is_blank(rest) else Me(rest)
        case "quit":
            return Quit(rest)
        case "help":
            return Help()
        case "who" | "names":
            room, page_text = _split(rest)
            page = _count(page_text) if page_text else 1
            if page is None:
                return Unknown("usage: /who [#ROOM [PAGE]], PAGE a number from 1")
            return Who(room or None, page)
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
            page = _count(rest) if rest else 1
            if page is None:
                return Unknown("usage: /rooms [PAGE], PAGE a number from 1")
            return Rooms(page)
        case "topic":
            return Topic(rest if rest else None)
        case "switch" | "go":
            if not rest or " " in rest:
                return Unknown("usage: /switch #ROOM")
            return Switch(rest)
        case "msg" | "query" | "tell":
            nick, message = _split(rest)
            if not nick or is_blank(message):
                return Unknown("usage: /msg NICK TEXT")
            return Msg(nick, message)
        case "history":
            if not rest:
                return History()
            count = _count(rest)
            if count is None:
                return Unknown(f"usage: /history [N], N a whole number from 1 to {MAX_COUNT}")
            return History(count)
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
    if _SURROGATE.search(value):
        # "\ud800" alone is valid JSON but no character: refused, not quietly cut out.
        raise ValueError(f'"{key}" holds a lone surrogate (\\ud800-\\udfff), not a character')
    # JSON escapes (\n, \u001b...) decode to characters the line itself could not carry, so
    # the values are sanitized again, after decoding.
    return sanitize(value)


def _json_count(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise ValueError(f'"{key}" must be a positive integer, at most {MAX_COUNT}')
    return value


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

    def words(key: str) -> str:
        # Chat text, as the text syntax has it: a line with nothing visible is not said.
        value = need(key)
        if is_blank(value):
            raise ValueError(f'"{key}" is empty')
        return value

    match cmd:
        case "say":
            return Say(words("text"), _string(obj, "room"))
        case "me":
            return Me(words("text"), _string(obj, "room"))
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
            return Who(_string(obj, "room"), _json_count(obj, "page") or 1)
        case "join":
            return Join(need("room"))
        case "part":
            return Part(_string(obj, "room"), _string(obj, "reason") or "")
        case "rooms":
            return Rooms(_json_count(obj, "page") or 1)
        case "topic":
            return Topic(_string(obj, "text"))
        case "switch":
            return Switch(need("room"))
        case "msg":
            return Msg(need("to"), words("text"))
        case "history":
            return History(_json_count(obj, "count"))
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

    White space and invisible characters (a byte order mark, a zero-width or no-break space)
    before a command do not hide it: ``\ufeff /pass SECRET`` is the command, never a chat line
    that would show the secret to the room. A line with nothing else is blank. A chat line keeps
    its leading spaces.
    """
    head = strip_leading_blanks(text)
    if not head:
        return None
    if head == "quit":
        return Quit()
    if json_commands and head.startswith("{"):
        return _parse_json(head)
    if not head.startswith("/"):
        return Say(text)
    if head.startswith("//"):
        return Say(head[1:])
    return _parse_slash(head)
