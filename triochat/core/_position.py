"""Where a client is in a room's order: what it names to resume after a reconnection.

Apart from :mod:`triochat.core._recovery` (which needs the hub), so that the codecs that read
it from the wire stay free of trio.
"""

from __future__ import annotations

import attrs

__all__ = ["Position"]


@attrs.frozen
class Position:
    """The last event a client saw in a room: the log's *epoch* and the event's *seq*."""

    epoch: str
    seq: int = attrs.field(validator=attrs.validators.ge(0))
