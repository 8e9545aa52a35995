"""How the client reaches a server: which endpoint, with which TLS settings, over which stream.

:func:`~triochat.connect` takes either a host and port (with ``tls=True`` for TLS) or an endpoint
URL (``tcp://``, ``tls://``, ``unix:``); both end here as one :class:`Endpoint`. TLS verifies the
server's certificate against the system's trust store and its host name by default.
"""

from __future__ import annotations

import os
import ssl
from typing import Final

import trio

from ..drivers._endpoints import DEFAULT_PORT, Endpoint, parse_endpoint
from ..drivers._tls import client_ssl_context, describe_tls_error

__all__ = ["DEFAULT_HOST", "TLSHandshakeFailed", "client_endpoint", "client_tls_context"]

#: Where the client goes when no host is given: this machine, over IPv4.
DEFAULT_HOST: Final = "127.0.0.1"


class TLSHandshakeFailed(Exception):
    """Internal: the TLS handshake failed; *verification* tells whether the certificate did."""

    def __init__(self, reason: str, *, verification: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.verification = verification


def client_endpoint(host: str | None, port: int | None, *, url: str | None, tls: bool) -> Endpoint:
    """The endpoint described by :func:`~triochat.connect`'s arguments.

    Error handling: :exc:`ValueError` for a URL that does not parse, a URL given together with a
    host or port, ``tls=True`` with a ``tcp://`` or ``unix:`` URL, or an endpoint with no host or
    with port 0.
    """
    if url is not None:
        if host is not None or port is not None:
            raise ValueError("give either url or host and port, not both")
        endpoint = parse_endpoint(url)
        if endpoint.is_web:
            raise ValueError(
                f"{url!r} is a web chat endpoint: open it in a browser; this client speaks "
                "tcp://, tls:// and unix:"
            )
        if endpoint.protocol != "line":
            raise ValueError(f"{url!r} is an IRC endpoint: connect to it with an IRC client")
        if tls and not endpoint.is_tls:
            raise ValueError(f"tls=True does not go with {url!r}: write tls://HOST:PORT")
    else:
        endpoint = Endpoint.tcp(
            DEFAULT_HOST if host is None else host,
            DEFAULT_PORT if port is None else port,
            tls=tls,
        )
    if not endpoint.is_unix:
        if not endpoint.host:
            raise ValueError(f"{endpoint}: a server's address needs a host")
        if endpoint.port == 0:
            raise ValueError(f"{endpoint}: a server's port cannot be 0")
    return endpoint


def client_tls_context(
    endpoint: Endpoint,
    *,
    cafile: str | os.PathLike[str] | None,
    insecure: bool,
    ssl_context: ssl.SSLContext | None,
) -> ssl.SSLContext | None:
    """The SSL context to connect to *endpoint* with, or ``None`` for no TLS.

    Error handling: :exc:`ValueError` when TLS options are given for an endpoint without TLS or
    contradict each other; :exc:`~triochat.TLSConfigError` (a :exc:`ValueError`) when *cafile*
    cannot be used.
    """
    if not endpoint.is_tls:
        if cafile is not None or insecure or ssl_context is not None:
            raise ValueError(
                f"cafile, insecure and ssl_context are for TLS, and {endpoint} has none: "
                "use tls=True or a tls:// URL"
            )
        return None
    if ssl_context is not None:
        if cafile is not None or insecure:
            raise ValueError("give either ssl_context or cafile/insecure, not both")
        return ssl_context
    return client_ssl_context(cafile=cafile, insecure=insecure)


async def open_client_stream(endpoint: Endpoint, context: ssl.SSLContext | None) -> trio.abc.Stream:
    """Connect to *endpoint*; with *context*, complete the TLS handshake before returning.

    Error handling: :exc:`OSError` from connecting (as :func:`trio.open_tcp_stream` and
    :func:`trio.open_unix_socket` raise it); :exc:`TLSHandshakeFailed` when TLS fails. Nothing is
    left open after an error or a cancellation.
    """
    if endpoint.is_unix:
        return await trio.open_unix_socket(endpoint.path)
    stream = await trio.open_tcp_stream(endpoint.host, endpoint.port)
    if context is None:
        return stream
    # server_hostname is what the certificate must name: a host name, or an IP address.
    secured = trio.SSLStream(stream, context, server_hostname=endpoint.host)
    try:
        await secured.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        cause = exc.__cause__
        raise TLSHandshakeFailed(
            describe_tls_error(cause),
            verification=isinstance(cause, ssl.SSLCertVerificationError),
        ) from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return secured
