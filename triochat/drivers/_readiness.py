"""Readiness: one server-wide wait for the sockets of idle connections to become readable, and
for their idle deadlines.

An idle connection's task waits for its socket to become readable. Through
``trio.lowlevel.wait_readable`` that wait keeps five coroutines alive (trio's public function,
the I/O manager's, its ``_epoll_wait`` with the closure it aborts with, ``wait_task_rescheduled``)
and the I/O manager's entry for the descriptor: about 1.6 KiB, ten thousand times over. Here the
task parks directly, with ``trio.lowlevel.wait_task_rescheduled``, after putting its socket in an
epoll set of our own; one task, :meth:`Readiness.run`, waits (through trio) for that set to have
events and wakes the tasks whose sockets are readable.

The idle timer of a parked reader is kept here too, not in a cancel scope of its own: an entered
cancel scope is 0.65 KiB (its ``CancelStatus`` with two sets, and trio's deadline entry), and a
parked reader needs nothing cancelled, only to be woken when its deadline passes. :meth:`arm`
takes the deadline; :meth:`run` wakes the task then (it finds the time up and acts on it). The
reader enters its cancel scope while it works on what it read, where the deadline and the scope's
cancellation apply as before. Whoever ends a parked reader's connection wakes it (:meth:`wake`);
cancelling the task (the server's own scopes) aborts the park as any trio wait.

Deadlines live in a heap, one entry per parked reader at most, pushed lazily: a reader that
parks again with a later deadline keeps its entry, which is pushed again at its new deadline
when the old one comes up (so a busy reader does not push one entry per line).

The abort function of a parked reader is the shared :func:`abort`, which keeps nothing per
connection. A parked task is marked by its ``custom_sleep_data`` (which trio clears whenever it
reschedules the task, a cancellation included), so an entry left behind by a cancelled reader is
recognised as stale and never wakes a task that waits for something else.

Only where ``select.epoll`` exists (Linux); elsewhere :meth:`arm` says no and the reader waits
through trio (and its cancel scope) as before. Descriptors are registered one-shot: an event
disarms its descriptor, and the next :meth:`arm` arms it again, so a reader that stopped waiting
gets at most one stray event (ignored: nobody is waiting for it).
"""

from __future__ import annotations

import contextlib
import heapq
import math
import select
from typing import Final

import trio

__all__ = ["Readiness", "abort"]

# Readable, once: an event disarms the descriptor until the next arm().
_ONCE_READABLE: Final = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLONESHOT", 0)


def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
    """The abort function of a task parked after :meth:`Readiness.arm`: one for every task (a
    bound method or closure per parked reader would be 64 bytes each, ten thousand times over).
    Its entry stays until the task arms again or its descriptor is forgotten; being
    rescheduled, the task no longer carries the mark that :meth:`Readiness.run` looks for."""
    return trio.lowlevel.Abort.SUCCEEDED


class _Parked:
    """A descriptor's entry: the task that last armed it, its deadline, and where the entry sits
    in the heap (*due*: ``None`` while it is not in the heap)."""

    __slots__ = ("deadline", "due", "fd", "task")

    def __init__(self, fd: int, task: trio.lowlevel.Task, deadline: float) -> None:
        self.fd = fd
        # None once the descriptor is forgotten: an entry still in the heap until it is due
        # must not keep a finished connection's task alive.
        self.task: trio.lowlevel.Task | None = task
        self.deadline = deadline
        self.due: float | None = None

    def __lt__(self, other: _Parked) -> bool:
        assert self.due is not None
        assert other.due is not None
        return self.due < other.due


