"""The room-log seam: a room's order, history and state behind one small interface.

A :class:`~triochat.Room` owns its members and its fan-out; everything it must *remember* is in
its log: the sequence number of its last event, the events it keeps for newcomers and
``/history``, and its state (topic, operators, bans). The hub opens one log per room with its
``room_log`` factory, ``room_log(hub, room_name, deliver)``; the default is :class:`MemoryLog`.

The contract (:class:`RoomLog`), which every log keeps:

- **One dense order.** :meth:`~RoomLog.append` stamps the event with the room's next ``seq``
  (1, 2, 3... with no gap and no repeat within an :attr:`~RoomLog.epoch`), the UTC time and the
  sender, keeps it if it is part of the conversation, and hands it to ``deliver`` (the room's
  fan-out) exactly once, in ``seq`` order. ``deliver`` is how events reach members, and the only
  way: the room never fans out an event that did not come to it through ``deliver``. That is what
  keeps each member's view gap-free: a member is in the room for a contiguous run of ``seq``.
- **No waiting.** ``append`` and :meth:`~RoomLog.set_state` are synchronous and never block: the
  fan-out of a memory log is one loop with no ``await`` between the stamp and the last member.
  A log that writes somewhere (a disk, a server) takes a copy of what it must write and writes
  it from elsewhere (a thread, a task); publishing never waits for it.
- **An epoch.** :attr:`~RoomLog.epoch` names one run of the room's order: ``(room, epoch, seq)``
  names one event for ever. A memory log draws a new epoch whenever it starts (a room created
  again after it emptied starts at seq 1, as does every room after a restart); a durable log
  keeps its epoch, and its ``seq`` continues, across restarts.
- **History.** :meth:`~RoomLog.recent` answers at once from memory (the newcomer's replay, under
  the same no-``await`` rule as the fan-out). :meth:`~RoomLog.history` may reach further back
  (``before`` a seq, or ``after`` one, at most ``count`` events) and may wait for it; a log whose
  memory has the answer must give it without waiting (no checkpoint, apart from cancellation).
- **State by name.** :class:`RoomState` holds the topic, the operators as nick keys (not
  ``Member`` objects: a log can store them, and a renamed member keeps them) and the ban masks.
  The room replaces it as a whole with :meth:`~RoomLog.set_state` (a change is rare: a topic, a
  moderation command), so a durable log sees every change in one place.

How each engine fits:

- **Memory** (:class:`MemoryLog`): all of the above in memory, with the bounds of
  :class:`~triochat.Hub` (``history_events``, ``history_bytes``, ``history_total_bytes``).
  Subclasses observe it without slowing it down: :meth:`MemoryLog.appended` sees every event in
  ``seq`` order after it is stamped and kept and *before* it is delivered (a delivery can publish
  more events, the departures of slow consumers, so after would be out of order), and
  ``set_state`` is theirs to extend.
- **SQLite** (durable, ``--data-dir``): a :class:`MemoryLog` subclass whose ``appended`` and
  ``set_state`` put what changed on a queue that one writer thread commits in batches; its
  factory loads ``epoch``, ``seq``, ``state`` and the newest events before the room opens; its
  ``history`` answers from memory when it can and otherwise awaits a query in a worker thread.
- **Redis Streams** (shared by several processes): the order is made remotely, so ``append``
  sends the event and returns before it has a ``seq``; the log calls ``deliver`` when the
  stream hands the event back, for this process's events and other processes' alike, in stream
  order. The fan-out needs no change for that. Such a log's ``append`` returns the event
  unstamped (``seq`` 0, outside the order, like a notice: the room's methods return it to their
  callers) and the stamped one reaches members through ``deliver``; a kick takes its effect on
  the member table when the room delivers the :class:`~triochat.Kicked` event (for every log),
  so a kick made by another process removes this process's member too. Built in
  ``triochat/engines/_redis*.py`` (``--engine redis://``).
"""

from __future__ import annotations

import heapq
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
import trio

from ._events import Action, Event, Message, TopicChanged, utc_now

if TYPE_CHECKING:
    from ._hub import Hub

__all__ = ["HistoryBudget", "MemoryLog", "RoomLog", "RoomLogFactory", "RoomState"]

# What a room's history keeps: the conversation, not the comings and goings.
_KEPT: Final = frozenset({Message, Action, TopicChanged})


