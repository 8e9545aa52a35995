"""How the load generator speaks: the chat lines senders write, and each front end's dialect.

Every chat line carries a marker with its send time; receivers of any front end find it in
whatever framing the server wraps it in, so one receiver worker (``rx.c``, or its Python twin in
``loadgen.py``) counts and times them all.
"""

from __future__ import annotations

import re
import time
from typing import Final

#: Text after the marker in every chat line: the line is about 70 bytes on the wire in text.
PAYLOAD: Final = b"x" * 20
#: Every chat line a sender writes is ``@T<send time ns>~<sender index>!<payload>``: the marker
#: ``@T...~`` is found, counted and timed whatever the front end wraps it in (a text line, a JSON
#: object, an IRC PRIVMSG, a WebSocket frame), and nothing else the servers send contains it.
MARK: Final = b"@T"
STAMP: Final = re.compile(rb"@T(\d+)~")


def chat_line(sender: int, payload: bytes = PAYLOAD) -> bytes:
    """One chat line of sender number *sender*, stamped now (in text, as senders speak)."""
    return b"@T%d~%d!" % (time.monotonic_ns(), sender) + payload + b"\n"


class Dialect:
    """How a receiver speaks one front end: what it sends to register (and join ``#lobby``),
    and what in the server's output says it has. Senders always speak text on the plain TCP
    endpoint, so that sending costs the same whatever is measured; chat is counted and timed by
    its marker (:data:`MARK`) whatever the framing."""

    name = "text"
    #: Whether every client needs a nick of its own to register (IRC does).
    needs_nick = False

    def __init__(self, port: int) -> None:
        self.port = port

    def hello(self, nick: str | None) -> bytes:
        return b"" if nick is None else f"/nick {nick}\n".encode()

    #: In the server's output once the client is in #lobby (its own join comes first).
    registered = b"joined #lobby"


class JsonDialect(Dialect):
    name = "json"
    registered = b'"kind":"format"'

    def hello(self, nick: str | None) -> bytes:
        return super().hello(nick) + b"/format json\n"


class IrcDialect(Dialect):
    name = "irc"
    needs_nick = True
    registered = b" JOIN #lobby"

    def hello(self, nick: str | None) -> bytes:
        assert nick is not None
        return f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #lobby\r\n".encode()


class WebSocketDialect(Dialect):
    """RFC 6455 over ``/ws``: the upgrade request, then (masked) frames; receivers send none."""

    name = "websocket"
    registered = b'"type":"join"'

    def hello(self, nick: str | None) -> bytes:
        return (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()


DIALECTS: Final[dict[str, type[Dialect]]] = {
    d.name: d for d in (Dialect, JsonDialect, IrcDialect, WebSocketDialect)
}
