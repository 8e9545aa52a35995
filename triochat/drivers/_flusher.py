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

import bisect
from typing import Final, Protocol

import trio

__all__ = ["LATENCY_BUCKETS", "Flushable", "Flusher", "LatencyHistogram"]

#: Upper bounds, in seconds, of the buckets of the line-to-last-write latency histogram.
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class LatencyHistogram:
    """Counts of observations per bucket (cumulative only when exported), their sum and count:
    a bisect and three additions per observation, nothing else."""

    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        #: One count per bound, and the last for everything above the last bound.
        self.buckets = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds


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

    __slots__ = ("_due", "_waiter", "arrived", "doorbell", "latency", "running")

    def __init__(self) -> None:
        self._due: list[Flushable] = []
        self._waiter: trio.lowlevel.Task | None = None
        #: :meth:`ring`, bound once: a doorbell every connection shares (``self.ring`` would
        #: make a new bound method, and keep one per idle connection).
        self.doorbell = self.ring
        #: True while :meth:`run` runs: ringing a flusher that does not run would leave the
        #: doorbell unanswered, so connections only use one that runs.
        self.running = False
        #: When the lines whose deliveries the next pass writes were read (set by a reader whose
        #: lines rang a doorbell; ``None``: no sample pending). One sample per pass, so that the
        #: fan-out pays nothing for it: see :attr:`latency`.
        self.arrived: float | None = None
        #: Seconds from a read that brought lines to the end of the pass that wrote what they
        #: published to every idle member: the line's arrival to its last member's write.
        self.latency = LatencyHistogram()

    @property
    def due(self) -> bool:
        """Whether doorbells rang since the last pass (the next pass has work)."""
        return bool(self._due)

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
            arrived = self.arrived
            if arrived is not None:
                self.arrived = None
                self.latency.observe(trio.current_time() - arrived)
