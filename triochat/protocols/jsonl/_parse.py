"""The JSON syntax of commands: one JSON object per line (sans-IO: no trio here).

Connections that switched to the JSON format send ``{"cmd": "join", "room": "#rust"}``; the
line codec hands every line of theirs that starts with ``{`` to :func:`parse_json_command`.
See docs/protocol.md for every command.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ...core._errors import ErrorCode
from ...core._position import Position
from ...core._text import is_blank, sanitize
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

__all__ = ["parse_json_command"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# Longest epoch a client may name (a log's are 16 hex digits; a durable one's may be longer).
_MAX_EPOCH: Final = 64


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


def _since(obj: dict[str, Any]) -> Position | None:
    """A join's ``"since": {"epoch": "...", "seq": N}``: the last event the client saw."""
    since = obj.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise ValueError('"since" must be an object: {"epoch": EPOCH, "seq": SEQ}')
    epoch, seq = since.get("epoch"), since.get("seq")
    # Printable only: an epoch is matched, never shown, but it reaches the logs (a lone
    # surrogate or a control character there is no text).
    if not isinstance(epoch, str) or not 0 < len(epoch) <= _MAX_EPOCH or not epoch.isprintable():
        raise ValueError(
            f'"since" needs "epoch", a string of 1 to {_MAX_EPOCH} printable characters'
        )
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 10**15:
        raise ValueError('"since" needs "seq", a sequence number (an integer, 0 or more)')
    return Position(epoch, seq)


def parse_json_command(text: str) -> Command:
    """Turn one line holding a JSON command object into a command (never raises: what is not
    a command is :class:`~triochat.session.Unknown`, with a message saying why)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return _invalid("invalid JSON command: not a JSON object")
    if not isinstance(obj, dict):
        return _invalid("invalid JSON command: not a JSON object")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        return _invalid('invalid JSON command: "cmd" must name a command')
    try:
        return _json_command(cmd.lower(), obj)
    except ValueError as exc:
        return _invalid(f"invalid JSON command {cmd!r}: {exc}")


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
            return Join(need("room"), _since(obj))
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
            after = obj.get("after")
            if after is not None and (
                not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 10**15
            ):
                raise ValueError('"after" must be a sequence number (an integer, 0 or more)')
            return History(_json_count(obj, "count"), after, _string(obj, "room"))
        case "format":
            name = need("format").lower()
            if name not in FORMATS:
                raise ValueError('"format" is "json" or "text"')
            return Format(name)
        case _:
            return Unknown(f"unknown command {cmd!r}; /help lists the commands")


def _invalid(message: str) -> Unknown:
    return Unknown(message, code=ErrorCode.INVALID_COMMAND)
