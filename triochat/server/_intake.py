"""A client's way in, from its socket (or any stream) to its connection: the client limits,
then a TLS handshake or a web request for the endpoints that need one.

The server (:mod:`._server`) owns the state; these functions are the steps. The TLS handshake
and the web request both count towards ``max_clients`` while they last
(:attr:`Admission.handshaking`), and both are bounded in time by the drivers that do them.
"""

from __future__ import annotations

import functools
import logging
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Final

import trio

from ..drivers._listeners import Listening
from ..drivers._tls import server_handshake
from ..protocols._codec import Codec, Refusal
from ._accept import peer_of
from ._admission import Admission, refusal_line, refuse
from ._config import ServerConfig

if TYPE_CHECKING:
    import ssl

    from ..protocols.web import Page
    from ._server import ChatServer

__all__ = ["handle", "load_page", "on_accept", "web_driver"]

log = logging.getLogger("triochat.server")

#: The name of every connection's task (what trio would call it, made once).
_CONNECTION_TASK: Final = "triochat.drivers._connection.Connection.run"


def on_accept(
    server: ChatServer, stream: trio.SocketStream, listening: Listening, nursery: trio.Nursery
) -> None:
    """A client the accept loop of *listening* just accepted (its connection runs in
    *nursery*); the accept loop's *admit*."""
    if listening.endpoint.is_tls or listening.endpoint.is_web:
        nursery.start_soon(server._handle_socket, stream, listening, nursery)
        return
    try:
        _admit_socket(server, stream, listening, nursery)
    except Exception:  # a bug of ours costs this client, never the listener
        log.exception("failed to admit a client; closing it")
        stream.socket.close()


def _admit_socket(
    server: ChatServer, stream: trio.SocketStream, listening: Listening, nursery: trio.Nursery
) -> None:
    """Start serving a plain socket: its connection's own task, with no wrapper coroutine
    around it (every frame an idle connection keeps costs memory, ten thousand times over)."""
    who = peer_of(stream, listening)
    if who is None:
        stream.socket.close()
        return
    peer, ip = who
    codec = server._codec_for(listening.endpoint)
    refusal = _refusal(server, peer, ip, codec)
    if refusal is not None:
        nursery.start_soon(functools.partial(refuse, stream, refusal, tls=False))
        return
    if ip is not None:  # kept for as long as the connection: share it with its neighbours
        ip = sys.intern(ip)
    if ip is not None:
        server._admission.count(ip)
    connection = server._connection(stream, peer, ip, codec)
    # Named by a constant: trio would otherwise format the same name anew for every task.
    nursery.start_soon(connection.run, nursery, name=_CONNECTION_TASK)


async def handle(
    server: ChatServer,
    stream: trio.abc.Stream,
    peer: str,
    *,
    tls: bool,
    ip: str | None,
    nursery: trio.Nursery,
    codec: Codec | None = None,
    web: bool = False,
) -> None:
    """Serve one client whose connection (reader and writer) runs in *nursery*; with *web*,
    a web chat client (the page, or a WebSocket), once its request is read."""
    try:
        refusal = _refusal(server, peer, ip, codec)
    except Exception:  # the isolation boundary before there is a connection
        log.exception("failed to admit %s; closing it", peer)
        await trio.aclose_forcefully(stream)
        return
    if refusal is not None:
        if web and not tls:
            await web_driver().refuse_web(stream, refusal.removeprefix(b"*** error: "))
        else:
            await refuse(stream, refusal, tls=tls)
        return
    # A TLS handshake in progress counts towards the address's connections too.
    if ip is not None:
        server._admission.count(ip)
    try:
        await _serve_admitted(server, stream, peer, tls=tls, nursery=nursery, codec=codec, web=web)
    except Exception as exc:  # a bug before the connection's own boundary was in place
        log.error(
            "client %s failed before its session began; closing it, the server goes on",
            peer,
            exc_info=exc,
            extra={"contained_crash": True},
        )
        await trio.aclose_forcefully(stream)
    finally:
        if ip is not None:
            server._admission.release(ip)


def _refusal(
    server: ChatServer, peer: str, ip: str | None, codec: Codec | None = None
) -> bytes | None:
    """Count a new client; the line that refuses it if the server or its address is full
    (in the client's protocol)."""
    return server._admission.refusal(
        peer, ip, codec, config=server.config, connections=len(server._connections)
    )


async def _serve_admitted(
    server: ChatServer,
    stream: trio.abc.Stream,
    peer: str,
    *,
    tls: bool,
    nursery: trio.Nursery,
    codec: Codec | None = None,
    web: bool = False,
) -> None:
    if tls:
        secured = await _secure(
            stream,
            peer,
            context=server.tls_context(),
            timeout=server.config.tls_handshake_timeout,
            codec=codec,
            admission=server._admission,
        )
        if secured is None:
            return
        stream = secured
        if server._accepting.cancel_called:  # shutting down: do not start a session now
            await trio.aclose_forcefully(stream)
            return
    if web:
        assert server._page is not None
        codec = await _open_web(
            stream, peer, page=server._page, config=server.config, admission=server._admission
        )
        if codec is None:
            return  # the page, or an error: answered and closed
        if server._accepting.cancel_called:
            await trio.aclose_forcefully(stream)
            return
    connection = server._connection(stream, peer, None, codec)
    await connection.run(nursery)


async def _secure(
    stream: trio.abc.Stream,
    peer: str,
    *,
    context: ssl.SSLContext,
    timeout: float,
    codec: Codec | None,
    admission: Admission,
) -> trio.abc.Stream | None:
    """The TLS stream over *stream* once its handshake is done; ``None`` (closed, and logged by
    the driver) if it failed or took longer than *timeout*. A client that speaks plain text is
    told, in its protocol (*codec*), that this port needs TLS."""
    admission.handshaking += 1
    try:
        secured = await server_handshake(
            stream,
            context,
            peer=peer,
            timeout=timeout,
            not_tls_reply=refusal_line(codec, Refusal.NOT_TLS),
        )
    finally:
        admission.handshaking -= 1
    if secured is None:
        admission.handshake_failures += 1
    return secured


async def _open_web(
    stream: trio.abc.Stream, peer: str, *, page: Page, config: ServerConfig, admission: Admission
) -> Codec | None:
    """Read a web client's request: the codec of its WebSocket, or ``None`` once the page (or
    an error) has been answered and *stream* closed."""
    # Until its request is answered, a web client counts like a TLS handshake.
    admission.handshaking += 1
    try:
        codec: Codec | None = await web_driver().web_front_door(
            stream,
            page=page,
            origins=config.ws_origins,
            max_message=config.max_line,
            timeout=config.web_request_timeout,
            peer=peer,
        )
    finally:
        admission.handshaking -= 1
    return codec


def web_driver() -> ModuleType:
    """The web chat's driver, imported when first needed: it needs the ``web`` extra."""
    try:
        from ..drivers import _websocket
    except ImportError as exc:
        raise ImportError(
            f"ws:// and wss:// endpoints need the web extra: pip install 'triochat[web]' ({exc})"
        ) from exc
    return _websocket


def load_page() -> Page:
    """The web chat's page (blocking file work: run it in a worker thread)."""
    page: Page = web_driver().load_page()
    return page
