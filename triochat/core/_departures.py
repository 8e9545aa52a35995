"""How a room announces the members it cut off as slow consumers, and paces bursts.

A delivery that overflows a member's outbox cannot publish that member's departure there and
then: the room is in the middle of its fan-out. The room queues the departure instead, and this
part of it publishes the queue before the room's next event (and before its next chat line, if
the room is crowded), so everyone sees ``Left`` before the room moves on. It also lets writers
run between the lines of a burst, so a burst does not look like a slow consumer.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import trio

from ._events import Event, Left

__all__ = ["Departures"]


class Departures:
    """The departures and pacing half of :class:`~triochat.Room` (a base class of it)."""

    if TYPE_CHECKING:
        # Fields of Room, which these methods keep.
        _crowded: bool
        _departures: deque[tuple[str, str]]
        _announcing: bool

        def _publish(
            self, kind: type[Event], sender: str, *, departures_first: bool = True, **fields: Any
        ) -> Event: ...

    async def _settle_departures(self) -> None:
        # Every departure goes out before the next chat line, paced like the lines themselves.
        while self._departures:
            self._announce_departures()
            await trio.lowlevel.checkpoint()

    async def _pace(self) -> None:
        # A burst must not look like a slow consumer. If any outbox is more than half full, let
        # every runnable writer take its turn before publishing more: a writer empties its whole
        # outbox when it runs, so after one scheduling round only members whose *socket* is not
        # draining still have a backlog, and only they can overflow. Departures of slow
        # consumers this line caused go out here the same way.
        if self._departures:
            await self._settle_departures()
        if self._crowded:
            self._crowded = False
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()

    def _announce_departures(self) -> None:
        """Publish waiting departures of slow consumers: one, then more for as long as no
        outbox is more than half full.

        Called before every event the room publishes (and right after one that cut members off,
        unless it crowded an outbox), so that a member cut off by any event (a join, a topic, a
        kick) is announced before the room moves on. A crowded room gets one departure per
        event, and the rest before its next chat line (_settle_departures). Each Left can
        overflow others in turn; that ends, since every overflow removes a member.
        """
        departures = self._departures
        was_crowded = self._crowded
        self._announcing = True
        try:
            while departures:
                self._crowded = False
                nick, reason = departures.popleft()
                self._publish(Left, nick, reason=reason, quit=True)
                if self._crowded:
                    break
        finally:
            self._announcing = False
            self._crowded = was_crowded or self._crowded
