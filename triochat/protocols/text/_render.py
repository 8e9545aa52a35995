"""The text format: events as lines for people (sans-IO: no trio here).

Called once per event by :meth:`Event.encode <triochat.Event.encode>`; the bytes are cached on
the event and shared by every member using the text format. Notices are worded by the
phrasebook (:mod:`._phrases`).
"""

from __future__ import annotations

from ...core._events import (
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
from ...core._text import strip_formatting
from ._phrases import notice_text

__all__ = ["LABELLED_TEXT", "TAGGED", "render_text", "render_text_labelled"]

#: The cache key (see :meth:`Event.encode <triochat.Event.encode>`) of the text format as a
#: member in several rooms reads it: lines of the default room name it too.
LABELLED_TEXT = "text/labelled"
#: The events whose line names its room only outside the default room (see :func:`_tag`); every
#: other event names its room always, and so reads the same in both variants of the format.
TAGGED = (Message, Action, NickChanged)


def _clock(event: Event) -> str:
    return event.time.strftime("[%H:%M:%S]")


def _tag(event: Event, labelled: bool) -> str:
    # Events of the default room look exactly as in a one-room chat; any other room is named.
    # A member in several rooms must tell them apart: for it, the default room is named too.
    return "" if event.room == DEFAULT_ROOM and not labelled else f"{event.room} "


def render_text_labelled(event: Event) -> bytes:
    """:func:`render_text` for a member in several rooms: every room event names its room,
    the default room included."""
    return render_text(event, labelled=True)


def render_text(event: Event, labelled: bool = False) -> bytes:
    """Render *event* as one line (with its newline) of the human text format.

    Room events start with the time in brackets (and the room, unless it is the default room
    and not *labelled*);
    lines from the server start with ``***``. History copies render like the live event.
    """
    match event:
        case Message(sender=sender, text=text):
            line = f"{_clock(event)} {_tag(event, labelled)}<{sender}> {text}"
        case Action(sender=sender, text=text):
            line = f"{_clock(event)} {_tag(event, labelled)}* {sender} {text}"
        case Joined(sender=sender):
            line = f"{_clock(event)} *** {sender} joined {event.room}"
        case Left(sender=sender, reason=reason):
            because = f" ({reason})" if reason else ""
            line = f"{_clock(event)} *** {sender} left {event.room}{because}"
        case NickChanged(sender=old, new=new):
            line = f"{_clock(event)} {_tag(event, labelled)}*** {old} is now known as {new}"
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
        case Notice(kind="away-changed"):  # AWAY_CHANGED: for IRC's away-notify only
            return b""
        case Notice():
            line = f"*** {notice_text(event)}"
        case _:  # an Event subclass of the library user's own: Event.encode stands in for it
            raise TypeError(f"no text rendering for {type(event).__name__}")
    # IRC's bold, colours... are kept by the core for IRC clients; a terminal shows the text.
    return (strip_formatting(line) + "\n").encode("utf-8")
