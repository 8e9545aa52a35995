"""Readiness: one server-wide wait for the sockets of idle connections to become readable.

An idle connection's task waits for its socket to become readable. Through
``trio.lowlevel.wait_readable`` that wait keeps five coroutines alive (trio's public function,
the I/O manager's, its ``_epoll_wait`` with the closure it aborts with, ``wait_task_rescheduled``)
and the I/O manager's entry for the descriptor: about 1.6 KiB, ten thousand times over. Here the
task parks directly, with ``trio.lowlevel.wait_task_rescheduled``, after putting its socket in an
epoll set of our own; one task, :meth:`Readiness.run`, waits (through trio) for that set to have
events and wakes the tasks whose sockets are readable. Each connection still has its own task and
is still cancelled by its cancel scopes: the abort function of a parked reader is the shared
:func:`abort`, which keeps nothing per connection. A parked task is marked by its
``custom_sleep_data`` (which trio clears whenever it reschedules the task, a cancellation
included), so an entry left behind by a cancelled reader is recognised as stale and never wakes a
task that waits for something else.

Only where ``select.epoll`` exists (Linux); elsewhere :meth:`arm` says no and the reader waits
through trio as before. Descriptors are registered one-shot: an event disarms its descriptor, and
the next :meth:`arm` arms it again, so a reader that stopped waiting gets at most one stray event
(ignored: nobody is waiting for it).
"""

from __future__ import annotations

import contextlib
import select
from typing import Final

import trio

__all__ = ["Readiness", "abort"]

# Readable, once: an event disarms the descriptor until the next arm().
_ONCE_READABLE: Final = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLONESHOT", 0)


def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
    """The abort function of a task parked after :meth:`Readiness.arm`: one for every task (a
    bound method or closure per parked reader would be 64 bytes each, ten thousand times over).
    Its entry stays in the set until the task arms again or its descriptor is forgotten; being
    rescheduled, the task no longer carries the mark that :meth:`Readiness.run` looks for."""
    return trio.lowlevel.Abort.SUCCEEDED


class Readiness:
    """Wakes tasks parked until their socket is readable. Run :meth:`run` in a nursery that
    outlives the connections that use it; while it does not run, :meth:`arm` returns ``False``."""

    __slots__ = ("_epoll", "_waiting")

    def __init__(self) -> None:
        self._epoll: select.epoll | None = None
        # The task parked on each descriptor.
        self._waiting: dict[int, trio.lowlevel.Task] = {}

    @property
    def running(self) -> bool:
        return self._epoll is not None

    def arm(self, fd: int) -> bool:
        """Have the current task woken (rescheduled) when *fd* becomes readable; the caller then
        parks with ``await trio.lowlevel.wait_task_rescheduled(abort)`` (:func:`abort`, or a
        function of its own that calls :meth:`disarm`). ``False``: not running, or *fd* cannot be
        waited for here (then the caller waits through trio instead)."""
        epoll = self._epoll
        if epoll is None:
            return False
        waiting = self._waiting.get(fd)
        if waiting is not None and waiting.custom_sleep_data is self:
            return False  # another task is parked on it
        try:
            try:
                epoll.modify(fd, _ONCE_READABLE)
            except FileNotFoundError:  # the first wait on this descriptor
                epoll.register(fd, _ONCE_READABLE)
        except OSError:
            return False
        task = self._waiting[fd] = trio.lowlevel.current_task()
        task.custom_sleep_data = self  # parked here (trio resets it when the task is rescheduled)
        return True

    def disarm(self, fd: int) -> None:
        """The task parked on *fd* stops waiting (it was cancelled)."""
        self._waiting.pop(fd, None)

    def forget(self, fd: int) -> None:
        """*fd* is about to be closed: no more events for it."""
        self._waiting.pop(fd, None)
        epoll = self._epoll
        if epoll is not None:
            with contextlib.suppress(OSError):  # never armed, or already gone
                epoll.unregister(fd)

    async def run(self) -> None:
        """Wake the tasks whose descriptors are readable, until cancelled. Returns at once where
        there is no epoll (the readers wait through trio)."""
        if not hasattr(select, "epoll"):
            return
        epoll = self._epoll = select.epoll()
        waiting = self._waiting
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, _ in epoll.poll(0):
                    task = waiting.pop(fd, None)
                    if task is not None and task.custom_sleep_data is self:
                        trio.lowlevel.reschedule(task)
        finally:
            self._epoll = None
            epoll.close()
            # Nobody will wake these now: they try to read, and then wait through trio.
            parked, self._waiting = waiting, {}
            for task in parked.values():
                if task.custom_sleep_data is self:
                    trio.lowlevel.reschedule(task)
