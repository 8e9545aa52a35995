"""The JSON format: events as one JSON object per line, for programs (sans-IO: no trio here).

Called once per event by :meth:`Event.encode <triochat.Event.encode>`; the bytes are cached on
the event and shared by every member using the JSON format. A notice's ``text`` is the text
protocol's sentence for it (:mod:`triochat.protocols.text._phrases`). See docs/protocol.md
for every field.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ...core._events import (
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
from ...core._text import strip_formatting
from ...session._front_commands import AWAY_CHANGED
from ..text._phrases import notice_text

__all__ = ["EVENT_TYPES", "JSON_TYPES", "json_time", "render_json"]


#: The ``type`` of each event class in the JSON format (a subclass takes its base's).
JSON_TYPES: Final[dict[type[Event], str]] = {
    Message: "message",
    Action: "action",
    Joined: "join",
    Left: "part",
    NickChanged: "nick",
    TopicChanged: "topic",
    Private: "private",
    Kicked: "kick",
    OperatorChanged: "op",
    BanChanged: "ban",
    Notice: "notice",
}
#: The event class of each JSON ``type``: the same table, read backwards (for clients).
EVENT_TYPES: Final[dict[str, type[Event]]] = {name: cls for cls, name in JSON_TYPES.items()}

_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_type_of_subclass(cls: type[Event]) -> str:
    # A subclass of a known event renders as that event (as it does in the text format).
    for base in cls.__mro__:
        if base in JSON_TYPES:
            return JSON_TYPES[base]
    raise TypeError(f"no JSON rendering for {cls.__name__}")


def json_time(event: Event) -> str:
    """ISO 8601, UTC, milliseconds: ``2026-11-27T12:00:01.123Z``."""
    return event.time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.time.microsecond // 1000:03d}Z"


def render_json(event: Event) -> bytes:
    """Render *event* as one JSON object on one line (see docs/protocol.md for every field)."""
    if type(event) is Notice and event.kind == AWAY_CHANGED:
        return b""  # for IRC's away-notify only: nothing to show here
    kind = JSON_TYPES.get(type(event)) or _json_type_of_subclass(type(event))
    obj: dict[str, Any] = {
        "type": kind,
        "room": event.room,
        "seq": event.seq,
        "time": json_time(event),
        "sender": event.sender,
        "history": event.history,
    }
    match event:
        case Message(text=text) | Action(text=text) | TopicChanged(text=text):
            obj["text"] = text
        case Left(reason=reason):
            obj["reason"] = reason
        case NickChanged(new=new):
            obj["new"] = new
        case Private(target=target, text=text):
            obj["to"] = target
            obj["text"] = text
        case Kicked(target=target, reason=reason):
            obj["target"] = target
            obj["reason"] = reason
        case OperatorChanged(target=target, operator=operator):
            obj["target"] = target
            obj["operator"] = operator
        case BanChanged(mask=mask, banned=banned):
            obj["mask"] = mask
            obj["banned"] = banned
        case Notice(error=error, kind=kind, data=data):
            obj["text"] = notice_text(event)
            obj["kind"] = kind
            obj["error"] = error
            if data:
                obj["data"] = data
    # JSON escapes every control character and line separator, so this stays one line.
    line = _dumps(obj)
    if "\\u00" in line:
        # A control character was escaped: IRC's formatting codes, which the core keeps for IRC
        # clients (nothing else reaches here). A program wants the text without them.
        line = _dumps(_without_formatting(obj))
    return (line + "\n").encode("utf-8")


def _without_formatting(value: Any) -> Any:
    """*value* (from a JSON object) with IRC's formatting codes taken out of every string."""
    if isinstance(value, str):
        return strip_formatting(value)
    if isinstance(value, dict):
        return {key: _without_formatting(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_formatting(item) for item in value]
    return value
