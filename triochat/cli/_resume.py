"""Where line mode resumes each room after a reconnection (sans-IO: no trio, no terminal).

:class:`Resume` reads every JSON line of a connection and keeps, per room the client is in, the
room's ``epoch`` (which the server names in its replies) and the ``seq`` of the last event seen
there. After a reconnection, :meth:`Resume.requests` are the lines that join each room again
with ``since`` (docs/protocol.md, "Resuming after a reconnection"); :meth:`Resume.feed` then
turns the server's ``recovered`` and ``not-recovered`` markers into the client's own lines
("reconnected, N missed lines recovered"), shows recovered events as the live lines they were,
and lists warnings for stderr when lines may be missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["MOST_ROOMS", "Resume", "Resumed"]

#: Most rooms whose position is kept: a server's rooms at most (its default), so that a server
#: sending garbage cannot grow the client's memory, or its next connection's joins, unbounded.
MOST_ROOMS = 1000
#: Longest epoch kept (a server refuses longer ones in ``since``).
_MAX_EPOCH = 64
#: The notices that name the epoch of a room the client is in (docs/protocol.md).
_GREETINGS = frozenset({"welcome", "format", "switch"})
_MARKERS = frozenset({"recovered", "not-recovered"})


def _object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


@attrs.frozen
class Resumed:
    """What one line from the server means for a resumption.

    Attributes:
      line: the line to show (a recovered event rewritten as live), or ``None`` to show none.
      notes: the client's own lines to show before it.
      warnings: what to say on stderr (lines may be missing).
    """

    line: str | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@attrs.define
class Resume:
    """Each room's position, and the resumption in progress (see the module's docstring)."""

    #: Your nick, to tell your own departures from a room.
    nick: str | None = None
    #: Per room (as the server spells it): its epoch and the last seq seen, ``None`` if unknown.
    rooms: dict[str, tuple[str | None, int | None]] = attrs.field(factory=dict)
    #: The current room, to switch back to after rejoining.
    current: str | None = None
    #: Rooms being resumed: whether their events are recovered ones, and how many are to come.
    _replaying: dict[str, tuple[bool, int]] = attrs.field(factory=dict)
    #: True from a reconnection until the greeting's epochs can no longer be mistaken for ours.
    _reconnected: bool = False

    def requests(self) -> list[str]:
        """After a reconnection: the lines that resume every room whose position is known."""
        self._reconnected = True
        lines = []
        for room, (epoch, seq) in self.rooms.items():
            if epoch is None or seq is None:
                # Nothing numbered seen there (a room too large to announce joins): join it
                # again, with its latest history.
                lines.append(json.dumps({"cmd": "join", "room": room}))
                continue
            since = {"epoch": epoch, "seq": seq}
            lines.append(json.dumps({"cmd": "join", "room": room, "since": since}))
        if self.current is not None and self.current in self.rooms:
            lines.append(json.dumps({"cmd": "switch", "room": self.current}))
        return lines

    def feed(self, line: str) -> Resumed:
        """Take one line from the server; say what to show for it."""
        obj = _object(line)
        if obj is None:
            return Resumed(line)
        data = obj.get("data")
        data = data if isinstance(data, Mapping) else {}
        room = obj.get("room") or data.get("room")
        if not isinstance(room, str) or not room:
            return Resumed(line)
        if obj.get("type") == "notice":
            return self._notice(line, obj.get("kind"), room, data)
        replaying = self._replaying.get(room)
        if obj.get("history") is True and replaying is not None:
            recovered, left = replaying
            self._count_down(room, recovered, left)
            if not recovered:
                return Resumed(line)
            self._saw(room, obj)
            return Resumed(json.dumps({**obj, "history": False}, ensure_ascii=False))
        if obj.get("history") is not True:
            self._saw(room, obj)
        return Resumed(line)

    def _notice(self, line: str, kind: object, room: str, data: Mapping[str, Any]) -> Resumed:
        if kind in ("welcome", "format", "nick") and isinstance(data.get("nick"), str):
            self.nick = data["nick"]
        epoch = data.get("epoch")
        greeting = kind in ("welcome", "format")
        # Only the notices that say the client is in the room name its epoch; others (and a
        # garbage server's) are not taken as rooms to join again.
        says = kind in _GREETINGS or (kind in _MARKERS and room in self.rooms)
        if (
            says
            and isinstance(epoch, str)
            and len(epoch) <= _MAX_EPOCH
            and not (greeting and self._reconnected)
            and self._may_keep(room)
        ):
            _, seq = self.rooms.get(room, (None, None))
            self.rooms[room] = (epoch, seq)
        if kind == "switch" and data.get("room") == room:
            self.current = room
        if kind not in ("recovered", "not-recovered"):
            return Resumed(line)
        self._reconnected = False
        given = data.get("count")
        count = given if isinstance(given, int) else 0
        if kind == "recovered":
            missed = f"{count} missed line{'' if count == 1 else 's'}"
            note = f"*** reconnected, {missed} recovered in {room}"
            self._count_down(room, True, count + 1)
            return Resumed(None, (note,))
        self._count_down(room, False, count + 1)
        note = f"*** reconnected; could not recover missed lines in {room}, showing latest history"
        warning = (
            f"could not recover the lines said in {room} while reconnecting "
            f"({data.get('reason', 'unknown')}): some lines may be missing"
        )
        return Resumed(None, (note,), (warning,))

    def _count_down(self, room: str, recovered: bool, left: int) -> None:
        if left > 1:
            self._replaying[room] = (recovered, left - 1)
        else:
            self._replaying.pop(room, None)

    def _saw(self, room: str, obj: Mapping[str, Any]) -> None:
        seq = obj.get("seq")
        if obj.get("sender") == self.nick and obj.get("type") in ("part", "kick"):
            self.rooms.pop(room, None)
            return
        if obj.get("type") == "kick" and obj.get("target") == self.nick:
            self.rooms.pop(room, None)
            return
        if obj.get("type") == "nick" and obj.get("sender") == self.nick:
            self.nick = obj.get("new") if isinstance(obj.get("new"), str) else self.nick
        # A room is kept from the client's own join on (or a notice naming its epoch): events
        # of rooms it never joined are not positions to resume.
        own_join = obj.get("type") == "join" and obj.get("sender") == self.nick
        known = room in self.rooms or (own_join and self._may_keep(room))
        if isinstance(seq, int) and seq > 0 and known:
            epoch, _ = self.rooms.get(room, (None, None))
            self.rooms[room] = (epoch, seq)

    def _may_keep(self, room: str) -> bool:
        return room in self.rooms or len(self.rooms) < MOST_ROOMS
