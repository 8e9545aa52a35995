"""The writer thread of the durable room log: one connection, batched commits, retention.

The event loop only appends to a ``deque`` (:meth:`RoomStore.put
<triochat.engines._sqlite.RoomStore.put>`); this thread takes everything queued every
``commit_interval`` seconds (sooner when woken) and commits it in one transaction. Nothing here
imports trio: the store runs :meth:`Writer.stop`, :meth:`Writer.flush` and :meth:`Writer.settle`
in worker threads.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final

import attrs

from ..core._events import Event
from ..core._log import RoomState
from . import _sqlite_file as file
from ._sqlite_file import RoomRecord, event_json

__all__ = ["DROP", "Change", "Drop", "Writer"]

log = logging.getLogger("triochat.rooms")

# While the disk keeps failing, one log line per this many seconds (with a count).
_FAILURE_LOG_INTERVAL: Final = 60.0
_DAY: Final = 86_400.0


@attrs.frozen
class Change:
    """A room's name, epoch or state changed (or the room is new): written with the next batch."""

    name: str
    epoch: str
    state: RoomState


@attrs.frozen
class Drop:
    """The room is dropped: its row and its events are deleted (see ``RoomStore._drop``)."""


DROP: Final = Drop()

#: The caps trim down to this share of themselves, so that they do not trim at every commit.
_TRIM_TO: Final = 0.9


