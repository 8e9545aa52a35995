"""Members: somebody in the hub, with a bounded outbox that rooms write into.

A :class:`Member` is created by :meth:`Hub.connect <triochat.Hub.connect>`. Rooms deliver events
into its outbox without ever waiting; the owner (a network connection's writer task, or your own
code) reads them back with ``async for event in member``. The outbox is a deque with a bound in
events and a bound in bytes, and one owner task that parks on it when it is empty. A member whose
outbox would pass either bound is disconnected with the reason :data:`SLOW_CONSUMER`: chat lines
are not state that a newer value can replace, so nothing is ever dropped silently.

Why not a trio memory channel: delivery is the innermost loop of the fan-out (once per member per
event), and a channel's ``send_nowait`` plus its statistics cost several times what a deque
append and two integer checks do. There is one consumer, so the channel's generality buys nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from ._errors import ErrorCode, NotInRoom
from ._events import SLOW_CONSUMER, Event, Notice, Private
from ._text import sanitize

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


# Halves already made: members with the same bounds (every member of a server) share one int
# object for each instead of holding two of their own (32 bytes each, ints over 256 are not
# cached by CPython). Bounded by the distinct bounds in use.
_halves: dict[int, int] = {}


def _half(bound: int) -> int:
    half = _halves.get(bound)
    if half is None:
        half = bound // 2
        if len(_halves) < 64:
            _halves[bound] = half
    return half


@attrs.define(eq=False, kw_only=True)
class Member(trio.abc.ReceiveChannel[Event]):
    """One participant: a nickname, the rooms it is in, and a bounded outbox.

    The outbox is a :class:`trio.abc.ReceiveChannel` of :class:`Event`: ``receive``,
    ``receive_nowait``, ``aclose``, ``async for`` and ``async with`` behave as they do on any
    Trio channel, so a member plugs into code written for channels. The channel ends
    (:exc:`trio.EndOfChannel`) once the member has been disconnected and everything queued before
    that has been received; after :meth:`aclose`, receiving raises
    :exc:`trio.ClosedResourceError`.

    Use it as an iterator of the events delivered to it, and as a context manager that
    disconnects it from the hub on exit::

        with hub.connect("alice") as alice:
            hub.room("lobby").join(alice)
            await alice.say("hello")
            async for event in alice:
                ...

    Resource handling: the outbox holds at most *max_events* events and about *max_bytes* bytes.
    Events the owner has received are no longer counted. One task at a time may wait on it.

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
    #: Why the member is away (IRC ``AWAY``), or ``None`` while it is here.
    away: str | None = attrs.field(default=None, init=False)
    #: Why the member was removed from the hub, or ``None`` while it is connected.
    removed_reason: str | None = attrs.field(default=None, init=False)
    #: Bytes waiting in the outbox, by the estimate of :attr:`Event.size`.
    queued_bytes: int = attrs.field(default=0, init=False)
    _delivered: int = attrs.field(default=0, init=False)
    # A list, not a deque: an empty deque allocates a 64-slot block up front (half a KiB per
    # idle member), and the owner takes the outbox whole (take_all) far more often than one by one.
    _queue: list[Event] = attrs.field(factory=list, init=False)
    # The owner's task while it waits for an event, else None.
    _waiter: trio.lowlevel.Task | None = attrs.field(default=None, init=False)
    # True once the owner closed its end (close_outbox): deliveries are refused from then on.
    _owner_gone: bool = attrs.field(default=False, init=False)
    # Called when an event arrives while the owner has no task waiting but is "armed": the
    # owner's way to take events without a task of its own. See set_doorbell().
    _doorbell: Callable[[Any], None] | None = attrs.field(default=None, init=False)
    _answerer: Any = attrs.field(default=None, init=False)
    _armed: bool = attrs.field(default=False, init=False)
    # A tuple, replaced on each (rare) addition: a member usually has one callback, and a list
    # holding it is 88 bytes to the tuple's 48 (and an empty list 56 to the shared empty tuple).
    _on_removed: tuple[Callable[[str], None], ...] = attrs.field(default=(), init=False)
    # Past these, an outbox is "more than half full" and publishers yield (see Room._pace).
    _half_events: int = attrs.field(default=0, init=False)
    _half_bytes: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        if self.max_events < 1 or self.max_bytes < 1:
            raise ValueError("outbox bounds must be at least 1")
        self._half_events = _half(self.max_events)
        self._half_bytes = _half(self.max_bytes)

    def __repr__(self) -> str:
        return f"<Member {self.nick!r}>"

    # ------------------------------------------------------------------------------ delivery

    @property
    def connected(self) -> bool:
        """Whether the member is still in the hub (``False`` once it has been disconnected)."""
        return self.removed_reason is None

    @property
    def queued_events(self) -> int:
        """How many events wait in the outbox (the same as :attr:`queued`)."""
        return len(self._queue)

    @property
    def queued(self) -> int:
        """Events waiting in the outbox."""
        return len(self._queue)

    def deliver(self, event: Event) -> bool:
        """Put *event* in the outbox without waiting. Used by rooms and the server.

        Returns ``False`` if the member is gone or the outbox is full; in the latter case the
        caller must disconnect the member (rooms do, once their fan-out loop is done).
        """
        return self._offer(event, event.size) >= 0

    def _offer(self, event: Event, size: int) -> int:
        """:meth:`deliver` for rooms, with the event's size computed once per event.

        Returns -1 if refused, 1 if accepted and the outbox is now more than half full, else 0.
        """
        # The innermost loop of the fan-out. First the common case at moderate load: an armed
        # doorbell means an empty outbox, a connected member and an owner still there (whatever
        # ends either disarms it), so only the byte bound is left to check.
        if self._armed:
            if size > self.max_bytes:
                return -1
            self._armed = False
            self._queue.append(event)
            self.queued_bytes = size
            self._doorbell(self._answerer)  # type: ignore[misc]  # armed only with a doorbell
            return 0 if size <= self._half_bytes and self._half_events else 1
        queue = self._queue
        queued = len(queue)
        if queued >= self.max_events or self._owner_gone or self.removed_reason is not None:
            return -1
        queued_bytes = self.queued_bytes + size
        if queued_bytes > self.max_bytes:
            return -1
        queue.append(event)
        self.queued_bytes = queued_bytes
        if self._waiter is not None:
            self._wake()
        if queued < self._half_events and queued_bytes <= self._half_bytes:
            return 0
        return 1

    def _wake(self) -> None:
        task = self._waiter
        if task is not None:
            self._waiter = None
            trio.lowlevel.reschedule(task)

    def set_doorbell(self, doorbell: Callable[[Any], None], answerer: object) -> None:
        """Have ``doorbell(answerer)`` called, instead of a task kept waiting, when an event
        arrives. (A function and its argument rather than one bound callable: that would be
        one more object for every idle connection.)

        For owners that keep no task waiting on the outbox while it is empty (the server's
        connections: an idle one has no writer task at all). The doorbell rings once, for the
        first event after :meth:`arm_doorbell`; whoever answers it takes the events with
        :meth:`take_all` and, once it has dealt with them all, arms it again.
        """
        self._doorbell = doorbell
        self._answerer = answerer
        self.arm_doorbell()

    def arm_doorbell(self) -> bool:
        """Ring the doorbell for the next event. Returns ``False`` (and does not arm it) if
        events are already queued: the caller has more to take first."""
        if self._queue or self._doorbell is None:
            return False
        # Never for an outbox that takes no more: an armed doorbell vouches for it (see _offer).
        self._armed = self.removed_reason is None and not self._owner_gone
        return True

    def notify(
        self,
        text: str,
        *,
        error: bool = False,
        kind: str | None = None,
        data: dict[str, Any] | None = None,
        code: ErrorCode | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Send a server notice (a welcome, a reply, an error) to this member only.

        *kind* defaults to ``"error"`` for errors and ``"info"`` otherwise; *data* carries
        structured details for the JSON format; *code* says what went wrong, for an error;
        *params* the other values a protocol words a structured reply (*text* ``""``) with.
        """
        notice = Notice(
            text=text,
            error=error,
            kind=kind or ("error" if error else "info"),
            data=data or {},
            code=code,
            params=params or {},
        )
        if not self.deliver(notice):
            self.hub.disconnect(self, SLOW_CONSUMER)

    def take_all(self, *, arm: bool = False) -> list[Event]:
        """Take every queued event at once, without waiting (``[]`` if none).

        With *arm*, also arm the doorbell (see :meth:`arm_doorbell`): for an answerer that
        deals with all of them at once.
        """
        queue = self._queue
        if arm and self._doorbell is not None:
            # Never for an outbox that takes no more: an armed doorbell vouches for it (_offer).
            self._armed = self.removed_reason is None and not self._owner_gone
        if not queue:
            return []
        self._queue = []
        self.queued_bytes = 0
        self._delivered += len(queue)
        return queue

    def receive_nowait(self) -> Event:
        """Take the next event from the outbox, or raise :exc:`trio.WouldBlock`.

        Raises :exc:`trio.EndOfChannel` once the member has been removed and the outbox is empty.
        """
        if self._owner_gone:
            raise trio.ClosedResourceError("the outbox was closed by its owner")
        queue = self._queue
        if queue:
            event = queue.pop(0)
            self.queued_bytes -= event.size
            self._delivered += 1
            return event
        if self.removed_reason is not None:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def wait(self) -> None:
        """Wait until the outbox has an event or the member is removed, then return.

        Not a checkpoint if there is no need to wait (apart from cancellation). Raises
        :exc:`trio.BusyResourceError` if another task is already waiting.
        """
        if self._queue or self.removed_reason is not None or self._owner_gone:
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        if self._waiter is not None:
            raise trio.BusyResourceError("another task is already waiting on this outbox")
        self._waiter = trio.lowlevel.current_task()

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._waiter = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def receive(self) -> Event:
        """Wait for the next event. Raises :exc:`trio.EndOfChannel` once the member is gone."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                event = self.receive_nowait()
            except trio.WouldBlock:
                await self.wait()
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return event

    async def receive_batch(self, limit: int = 1 << 30) -> list[Event]:
        """Wait for at least one event, then take every event already queued (up to *limit*).

        This is how a writer batches: one wake-up, one ``send_all`` for all of it.
        Raises :exc:`trio.EndOfChannel` once the member is gone and nothing is left.
        """
        batch = [await self.receive()]
        try:
            while len(batch) < limit:
                batch.append(self.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            pass
        return batch

    def __aiter__(self) -> Member:
        return self

    async def aclose(self) -> None:
        """Close the channel: the member leaves the hub (if it is still connected), what is
        queued is discarded, and receiving raises :exc:`trio.ClosedResourceError` from now on.
        Idempotent; a checkpoint, like every ``aclose``."""
        if self.connected:
            self.hub.disconnect(self, "left")
        self.close_outbox()
        await trio.lowlevel.checkpoint()

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------------------ actions

    async def say(self, text: str, room: Room | str | None = None) -> None:
        """Say *text* in *room*, a :class:`Room` or a room's name (default: :attr:`current_room`).

        This is the one publishing path for people, bots and network clients alike. The text is
        sanitized: it can neither break a line nor carry terminal escapes. It yields to the other
        tasks when some member's outbox is filling up, so that a burst of lines from one sender
        lets every writer drain before any healthy outbox can overflow.
        """
        target = self._target(room)
        await target.publish_message(self, sanitize(text, keep_formatting=True))

    async def act(self, text: str, room: Room | str | None = None) -> None:
        """``/me``: publish an action in *room*, a :class:`Room` or a name (default:
        :attr:`current_room`)."""
        target = self._target(room)
        await target.publish_action(self, sanitize(text, keep_formatting=True))

    async def reply(self, event: Event, text: str) -> None:
        """Answer *event*: say *text* in the room it came from, or, for a
        :class:`~triochat.Private` message, privately to its sender.

        Raises :exc:`NotInRoom` if this member has left that room since, and
        :exc:`~triochat.NoSuchNick` if the sender of a private message is gone.
        """
        if isinstance(event, Private):
            other = event.target if event.sender == self.nick else event.sender
            self.hub.send_private(self, other, text)
            await trio.lowlevel.checkpoint()
            return
        await self.say(text, room=event.room)

    def _target(self, room: Room | str | None) -> Room:
        if isinstance(room, str):
            named = self.hub.find_room(room)
            if named is None:
                raise NotInRoom(f"you are not in {room}", room=room)
            room = named
        target = room if room is not None else self.current_room
        if target is None or self.rooms.get(target.name) is not target:
            if target is None:
                raise NotInRoom("you are not in any room", code=ErrorCode.NO_ROOM, hint="join")
            raise NotInRoom(f"you are not in {target.name}", room=target.name)
        return target

    def switch(self, room: Room) -> None:
        """Make *room*, which this member is in, its current room. Raises :exc:`NotInRoom`."""
        self.current_room = self._target(room)

    def add_removal_callback(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once, when the member is removed from the hub."""
        self._on_removed = (*self._on_removed, callback)

    def _close(self, reason: str, *, discard: bool) -> None:
        """Mark removed and close the outbox. Called only by :meth:`Hub.disconnect`."""
        self.removed_reason = reason
        self._armed = False  # see _offer
        if discard:
            self._queue.clear()
            self.queued_bytes = 0
        self._wake()
        callbacks, self._on_removed = self._on_removed, ()
        for callback in callbacks:
            callback(reason)

    def close_outbox(self) -> None:
        """Close the receiving end, for an owner that will read no more (a writer exiting)."""
        self._owner_gone = True
        self._armed = False  # see _offer
        self._queue.clear()
        self.queued_bytes = 0
        self._wake()

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
