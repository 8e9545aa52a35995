"""TLS for both sides: SSL contexts built with clear errors, and the server's bounded handshake.

Only TLS 1.2 and newer are accepted, by the server and by the client: TLS 1.0 and 1.1 were
deprecated by RFC 8996 (they rely on MD5 and SHA-1 in the handshake and lack AEAD ciphers), and
every TLS library of the last decade speaks 1.2, so refusing the older versions costs no real
peer and leaves an attacker nothing weaker to downgrade to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from typing import Final, NoReturn

import trio

__all__ = [
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "MINIMUM_TLS_VERSION",
    "TLSConfigError",
    "client_ssl_context",
    "describe_tls_error",
    "server_handshake",
    "server_ssl_context",
]

log = logging.getLogger("triochat.server")

#: Seconds a client gets to complete the TLS handshake. Until it does, it holds a socket and a
#: place among ``max_clients`` but is not a member; one that stalls is cut off after this long.
DEFAULT_TLS_HANDSHAKE_TIMEOUT: Final = 10.0
#: The oldest protocol version either side accepts (see the module docstring for why).
MINIMUM_TLS_VERSION: Final = ssl.TLSVersion.TLSv1_2
# OpenSSL reasons that mean "the first bytes were not a TLS record at all".
_NOT_TLS_REASONS: Final = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL"})
# OpenSSL reasons for a connection closed in the middle of the handshake.
_EOF: Final = frozenset({"UNEXPECTED_EOF_WHILE_READING", "EOF_OCCURRED_IN_VIOLATION_OF_PROTOCOL"})
# How long the plain-text reply above may take to be sent.
_NOT_TLS_REPLY_TIMEOUT: Final = 0.5
# How much of a certificate or key file is read to check what it is; real ones are a few KiB.
_MAX_PEM_FILE: Final = 1024 * 1024


class TLSConfigError(ValueError):
    """A certificate, key or CA file that cannot be used. ``str(exc)`` is one line for a person."""


def _read_pem(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(_MAX_PEM_FILE)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TLSConfigError(
            f"cannot read the {what} {path}: {reason[:1].lower()}{reason[1:]}"
        ) from None


def _refuse_passphrase() -> NoReturn:
    # Called by OpenSSL instead of prompting on the terminal for a key's passphrase.
    raise TLSConfigError("the key is encrypted with a passphrase")


def server_ssl_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server-side context with the certificate chain in *cert* and the private key in *key*.

    Both are PEM files; *cert* may hold the whole chain (the server's certificate first).

    Error handling: :exc:`TLSConfigError` naming the file and the problem: missing or unreadable,
    not PEM, an encrypted key (a server cannot ask for a passphrase), or a key that does not
    belong to the certificate.
    """
    cert, key = os.fspath(cert), os.fspath(key)
    cert_pem = _read_pem(cert, "TLS certificate")
    key_pem = _read_pem(key, "TLS key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise TLSConfigError(f"the TLS certificate {cert} is not a PEM certificate")
    if b"PRIVATE KEY-----" not in key_pem:
        raise TLSConfigError(f"the TLS key {key} is not a PEM private key")
    if b"ENCRYPTED" in key_pem:
        raise TLSConfigError(
            f"the TLS key {key} is encrypted with a passphrase; give the server an unencrypted "
            "key that only its own user can read"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_TLS_VERSION
    try:
        context.load_cert_chain(cert, key, password=_refuse_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TLSConfigError(
                f"the TLS certificate {cert} and the key {key} do not belong together"
            ) from None
        raise TLSConfigError(
            f"cannot load the TLS certificate {cert} with the key {key}: {exc.reason or exc}"
        ) from None
    except OSError as exc:  # the files changed under us since they were read
        raise TLSConfigError(f"cannot load the TLS certificate {cert}: {exc.strerror}") from None
    return context


def client_ssl_context(
    *, cafile: str | os.PathLike[str] | None = None, insecure: bool = False
) -> ssl.SSLContext:
    """A client-side context that verifies the server's certificate and host name.

    Args:
      cafile: PEM file of the certificate authorities to trust instead of the system's store
        (for a private CA, or a self-signed server certificate).
      insecure: verify nothing. The connection is encrypted but anyone on the network path can
        pretend to be the server and read everything; only for testing.

    Error handling: :exc:`TLSConfigError` if *cafile* cannot be read or holds no certificate;
    :exc:`ValueError` if both *cafile* and *insecure* are given.
    """
    if insecure and cafile is not None:
        raise ValueError("a CA file and insecure=True contradict each other: choose one")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = MINIMUM_TLS_VERSION
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cafile is not None:
        path = os.fspath(cafile)
        if b"-----BEGIN CERTIFICATE-----" not in _read_pem(path, "CA file"):
            raise TLSConfigError(f"the CA file {path} holds no PEM certificate")
        try:
            context.load_verify_locations(cafile=path)
        except ssl.SSLError as exc:
            raise TLSConfigError(f"cannot load the CA file {path}: {exc.reason or exc}") from None
    return context


def _closed_during_handshake(exc: BaseException | None) -> bool:
    return isinstance(exc, ssl.SSLEOFError) or (
        isinstance(exc, ssl.SSLError) and exc.reason in _EOF
    )


def describe_tls_error(exc: BaseException | None) -> str:
    """A short lower-case explanation of why a TLS handshake failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message}"
    if _closed_during_handshake(exc):
        return "the other side closed the connection during the handshake"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        if exc.reason in _NOT_TLS_REASONS:
            return f"not TLS ({exc.reason.lower().replace('_', ' ')})"
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return "connection closed during the handshake"


async def server_handshake(
    stream: trio.abc.Stream,
    context: ssl.SSLContext,
    *,
    peer: str,
    timeout: float,
    not_tls_reply: bytes = b"",
) -> trio.SSLStream[trio.abc.Stream] | None:
    """Do the server side of a TLS handshake on *stream*, within *timeout* seconds.

    Returns the encrypted stream, or ``None`` if the handshake failed or timed out; in that case
    one log line says why and *stream* is closed. A peer that spoke plain text is told so in
    plain text before it is disconnected.

    Resource handling: *stream* is closed on every path that returns ``None`` and on
    cancellation; on success the returned stream owns it.
    """
    secured = trio.SSLStream(stream, context, server_side=True)
    done = False
    try:
        with trio.move_on_after(timeout):
            await secured.do_handshake()
            done = True
            log.debug("TLS handshake with %s done (%s)", peer, secured.version())
            return secured
        log.info("TLS handshake with %s timed out after %g s; disconnected", peer, timeout)
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        reason = describe_tls_error(cause)
        if _closed_during_handshake(cause):
            # What a client that does not trust our certificate does: it tells only its user.
            reason = "the client closed the connection (does it trust the certificate?)"
        log.info("TLS handshake with %s failed: %s; disconnected", peer, reason)
        if isinstance(cause, ssl.SSLError) and cause.reason in _NOT_TLS_REASONS:
            # Nothing was sent yet: the raw stream is clean for one line a person can read.
            with trio.move_on_after(_NOT_TLS_REPLY_TIMEOUT):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(not_tls_reply)
    finally:
        if not done:
            await trio.aclose_forcefully(stream)
    return None
