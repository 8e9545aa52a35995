"""Helpers for testing your own code against triochat, in the spirit of :mod:`trio.testing`.

Two ways to reach a server from a test:

- over real sockets: :func:`open_chat_server` runs a :class:`~triochat.ChatServer` on a free
  loopback port for the body of an ``async with``, and :func:`connect_to` connects to it;
- in memory: :func:`open_memory_client` serves one client through
  :func:`trio.testing.memory_stream_pair`, with no socket at all. The server need not be
  listening, and time is the test's clock, so with pytest-trio's ``autojump_clock`` fixture an
  idle timeout of five minutes passes in an instant.

:func:`read_until` reads lines until the one a test waits for, with a deadline. Every wait in
these helpers is bounded, so a test that goes wrong fails instead of hanging.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import trio
import trio.testing

from .client._client import ChatConnection, connect
from .core._hub import Hub
from .server._config import ServerConfig
from .server._server import ChatServer

__all__ = [
    "DEFAULT_WAIT",
    "connect_to",
    "open_chat_server",
    "open_memory_client",
    "read_until",
]

#: Seconds :func:`read_until` waits for a line unless told otherwise. Generous, because a shared
#: CI machine can be slow; a passing test never waits this long.
DEFAULT_WAIT: Final = 10.0
# Names for in-memory peers, as they appear in the server's log: memory-1, memory-2, ...
_peer_numbers: Final = itertools.count(1)


@asynccontextmanager
async def _open_nursery_around_body() -> AsyncIterator[trio.Nursery]:
    """A nursery for background tasks that run while the caller's ``async with`` body runs.

    Trio wraps whatever leaves a nursery in an ExceptionGroup. When the only error is the one the
    caller's body raised (a failed assert, say), it comes out as itself, so that a test reads as
    if there were no nursery: ``pytest.raises(AssertionError)`` works. Any other combination of
    errors comes out as the group.
    """
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:
                body_error = exc
                raise
    except BaseExceptionGroup as group:
        if body_error is not None and group.exceptions == (body_error,):
            raise body_error from None
        raise


@asynccontextmanager
async def open_chat_server(
    config: ServerConfig | None = None, *, hub: Hub | None = None
) -> AsyncIterator[ChatServer]:
    """Run a chat server for the body of the ``async with``; give the :class:`~triochat.ChatServer`.

    By default the server listens on ``127.0.0.1`` on a port the system picks
    (``server.addresses[0][1]`` tells which); pass *config* to change any setting, and *hub* to
    share rooms between the server's clients and your own code.

    Resource handling: when the body ends, the server is cancelled: every connection and the
    listener are closed at once, and no task is left running. Call
    :meth:`~triochat.ChatServer.shutdown` in the body to test a graceful stop instead.

    Error handling:
      OSError: the server could not listen (the address in *config* is in use, say).
    """
    config = ServerConfig(port=0) if config is None else config
    server = ChatServer(config=config) if hub is None else ChatServer(config=config, hub=hub)
    async with _open_nursery_around_body() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


def connect_to(
    server: ChatServer, *, nick: str | None = None
) -> AbstractAsyncContextManager[ChatConnection]:
    """:func:`triochat.connect` to the first address *server* listens on.

    Use it as ``async with connect_to(server, nick="alice") as alice:``.
    """
    if not server.addresses:
        raise RuntimeError("the server is not listening yet; start it with nursery.start")
    host, port = server.addresses[0][:2]
    return connect(str(host), int(port), nick=nick)


@asynccontextmanager
async def open_memory_client(
    server: ChatServer, *, nick: str | None = None
) -> AsyncIterator[ChatConnection]:
    """Connect to *server* through an in-memory stream: no socket, no port, no real time.

    The server handles the connection with :meth:`~triochat.ChatServer.handle_stream`, exactly
    as it handles a TCP client (welcome, rooms, limits and timeouts), so *server* does not need
    to be listening: ``ChatServer(config=ServerConfig(idle_timeout=60))`` is enough. If *nick* is
    given, ``/nick NICK`` is the first line sent.

    Resource handling: when the body ends, the client's end of the stream is closed and the
    server's handler finishes (it sees the client leave) before this returns.
    """
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with _open_nursery_around_body() as nursery:
        nursery.start_soon(server.handle_stream, server_stream, f"memory-{next(_peer_numbers)}")
        try:
            connection = ChatConnection(client_stream)
            if nick is not None:
                await connection.send(f"/nick {nick}")
            yield connection
        finally:
            # The server's reader sees the end of the stream and the connection finishes by
            # itself; the deadline only guards against a handler that does not.
            await trio.aclose_forcefully(client_stream)
            nursery.cancel_scope.deadline = trio.current_time() + DEFAULT_WAIT


async def read_until(
    connection: ChatConnection, text: str, *, timeout: float = DEFAULT_WAIT
) -> list[str]:
    """Receive lines until one contains *text*; return all of them, that one last.

    Error handling:
      AssertionError: no such line arrived within *timeout* seconds (of Trio's clock, so of
          virtual time under ``autojump_clock``), or the connection ended first. The message
          lists the lines that did arrive, which is usually what you need to see.
    """
    seen: list[str] = []
    with trio.move_on_after(timeout):
        async for line in connection:
            seen.append(line)
            if text in line:
                return seen
        raise AssertionError(f"the connection ended before a line containing {text!r}: {seen}")
    raise AssertionError(f"no line containing {text!r} within {timeout:g} s: {seen}")
