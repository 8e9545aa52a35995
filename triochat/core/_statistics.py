"""Snapshots of the core's objects for monitoring (the admin console, metrics)."""

from __future__ import annotations

import attrs

__all__ = ["RoomStatistics"]


@attrs.frozen(kw_only=True)
class RoomStatistics:
    """A snapshot of a room.

    Attributes:
      name: the room's name.
      members: members in the room.
      published: events published so far (the room's last sequence number).
      history_events: events kept in the room's history.
      history_bytes: the memory they hold, in bytes: the events, their text, their renderings
        and their history copies.
    """

    name: str
    members: int
    published: int
    history_events: int
    history_bytes: int