@attrs.frozen(kw_only=True)
class RoomState:
    """What a room remembers besides its events.

    Attributes:
      topic: the topic, ``""`` if none.
      operators: the nick keys of the room's operators (the hub's case-blind form of a nick),
        not ``Member`` objects: an operator who changes nick stays one, and a log can store them.
      bans: the ban masks, each ``NICK``, ``@ADDRESS`` or ``NICK@ADDRESS`` with ``*`` and ``?``.
    """

    topic: str = ""
    operators: frozenset[str] = frozenset()
    bans: tuple[str, ...] = ()


class RoomLog(Protocol):
    """The order, history and state of one room (see the module's docstring for the contract).

    The hub opens one per room with its ``room_log`` factory and closes it when the room goes.
    """

    @property
    def epoch(self) -> str:
        """The name of this run of the room's order (``(room, epoch, seq)`` names one event)."""
        ...

    @property
    def seq(self) -> int:
        """The ``seq`` of the room's last event (0 before the first)."""
        ...

    @property
    def forgotten(self) -> int:
        """The ``seq`` of the newest event the log no longer keeps (0 if it forgot none): a
        client that saw the room only up to an earlier one missed events it cannot get back."""
        ...

    @property
    def evicted(self) -> int:
        """The ``seq`` of the newest event *memory* let go of (0 if none): :meth:`recent` holds
        every kept event after it. For a memory log it is :attr:`forgotten`; a log that keeps
        events elsewhere (a disk) forgets fewer than its memory lets go of."""
        ...

    @property
    def state(self) -> RoomState:
        """The topic, operators and bans, as last set with :meth:`set_state`."""
        ...

    @property
    def history_events(self) -> int:
        """Events held in memory for :meth:`recent`."""
        ...

    @property
    def others(self) -> Sequence[str]:
        """The nicks of the room's members held by other processes sharing it (a shared log's;
        a memory log has none)."""
        ...

    @property
    def history_bytes(self) -> int:
        """The memory they hold, in bytes (every form of them counted)."""
        ...

    def append(self, kind: type[Event], sender: str, fields: Mapping[str, Any]) -> Event:
        """Stamp ``kind(**fields)`` with the room, the next ``seq``, the time and *sender*;
        keep it if it is conversation; pass it to ``deliver``; return it. Never waits. A log
        whose order is made remotely sends it, returns it unstamped (``seq`` 0) and delivers it
        when it comes back; it may raise :exc:`~triochat.ChatError` if it cannot send it."""
        ...

    def set_state(self, state: RoomState) -> None:
        """Replace the room's state (a topic, an operator, a ban changed). Never waits."""
        ...

    def recent(self, count: int | None = None, *, before: int | None = None) -> list[Event]:
        """The last *count* kept events held in memory (all if ``None``), oldest first; with
        *before*, only those whose ``seq`` is lower."""
        ...

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        """Kept events, oldest first: the last *count* with ``seq`` below *before*, or with
        *after*, the first *count* above it (and below *before*, if given). ``count=None``:
        what memory holds. May go beyond memory, and wait for it."""
        ...

    def close(self) -> None:
        """The room is going away: let go of what memory holds."""
        ...


class RoomLogFactory(Protocol):
    """What :class:`~triochat.Hub` calls to open each room's log (``Hub(room_log=...)``).

    A :class:`RoomLog` class whose constructor takes these arguments is one, as
    :class:`MemoryLog` is.
    """

    def __call__(self, hub: Hub, room: str, deliver: Callable[[Event], None], /) -> RoomLog: ...