class Readiness:
    """Wakes tasks parked until their socket is readable or their deadline passes. Run
    :meth:`run` in a nursery that outlives the connections that use it; while it does not run,
    :meth:`arm` returns ``False``."""

    __slots__ = ("_epoll", "_heap", "_timer", "_waiting")

    def __init__(self) -> None:
        self._epoll: select.epoll | None = None
        # Each descriptor's entry (kept while it is in use: forget() drops it).
        self._waiting: dict[int, _Parked] = {}
        # Entries with a deadline, by due time (see the module's docstring).
        self._heap: list[_Parked] = []
        # The scope run() waits in: its deadline is the earliest due time.
        self._timer: trio.CancelScope | None = None

    @property
    def running(self) -> bool:
        return self._epoll is not None

    def arm(self, fd: int, deadline: float = math.inf) -> bool:
        """Have the current task woken (rescheduled) when *fd* becomes readable, or at
        *deadline*; the caller then parks with ``await trio.lowlevel.wait_task_rescheduled(abort)``
        (:func:`abort`, or a function of its own that calls :meth:`disarm`), and once woken
        looks for itself which it was. ``False``: not running, or *fd* cannot be waited for
        here (then the caller waits through trio instead)."""
        epoll = self._epoll
        if epoll is None:
            return False
        entry = self._waiting.get(fd)
        if entry is not None and entry.task is not None and entry.task.custom_sleep_data is self:
            return False  # another task is parked on it
        try:
            try:
                epoll.modify(fd, _ONCE_READABLE)
            except FileNotFoundError:  # the first wait on this descriptor
                epoll.register(fd, _ONCE_READABLE)
        except OSError:
            return False
        task = trio.lowlevel.current_task()
        task.custom_sleep_data = self  # parked here (trio resets it when the task is rescheduled)
        if entry is None:
            entry = self._waiting[fd] = _Parked(fd, task, deadline)
        else:
            entry.task, entry.deadline = task, deadline
        if deadline < math.inf and (entry.due is None or deadline < entry.due):
            if entry.due is not None:  # due later than this: a fresh entry, the old one is dead
                entry = self._waiting[fd] = _Parked(fd, task, deadline)
            entry.due = deadline
            heapq.heappush(self._heap, entry)
            timer = self._timer
            if timer is not None and deadline < timer.deadline:
                timer.deadline = deadline
        return True

    def wake(self, fd: int) -> None:
        """Wake the task parked on *fd*, if one is (its connection is ending)."""
        self._wake(self._waiting.get(fd))

    def _wake(self, entry: _Parked | None) -> None:
        if entry is not None and entry.task is not None and entry.task.custom_sleep_data is self:
            trio.lowlevel.reschedule(entry.task)

    def disarm(self, fd: int) -> None:
        """The task parked on *fd* stops waiting (it was cancelled)."""
        self._waiting.pop(fd, None)

    def forget(self, fd: int) -> None:
        """*fd* is about to be closed: no more events for it."""
        entry = self._waiting.pop(fd, None)
        if entry is not None:
            entry.task = None
        epoll = self._epoll
        if epoll is not None:
            with contextlib.suppress(OSError):  # never armed, or already gone
                epoll.unregister(fd)

    async def run(self) -> None:
        """Wake the tasks whose descriptors are readable or whose deadlines passed, until
        cancelled. Returns at once where there is no epoll (the readers wait through trio)."""
        if not hasattr(select, "epoll"):
            return
        epoll = self._epoll = select.epoll()
        waiting = self._waiting
        try:
            while True:
                due = self._heap[0].due if self._heap else None
                timer = self._timer = trio.CancelScope(deadline=math.inf if due is None else due)
                with timer:
                    await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, _ in epoll.poll(0):
                    self._wake(waiting.get(fd))
                self._expire(trio.current_time())
        finally:
            self._epoll = self._timer = None
            epoll.close()
            # Nobody will wake these now: they try to read, and then wait through trio.
            parked, self._waiting, self._heap = waiting, {}, []
            for entry in parked.values():
                self._wake(entry)

    def _expire(self, now: float) -> None:
        """Wake the parked tasks whose deadline has come."""
        heap, waiting = self._heap, self._waiting
        while heap and heap[0].due is not None and heap[0].due <= now:
            entry = heapq.heappop(heap)
            entry.due = None
            if waiting.get(entry.fd) is not entry:
                continue  # forgotten, or replaced by an entry due earlier
            if entry.deadline > now:  # parked again since, with a later deadline (or none)
                if entry.deadline < math.inf:
                    entry.due = entry.deadline
                    heapq.heappush(heap, entry)
            else:
                self._wake(entry)
