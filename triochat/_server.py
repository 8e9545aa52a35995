"""The TCP server: listeners, an accept loop per listener, one task per connection."""

from __future__ import annotations

import contextlib
import errno
import logging
from typing import Any, Final

import attrs
import trio

from ._auth import FailureThrottle, Guard, NickStore
from ._config import ServerConfig
from ._connection import SHUTTING_DOWN, Connection
from ._hub import Hub

__all__ = ["ChatServer", "ServerStatistics", "serve_tcp"]

log = logging.getLogger("triochat.server")

# accept() errors that mean "out of some resource for now": wait and try again, the way
# trio.serve_listeners does, but with one warning line instead of a traceback every 100 ms.
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_DELAY: Final = 0.1
_RESOURCE_WARNING_INTERVAL: Final = 10.0


def format_address(address: Any) -> str:
    """``127.0.0.1:9999`` or ``[::1]:9999`` for a socket address; anything else as text."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
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


@attrs.define(eq=False, kw_only=True)
class ChatServer:
    """A triochat server: a :class:`Hub` served over TCP.

    Start it in your nursery; :meth:`serve` reports the server once it is listening::

        server = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
        print(server.addresses)

    Resource handling: the listeners and every client socket are closed when :meth:`serve`
    ends, whether by :meth:`shutdown` (graceful: clients get what was queued and a goodbye) or by
    cancellation (immediate).
    """

    config: ServerConfig = attrs.field(factory=ServerConfig)
    #: The rooms served; by default a new hub with the outbox bounds of *config*.
    hub: Hub = attrs.field(
        default=attrs.Factory(lambda self: _default_hub(self.config), takes_self=True)
    )
    #: Addresses the server listens on, as (host, port, ...) tuples; set once serving.
    addresses: list[tuple[Any, ...]] = attrs.field(factory=list, init=False)
    #: The password, admin token, registered nicks and failure throttle of this server.
    guard: Guard = attrs.field(
        init=False, default=attrs.Factory(lambda self: _guard(self.config), takes_self=True)
    )
    _connections: set[Connection] = attrs.field(factory=set, init=False)
    _accepted: int = attrs.field(default=0, init=False)
    _refused_full: int = attrs.field(default=0, init=False)
    _scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    _accepting: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    _idle: trio.Event = attrs.field(factory=trio.Event, init=False)

    async def serve(
        self, *, task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, then serve clients until :meth:`shutdown` or cancellation.

        Reports ``self`` through *task_status* once listening (:attr:`addresses` is then set).

        Error handling: an error opening the listeners (such as :exc:`OSError` with
        ``errno.EADDRINUSE``) is raised before anything is reported.
        """
        config = self.config
        listeners = await trio.open_tcp_listeners(config.port, host=config.host or None)
        self.addresses = [listener.socket.getsockname() for listener in listeners]
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                for listener in listeners:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                log.info("listening on %s", ", ".join(format_address(a) for a in self.addresses))
                task_status.started(self)

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

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        last_warning = -_RESOURCE_WARNING_INTERVAL
        with self._accepting:
            async with listener:
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
                    nursery.start_soon(self._handle_socket, stream)

    async def _handle_socket(self, stream: trio.SocketStream) -> None:
        try:
            peer = format_address(stream.socket.getpeername())
        except OSError:  # reset before we got here
            await trio.aclose_forcefully(stream)
            return
        await self.handle_stream(stream, peer)

    async def handle_stream(self, stream: trio.abc.Stream, peer: str) -> None:
        """Serve one client over any trio stream (a socket, TLS, or a ``trio.testing`` fake).

        Returns when the client is gone; *stream* is closed by then.
        """
        self._accepted += 1
        if len(self._connections) >= self.config.max_clients:
            self._refused_full += 1
            log.warning("refused %s: server full (%d clients)", peer, len(self._connections))
            with trio.move_on_after(1):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(b"*** error: server full, try again later\n")
            await trio.aclose_forcefully(stream)
            return
        connection = Connection(self.hub, self.config, stream, peer, self.guard)
        self._connections.add(connection)
        self._idle = self._idle if not self._idle.is_set() else trio.Event()
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            if not self._connections:
                self._idle.set()

    def statistics(self) -> ServerStatistics:
        """Counts of connections, accepted and refused clients, members and rooms."""
        hub = self.hub.statistics()
        return ServerStatistics(
            connections=len(self._connections),
            accepted=self._accepted,
            refused_full=self._refused_full,
            members=hub.members,
            rooms=hub.rooms,
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
