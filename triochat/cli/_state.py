"""What the full-screen client shows, kept apart from how it is drawn (sans-IO: no trio, no urwid).

:class:`ChatState` takes the server's JSON events (:meth:`ChatState.feed_line`) and keeps one
:class:`Window` per room you are in: its scrollback (styled lines, bounded), the people in it,
how many messages came while you looked elsewhere, and the last event seen there. It also knows
which window is on view (the server's current room), your nick, and what the client asked the
server for on its own (a ``/who`` after each join, for the nick list), so that those answers fill
the nick list without cluttering the conversation.

History is replayed by the server before a join and on ``/history``. The first time a room is
shown, its replay is shown dimmed. After a reconnection, each room whose epoch the server said
is joined again with ``since`` (the last event seen there): the server replays exactly what was
missed after a ``recovered`` marker ("reconnected, N missed lines recovered"), or says
``not-recovered`` and replays the latest history, shown after a line saying so. With a server
that names no epoch (an older one), the replay asked for to catch up is
compared with the last event seen in that room: if that event is in it, only what came after it
is shown (the lines missed while disconnected); if not, the log does not reach back that far (or
the server restarted without a durable log), and a line says so before the replay.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

from ..client._render import Rendered, render_spans

__all__ = ["SCROLLBACK", "ChatState", "Window"]

#: Lines kept per window; older ones are forgotten.
SCROLLBACK: Final = 5000
#: Text lines kept from before the switch to JSON, shown only if the switch never comes.
_HELD_LINES: Final = 64
_LEFT: Final = re.compile(r"^you left (\S+);")


def _clean(value: object) -> str:
    return render_spans({"type": "notice", "text": value}).text.removeprefix("*** ")


def _key(room: str) -> str:
    return room.casefold()


@attrs.define(eq=False)
class Window:
    """One room on screen."""

    name: str
    lines: collections.deque[Rendered] = attrs.field(
        factory=lambda: collections.deque(maxlen=SCROLLBACK)
    )
    #: Lines ever added: a view compares it with what it has drawn to add the new ones.
    added: int = 0
    #: Messages that came while another window was on view, and whether one named you.
    unread: int = 0
    mentioned: bool = False
    #: The people in the room, by folded nick.
    nicks: dict[str, str] = attrs.field(factory=dict)
    #: ``(seq, time, sender)`` of the last live event seen here, to catch up after a reconnect.
    last_seen: tuple[int, str, str] | None = None
    #: The history being replayed, until it ends; ``None`` when none is. Its last
    #: :data:`SCROLLBACK` events at least: older ones could not be shown anyway.
    replay: list[Mapping[str, Any]] | None = None
    #: Events of the replay under way dropped from :attr:`replay`, to count them still.
    dropped: int = 0
    #: The epoch of the room's numbering, as the server last said it: with :attr:`last_seen`,
    #: where a reconnection resumes from (``{"cmd":"join","since":...}``).
    epoch: str | None = None
    #: While a resumption replays: whether it recovered what was missed, and how many events
    #: come (the ``recovered`` or ``not-recovered`` marker's count).
    resuming: tuple[bool, int] | None = None
    #: A rejoin is on its way: your own join event, when it comes, says nothing new.
    quiet_join: bool = False

    def add(self, line: Rendered) -> None:
        self.lines.append(line)
        self.added += 1


@attrs.define(eq=False)
class ChatState:
    """The conversation as the full-screen client shows it (see the module's documentation)."""

    #: Events of history to show on connecting (``None``: all); also the most shown after a
    #: reconnection whose history does not reach back to the last line seen.
    history: int | None = None
    tz: dt.tzinfo | None = None
    nick: str | None = None
    #: Windows by folded room name, in the order they were opened (Alt-1, Alt-2...).
    windows: dict[str, Window] = attrs.field(factory=dict)
    #: The folded name of the window on view.
    view: str = ""
    #: Every room the server listed (for completion).
    rooms_known: set[str] = attrs.field(factory=set)
    #: Whether the server confirmed the JSON format on this connection (or never will: see
    #: :attr:`text_only`).
    json: bool = False
    #: The server is not triochat: lines are sent and shown as text.
    text_only: bool = False
    #: Lines the client should send on its own (a ``/who`` after a join): the UI takes them.
    requests: list[str] = attrs.field(factory=list)
    #: What the connection is doing, for the status line.
    connection: str = "connecting"
    _held: collections.deque[str] = attrs.field(
        factory=lambda: collections.deque(maxlen=_HELD_LINES)
    )
    _quiet_who: collections.Counter[str] = attrs.field(factory=collections.Counter)
    _quiet_rooms: int = 0
    _quiet_switch: int = 0
    #: Rooms whose next replay catches up after a reconnection.
    _catching_up: set[str] = attrs.field(factory=set)
    _reconnected: bool = False
    _setting_up: bool = False

    # ------------------------------------------------------------------------------ views

    @property
    def current(self) -> Window:
        """The window on view (one for notices, ``*``, when you are in no room)."""
        window = self.windows.get(self.view)
        if window is None:
            window = self.windows.setdefault("*", Window("*"))
            self.view = "*"
        return window

    def show(self, name: str) -> Window | None:
        """Put the window of room *name* on view (``None`` if there is none)."""
        window = self.windows.get(_key(name))
        if window is not None:
            self.view = _key(name)
            window.unread = 0
            window.mentioned = False
        return window

    def window_at(self, index: int) -> Window | None:
        """The *index*-th window (from 0), as Alt-1... number them."""
        rooms = list(self.windows.values())
        return rooms[index] if 0 <= index < len(rooms) else None

    def note(self, text: str, kind: str = "notice") -> None:
        """Show a line of the client's own (not from the server) in the window on view."""
        self.current.add(Rendered((("", f"*** {text}"),), kind))

    def completions(self) -> Iterator[str]:
        """Nicks (of the window on view first), then room names, for Tab."""
        yield from self.current.nicks.values()
        for window in self.windows.values():
            yield from window.nicks.values()
        yield from (window.name for window in self.windows.values() if window.name != "*")
        yield from sorted(self.rooms_known)

    # -------------------------------------------------------------------------- connection

    def connected(self, *, again: bool) -> None:
        """A new connection is up (*again*: after a lost one). Once the server confirms the JSON
        format, :attr:`requests` gets what to send: the nick list and the room list, and on a
        reconnection, rejoining every room and catching up on what was missed."""
        self.json = self.text_only = False
        self._reconnected = again
        self._setting_up = True
        self._quiet_who.clear()
        self._quiet_switch = 0
        self._catching_up.clear()
        for window in self.windows.values():
            window.replay, window.dropped = None, 0
            window.nicks.clear()

    def switch(self, index: int) -> str | None:
        """Put the *index*-th window (from 0) on view, as Alt-1... do; returns the line that tells
        the server (whose current room commands such as ``/topic`` act on), if any."""
        rooms = [window for window in self.windows.values() if window.name != "*"]
        if not 0 <= index < len(rooms):
            return None
        self.show(rooms[index].name)
        self._quiet_switch += 1
        return f"/switch {rooms[index].name}"

    def _set_up(self, default: str | None) -> None:
        """What to ask for once the JSON format is confirmed (see :meth:`connected`)."""
        self._setting_up = False
        self._quiet_rooms = 1
        requests = ["/rooms"]
        rooms = [window for window in self.windows.values() if window.name != "*"]
        if not self._reconnected or not rooms:
            if default is not None:
                self._quiet_who[_key(default)] += 1
                requests.append("/who")
            self.requests.extend(requests)
            return
        viewed = self.view
        for window in rooms:
            in_default = default is not None and _key(window.name) == _key(default)
            if window.epoch is not None and window.last_seen is not None:
                # Resumed all or nothing by the server (docs/protocol.md): the marker says which.
                since = {"epoch": window.epoch, "seq": window.last_seen[0]}
                requests.append(json.dumps({"cmd": "join", "room": window.name, "since": since}))
                self._quiet_switch += 1  # the join's "now talking in": not what you asked for
                window.quiet_join = not in_default
                if in_default:
                    self._quiet_who[_key(window.name)] += 1
                    requests.append("/who")
                continue
            self._catching_up.add(_key(window.name))
            window.replay = []  # an empty history is news too: nothing reaches back
            if in_default:
                # Joined on connecting: its history comes with /history.
                self._quiet_who[_key(window.name)] += 1
                requests += ["/history", "/who"]
            else:
                self._quiet_switch += 1  # "now talking in #room": not what you asked for
                requests.append(f"/join {window.name}")  # its history comes with the join
        if default is not None and _key(default) not in self.windows:
            requests.append(f"/part {default}")  # you had left it
        if viewed in self.windows and viewed != "*":
            self._quiet_switch += 1
            requests.append(f"/switch {self.windows[viewed].name}")
        self.requests.extend(requests)

    # ------------------------------------------------------------------------------ input

    def feed_line(self, line: str) -> None:
        """Take one line from the server."""
        obj = None
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                obj = None
        if isinstance(obj, dict):
            self._held.clear()
            self.feed(obj)
        elif self.json:
            self.note(_clean(line))
        else:
            self._held.append(_clean(line))

    def pass_through(self) -> None:
        """The server will not switch to JSON: show its text lines (held so far, and to come)."""
        self.json = self.text_only = True  # its text lines are shown from now on
        for line in self._held:
            self.note(line)
        self._held.clear()

    def feed(self, obj: Mapping[str, Any]) -> None:
        """Take one decoded JSON event."""
        kind = obj.get("type")
        if kind == "notice":
            self._notice(obj)
            return
        room = _clean(obj.get("room"))
        sender = obj.get("sender")
        if kind == "private" or not room:
            self.current.add(render_spans(obj, tz=self.tz))
            return
        window = self._window(room)
        if obj.get("history") is True:
            if window.replay is None:
                window.replay = []
            window.replay.append(obj)
            if len(window.replay) >= 2 * SCROLLBACK:
                # A server replaying without end (or lying about the count) cannot grow the
                # client's memory: only the last SCROLLBACK lines could be shown.
                window.dropped += len(window.replay) - SCROLLBACK
                del window.replay[:-SCROLLBACK]
            replayed = len(window.replay) + window.dropped
            if window.resuming is not None and replayed >= window.resuming[1]:
                self._end_replay(window)
            return
        mine = sender == self.nick
        rejoined = False
        if kind == "join" and mine:
            rejoined = _key(room) in self._catching_up or window.quiet_join
            window.quiet_join = False
            self._end_replay(window, joined=True)
            self.show(room)
        self._track_people(window, obj, mine)
        seq, time = obj.get("seq"), obj.get("time")
        # Until it has caught up, the room's last line seen is the one to look for.
        if isinstance(seq, int) and isinstance(time, str) and _key(room) not in self._catching_up:
            window.last_seen = (seq, time, str(sender))
        if _key(room) not in self.windows:  # you were kicked out of it
            window = self.current
        if not rejoined:  # after a reconnection, your own join says nothing new
            self._add_event(window, obj, mine)

    def _add_event(self, window: Window, obj: Mapping[str, Any], mine: bool) -> None:
        line = render_spans(obj, room=window.name, tz=self.tz)
        said = obj.get("type") in ("message", "action")
        text = obj.get("text")
        if (
            said
            and not mine
            and self.nick
            and isinstance(text, str)
            and re.search(rf"(?<!\w){re.escape(self.nick)}(?!\w)", text, re.IGNORECASE)
        ):
            line = attrs.evolve(line, kind="mention")
            window.mentioned = window is not self.current
        window.add(line)
        if said and not mine and window is not self.current:
            window.unread += 1

    def _track_people(self, window: Window, obj: Mapping[str, Any], mine: bool) -> None:
        sender = _clean(obj.get("sender"))
        match obj.get("type"):
            case "join":
                window.nicks[sender.casefold()] = sender
                if mine:
                    self._quiet_who[_key(window.name)] += 1
                    self.requests.append(f"/who {window.name}")
            case "part":
                window.nicks.pop(sender.casefold(), None)
            case "kick":
                target = _clean(obj.get("target"))
                window.nicks.pop(target.casefold(), None)
                if target == self.nick:
                    # Out of the room: its window goes, and the line is shown where you are
                    # now (the room joined last, as the server has it).
                    self.windows.pop(_key(window.name), None)
                    rooms = [w for w in self.windows.values() if w.name != "*"]
                    self.view = _key(rooms[-1].name) if rooms else "*"
            case "nick":
                new = _clean(obj.get("new"))
                window.nicks.pop(sender.casefold(), None)
                window.nicks[new.casefold()] = new
                if mine:
                    self.nick = new

    def _window(self, room: str) -> Window:
        window = self.windows.get(_key(room))
        if window is None:
            window = self.windows[_key(room)] = Window(room)
        return window

    def _notice(self, obj: Mapping[str, Any]) -> None:
        kind = obj.get("kind")
        data = obj.get("data")
        data = data if isinstance(data, Mapping) else {}
        room = data.get("room") if isinstance(data.get("room"), str) else None
        if kind in ("format", "welcome", "nick") and isinstance(data.get("nick"), str):
            self.nick = data["nick"]
        # On a reconnection, the room a client is put in is resumed from the epoch of the last
        # line seen there, not from the one the new connection's greeting names.
        greeting = self._reconnected and kind in ("format", "welcome")
        if room is not None and isinstance(data.get("epoch"), str) and not greeting:
            self._window(room).epoch = data["epoch"]
        match kind:
            case "format":
                self.json = data.get("format") == "json"
                if room is not None and not self._reconnected:
                    self._window(room)
                    self.show(room)
                self.note(self._greeting())
                if self._setting_up and self.json:
                    self._set_up(room)
            case "switch":
                left = _LEFT.match(_clean(obj.get("text")))
                if left is not None:
                    self.windows.pop(_key(left[1]), None)
                if self._quiet_switch and left is None:
                    self._quiet_switch -= 1
                    return
                if room is not None and _key(room) in self.windows:
                    self.show(room)
                elif room is None:
                    self.view = "*"
                self.current.add(render_spans(obj, tz=self.tz))
            case "who" if room is not None and isinstance(data.get("members"), list):
                window = self.windows.get(_key(room))
                if window is not None:
                    window.nicks = {str(n).casefold(): _clean(n) for n in data["members"]}
                quiet = _key(room) if self._quiet_who[_key(room)] else ""
                if self._quiet_who[quiet]:
                    self._quiet_who[quiet] -= 1
                    return
                self.current.add(render_spans(obj, tz=self.tz))
            case "rooms" if isinstance(data.get("rooms"), list):
                for listed in data["rooms"]:
                    if isinstance(listed, Mapping) and isinstance(listed.get("name"), str):
                        self.rooms_known.add(_clean(listed["name"]))
                if self._quiet_rooms:
                    self._quiet_rooms -= 1
                    return
                self.current.add(render_spans(obj, tz=self.tz))
            case "history" if room is not None:
                window = self._window(room)
                window.replay, window.dropped = [], 0
            case "history-end" if room is not None:
                self._end_replay(self._window(room))
            case "recovered" | "not-recovered" if room is not None:
                window = self._window(room)
                count = data.get("count")
                window.resuming = (kind == "recovered", count if isinstance(count, int) else 0)
                window.replay, window.dropped = [], 0
                if not window.resuming[1]:
                    self._end_replay(window)
            case "ping":
                self.requests.append("")  # any line is a sign of life; an empty one says nothing
            case _:
                self.current.add(render_spans(obj, tz=self.tz))

    def _greeting(self) -> str:
        if self._reconnected:
            return "reconnected"
        who = f"you are {_clean(self.nick)}" if self.nick else "connected"
        where = f", talking in {self.current.name}" if self.current.name != "*" else ""
        return f"{who}{where}. /help lists the commands, /quit leaves, Alt-1...9 switch rooms."

    def _end_replay(self, window: Window, *, joined: bool = False) -> None:
        events, window.replay = window.replay, None
        dropped, window.dropped = window.dropped, 0
        if events is None:
            return
        if window.resuming is not None:
            self._end_resumption(window, events, dropped)
            return
        room = _key(window.name)
        if room in self._catching_up and window.last_seen is not None:
            self._catching_up.discard(room)
            seen = [
                index
                for index, obj in enumerate(events)
                if (obj.get("seq"), obj.get("time"), obj.get("sender")) == window.last_seen
            ]
            if seen:
                missed = events[seen[-1] + 1 :]
                if missed:
                    count = f"{len(missed)} line{'' if len(missed) == 1 else 's'}"
                    window.add(self._plain(f"{count} you missed:", "history"))
                for obj in missed:
                    self._add_event(
                        window, {**obj, "history": False}, obj.get("sender") == self.nick
                    )
                    window.last_seen = (obj["seq"], obj["time"], str(obj.get("sender")))
                return
            window.add(
                self._plain(
                    f"the history of {window.name} does not reach back to the last line you "
                    "saw: some lines may be missing",
                    "error",
                )
            )
        if self.history is not None and joined:  # what /history asks for is shown whole
            events = events[-self.history :] if self.history else []
        for obj in events:
            window.add(render_spans(obj, room=window.name, tz=self.tz))
        if events:
            window.add(self._plain(f"end of history of {window.name}", "history"))
        last = events[-1] if events else None
        if last is not None and isinstance(last.get("seq"), int) and window.last_seen is None:
            window.last_seen = (last["seq"], str(last.get("time")), str(last.get("sender")))

    def _end_resumption(
        self, window: Window, events: list[Mapping[str, Any]], dropped: int = 0
    ) -> None:
        """Show what a resumption replayed: exactly the lines missed, or the latest history
        after a line saying that what was missed could not be recovered."""
        recovered, _ = window.resuming or (False, 0)
        window.resuming = None
        if recovered:
            total = len(events) + dropped
            count = f"{total} missed line{'' if total == 1 else 's'}"
            window.add(self._plain(f"reconnected, {count} recovered", "history"))
            for obj in events:
                self._add_event(window, {**obj, "history": False}, obj.get("sender") == self.nick)
        else:
            window.add(
                self._plain(
                    "reconnected; could not recover missed lines, showing latest history", "error"
                )
            )
            for obj in events:
                window.add(render_spans(obj, room=window.name, tz=self.tz))
            if events:
                window.add(self._plain(f"end of history of {window.name}", "history"))
        last = events[-1] if events else None
        if last is not None and isinstance(last.get("seq"), int):
            window.last_seen = (last["seq"], str(last.get("time")), str(last.get("sender")))

    @staticmethod
    def _plain(text: str, kind: str) -> Rendered:
        return Rendered((("", f"*** {text}"),), kind)
