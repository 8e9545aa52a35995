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
JSON. Nothing here does I/O; :mod:`triochat.cli._connect` does that.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import zlib
from collections.abc import Mapping
from typing import Any, Final

from ._decode import parse_time

__all__ = [
    "NICK_COLORS",
    "Display",
    "color_enabled",
    "nick_color",
    "render_event",
]

RESET: Final = "\x1b[0m"
DIM: Final = "\x1b[2m"
BOLD_RED: Final = "\x1b[1;31m"
#: Back to the default foreground colour only, so that a coloured nick inside a dimmed line
#: leaves the line dimmed.
DEFAULT_FOREGROUND: Final = "\x1b[39m"
#: The colours nicks are drawn in: red, green, yellow, blue, magenta, cyan.
NICK_COLORS: Final = tuple(f"\x1b[{code}m" for code in range(31, 37))

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


def nick_color(nick: str) -> str:
    """The colour (an ANSI SGR sequence) of *nick*: the same for the same nick in any case, in
    every run and on every machine (CRC-32, not Python's randomised ``hash``)."""
    digest = zlib.crc32(nick.casefold().encode("utf-8", errors="replace"))
    return NICK_COLORS[digest % len(NICK_COLORS)]


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
    kind = obj.get("type")
    where = _clean(obj.get("room"))
    sender = _clean(obj.get("sender"))
    text = _clean(obj.get("text"))

    def nick(name: str) -> str:
        return f"{nick_color(name)}{name}{DEFAULT_FOREGROUND}" if color else name

    stamp = _clock(obj.get("time"), tz)
    tag = f"{where} " if where and where != room else ""
    match kind:
        case "message":
            line = f"{stamp} {tag}<{nick(sender)}> {text}"
        case "action":
            line = f"{stamp} {tag}* {nick(sender)} {text}"
        case "join":
            line = f"{stamp} --> {nick(sender)} joined {where}"
        case "part":
            reason = _clean(obj.get("reason"))
            because = f" ({reason})" if reason else ""
            line = f"{stamp} <-- {nick(sender)} left {where}{because}"
        case "nick":
            line = f"{stamp} {tag}--- {nick(sender)} is now known as {nick(_clean(obj.get('new')))}"
        case "topic":
            what = f"set the topic of {where}: {text}" if text else f"cleared the topic of {where}"
            line = f"{stamp} --- {nick(sender)} {what}"
        case "private":
            target = _clean(obj.get("to"))
            line = f"{stamp} [private] <{nick(sender)} -> {nick(target)}> {text}"
        case "kick":
            reason = _clean(obj.get("reason"))
            because = f" ({reason})" if reason else ""
            target = nick(_clean(obj.get("target")))
            line = f"{stamp} <-- {target} was kicked from {where} by {nick(sender)}{because}"
        case "op":
            target = nick(_clean(obj.get("target")))
            if obj.get("operator") is True:
                what = f"made {target} an operator of {where}"
            else:
                what = f"took operator status in {where} from {target}"
            line = f"{stamp} --- {nick(sender)} {what}"
        case "ban":
            verb = "banned" if obj.get("banned") else "lifted the ban on"
            line = f"{stamp} --- {nick(sender)} {verb} {_clean(obj.get('mask'))} in {where}"
        case "notice":
            if obj.get("error") is True or obj.get("kind") == "error":
                if not text.startswith("error"):
                    text = f"error: {text}"
                line = f"*** {text}"
                return f"{BOLD_RED}{line}{RESET}" if color else line
            line = f"*** {text}"
            if obj.get("kind") in ("history", "history-end"):
                return f"{DIM}{line}{RESET}" if color else line
        case _:
            # Not a type this client knows (a newer server?): show what it says, marked.
            label = _clean(kind) or "event"
            line = f"*** [{label}] {text}".rstrip()
    if obj.get("history") is True and color:
        return f"{DIM}{line}{RESET}"
    return line


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
