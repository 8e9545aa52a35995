"""What a server counts for its metrics, kept off the fan-out path.

Per-connection figures (lines read, bytes written, events delivered) live on each connection and
are added up when someone asks (a scrape); when a connection ends, its figures are added here,
with the reason it ended. So counting costs an addition per read or per write, never per member
per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..session._auth import FailureThrottle, ThrottleKey

if TYPE_CHECKING:
    from ..drivers._connection import Connection

__all__ = ["CountingThrottle", "ServerCounters"]


class ServerCounters:
    """Totals of the connections that ended, and why they ended."""

    __slots__ = ("bytes_out", "closed_by_reason", "delivered", "lines_in")

    def __init__(self) -> None:
        self.lines_in = 0
        self.bytes_out = 0
        self.delivered = 0
        #: Connections ended, by :class:`~triochat.session.CloseReason` name (``"IDLE_TIMEOUT"``).
        self.closed_by_reason: Counter[str] = Counter()

    def closed(self, connection: Connection) -> None:
        """Add the figures of *connection*, which has ended."""
        self.lines_in += connection.lines_in
        self.bytes_out += connection.bytes_out
        if connection.member is not None:
            self.delivered += connection.member.statistics().delivered
        if connection.reason is not None:
            self.closed_by_reason[connection.reason.name] += 1


class CountingThrottle(FailureThrottle):
    """The server's failure throttle, which also counts failed secrets by target: the server
    ``password``, the ``admin_token``, a registered ``nick``'s password."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.failures: Counter[str] = Counter()

    def count(self, key: ThrottleKey) -> None:
        target = key[0]
        if target != "register":  # a registration is counted by the throttle, but not a failure
            self.failures[_TARGETS.get(target, "nick")] += 1
        super().count(key)


_TARGETS = {"pass": "password", "admin": "admin_token"}
