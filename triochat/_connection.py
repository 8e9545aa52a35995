"""One client connection: a reader and a writer around a hub member.

The connection's own task runs the reader; a child task runs the writer. They share no buffer: the
reader turns bytes into commands and publishes through the hub, the writer drains the member's
outbox into the socket. Every way a connection can end goes through :meth:`Connection.close`, which
records the first reason and removes the member from the hub, so that nothing is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING, Final

import trio

from ._commands import parse_command
from ._events import Event, Notice
from ._limits import FloodControl, Verdict
from ._member import SLOW_CONSUMER
from ._render import RENDERERS
from ._session import Session, _seconds
from ._wire import DecodeError, LineSplitter, LineTooLong, decode_line, sanitize

if TYPE_CHECKING:
    from ._auth import Guard
    from ._config import ServerConfig
    from ._hub import Hub
    from ._member import Member

__all__ = ["Connection"]

log = logging.getLogger("triochat.server")

#: Reason used when the server stops.
SHUTTING_DOWN: Final = "server shutting down"
_LOST: Final = "connection lost"
_WRITE_TIMEOUT: Final = "write timeout"
#: Start of the reason given to a client disconnected for sending too many lines too fast.
EXCESS_FLOOD: Final = "excess flood"
# Seconds to spend on a goodbye line after a hard stop or a slow-consumer disconnect.
_LAST_WORD_TIMEOUT: Final = 0.5


class Connection:
    """Serve one client over *stream* until it quits, times out, fails, or the server stops.

    Resource handling: :meth:`run` always closes *stream* and removes the member from the hub
    before it returns, whatever ended the connection.

    Error handling: I/O errors of this client (resets, broken pipes) end this connection only and
    are logged as a disconnect reason, never raised. Bad input gets an error line.
    """

    __slots__ = (
        "_flood",
        "_nursery_scope",
        "_outbox_drained",
        "_read_scope",
        "_said_goodbye",
        "_sending",
        "_splitter",
        "config",
        "format",
        "guard",
        "hub",
        "member",
        "paused",
        "peer",
        "reason",
        "session",
        "stream",
    )

    def __init__(
        self,
        hub: Hub,
        config: ServerConfig,
        stream: trio.abc.Stream,
        peer: str,
        guard: Guard | None = None,
    ) -> None:
        self.hub = hub
        self.guard = guard
        self.config = config
        self.stream = stream
        self.peer = peer
        self.reason: str | None = None
        self.member: Member | None = None
        self.session: Session | None = None
        #: The wire format the writer renders with: "text" until the client asks for "json".
        self.format = "text"
        self._read_scope = trio.CancelScope()
        self._nursery_scope: trio.CancelScope | None = None
        self._said_goodbye = False
        self._sending = False  # True while a send_all is in progress
        self._splitter = LineSplitter(config.max_line)
        self._flood = FloodControl(
            rate=config.message_rate,
            burst=config.message_burst,
            limit=config.flood_limit,
            window=config.flood_window,
        )
        # The reader parks here while this client's own outbox is over its soft limit; the
        # writer wakes it each time it has taken a batch out of the outbox.
        self._outbox_drained = trio.lowlevel.ParkingLot()
        #: How many times the reader stopped reading because of the outbox's soft limit.
        self.paused = 0

    @property
    def pending_input(self) -> int:
        """Bytes of an unfinished line held for this client (at most ``max_line`` + 1)."""
        return self._splitter.pending

    @property
    def reading_paused(self) -> bool:
        """Whether the reader is waiting for this client's outbox to drain below its soft limit."""
        return self._outbox_drained.statistics().tasks_waiting > 0

    @property
    def refused_lines(self) -> int:
        """Lines discarded because this client sent them faster than its rate limit."""
        return self._flood.refused

    def close(self, reason: str, *, abort: bool = False, announce: bool = True) -> None:
        """End the connection with *reason* (the first reason given wins).

        The member leaves the hub at once (its rooms hear why, unless *announce* is false) and its
        outbox closes: the writer sends what is still queued, then the goodbye, then exits. With
        *abort*, the writer is not waited for.
        """
        if self.reason is None:
            self.reason = reason
        self._read_scope.cancel()
        if self.member is not None:
            self.hub.disconnect(self.member, self.reason, announce=announce)
        if abort and self._nursery_scope is not None:
            self._nursery_scope.cancel()

    def _removed(self, reason: str) -> None:
        # Called by the hub when someone else removed our member (a room found it too slow).
        # Its outbox was discarded; the socket is stuck, so stop waiting on it.
        self.close(reason, abort=reason == SLOW_CONSUMER)

    async def run(self) -> None:
        config = self.config
        member = self.member = self.hub.connect(
            max_events=config.outbox_events,
            max_bytes=config.outbox_bytes,
            address=peer_address(self.peer),
        )
        member.add_removal_callback(self._removed)
        session = self.session = Session(self.hub, member, self.guard)
        session.start()
        if not session.authenticated:
            # Whoever has not given the password by then is disconnected.
            self._read_scope.deadline = trio.current_time() + config.auth_timeout
        log.info("connect %s as %s", self.peer, member.nick)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery_scope = nursery.cancel_scope
                nursery.start_soon(self._write_loop)
                with self._read_scope:
                    await self._read_loop()
                if self._read_scope.cancelled_caught and self.reason is None:
                    self.close("authentication timeout")
                # The reader is done: make sure the writer gets its end of outbox.
                self.close(self.reason or "closed")
        finally:
            if self.reason is None:
                # Cancelled from outside (the server stopped without a graceful shutdown).
                self.reason = SHUTTING_DOWN
            self.hub.disconnect(member, self.reason)
            member.close_outbox()
            with trio.CancelScope(shield=True):
                if not self._said_goodbye and self.reason not in (_LOST, _WRITE_TIMEOUT):
                    # The writer was stopped before it could say goodbye; one short try. If it
                    # was stopped in the middle of a send, part of a line may be on the wire:
                    # end that line first so that the goodbye is a line of its own.
                    goodbye = self._goodbye()
                    if self._sending:
                        goodbye = b"\n" + goodbye
                    with trio.move_on_after(_LAST_WORD_TIMEOUT):
                        await self._send_quietly(goodbye)
                if self.reason not in (_LOST, _WRITE_TIMEOUT, SLOW_CONSUMER):
                    # A polite close: over TLS it sends close_notify, without which the client
                    # cannot tell our goodbye from a connection cut by someone in between.
                    with trio.move_on_after(_LAST_WORD_TIMEOUT):
                        with contextlib.suppress(
                            trio.BrokenResourceError, trio.ClosedResourceError
                        ):
                            await self.stream.aclose()
                await trio.aclose_forcefully(self.stream)
            log.info("disconnect %s (%s): %s", self.peer, member.nick, self.reason)

    def _goodbye(self) -> bytes:
        reason = self.reason or "closed"
        if reason == SLOW_CONSUMER or reason.startswith(EXCESS_FLOOD):
            notice = Notice(text=f"error: {reason}; disconnecting", error=True, kind="goodbye")
        else:
            notice = Notice(text=f"goodbye ({reason})", kind="goodbye")
        notice.data["reason"] = reason
        return RENDERERS[self.format](notice)

    async def _send_quietly(self, data: bytes) -> bool:
        self._sending = True
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._sending = False
        return True

    # ------------------------------------------------------------------------------- writer

    async def _write_loop(self) -> None:
        member = self.member
        assert member is not None
        timeout = self.config.write_timeout
        while True:
            try:
                batch = await member.receive_batch()
            except trio.EndOfChannel:
                break
            self._outbox_drained.unpark_all()
            session = self.session
            if session is not None and session.format_switches:
                data = self._encode_switching(batch, session)
            elif len(batch) == 1:
                data = batch[0].encode(self.format, RENDERERS[self.format])
            else:
                wire_format, render = self.format, RENDERERS[self.format]
                data = b"".join([event.encode(wire_format, render) for event in batch])
            with trio.move_on_after(timeout) as scope:
                if not await self._send_quietly(data):
                    self.close(_LOST, abort=True)
                    return
            if scope.cancelled_caught:
                self.close(_WRITE_TIMEOUT, abort=True)
                return
        # The member was removed and everything queued has been sent: say why, and stop.
        with trio.move_on_after(min(timeout, self.config.shutdown_grace)):
            self._said_goodbye = await self._send_quietly(self._goodbye())
        self._read_scope.cancel()

    def _encode_switching(self, batch: list[Event], session: Session) -> bytes:
        # The format changes exactly at the notice that confirms it: what was queued before it
        # keeps the old format, the notice and everything after it use the new one.
        parts = []
        for event in batch:
            if isinstance(event, Notice) and event.kind == "format":
                self.format = event.data["format"]
                session.format_switches -= 1
            parts.append(event.encode(self.format, RENDERERS[self.format]))
        return b"".join(parts)

    # ------------------------------------------------------------------------------- reader

    async def _read_loop(self) -> None:
        stream = self.stream
        config = self.config
        splitter = self._splitter
        half_idle = config.idle_timeout / 2
        # The idle clock runs from the last complete line, not the last byte: a client that
        # trickles a line one byte at a time (slowloris), or sends one endless line, is as idle
        # as one that sends nothing.
        last_line = trio.current_time()
        pinged = False
        while True:
            with trio.move_on_at(last_line + half_idle * (2 if pinged else 1)) as idle:
                try:
                    data = await stream.receive_some(config.read_size)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.close(_LOST)
                    return
            if idle.cancelled_caught:
                if pinged:
                    self.close("idle timeout")
                    return
                pinged = True
                if self.session is not None:
                    self.session.ping(half_idle)
                continue
            if not data:
                self.close("client closed the connection")
                return
            items = splitter.feed(data)
            if items:
                last_line = trio.current_time()
                pinged = False
            for item in items:
                await self._wait_for_outbox()
                verdict = self._flood.check(trio.current_time())
                if verdict is not Verdict.ACCEPT:
                    if not self._refuse(verdict):
                        return
                    continue
                if not await self._handle_line(item):
                    return

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
            await self._outbox_drained.park()

    def _refuse(self, verdict: Verdict) -> bool:
        """Discard a line over the rate limit; ``False`` when the client is disconnected."""
        config = self.config
        if verdict is Verdict.DISCONNECT:
            self.close(
                f"{EXCESS_FLOOD}: more than {config.flood_limit} lines refused within "
                f"{_seconds(config.flood_window)}"
            )
            return False
        if verdict is Verdict.WARN and self.session is not None:
            self.session.notify(
                f"slow down: at most {config.message_rate:g} lines a second, "
                f"{config.message_burst} at once; lines sent faster are discarded",
                error=True,
            )
        return True

    async def _handle_line(self, item: bytes | LineTooLong) -> bool:
        """Act on one line; return ``False`` when the connection should end."""
        session = self.session
        assert session is not None
        if isinstance(item, LineTooLong):
            session.notify(
                f"line too long (the limit is {item.limit} bytes); discarded", error=True
            )
            return True
        try:
            text = sanitize(decode_line(item))
        except DecodeError as exc:
            session.notify(f"{exc}; discarded", error=True)
            return True
        command = parse_command(text, json_commands=session.format == "json")
        if command is None:
            return True
        if not session.member.connected:
            return False
        authenticated = session.authenticated
        reason = await session.execute(command)
        if reason is not None:
            self.close(reason)
            return False
        if session.authenticated and not authenticated:
            self._read_scope.deadline = math.inf
        return session.member.connected


def peer_address(peer: str) -> str:
    """The address part of a peer name: ``127.0.0.1:5000`` → ``127.0.0.1``, ``[::1]:5000`` →
    ``::1``; anything else (``unix:...``, test names) is returned as it is."""
    if peer.startswith("["):
        return peer[1 : peer.find("]")] if "]" in peer else peer
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdecimal() and ":" not in host else peer
