"""The errors the client raises on purpose, and how it words what went wrong with a socket."""

from __future__ import annotations

import errno
import socket

from ..drivers._endpoints import Endpoint

__all__ = [
    "CertificateVerificationFailed",
    "ChatClientError",
    "ConnectionFailed",
    "ConnectionLost",
    "NickRefused",
    "ProtocolError",
]


class ChatClientError(Exception):
    """Base class of every error this client raises on purpose."""


class ConnectionFailed(ChatClientError):
    """The connection could not be opened (or its TLS handshake failed).

    ``str(exc)`` is a complete sentence for a person, such as
    ``cannot connect to 127.0.0.1:9999: connection refused``; the parts are kept in
    :attr:`host`, :attr:`port`, :attr:`reason` and :attr:`endpoint` for programs.

    Attributes:
      host: the host that was asked for (for a Unix socket: its path).
      port: the port that was asked for (0 for a Unix socket).
      reason: what went wrong, such as ``connection refused``.
      endpoint: the endpoint that was tried, if known.
    """

    def __init__(
        self, host: str, port: int, reason: str, *, endpoint: Endpoint | None = None
    ) -> None:
        super().__init__(host, port, reason)
        self.host = host
        self.port = port
        self.reason = reason
        self.endpoint = endpoint

    def __str__(self) -> str:
        if self.endpoint is None:
            where = _format_address(self.host, self.port)
        else:
            where = self.endpoint.address
        return f"cannot connect to {where}: {self.reason}"


class CertificateVerificationFailed(ConnectionFailed):
    """The server's TLS certificate could not be verified: not signed by a trusted CA (give the
    CA with ``cafile``), expired, or not naming the host connected to.
    """


class ConnectionLost(ChatClientError):
    """A line could not be sent because the connection is broken or already closed."""


class ProtocolError(ChatClientError):
    """The server said something the client cannot understand.

    Raised when a line on a JSON connection is not an event, and when the switch to the JSON
    format is not confirmed. Iterating :meth:`ChatConnection.events` again after this error goes
    on with the next line.
    """


class NickRefused(ChatClientError):
    """The server refused the nick asked for in :func:`connect` (JSON connections only).

    :attr:`nick` is the nick asked for; :attr:`reason` is the server's explanation, such as
    ``the nick alice is taken``.

    Attributes:
      nick: the nick asked for.
      reason: why the server refused it.
    """

    def __init__(self, nick: str, reason: str) -> None:
        super().__init__(nick, reason)
        self.nick = nick
        self.reason = reason

    def __str__(self) -> str:
        return f"the server refused the nick {self.nick}: {self.reason}"


def _format_address(host: str, port: int) -> str:
    # An IPv6 literal needs brackets, or its colons run into the port's.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe_os_error(exc: BaseException) -> str:
    """A short lower-case explanation of a socket error, such as ``connection reset by peer``."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _describe_connect_error(exc: OSError) -> str:
    # open_tcp_stream tries every address the host name resolves to and, when all of them fail,
    # raises a summary OSError whose __cause__ groups the individual failures. Look through it.
    failures: list[OSError] = [exc]
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        failures = [e for e in cause.exceptions if isinstance(e, OSError)] or failures
    if any(isinstance(e, ConnectionRefusedError) for e in failures):
        return "connection refused"
    first = failures[0]
    if isinstance(first, socket.gaierror):
        return f"cannot resolve host name ({_describe_os_error(first)})"
    if first.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable"
    return _describe_os_error(first)
