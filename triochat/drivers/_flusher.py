"""The flusher: coalesced, eager writes to idle connections, one pass per scheduling round.

Waking a connection's writer task for each delivery is what makes moderate load expensive: at
1 000 lines/s in a room of 100, that is 100 000 task switches a second, each for one line.
Instead, when an event reaches the empty outbox of a member whose writer is idle, the member rings
its doorbell, which puts its connection on the flusher's list (an append) and wakes the flusher if
it sleeps. The flusher runs once after every task that was runnable has had its turn, so it sees
everything published in that round (every line of every read), and for each connection on its
list takes the whole outbox and writes it with one non-blocking ``send``. Only if the kernel does
not take all of it is the connection's writer woken, to send the rest under the write timeout;
while a writer is busy its member rings no doorbell, and the writer drains the outbox in batches.

So under saturation writers batch, and at moderate load a delivery costs an append and a share of
one ``send``, with no task switch. Order is kept: the flusher writes only for a writer that is
parked with nothing pending, and the writer sends what the kernel did not take before anything
newer.
"""

from __future__ import annotations

from typing import Protocol

import trio

__all__ = ["Flushable", "Flusher"]


class Flushable(Protocol):
    def flush(self) -> None:
        """Write what is queued without blocking; hand any remainder to the writer task."""

    def abandon(self) -> None:
        """The flusher stops: wake the writer task, which takes the outbox itself."""

    def crashed(self, exc: BaseException) -> None:
        """:meth:`flush` raised *exc*: log it and end this target only."""


class Flusher:
    """A task that answers doorbells: call :meth:`ring` from anywhere in the run, run :meth:`run`
    in a nursery that outlives every connection that rings it."""

    __slots__ = ("_due", "_waiter", "doorbell", "running")

    def __init__(self) -> None:
        self._due: list[Flushable] = []
        self._waiter: trio.lowlevel.Task | None = None
        #: :meth:`ring`, bound once: a doorbell every connection shares (``self.ring`` would
        #: make a new bound method, and keep one per idle connection).
        self.doorbell = self.ring
        #: True while :meth:`run` runs: ringing a flusher that does not run would leave the
        #: doorbell unanswered, so connections only use one that runs.
        self.running = False

    def ring(self, target: Flushable) -> None:
        """Have ``target.flush()`` called in the flusher's next pass (soon, never now)."""
        self._due.append(target)
        task = self._waiter
        if task is not None:
            self._waiter = None
            trio.lowlevel.reschedule(task)

    async def run(self) -> None:
        """Flush what is due, forever (until cancelled)."""
        self.running = True
        try:
            await self._loop()
        finally:
            self.running = False
            # Nobody will answer these doorbells now: let their writers take over.
            due, self._due = self._due, []
            for target in due:
                try:
                    target.abandon()
                except Exception as exc:
                    target.crashed(exc)

    async def _loop(self) -> None:
        while True:
            if not self._due:
                self._waiter = trio.lowlevel.current_task()

                def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                    self._waiter = None
                    return trio.lowlevel.Abort.SUCCEEDED

                await trio.lowlevel.wait_task_rescheduled(abort)
            else:
                # More was rung while flushing (a flush can end a connection, whose departure
                # is published): let the others run first.
                await trio.lowlevel.checkpoint()
            due, self._due = self._due, []
            for target in due:
                try:
                    target.flush()
                except Exception as exc:  # one target's bug must not stop everyone's output
                    target.crashed(exc)
