"""Endpoint URLs: where a server listens and where a client connects. Sans-IO, no trio.

The grammar, shared by ``triochat serve --listen`` and ``triochat connect --server``::

    endpoint  = tcp | tls | irc | ircs | ws | wss | unix
    tcp       = "tcp://" host [ ":" port ]
    tls       = "tls://" host [ ":" port ]
    irc       = "irc://" host [ ":" port ]     (IRC, port 6667 when left out)
    ircs      = "ircs://" host [ ":" port ]    (IRC over TLS, port 6697 when left out)
    ws        = "ws://" host [ ":" port ]      (the web chat: HTTP and WebSocket, listening only)
    wss       = "wss://" host [ ":" port ]     (the same over TLS)
    unix      = "unix:" path
    host      = ipv4-address | "[" ipv6-address "]" | host-name | ""   ("" = every interface)
    host-name = labels of letters, digits, "-" and "_", joined by "."
    port      = 1*5DIGIT, 0 to 65535; 9999 when left out (IRC: 6667, 6697; web: 8080); 0 asks the
                kernel for a free port
    path      = any text without control characters, not starting with "//", at most
                107 bytes once encoded (the size of ``sun_path`` on Linux)

``unix:///run/chat.sock`` is accepted as a spelling of ``unix:/run/chat.sock``. The scheme is not
case-sensitive. Nothing is resolved or opened here: a host name is only checked for its form.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from typing import Any, Final, Literal

import attrs

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_WEB_PORT",
    "SCHEMES",
    "Endpoint",
    "parse_endpoint",
]

Scheme = Literal["tcp", "tls", "irc", "ircs", "ws", "wss", "unix"]

#: The port used when an endpoint URL does not give one.
DEFAULT_PORT: Final = 9999
#: The host a server listens on, and a client connects to, when none is given: this machine.
DEFAULT_HOST: Final = "127.0.0.1"
SCHEMES: Final[tuple[Scheme, ...]] = ("tcp", "tls", "irc", "ircs", "ws", "wss", "unix")
#: The port of IRC endpoints that do not give one: plain, and over TLS.
DEFAULT_IRC_PORT: Final = 6667
DEFAULT_IRCS_PORT: Final = 6697
#: The port of ``ws://`` and ``wss://`` endpoints (the web chat) that do not give one.
DEFAULT_WEB_PORT: Final = 8080
_DEFAULT_PORTS: Final = {
    "irc": DEFAULT_IRC_PORT,
    "ircs": DEFAULT_IRCS_PORT,
    "ws": DEFAULT_WEB_PORT,
    "wss": DEFAULT_WEB_PORT,
}
#: Longest Unix socket path in bytes: ``sun_path`` holds 108 bytes on Linux (104 on macOS and
#: the BSDs), one of which is the terminating NUL.
MAX_UNIX_PATH: Final = 103 if sys.platform == "darwin" or "bsd" in sys.platform else 107

_STREAM_SCHEMES: Final[dict[str, Scheme]] = {
    "tcp": "tcp",
    "tls": "tls",
    "irc": "irc",
    "ircs": "ircs",
    "ws": "ws",
    "wss": "wss",
}
_FORMS: Final = (
    "expected tcp://HOST:PORT, tls://HOST:PORT, irc://HOST:PORT, ircs://HOST:PORT, "
    "ws://HOST:PORT, wss://HOST:PORT or unix:PATH"
)
# Underscores are not in RFC 1123, but container and /etc/hosts names use them and resolvers
# accept them, so refusing them would only get in the way.
_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")
_DIGITS_AND_DOTS: Final = re.compile(r"[0-9.]+\Z")
_PORT: Final = re.compile(r"[0-9]{1,5}\Z")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_HOST_NAME: Final = 253


def _check_host(host: str) -> None:
    """Raise ValueError unless *host* is "", an IPv4 or IPv6 address, or a well-formed name."""
    if host == "":
        return
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
        return
    if _DIGITS_AND_DOTS.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv4 address") from None
        return
    if len(host) > _MAX_HOST_NAME or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{host!r} is not a valid host name (letters, digits, '-' and '.' only)")


def _check_path(path: str) -> None:
    if not path:
        raise ValueError("a unix: endpoint needs a socket path, as in unix:/run/triochat.sock")
    if _CONTROL.search(path):
        raise ValueError(f"the socket path {path!r} contains a control character")
    if path.startswith("//"):
        raise ValueError(f"the socket path {path!r} cannot start with '//'")
    try:
        size = len(os.fsencode(path))
    except UnicodeEncodeError:
        raise ValueError(
            f"the socket path {path!r} cannot be encoded for the file system"
        ) from None
    if size > MAX_UNIX_PATH:
        raise ValueError(
            f"the socket path is too long ({size} bytes; the limit is {MAX_UNIX_PATH}): "
            "use a shorter directory"
        )


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {port}")


def _check_scheme(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in SCHEMES:
        raise ValueError(f"unknown scheme {value!r}: {_FORMS}")


@attrs.frozen(kw_only=True)
class Endpoint:
    """One place to listen on or connect to: a TCP or TLS host and port, or a Unix socket path.

    Make one with :func:`parse_endpoint`, :meth:`tcp` or :meth:`unix`; ``str(endpoint)`` is its
    URL, and ``parse_endpoint(str(endpoint)) == endpoint`` always holds.

    Attributes:
      scheme: ``"tcp"``, ``"tls"`` (TCP with TLS on top), ``"ws"`` (the web chat: the page and
        its WebSocket, over HTTP), ``"wss"`` (the same over TLS) or ``"unix"``.
      host: for TCP and TLS, an IP address (IPv6 without brackets), a host name, or ``""`` for
        every interface (listening only); ``""`` for Unix sockets.
      port: for TCP and TLS, the port (0 lets the kernel choose when listening); 0 for Unix.
      path: for Unix sockets, the socket file's path; ``""`` otherwise.
    """

    scheme: Scheme = attrs.field(validator=_check_scheme)
    host: str = ""
    port: int = 0
    path: str = ""

    def __attrs_post_init__(self) -> None:
        if self.scheme == "unix":
            if self.host or self.port:
                raise ValueError("a unix: endpoint has a path, not a host and port")
            _check_path(self.path)
        else:
            if self.path:
                raise ValueError(f"a {self.scheme}:// endpoint has a host and port, not a path")
            _check_host(self.host)
            _check_port(self.port)

    @classmethod
    def tcp(cls, host: str, port: int = DEFAULT_PORT, *, tls: bool = False) -> Endpoint:
        """A TCP endpoint (with TLS on top if *tls*); *host* ``""`` means every interface."""
        return cls(scheme="tls" if tls else "tcp", host=host, port=port)

    @classmethod
    def web(cls, host: str, port: int = DEFAULT_WEB_PORT, *, tls: bool = False) -> Endpoint:
        """A web chat endpoint: the page and its WebSocket over HTTP (HTTPS if *tls*)."""
        return cls(scheme="wss" if tls else "ws", host=host, port=port)

    @classmethod
    def unix(cls, path: str | os.PathLike[str]) -> Endpoint:
        """A Unix domain socket at *path*."""
        return cls(scheme="unix", path=os.fspath(path))

    @property
    def is_unix(self) -> bool:
        """Whether this is a Unix domain socket."""
        return self.scheme == "unix"

    @property
    def is_tls(self) -> bool:
        """Whether TLS runs on top of this TCP endpoint (``tls://``, ``ircs://``, ``wss://``)."""
        return self.scheme in ("tls", "ircs", "wss")

    @property
    def is_web(self) -> bool:
        """Whether this endpoint serves the web chat (``ws://`` and ``wss://``)."""
        return self.scheme in ("ws", "wss")

    @property
    def protocol(self) -> str:
        """The protocol the clients of this endpoint speak.

        That is ``"irc"`` (``irc://``, ``ircs://``), ``"web"`` (``ws://``, ``wss://``) or
        ``"line"`` (the line protocol, which is text, and JSON lines on request).
        """
        if self.is_web:
            return "web"
        return "irc" if self.scheme in ("irc", "ircs") else "line"

    @property
    def address(self) -> str:
        """The form logs and messages show, such as ``127.0.0.1:9999`` for plain TCP (``*:9999``
        for every interface, ``[::1]:9999`` for IPv6), ``tls://127.0.0.1:6697`` for TLS, or
        ``unix:PATH``; for the web chat, the page's address: ``http://127.0.0.1:8080/`` (or
        ``https://``).
        """
        if self.is_unix:
            return f"unix:{self.path}"
        host = self.host or "*"
        hostport = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        if self.is_web:
            return f"{'https' if self.is_tls else 'http'}://{hostport}/"
        if self.scheme != "tcp":
            return f"{self.scheme}://{hostport}"
        return hostport

    def __str__(self) -> str:
        if self.is_unix:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """Parse an endpoint URL (see the module's docstring for the forms).

    Error handling: :exc:`ValueError` with a message that names the mistake and, where it helps,
    shows the right form, such as ``an IPv6 address needs brackets: tcp://[::1]:9999``.
    """
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or (scheme.lower() != "unix" and not rest.startswith("//")):
        raise ValueError(f"{text!r} is not an endpoint URL: {_FORMS}")
    scheme = scheme.lower()
    if scheme == "unix":
        if rest.startswith("//"):
            if not rest.startswith("///"):
                raise ValueError(
                    f"{text!r}: write unix:PATH, as in unix:/run/triochat.sock or unix:chat.sock"
                )
            rest = rest[2:]
        return Endpoint(scheme="unix", path=rest)
    stream_scheme = _STREAM_SCHEMES.get(scheme)
    if stream_scheme is None:
        raise ValueError(f"unknown scheme {scheme!r} in {text!r}: {_FORMS}")
    authority = rest[2:]
    if "/" in authority or "?" in authority or "#" in authority or "@" in authority:
        raise ValueError(
            f"{text!r}: a {scheme}:// endpoint is only HOST:PORT, with nothing after it"
        )
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise ValueError(f"{text!r}: missing ']' after the IPv6 address")
        if ":" not in host:
            raise ValueError(f"{text!r}: brackets are only for IPv6 addresses")
        if after and not after.startswith(":"):
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
        port_text = after[1:] if after else None
    else:
        if authority.count(":") > 1:
            raise ValueError(f"{text!r}: an IPv6 address needs brackets: {scheme}://[::1]:9999")
        host, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        port = _DEFAULT_PORTS.get(stream_scheme, DEFAULT_PORT)
    elif not _PORT.match(port_text):
        raise ValueError(f"{text!r}: {port_text!r} is not a port number (0-65535)")
    else:
        port = int(port_text)
    try:
        return Endpoint(scheme=stream_scheme, host=host, port=port)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
