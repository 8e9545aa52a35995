"""One client connection: a reader, and a writer while output is backlogged, around a member.

The connection's own task runs the reader (here), with the connection's set-up and teardown. The
output half, the flush, the writer task and :meth:`~Output.close` through which every way a
connection can end goes, is :class:`~triochat.drivers._output.Output`, its base class.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..session._flood import FloodControl, Verdict
from ..session._input import InputError, Reply
from ..session._reasons import CloseReason, seconds
from ..session._session import Session
from ._addresses import peer_address
from ._output import _BUSY_CAP, Output
from ._readiness import abort

if TYPE_CHECKING:
    from ..core._hub import Hub
    from ..core._member import Member
    from ..protocols._codec import Codec
    from ..server._config import ServerConfig
    from ..session._auth import Guard
    from ..session._policy import SessionPolicy
    from ._flusher import Flusher
    from ._readiness import Readiness

__all__ = ["Connection"]

log = logging.getLogger("triochat.server")

# Seconds to spend on a goodbye line after a hard stop or a slow-consumer disconnect.
_LAST_WORD_TIMEOUT: Final = 0.5
# Connection ids, for logs: unique within the process.
_ids = itertools.count(1)
# The read scope of a reader that is not in one (not started yet, or parked in Readiness): there
# is nothing to cancel then, close() wakes a parked reader instead (see _stop_reader). Shared by
# every such connection (0.11 KiB each otherwise) and never entered, so cancelling it is harmless.
_NOT_READING: Final = trio.CancelScope()


class Connection(Output):
    """Serve one client over *stream* until it quits, times out, fails, or the server stops.

    Resource handling: :meth:`run` always closes *stream* and removes the member from the hub
    before it returns, whatever ended the connection; a writer task it started (in the nursery
    given to :meth:`run`) has ended by then.

    Error handling: I/O errors of this client (resets, broken pipes) end this connection only and
    are logged as a disconnect reason, never raised. Bad input gets an error line. Anything
    unexpected (a bug of ours, in the session, a codec or a store) is an isolation boundary's
    business: it is logged once with its traceback and the connection id, the client is told
    ``internal server error`` and disconnected, and the exception goes no further, so that one
    failure costs one connection and never the server.
    """

    __slots__ = (
        "_auth_deadline",
        "_flood",
        "_on_closed",
        "_readiness",
        "guard",
        "lines_in",
        "opened_at",
        "policy",
        "session",
    )

    def __init__(
        self,
        hub: Hub,
        config: ServerConfig,
        stream: trio.abc.Stream,
        peer: str,
        guard: Guard | None = None,
        *,
        codec: Codec,
        flusher: Flusher | None = None,
        on_closed: Callable[[Connection], None] | None = None,
        policy: SessionPolicy | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.hub = hub
        self.guard = guard
        #: What the session does of its own accord (``None``: the default for the guard).
        self.policy = policy
        self.config = config
        #: Names this connection in logs, the admin console and metrics (unique in the process).
        self.id = next(_ids)
        #: When the connection began (``trio.current_time()``).
        self.opened_at = trio.current_time()
        # See Output.stream: a plain socket that the flusher serves keeps only its socket.
        self._stream: trio.abc.Stream | None = stream
        self._socket: trio.socket.SocketType | None = None
        self._descriptor = -1
        self.peer = peer
        #: Why the connection ended (the first reason given wins), and what it said.
        self.reason: CloseReason | None = None
        self.reason_detail = ""
        self.member: Member | None = None
        self.session: Session | None = None
        #: The protocol: bytes in, commands out; events out, bytes in. The only thing here
        #: that knows what the client speaks.
        self.codec = codec
        # The read scope: made anew each time the reader starts working on input (see run).
        self._read_scope = _NOT_READING
        # Until the client gives the server password (if there is one): then it is cut off.
        self._auth_deadline = math.inf
        self._busy = 0  # lines in a row under _BUSY_GAP apart (see _count_busy)
        self._said_goodbye = False
        self._aborted = False  # output is stuck or gone: send nothing more but the last word
        self._sending = False  # True while a send_all is in progress
        # With a flusher and a plain socket, output for an idle connection is written by the
        # flusher straight to this descriptor (-1: never, or no more); what the kernel does not
        # take waits in _pending for a writer task.
        usable = flusher is not None and flusher.running and isinstance(stream, trio.SocketStream)
        self._flusher = flusher if usable else None
        if usable:
            assert isinstance(stream, trio.SocketStream)
            self._socket, self._stream = stream.socket, None
        # Where the reader of a plain socket parks while idle (None: through trio).
        self._readiness = readiness if usable else None
        self._fd = -1
        self._pending = b""
        # The writer task exists only while output is backlogged; it runs in _nursery, and its
        # cancel scope is _writer. _writer_done is made when someone waits for it to end.
        self._nursery: trio.Nursery | None = None
        self._writer: trio.CancelScope | None = None
        self._writer_done: trio.Event | None = None
        self._on_closed = on_closed
        # Made at the first line: its bucket starts full, as it would be by then anyway (it
        # holds at most a burst), and an idle connection does without (0.14 KiB).
        self._flood: FloodControl | None = None
        # The reader parks here while this client's own outbox is over its soft limit; whoever
        # takes a batch out of the outbox (the flusher or the writer) wakes it. Made when first
        # needed: most connections never need it.
        self._outbox_drained: trio.lowlevel.ParkingLot | None = None
        self.paused = 0
        #: Frames (lines) read from the client, and bytes written to it, for the metrics.
        self.lines_in = 0
        self.bytes_out = 0

    def reconfigure(self, config: ServerConfig) -> None:
        """Use the limits of *config* from now on (a reload): the rate and flood limits, the
        write timeout and the soft outbox bounds at once; the idle timeout from the next line."""
        self.config = config
        if self._flood is not None:
            self._flood.reconfigure(
                rate=config.message_rate,
                burst=config.message_burst,
                limit=config.flood_limit,
                window=config.flood_window,
            )

    @property
    def pending_input(self) -> int:
        """Bytes of an unfinished line held for this client (at most ``max_line`` + 1)."""
        return self.codec.pending

    @property
    def refused_lines(self) -> int:
        """Lines discarded because this client sent them faster than its rate limit."""
        return 0 if self._flood is None else self._flood.refused

    async def run(self, nursery: trio.Nursery) -> None:
        """Serve the client; a writer task, when output is backlogged, runs in *nursery*."""
        # The reader is inline here: an idle connection keeps this frame and its park in
        # Readiness, nothing else; every local is kept twice then (coroutine and frame object),
        # so what is read once per line comes from self. The idle timer is a deadline, moved on
        # by every complete line (not byte: slowloris is idle too); the reader works on input in
        # the read scope, and parks outside it, its deadline kept by Readiness (see
        # docs/architecture.md, "Memory per idle connection"). Other streams wait in the scope.
        pinged = False
        last_line = self.opened_at
        try:
            self._open(nursery)
            fd = self._fd  # the int the readiness set is keyed by: one object, not three
            deadline = min(last_line + self.config.idle_timeout / 2, self._auth_deadline)
            # None: read the socket next; bytes: what the last read gave, kept until the lines
            # in it are handled (a short read then parks at once: see below).
            data: bytes | bytearray | None = None
            while not self._ended():
                # Its deadline is set before the first await only: trio keeps the deadline of an
                # exited scope (and the scope) in its heap until it next prunes it, so a reader
                # that parks at once, as an idle one does, gives its scope none.
                scope = self._read_scope = trio.CancelScope()
                with scope:
                    while True:
                        if fd >= 0:
                            # After a short read, park at once: a read now would only say
                            # EAGAIN, and the one-shot arm sees data that came meanwhile.
                            data = None if data is not None else self._read_socket(fd)
                            if data is None:
                                # A busy client waits through trio (woken straight from its
                                # epoll, no pass of Readiness); an idle one parks in Readiness.
                                if (
                                    self._readiness is not None
                                    and self._busy < _BUSY_CAP
                                    and trio.current_time() < deadline
                                    and self._readiness.arm(fd, deadline)
                                ):
                                    break  # armed: park below, outside the scope
                                scope.deadline = deadline
                                await trio.lowlevel.wait_readable(fd)
                                continue
                        else:
                            scope.deadline = deadline
                            try:
                                data = await self.stream.receive_some(self.config.read_size)
                            except (trio.BrokenResourceError, trio.ClosedResourceError):
                                self.close(CloseReason.LOST)
                                break
                        if not data:
                            self.close(CloseReason.CLIENT_CLOSED)
                            break
                        items = self.codec.receive(data)
                        if items:
                            last_line = self._count_busy(last_line)
                            pinged = False
                            deadline = scope.deadline = min(
                                last_line + self.config.idle_timeout / 2, self._auth_deadline
                            )
                            if not await self._handle_lines(items):
                                break  # a line ended the connection
                            # Moved on by the outbox wait (off the clock) or authentication.
                            deadline = scope.deadline
                        if fd >= 0 and len(data) >= self.config.read_size:
                            data = None  # a full read: others run first, then we read again
                            await trio.lowlevel.cancel_shielded_checkpoint()
                self._read_scope = _NOT_READING
                if self._ended():
                    break  # closed
                if not scope.cancelled_caught:
                    if data is not None:
                        break  # the client is done
                    # Parked until input, the deadline, or close() wakes us (see _readiness),
                    # holding no scope (this frame's would be kept alive by its name).
                    scope = _NOT_READING
                    await trio.lowlevel.wait_task_rescheduled(abort)
                    if self._ended() or trio.current_time() < deadline:
                        continue
                if self._time_is_up(pinged):
                    break
                pinged = True
                deadline = min(last_line + self.config.idle_timeout, self._auth_deadline)
            # The reader is done: send what is queued and the goodbye (unless aborted).
            self.close(CloseReason.CLOSED)
            if self._writer is not None:
                await self._wait_for_writer()
            elif not self._aborted:
                await self._write_loop()
        except Exception as exc:  # the isolation boundary: see the class's "Error handling"
            self.crashed(exc)
        finally:
            await self._teardown()

    def _time_is_up(self, pinged: bool) -> bool:
        """The reader's deadline passed: ``True`` when that ends the connection (the password's,
        or the idle timer's once the client was *pinged*); else the client is pinged."""
        if trio.current_time() >= self._auth_deadline:
            self.close(CloseReason.AUTH_TIMEOUT)
            return True
        if pinged:
            self.close(CloseReason.IDLE_TIMEOUT)
            return True
        if self.session is not None:
            self.session.ping(self.config.idle_timeout / 2)
        return False

    def _open(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        config = self.config
        member = self.member = self.hub.connect(
            max_events=config.outbox_events,
            max_bytes=config.outbox_bytes,
            # Interned: the clients of one address (behind one NAT, say) share one string.
            address=sys.intern(peer_address(self.peer)),
        )
        member.add_removal_callback(self._removed)
        if self._flusher is not None:
            assert self._socket is not None
            # From now on only the descriptor is kept (see Output.stream): the socket objects
            # are made again, and then closed, when a writer or the goodbye needs a stream.
            self._fd = self._descriptor = self._socket.detach()
            self._socket = None
            member.set_doorbell(self._flusher.doorbell, self)
        else:
            # No eager writes here (TLS, or a stream handed to handle_stream): a writer that
            # stays, parked on the outbox, costs a wake-up per batch instead of a task per line.
            self._writer = trio.CancelScope()
            nursery.start_soon(self._writer_task, self._writer)
        bind_member = getattr(self.codec, "bind_member", None)
        if bind_member is not None:  # a codec whose lines depend on the member's rooms
            bind_member(member)
        session = self.session = Session(self.hub, member, self.guard, self.policy)
        if not getattr(self.codec, "auto_join", True):
            # A codec that greets and joins in its own way (IRC) starts its client in no room.
            session.policy = attrs.evolve(session.policy, auto_join=None, greet=False)
        session.start()
        if not session.authenticated:
            # Whoever has not given the password by then is disconnected.
            self._auth_deadline = trio.current_time() + config.auth_timeout
        log.info(
            "connect %s as %s",
            self.peer,
            member.nick,
            extra={"conn": self.id, "address": member.address, "nick": member.nick},
        )

    async def _teardown(self) -> None:
        member = self.member
        try:
            if self.reason is None:
                # Cancelled from outside (the server stopped without a graceful shutdown).
                self.reason = CloseReason.SHUTTING_DOWN
            reason = self.reason
            if member is None:  # setting up failed: there is nobody to say goodbye to
                await trio.aclose_forcefully(self.stream)
                return
            self.hub.disconnect(member, self.said_reason)
            member.close_outbox()
            self._fd = -1
            if self._readiness is not None and self._descriptor >= 0:
                self._readiness.forget(self._descriptor)
            with trio.CancelScope(shield=True):
                if self._writer is not None:
                    self._writer.cancel()
                    with trio.move_on_after(_LAST_WORD_TIMEOUT):
                        await self._wait_for_writer()
                if not self._said_goodbye and not reason.peer_gone:
                    # The writer was stopped before it could say goodbye; one short try. If it
                    # was stopped in the middle of a send, part of a line may be on the wire:
                    # end that line first so that the goodbye is a line of its own.
                    goodbye = self.codec.goodbye(reason, self.reason_detail)
                    if self._sending:
                        goodbye = b"\n" + goodbye
                    with trio.move_on_after(_LAST_WORD_TIMEOUT):
                        await self._send_quietly(goodbye)
                if not reason.peer_gone and reason is not CloseReason.SLOW_CONSUMER:
                    # A polite close: over TLS it sends close_notify, without which the client
                    # cannot tell our goodbye from a connection cut by someone in between.
                    with trio.move_on_after(_LAST_WORD_TIMEOUT):
                        with contextlib.suppress(
                            trio.BrokenResourceError, trio.ClosedResourceError
                        ):
                            await self.stream.aclose()
                await trio.aclose_forcefully(self.stream)
            log.info(
                "disconnect %s (%s): %s",
                self.peer,
                member.nick,
                self.said_reason,
                extra={
                    "conn": self.id,
                    "address": member.address,
                    "nick": member.nick,
                    "reason": self.said_reason,
                },
            )
        finally:
            if self._on_closed is not None:
                self._on_closed(self)

    # ------------------------------------------------------------------------------- reader

    def _ended(self) -> bool:
        # A call, not the attribute: close() sets it behind the reader's back (for mypy too).
        return self.reason is not None

    def _stop_reader(self) -> None:
        super()._stop_reader()
        if self._readiness is not None and self._descriptor >= 0:
            self._readiness.wake(self._descriptor)  # parked outside the scope (see run)

    async def _handle_lines(self, frames: list[object]) -> bool:
        """Act on the frames of one read; ``False`` when one of them ends the connection.

        (A coroutine of its own, alive only while it works: the frame an idle connection keeps,
        that of :meth:`run`, is smaller for it.)

        Also the sample of the latency histogram (:attr:`Flusher.latency`): if no sample is
        pending, this read's arrival is the next one, unless its lines rang no doorbell (then
        the flusher's next pass writes nothing of theirs, and the sample is withdrawn).
        """
        self.lines_in += len(frames)
        flusher = self._flusher
        if flusher is None or flusher.arrived is not None:
            return await self._handle_frames(frames)
        arrived = flusher.arrived = trio.current_time()
        try:
            return await self._handle_frames(frames)
        finally:
            if flusher.arrived == arrived and not flusher.due:
                flusher.arrived = None

    async def _handle_frames(self, frames: list[object]) -> bool:
        member = self.member
        assert member is not None
        config = self.config
        for frame in frames:
            if (
                member.queued_events >= config.outbox_soft_events
                or member.queued_bytes >= config.outbox_soft_bytes
            ):
                await self._wait_for_outbox_off_the_clock()
            flood = self._flood
            if flood is None:
                flood = self._flood = FloodControl(
                    rate=config.message_rate,
                    burst=config.message_burst,
                    limit=config.flood_limit,
                    window=config.flood_window,
                )
            verdict = flood.check(trio.current_time())
            if verdict is not Verdict.ACCEPT:
                if not self._refuse(verdict):
                    return False
                continue
            if not await self._handle_frame(frame):
                return False
        return True

    async def _wait_for_outbox_off_the_clock(self) -> None:
        """:meth:`_wait_for_outbox`, with the idle clock stopped while it waits.

        The read scope's deadline is the idle timer (and the password deadline). While the
        reader parks on this client's own outbox, it is the server that is not reading, not the
        client that is idle: if the timer fired there, the rest of the lines of this read would
        be dropped without a word. So the idle deadline moves on by the time spent parked; the
        password deadline stays, and :meth:`close` still cancels the scope. A client whose
        socket never drains is cut off by the write timeout instead.
        """
        scope = self._read_scope
        idle_deadline = scope.deadline
        parked_at = trio.current_time()
        scope.deadline = self._auth_deadline
        try:
            await self._wait_for_outbox()
        finally:
            parked = trio.current_time() - parked_at
            scope.deadline = min(idle_deadline + parked, self._auth_deadline)

    def _refuse(self, verdict: Verdict) -> bool:
        """Discard a frame over the rate limit; ``False`` when the client is disconnected."""
        config = self.config
        if verdict is Verdict.DISCONNECT:
            self.close(
                CloseReason.EXCESS_FLOOD,
                f"more than {config.flood_limit} lines refused within "
                f"{seconds(config.flood_window)}",
            )
            return False
        if verdict is Verdict.WARN and self.session is not None:
            self.session.slow_down(config.message_rate, config.message_burst)
        return True

    async def _handle_frame(self, frame: object) -> bool:
        """Act on one frame; return ``False`` when the connection should end."""
        session = self.session
        assert session is not None
        command = self.codec.decode(frame)
        if command is None:
            return True
        if isinstance(command, Reply):  # the protocol answers by itself (a WebSocket pong)
            session.member.deliver(command)
            return True
        if isinstance(command, InputError):
            session.input_error(command)
            return True
        if not session.member.connected:
            return False
        authenticated = session.authenticated
        ending = await session.execute(command)
        if ending is not None:
            self.close(*ending)
            return False
        if session.authenticated and not authenticated:
            self._auth_deadline = math.inf
            self._read_scope.deadline = trio.current_time() + self.config.idle_timeout / 2
        return session.member.connected
