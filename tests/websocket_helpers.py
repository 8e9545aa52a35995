"""WebSocket clients for the tests: trio-websocket over real sockets, and a wsproto client over
in-memory streams (for the virtual clock), plus a raw HTTP request."""

from __future__ import annotations

import collections
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import trio
import trio.testing
from trio_websocket import WebSocketConnection, wrap_client_stream
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, Event, Ping, Pong, TextMessage

from tests.conftest import WAIT
from triochat import ChatServer
from triochat.protocols.web import WebSocketCodec


@contextlib.asynccontextmanager
async def open_browser(
    port: int, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[WebSocketConnection]:
    """A trio-websocket client of ``ws://127.0.0.1:PORT/ws`` (``wss://`` with *ssl_context*).

    The TCP stream is ours, and closed here whatever happened: when the server closes first,
    trio-websocket's client records the close and then leaves its stream open (its ``aclose``
    returns early once a close reason is set), which would leak a socket per test.
    """
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
    try:
        if ssl_context is not None:
            stream = trio.SSLStream(tcp, ssl_context, server_hostname="127.0.0.1")
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/ws")
            try:
                yield ws
            finally:
                await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


async def http_request(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send *request* to 127.0.0.1:*port*; the status, headers and body of the response."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(WAIT):
            while chunk := await stream.receive_some(65536):
                data += chunk
    finally:
        await stream.aclose()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for header in header_lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def handshake_status(port: int, request: bytes) -> tuple[int, bytes]:
    """Send a WebSocket handshake *request*; the response's status and head (a refused one's
    body too, as far as it came with the head). Closes the connection either way."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(WAIT):
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
    finally:
        await stream.aclose()
    return int(data.split(b" ", 2)[1]), data


def upgrade_request(host: str = "127.0.0.1", origin: str | None = None, path: str = "/ws") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class MemoryWebSocket:
    """The browser's end of a WebSocket to ``server.handle_stream`` with the WebSocket codec
    (no HTTP: both ends start with the handshake done), on trio.testing streams. Answers pings
    unless *answer_pings* is false."""

    def __init__(self, stream: trio.abc.Stream, *, answer_pings: bool = True) -> None:
        self.stream = stream
        self.connection = Connection(ConnectionType.CLIENT)
        self.events: collections.deque[Event] = collections.deque()
        self.answer_pings = answer_pings
        self.pings = 0
        self.closed: CloseConnection | None = None

    @classmethod
    def connect(
        cls, nursery: trio.Nursery, server: ChatServer, *, answer_pings: bool = True
    ) -> MemoryWebSocket:
        client_end, server_end = trio.testing.memory_stream_pair()
        codec = WebSocketCodec(Connection(ConnectionType.SERVER), server.config.max_line)
        nursery.start_soon(lambda: server.handle_stream(server_end, "browser:1", codec=codec))
        return cls(client_end, answer_pings=answer_pings)

    async def send(self, message: str | dict[str, Any]) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.stream.send_all(self.connection.send(TextMessage(text)))

    async def event(self) -> dict[str, Any] | None:
        """The next JSON event; ``None`` once the server closed the WebSocket."""
        while True:
            while self.events:
                event = self.events.popleft()
                if isinstance(event, TextMessage):
                    decoded: dict[str, Any] = json.loads(event.data)
                    return decoded
                if isinstance(event, Ping):
                    self.pings += 1
                    if self.answer_pings:
                        await self.stream.send_all(self.connection.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.closed = event
                elif isinstance(event, Pong):
                    pass
            if self.closed is not None:
                return None
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.connection.receive_data(bytes(data))
            self.events.extend(self.connection.events())

    async def until(self, **match: Any) -> dict[str, Any]:
        """The first event whose members include *match* (within 1000 virtual seconds)."""
        with trio.fail_after(1000):
            return await self._until(match)

    async def _until(self, match: dict[str, Any]) -> dict[str, Any]:
        while True:
            event = await self.event()
            assert event is not None, f"closed before {match}"
            if all(event.get(key) == value for key, value in match.items()):
                return event
