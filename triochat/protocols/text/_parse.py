"""The text syntax of commands: the lines people type (sans-IO: no trio here).

``/join #rust`` and the like; a line that is not a command is a chat line. On connections that
switched to the JSON format, a line starting with ``{`` is a JSON command object instead
(:mod:`triochat.protocols.jsonl._parse`).
"""

from __future__ import annotations

from typing import Final

from ...core._errors import ErrorCode
from ...core._text import is_blank, strip_leading_blanks
from ...session._commands import (
    FORMATS,
    MAX_COUNT,
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
from ..jsonl._parse import parse_json_command

__all__ = ["HELP_TEXT", "parse_command"]

_MAX_COUNT_DIGITS: Final = len(str(MAX_COUNT))

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


def _usage(message: str) -> Unknown:
    return Unknown(message, code=ErrorCode.USAGE)


def _parse_slash(text: str) -> Command:
    name, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    match name.lower():
        case "nick":
            nick, password = _split(rest)
            if not nick or " " in password:
                return _usage("usage: /nick NAME [PASSWORD]")
            return Nick(nick, password or None)
        case "pass":
            return Pass(rest) if rest else _usage("usage: /pass PASSWORD")
        case "admin" | "oper":
            return Admin(rest) if rest else _usage("usage: /admin TOKEN")
        case "register":
            return Register(rest) if rest else _usage("usage: /register PASSWORD")
        case "unregister":
            return Unregister(rest) if rest else _usage("usage: /unregister PASSWORD")
        case "kick":
            nick, reason = _split(rest)
            return Kick(nick, reason) if nick else _usage("usage: /kick NICK [REASON]")
        case "op" | "deop":
            if not rest or " " in rest:
                return _usage(f"usage: /{name.lower()} NICK")
            return Op(rest, grant=name.lower() == "op")
        case "ban" | "unban":
            if not rest or " " in rest:
                return _usage(f"usage: /{name.lower()} MASK")
            return Ban(rest, add=name.lower() == "ban")
        case "bans":
            return Ban(None)
        case "me":
            return _usage("usage: /me TEXT") if is_blank(rest) else Me(rest)
        case "quit":
            return Quit(rest)
        case "help":
            return Help()
        case "who" | "names":
            room, page_text = _split(rest)
            page = _count(page_text) if page_text else 1
            if page is None:
                return _usage("usage: /who [#ROOM [PAGE]], PAGE a number from 1")
            return Who(room or None, page)
        case "join" | "j":
            if not rest or " " in rest:
                return _usage("usage: /join #ROOM")
            return Join(rest)
        case "part" | "leave":
            first, remainder = _split(rest)
            if first.startswith("#"):
                return Part(first, remainder)
            return Part(None, rest)
        case "rooms" | "list":
            page = _count(rest) if rest else 1
            if page is None:
                return _usage("usage: /rooms [PAGE], PAGE a number from 1")
            return Rooms(page)
        case "topic":
            return Topic(rest if rest else None)
        case "switch" | "go":
            if not rest or " " in rest:
                return _usage("usage: /switch #ROOM")
            return Switch(rest)
        case "msg" | "query" | "tell":
            nick, message = _split(rest)
            if not nick or is_blank(message):
                return _usage("usage: /msg NICK TEXT")
            return Msg(nick, message)
        case "history":
            if not rest:
                return History()
            count = _count(rest)
            if count is None:
                return _usage(f"usage: /history [N], N a whole number from 1 to {MAX_COUNT}")
            return History(count)
        case "format":
            if rest.lower() not in FORMATS:
                return _usage("usage: /format json|text")
            return Format(rest.lower())
        case _:
            return Unknown(f"unknown command /{name}; /help lists the commands")


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
        return parse_json_command(head)
    if not head.startswith("/"):
        return Say(text)
    if head.startswith("//"):
        return Say(head[1:])
    return _parse_slash(head)
