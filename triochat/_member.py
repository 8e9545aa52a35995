"""Members: somebody in the hub, with a bounded outbox that rooms write into.

A :class:`Member` is created by :meth:`Hub.connect <triochat.Hub.connect>`. Rooms deliver events
into its outbox without ever waiting; the owner (a network connection's writer task, or your own
code) reads them back with ``async for event in member``. The outbox is a trio memory channel with a
bound in events, plus a bound in bytes that the member keeps itself. A member whose outbox would
pass either bound is disconnected with the reason :data:`SLOW_CONSUMER`: chat lines are not state
that a newer value can replace, so nothing is ever dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from ._errors import NotInRoom
from ._events import Event, Notice
from ._wire import sanitize

if TYPE_CHECKING:
    from ._hub import Hub
    from ._room import Room

__all__ = [
    "DEFAULT_OUTBOX_BYTES",
    "DEFAULT_OUTBOX_MESSAGES",
    "SLOW_CONSUMER",
    "Member",
    "MemberStatistics",
]

#: Default bound of an outbox, in events.
DEFAULT_OUTBOX_MESSAGES: Final = 1024
#: Default bound of an outbox, in bytes (an estimate: see :attr:`Event.size`).
DEFAULT_OUTBOX_BYTES: Final = 1024 * 1024
#: The reason given to a member whose outbox overflowed.
SLOW_CONSUMER: Final = "SendQ exceeded: too slow reading messages"


@attrs.frozen(kw_only=True)
class MemberStatistics:
    """A snapshot of one member's outbox.

    Attributes:
      queued_events: events waiting in the outbox.
      queued_bytes: their estimated size in bytes.
      max_events: the outbox's bound in events.
      max_bytes: the outbox's bound in bytes.
      delivered: events the owner has taken from the outbox so far.
    """

    queued_events: int
    queued_bytes: int
    max_events: int
    max_bytes: int
    delivered: int


@attrs.define(eq=False, kw_only=True)
class Member:
    """One participant: a nickname, the rooms it is in, and a bounded outbox.

    Use it as an iterator of the events delivered to it, and as a context manager that
    disconnects it from the hub on exit::

        with hub.connect("alice") as alice:
            hub.room("lobby").join(alice)
            await alice.say("hello")
            async for event in alice:
                ...

    Resource handling: the outbox holds at most *max_events* events and about *max_bytes* bytes.
    Events the owner has received are no longer counted.

    Error handling: delivery never raises and never blocks. When the outbox is full the member is
    disconnected (:attr:`removed_reason` says why), its queued events are discarded, and iterating
    it ends.
    """

    hub: Hub
    nick: str
    max_events: int = DEFAULT_OUTBOX_MESSAGES
    max_bytes: int = DEFAULT_OUTBOX_BYTES
    #: Rooms this member is in, in the order it joined them.
    rooms: dict[str, Room] = attrs.field(factory=dict, init=False)
    #: The room :meth:`say` uses when none is named; the room joined last (or switched to).
    current_room: Room | None = attrs.field(default=None, init=False)
    #: Where the member connects from (an IP address, or ``unix:PATH``, shared by every client
    #: of that Unix socket), for address bans; ``""`` if it is not a network client.
    address: str = ""
    #: Server administrators are operators in every room and cannot be banned or kicked by
    #: room operators.
    is_admin: bool = attrs.field(default=False, init=False)
    #: Why the member was removed from the hub, or ``None`` while it is connected.
    removed_reason: str | None = attrs.field(default=None, init=False)
    queued_events: int = attrs.field(default=0, init=False)
    #: Bytes waiting in the outbox, by the estimate of :attr:`Event.size`.
    queued_bytes: int = attrs.field(default=0, init=False)
    _delivered: int = attrs.field(default=0, init=False)
    _send: trio.MemorySendChannel[Event] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[Event] = attrs.field(init=False)
    _on_removed: list[Callable[[str], None]] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        if self.max_events < 1 or self.max_bytes < 1:
            raise ValueError("outbox bounds must be at least 1")
        # The channel's own buffer is the event bound; the byte bound is counted in deliver().
        self._send, self._receive = trio.open_memory_channel[Event](self.max_events)

    def __repr__(self) -> str:
        return f"<Member {self.nick!r}>"

    # ------------------------------------------------------------------------------ delivery

    @property
    def connected(self) -> bool:
        """Whether the member is still in the hub (``False`` once it has been disconnected)."""
        return self.removed_reason is None

    @property
    def queued(self) -> int:
        """How many events wait in the outbox; a counter, cheap enough to read for every line."""
        return self.queued_events

    def deliver(self, event: Event) -> bool:
        """Put *event* in the outbox without waiting. Used by rooms and the server.

        Returns ``False`` if the member is gone or the outbox is full; in the latter case the
        caller must disconnect the member (rooms do, once their fan-out loop is done).
        """
        if self.removed_reason is not None:
            return False
        size = event.size
        if self.queued_bytes + size > self.max_bytes:
            return False
        try:
            self._send.send_nowait(event)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            # WouldBlock: full. Broken: the owner closed its end (a writer that has exited).
            return False
        self.queued_bytes += size
        self.queued_events += 1
        return True

    def notify(
        self,
        text: str,
        *,
        error: bool = False,
        kind: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Send a server notice (a welcome, a reply, an error) to this member only.

        *kind* defaults to ``"error"`` for errors and ``"info"`` otherwise; *data* carries
        structured details for the JSON format.
        """
        notice = Notice(
            text=text,
            error=error,
            kind=kind or ("error" if error else "info"),
            data=data or {},
        )
        if not self.deliver(notice):
            self.hub.disconnect(self, SLOW_CONSUMER)

    def _taken(self, event: Event) -> Event:
        self.queued_bytes -= event.size
        self.queued_events -= 1
        self._delivered += 1
        return event

    def receive_nowait(self) -> Event:
        """Take the next event from the outbox, or raise :exc:`trio.WouldBlock`.

        Raises :exc:`trio.EndOfChannel` once the member has been removed and the outbox is empty.
        """
        return self._taken(self._receive.receive_nowait())

    async def receive(self) -> Event:
        """Wait for the next event. Raises :exc:`trio.EndOfChannel` once the member is gone."""
        return self._taken(await self._receive.receive())

    async def receive_batch(self, limit: int = 1 << 30) -> list[Event]:
        """Wait for at least one event, then take every event already queued (up to *limit*).

        This is how a writer batches: one wake-up, one ``send_all`` for all of it.
        Raises :exc:`trio.EndOfChannel` once the member is gone and nothing is left.
        """
        batch = [await self.receive()]
        receive = self._receive.receive_nowait
        try:
            while len(batch) < limit:
                batch.append(self._taken(receive()))
        except (trio.WouldBlock, trio.EndOfChannel):
            pass
        return batch

    def __aiter__(self) -> Member:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------------------ actions

    async def say(self, text: str, room: Room | None = None) -> None:
        """Say *text* in *room* (default: :attr:`current_room`).

        This is the one publishing path for people, bots and network clients alike. The text is
        sanitized: it can neither break a line nor carry terminal escapes. It yields to the other
        tasks when some member's outbox is filling up, so that a burst of lines from one sender
        lets every writer drain before any healthy outbox can overflow.
        """
        target = self._target(room)
        await target.publish_message(self, sanitize(text))

    async def act(self, text: str, room: Room | None = None) -> None:
        """``/me``: publish an action in *room* (default: :attr:`current_room`)."""
        target = self._target(room)
        await target.publish_action(self, sanitize(text))

    def _target(self, room: Room | None) -> Room:
        target = room if room is not None else self.current_room
        if target is None or self.rooms.get(target.name) is not target:
            raise NotInRoom(
                f"you are not in {target.name}"
                if target is not None
                else "you are not in any room; /join #ROOM"
            )
        return target

    def switch(self, room: Room) -> None:
        """Make *room*, which this member is in, its current room. Raises :exc:`NotInRoom`."""
        self.current_room = self._target(room)

    def add_removal_callback(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once, when the member is removed from the hub."""
        self._on_removed.append(callback)

    def _close(self, reason: str, *, discard: bool) -> None:
        """Mark removed and close the outbox. Called only by :meth:`Hub.disconnect`."""
        self.removed_reason = reason
        self._send.close()
        if discard:
            while True:
                try:
                    self._receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break  # ClosedResourceError: the owner already closed its end
            self.queued_bytes = 0
            self.queued_events = 0
        for callback in self._on_removed:
            callback(reason)
        self._on_removed.clear()

    def close_outbox(self) -> None:
        """Close the receiving end, for an owner that will read no more (a writer exiting)."""
        self._receive.close()

    def statistics(self) -> MemberStatistics:
        """A snapshot of the outbox: what is queued, the bounds, how much was delivered."""
        return MemberStatistics(
            queued_events=self.queued,
            queued_bytes=self.queued_bytes,
            max_events=self.max_events,
            max_bytes=self.max_bytes,
            delivered=self._delivered,
        )

    def __enter__(self) -> Member:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.connected:
            self.hub.disconnect(self, "left")
