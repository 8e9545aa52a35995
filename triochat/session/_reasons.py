"""Why a connection ends: one enum, for control flow, logs and the goodbye each codec words."""

from __future__ import annotations

import enum
import math

from ..core._events import SLOW_CONSUMER

__all__ = ["CloseReason", "seconds"]


class CloseReason(enum.Enum):
    """Why a connection ended.

    The value is the reason as the room hears it (a :class:`~triochat.Left` event's
    ``reason``, which every front end shows as it is); a detail may follow it after a colon
    (``quit: see you``, ``excess flood: more than 200 lines refused within 10 s``)."""

    #: The client said goodbye (``/quit [REASON]``, ``quit``, IRC ``QUIT``).
    QUIT = "quit"
    #: The client closed its end of the connection.
    CLIENT_CLOSED = "client closed the connection"
    #: The connection was reset or broke.
    LOST = "connection lost"
    #: No complete line for the idle timeout, and none after the ping either.
    IDLE_TIMEOUT = "idle timeout"
    #: The server password was not given in time.
    AUTH_TIMEOUT = "authentication timeout"
    #: The client did not take what was written for the write timeout.
    WRITE_TIMEOUT = "write timeout"
    #: The outbox overflowed, because the client does not read fast enough.
    SLOW_CONSUMER = SLOW_CONSUMER
    #: Too many lines refused by flood control.
    EXCESS_FLOOD = "excess flood"
    #: Too many failed password attempts from this address.
    TOO_MANY_FAILURES = "too many failed attempts"
    #: The server is stopping.
    SHUTTING_DOWN = "server shutting down"
    #: A bug of ours met this connection; the server goes on.
    INTERNAL_ERROR = "internal server error"
    #: Someone else removed the member from the hub (the detail says why).
    REMOVED = "removed"
    #: Anything else.
    CLOSED = "closed"

    @property
    def is_error(self) -> bool:
        """Whether the goodbye is an error (the client did something wrong, or we did)."""
        return self in _ERRORS

    @property
    def peer_gone(self) -> bool:
        """Whether the peer can no longer be written to (no goodbye is attempted)."""
        return self in (CloseReason.LOST, CloseReason.WRITE_TIMEOUT)

    def describe(self, detail: str = "") -> str:
        """The reason as a room hears it: ``quit: see you``, ``idle timeout``."""
        if self is CloseReason.REMOVED and detail:
            return detail
        return f"{self.value}: {detail}" if detail else self.value


_ERRORS = frozenset(
    {CloseReason.SLOW_CONSUMER, CloseReason.EXCESS_FLOOD, CloseReason.INTERNAL_ERROR}
)


def seconds(value: float) -> str:
    """A duration for people: ``10 s``, ``5 min``."""
    return f"{value:g} s" if value < 60 or not math.isfinite(value) else f"{value / 60:g} min"
