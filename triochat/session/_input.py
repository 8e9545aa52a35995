"""What one frame from a client means, whatever its protocol: a command, an input error, or
nothing. Codecs produce these; the session acts on them."""

from __future__ import annotations

import enum

import attrs

from ..core._events import Event
from ._commands import Command
from ._front_commands import FrontCommand

__all__ = ["Input", "InputError", "InputProblem", "Reply"]


class InputProblem(enum.Enum):
    """What was wrong with a frame a client sent."""

    LINE_TOO_LONG = "line too long"
    NOT_UTF8 = "not valid UTF-8"


@attrs.frozen
class InputError:
    """A frame that could not be read. The session answers it with an error reply and the
    connection goes on. *limit* is the line limit in bytes (for LINE_TOO_LONG), *offset* the
    first bad byte (for NOT_UTF8)."""

    problem: InputProblem
    limit: int = 0
    offset: int = 0


@attrs.frozen(kw_only=True)
class Reply(Event):
    """An answer the protocol itself owes the client, such as a WebSocket pong: the connection
    puts it in the client's own outbox, in order with everything else queued for it, and the
    codec that made it encodes it (*data*, the bytes as they go on the wire). No room, no
    session and no other codec ever sees one."""

    data: bytes

    @property
    def size(self) -> int:
        return 64 + len(self.data)


#: What one frame means: a command, an error to reply to, a protocol's own reply, or nothing (a
#: blank line, a keepalive answer): still a complete frame, which counts for the idle timer and
#: the flood control.
Input = Command | FrontCommand | InputError | Reply | None
