"""The room log of the Redis engine: a memory log whose order is made in Redis.

A :class:`RedisLog` is a :class:`~triochat.MemoryLog` (the same history in memory, the same
bounds) whose :meth:`~RedisLog.append` does not stamp: it hands the event to the engine, which
sends it to Redis, and returns it unstamped (``seq`` 0). The engine's reader hands every event
of the room back, this process's and other processes' alike, in the order Redis made, and the
log stamps nothing itself: it takes the ``seq`` Redis gave, keeps the event, and delivers it
(:meth:`RedisLog.receive`). The room's fan-out is unchanged: one loop, no ``await``.

Opening a room loads it (its epoch, ``seq``, newest kept events and state, all read in one
script, as of one position of the engine's stream): events of the room the reader meets before
that answer are held, and those at or before that position dropped, so each event is delivered
once. Members who joined before the answer get the history with it, before anything live.

State (topic, operators, bans) changes here at once and is sent to Redis as a change (added,
removed), never as a whole, so that a process cannot undo another's change it has not seen;
the authoritative state after each change comes back through the stream and replaces the local
one, unless a change of this process is still on its way (its own answer will carry both).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ..core._events import (
    Action,
    BanChanged,
    Event,
    Joined,
    Kicked,
    Left,
    Message,
    NickChanged,
    OperatorChanged,
    TopicChanged,
    utc_now,
)
from ..core._log import MemoryLog, RoomState
from ..core._nicks import fold_case, nick_key

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ._redis import RedisEngine

__all__ = ["RedisLog", "stream_id"]

_log = logging.getLogger("triochat.engines.redis")

#: The events a room's stream carries, by the name it carries them under.
KINDS: Final[dict[str, type[Event]]] = {
    kind.__name__: kind
    for kind in (
        Message,
        Action,
        TopicChanged,
        Joined,
        Left,
        NickChanged,
        Kicked,
        OperatorChanged,
        BanChanged,
    )
}
#: Events a room's history keeps (and its stream in Redis).
KEPT: Final = frozenset({Message, Action, TopicChanged})


def stream_id(identifier: str) -> tuple[int, int]:
    """A Redis stream entry id (``"1700000000000-3"``) as a pair that compares in stream order."""
    milliseconds, _, sequence = identifier.partition("-")
    return int(milliseconds), int(sequence or 0)


def decode_state(text: str) -> RoomState:
    """The state as the scripts write it (Lua's cjson writes an empty list as ``{}``)."""
    data = json.loads(text)
    operators = data.get("ops") or []
    bans = data.get("bans") or []
    return RoomState(
        topic=data.get("topic") or "", operators=frozenset(operators), bans=tuple(bans)
    )


class RedisLog(MemoryLog):
    """One room's log, ordered by Redis; opened by :meth:`RedisEngine.room_log`."""

    def __init__(
        self, hub: Hub, room: str, deliver: Callable[[Event], None], engine: RedisEngine, /
    ) -> None:
        super().__init__(hub, room, deliver)
        self.key = fold_case(room)
        self._engine = engine
        # Until the room is loaded: the events the reader met (delivered after the load, those
        # past its position only), and the position itself once known.
        self.loaded = False
        self._early: list[tuple[str, Mapping[str, str]]] = []
        self._position = (0, 0)
        # Changes of state sent and not yet seen back (see the module's docstring).
        self._state_pending = 0
        # The room's members held by other processes: nick_key -> (nick, process).
        self._others: dict[str, tuple[str, str]] = {}
        engine._open(self)

    # ------------------------------------------------------------------ the RoomLog interface

    def append(self, kind: type[Event], sender: str, fields: Mapping[str, Any]) -> Event:
        """Send the event to Redis and return it unstamped (``seq`` 0); it is delivered when
        Redis hands it back. Raises :exc:`~triochat.ChatError` while Redis is unreachable."""
        time = utc_now()
        self._engine._send_event(self, kind, sender, time, fields)
        return kind(room=self.room, seq=0, time=time, sender=sender, **fields)

    def set_state(self, state: RoomState) -> None:
        """Change the state here at once, and send the change to Redis."""
        old, self.state = self.state, state
        change: dict[str, Any] = {
            "ops_add": sorted(state.operators - old.operators),
            "ops_del": sorted(old.operators - state.operators),
            "bans_add": [mask for mask in state.bans if mask not in old.bans],
            "bans_del": [mask for mask in old.bans if mask not in state.bans],
            # Before the room is loaded, only its creator is made an operator (Room.join): Redis
            # applies that only if the room is new there too.
            "creator": not self.loaded,
        }
        if state.topic != old.topic:
            change["topic"] = state.topic
        self._state_pending += 1
        self._engine._send_state(self, change)

    @property
    def others(self) -> list[str]:
        """The nicks of the room's members held by other live processes."""
        directory = self._engine.directory
        return [nick for nick, process in self._others.values() if directory.is_alive(process)]

    def close(self) -> None:
        """Stop receiving the room's events and drop its history."""
        self._engine._close(self)
        super().close()

    # ------------------------------------------------------------------ from the engine

    def loaded_from(
        self, epoch: str, seq: int, kept: list[Any], state: str, position: str, members: Any
    ) -> None:
        """The answer of the load script: take it, then deliver what the reader held."""
        self.epoch, self.seq, self._position = epoch, seq, stream_id(position)
        pairs = (
            members.items()
            if isinstance(members, dict)
            else zip(members[::2], members[1::2], strict=True)
        )
        for key, value in pairs:
            process, _, nick = value.partition(" ")
            if process != self._engine.process:
                self._others[key] = (nick, process)
        for _identifier, fields in reversed(kept):
            event = self._event(dict(zip(fields[::2], fields[1::2], strict=True)))
            if event is not None:
                self._history.append(event)
                self._charge(event._keep(self))
        if self._state_pending == 0:
            self.state = decode_state(state)
        self.loaded = True
        # Who joined before the history was here gets it now: nothing of the room has reached
        # them yet (the reader held it all), so it still comes first, as Room.join promises.
        room = self._engine._hub.find_room(self.room) if self._engine._hub is not None else None
        for member in room.members if room is not None else ():
            for event in self.recent():
                if not member.deliver(event.as_history()):
                    break  # its outbox is smaller than the history: the live events will tell
        early, self._early = self._early, []
        for identifier, entry in early:
            self.receive(identifier, entry)

    def receive(self, identifier: str, entry: Mapping[str, str]) -> None:
        """An entry of the room from the stream, in stream order: deliver it (an event) or take
        it (a state change). Called by the engine's reader, with no ``await`` in between."""
        if not self.loaded:
            self._early.append((identifier, entry))
            return
        if stream_id(identifier) <= self._position:
            return  # part of what the load read
        if entry.get("t") == "s":
            self._take_state(entry)
            return
        event = self._event(entry)
        if event is None:
            return
        if entry["epoch"] != self.epoch:
            self._new_epoch(entry["epoch"])
        elif event.seq != self.seq + 1:
            # Only if the stream was trimmed past this process's position while it was away.
            _log.warning(
                "room %s: events %d to %d were lost", self.room, self.seq + 1, event.seq - 1
            )
        self.seq = event.seq
        self._track(event, entry["proc"])
        self._accept(event)

    def _track(self, event: Event, process: str) -> None:
        """Follow the room's members held by other processes through the events (*process*
        made this one: a kick can come from any process)."""
        others = self._others
        if isinstance(event, Joined):
            if process == self._engine.process:
                return
            others[nick_key(event.sender)] = (event.sender, process)
        elif isinstance(event, Left):
            others.pop(nick_key(event.sender), None)
        elif isinstance(event, Kicked):
            others.pop(nick_key(event.target), None)
        elif isinstance(event, NickChanged) and nick_key(event.sender) in others:
            del others[nick_key(event.sender)]
            others[nick_key(event.new)] = (event.new, process)

    def _take_state(self, entry: Mapping[str, str]) -> None:
        if entry.get("proc") == self._engine.process:
            self._state_pending = max(0, self._state_pending - 1)
        if self._state_pending == 0:
            self.state = decode_state(entry["state"])

    def _new_epoch(self, epoch: str) -> None:
        """Redis lost the room (restarted without its data): its order starts again."""
        _log.warning("room %s: new epoch %s (the store lost its order)", self.room, epoch)
        while self._history:
            self._evict_oldest()
        self.epoch, self.seq = epoch, 0
        self._engine._tell_room(
            self.room, "the shared room store lost this room's history; its order starts again"
        )
        # Redis lost the state too: give it this process's (the creator rule does not apply).
        self._state_pending += 1
        self._engine._send_state(
            self,
            {
                "topic": self.state.topic,
                "ops_add": sorted(self.state.operators),
                "ops_del": [],
                "bans_add": list(self.state.bans),
                "bans_del": [],
                "creator": False,
            },
        )

    def _event(self, entry: Mapping[str, str]) -> Event | None:
        kind = KINDS.get(entry.get("kind", ""))
        if kind is None:
            _log.warning("room %s: an entry of unknown kind %r", self.room, entry.get("kind"))
            return None
        fields = json.loads(entry["fields"])
        return kind(
            room=self.room,
            seq=int(entry["seq"]),
            time=dt.datetime.fromisoformat(entry["time"]),
            sender=entry["sender"],
            **fields,
        )

    def __repr__(self) -> str:
        return f"<RedisLog {self.room!r} seq={self.seq} loaded={self.loaded}>"


def event_fields(fields: Mapping[str, Any]) -> str:
    """An event's own fields (text, target...) as the stream carries them."""
    return json.dumps(dict(fields), separators=(",", ":"))