class MemoryLog:
    """The default room log: the order, history and state of a room, in memory.

    The history keeps the last ``hub.history_events`` messages, actions and topic changes, as
    many as fit in ``hub.history_bytes`` bytes of memory, counting every form memory holds them
    in (the event, its strings, each rendering, its history copy: each charged as it appears,
    see :meth:`Event.encode <triochat.Event.encode>`). Every memory log of a hub also counts
    towards ``hub.history_total_bytes``: past it, the oldest events of the logs holding the most
    go first.

    Extend it by subclassing: :meth:`appended` sees every event, :meth:`set_state` every change.
    """

    def __init__(self, hub: Hub, room: str, deliver: Callable[[Event], None], /) -> None:
        #: The room's name, which every event is stamped with.
        self.room = room
        #: Names this run of the room's order (see :class:`RoomLog`).
        self.epoch = secrets.token_hex(8)
        #: The ``seq`` of the room's last event (0 before the first).
        self.seq = 0
        #: The ``seq`` of the newest event no longer kept (0 if none).
        self.forgotten = 0
        #: The ``seq`` of the newest event memory let go of (0 if none).
        self.evicted = 0
        #: The topic, operators and bans; replaced only through :meth:`set_state`.
        self.state = RoomState()
        self.max_events: int = hub.history_events
        self.max_bytes: int = hub.history_bytes
        self._deliver = deliver
        # Whether a subclass observes the events: the call is skipped otherwise (it would be
        # the only cost of this seam per event that the fan-out does not need).
        self._observed = type(self).appended is not MemoryLog.appended
        self._history: deque[Event] = deque()
        # The bytes of memory the history holds; every change is passed on to the budget.
        self._size = 0
        self._budget = hub._history_budget
        self._budget.logs[self] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.room!r} seq={self.seq}>"

    @property
    def others(self) -> Sequence[str]:
        """None: a memory log's room is in this process only."""
        return ()

    @property
    def history_events(self) -> int:
        """Events held in memory."""
        return len(self._history)

    @property
    def history_bytes(self) -> int:
        """The memory they hold, in bytes."""
        return self._size

    def append(self, kind: type[Event], sender: str, fields: Mapping[str, Any]) -> Event:
        """Stamp, keep, tell :meth:`appended`, deliver, and return the event."""
        seq = self.seq = self.seq + 1
        event = kind(room=self.room, seq=seq, time=utc_now(), sender=sender, **fields)
        self._accept(event)
        return event

    def _accept(self, event: Event) -> None:
        """Keep *event* (stamped with ``self.seq``) if it is conversation, tell
        :meth:`appended`, deliver it. A log whose order is made elsewhere calls this with each
        event it is handed back, in order, after setting ``seq``."""
        if type(event) in _KEPT:
            self._history.append(event)
            self._charge(event._keep(self))
        if self._observed:
            self.appended(event)
        self._deliver(event)

    def appended(self, event: Event) -> None:
        """Called with every event, in ``seq`` order, once it is stamped (and kept, if it is
        conversation) and before it is delivered. Does nothing; a subclass that writes the
        events somewhere hands them on from here, without waiting."""

    def set_state(self, state: RoomState) -> None:
        """Replace the room's state. A subclass that stores it extends this."""
        self.state = state

    def recent(self, count: int | None = None, *, before: int | None = None) -> list[Event]:
        """The last *count* kept events (all if ``None``), oldest first; with *before*, only
        those whose ``seq`` is lower."""
        events = list(self._history)
        if before is not None:
            events = [event for event in events if event.seq < before]
        if count is None:
            return events
        return events[-count:] if count > 0 else []

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        """:meth:`recent`, or with *after* the first *count* kept events above it. Memory has
        every answer this log can give, so this is no checkpoint, apart from cancellation."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if after is None:
            return self.recent(count, before=before)
        events = [
            event
            for event in self._history
            if event.seq > after and (before is None or event.seq < before)
        ]
        return events if count is None else events[: max(count, 0)]

    def close(self) -> None:
        """Drop the whole history and leave the hub's budget."""
        while self._history:
            self._evict_oldest()
        self._budget.logs.pop(self, None)

    # ------------------------------------------------------------------ memory accounting

    def _charge(self, nbytes: int) -> None:
        """Count *nbytes* more held by the history (a kept event, a rendering of it, its history
        copy), then keep within this log's bounds and the hub's. (The :class:`Ledger
        <triochat.core._events.Ledger>` of the events it keeps.)"""
        size = self._size = self._size + nbytes
        budget = self._budget
        budget.total += nbytes
        history = self._history
        if size > self.max_bytes or len(history) > self.max_events:
            while len(history) > self.max_events or self._size > self.max_bytes:
                self._evict_oldest()
        if budget.total > budget.cap:
            budget.shed()

    def _evict_oldest(self) -> None:
        oldest = self._history.popleft()
        self.forgotten = self.evicted = oldest.seq
        freed = oldest._release()
        self._size -= freed
        self._budget.total -= freed


class HistoryBudget:
    """The memory the history of every :class:`MemoryLog` of one hub holds, and its cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        #: Bytes held by all the logs together.
        self.total = 0
        #: The open memory logs (a dict for its order: ties are shed in the order logs opened).
        self.logs: dict[MemoryLog, None] = {}

    def shed(self) -> None:
        """Evict the oldest history of the logs holding the most, until they hold 7/8 of the
        cap together (the slack makes this rare: it looks at every log)."""
        target = self.cap - self.cap // 8
        largest = [(-log._size, index, log) for index, log in enumerate(self.logs) if log._size]
        heapq.heapify(largest)
        while self.total > target and largest:
            _, index, log = heapq.heappop(largest)
            log._evict_oldest()
            if log._size:
                heapq.heappush(largest, (-log._size, index, log))
