"""The output half of a client connection: what it writes, and how it ends.

Output normally needs no task at all: the member's doorbell puts the connection on the server's
flusher, which calls :meth:`Output.flush` once per scheduling round; that writes everything queued
with one non-blocking send (see :mod:`triochat.drivers._flusher`). Only when the kernel does not
take it all does a writer task exist, until the backlog is sent. Every way a connection can end
goes through :meth:`Output.close`, which records the first reason and removes the member from the
hub, so that nothing is left behind.

:class:`~triochat.drivers._connection.Connection` adds the reader, the set-up and the teardown.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Final

import trio

from ..core._events import SLOW_CONSUMER, Event
from ..session._reasons import CloseReason

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ..core._member import Member
    from ..protocols._codec import Codec
    from ..server._config import ServerConfig
    from ._flusher import Flusher

__all__ = ["Output"]

log = logging.getLogger("triochat.server")


#: A client whose last _BUSY_CAP lines came under _BUSY_GAP s apart waits through trio.
_BUSY_GAP: Final = 0.1
_BUSY_CAP: Final = 4


class Output:
    """The writer half of :class:`~triochat.drivers._connection.Connection` (which sets every
    attribute here in its ``__init__``): its flush, its writer task, and :meth:`close`."""

    __slots__ = (
        "_aborted",
        "_busy",
        "_descriptor",
        "_fd",
        "_flusher",
        "_nursery",
        "_outbox_drained",
        "_pending",
        "_read_scope",
        "_said_goodbye",
        "_sending",
        "_socket",
        "_stream",
        "_writer",
        "_writer_done",
        "bytes_out",
        "codec",
        "config",
        "hub",
        "id",
        "member",
        "paused",
        "peer",
        "reason",
        "reason_detail",
    )

    hub: Hub
    config: ServerConfig
    # The client's stream; for a plain socket served by the flusher, only its socket is kept
    # (_socket) until the connection opens, then only its descriptor (_descriptor, -1: none),
    # and the SocketStream is made again when first needed (see stream).
    _stream: trio.abc.Stream | None
    _socket: trio.socket.SocketType | None
    _descriptor: int
    codec: Codec
    member: Member | None
    id: int
    peer: str
    #: Why the connection ended (the first reason given wins), and what it said.
    reason: CloseReason | None
    reason_detail: str
    #: Bytes written to the client, for the metrics.
    bytes_out: int
    # The reader's cancel scope: its deadline is the idle timer; cancelled to end the reader.
    _read_scope: trio.CancelScope
    _aborted: bool  # output is stuck or gone: send nothing more but the last word
    _sending: bool  # True while a send_all is in progress
    _said_goodbye: bool
    _busy: int  # the reader's: lines in a row under _BUSY_GAP apart
    # With a flusher and a plain socket, output for an idle connection is written by the
    # flusher straight to this descriptor (-1: never, or no more); what the kernel does not
    # take waits in _pending for a writer task.
    _flusher: Flusher | None
    _fd: int
    _pending: bytes
    # The writer task exists only while output is backlogged; it runs in _nursery, and its
    # cancel scope is _writer. _writer_done is made when someone waits for it to end.
    _nursery: trio.Nursery | None
    _writer: trio.CancelScope | None
    _writer_done: trio.Event | None
    # Where the reader parks while its own outbox is over the soft limit (made when needed).
    _outbox_drained: trio.lowlevel.ParkingLot | None
    #: How many times the reader stopped reading because of the outbox's soft limit.
    paused: int

    @property
    def reading_paused(self) -> bool:
        """Whether the reader is waiting for this client's outbox to drain below its soft limit."""
        lot = self._outbox_drained
        return lot is not None and lot.statistics().tasks_waiting > 0

    async def _wait_for_outbox(self) -> None:
        """Stop reading while this client's own outbox is over its soft limit.

        A client that floods while not reading its echoes would otherwise fill its outbox
        and be cut off; this way TCP pushes back on it instead, and it goes on as soon as it
        reads. Other clients' outboxes play no part: nobody waits for somebody else.
        """
        member = self.member
        assert member is not None
        config = self.config
        while member.connected and (
            member.queued_events >= config.outbox_soft_events
            or member.queued_bytes >= config.outbox_soft_bytes
        ):
            self.paused += 1
            if self._outbox_drained is None:
                self._outbox_drained = trio.lowlevel.ParkingLot()
            await self._outbox_drained.park()

    @property
    def stream(self) -> trio.abc.Stream:
        """The client's stream. An idle plain-socket connection is read and written through its
        descriptor and holds no ``trio.SocketStream`` (with its conflict detector and attribute
        dict, about 0.4 KiB) nor socket objects (trio's and the standard library's, 0.18 KiB);
        they are made for the writer task or the goodbye when needed."""
        stream = self._stream
        if stream is None:
            sock = self._socket
            if sock is None:
                assert self._descriptor >= 0
                sock = trio.socket.from_stdlib_socket(socket.socket(fileno=self._descriptor))
            stream = self._stream = trio.SocketStream(sock)
        return stream

    def _stop_reader(self) -> None:
        """Make the reader stop: cancel its scope (a reader parked outside it is woken by the
        subclass that parks it)."""
        self._read_scope.cancel()

    def close(
        self,
        reason: CloseReason,
        detail: str = "",
        *,
        abort: bool = False,
        announce: bool = True,
    ) -> None:
        """End the connection with *reason* and its *detail* (the first reason given wins).

        The member leaves the hub at once (its rooms hear why, unless *announce* is false) and its
        outbox closes: what is still queued is sent, then the goodbye. With *abort*, a writer
        still sending is cancelled instead (its socket is stuck or gone).
        """
        if self.reason is None:
            self.reason, self.reason_detail = reason, detail
        self._stop_reader()
        if self.member is not None:
            self.hub.disconnect(self.member, self.said_reason, announce=announce)
        if abort:
            self._aborted = True
            self._fd = -1
            if self._writer is not None:
                self._writer.cancel()

    @property
    def said_reason(self) -> str:
        """Why the connection ended, as the rooms hear it (``""`` while it has not)."""
        reason = self.reason
        return "" if reason is None else reason.describe(self.reason_detail)

    def _removed(self, reason: str) -> None:
        # Called by the hub when someone else removed our member (a room found it too slow).
        # Its outbox was discarded; the socket is stuck, so stop waiting on it.
        if reason == SLOW_CONSUMER:
            self.close(CloseReason.SLOW_CONSUMER, abort=True)
        else:
            self.close(CloseReason.REMOVED, reason)

    def crashed(self, exc: BaseException) -> None:
        """Contain an unexpected exception raised while serving this connection: log it once,
        with its traceback, and disconnect this client only (also used by the flusher)."""
        log.error(
            "connection %d (%s) failed; closing it, the server goes on",
            self.id,
            self.peer,
            exc_info=exc,
            extra={"contained_crash": True, "conn": self.id},
        )
        self.close(CloseReason.INTERNAL_ERROR, abort=True)

    async def _send_quietly(self, data: bytes) -> bool:
        self._sending = True
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._sending = False
        self.bytes_out += len(data)
        return True

    def _encode(self, events: list[Event]) -> bytes:
        """The events in this connection's protocol, each encoded once for everyone."""
        return self.codec.encode(events)

    def flush(self) -> None:
        """Answer the member's doorbell: write everything queued with one non-blocking send, and
        start a writer task only for what the kernel did not take (or if this connection cannot
        write directly). Called by the flusher, once per scheduling round at most."""
        # The innermost loop of a delivery at moderate load (once per member per line): the
        # codec is called directly and each attribute is read once.
        member = self.member
        if member is None or self._writer is not None:
            return  # the writer is running and takes the outbox itself
        fd = self._fd
        if fd >= 0:
            # Armed again at once: if the kernel takes it all, we are idle again; if not, the
            # writer started below makes the next ring a no-op, and re-arms when it is done.
            data = self.codec.encode(member.take_all(arm=True))
            if not data:
                return
            drained = self._outbox_drained
            if drained is not None:
                drained.unpark_all()
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = 0  # reset or closed: the writer's send_all meets the error and ends us
            self.bytes_out += sent
            size = len(data)
            if sent == size:
                return
            self._pending = data[sent:]
            self._sending = sent > 0  # part of a line may be on the wire
        if member.connected and self._nursery is not None:
            self._writer = trio.CancelScope()
            self._nursery.start_soon(self._writer_task, self._writer)

    def abandon(self) -> None:
        """The flusher stopped before answering our doorbell: a writer task takes over."""
        self._fd = -1
        self.flush()  # with no descriptor, flush() starts a writer

    async def _writer_task(self, scope: trio.CancelScope) -> None:
        try:
            with scope:
                await self._write_loop()
        except Exception as exc:  # the isolation boundary, on the writer's side
            self.crashed(exc)
        finally:
            self._writer = None
            if self._writer_done is not None:
                self._writer_done.set()

    async def _wait_for_writer(self) -> None:
        if self._writer is not None:
            if self._writer_done is None:
                self._writer_done = trio.Event()
            await self._writer_done.wait()

    async def _write_loop(self) -> None:
        """Send what is pending and queued until the outbox is empty; then, if the member is
        still connected, arm its doorbell and return (the connection is idle again) or, without
        a doorbell, wait for more; once the member is removed and all is sent, say goodbye."""
        member = self.member
        assert member is not None
        timeout = self.config.write_timeout
        while True:
            data = self._pending
            if data:
                self._pending = b""
            else:
                data = self._encode(member.take_all())
                if self._outbox_drained is not None:
                    self._outbox_drained.unpark_all()
                if not data:
                    if not member.connected:
                        break
                    if member.arm_doorbell():
                        return  # idle again: the doorbell will bring us back
                    await member.wait()  # no doorbell: wait here for the next event
                    continue
            with trio.move_on_after(timeout) as scope:
                if not await self._send_quietly(data):
                    self.close(CloseReason.LOST, abort=True)
                    return
            if scope.cancelled_caught:
                self.close(CloseReason.WRITE_TIMEOUT, abort=True)
                return
        # The member was removed and everything queued has been sent: say why, and stop.
        with trio.move_on_after(min(timeout, self.config.shutdown_grace)):
            goodbye = self.codec.goodbye(self.reason or CloseReason.CLOSED, self.reason_detail)
            self._said_goodbye = await self._send_quietly(goodbye)
        self._stop_reader()

    def _read_socket(self, fd: int) -> bytes | None:
        """What the socket has now: ``None`` if nothing yet, ``b""`` at its end or after a reset
        (which closes the connection as lost; the first reason given wins). A function of its
        own so that no exception (and its traceback) is alive while the reader waits."""
        try:
            return os.read(fd, self.config.read_size)
        except BlockingIOError:
            return None
        except OSError:  # reset
            self.close(CloseReason.LOST)
            return b""

    def _count_busy(self, last_line: float) -> float:
        """A line came: one more in a row under _BUSY_GAP after the last (up to _BUSY_CAP).
        Returns now, the time of this line."""
        now = trio.current_time()
        self._busy = min(self._busy + 1, _BUSY_CAP) if now - last_line < _BUSY_GAP else 0
        return now
