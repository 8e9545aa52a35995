"""Running ``triochat serve``: start the server (and its metrics and admin console), reload it
on SIGHUP, stop it on SIGINT or SIGTERM (or the admin ``shutdown``, or ``quit`` at its prompt).

The first signal stops it gracefully (:meth:`ChatServer.shutdown`), a second one at once
(``shutdown(grace=0)``); either way the command exits 0, and no signal can end it with a
traceback or kill it: from before Trio starts until the process exits, the command's own
handlers take both signals whenever Trio's signal receiver does not.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..drivers._endpoints import Endpoint
from ..drivers._listeners import ListenFailed
from ..drivers._tls import TLSConfigError
from ..server._admin import AdminConsole, serve_control
from ..server._config import ServerConfig
from ..server._metrics import MetricsUnavailable, serve_metrics
from ..server._server import ChatServer
from ._console import run_console

if TYPE_CHECKING:
    from ..engines._redis import RedisEngine
    from ._reload import Reloader

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "ServeOptions",
    "hold_stop_signals",
    "notify_systemd",
    "serve_until_stopped",
]

log = logging.getLogger("triochat.cli")

#: Exit codes: 0 success, 1 a runtime error (address in use, connection refused), 2 bad usage.
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2

#: What stops ``triochat serve``: the first gracefully, a second one at once.
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


@attrs.frozen(kw_only=True)
class ServeOptions:
    """What ``triochat serve`` runs besides the server itself."""

    config: ServerConfig
    json_logs: bool = False
    #: ``tcp://HOST:PORT`` for /metrics and /healthz.
    metrics: Endpoint | None = None
    #: ``unix:PATH`` for the admin console.
    control: Endpoint | None = None
    #: Reads the settings again (SIGHUP, ``reload``); ``None``: nothing to reload.
    reloader: Reloader | None = None
    #: Whether to read admin commands from the terminal (standard input is one).
    console: bool = False
    #: ``redis://...``: rooms shared with other processes through Redis (``--engine``).
    engine: str | None = None


def hold_stop_signals() -> list[int]:
    """Make SIGINT and SIGTERM only note themselves in the returned list, from now until the
    process exits, except while :func:`serve_until_stopped` listens to them itself; and SIGHUP
    do nothing then (its default would end the process).

    So no KeyboardInterrupt can be raised anywhere (trio installs no handler of its own then),
    a signal that comes before the server starts is not lost, and one that comes while
    everything stops (or that trio's signal receiver hands back as it closes) changes nothing.
    """
    received: list[int] = []

    def note(signum: int, frame: object) -> None:
        received.append(signum)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, note)
    signal.signal(signal.SIGHUP, lambda signum, frame: None)
    return received


@attrs.define(eq=False)
class _Stop:
    """The request to stop gracefully (a signal, ``quit`` at the console, the admin
    ``shutdown``), with the grace period asked for."""

    requested: trio.Event = attrs.field(factory=trio.Event)
    grace: float | None = None

    def request(self, grace: float | None) -> None:
        if not self.requested.is_set():
            self.grace = grace
            self.requested.set()


async def serve_until_stopped(options: ServeOptions, early_signals: list[int]) -> int:
    """Serve until a signal (or the admin console) stops the server; the exit code.
    *early_signals*: the list of :func:`hold_stop_signals`, where any signal that came before
    this started is noted."""
    with trio.open_signal_receiver(*_STOP_SIGNALS, signal.SIGHUP) as signals:
        if early_signals:
            log.info("%s received: not starting", signal.Signals(early_signals[0]).name)
            return EXIT_OK
        async with trio.open_nursery() as nursery:
            started = await _start(nursery, options.config, options.engine)
            if isinstance(started, int):
                return started  # the exit code of an error (reported)
            server, engine = started
            stop = _Stop()
            reload = options.reloader.reload if options.reloader is not None else None
            if options.reloader is not None:
                options.reloader.server = server
            console = AdminConsole(server, stop=stop.request, reload=reload)
            if not await _start_operations(nursery, console, options):
                await server.shutdown(grace=0)
                return EXIT_ERROR
            _announce(server, options)
            nursery.start_soon(_watch_signals, signals, server, stop, reload)
            if options.console:
                nursery.start_soon(run_console, console)
            await stop.requested.wait()
            notify_systemd("STOPPING=1")
            await server.shutdown(grace=stop.grace)
            if engine is not None:
                await engine.drain()  # the other processes hear of the departures at once
            nursery.cancel_scope.cancel()  # no second signal came: stop waiting for one
    return EXIT_OK


def _announce(server: ChatServer, options: ServeOptions) -> None:
    addresses = ", ".join(e.address for e in server.endpoints)
    if options.json_logs:  # every line of stderr is then a JSON object
        log.info("serving on %s; Ctrl-C stops", addresses)
    else:
        # One write: the log's writer thread shares stderr, and print() writes the line and
        # its newline separately, so a log line could land between them.
        sys.stderr.write(f"triochat: serving on {addresses}; Ctrl-C stops\n")
        sys.stderr.flush()
    notify_systemd("READY=1")


async def _watch_signals(
    signals: AsyncIterator[int],
    server: ChatServer,
    stop: _Stop,
    reload: Callable[[], Awaitable[str]] | None,
) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            if reload is None:
                log.info("SIGHUP received: no --config file, nothing to reload")
            else:
                notify_systemd("RELOADING=1")
                await reload()
                notify_systemd("READY=1")
        elif not stop.requested.is_set():
            log.info("%s received: shutting down (a second signal stops at once)", name)
            stop.request(None)
        else:
            log.info("%s received again: stopping at once", name)
            await server.shutdown(grace=0)


async def _start_operations(
    nursery: trio.Nursery, console: AdminConsole, options: ServeOptions
) -> bool:
    """Start the metrics and the control socket; on an error, report it in one line."""
    if options.metrics is not None:
        try:
            await nursery.start(serve_metrics, console.server, options.metrics)
        except MetricsUnavailable as exc:
            print(f"triochat serve: {exc}", file=sys.stderr)
            return False
        except OSError as exc:
            print(
                f"triochat serve: cannot serve metrics on {options.metrics}: {exc.strerror}",
                file=sys.stderr,
            )
            return False
    if options.control is not None:
        try:
            await nursery.start(serve_control, console, options.control)
        except OSError as exc:
            print(f"triochat serve: {exc}", file=sys.stderr)
            return False
    return True


def notify_systemd(state: str) -> bool:
    """Tell systemd *state* (``READY=1``...) if it asked (``$NOTIFY_SOCKET``, for a unit of
    ``Type=notify``): one datagram, never waiting. ``False`` if not sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", state, exc)
        return False
    return True


async def _start(
    nursery: trio.Nursery, config: ServerConfig, engine: str | None = None
) -> tuple[ChatServer, RedisEngine | None] | int:
    """Start serving in *nursery* (rooms through the Redis *engine*, if given); on an error,
    report it in one line and return an exit code."""
    hub = config.make_hub()
    redis: RedisEngine | None = None
    if engine is not None:
        from ..engines._redis import RedisEngine, RedisUnavailable

        try:
            redis = await nursery.start(RedisEngine(engine).serve)
        except RedisUnavailable as exc:
            print(f"triochat serve: {exc}", file=sys.stderr)
            return EXIT_ERROR
        redis.attach(hub)
    try:
        server: ChatServer = await nursery.start(ChatServer(config=config, hub=hub).serve)
    except (TLSConfigError, ImportError) as exc:  # ImportError: no web extra for ws://
        print(f"triochat serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ListenFailed as exc:
        reason = (
            "address already in use (is another server running?)"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or str(exc)
        )
        print(f"triochat serve: cannot listen on {exc.endpoint.address}: {reason}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, sqlite3.Error) as exc:  # the nick store (ListenFailed is above)
        print(f"triochat serve: cannot use --data-dir {config.data_dir}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return server, redis
