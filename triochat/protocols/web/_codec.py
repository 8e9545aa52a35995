"""The WebSocket codec: one JSON event per message out, one command per message in (sans-IO).

Frames are read by wsproto (the sans-IO WebSocket library of python-hyper, the one under
trio-websocket). Frames going out are written here: a server's text frame is a two-to-ten byte
header and the payload, unmasked, so it is the same bytes for every client. Each event is framed
once, cached on the event like every other encoding, and the flusher writes those shared bytes to
every browser in the room, exactly as it writes text lines to ``nc`` users. No per-message
compression: it would give every connection its own bytes for the same event.

The messages are the JSON-lines schema of docs/protocol.md, one object per message without the
newline; commands are JSON objects (or text lines, as on a JSON-lines connection).
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

import attrs
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from ...core._events import Event, Notice
from ...core._text import sanitize
from ...session._commands import Format, Quit, Unknown
from ...session._input import Input, InputError, InputProblem, Reply
from ...session._reasons import CloseReason
from .._lines import LineTooLong
from ..jsonl._render import render_json
from ..text._codec import _encode_batch, goodbye_notice
from ..text._parse import parse_command

__all__ = ["WebSocketCodec", "close_frame", "text_frame"]

#: The name events cache their framed JSON under (one encoding per event for every browser).
WIRE_FORMAT: Final = "websocket"

_OPCODE_TEXT: Final = 0x81  # FIN + text
_OPCODE_CLOSE: Final = 0x88  # FIN + close
_PING: Final = b"\x89\x00"  # FIN + ping, no payload
# Close codes (RFC 6455, section 7.4.1).
_NORMAL: Final = 1000
_GOING_AWAY: Final = 1001
_POLICY: Final = 1008
_INTERNAL: Final = 1011
_MAX_CLOSE_REASON: Final = 123  # a control frame's payload is at most 125 bytes


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked text frame (what a server sends) carrying *payload*."""
    size = len(payload)
    if size < 126:
        return bytes((_OPCODE_TEXT, size)) + payload
    if size < 0x10000:
        return struct.pack("!BBH", _OPCODE_TEXT, 126, size) + payload
    return struct.pack("!BBQ", _OPCODE_TEXT, 127, size) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with *code* and *reason* (cut to the 123 bytes a close frame can carry)."""
    said = reason.encode("utf-8")[:_MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
    payload = struct.pack("!H", code) + said
    return bytes((_OPCODE_CLOSE, len(payload))) + payload


def _render(event: Event) -> bytes:
    if isinstance(event, Reply):
        return event.data
    if isinstance(event, Notice) and event.kind == "ping":
        # The keepalive of WebSocket: browsers answer a ping frame by themselves, and the pong
        # counts as a frame for the idle timer, so an open tab stays connected.
        return _PING
    line = render_json(event)
    if not line:
        return b""  # an event the JSON format shows nothing for (see render_json)
    return text_frame(line[:-1])  # one JSON object, without the newline


@attrs.frozen
class _Closed:
    """The client sent a close frame, or broke the protocol (wsproto then gives the code)."""

    code: int | None
    reason: str


_PONG: Final = object()  # an answer to our ping: a frame, and nothing to do


class WebSocketCodec:
    """One browser's protocol, once the WebSocket handshake is done: *connection* is the
    wsproto connection the handshake made; messages longer than *max_message* bytes are
    discarded with an error, as long lines are, and never held whole."""

    name: ClassVar[str] = "websocket"
    __slots__ = ("_connection", "_max_message", "_message", "_too_long")

    def __init__(self, connection: Connection, max_message: int) -> None:
        self._connection = connection
        self._max_message = max_message
        # The message being received, in parts (a browser may fragment it, and a read may end
        # in the middle of a frame); _too_long once it passed the limit (the rest is dropped).
        self._message: list[bytes] = []
        self._too_long = False

    @property
    def pending(self) -> int:
        return sum(map(len, self._message))

    def receive(self, data: bytes | bytearray) -> list[object]:
        connection = self._connection
        connection.receive_data(bytes(data))
        frames: list[object] = []
        for event in connection.events():
            if isinstance(event, TextMessage | BytesMessage):
                frame = self._part(event)
                if frame is not None:
                    frames.append(frame)
            elif isinstance(event, Ping):
                frames.append(Reply(data=connection.send(event.response())))
            elif isinstance(event, Pong):
                frames.append(_PONG)
            elif isinstance(event, CloseConnection):
                frames.append(_Closed(event.code, event.reason or ""))
                break  # nothing after a close counts
        return frames

    def _part(self, event: TextMessage | BytesMessage) -> object | None:
        """Add a part of a message; the whole message once it is complete."""
        data = event.data.encode("utf-8") if isinstance(event.data, str) else bytes(event.data)
        if not self._too_long:
            self._message.append(data)
            if self.pending > self._max_message:
                self._message.clear()
                self._too_long = True
        if not event.message_finished:
            return None
        if self._too_long:
            self._too_long = False
            return LineTooLong(self._max_message)
        message = b"".join(self._message)
        self._message.clear()
        return message

    def decode(self, frame: object) -> Input:
        if isinstance(frame, bytes):
            try:
                text = frame.decode("utf-8")
            except UnicodeDecodeError as exc:  # a binary message: text frames are checked
                return InputError(InputProblem.NOT_UTF8, offset=exc.start)
            # A message is one command, whatever it holds: the line breaks JSON allows between
            # members are control characters, and sanitize() takes them out like any other.
            command = parse_command(sanitize(text), json_commands=True)
            if isinstance(command, Format) and command.name != "json":
                return Unknown("the web chat speaks JSON only")
            return command
        if isinstance(frame, LineTooLong):
            return InputError(InputProblem.LINE_TOO_LONG, limit=frame.limit)
        if isinstance(frame, Reply):
            return frame
        if isinstance(frame, _Closed):
            # Closing the tab sends 1001 "going away" with no reason: a plain quit.
            if frame.code in (None, _NORMAL, _GOING_AWAY):
                return Quit(sanitize(frame.reason))
            return Quit(sanitize(f"WebSocket error {frame.code}: {frame.reason}"))
        return None  # a pong

    def encode(self, events: list[Event]) -> bytes:
        if len(events) == 1:
            return events[0].encode(WIRE_FORMAT, _render)
        return _encode_batch(events, WIRE_FORMAT, _render)

    def goodbye(self, reason: CloseReason, detail: str = "") -> bytes:
        said = reason.describe(detail)
        if reason is CloseReason.SHUTTING_DOWN:
            code = _GOING_AWAY
        elif reason is CloseReason.INTERNAL_ERROR:
            code = _INTERNAL
        elif reason.is_error:
            code = _POLICY
        else:
            code = _NORMAL
        return _render(goodbye_notice(reason, detail)) + close_frame(code, said)
