"""The server: listeners on every endpoint, an accept loop per listener, one task per connection."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import ssl
from typing import Any, Final

import attrs
import trio

from ._auth import FailureThrottle, Guard, NickStore
from ._config import ServerConfig
from ._connection import SHUTTING_DOWN, Connection
from ._endpoints import Endpoint
from ._flusher import Flusher
from ._hub import Hub
from ._listeners import Listening, open_listeners
from ._tls import TLSConfigError, server_handshake, server_ssl_context

__all__ = ["ChatServer", "ServerStatistics", "serve_tcp"]

log = logging.getLogger("triochat.server")

# accept() errors that mean "out of some resource for now": wait and try again, the way
# trio.serve_listeners does, but with one warning line instead of a traceback every 100 ms.
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_DELAY: Final = 0.1
_RESOURCE_WARNING_INTERVAL: Final = 10.0


def format_address(address: Any) -> str:
    """``127.0.0.1:9999`` or ``[::1]:9999`` for a socket address; anything else as text.

    An IPv4 client of a dual-stack IPv6 socket appears as ``::ffff:a.b.c.d``; it is shown as the
    IPv4 address it is, so that one client has one name whichever socket it came through.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        if host.startswith("::ffff:"):
            with contextlib.suppress(ValueError):
                mapped = ipaddress.IPv6Address(host).ipv4_mapped
                if mapped is not None:
                    host = str(mapped)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def _guard(config: ServerConfig) -> Guard:
    return Guard(
        password=config.password,
        admin_token=config.admin_token,
        nick_store=NickStore(config.data_dir) if config.data_dir is not None else None,
        throttle=FailureThrottle(clock=trio.current_time),
    )


def _default_hub(config: ServerConfig) -> Hub:
    return config.make_hub()


@attrs.frozen(kw_only=True)
class ServerStatistics:
    """A snapshot of a server.

    Attributes:
      connections: clients connected now.
      accepted: connections accepted since the server started, including refused ones.
      refused_full: connections turned away because the server had ``max_clients`` already.
      members: members of the server's hub (network clients plus any your code connected).
      rooms: rooms in the server's hub.
    """

    connections: int
    accepted: int
    refused_full: int
    members: int
    rooms: int
    #: TLS handshakes in progress (these clients count towards ``max_clients``).
    handshaking: int = 0
    #: TLS handshakes that failed or timed out.
    handshake_failures: int = 0


