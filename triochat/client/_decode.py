"""Reading the JSON wire format back into the library's event classes (sans-IO: no trio here).

A server connection switched to JSON (``/format json``) sends one JSON object per line, as written
by :func:`triochat.protocols.jsonl.render_json`. :func:`parse_event` turns such an object into
the same
frozen classes the server itself uses (:class:`~triochat.Message`, :class:`~triochat.Joined`, ...),
so a program written against the in-process :class:`~triochat.Hub` and one talking to a server
over the network handle events with the same code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from ..core._events import (
    Action,
    BanChanged,
    Event,
    Joined,
    Kicked,
    Left,
    Message,
    NickChanged,
    Notice,
    OperatorChanged,
    Private,
    TopicChanged,
)
from ..protocols.jsonl._render import EVENT_TYPES as EVENT_TYPES

__all__ = ["EVENT_TYPES", "parse_event", "parse_event_line", "parse_time"]


def parse_time(value: object) -> dt.datetime:
    """Read the ``time`` of a JSON event (``2026-11-27T12:00:01.123Z``) as an aware UTC datetime.

    Any ISO 8601 form with an offset is accepted; a time without one is taken to be UTC.

    Raises:
      ValueError: *value* is not a string holding an ISO 8601 time.
    """
    if not isinstance(value, str):
        raise ValueError('"time" must be a string')
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f'"time" is not an ISO 8601 time: {value!r}') from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _text(obj: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string')
    return value


def _integer(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f'"{key}" must be an integer')
    return value


def parse_event(obj: Mapping[str, Any]) -> Event:
    """Turn one decoded JSON event from the server into an :class:`~triochat.Event`.

    ``room``, ``seq``, ``sender`` and ``history`` may be missing (they take the defaults of
    :class:`~triochat.Event`); ``type`` and ``time`` are required, and so are the fields a type
    cannot do without (``text`` of a message, ``new`` of a nick change, ``to`` of a private
    message). Fields this version does not know are ignored, and an event of a type it does not
    know becomes a plain :class:`~triochat.Event` with the common fields, so that a newer server
    stays readable: a program that checks ``isinstance(event, Message)`` just skips it.

    Raises:
      ValueError: *obj* is not an event: no ``type``, a missing field, or a field of the wrong
          JSON type. The message says which.
    """
    if not isinstance(obj, Mapping):
        raise ValueError("an event must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ValueError('"type" must name the kind of event')
    history = obj.get("history", False)
    if not isinstance(history, bool):
        raise ValueError('"history" must be true or false')
    common: dict[str, Any] = {
        "room": _text(obj, "room", ""),
        "seq": _integer(obj, "seq"),
        "time": parse_time(obj.get("time")),
        "sender": _text(obj, "sender", ""),
        "history": history,
    }
    match kind:
        case "message":
            return Message(text=_text(obj, "text"), **common)
        case "action":
            return Action(text=_text(obj, "text"), **common)
        case "topic":
            return TopicChanged(text=_text(obj, "text"), **common)
        case "part":
            return Left(reason=_text(obj, "reason", ""), **common)
        case "nick":
            return NickChanged(new=_text(obj, "new"), **common)
        case "private":
            return Private(target=_text(obj, "to"), text=_text(obj, "text"), **common)
        case "notice":
            error = obj.get("error", False)
            if not isinstance(error, bool):
                raise ValueError('"error" must be true or false')
            data = obj.get("data", {})
            if not isinstance(data, dict):
                raise ValueError('"data" must be a JSON object')
            return Notice(
                text=_text(obj, "text", ""),
                kind=_text(obj, "kind", "error" if error else "info"),
                error=error,
                data=data,
                **common,
            )
        case "join":
            return Joined(**common)
        case "kick":
            return Kicked(target=_text(obj, "target"), reason=_text(obj, "reason", ""), **common)
        case "op":
            return OperatorChanged(
                target=_text(obj, "target"), operator=_flag(obj, "operator"), **common
            )
        case "ban":
            return BanChanged(mask=_text(obj, "mask"), banned=_flag(obj, "banned"), **common)
        case _:
            return Event(**common)


def parse_event_line(line: str) -> Event:
    """Parse one line of the JSON wire format (see :func:`parse_event`).

    Raises:
      ValueError: the line is not a JSON object, or not an event.
    """
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise ValueError(f"not a JSON line: {line[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object: {line[:80]!r}")
    return parse_event(obj)


def _flag(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise ValueError(f'"{key}" must be true or false')
    return value
