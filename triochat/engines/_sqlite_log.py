"""A durable room's log: the memory log, plus each event handed to the :class:`RoomStore
<triochat.engines._sqlite.RoomStore>`'s writer (see the store's module docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core._events import Event
from ..core._log import MemoryLog, RoomState
from ._sqlite_file import event_row, row_event
from ._sqlite_writer import Change

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ._sqlite import RoomStore

__all__ = ["SqliteLog"]


class SqliteLog(MemoryLog):
    """A room log kept in a :class:`RoomStore` as well as in memory.

    Memory works as in :class:`~triochat.MemoryLog` (the same bounds); the store keeps more, for
    longer, across restarts. :attr:`forgotten` is the newest ``seq`` kept *nowhere*: deleted by
    retention, or never written because the disk fell behind; an event that memory let go of but
    the file keeps is not forgotten, and :meth:`history` reads it back.
    """

    def __init__(
        self, hub: Hub, room: str, deliver: Callable[[Event], None], /, *, store: RoomStore
    ) -> None:
        self._memory_floor = 0  # (MemoryLog's constructor sets forgotten: see its setter)
        super().__init__(hub, room, deliver)
        self._store = store
        record = store._checkout(room)
        self._key = record.key
        self._record = record
        self.epoch = record.epoch
        self.seq = record.seq
        self.state = record.state
        self._disk_forgotten = record.forgotten
        # Every kept event with a higher seq is in memory (raised as memory lets them go).
        self._memory_floor = record.tail_floor if record.tail is not None else record.seq
        if record.name != room:
            record.name = room
            store.put(self._key, Change(name=room, epoch=self.epoch, state=self.state))
        tail = record.tail or []
        rows = tail[-self.max_events :] if self.max_events else []
        if len(rows) < len(tail):  # this hub keeps fewer than the store loaded
            self._memory_floor = rows[0][0] - 1 if rows else record.seq
        for row in rows:
            event = row_event(room, row)
            self._history.append(event)
            self._charge(event._keep(self))
        record.tail = None

    # MemoryLog records each event memory lets go of as forgotten; for this log it is not (the
    # file keeps it): that is the floor of memory, below which history() reads the file.
    @property
    def forgotten(self) -> int:
        """The newest ``seq`` no longer kept anywhere (0 if none)."""
        return max(self._disk_forgotten, self._store.forgotten(self._key, self.epoch))

    @forgotten.setter
    def forgotten(self, seq: int) -> None:
        if seq > self._memory_floor:
            self._memory_floor = seq

    def appended(self, event: Event) -> None:
        self._store.put(self._key, event)

    def set_state(self, state: RoomState) -> None:
        super().set_state(state)
        self._store.put(self._key, Change(name=self.room, epoch=self.epoch, state=state))

    async def history(
        self, count: int | None = None, *, before: int | None = None, after: int | None = None
    ) -> list[Event]:
        """From memory when it holds the whole answer (at once), else partly from the file."""
        floor = self._memory_floor
        if after is None and (count is None or floor <= self.forgotten):
            return await super().history(count, before=before)
        if after is not None and after >= floor:
            return await super().history(count, before=before, after=after)
        count = self.max_events if count is None else max(count, 0)
        if after is None:
            newer = await super().history(count, before=before)
            if len(newer) >= count:
                return newer
            rows = await self._store.read(
                self._key,
                count - len(newer),
                before=min(before if before is not None else floor + 1, floor + 1),
                after=None,
                settle=floor,
            )
            return [row_event(self.room, row) for row in rows or ()] + newer
        high = floor + 1 if before is None else min(before, floor + 1)
        rows = await self._store.read(self._key, count, before=high, after=after, settle=floor)
        older = [row_event(self.room, row) for row in rows or ()]
        if len(older) >= count:
            return older
        newer = await super().history(count - len(older), before=before, after=floor)
        return older + newer

    def close(self) -> None:
        """The room went away: hand its newest events back to the store for next time."""
        record = self._record
        record.seq = self.seq
        record.state = self.state
        record.forgotten = self.forgotten
        record.tail = [row for event in self._history if (row := event_row(event)) is not None]
        record.tail_floor = self._memory_floor
        empty = not record.tail and record.tail_floor <= record.forgotten
        self._store._checkin(record, empty=empty and self.state == RoomState())
        super().close()
