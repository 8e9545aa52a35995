"""Opening listeners for endpoints: TCP (IPv4, IPv6, dual-stack) and Unix domain sockets.

IPv6 and dual-stack: :func:`trio.open_tcp_listeners` sets ``IPV6_V6ONLY`` on every IPv6 socket,
so through it ``tcp://[::]:PORT`` would accept IPv6 only. We open the IPv6 wildcard (and
IPv4-mapped addresses such as ``::ffff:127.0.0.1``) ourselves with ``IPV6_V6ONLY`` cleared: one
socket then takes both IPv6 clients and IPv4 clients, which it sees as ``::ffff:a.b.c.d`` and which
the server logs as plain IPv4. Where the system does not allow clearing it (OpenBSD), the socket
stays IPv6-only and a warning says to add ``tcp://0.0.0.0:PORT``. ``tcp://:PORT`` (no host) is
trio's "every interface": one IPv4 and one IPv6-only socket.

Unix sockets: a stale socket file left by a crashed server is found by connecting to it (refused
means nobody listens) and removed; a live one is "address already in use"; a file that is not a
socket is never touched. The new file's mode is set to :data:`UNIX_SOCKET_MODE` after ``bind`` and
before ``listen``: until ``listen`` every connection is refused, so there is no moment at which a
client could get in through looser permissions, and the process umask is never changed (it is
shared by every thread). On close, the file is removed if it is still the one we created.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import attrs
import trio

from ._endpoints import Endpoint

__all__ = ["UNIX_SOCKET_MODE", "ListenFailed", "Listening", "open_listeners"]

log = logging.getLogger("triochat.server")

#: Mode of the Unix socket file: only the server's own user may connect. (Connecting to a Unix
#: socket needs write permission on its file.)
UNIX_SOCKET_MODE: Final = 0o600
#: Pending connections per listener; the kernel caps it (``net.core.somaxconn`` on Linux).
_BACKLOG: Final = 0xFFFF
#: Seconds to wait for an existing socket file to answer before deciding a server is behind it.
_STALE_PROBE_TIMEOUT: Final = 1.0


class ListenFailed(OSError):
    """An endpoint could not be opened; its ``endpoint`` attribute says which.

    ``errno`` and ``strerror`` are those of the underlying error (``errno.EADDRINUSE`` for an
    address in use), so code that handles :exc:`OSError` keeps working.
    """

    def __init__(self, endpoint: Endpoint, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.endpoint = endpoint

    def __str__(self) -> str:
        return f"cannot listen on {self.endpoint.address}: {self.strerror}"


@attrs.define(eq=False)
class Listening:
    """One open listener: the endpoint as bound (with the real port), the socket, and for Unix
    sockets the file to remove when done.

    Resource handling: :meth:`close` closes the socket and removes the socket file; it is
    synchronous, so it also runs when cleanup is cancelled, and it may be called more than once.
    """

    endpoint: Endpoint
    listener: trio.SocketListener
    #: ``getsockname()``: a (host, port, ...) tuple for TCP, the path for a Unix socket.
    address: Any
    _unix_file: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket file we made

    def close(self) -> None:
        self.listener.socket.close()
        identity, self._unix_file = self._unix_file, None
        if identity is not None:
            _remove_socket_file(self.endpoint.path, identity)

    @property
    def unix_peer(self) -> str:
        """How clients of a Unix socket are named (they have no address of their own): all of
        them share the one name ``unix:PATH``, so a per-address limit counts them together.
        """
        return self.endpoint.address


@contextlib.asynccontextmanager
async def open_listeners(
    endpoints: Sequence[Endpoint], *, reuse_port: bool = False
) -> AsyncIterator[list[Listening]]:
    """Open a listener for every endpoint, in order; close them all (and remove Unix socket
    files) when the block ends. With *reuse_port*, TCP listeners set ``SO_REUSEPORT``, so that
    several processes (``triochat serve --workers N``) listen on one port and the kernel spreads
    the connections among them.

    A TCP endpoint whose host resolves to several addresses, or that has no host (every
    interface), gets a listener per address.

    Error handling: if any endpoint fails, the ones already open are closed and
    :exc:`ListenFailed` is raised, chained to the original :exc:`OSError`.
    """
    listening: list[Listening] = []
    try:
        for endpoint in endpoints:
            try:
                listening.extend(await _open(endpoint, reuse_port))
            except OSError as exc:
                raise ListenFailed(endpoint, exc) from exc
        yield listening
    finally:
        for item in listening:
            item.close()


async def _open(endpoint: Endpoint, reuse_port: bool = False) -> list[Listening]:
    if endpoint.is_unix:
        return [await _open_unix(endpoint)]
    if _needs_dual_stack(endpoint.host):
        listeners = [await _open_dual_stack(endpoint.host, endpoint.port)]
    elif reuse_port:
        listeners = await _open_reusing_port(endpoint.host, endpoint.port)
    else:
        listeners = await trio.open_tcp_listeners(endpoint.port, host=endpoint.host or None)
    result = []
    for listener in listeners:
        address = listener.socket.getsockname()
        bound = Endpoint(scheme=endpoint.scheme, host=address[0], port=address[1])
        result.append(Listening(bound, listener, address))
    return result


async def _open_reusing_port(host: str, port: int) -> list[trio.SocketListener]:
    """A listener per address of *host* (every interface if empty), with ``SO_REUSEPORT``."""
    infos = await trio.socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[trio.socket.SocketType] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = trio.socket.socket(family, kind, proto)
            sockets.append(sock)  # closed with the others on failure
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            await sock.bind(address)
            sock.listen(_BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return [trio.SocketListener(sock) for sock in sockets]


def _needs_dual_stack(host: str) -> bool:
    """Whether *host* is an IPv6 address that can only work with ``IPV6_V6ONLY`` cleared: the
    IPv6 wildcard (which should take IPv4 too) or an IPv4-mapped address.
    """
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return address.is_unspecified or address.ipv4_mapped is not None


async def _open_dual_stack(host: str, port: int) -> trio.SocketListener:
    sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":
            # As trio does: a restarted server can bind while old connections are in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except OSError:
            log.warning(
                "this system keeps [%s]:%d IPv6-only; listen on tcp://0.0.0.0:%d too for IPv4",
                host,
                port,
                port,
            )
        await sock.bind((host, port))
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def _open_unix(endpoint: Endpoint) -> Listening:
    path = endpoint.path
    await _remove_stale_socket_file(path)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.bind(path)
        try:
            # Before listen(): until then every connection attempt is refused.
            os.chmod(path, UNIX_SOCKET_MODE)
            info = os.stat(path)
            sock.listen(_BACKLOG)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
    except BaseException:
        sock.close()
        raise
    return Listening(endpoint, trio.SocketListener(sock), path, (info.st_dev, info.st_ino))


async def _remove_stale_socket_file(path: str) -> None:
    """Remove *path* if it is a socket nobody listens on; refuse if someone does."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise FileExistsError(errno.EEXIST, f"{path} exists and is not a socket")
    with trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            with trio.move_on_after(_STALE_PROBE_TIMEOUT):
                await probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
            log.warning("removed the stale socket file %s (left by a server that stopped)", path)
            return
        except FileNotFoundError:
            return
        except BlockingIOError:
            pass  # a full backlog: somebody is listening, and busy
    # Connected, or no answer in time: a server is alive there.
    raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))


def _remove_socket_file(path: str, identity: tuple[int, int]) -> None:
    try:
        info = os.lstat(path)
        if (info.st_dev, info.st_ino) == identity:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the socket file %s: %s", path, exc.strerror)
