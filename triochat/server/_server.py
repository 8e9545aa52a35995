"""The server: listeners on every endpoint, an accept loop per listener, one task per connection.

The accept loop is in :mod:`._accept`, the client limits in :mod:`._admission`, a client's way
from its socket to its connection (TLS handshake, web request) in :mod:`._intake`; here are the
server's life (serve, reload, shutdown) and the table of connections.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..core._hub import Hub
from ..core._log import MemoryLog
from ..drivers._connection import Connection
from ..drivers._endpoints import Endpoint
from ..drivers._flusher import Flusher
from ..drivers._listeners import Listening, open_listeners
from ..drivers._readiness import Readiness
from ..drivers._tls import TLSConfigError, server_ssl_context
from ..engines._sqlite import RoomStore
from ..protocols._codec import Codec
from ..protocols.irc import IrcCodec, IrcSettings
from ..protocols.text import LineCodec
from ..session._auth import Guard
from ..session._nick_store import NickStore
from ..session._policy import SessionLimits, SessionPolicy
from ..session._reasons import CloseReason
from ._accept import accept_forever, peer_of
from ._admission import Admission
from ._config import ServerConfig
from ._counters import CountingThrottle, ServerCounters
from ._intake import handle, load_page, on_accept
from ._irc import irc_settings

if TYPE_CHECKING:
    from ..protocols.web import Page

__all__ = ["ChatServer", "ServerStatistics", "serve_tcp"]

log = logging.getLogger("triochat.server")


def _guard(config: ServerConfig) -> Guard:
    # Touches no file: the store is opened by serve(), in a worker thread.
    return Guard(
        password=config.password,
        admin_token=config.admin_token,
        nick_store=NickStore(config.data_dir) if config.data_dir is not None else None,
        throttle=CountingThrottle(clock=trio.current_time),
    )


def _limits(config: ServerConfig) -> SessionLimits:
    """What the welcome tells every client of the limits it is held to."""
    return SessionLimits(
        rate=config.message_rate, burst=config.message_burst, max_line=config.max_line
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
    #: Connections refused because their IP address already had ``max_clients_per_ip``.
    refused_per_ip: int
    members: int
    rooms: int
    #: Bytes of unfinished lines held for all clients together.
    pending_input: int
    #: Lines discarded, over all clients, because they came faster than the rate limit.
    refused_lines: int
    #: Clients whose input is not being read because their own outbox is over its soft limit.
    reading_paused: int
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
    #: What every client's session does of its own accord (start in the default room, and
    #: give the password first if the server has one).
    policy: SessionPolicy = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: SessionPolicy.for_guard(self.guard, limits=_limits(self.config)),
            takes_self=True,
        ),
    )
    # The durable rooms' store while serving with data_dir (None otherwise).
    _room_store: RoomStore | None = attrs.field(default=None, init=False)
    #: What ended connections, and what closed connections did (for metrics).
    counters: ServerCounters = attrs.field(factory=ServerCounters, init=False)
    # Every connection served, with the IP address it is counted under in _admission (if it
    # was admitted by the accept loop directly; handle_stream releases its own).
    _connections: dict[Connection, str | None] = attrs.field(factory=dict, init=False)
    _flusher: Flusher = attrs.field(factory=Flusher, init=False)
    # Where idle plain-socket connections wait for input (one epoll set, one task).
    _readiness: Readiness = attrs.field(factory=Readiness, init=False)
    # _forget bound once, shared by every connection (one bound method each would add up).
    _forget_connection: Callable[[Connection], None] = attrs.field(
        init=False, default=attrs.Factory(lambda self: self._forget, takes_self=True)
    )
    # Clients accepted and refused, and counted per address (the limits of the config).
    _admission: Admission = attrs.field(factory=Admission, init=False)
    _refused_lines: int = attrs.field(default=0, init=False)
    _ssl_context: ssl.SSLContext | None = attrs.field(default=None, init=False)
    # What every IRC client is told (made when the first one connects).
    _irc_settings: IrcSettings | None = attrs.field(default=None, init=False)
    # Made up front, not when serve() starts, so that a shutdown() at any moment stops serve().
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    _page: Page | None = attrs.field(default=None, init=False)  # served by web endpoints
    _accepting: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    # The grace period of the shutdown in progress (None: none yet); set when serve() ends.
    _grace: trio.CancelScope | None = attrs.field(default=None, init=False)
    _finished: trio.Event | None = attrs.field(default=None, init=False)
    _idle: trio.Event = attrs.field(factory=trio.Event, init=False)

    async def serve(
        self, *, task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, then serve clients until :meth:`shutdown` or cancellation.

        Reports ``self`` through *task_status* once every listener is open (:attr:`addresses`
        and :attr:`endpoints` are then set).

        Error handling: before anything is reported, and before anything listens,
        :exc:`~triochat.TLSConfigError` if a ``tls://`` endpoint's certificate or key cannot be
        used; ``sqlite3.Error`` or an :exc:`OSError` if the registered-nick store or the rooms
        in ``data_dir`` cannot be created or opened (a corrupt or locked file, another server
        using the directory); then :exc:`~triochat.ListenFailed` (an
        :exc:`OSError`, such as one with ``errno.EADDRINUSE``) if any endpoint cannot be
        opened, after closing those that were.
        """
        config = self.config
        store = self.guard.nick_store
        try:
            async with self._running():
                # Blocking file work (PEM files, the stores) in worker threads, never in the
                # event loop; before listening, so that a server that cannot use them never
                # starts.
                if config.tls_cert is not None or any(e.is_tls for e in config.endpoints):
                    await trio.to_thread.run_sync(self.tls_context, abandon_on_cancel=True)
                if store is not None:
                    await store.open()
                if any(e.is_web for e in config.endpoints):
                    self._page = await trio.to_thread.run_sync(load_page)
                async with self._durable_rooms():
                    await self._listen_and_serve(task_status)
        finally:
            # Connections handed to handle_stream by someone else's task run outside our
            # nursery: the server they belong to is gone, so they end too.
            for connection in list(self._connections):
                connection.close(CloseReason.SHUTTING_DOWN, abort=True)
            if store is not None:
                store.close()  # now, or when a thread still waiting on it is done

    async def _listen_and_serve(self, task_status: trio.TaskStatus[ChatServer]) -> None:
        async with open_listeners(
            self.config.endpoints, reuse_port=self.config.reuse_port
        ) as listening:
            self.addresses = [item.address for item in listening]
            self.endpoints = [item.endpoint for item in listening]
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._flusher.run)
                    nursery.start_soon(self._readiness.run)
                    nursery.start_soon(self._accept_all, listening, nursery)
                    log.info("listening on %s", ", ".join(e.address for e in self.endpoints))
                    task_status.started(self)

    @contextlib.asynccontextmanager
    async def _durable_rooms(self) -> AsyncIterator[None]:
        """With ``data_dir``, rooms opened while serving are kept in ``DATA_DIR/rooms.sqlite3``:
        the store is opened first (in a thread) and closed last, after the last event of the
        last connection, once what is queued is written. A hub given its own ``room_log`` keeps
        it."""
        hub = self.hub
        if self.config.data_dir is None or hub.room_log is not MemoryLog:
            yield
            return
        rooms = self._room_store = RoomStore(
            self.config.data_dir,
            keep_events=self.config.keep_history or None,
            keep_days=self.config.keep_days,
        )
        await rooms.open(history_events=hub.history_events)
        hub.room_log = rooms.room_log
        try:
            yield
        finally:
            for connection in list(self._connections):
                connection.close(CloseReason.SHUTTING_DOWN, abort=True)
            hub.room_log = MemoryLog
            await rooms.aclose()

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

    async def reconfigure(self, config: ServerConfig) -> None:
        """Serve with *config* from now on, without dropping anyone (``triochat serve`` on SIGHUP).

        New connections get all of it. Connections being served take its rate and flood limits,
        write timeout and soft outbox bounds at once (``Connection.reconfigure``); the hub its
        room limits; and the TLS certificate and key are read again (in a worker thread), for
        the next handshakes. The endpoints, the outbox bounds of existing members, the secrets
        and ``data_dir`` stay as they were: those need a restart.

        Error handling: :exc:`~triochat.TLSConfigError` if the certificate or key cannot be
        used; nothing has changed then.
        """
        context = self._ssl_context
        if config.ssl_context is not None:
            context = config.ssl_context
        elif config.tls_cert is not None and config.tls_key is not None:
            context = await trio.to_thread.run_sync(
                server_ssl_context, config.tls_cert, config.tls_key, abandon_on_cancel=True
            )
        self._ssl_context = context
        self.config = config
        # New connections are welcomed with the new limits (the policy is shared by all).
        self.policy = attrs.evolve(self.policy, limits=_limits(config))
        hub = self.hub
        hub.max_rooms = config.max_rooms
        hub.rooms_per_member = config.rooms_per_client
        hub.history_total_bytes = config.history_total_bytes
        hub.announce_limit = config.announce_limit
        for connection in self._connections:
            connection.reconfigure(config)

    @property
    def accepting(self) -> bool:
        """Whether the server is listening and accepting clients (not stopping)."""
        finished = self._finished
        return (
            bool(self.endpoints)
            and finished is not None
            and not finished.is_set()
            and not self._accepting.cancel_called
        )

    @property
    def connections(self) -> list[Connection]:
        """The connections served now, oldest first (a copy)."""
        return list(self._connections)

    @property
    def flusher(self) -> Flusher:
        """The server's flusher (its latency histogram is in the metrics)."""
        return self._flusher

    async def shutdown(self, *, grace: float | None = None) -> None:
        """Stop gracefully: stop accepting, tell every client the server is going away, give
        them *grace* seconds (by default :attr:`ServerConfig.shutdown_grace`) to receive what was
        already queued and the goodbye, then cut whatever is left.

        Returns when :meth:`serve` has finished: every connection is closed and every listener
        too. If the server is not serving, returns at once (and a later :meth:`serve` ends as
        soon as it has started).

        Calling it again while a shutdown is in progress shortens the grace period (it never
        lengthens it): ``await server.shutdown(grace=0)`` stops at once, which is what
        ``triochat serve`` does on a second Ctrl-C. Cancelling a call during its grace period
        also stops the server at once, rather than leaving it half stopped.
        """
        grace = self.config.shutdown_grace if grace is None else max(grace, 0.0)
        deadline = trio.current_time() + grace
        if self._grace is not None:  # a shutdown is in progress: bring its end forward
            self._grace.deadline = min(self._grace.deadline, deadline)
        else:
            self._grace = trio.CancelScope(deadline=deadline)
            self._accepting.cancel()
            for connection in list(self._connections):
                connection.close(CloseReason.SHUTTING_DOWN, announce=False)
            try:
                with self._grace:
                    if self._connections:
                        await self._idle.wait()
            finally:
                self._scope.cancel()
        if self._finished is not None:
            await self._finished.wait()

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Around all of :meth:`serve`: what :meth:`shutdown` waits for."""
        finished = self._finished = trio.Event()
        try:
            yield
        finally:
            finished.set()

    async def _accept_all(self, listening: list[Listening], nursery: trio.Nursery) -> None:
        # One cancel scope stops every accept loop; connections run in the outer *nursery*.
        with self._accepting:
            async with trio.open_nursery() as accepting:
                for item in listening:
                    accepting.start_soon(self._accept_loop, item, nursery)

    async def _accept_loop(self, listening: Listening, nursery: trio.Nursery) -> None:
        # A method of ours, so that the admin console's task tree (which names a task by its
        # function, and the listener by this frame's *listening*) shows where it belongs.
        await accept_forever(listening, functools.partial(on_accept, self, nursery=nursery))

    async def _handle_socket(
        self, stream: trio.SocketStream, listening: Listening, nursery: trio.Nursery
    ) -> None:
        # A TLS or web client's own task (a method of ours, so that the admin console's task
        # tree names it after the server).
        who = peer_of(stream, listening)
        if who is None:
            await trio.aclose_forcefully(stream)
            return
        peer, ip = who
        endpoint = listening.endpoint
        codec = None if endpoint.is_web else self._codec_for(endpoint)
        await handle(
            self,
            stream,
            peer,
            tls=endpoint.is_tls,
            ip=ip,
            nursery=nursery,
            codec=codec,
            web=endpoint.is_web,
        )

    async def handle_stream(
        self,
        stream: trio.abc.Stream,
        peer: str,
        *,
        tls: bool = False,
        ip: str | None = None,
        codec: Codec | None = None,
    ) -> None:
        """Serve one client over any trio stream (a socket, or a ``trio.testing`` fake).

        *peer* names the client in logs; *ip* is the address that
        :attr:`ServerConfig.max_clients_per_ip` counts (``None``: not counted).

        With *tls*, the server side of a TLS handshake is done first, with :meth:`tls_context`,
        within :attr:`ServerConfig.tls_handshake_timeout`; a client whose handshake fails or
        stalls is disconnected with one log line, before it becomes a member.

        The connection runs in a nursery of its own, in the caller's task, whether or not
        :meth:`serve` is running; if :meth:`serve` ends first, the connection ends with it.
        *codec* is the protocol the client speaks (see :class:`triochat.protocols.Codec`); by
        default, the line protocol (text, and JSON lines on request) of every endpoint.

        Returns when the client is gone; *stream* is closed by then.
        """
        async with trio.open_nursery() as nursery:
            await handle(self, stream, peer, tls=tls, ip=ip, nursery=nursery, codec=codec)

    def _codec_for(self, endpoint: Endpoint) -> Codec | None:
        """The codec for a client of *endpoint* (``None``: the line protocol's, the default)."""
        if endpoint.protocol == "irc":
            if self._irc_settings is None:
                self._irc_settings = irc_settings(self.config, self.hub)
            return IrcCodec(self._irc_settings)
        return None

    def _connection(
        self, stream: trio.abc.Stream, peer: str, ip: str | None, codec: Codec | None = None
    ) -> Connection:
        """A new connection, counted (under *ip* in _admission, if given) until it ends."""
        connection = Connection(
            self.hub,
            self.config,
            stream,
            peer,
            self.guard,
            codec=codec or LineCodec(self.config.max_line),
            flusher=self._flusher,
            readiness=self._readiness,
            on_closed=self._forget_connection,
            policy=self.policy,
        )
        self._connections[connection] = ip
        self._idle = self._idle if not self._idle.is_set() else trio.Event()
        return connection

    def _forget(self, connection: Connection) -> None:
        ip = self._connections.pop(connection, None)
        if ip is not None:
            self._admission.release(ip)
        self._refused_lines += connection.refused_lines
        self.counters.closed(connection)
        if not self._connections:
            self._idle.set()

    def statistics(self) -> ServerStatistics:
        """Counts of connections, accepted and refused clients, members and rooms."""
        hub = self.hub.statistics()
        connections = self._connections
        admission = self._admission
        return ServerStatistics(
            connections=len(connections),
            accepted=admission.accepted,
            refused_full=admission.refused_full,
            refused_per_ip=admission.refused_per_ip,
            members=hub.members,
            rooms=hub.rooms,
            pending_input=sum(connection.pending_input for connection in connections),
            refused_lines=self._refused_lines
            + sum(connection.refused_lines for connection in connections),
            reading_paused=sum(connection.reading_paused for connection in connections),
            handshaking=admission.handshaking,
            handshake_failures=admission.handshake_failures,
        )


async def serve_tcp(
    config: ServerConfig | None = None,
    hub: Hub | None = None,
    *,
    task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *hub* (a new one by default) over TCP as *config* says, until cancelled.

    Use it with ``nursery.start``, which returns the :class:`ChatServer` once it listens, and
    passes *config* and *hub* on positionally (no ``functools.partial`` needed)::

        server = await nursery.start(serve_tcp, ServerConfig(port=0), hub)
        host, port = server.addresses[0][:2]
    """
    config = config or ServerConfig()
    server = ChatServer(config=config) if hub is None else ChatServer(config=config, hub=hub)
    await server.serve(task_status=task_status)
