"""How clients are named: one place for socket addresses as text, the IP a client is counted
under, and the address part of a peer name (sans-IO)."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

__all__ = ["address_key", "format_address", "peer_address"]


def format_address(address: Any) -> str:
    """``127.0.0.1:9999`` or ``[::1]:9999`` for a socket address; anything else as text.

    An IPv4 client of a dual-stack IPv6 socket appears as ``::ffff:a.b.c.d``; it is shown as the
    IPv4 address it is, so that one client has one name whichever socket it came through.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        if host.startswith("::ffff:"):
            with contextlib.suppress(ValueError):
                mapped = ipaddress.IPv6Address(host).ipv4_mapped
                if mapped is not None:
                    host = str(mapped)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def address_key(address: Any) -> str | None:
    """The IP address that the per-address limit counts connections by; ``None`` if not IP.

    An IPv4 address mapped into IPv6 (``::ffff:192.0.2.1``) counts as the IPv4 address.
    """
    if not isinstance(address, tuple) or not address:
        return None
    host = str(address[0])
    if host.startswith("::ffff:"):
        with contextlib.suppress(ValueError):
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
            if mapped is not None:
                return str(mapped)
    return host


def peer_address(peer: str) -> str:
    """The address part of a peer name: ``127.0.0.1:5000`` → ``127.0.0.1``, ``[::1]:5000`` →
    ``::1``; anything else (``unix:...``, test names) is returned as it is."""
    if peer.startswith("["):
        return peer[1 : peer.find("]")] if "]" in peer else peer
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdecimal() and ":" not in host else peer
