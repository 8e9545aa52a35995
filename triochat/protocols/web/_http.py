"""The web chat's front door: one HTTP request per connection, answered (sans-IO, no trio).

``GET /`` is the page; ``GET /ws`` with a WebSocket upgrade, from an allowed origin, becomes a
chat connection (the handshake is wsproto's); anything else gets a short error response. Every
response closes the connection: the page is one request, and the chat is a WebSocket, so there is
nothing for keep-alive to save.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from collections.abc import Sequence
from typing import Final

import attrs
import h11
from wsproto import ConnectionType
from wsproto.events import AcceptConnection, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from ._codec import WebSocketCodec

__all__ = [
    "MAX_REQUEST_HEAD",
    "WEBSOCKET_PATH",
    "Answer",
    "BadRequest",
    "Page",
    "RequestReader",
    "WebRequest",
    "answer",
    "origin_allowed",
    "response",
]

#: Longest request head (request line and headers) read, in bytes.
MAX_REQUEST_HEAD: Final = 8192
#: Where the page opens its WebSocket.
WEBSOCKET_PATH: Final = "/ws"

_REASONS: Final = {
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
_INLINE: Final = re.compile(rb"<(script|style)>(.*?)</\1>", re.DOTALL)


class BadRequest(Exception):
    """The request cannot be read: answer with *status* and close."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


@attrs.frozen
class WebRequest:
    """A request head: the method, the path (without a query), the headers by lower-case name
    (the last of repeated ones), and every byte received so far (the handshake reads them)."""

    method: str
    path: str
    headers: dict[str, str]
    received: bytes


class RequestReader:
    """Reads one request head, at most :data:`MAX_REQUEST_HEAD` bytes of it."""

    __slots__ = ("_connection", "_received")

    def __init__(self) -> None:
        self._connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        self._received = bytearray()

    def feed(self, data: bytes) -> WebRequest | None:
        """Take bytes; the request once its head is complete, else ``None``.

        Error handling: :exc:`BadRequest` for a malformed or oversized head, or a connection
        closed (``data == b""``) before the head was complete.
        """
        if not data:
            raise BadRequest(400, "the request ended before its headers did")
        self._received += data
        if len(self._received) > MAX_REQUEST_HEAD:
            end = self._received.find(b"\r\n\r\n", 0, MAX_REQUEST_HEAD + 4)
            if end < 0:
                raise BadRequest(431, "request head too large")
        self._connection.receive_data(data)
        try:
            event = self._connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise BadRequest(exc.error_status_hint, "malformed HTTP request") from None
        if not isinstance(event, h11.Request):
            return None
        headers: dict[str, str] = {}
        for name, value in event.headers:
            headers[name.decode("ascii").lower()] = value.decode("latin-1")
        target = event.target.decode("ascii", "replace")
        return WebRequest(
            method=event.method.decode("ascii", "replace"),
            path=target.partition("?")[0],
            headers=headers,
            received=bytes(self._received),
        )


def response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Sequence[tuple[str, str]] = (),
    head_only: bool = False,
) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        *(f"{name}: {value}" for name, value in headers),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def _error(status: int, text: str, *, head_only: bool = False) -> bytes:
    return response(status, f"{text}\n".encode(), head_only=head_only)


@attrs.frozen
class Page:
    """The web chat page and the responses that serve it (to GET and to HEAD), made once by
    :meth:`from_html`."""

    html: bytes
    get: bytes
    head: bytes

    @classmethod
    def from_html(cls, html: bytes) -> Page:
        """Serve *html* with a Content-Security-Policy that allows exactly its own inline
        scripts and styles (by their hashes) and WebSocket connections to the same host:
        nothing can be loaded from anywhere else, and markup that found its way into the
        page could not run a script."""
        hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
        for match in _INLINE.finditer(html):
            digest = base64.b64encode(hashlib.sha256(match.group(2)).digest()).decode()
            hashes[match.group(1)].append(f"'sha256-{digest}'")
        scripts = " ".join(hashes[b"script"]) or "'none'"
        styles = " ".join(hashes[b"style"]) or "'none'"
        policy = (
            f"default-src 'none'; script-src {scripts}; style-src {styles}; "
            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        headers = [("Content-Security-Policy", policy), ("Referrer-Policy", "no-referrer")]
        kind = "text/html; charset=utf-8"
        return cls(
            html=html,
            get=response(200, html, content_type=kind, headers=headers),
            head=response(200, html, content_type=kind, headers=headers, head_only=True),
        )


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """Whether a WebSocket from a page at *origin* may connect.

    No ``Origin`` header: not a browser (a browser always sends one), so no visitor's identity
    is being borrowed; allowed. With *allowed* empty, the origin's host and port must be the
    ``Host`` the request was sent to (the page this server served); otherwise it must be one of
    *allowed* (compared without case), or *allowed* holds ``*``.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    if allowed:
        return origin.rstrip("/").lower() in {item.rstrip("/").lower() for item in allowed}
    if host is None or origin == "null":
        return False
    netloc = urllib.parse.urlsplit(origin).netloc
    return bool(netloc) and netloc.lower() == host.strip().lower()


@attrs.frozen
class Answer:
    """What to do with a request: send *data*, then either close (no *codec*) or go on as a
    chat connection that *codec* speaks."""

    data: bytes
    codec: WebSocketCodec | None = None
    #: For the log: what the request was and how it was answered.
    summary: str = ""


def answer(request: WebRequest, *, page: Page, origins: Sequence[str], max_message: int) -> Answer:
    """Answer *request*: the page, a WebSocket handshake, or an error."""
    head_only = request.method == "HEAD"
    if request.method not in ("GET", "HEAD"):
        return Answer(
            response(405, b"only GET\n", headers=[("Allow", "GET, HEAD")]), summary="405 method"
        )
    if request.path == "/":
        return Answer(page.head if head_only else page.get, summary="200 page")
    if request.path != WEBSOCKET_PATH:
        return Answer(_error(404, "not found", head_only=head_only), summary="404")
    if "upgrade" not in request.headers:
        return Answer(
            response(426, b"this is the chat's WebSocket\n", headers=[("Upgrade", "websocket")]),
            summary="426 no upgrade",
        )
    origin = request.headers.get("origin")
    if not origin_allowed(origin, request.headers.get("host"), origins):
        return Answer(
            _error(403, f"WebSocket connections from {origin} are not allowed"),
            summary=f"403 origin {origin!r}",
        )
    handshake = H11Handshake(ConnectionType.SERVER)
    try:
        handshake.receive_data(request.received)
        if not any(isinstance(event, Request) for event in handshake.events()):
            return Answer(_error(400, "incomplete WebSocket handshake"), summary="400 handshake")
        # No extensions: per-message compression would give every browser its own bytes.
        data = handshake.send(AcceptConnection())
    except RemoteProtocolError as exc:
        return Answer(_error(400, str(exc)), summary=f"400 {exc}")
    connection = handshake.connection
    assert connection is not None
    return Answer(data, WebSocketCodec(connection, max_message), summary="101 websocket")
