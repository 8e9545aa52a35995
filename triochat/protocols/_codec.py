"""The codec seam: what a wire protocol is to the connection that runs it (sans-IO).

A codec turns the bytes a client sends into commands for the session, and the events and replies
queued for that client into bytes; it also words the goodbye and the refusals that happen before
there is a session at all. It owns framing, parsing, rendering and every word a client reads, and
it does no I/O: the connection driver (:mod:`triochat.drivers._connection`) feeds it what the
socket gave and writes what it returns, and knows nothing of any protocol. A new protocol is a new
codec; the driver, the session and the core do not change. See docs/architecture.md for a
twenty-line example.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Protocol

from ..core._events import Event
from ..session._input import Input, InputError, InputProblem
from ..session._reasons import CloseReason

__all__ = ["Codec", "Input", "InputError", "InputProblem", "Refusal"]


class Refusal(enum.Enum):
    """Why a client is turned away before it has a session."""

    #: The server has ``max_clients`` already.
    SERVER_FULL = "server full"
    #: The client's address has ``max_clients_per_ip`` already.
    TOO_MANY_FROM_ADDRESS = "too many connections from your address"
    #: Plain text reached a TLS port.
    NOT_TLS = "this port speaks TLS"


class Codec(Protocol):
    """One client's protocol state. The driver calls, in this order for each read:
    :meth:`receive` once, then :meth:`decode` for each frame it returned (after its own flood
    control), and :meth:`encode` for whatever the client's outbox holds when it writes."""

    #: The protocol's name, for logs and statistics (``"text"``, ``"irc"``...).
    name: ClassVar[str]

    @property
    def pending(self) -> int:
        """Bytes held for a frame that is not complete yet (bounded by the codec)."""
        ...

    def receive(self, data: bytes | bytearray) -> list[object]:
        """Take bytes from the client; return the frames they complete, in order."""
        ...

    def decode(self, frame: object) -> Input:
        """What one frame (from :meth:`receive`) means. Never raises for bad input."""
        ...

    def encode(self, events: list[Event]) -> bytes:
        """The client's queued events and replies as bytes, in order (encoding each event
        once per codec and format, and sharing the bytes with every client using the same)."""
        ...

    def goodbye(self, reason: CloseReason, detail: str = "") -> bytes:
        """The last words before the connection closes."""
        ...
