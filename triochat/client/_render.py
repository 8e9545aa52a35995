"""The server's JSON events as lines for people: what ``triochat connect`` prints (sans-IO).

:func:`render_event` turns one decoded JSON event into one display line::

    12:00 <alice> hello                      a message in the room you are talking in
    12:00 #bots <bob> hi                     a message in another room you are in
    12:00 * alice waves                      an action
    12:00 [private] <alice -> bob> psst      a private message (both ends see it)
    12:00 --> carol joined #lobby            join, part, nick and topic changes
    12:00 <-- bob left #lobby (quit: bye)
    12:00 --- alice set the topic of #lobby: release day
    *** error: the nick alice is taken       a notice from the server to you alone

Times are local, ``HH:MM``. With *color*, nicks get a colour of their own (the same one every
time, on every machine), errors are bold red, and history (events replayed from before you
joined) is dimmed. Without it, the lines are plain text: nothing but printable characters.

:class:`Display` adds what one line cannot know: which room you are talking in (for the prompt and
to name other rooms), where a history replay ends, and which lines came before the switch to
JSON. Nothing here does I/O; :mod:`triochat.cli._lines` and :mod:`triochat.cli._tui` do.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._decode import parse_time

__all__ = [
    "NICK_COLORS",
    "NICK_PALETTE",
    "Display",
    "Rendered",
    "color_enabled",
    "nick_color",
    "nick_index",
    "render_event",
    "render_spans",
]

RESET: Final = "\x1b[0m"
DIM: Final = "\x1b[2m"
BOLD_RED: Final = "\x1b[1;31m"
#: Back to the default foreground colour only, so that a coloured nick inside a dimmed line
#: leaves the line dimmed.
DEFAULT_FOREGROUND: Final = "\x1b[39m"
#: The colours nicks are drawn in: sixteen of the 256-colour palette, dark enough to read on a
#: light background and bright enough on a dark one, each with the nearest of the sixteen basic
#: colours for terminals without 256 (as urwid names them).
NICK_PALETTE: Final = (
    (160, "dark red"),
    (166, "light red"),
    (136, "brown"),
    (100, "brown"),
    (70, "light green"),
    (34, "dark green"),
    (30, "dark cyan"),
    (37, "light cyan"),
    (33, "light blue"),
    (25, "dark blue"),
    (62, "dark blue"),
    (98, "light magenta"),
    (91, "dark magenta"),
    (127, "dark magenta"),
    (162, "light magenta"),
    (131, "dark red"),
)
#: The ANSI sequences of :data:`NICK_PALETTE`, in the same order.
NICK_COLORS: Final = tuple(f"\x1b[38;5;{index}m" for index, _ in NICK_PALETTE)

# What a server could use to drive the terminal (C0 and C1 controls but tab, DEL) or to reorder
# the text shown (bidirectional overrides and isolates). The server strips them already; a
# client does not have to trust that. Controls become U+FFFD, so that their absence shows.
CONTROL_CHARACTERS: Final[dict[int, str | None]] = {
    **{
        code: "\N{REPLACEMENT CHARACTER}"
        for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
        if code != ord("\t")
    },
    **dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A))),
}

#: Lines kept from before the switch to JSON, shown only if the switch never happens.
_HELD_LINES: Final = 64


def color_enabled(stream: object, environ: Mapping[str, str]) -> bool:
    """Whether to colour output written to *stream*: only for a terminal, and only when
    ``NO_COLOR`` is unset or empty (https://no-color.org)."""
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def nick_index(nick: str) -> int:
    """The position of *nick*'s colour in :data:`NICK_PALETTE`: the same for the same nick in any
    case, in every run and on every machine (CRC-32, not Python's randomised ``hash``)."""
    return zlib.crc32(nick.casefold().encode("utf-8", errors="replace")) % len(NICK_PALETTE)


def nick_color(nick: str) -> str:
    """The colour of *nick* as an ANSI SGR sequence (see :func:`nick_index`)."""
    return NICK_COLORS[nick_index(nick)]


def _clean(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.translate(CONTROL_CHARACTERS)


def _clock(value: object, tz: dt.tzinfo | None) -> str:
    try:
        return parse_time(value).astimezone(tz).strftime("%H:%M")
    except (ValueError, OverflowError):
        return "--:--"


def _data(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    data = obj.get("data")
    return data if isinstance(data, Mapping) else {}


@attrs.frozen
class Rendered:
    """One display line as styled pieces, for a terminal (:meth:`ansi`) or a UI toolkit.

    :attr:`spans` are ``(style, text)`` pairs: ``""`` for plain text, ``"time"`` for the time
    stamp, ``"nickN"`` for a nick drawn in colour N of :data:`NICK_PALETTE`. :attr:`kind` styles
    the whole line: ``""``, ``"error"`` (a notice that says something went wrong), ``"history"``
    (replayed from before you joined, and the notices around a replay) or ``"notice"``.
    """

    spans: tuple[tuple[str, str], ...]
    kind: str = ""

    @property
    def text(self) -> str:
        """The line without any style."""
        return "".join(text for _, text in self.spans)

    def ansi(self, *, color: bool) -> str:
        """The line for a terminal: with *color*, ANSI colours as described in the module."""
        if not color:
            return self.text
        if self.kind == "error":
            return f"{BOLD_RED}{self.text}{RESET}"
        parts = []
        for style, text in self.spans:
            if style.startswith("nick"):
                parts.append(f"{NICK_COLORS[int(style[4:])]}{text}{DEFAULT_FOREGROUND}")
            else:
                parts.append(text)
        line = "".join(parts)
        return f"{DIM}{line}{RESET}" if self.kind == "history" else line


def render_event(
    obj: Mapping[str, Any],
    *,
    color: bool = False,
    room: str | None = None,
    tz: dt.tzinfo | None = None,
) -> str:
    """One display line (without a newline) for the JSON event *obj*.

    Args:
      obj: an event as the server sends it in the JSON format, decoded. Missing or malformed
        fields never raise: the line shows what there is.
      color: add ANSI colours and dimming (see the module's documentation).
      room: the room you are talking in; events of other rooms name their room.
      tz: the time zone to show times in; ``None`` for this machine's local time.
    """
    return render_spans(obj, room=room, tz=tz).ansi(color=color)


def render_spans(
    obj: Mapping[str, Any], *, room: str | None = None, tz: dt.tzinfo | None = None
) -> Rendered:
    """The line :func:`render_event` shows for *obj*, as styled pieces (see :class:`Rendered`)."""
    kind = obj.get("type")
    where = _clean(obj.get("room"))
    sender = _clean(obj.get("sender"))
    text = _clean(obj.get("text"))
    spans: list[tuple[str, str]] = []

    def say(*parts: str) -> None:
        spans.extend(("", part) for part in parts)

    def nick(name: str) -> None:
        spans.append((f"nick{nick_index(name)}", name))

    line_kind = "history" if obj.get("history") is True else ""
    if kind != "notice":
        spans.append(("time", _clock(obj.get("time"), tz)))
    tag = f"{where} " if where and where != room else ""
    match kind:
        case "message":
            say(f" {tag}<")
            nick(sender)
            say(f"> {text}")
        case "action":
            say(f" {tag}* ")
            nick(sender)
            say(f" {text}")
        case "join":
            say(" --> ")
            nick(sender)
            say(f" joined {where}")
        case "part":
            reason = _clean(obj.get("reason"))
            say(" <-- ")
            nick(sender)
            say(f" left {where}", f" ({reason})" if reason else "")
        case "nick":
            say(f" {tag}--- ")
            nick(sender)
            say(" is now known as ")
            nick(_clean(obj.get("new")))
        case "topic":
            say(" --- ")
            nick(sender)
            say(f" set the topic of {where}: {text}" if text else f" cleared the topic of {where}")
        case "private":
            say(" [private] <")
            nick(sender)
            say(" -> ")
            nick(_clean(obj.get("to")))
            say(f"> {text}")
        case "kick" | "op" | "ban":
            _moderation(kind, obj, where, sender, say, nick)
        case "notice":
            if obj.get("error") is True or obj.get("kind") == "error":
                if not text.startswith("error"):
                    text = f"error: {text}"
                return Rendered((("", f"*** {text}"),), "error")
            history = obj.get("kind") in ("history", "history-end") or line_kind
            return Rendered((("", f"*** {text}"),), "history" if history else "notice")
        case _:
            # Not a type this client knows (a newer server?): show what it says, marked.
            label = _clean(kind) or "event"
            return Rendered((("", f"*** [{label}] {text}".rstrip()),), line_kind)
    return Rendered(tuple(spans), line_kind)


def _moderation(
    kind: str,
    obj: Mapping[str, Any],
    where: str,
    sender: str,
    say: Callable[..., None],
    nick: Callable[[str], None],
) -> None:
    """The pieces of a kick, an operator change or a ban (for :func:`render_spans`)."""
    if kind == "kick":
        reason = _clean(obj.get("reason"))
        say(" <-- ")
        nick(_clean(obj.get("target")))
        say(f" was kicked from {where} by ")
        nick(sender)
        say(f" ({reason})" if reason else "")
    elif kind == "op":
        say(" --- ")
        nick(sender)
        if obj.get("operator") is True:
            say(" made ")
            nick(_clean(obj.get("target")))
            say(f" an operator of {where}")
        else:
            say(f" took operator status in {where} from ")
            nick(_clean(obj.get("target")))
    else:
        verb = "banned" if obj.get("banned") else "lifted the ban on"
        say(" --- ")
        nick(sender)
        say(f" {verb} {_clean(obj.get('mask'))} in {where}")


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


class Display:
    """Turns the lines of one connection into lines to print, keeping track of the session.

    Feed it every line received with :meth:`feed`, and call :meth:`finish` when the connection
    ends. Until told otherwise, it expects the connection to switch to JSON: text lines before
    the server's confirmation (the welcome, the join and history in text) are held back, and
    dropped when the confirmation comes, which is shown as a short welcome instead. If it never
    comes, :meth:`finish` returns the held lines, so they are not lost; :meth:`pass_through`
    gives up waiting for it (the switch was not asked for). Text lines after that (or after
    someone typed ``/format text``) are shown as they are, with control characters replaced.

    :attr:`room` and :attr:`nick` follow the server's ``format``, ``switch`` and ``nick``
    notices and your own joins and nick changes; :attr:`prompt` shows the room.
    """

    def __init__(self, *, color: bool = False, tz: dt.tzinfo | None = None) -> None:
        self.color = color
        self.tz = tz
        #: Your nick, once the server said it.
        self.nick: str | None = None
        #: The room your plain lines go to; ``None`` before the server said it, and when you are
        #: in no room.
        self.room: str | None = None
        #: Whether the server confirmed the JSON format.
        self.confirmed = False
        #: The format the server uses for the lines sent from now on: ``"json"`` once
        #: :meth:`asked_for_json` was called, until a ``format`` notice says otherwise.
        self.wire_format = "text"
        # Text lines are held back until the first JSON line, or until pass_through.
        self._holding = True
        self._held: collections.deque[str] = collections.deque(maxlen=_HELD_LINES)
        # The room whose history is being shown, to say where it ends.
        self._replaying: str | None = None
        self._quiet_history = False
        self._skip_history_end = False

    @property
    def prompt(self) -> str:
        """The prompt for a terminal: ``#lobby> ``, or ``> `` when the room is not known."""
        return f"{_clean(self.room)}> " if self.room else "> "

    def asked_for_json(self, *, history: bool = False) -> None:
        """Say that the program sent ``/format json`` (and then ``/history``, if *history*).

        The history asked for this way is shown only if there is some, rather than as
        "0 events" and "end of history" that nobody typed.
        """
        self.wire_format = "json"
        self._quiet_history = history

    def pass_through(self) -> list[str]:
        """Stop holding text lines back (there will be no switch to JSON), and return the lines
        held so far, to print."""
        self._holding = False
        return self.finish()

    def feed(self, line: str) -> list[str]:
        """The lines to print (possibly none) for *line*, received from the server."""
        obj = _json_object(line)
        if obj is None:
            if self._holding:
                self._held.append(_clean(line))
                return []
            return [_clean(line)]
        notice_kind = obj.get("kind") if obj.get("type") == "notice" else None
        if self._holding:
            self._holding = False
            self._held.clear()
            if notice_kind == "format":
                self._track(obj, notice_kind)
                return [self._welcome()]
        shown: list[str] = []
        if obj.get("history") is True:
            self._replaying = _clean(obj.get("room")) or self._replaying
        elif self._replaying is not None:
            if notice_kind != "history-end":
                shown.append(self._end_of_history(self._replaying))
            self._replaying = None
        if notice_kind == "history" and self._quiet_history:
            self._quiet_history = False
            if _data(obj).get("count") == 0:
                self._skip_history_end = True
                return shown
        if notice_kind == "history-end" and self._skip_history_end:
            self._skip_history_end = False
            return shown
        self._track(obj, notice_kind)
        shown.append(render_event(obj, color=self.color, room=self.room, tz=self.tz))
        return shown

    def finish(self) -> list[str]:
        """The lines still to print when the connection has ended."""
        held = list(self._held)
        self._held.clear()
        return held

    def _welcome(self) -> str:
        where = f"talking in {_clean(self.room)}" if self.room else "in no room"
        who = f"you are {_clean(self.nick)}, " if self.nick else ""
        return f"*** {who}{where}. /help lists the commands, /quit leaves."

    def _end_of_history(self, room: str) -> str:
        line = f"*** end of history of {room}"
        return f"{DIM}{line}{RESET}" if self.color else line

    def _track(self, obj: Mapping[str, Any], notice_kind: object) -> None:
        data = _data(obj)
        if notice_kind in ("format", "welcome"):
            if notice_kind == "format" and data.get("format") in ("json", "text"):
                self.wire_format = data["format"]
                self.confirmed = self.confirmed or data["format"] == "json"
            if isinstance(data.get("nick"), str):
                self.nick = data["nick"]
            if "room" in data:
                self.room = data["room"] if isinstance(data["room"], str) else None
        elif notice_kind == "nick" and isinstance(data.get("nick"), str):
            self.nick = data["nick"]
        elif notice_kind == "switch":
            self.room = data["room"] if isinstance(data.get("room"), str) else None
        elif obj.get("history") is True or self.nick is None or obj.get("sender") != self.nick:
            return
        elif obj.get("type") == "nick" and isinstance(obj.get("new"), str):
            self.nick = obj["new"]
        elif obj.get("type") == "join" and isinstance(obj.get("room"), str):
            self.room = obj["room"]
