"""Running ``triochat serve``: start the server, then stop it on SIGINT or SIGTERM.

The first signal stops it gracefully (:meth:`ChatServer.shutdown`), a second one at once
(``shutdown(grace=0)``); either way the command exits 0, and no signal can end it with a
traceback or kill it: from before Trio starts until the process exits, the command's own
handlers take both signals whenever Trio's signal receiver does not.
"""

from __future__ import annotations

import errno
import logging
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from typing import Final

import trio

from ..drivers._listeners import ListenFailed
from ..drivers._tls import TLSConfigError
from ..server._config import ServerConfig
from ..server._server import ChatServer

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "hold_stop_signals", "serve_until_stopped"]

log = logging.getLogger("triochat.cli")

#: Exit codes: 0 success, 1 a runtime error (address in use, connection refused), 2 bad usage.
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2

#: What stops ``triochat serve``: the first gracefully, a second one at once.
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def hold_stop_signals() -> list[int]:
    """Make SIGINT and SIGTERM only note themselves in the returned list, from now until the
    process exits, except while :func:`serve_until_stopped` listens to them itself.

    So no KeyboardInterrupt can be raised anywhere (trio installs no handler of its own then),
    a signal that comes before the server starts is not lost, and one that comes while
    everything stops (or that trio's signal receiver hands back as it closes) changes nothing.
    """
    received: list[int] = []

    def note(signum: int, frame: object) -> None:
        received.append(signum)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, note)
    return received


async def serve_until_stopped(
    config: ServerConfig, early_signals: list[int], *, json_logs: bool = False
) -> int:
    """Serve until a signal stops the server; the exit code. *early_signals*: the list of
    :func:`hold_stop_signals`, where any signal that came before this started is noted."""
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        if early_signals:
            log.info("%s received: not starting", signal.Signals(early_signals[0]).name)
            return EXIT_OK
        async with trio.open_nursery() as nursery:
            server = await _start(nursery, config)
            if not isinstance(server, ChatServer):
                return server  # the exit code of an error (reported)
            addresses = ", ".join(e.address for e in server.endpoints)
            if json_logs:  # every line of stderr is then a JSON object
                log.info("serving on %s; Ctrl-C stops", addresses)
            else:
                print(
                    f"triochat: serving on {addresses}; Ctrl-C stops", file=sys.stderr, flush=True
                )
            signum = await anext(signals)
            log.info(
                "%s received: shutting down (a second signal stops at once)",
                signal.Signals(signum).name,
            )
            nursery.start_soon(_stop_at_once_on_signal, signals, server)
            await server.shutdown()
            nursery.cancel_scope.cancel()  # no second signal came: stop waiting for one
    return EXIT_OK


async def _stop_at_once_on_signal(signals: AsyncIterator[int], server: ChatServer) -> None:
    signum = await anext(signals)
    log.info("%s received again: stopping at once", signal.Signals(signum).name)
    await server.shutdown(grace=0)


async def _start(nursery: trio.Nursery, config: ServerConfig) -> ChatServer | int:
    """Start serving in *nursery*; on an error, report it in one line and return an exit code."""
    try:
        server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    except TLSConfigError as exc:
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
    return server
