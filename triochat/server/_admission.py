"""Who gets in: the server's client limits, the connections counted per address, refusals.

A client is counted here from the moment it is accepted (before any TLS handshake or web request)
until its connection ends, so that ``max_clients`` and ``max_clients_per_ip`` hold however far a
client has got. Refusals are logged at most once per :data:`REFUSAL_LOG_INTERVAL`, with a count,
so that a host hammering the port cannot flood the log.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import attrs
import trio

from ..protocols._codec import Codec, Refusal
from ..protocols.irc import IrcCodec
from ..protocols.text import LineCodec
from ._config import ServerConfig

__all__ = ["REFUSAL_LOG_INTERVAL", "Admission", "refusal_line", "refuse"]

log = logging.getLogger("triochat.server")

# Refused connections are logged at most once per this many seconds (with a count), so that a
# host hammering the port cannot flood the log either.
REFUSAL_LOG_INTERVAL: Final = 10.0


def refusal_line(codec: Codec | None, refusal: Refusal, *, limit: int = 0) -> bytes:
    """What turns a client of *codec* (``None``: the line protocol) away, in its protocol."""
    refuse = codec.refusal if isinstance(codec, IrcCodec) else LineCodec.refusal
    return refuse(refusal, limit=limit)


@attrs.define(eq=False)
class Admission:
    """The counts behind a server's client limits and its statistics of refusals."""

    #: Connections accepted, including refused ones.
    accepted: int = 0
    refused_full: int = 0
    refused_per_ip: int = 0
    #: TLS handshakes and web requests in progress (these clients count towards ``max_clients``).
    handshaking: int = 0
    handshake_failures: int = 0
    #: Clients counted under each IP address (an address with none has no entry).
    per_ip: dict[str, int] = attrs.field(factory=dict)
    _unlogged_refusals: int = 0
    _last_refusal_log: float = -REFUSAL_LOG_INTERVAL

    def refusal(
        self,
        peer: str,
        ip: str | None,
        codec: Codec | None,
        *,
        config: ServerConfig,
        connections: int,
    ) -> bytes | None:
        """Count a new client; the line that refuses it if the server (with *connections*
        connections) or its address is full (in the client's protocol)."""
        self.accepted += 1
        busy = connections + self.handshaking
        if busy >= config.max_clients:
            self.refused_full += 1
            self._log_refusal(peer, f"server full ({busy} clients)")
            return refusal_line(codec, Refusal.SERVER_FULL)
        if ip is not None and self.per_ip.get(ip, 0) >= config.max_clients_per_ip:
            self.refused_per_ip += 1
            self._log_refusal(peer, f"{config.max_clients_per_ip} connections from {ip}")
            return refusal_line(
                codec, Refusal.TOO_MANY_FROM_ADDRESS, limit=config.max_clients_per_ip
            )
        return None

    def count(self, ip: str) -> None:
        """One more client from *ip*."""
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1

    def release(self, ip: str) -> None:
        """One client fewer from *ip* (the entry goes when it reaches zero)."""
        remaining = self.per_ip.pop(ip) - 1
        if remaining:
            self.per_ip[ip] = remaining

    def _log_refusal(self, peer: str, why: str) -> None:
        now = trio.current_time()
        self._unlogged_refusals += 1
        if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
            more = self._unlogged_refusals - 1
            since = f" ({more} more refused since the last such line)" if more else ""
            log.warning(
                "refused %s: %s%s", peer, why, since, extra={"address": peer, "reason": why}
            )
            self._last_refusal_log = now
            self._unlogged_refusals = 0


async def refuse(stream: trio.abc.Stream, message: bytes, *, tls: bool) -> None:
    """Send *message* (unless the client expects TLS) within a second, and close *stream*."""
    if not tls:  # a TLS client could not read a plain-text line
        with trio.move_on_after(1):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(message)
    await trio.aclose_forcefully(stream)
