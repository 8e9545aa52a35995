"""Room-log engines beyond memory: where a room's order, history and state live.

The core's default, :class:`~triochat.MemoryLog`, keeps everything in this process's memory. The
engines here plug into the same room-log seam (:class:`~triochat.core._log.RoomLog`) and keep it
somewhere else: on disk with SQLite (``--data-dir``), or shared by several processes through
Redis (``--engine redis://...``). They sit beside the drivers: they may use trio, threads and
sockets, and the server wires them in; the core knows nothing of them.
"""

from ._sqlite import RoomStore as RoomStore
from ._sqlite import SqliteLog as SqliteLog
from ._sqlite import StoreStatistics as StoreStatistics
