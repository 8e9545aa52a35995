"""A small client for the triochat line protocol.

The protocol is plain text: every message is one UTF-8 line ending in ``\\n``, in both directions.
:func:`connect` opens a connection (TCP, TLS or a Unix socket) and hands you a
:class:`ChatConnection`, which sends lines
with :meth:`~ChatConnection.send` and yields the lines the server sends when you iterate it::

    async with connect("127.0.0.1", 9999, nick="alice") as chat:
        await chat.send("hello, everyone")
        await chat.quit()
        async for line in chat:
            print(line)

The line API does not interpret what the server says; it only moves lines. That keeps it usable
against any server that speaks newline-terminated text, including a test double.

For programs, a connection can also use the server's JSON format and receive typed events, the
same classes an in-process :class:`~triochat.Hub` hands out::

    async with connect("127.0.0.1", 9999, nick="timebot", wire_format="json") as chat:
        await chat.send_command("join", room="#bots")
        async for event in chat.events():
            if isinstance(event, Message) and event.text == "!time":
                await chat.send_command("say", room=event.room, text="...")
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, Literal

import attrs
import trio

from ..core._events import Event, Joined, NickChanged, Notice
from ..drivers._endpoints import DEFAULT_PORT, Endpoint
from ..protocols._lines import LineSplitter, LineTooLong
from ._decode import parse_event_line
from ._errors import (
    CertificateVerificationFailed,
    ChatClientError,
    ConnectionFailed,
    ConnectionLost,
    NickRefused,
    ProtocolError,
    _describe_connect_error,
    _describe_os_error,
)
from ._transport import (
    DEFAULT_HOST,
    TLSHandshakeFailed,
    client_endpoint,
    client_tls_context,
    open_client_stream,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_LINE_BYTES",
    "CertificateVerificationFailed",
    "ChatClientError",
    "ChatConnection",
    "ConnectionFailed",
    "ConnectionLost",
    "NickRefused",
    "ProtocolError",
    "WireFormat",
    "connect",
]

#: The two wire formats a connection can use: ``"text"`` for people, ``"json"`` for programs.
WireFormat = Literal["text", "json"]
#: Longest line, in bytes and without its newline, accepted from the server. Nothing longer is
#: ever buffered, so a misbehaving server cannot make the client use unbounded memory.
MAX_LINE_BYTES: Final = 1024 * 1024
#: How much to ask the kernel for per read. Large reads mean few wakeups when lines arrive in bulk.
_RECEIVE_SIZE: Final = 65536
#: Seconds a closing connection may take to say so (over TLS, to send its close_notify).
_CLOSE_TIMEOUT: Final = 0.5


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _check_line(line: str) -> None:
    if "\n" in line or "\r" in line:
        raise ValueError(f"a chat line cannot contain a line break: {line!r}")


@attrs.define(eq=False)
class ChatConnection:
    """One open conversation with a chat server, over any byte stream.

    :func:`connect` is the usual way to get one. You can also wrap a stream you opened yourself
    (for example one end of :func:`trio.testing.memory_stream_pair`); closing that stream stays
    your job.

    Send with :meth:`send` or :meth:`quit`. Iterate the connection to receive: each item is one
    line from the server, decoded from UTF-8 (undecodable bytes become U+FFFD) and without its
    line ending. Iteration ends when the server closes the connection. Sending and receiving may
    happen in different tasks at the same time; several tasks may send at once (their lines are
    never interleaved), but only one task at a time may receive.

    On a connection switched to the JSON format (``connect(..., wire_format="json")`` or
    :meth:`switch_to_json`), :meth:`events` yields typed events instead of lines, and
    :meth:`send_command` sends commands as JSON objects. :attr:`nick` and :attr:`room` follow
    what the events and notices seen so far say.

    Error handling: :meth:`send` raises :exc:`ConnectionLost` when the connection is broken. A
    connection that breaks while you iterate (reset by the peer, for instance) simply ends the
    iteration, like a normal close, but leaves a description in :attr:`closed_reason`. A server
    line longer than one mebibyte raises :exc:`ChatClientError` from the iteration, and
    after that the connection yields nothing more.
    """

    _stream: trio.abc.Stream
    #: ``None`` while the connection is open and after the server closed it normally; after the
    #: connection broke, a short explanation such as ``"connection reset by peer"``.
    closed_reason: str | None = attrs.field(default=None, init=False)
    #: The format the server uses for this connection, as far as the client knows.
    wire_format: WireFormat = attrs.field(default="text", init=False)
    #: Your nick, once the server has said it (JSON connections); ``None`` until then.
    nick: str | None = attrs.field(default=None, init=False)
    #: The room plain lines go to, once the server has said it (JSON connections); ``None``
    #: until then, and after you left every room.
    room: str | None = attrs.field(default=None, init=False)
    _splitter: LineSplitter = attrs.field(factory=lambda: LineSplitter(MAX_LINE_BYTES), init=False)
    _received: collections.deque[str] = attrs.field(factory=collections.deque, init=False)
    _at_end: bool = attrs.field(default=False, init=False)
    _send_lock: trio.StrictFIFOLock = attrs.field(factory=trio.StrictFIFOLock, init=False)

    async def send(self, line: str) -> None:
        """Send one line of text: a message, or a command such as ``/nick bob``.

        The newline is added for you.

        Error handling:
          ValueError: *line* contains ``\\n`` or ``\\r``; nothing is sent. A line break inside a
              message would let it smuggle in a second, unintended line.
          ConnectionLost: the connection is broken (the server went away) or was closed.
        """
        _check_line(line)
        data = line.encode("utf-8") + b"\n"
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except trio.BrokenResourceError as exc:
                reason = _describe_os_error(exc.__cause__ or exc)
                raise ConnectionLost(f"connection lost: {reason}") from exc
            except trio.ClosedResourceError:
                raise ConnectionLost("the connection is already closed") from None

    async def quit(self, reason: str = "") -> None:
        """Say goodbye: send ``/quit``, followed by *reason* if it is not empty.

        The server is expected to answer and then close the connection, so keep iterating
        afterwards if you want its last words.

        Error handling: as for :meth:`send`.
        """
        await self.send(f"/quit {reason}" if reason else "/quit")

    async def send_command(self, cmd: str, **fields: str | int | None) -> None:
        """Send one command as a JSON object, such as ``send_command("say", room="#bots",
        text="hi")``; fields that are ``None`` are left out. See the protocol for the commands.

        Unlike a text line, a JSON command can name the room it is for, so a program in several
        rooms never has to switch its current room first.

        Error handling:
          ChatClientError: the connection does not use the JSON format, where the server would
              take the object for a chat message; nothing is sent.
          ConnectionLost: as for :meth:`send`.
        """
        if self.wire_format != "json":
            raise ChatClientError(
                "JSON commands need a connection in the JSON format "
                "(connect with wire_format='json')"
            )
        command: dict[str, str | int] = {"cmd": cmd}
        command.update({key: value for key, value in fields.items() if value is not None})
        # json.dumps escapes line breaks inside strings, so this is always one line.
        await self.send(json.dumps(command, ensure_ascii=False))

    async def switch_to_json(self, *, timeout: float = 10.0) -> Notice:
        """Switch the connection to the JSON format and return the server's confirmation.

        Sends ``/format json`` and reads until the server confirms it. The lines before the
        confirmation (the server's text lines, such as the welcome) are read and dropped, so do
        not iterate the connection in another task meanwhile.

        Error handling:
          ProtocolError: the server closed the connection or did not confirm within *timeout*
              seconds (it is not a triochat server, or a full one: the message then quotes the
              server's error line).
          ConnectionLost: as for :meth:`send`.
        """
        await self.send("/format json")
        return await self._await_json(timeout)

    def events(self) -> AsyncIterator[Event]:
        """Iterate the events of a JSON connection, parsed into the library's event classes.

        Each line becomes a :class:`~triochat.Message`, :class:`~triochat.Joined`,
        :class:`~triochat.Left`, :class:`~triochat.NickChanged`, :class:`~triochat.TopicChanged`,
        :class:`~triochat.Private`, :class:`~triochat.Action` or :class:`~triochat.Notice`, with
        :attr:`~triochat.Event.time` an aware UTC datetime. Iteration ends as for lines.

        Error handling:
          ProtocolError: a line is not a JSON event (the connection is not in the JSON format, or
              the server is not a triochat server). Iterating again goes on with the next line.
          ChatClientError: as when iterating lines.
        """
        return _EventIterator(self)

    def __aiter__(self) -> ChatConnection:
        return self

    async def __anext__(self) -> str:
        """Wait for and return the next line from the server.

        Error handling:
          StopAsyncIteration: the server closed the connection, the connection broke (see
              :attr:`closed_reason`), or it was closed locally.
          ChatClientError: the server sent a line longer than one mebibyte.
        """
        while not self._received:
            if self._at_end:
                raise StopAsyncIteration
            await self._receive_more()
        return self._received.popleft()

    async def _receive_more(self) -> None:
        try:
            data = await self._stream.receive_some(_RECEIVE_SIZE)
        except trio.BrokenResourceError as exc:
            self.closed_reason = _describe_os_error(exc.__cause__ or exc)
            data = b""
        except trio.ClosedResourceError:
            # Closed on our side, possibly by another task: there is nothing more to read.
            data = b""
        if not data:
            self._at_end = True
            # A last line without its newline is still a line.
            rest = self._splitter.flush()
            if rest is not None:
                self._received.append(_decode(rest))
            return
        lines = self._splitter.feed(data)
        if any(isinstance(line, LineTooLong) for line in lines):
            # Nothing more is trusted from a server that breaks the bound: the end.
            self._at_end = True
            self._received.clear()
            self.closed_reason = "server sent an overlong line"
            raise ChatClientError("server sent an overlong line")
        self._received.extend(_decode(line) for line in lines if isinstance(line, bytes))

    async def _await_json(self, timeout: float) -> Notice:
        """Read (and drop) lines until the server confirms the JSON format."""
        complaint: str | None = None
        with trio.move_on_after(timeout):
            async for line in self:
                if line.startswith("{"):
                    try:
                        event = parse_event_line(line)
                    except ValueError:
                        continue
                    self._track(event)
                    confirmed = self.wire_format == "json"
                    if isinstance(event, Notice) and event.kind == "format" and confirmed:
                        return event
                elif line.startswith("*** error: "):
                    complaint = line.removeprefix("*** error: ")
            raise ProtocolError(
                f"the server closed the connection: {complaint}"
                if complaint
                else "the server closed the connection without switching to the JSON format"
            )
        raise ProtocolError(
            f"the server did not confirm the JSON format within {timeout:g} seconds"
        )

    async def _await_nick(self, nick: str, timeout: float) -> None:
        """On a JSON connection, wait for the answer to ``/nick NICK`` sent earlier.

        Lines read meanwhile, other than an error, are put back, so the caller still sees them.
        """
        old = self.nick
        keep: list[str] = []
        try:
            with trio.move_on_after(timeout):
                async for line in self:
                    try:
                        event = parse_event_line(line)
                    except ValueError:
                        keep.append(line)
                        continue
                    if isinstance(event, Notice) and event.error:
                        raise NickRefused(nick, event.text.removeprefix("error: "))
                    keep.append(line)
                    if isinstance(event, NickChanged) and event.sender == old:
                        self.nick = event.new  # the server's spelling of it
                        return
                    if isinstance(event, Notice) and event.kind == "nick":
                        self._track(event)
                        return
                raise ProtocolError("the server closed the connection before answering /nick")
            raise ProtocolError(f"the server did not answer /nick within {timeout:g} seconds")
        finally:
            self._received.extendleft(reversed(keep))

    def _track(self, event: Event) -> None:
        """Keep :attr:`wire_format`, :attr:`nick` and :attr:`room` up to date with *event*."""
        match event:
            case Notice(kind="format" | "welcome", data=data):
                if data.get("format") in ("text", "json"):
                    self.wire_format = data["format"]
                if isinstance(data.get("nick"), str):
                    self.nick = data["nick"]
                if isinstance(data.get("room"), str):
                    self.room = data["room"]
            case Notice(kind="nick", data=data) if isinstance(data.get("nick"), str):
                self.nick = data["nick"]
            case Notice(kind="switch", data=data):
                room = data.get("room")
                self.room = room if isinstance(room, str) else None
            case NickChanged(sender=sender, new=new) if sender == self.nick:
                self.nick = new
            case Joined(sender=sender, room=room, history=False) if sender == self.nick:
                self.room = room
            case _:
                pass


@attrs.define(eq=False)
class _EventIterator:
    """What :meth:`ChatConnection.events` returns: the connection's lines, parsed."""

    _connection: ChatConnection

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> Event:
        line = await self._connection.__anext__()
        try:
            event = parse_event_line(line)
        except ValueError as exc:
            raise ProtocolError(f"the server sent a line that is not an event: {exc}") from None
        self._connection._track(event)
        return event


@asynccontextmanager
async def connect(
    host: str | None = None,
    port: int | None = None,
    *,
    nick: str | None = None,
    connect_timeout: float = 10.0,
    wire_format: WireFormat = "text",
    url: str | None = None,
    tls: bool = False,
    cafile: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    password: str | None = None,
) -> AsyncIterator[ChatConnection]:
    """Connect to a chat server and give a :class:`ChatConnection` for the ``async with`` body.

    If *password* is given, ``/pass PASSWORD`` is the very first line sent (for servers started
    with a password). If *nick* is given, ``/nick NICK`` is sent before the body runs (after
    ``/format json``, for the JSON format).

    With ``wire_format="json"`` the connection is switched to the JSON format before the body
    runs: ``/format json`` is sent and its confirmation awaited (the server's text lines before
    it are dropped), and when *nick* is given, the server's answer to ``/nick`` is awaited too,
    so :attr:`ChatConnection.nick` is the nick the server gave you. Use
    :meth:`ChatConnection.events` and :meth:`ChatConnection.send_command` in the body.

    Leaving the block closes the connection at once, without sending ``/quit``; call
    :meth:`ChatConnection.quit` first for a polite goodbye.

    Args:
      host: A host name or IP address (default ``127.0.0.1``).
      port: The TCP port the server listens on (default 9999).
      nick: The nickname to ask for, or ``None`` to keep the one the server assigns.
      connect_timeout: Seconds to wait for the connection, and its TLS handshake, to be
          established; for the JSON format, the same again for each of the two answers awaited.
      wire_format: ``"text"`` (lines for people; the default) or ``"json"`` (typed events).
      url: Instead of *host* and *port*, an endpoint URL: ``tcp://HOST:PORT``,
          ``tls://HOST:PORT`` or ``unix:PATH`` (see :func:`~triochat.parse_endpoint`).
      tls: Use TLS to *host* and *port* (implied by a ``tls://`` URL or an *ssl_context*).
      cafile: Trust the CA certificates in this PEM file instead of the system's store.
      insecure: Do not verify the server's certificate at all. Still encrypted, but anyone on
          the network path can impersonate the server; only for testing.
      ssl_context: A client SSL context of your own, used as it is.

    Error handling:
      ConnectionFailed: the connection could not be opened: refused, unreachable, the host
          name does not resolve, the TLS handshake failed, or *connect_timeout* passed. The
          underlying error is not chained, because the message already says what happened.
          :exc:`CertificateVerificationFailed` (a subclass) when the server's certificate is
          not trusted or does not name the host. For the JSON format, also when the server
          does not confirm it (a full server, or one that is not triochat).
      NickRefused: for the JSON format, the server refused *nick* (taken, or not valid).
      ValueError: *nick* or *password* contains a line break, *wire_format* is unknown, the
          arguments contradict each other (a *url* and a *host*, TLS options without TLS), or
          *cafile* cannot be used (:exc:`~triochat.TLSConfigError`); nothing is opened.

    Anything raised in the body propagates unchanged, after the connection is closed.
    """
    if nick is not None:
        _check_line(nick)
    if password is not None:
        _check_line(password)
    if wire_format not in ("text", "json"):
        raise ValueError(f'wire_format is "text" or "json", not {wire_format!r}')
    endpoint = client_endpoint(host, port, url=url, tls=tls or ssl_context is not None)
    context = client_tls_context(
        endpoint, cafile=cafile, insecure=insecure, ssl_context=ssl_context
    )
    stream = await _open_stream(endpoint, context, connect_timeout)
    try:
        connection = ChatConnection(stream)
        if password is not None:
            await connection.send(f"/pass {password}")
        if wire_format == "json":
            await _start_json(connection, endpoint, nick, connect_timeout)
        elif nick is not None:
            await connection.send(f"/nick {nick}")
        yield connection
    finally:
        await _close_stream(stream)


async def _close_stream(stream: trio.abc.Stream) -> None:
    """A polite close first: over TLS it sends close_notify, so the server can tell that we
    left on purpose. aclose is a checkpoint and could be cancelled, hence the shield and the
    deadline; aclose_forcefully then closes the stream whatever happened."""
    with (
        trio.CancelScope(shield=True),
        trio.move_on_after(_CLOSE_TIMEOUT),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
    ):
        await stream.aclose()
    await trio.aclose_forcefully(stream)


async def _open_stream(
    endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
) -> trio.abc.Stream:
    """Open the stream of :func:`connect`, every failure worded as a :exc:`ConnectionFailed`."""
    failed_host, failed_port = endpoint.path or endpoint.host, endpoint.port
    try:
        with trio.fail_after(timeout):
            return await open_client_stream(endpoint, context)
    except trio.TooSlowError:
        reason = f"no answer within {timeout:g} seconds"
        raise ConnectionFailed(failed_host, failed_port, reason, endpoint=endpoint) from None
    except OSError as exc:
        reason = _describe_connect_error(exc)
        raise ConnectionFailed(failed_host, failed_port, reason, endpoint=endpoint) from None
    except TLSHandshakeFailed as exc:
        if exc.verification:
            raise CertificateVerificationFailed(
                failed_host, failed_port, f"TLS {exc.reason}", endpoint=endpoint
            ) from None
        reason = f"TLS handshake failed: {exc.reason}"
        raise ConnectionFailed(failed_host, failed_port, reason, endpoint=endpoint) from None


async def _start_json(
    connection: ChatConnection, endpoint: Endpoint, nick: str | None, timeout: float
) -> None:
    """The JSON handshake of :func:`connect`: the format first, then the nick."""
    host, port = endpoint.path or endpoint.host, endpoint.port
    try:
        await connection.send("/format json")
        if nick is not None:
            await connection.send(f"/nick {nick}")
        await connection._await_json(timeout)
    except (ProtocolError, ConnectionLost) as exc:
        raise ConnectionFailed(host, port, str(exc), endpoint=endpoint) from None
    if nick is not None and nick != connection.nick:
        try:
            await connection._await_nick(nick, timeout)
        except ProtocolError as exc:
            raise ConnectionFailed(host, port, str(exc), endpoint=endpoint) from None
