"""Renderers: events to bytes, one function per wire format (sans-IO: no trio here).

A renderer is called once per event and format; the bytes are cached on the event
(:meth:`Event.encode <triochat.Event.encode>`) and shared by every member using that format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from ..core._events import (
    DEFAULT_ROOM,
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

__all__ = ["RENDERERS", "render_json", "render_text"]


def _clock(event: Event) -> str:
    return event.time.strftime("[%H:%M:%S]")


def _tag(event: Event) -> str:
    # Events of the default room look exactly as in a one-room chat; any other room is named.
    return "" if event.room == DEFAULT_ROOM else f"{event.room} "


def render_text(event: Event) -> bytes:
    """Render *event* as one line (with its newline) of the human text format.

    Room events start with the time in brackets (and the room, unless it is the default room);
    lines from the server start with ``***``. History copies render like the live event.
    """
    match event:
        case Message(sender=sender, text=text):
            line = f"{_clock(event)} {_tag(event)}<{sender}> {text}"
        case Action(sender=sender, text=text):
            line = f"{_clock(event)} {_tag(event)}* {sender} {text}"
        case Joined(sender=sender):
            line = f"{_clock(event)} *** {sender} joined {event.room}"
        case Left(sender=sender, reason=reason):
            because = f" ({reason})" if reason else ""
            line = f"{_clock(event)} *** {sender} left {event.room}{because}"
        case NickChanged(sender=old, new=new):
            line = f"{_clock(event)} {_tag(event)}*** {old} is now known as {new}"
        case TopicChanged(sender=sender, text=text):
            what = (
                f"set the topic of {event.room}: {text}"
                if text
                else (f"cleared the topic of {event.room}")
            )
            line = f"{_clock(event)} *** {sender} {what}"
        case Private(sender=sender, target=target, text=text):
            line = f"{_clock(event)} <{sender} -> {target}> {text}"
        case Kicked(sender=sender, target=target, reason=reason):
            because = f" ({reason})" if reason else ""
            line = f"{_clock(event)} *** {target} was kicked from {event.room} by {sender}{because}"
        case OperatorChanged(sender=sender, target=target, operator=True):
            line = f"{_clock(event)} *** {sender} made {target} an operator of {event.room}"
        case OperatorChanged(sender=sender, target=target):
            line = (
                f"{_clock(event)} *** {sender} took operator status in {event.room} from {target}"
            )
        case BanChanged(sender=sender, mask=mask, banned=banned):
            what = "banned" if banned else "lifted the ban on"
            line = f"{_clock(event)} *** {sender} {what} {mask} in {event.room}"
        case Notice(text=text):
            line = f"*** {text}"
        case _:  # an Event subclass of the library user's own: Event.encode stands in for it
            raise TypeError(f"no text rendering for {type(event).__name__}")
    return (line + "\n").encode("utf-8")


_JSON_TYPES: Final[dict[type[Event], str]] = {
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

_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_type_of_subclass(cls: type[Event]) -> str:
    # A subclass of a known event renders as that event (as it does in the text format).
    for base in cls.__mro__:
        if base in _JSON_TYPES:
            return _JSON_TYPES[base]
    raise TypeError(f"no JSON rendering for {cls.__name__}")


def json_time(event: Event) -> str:
    """ISO 8601, UTC, milliseconds: ``2026-11-27T12:00:01.123Z``."""
    return event.time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.time.microsecond // 1000:03d}Z"


def render_json(event: Event) -> bytes:
    """Render *event* as one JSON object on one line (see docs/protocol.md for every field)."""
    kind = _JSON_TYPES.get(type(event)) or _json_type_of_subclass(type(event))
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
        case Notice(text=text, error=error, kind=kind, data=data):
            obj["text"] = text
            obj["kind"] = kind
            obj["error"] = error
            if data:
                obj["data"] = data
    # JSON escapes every control character and line separator, so this stays one line.
    return (_dumps(obj) + "\n").encode("utf-8")


#: Renderer of each wire format, by name.
RENDERERS: Final[dict[str, Callable[[Event], bytes]]] = {
    "text": render_text,
    "json": render_json,
}