@attrs.define(eq=False, kw_only=True)
class ChatServer:
    """A triochat server: a :class:`Hub` served on every endpoint of its configuration (TCP
    over IPv4 and IPv6, TLS, Unix sockets).

    Start it in your nursery; :meth:`serve` reports the server once it is listening::

        server = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
        print(server.addresses)

    Resource handling: the listeners and every client socket are closed, and Unix socket files
    removed, when :meth:`serve` ends, whether by :meth:`shutdown` (graceful: clients get what was
    queued and a goodbye) or by cancellation (immediate).
    """

    config: ServerConfig = attrs.field(factory=ServerConfig)
    #: The rooms served; by default a new hub with the outbox bounds of *config*.
    hub: Hub = attrs.field(
        default=attrs.Factory(lambda self: _default_hub(self.config), takes_self=True)
    )
    #: The addresses the server listens on, set once serving, in the order of the endpoints;
    #: (host, port, ...) tuples for TCP and TLS listeners, the path (a ``str``) for Unix sockets.
    addresses: list[Any] = attrs.field(factory=list, init=False)
    #: The same as :class:`Endpoint` objects with the real ports, ready for :func:`connect`.
    endpoints: list[Endpoint] = attrs.field(factory=list, init=False)
    #: The password, admin token, registered nicks and failure throttle of this server.
    guard: Guard = attrs.field(
        init=False, default=attrs.Factory(lambda self: _guard(self.config), takes_self=True)
    )
    _connections: set[Connection] = attrs.field(factory=set, init=False)
    _accepted: int = attrs.field(default=0, init=False)
    _refused_full: int = attrs.field(default=0, init=False)
    _handshaking: int = attrs.field(default=0, init=False)
    _handshake_failures: int = attrs.field(default=0, init=False)
    _ssl_context: ssl.SSLContext | None = attrs.field(default=None, init=False)
    _scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    _accepting: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    _idle: trio.Event = attrs.field(factory=trio.Event, init=False)
    _flusher: Flusher = attrs.field(factory=Flusher, init=False)
    # The nursery connections run in (and start their writers in) while serving.
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)

    async def serve(
        self, *, task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, then serve clients until :meth:`shutdown` or cancellation.

        Reports ``self`` through *task_status* once every listener is open (:attr:`addresses`
        and :attr:`endpoints` are then set).

        Error handling: before anything is reported, and before anything listens,
        :exc:`~triochat.TLSConfigError` if a ``tls://`` endpoint's certificate or key cannot be
        used; then :exc:`~triochat.ListenFailed` (an :exc:`OSError`, such as one with
        ``errno.EADDRINUSE``) if any endpoint cannot be opened, after closing those that were.
        """
        config = self.config
        if config.tls_cert is not None or any(e.is_tls for e in config.endpoints):
            self.tls_context()
        async with open_listeners(config.endpoints) as listening:
            self.addresses = [item.address for item in listening]
            self.endpoints = [item.endpoint for item in listening]
            with trio.CancelScope() as self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._flusher.run)
                    nursery.start_soon(self._accept_all, listening, nursery)
                    log.info("listening on %s", ", ".join(e.address for e in self.endpoints))
                    task_status.started(self)

    def tls_context(self) -> ssl.SSLContext:
        """The server-side SSL context: :attr:`ServerConfig.ssl_context`, or one made (once) from
        ``tls_cert`` and ``tls_key``.

        Error handling: :exc:`~triochat.TLSConfigError` if there is none or the files are unusable.
        """
        if self._ssl_context is None:
            config = self.config
            if config.ssl_context is not None:
                self._ssl_context = config.ssl_context
            elif config.tls_cert is not None and config.tls_key is not None:
                self._ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
            else:
                raise TLSConfigError("TLS needs a certificate and key (tls_cert and tls_key)")
        return self._ssl_context

    async def shutdown(self) -> None:
        """Stop gracefully: stop accepting, tell every client the server is going away, give
        them :attr:`ServerConfig.shutdown_grace` seconds to receive what was already queued and
        the goodbye, then cut whatever is left. Returns when :meth:`serve` has finished.
        """
        self._accepting.cancel()
        for connection in list(self._connections):
            connection.close(SHUTTING_DOWN, announce=False)
        with trio.move_on_after(self.config.shutdown_grace):
            if self._connections:
                await self._idle.wait()
        if self._scope is not None:
            self._scope.cancel()

    async def _accept_all(self, listening: list[Listening], nursery: trio.Nursery) -> None:
        # One cancel scope stops every accept loop; connections run in the outer *nursery*.
        with self._accepting:
            async with trio.open_nursery() as accepting:
                for item in listening:
                    accepting.start_soon(self._accept_loop, item, nursery)

    async def _accept_loop(self, listening: Listening, nursery: trio.Nursery) -> None:
        last_warning = -_RESOURCE_WARNING_INTERVAL
        listener = listening.listener
        try:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _RESOURCE_ERRNOS:
                        raise
                    now = trio.current_time()
                    if now - last_warning >= _RESOURCE_WARNING_INTERVAL:
                        last_warning = now
                        log.warning(
                            "cannot accept connections: %s; retrying every %g s",
                            exc.strerror,
                            _ACCEPT_RETRY_DELAY,
                        )
                    await trio.sleep(_ACCEPT_RETRY_DELAY)
                    continue
                if listening.endpoint.is_tls:
                    nursery.start_soon(self._handle_socket, stream, listening)
                    continue
                # A plain socket: start the connection's own task at once, with no wrapper
                # coroutine around it (every frame an idle connection keeps costs memory, ten
                # thousand times over).
                peer = self._peer(stream, listening)
                if peer is None:
                    stream.socket.close()
                    continue
                connection = self._admit(stream, peer)
                if connection is None:
                    nursery.start_soon(self._refuse, stream, False)
                else:
                    nursery.start_soon(connection.run, nursery)
        finally:
            # Stop listening now, not when the last client is gone: the port is free again
            # and the Unix socket file disappears as soon as we stop accepting.
            listening.close()

    def _peer(self, stream: trio.SocketStream, listening: Listening) -> str | None:
        if listening.endpoint.is_unix:
            return listening.unix_peer
        try:
            return format_address(stream.socket.getpeername())
        except OSError:  # reset before we got here
            return None

    async def _handle_socket(self, stream: trio.SocketStream, listening: Listening) -> None:
        peer = self._peer(stream, listening)
        if peer is None:
            await trio.aclose_forcefully(stream)
            return
        await self.handle_stream(stream, peer, tls=listening.endpoint.is_tls)

    async def handle_stream(self, stream: trio.abc.Stream, peer: str, *, tls: bool = False) -> None:
        """Serve one client over any trio stream (a socket, or a ``trio.testing`` fake).

        With *tls*, the server side of a TLS handshake is done first, with :meth:`tls_context`,
        within :attr:`ServerConfig.tls_handshake_timeout`; a client whose handshake fails or
        stalls is disconnected with one log line, before it becomes a member.

        Returns when the client is gone; *stream* is closed by then.
        """
        if self._full(peer):
            await self._refuse(stream, tls)
            return
        if tls:
            self._handshaking += 1
            try:
                secured = await server_handshake(
                    stream,
                    self.tls_context(),
                    peer=peer,
                    timeout=self.config.tls_handshake_timeout,
                )
            finally:
                self._handshaking -= 1
            if secured is None:
                self._handshake_failures += 1
                return
            stream = secured
            if self._accepting.cancel_called:  # shutting down: do not start a session now
                await trio.aclose_forcefully(stream)
                return
        connection = self._connection(stream, peer)
        if self._nursery is not None:
            await connection.run(self._nursery)
        else:  # not serving (a stream handed to us directly): writers need a nursery
            async with trio.open_nursery() as nursery:
                await connection.run(nursery)

    def _full(self, peer: str) -> bool:
        """Count a new client; whether the server is full (which it logs)."""
        self._accepted += 1
        busy = len(self._connections) + self._handshaking
        if busy >= self.config.max_clients:
            self._refused_full += 1
            log.warning("refused %s: server full (%d clients)", peer, busy)
            return True
        return False

    def _admit(self, stream: trio.SocketStream, peer: str) -> Connection | None:
        """A connection for a plain socket, or ``None`` if the server is full."""
        return None if self._full(peer) else self._connection(stream, peer)

    def _connection(self, stream: trio.abc.Stream, peer: str) -> Connection:
        """A new connection, counted until it ends."""
        connection = Connection(
            self.hub,
            self.config,
            stream,
            peer,
            self.guard,
            flusher=self._flusher,
            on_closed=self._forget,
        )
        self._connections.add(connection)
        self._idle = self._idle if not self._idle.is_set() else trio.Event()
        return connection

    def _forget(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if not self._connections:
            self._idle.set()

    async def _refuse(self, stream: trio.abc.Stream, tls: bool) -> None:
        if not tls:  # a TLS client could not read a plain-text line
            with trio.move_on_after(1):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(b"*** error: server full, try again later\n")
        await trio.aclose_forcefully(stream)

    def statistics(self) -> ServerStatistics:
        """Counts of connections, accepted and refused clients, members and rooms."""
        hub = self.hub.statistics()
        return ServerStatistics(
            connections=len(self._connections),
            accepted=self._accepted,
            refused_full=self._refused_full,
            members=hub.members,
            rooms=hub.rooms,
            handshaking=self._handshaking,
            handshake_failures=self._handshake_failures,
        )


async def serve_tcp(
    config: ServerConfig | None = None,
    *,
    hub: Hub | None = None,
    task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *hub* (a new one by default) over TCP as *config* says, until cancelled.

    Use it with ``nursery.start``, which returns the :class:`ChatServer` once it listens::

        server = await nursery.start(serve_tcp, ServerConfig(port=0))
        host, port = server.addresses[0][:2]
    """
    config = config or ServerConfig()
    server = ChatServer(config=config) if hub is None else ChatServer(config=config, hub=hub)
    await server.serve(task_status=task_status)
