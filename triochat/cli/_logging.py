"""Logging for ``triochat serve`` that can never stop the server.

A write to stderr blocks when nobody reads it fast enough (a pipe whose reader is stuck or gone,
a terminal paused with Ctrl-S), and a server that writes its log lines from the event loop then
stops serving everyone. So the event loop only puts each record on a bounded queue, without
waiting, and one writer thread takes them off and writes them. When the queue is full, records
are dropped and counted; as soon as there is room again, one line says how many were lost.

Connect and disconnect lines are also limited per client address (:class:`ConnectionLogLimiter`):
a host that opens thousands of connections gets a few lines and a count, not thousands of lines.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import logging.handlers
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from ..drivers._addresses import peer_address

__all__ = [
    "CONNECTION_LOG_WINDOW",
    "DEFAULT_CONNECTION_LOG_LIMIT",
    "DEFAULT_LOG_QUEUE",
    "ConnectionLogLimiter",
    "DroppingQueueHandler",
    "FdHandler",
    "JsonFormatter",
    "LogWriter",
    "TextFormatter",
    "log_to_stderr",
]

#: Records held for the writer while stderr is slow; more are dropped (and counted). A queued
#: record takes about 0.6 KiB (measured with tracemalloc), so a full queue holds about 6 MiB.
DEFAULT_LOG_QUEUE: Final = 10_000
#: Connect and disconnect lines logged per client address per :data:`CONNECTION_LOG_WINDOW`.
DEFAULT_CONNECTION_LOG_LIMIT: Final = 20
CONNECTION_LOG_WINDOW: Final = 10.0
#: Addresses the limiter keeps apart; beyond that, new addresses share one allowance.
MAX_TRACKED_ADDRESSES: Final = 10_000
#: At exit, how long to wait for the writer to write what is queued (it may be stuck for good).
LOG_DRAIN_TIMEOUT: Final = 1.0
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: The messages of the connection lines (triochat.drivers._connection); the first argument is
#: the peer.
CONNECTION_MESSAGES: Final = frozenset({"connect %s as %s", "disconnect %s (%s): %s"})
_OTHER_ADDRESSES: Final = "other addresses"

log = logging.getLogger("triochat.log")
_TRACEBACKS: Final = logging.Formatter()
_server_log = logging.getLogger("triochat.server")


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Put each record on a bounded queue without ever waiting; when it is full, drop and count.

    The count is reported by a warning record put on the queue ahead of the next record that
    fits (``N log lines dropped ...``), so the log says where the gap is.
    """

    def __init__(
        self, records: queue.Queue[Any], *, limiter: ConnectionLogLimiter | None = None
    ) -> None:
        super().__init__(records)
        self.records = records
        self.limiter = limiter
        if limiter is not None:
            self.addFilter(limiter)
        #: Records dropped since the last report, and in all.
        self.dropped = 0
        self.dropped_total = 0

    def emit(self, record: logging.LogRecord) -> None:
        # Called with this handler's lock held: the counts need no other protection.
        if self.records.full():  # do not even format a record that cannot be queued
            self._drop()
            return
        try:
            prepared = self.prepare(record)
        except Exception:  # a bad log call: not worth a traceback on a stuck stderr
            prepared = _record(
                logging.ERROR,
                "could not format a log record (%s:%d: %r)",
                (record.pathname, record.lineno, record.msg),
            )
        self._put(prepared)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy with the message merged and the traceback as text, kept apart (a JSON line
        has a field for each); nothing the writer thread could not format on its own."""
        prepared = copy.copy(record)
        prepared.msg = prepared.message = record.getMessage()
        prepared.args = None
        if record.exc_info:
            prepared.exc_text = _TRACEBACKS.formatException(record.exc_info)
        prepared.exc_info = None
        prepared.stack_info = None
        return prepared

    def _put(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                self.records.put_nowait(_dropped_record(self.dropped))
                self.dropped = 0
            self.records.put_nowait(record)
        except queue.Full:
            self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def report_counts(self, timeout: float) -> None:
        """Log what was left out so far: the connection lines the limiter held back, and the
        records dropped (waiting at most *timeout* seconds for room: not from the event loop)."""
        if self.limiter is not None:
            self.limiter.flush()
        self.report_dropped(timeout)

    def report_dropped(self, timeout: float) -> None:
        """At the end: queue the count of records dropped since the last report, waiting at
        most *timeout* seconds for room (never call this from the event loop)."""
        with self.lock or contextlib.nullcontext():
            if self.dropped:
                with contextlib.suppress(queue.Full):
                    self.records.put(_dropped_record(self.dropped), timeout=timeout)
                    self.dropped = 0


def _record(level: int, message: str, args: tuple[Any, ...]) -> logging.LogRecord:
    return log.makeRecord(log.name, level, __file__, 0, message, args, None)


def _dropped_record(count: int) -> logging.LogRecord:
    return _record(
        logging.WARNING, "%d log lines dropped: stderr was not read fast enough", (count,)
    )


# What every LogRecord has; anything else on a record was given with ``extra=`` and is a field.
_STANDARD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE``; a connection's lines start with ``conn ID:``, the id that
    the admin console shows too."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        conn = record.__dict__.get("conn")
        if conn is not None:
            record.message = f"conn {conn}: {record.message}"
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` (the
    message), then every field the log call gave (``conn``, ``nick``, ``address``, ``room``,
    ``reason``...) and ``exception`` (a traceback's text) if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class FdHandler(logging.Handler):
    """Write each record as one line straight to a file descriptor, for the writer thread.

    No Python file object and no lock: a thread blocked in ``os.write`` then holds nothing that
    another thread, or the interpreter at exit, could wait for.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        #: Lines that could not be written (stderr closed).
        self.lost = 0

    def createLock(self) -> None:
        self.lock = None  # only the writer thread uses this handler

    def emit(self, record: logging.LogRecord) -> None:
        data = memoryview((self.format(record) + "\n").encode("utf-8", "backslashreplace"))
        try:
            while data:
                try:
                    data = data[os.write(self.fd, data) :]
                except BlockingIOError:  # someone made stderr non-blocking: wait here instead
                    select.select([], [self.fd], [])
        except OSError:  # EPIPE, EBADF: nobody to tell
            self.lost += 1


