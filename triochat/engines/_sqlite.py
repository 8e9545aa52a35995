"""Durable rooms: every room's history and state in ``DATA_DIR/rooms.sqlite3``.

A :class:`RoomStore` owns the file; its :meth:`~RoomStore.room_log` is a hub's ``room_log``
factory, opening a :class:`SqliteLog` per room. How the pieces meet:

- **Publishing never waits for the disk.** :class:`SqliteLog` is a :class:`~triochat.MemoryLog`
  (the fan-out, the replay to newcomers and the memory bounds are its own); its ``appended`` puts
  ``(room, event)`` on a bounded queue (a ``deque``: one append, no lock, no syscall) and
  ``set_state`` the new state. One writer thread with its own connection takes whatever is queued
  every ``commit_interval`` seconds (or as soon as ``commit_events`` are waiting) and commits it
  in one transaction.
- **When the disk falls behind.** The queue holds at most ``max_pending`` events. Past that an
  event is not written (the fan-out goes on; members get it as always): the store counts it,
  logs it (once a minute at most), and the writer then deletes that room's older events and
  records the newest lost ``seq`` as the room's ``forgotten``, so that the disk keeps one
  contiguous run and a client recovering from before it is told it missed events, never given a
  silent gap. Disk errors at run time are handled alike: the batch that failed is lost for the
  disk (counted, logged once a minute) and the server goes on from memory. State (topic,
  operators, bans) is never dropped: it is written with the next batch that succeeds.
- **Opening a room is synchronous and cheap.** :meth:`RoomStore.open` (a thread, before the
  server listens) loads every room's epoch, ``seq``, ``forgotten`` and state, and the newest
  events of the most recently active rooms (``dormant_events`` in all). A room that empties
  keeps its newest events in that cache when its log closes, so it comes back as it was when
  someone joins. Only a room whose events are not cached (many other rooms came and went) reads
  them when it opens, in the event loop: one indexed range read of ``history_events`` rows on a
  connection of its own, well under a millisecond (WAL readers do not wait for the writer).
- **History beyond memory.** :meth:`SqliteLog.history` answers from memory whenever memory holds
  the whole answer (no waiting), otherwise reads the older part from the file in a worker thread
  on a read connection of its own (the writer never waits for it), after the writer has settled
  what memory no longer holds.
- **Restarts.** The ``epoch`` of a room is kept and its ``seq`` goes on. If the last server was
  killed (``kill -9``, a crash: the file says it was not closed), what it published in its last
  commit interval may be lost, so every room gets a new epoch (its ``seq`` still goes on): a
  client that recovers by ``(epoch, seq)`` is told, rather than silently missing lines.
- **Retention.** The writer deletes, every ``retention_interval`` seconds, each room's events
  beyond the newest ``keep_events`` and older than ``keep_days``; ``forgotten`` follows.
- **Bounds under churn** (docs/durable-rooms.md). A room that empties with no kept event and the
  default state is dropped (its row deleted); closed rooms idle for longer than ``keep_days``
  are dropped, and past ``max_rooms`` the least recently active closed ones (a dropped room
  that opens again is a new room, with a new epoch). Past ``max_events`` events or
  ``max_bytes`` bytes in the file, the writer trims the least recently active rooms' oldest
  events first.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import attrs
import trio

from ..core._events import Event
from ..core._nicks import fold_case
from . import _sqlite_file as file
from ._sqlite_file import RoomRecord, Row
from ._sqlite_log import SqliteLog
from ._sqlite_writer import DROP, Change, Drop, Writer

if TYPE_CHECKING:
    from ..core._hub import Hub

__all__ = [
    "DEFAULT_COMMIT_INTERVAL",
    "DEFAULT_KEEP_DAYS",
    "DEFAULT_KEEP_EVENTS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_ROOMS",
    "RoomStore",
    "SqliteLog",
    "StoreStatistics",
]

log = logging.getLogger("triochat.rooms")

#: Seconds between commits: what a ``kill -9`` may lose (like Redis's ``appendfsync everysec``).
DEFAULT_COMMIT_INTERVAL: Final = 1.0
#: Events queued that make the writer commit before the interval is up.
DEFAULT_COMMIT_EVENTS: Final = 5000
#: Events the queue to the disk holds at most (see the module's docstring for what happens past).
DEFAULT_MAX_PENDING: Final = 200_000
#: Events each room keeps on disk (``--keep-history``).
DEFAULT_KEEP_EVENTS: Final = 10_000
#: Events the file keeps in all: past it, the least recently active rooms' oldest go first.
DEFAULT_MAX_EVENTS: Final = 1_000_000
#: Bytes the file uses at most (its pages in use): past it, as for max_events.
DEFAULT_MAX_BYTES: Final = 1 << 30
#: Rooms the file keeps: past it, the least recently active closed rooms are dropped.
DEFAULT_MAX_ROOMS: Final = 100_000
#: Days an event is kept on disk (``--keep-days``; 0: for ever).
DEFAULT_KEEP_DAYS: Final = 30.0
#: Seconds between two passes of retention.
DEFAULT_RETENTION_INTERVAL: Final = 60.0
#: Newest events of closed rooms held in memory, so that a room comes back without a read.
DEFAULT_DORMANT_EVENTS: Final = 20_000
_DAY: Final = 86_400.0
#: Seconds to wait for a lock another process holds on the file.
DEFAULT_BUSY_TIMEOUT: Final = 1.0
#: Seconds a history page waits for the writer to settle what it needs.
_SETTLE_TIMEOUT: Final = 5.0
#: Seconds the server waits, at shutdown, for the last events to be written.
_CLOSE_TIMEOUT: Final = 30.0
_DROP_LOG_INTERVAL: Final = 60.0


@attrs.frozen(kw_only=True)
class StoreStatistics:
    """A snapshot of a :class:`RoomStore`.

    Attributes:
      rooms: rooms the file knows.
      pending: events (and changes of state) queued for the writer.
      written: events written since the store opened.
      dropped: events not written because the queue was full (the disk fell behind).
      failures: commits that failed (their events stay queued and are tried again).
    """

    rooms: int
    pending: int
    written: int
    dropped: int
    failures: int


class RoomStore:
    """Every room's history and state in ``DATA_DIR/rooms.sqlite3`` (see the module docstring).

    Creating one touches no file. :meth:`open` (in a worker thread: call it before serving)
    takes the directory's lock, creates or checks the file and loads what rooms open with;
    :meth:`aclose` writes what is queued and closes it. Use :meth:`room_log` as a hub's
    ``room_log``::

        store = RoomStore(data_dir)
        await store.open()
        hub = Hub(room_log=store.room_log)
        ...
        await store.aclose()

    Error handling: :meth:`open` raises :exc:`OSError` (an unusable directory, or
    :exc:`~triochat.engines._sqlite_file.DataDirLocked` if another server uses it) or
    :exc:`sqlite3.Error` (a corrupt or locked file), for the caller to report; nothing is
    started then. At run time nothing raises: see the module docstring.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        keep_events: int | None = DEFAULT_KEEP_EVENTS,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_rooms: int = DEFAULT_MAX_ROOMS,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        commit_events: int = DEFAULT_COMMIT_EVENTS,
        max_pending: int = DEFAULT_MAX_PENDING,
        retention_interval: float = DEFAULT_RETENTION_INTERVAL,
        dormant_events: int = DEFAULT_DORMANT_EVENTS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.path = file.file_path(data_dir)
        self.max_pending = max_pending
        self.max_rooms = max_rooms
        self.keep_days = keep_days
        self._clock = clock
        self.commit_events = commit_events
        self.dormant_events = dormant_events
        self.busy_timeout = busy_timeout
        self._queue: collections.deque[tuple[str, Event | Change | Drop]] = collections.deque()
        self._writer = Writer(
            self._queue,
            keep_events=keep_events,
            max_events=max_events,
            max_bytes=max_bytes,
            keep_days=keep_days,
            commit_interval=commit_interval,
            retention_interval=retention_interval,
            clock=clock,
        )
        self._writer.path = str(self.path)
        # What rooms open with, by key: every room of the file, and the tails of closed rooms
        # (the dormant ones, oldest first in _dormant, holding _dormant_rows events).
        self._records: dict[str, RoomRecord] = {}
        self._dormant: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._dormant_rows = 0
        # The closed rooms, the least recently active first: what is dropped first.
        self._closed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._history_events = 0
        self._lock: IO[bytes] | None = None
        self._read_db: sqlite3.Connection | None = None
        self._cold_db: sqlite3.Connection | None = None
        self._reading = trio.CapacityLimiter(1)
        self._open = False
        # put() appends at once while the queue is shorter (0: closed, everything else checked).
        self._fast_below = 0
        self._dropped = 0
        self._unlogged_drops = 0
        self._last_drop_log = -_DROP_LOG_INTERVAL
        self._read_failures = 0

    # ----------------------------------------------------------------------- life cycle

    async def open(self, *, history_events: int = 100) -> None:
        """Take the lock, open (or create) the file and load every room; start the writer.

        *history_events* is how many events each room's memory keeps (the hub's
        ``history_events``): the most loaded per room.
        """
        if self._open:
            raise RuntimeError("the room store is open already")
        self._history_events = history_events
        await trio.to_thread.run_sync(self._open_files, history_events)
        self._writer.start()
        self._open = True
        self._fast_below = min(self.commit_events, self.max_pending) - 1
        log.info("rooms kept in %s (%d rooms)", self.path, len(self._records))

    def _open_files(self, history_events: int) -> None:
        lock = file.lock_data_dir(self.data_dir)
        connections: list[sqlite3.Connection] = []
        try:
            writer_db = file.connect(self.path, busy_timeout=self.busy_timeout, writer=True)
            connections.append(writer_db)
            clean = file.was_clean(writer_db)
            stored = file.count_events(writer_db)
            records = file.load_rooms(writer_db, tail=history_events, budget=self.dormant_events)
            if not clean:
                self._new_epochs(writer_db, records)
            for record in records.values():
                if record.tail is not None:
                    record.tail_floor = _tail_floor(record, record.tail, history_events)
            for _ in range(2):
                connections.append(file.connect(self.path, busy_timeout=self.busy_timeout))
        except BaseException as exc:
            for db in connections:
                db.close()
            lock.close()
            if isinstance(exc, sqlite3.Error):  # say which file: sqlite's messages do not
                raise type(exc)(f"{self.path}: {exc}") from None
            raise
        self._lock = lock
        self._read_db, self._cold_db = connections[1], connections[2]
        self._writer.db = writer_db
        self._writer.stored = stored
        self._writer.records = {key: attrs.evolve(r, tail=None) for key, r in records.items()}
        self._records = records
        self._closed = collections.OrderedDict.fromkeys(reversed(records))
        for key, record in records.items():
            if record.tail is not None:
                self._dormant[key] = None
                self._dormant_rows += len(record.tail)

    def _new_epochs(self, db: sqlite3.Connection, records: Mapping[str, RoomRecord]) -> None:
        log.warning(
            "%s was not closed by the last server (killed?): its last commit interval may be"
            " lost; every room starts a new epoch",
            self.path,
        )
        now = file.micros_now(time.time())
        with file.transaction(db):
            for record in records.values():
                record.epoch = secrets.token_hex(8)
                file.write_room(db, record, now)

    async def aclose(self) -> None:
        """Write what is queued, mark the file closed and let it go.

        Resource handling: waits (shielded, at most 30 s) for the writer thread; what it has not
        written by then is lost, as in a ``kill -9``.
        """
        if not self._open:
            return
        self._open = False
        self._fast_below = 0
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as waited:
            await trio.to_thread.run_sync(self._writer.stop, abandon_on_cancel=True)
        if waited.cancelled_caught:
            log.error("gave up writing %d events to %s", len(self._queue), self.path)
        for db in (self._read_db, self._cold_db):
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
        self._read_db = self._cold_db = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def flush(self) -> None:
        """Wait until everything queued so far is written (and retention has had its turn)."""
        if self._open:
            await trio.to_thread.run_sync(self._writer.flush, abandon_on_cancel=True)

    def statistics(self) -> StoreStatistics:
        writer = self._writer
        return StoreStatistics(
            rooms=len(self._records),
            pending=len(self._queue),
            written=writer.written,
            dropped=self._dropped,
            failures=writer.failures,
        )

    # ----------------------------------------------------------------------- rooms

    def room_log(self, hub: Hub, room: str, deliver: Callable[[Event], None], /) -> SqliteLog:
        """The hub's ``room_log`` factory: the durable log of *room*."""
        return SqliteLog(hub, room, deliver, store=self)

    def _checkout(self, room: str) -> RoomRecord:
        """What the log of *room* opens with (a new room is recorded now)."""
        key = fold_case(room)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = RoomRecord(key=key, name=room, epoch=secrets.token_hex(8))
            self.put(key, Change(name=room, epoch=record.epoch, state=record.state))
        elif record.tail is None and record.seq:
            record.tail, record.tail_floor = self._cold_tail(key, record)
        if key in self._dormant:
            del self._dormant[key]
            self._dormant_rows -= len(record.tail or ())
        self._closed.pop(key, None)
        return record

    def _cold_tail(self, key: str, record: RoomRecord) -> tuple[list[Row], int]:
        db = self._cold_db
        try:
            if db is None:
                raise sqlite3.ProgrammingError("the room store is closed")
            rows = file.load_tail(db, key, self._history_events)
        except sqlite3.Error as exc:
            # It opens with no history in memory; /history still reads the file later.
            log.error("cannot read the history of %s from %s: %s", record.name, self.path, exc)
            return [], record.seq
        return rows, _tail_floor(record, rows, self._history_events)

    def _checkin(self, record: RoomRecord, *, empty: bool) -> None:
        """A room's log closed: keep its newest events for when it opens again; or, if it is
        *empty* (no kept event anywhere, the default state), drop it: nothing to keep."""
        key = record.key
        record.active = self._clock()
        self._records[key] = record
        if empty:
            self._drop_room(key)
        else:
            self._closed[key] = None
            self._dormant[key] = None
            self._dormant_rows += len(record.tail or ())
            while self._dormant_rows > self.dormant_events and self._dormant:
                oldest, _ = self._dormant.popitem(last=False)
                evicted = self._records[oldest]
                self._dormant_rows -= len(evicted.tail or ())
                evicted.tail = None
        self._sweep()

    def _sweep(self) -> None:
        """Drop the closed rooms idle for longer than ``keep_days``, and the least recently
        active ones past ``max_rooms``. (It runs as rooms close: without churn, nothing grows.)"""
        horizon = self._clock() - self.keep_days * _DAY if self.keep_days else None
        closed = self._closed
        while closed:
            key = next(iter(closed))
            idle = horizon is not None and self._records[key].active < horizon
            if not idle and len(self._records) <= self.max_rooms:
                return
            self._drop_room(key)

    def _drop_room(self, key: str) -> None:
        """Forget room *key* here and on disk: if it opens again it is a new room (a new epoch,
        its ``seq`` from 1), which is how a client recovering it learns that it changed."""
        record = self._records.pop(key)
        self._closed.pop(key, None)
        if key in self._dormant:
            del self._dormant[key]
            self._dormant_rows -= len(record.tail or ())
        self.put(key, DROP)

    def forgotten(self, key: str, epoch: str) -> int:
        """The newest ``seq`` of room *key* (in its *epoch*) the writer deleted or could not
        write."""
        floor = self._writer.floors.get(key)
        return floor[1] if floor is not None and floor[0] == epoch else 0

    def put(self, key: str, item: Event | Change | Drop) -> None:
        """Queue *item* for the writer; never waits (see the module docstring for a full queue)."""
        queue = self._queue
        size = len(queue)
        if size < self._fast_below:  # open, far from full, no commit due: once an event
            queue.append((key, item))
            return
        if not self._open:
            return
        if size >= self.max_pending and isinstance(item, Event):
            self._drop(key, item)
            return
        queue.append((key, item))
        if (size + 1) % self.commit_events == 0:  # commit_events more since the last wake
            self._writer.wake()

    def _drop(self, key: str, event: Event) -> None:
        self._dropped += 1
        self._unlogged_drops += 1
        self._writer.lose(key, event.seq)
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL:
            log.error(
                "the disk is falling behind: %d events not written to %s (the queue holds %d);"
                " members still get them, later history and recovery will say they are missing",
                self._unlogged_drops,
                self.path,
                len(self._queue),
            )
            self._last_drop_log = now
            self._unlogged_drops = 0

    async def read(
        self, key: str, count: int, *, before: int | None, after: int | None, settle: int
    ) -> list[Row] | None:
        """Up to *count* stored events of room *key* (see :func:`_sqlite_file.query`), once
        the writer has settled the room up to *settle*; ``None`` if the file cannot be read."""
        try:
            return await trio.to_thread.run_sync(
                self._read_blocking,
                key,
                count,
                before,
                after,
                settle,
                limiter=self._reading,
                abandon_on_cancel=True,
            )
        except (sqlite3.Error, OSError) as exc:
            self._read_failures += 1
            if self._read_failures == 1 or self._read_failures % 1000 == 0:
                log.error("cannot read history from %s: %s", self.path, exc)
            return None

    def _read_blocking(
        self, key: str, count: int, before: int | None, after: int | None, settle: int
    ) -> list[Row]:
        self._writer.settle(key, settle, _SETTLE_TIMEOUT)
        db = self._read_db
        if db is None:
            raise sqlite3.ProgrammingError("the room store is closed")
        return file.query(db, key, count, before=before, after=after)


def _tail_floor(record: RoomRecord, rows: list[Row], asked: int) -> int:
    """The seq above which *rows*, the newest *asked* events of a room, hold every kept one."""
    if len(rows) < asked:  # the file has no more
        return record.forgotten
    return rows[0][0] - 1 if rows else record.seq