class Writer:
    """The thread that writes a :class:`RoomStore <triochat.engines._sqlite.RoomStore>`'s queue."""

    def __init__(
        self,
        queue: collections.deque[tuple[str, Event | Change | Drop]],
        *,
        keep_events: int | None,
        max_events: int | None,
        max_bytes: int | None,
        keep_days: float,
        commit_interval: float,
        retention_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.queue = queue
        self.keep_events = keep_events
        self.keep_days = keep_days
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.commit_interval = commit_interval
        self.retention_interval = retention_interval
        self.clock = clock
        #: The writer's connection (set by the store once the file is open).
        self.db: sqlite3.Connection | None = None
        #: What the file holds of each room, as this thread knows it.
        self.records: dict[str, RoomRecord] = {}
        #: The newest seq of each room deleted or lost, with the room's epoch, for
        #: SqliteLog.forgotten (this thread writes, the event loop reads: one dict item at a
        #: time, which the GIL keeps whole; the epoch tells a dropped room's from its successor's).
        self.floors: dict[str, tuple[str, int]] = {}
        #: Events the file holds (counted at open, then kept up to date): what max_events caps.
        self.stored = 0
        #: The file, for log lines.
        self.path = ""
        self.written = 0
        #: Cycles whose commit failed (their events were retried).
        self.failures = 0
        self._dirty: set[str] = set()
        # Events the event loop could not queue, by room: the newest seq lost (under _lock).
        self._lost: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Cycles asked for (flush) and done: a cycle snapshots _requested when it starts.
        self._cycles = threading.Condition()
        self._requested = 0
        self._done = 0
        self._retain_due = False
        self._last_retention = clock()
        self._failing_since: float | None = None
        self._unlogged_failures = 0
        self._last_failure_log = -_FAILURE_LOG_INTERVAL

    # -------------------------------------------------------------- called from elsewhere

    def start(self) -> None:
        # A daemon: a disk that hangs must not keep the process alive for ever (the store
        # waits for it, bounded, when it closes).
        self._thread = threading.Thread(target=self._run, name="triochat-rooms", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def lose(self, key: str, seq: int) -> None:
        """The event loop could not queue room *key*'s event *seq* (the queue was full)."""
        with self._lock:
            if seq > self._lost.get(key, 0):
                self._lost[key] = seq

    def stop(self) -> None:
        """Write what is queued, mark the file closed, close the connection (blocking)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def flush(self, *, retain: bool = False, timeout: float | None = None) -> bool:
        """Wait (blocking) for a whole cycle that starts after this call; ``False`` on timeout."""
        with self._cycles:
            if retain:
                self._retain_due = True
            self._requested += 1
            target = self._requested
            self._wake.set()
            return self._cycles.wait_for(
                lambda: self._done >= target or self._thread is None or not self._alive(),
                timeout,
            )

    def settle(self, key: str, seq: int, timeout: float) -> None:
        """Wait until every event of room *key* up to *seq* is written (or lost, and counted)."""
        record = self.records.get(key)
        if record is None or record.seq < seq:
            self.flush(timeout=timeout)

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- in the writer thread

    def _run(self) -> None:
        db = self.db
        assert db is not None
        clean = False
        try:
            while True:
                if not self._stopping:
                    self._wake.wait(self.commit_interval)
                self._wake.clear()
                stopping = self._stopping
                with self._cycles:
                    started = self._requested
                ok = self._cycle(db)
                with self._cycles:
                    self._done = started
                    self._cycles.notify_all()
                if stopping and (not self.queue or not ok):
                    clean = ok and not self._lost
                    break
            if clean:
                file.mark_clean(db)
        except (sqlite3.Error, OSError) as exc:
            log.error("could not mark %s closed: %s", self.path, exc)
        except BaseException:  # a bug: say so once, the server goes on from memory
            log.exception("the room writer failed; rooms are kept in memory only from now on")
            raise
        finally:
            db.close()
            with self._cycles:
                self._done = self._requested
                self._cycles.notify_all()

    def _cycle(self, db: sqlite3.Connection) -> bool:
        """Write everything queued in one transaction; ``False`` if the disk failed."""
        queue = self.queue
        items = [queue.popleft() for _ in range(len(queue))]
        rows, dropped = self._rows(items)
        records = self.records
        with self._lock:
            lost, self._lost = self._lost, {}
            for key in dropped:
                lost.pop(key, None)  # a dropped room's marks went with it
        try:
            now = file.micros_now(self.clock())
            with file.transaction(db):
                deleted = sum(file.drop_room(db, key) for key in dropped)
                file.write_events(db, rows)
                for key, seq in lost.items():
                    deleted += file.forget_through(db, key, seq)
                for key in self._dirty:
                    file.write_room(db, records[key], now)
        except ValueError as exc:  # a string sqlite cannot encode (a lone surrogate): a bug
            # The batch would fail again: it is lost for the disk, and said so (forgotten).
            log.error("cannot write %d events: %s; they are lost for the disk", len(rows), exc)
            with self._lock:
                for key in {key for key, item in items if isinstance(item, Event)}:
                    if key in records:
                        self._lost[key] = max(self._lost.get(key, 0), records[key].seq)
            return False
        except (sqlite3.Error, OSError) as exc:
            # Everything goes back in front of the queue for the next cycle (new events are
            # dropped, and counted, once it is full); the lost marks too.
            queue.extendleft(reversed(items))
            with self._lock:
                for key, seq in lost.items():
                    self._lost[key] = max(seq, self._lost.get(key, 0))
            self.failures += 1
            self._failed(exc)
            return False
        for key in self._dirty:
            records[key].active = now / 1_000_000
        self._dirty.clear()
        self.written += len(rows)
        self.stored += len(rows) - deleted
        for key in dropped:
            self.floors.pop(key, None)
        for key, seq in lost.items():
            self._forgot(key, seq)
        self._recovered()
        self._retain(db)
        self._cap(db)
        return True

    def _rows(self, items: list[tuple[str, Event | Change | Drop]]) -> tuple[list[str], set[str]]:
        """The rows to insert for *items*, and the rooms to drop first (their earlier rows
        left out: a room dropped and made again in one batch keeps only its new rows)."""
        rows: list[tuple[str, str]] = []
        dropped: set[str] = set()
        written: set[str] = set()  # rooms with rows in this batch
        records = self.records
        for key, item in items:
            if type(item) is Change:
                record = records.get(key)
                if record is None:
                    record = records[key] = RoomRecord(key=key, name=item.name, epoch=item.epoch)
                record.name, record.epoch, record.state = item.name, item.epoch, item.state
                self._dirty.add(key)
            elif type(item) is Drop:
                if records.pop(key, None) is not None:
                    dropped.add(key)
                    self._dirty.discard(key)
                    if key in written:
                        rows = [row for row in rows if row[0] != key]
                        written.discard(key)
            else:
                assert isinstance(item, Event)
                record = records[key]
                if item.seq > record.seq:
                    record.seq = item.seq
                    self._dirty.add(key)
                try:
                    params = event_json(key, item)
                except (TypeError, ValueError):  # fields JSON cannot hold: library code's
                    log.exception("cannot store %.300r; it is lost for the disk", item)
                    self.lose(key, item.seq)
                    continue
                if params is not None:
                    rows.append((key, params))
                    written.add(key)
        return [row for _, row in rows], dropped

    def _forgot(self, key: str, seq: int) -> None:
        record = self.records.get(key)
        if record is None:
            return
        record.forgotten = max(record.forgotten, seq)
        self.floors[key] = (record.epoch, record.forgotten)

    def _retain(self, db: sqlite3.Connection) -> None:
        """Delete what retention no longer keeps, every ``retention_interval`` seconds."""
        now = self.clock()
        if not self._retain_due and now - self._last_retention < self.retention_interval:
            return
        self._retain_due = False
        self._last_retention = now
        if self.keep_events is None and not self.keep_days:
            return
        older_than = file.micros_now(now - self.keep_days * _DAY) if self.keep_days else None
        try:
            with file.transaction(db):
                cuts = {}
                deleted = 0
                for key, record in self.records.items():
                    cut = file.retention_cut(db, key, keep=self.keep_events, older_than=older_than)
                    if cut > record.forgotten:
                        deleted += file.forget_through(db, key, cut)
                        cuts[key] = cut
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return
        self.stored -= deleted
        for key, cut in cuts.items():
            self._forgot(key, cut)

    def _cap(self, db: sqlite3.Connection) -> None:
        """Past ``max_events`` events or ``max_bytes`` bytes in the file, trim the least
        recently active rooms' oldest events first, down to 90 % of the cap."""
        excess = 0
        if self.max_events is not None and self.stored > self.max_events:
            excess = self.stored - int(self.max_events * _TRIM_TO)
        if self.max_bytes is not None and self.stored:
            try:
                used = file.used_bytes(db)
            except sqlite3.Error as exc:
                self._failed(exc)
                return
            if used > self.max_bytes:  # as many events as the bytes over, at their mean size
                over = used - int(self.max_bytes * _TRIM_TO)
                excess = max(excess, min(self.stored, -(-over * self.stored // used)))
        if not excess:
            return
        cuts = {}
        deleted = 0
        try:
            with file.transaction(db):
                for record in sorted(self.records.values(), key=lambda r: r.active):
                    if deleted >= excess:
                        break
                    held = file.count_events(db, record.key)
                    if held:
                        cut = file.nth_seq(db, record.key, min(held, excess - deleted))
                        deleted += file.forget_through(db, record.key, cut)
                        cuts[record.key] = cut
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return
        self.stored -= deleted
        for key, cut in cuts.items():
            self._forgot(key, cut)
        log.warning(
            "%s is full (%d events at most, %s bytes): %d of the least recently active rooms'"
            " oldest events deleted",
            self.path,
            self.max_events,
            self.max_bytes,
            deleted,
        )

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self._unlogged_failures += 1
        if now - self._last_failure_log >= _FAILURE_LOG_INTERVAL:
            more = self._unlogged_failures - 1
            since = f" ({more} more failures since the last such line)" if more else ""
            log.error(
                "cannot write rooms to the disk: %s%s; serving from memory, retrying every %g s",
                exc,
                since,
                self.commit_interval,
            )
            self._last_failure_log = now
            self._unlogged_failures = 0

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "writing rooms to the disk again after %.1f s",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
            self._unlogged_failures = 0
            self._last_failure_log = -_FAILURE_LOG_INTERVAL