class LogWriter(logging.handlers.QueueListener):
    """The writer thread: takes records off the queue and hands them to its handlers."""

    _sentinel = None  # what QueueListener's thread stops at (declared here for the type checker)

    def __init__(self, records: queue.Queue[Any], *handlers: logging.Handler) -> None:
        super().__init__(records, *handlers)
        self.records = records

    def stop_within(self, timeout: float) -> bool:
        """Stop after writing what is queued, waiting at most *timeout* seconds; ``False`` if
        the writer is still stuck then (it is a daemon thread: it does not hold up the exit)."""
        thread = self._thread
        if thread is None:
            return True
        deadline = time.monotonic() + timeout
        try:
            self.records.put(self._sentinel, timeout=timeout)
        except queue.Full:
            return False
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return False
        self._thread = None
        return True


class ConnectionLogLimiter(logging.Filter):
    """Let through at most *limit* connect and disconnect lines per client address in each
    *window* seconds; count the others and log how many, once that address's window is over.

    The window of an address starts at its first line. Summaries of windows that are over are
    logged on the next connection line from any address (at most once per *window*), and by
    :meth:`flush`. At most :data:`MAX_TRACKED_ADDRESSES` addresses are kept apart; beyond that,
    lines from new addresses share one allowance, so that many addresses cannot fill memory.
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_CONNECTION_LOG_LIMIT,
        window: float = CONNECTION_LOG_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_tracked = max_tracked
        # address -> [start of its window, lines let through, lines suppressed]
        self._windows: dict[str, list[float]] = {}
        self._next_sweep = clock() + window
        # Records may come from any thread; the lock is never held while logging.
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in CONNECTION_MESSAGES or not isinstance(record.args, tuple):
            return True
        address = peer_address(str(record.args[0]))
        summaries: list[tuple[str, int]] = []
        with self._lock:
            now = self._clock()
            windows = self._windows
            if now >= self._next_sweep:
                self._sweep(now, summaries)
            if address not in windows and len(windows) >= self._max_tracked:
                address = _OTHER_ADDRESSES
            counts = windows.get(address)
            if counts is None or now >= counts[0] + self.window:
                if counts is not None and counts[2]:
                    summaries.append((address, int(counts[2])))
                counts = windows[address] = [now, 0, 0]
            allowed = counts[1] < self.limit
            counts[1 if allowed else 2] += 1
        self._report(summaries)
        return allowed

    def flush(self) -> None:
        """Log the counts of every window not reported yet, and forget them all."""
        with self._lock:
            summaries = [(a, int(c[2])) for a, c in self._windows.items() if c[2]]
            self._windows.clear()
        self._report(summaries)

    def _sweep(self, now: float, summaries: list[tuple[str, int]]) -> None:
        self._next_sweep = now + self.window
        for address, counts in list(self._windows.items()):
            if now >= counts[0] + self.window:
                del self._windows[address]
                if counts[2]:
                    summaries.append((address, int(counts[2])))

    def _report(self, summaries: list[tuple[str, int]]) -> None:
        for address, count in summaries:
            _server_log.info(
                "%d connect/disconnect lines from %s not logged (at most %d per %g s per address)",
                count,
                address,
                self.limit,
                self.window,
            )


@contextlib.contextmanager
def log_to_stderr(
    level: int | str,
    *,
    queue_size: int = DEFAULT_LOG_QUEUE,
    connection_limit: int = DEFAULT_CONNECTION_LOG_LIMIT,
    fd: int = 2,
    json_lines: bool = False,
) -> Iterator[DroppingQueueHandler]:
    """Send every log record of *level* and above to *fd* (stderr) through a writer thread.

    *connection_limit* connect/disconnect lines per address per :data:`CONNECTION_LOG_WINDOW`
    (``0``: no limit). On the way out, what is still queued is written, waiting at most
    :data:`LOG_DRAIN_TIMEOUT` seconds, and the root logger is as it was before. With
    *json_lines*, each record is one JSON object (:class:`JsonFormatter`).
    """
    records: queue.Queue[Any] = queue.Queue(queue_size)
    limiter = ConnectionLogLimiter(limit=connection_limit) if connection_limit else None
    handler = DroppingQueueHandler(records, limiter=limiter)
    output = FdHandler(fd)
    output.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    writer = LogWriter(records, output)
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(level)
    root.addHandler(handler)
    writer.start()
    try:
        yield handler
    finally:
        deadline = time.monotonic() + LOG_DRAIN_TIMEOUT
        handler.report_counts(timeout=LOG_DRAIN_TIMEOUT)
        writer.stop_within(max(0.0, deadline - time.monotonic()))
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
