"""The ``triochat`` command: ``triochat serve`` and ``triochat connect``.

Signals belong here, not in the library: the server is stopped gracefully on SIGINT or SIGTERM
through :meth:`ChatServer.shutdown`, and at once on a second one (:mod:`triochat.cli._serve`).
Logging is set up here too (:mod:`triochat.cli._logging`): through a writer thread, so that a slow
stderr never stops the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

import attrs
import trio

from .. import __version__
from ..server._config import ServerConfig
from ._logging import LOG_DRAIN_TIMEOUT, log_to_stderr
from ._options import HELP_FORMATTER, add_serve_options
from ._reload import Reloader
from ._serve import EXIT_OK, EXIT_USAGE, ServeOptions, hold_stop_signals, serve_until_stopped
from ._settings import (
    Settings,
    SettingsError,
    read_config_file,
    server_config,
    settings,
    to_toml,
)
from ._workers import WORKER_ENV, supervise_workers, worker_argv

__all__ = ["build_parser", "main"]

log = logging.getLogger("triochat.cli")


_DESCRIPTION: Final = """\
Group chat over TCP, TLS and Unix sockets, built on Trio. One server, many clients; every line
a client sends is broadcast to the room with the sender's nick and the time. Plain `nc` works as
a client:

  triochat serve                 # listen on 127.0.0.1:9999
  nc 127.0.0.1 9999              # or: triochat connect
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and a pointer to --help), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="triochat",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"triochat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_serve(commands)
    _add_connect(commands)
    _add_admin(commands)
    return parser


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run a chat server",
        description="Run a chat server until Ctrl-C or SIGTERM. Clients connect with "
        "`triochat connect` or `nc HOST PORT`; each line they send is broadcast to the room. "
        "Every flag is also a key of the --config file, with the same name.",
        formatter_class=HELP_FORMATTER,
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="read settings from this TOML file first (keys are the flags' names: "
        "max-clients = 500); flags given as well override it; SIGHUP reads it again",
    )
    serve.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings as TOML (secrets as their source) and exit",
    )
    add_serve_options(serve)
    serve.set_defaults(run=_run_serve)


def _add_connect(commands: Any) -> None:
    connect = commands.add_parser(
        "connect",
        help="chat with a server from this terminal (or a pipe)",
        description="Connect to a triochat server: lines you type are sent, lines that arrive "
        "are printed. Type /help for the server's commands, /quit (or Ctrl-D) to leave. Piped "
        "input works too: printf 'hi\\n' | triochat connect",
        formatter_class=HELP_FORMATTER,
    )
    from ._connect import add_connect_arguments, run_connect

    add_connect_arguments(connect)
    connect.set_defaults(run=run_connect)


def _add_admin(commands: Any) -> None:
    from ._admin import add_admin_arguments, run_admin

    admin = commands.add_parser(
        "admin",
        help="run a command on a server's admin console",
        description="Run one command on the admin console of a server started with "
        "--control unix:PATH, and print the answer (exit 1 if it is an error).",
        formatter_class=HELP_FORMATTER,
    )
    add_admin_arguments(admin)
    admin.set_defaults(run=run_admin)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what --workers runs again
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


# ------------------------------------------------------------------------------------ serve


def _usage_error(message: str) -> int:
    print(f"triochat serve: error: {message} (see triochat serve --help)", file=sys.stderr)
    return EXIT_USAGE


def _read_settings(args: argparse.Namespace) -> Settings | int:
    """The effective settings, or the exit code of a usage error (reported)."""
    try:
        file = read_config_file(args.config) if args.config is not None else None
    except SettingsError as exc:
        print(f"triochat serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return settings(args, file)


def _run_serve(args: argparse.Namespace) -> int:
    early_signals = hold_stop_signals()  # first of all: no Ctrl-C can end in a traceback
    values = _read_settings(args)
    if not isinstance(values, dict):
        return values
    if args.print_config:
        sys.stdout.write(to_toml(values))
        return EXIT_OK
    with log_to_stderr(
        values["log_level"].upper(),
        queue_size=values["log_queue"],
        connection_limit=values["log_connections"],
        json_lines=values["log_format"] == "json",
    ) as logs:
        config = _server_config(values)
        if not isinstance(config, ServerConfig):
            return config  # the exit code of a usage error
        if os.environ.get(WORKER_ENV):  # one of --workers N: it shares the port
            config = attrs.evolve(config, reuse_port=True)
        elif values["workers"] > 1:
            if values["engine"] is None:
                return _usage_error("--workers needs --engine (the workers share rooms through it)")
            if any(e.port == 0 for e in config.endpoints if not e.is_unix):
                return _usage_error("--workers needs a fixed port (not 0)")
            return trio.run(
                supervise_workers, worker_argv(args.argv), values["workers"], early_signals
            )
        options = ServeOptions(
            config=config,
            json_logs=values["log_format"] == "json",
            metrics=values["metrics"],
            control=values["control"],
            reloader=Reloader(args, args.config, values),
            console=_is_terminal(),
            engine=values["engine"],
        )
        code = trio.run(serve_until_stopped, options, early_signals)
        if code == EXIT_OK:
            logs.report_counts(timeout=LOG_DRAIN_TIMEOUT)  # before the last line, not after
            log.info("stopped")
        return code


def _is_terminal() -> bool:
    try:
        return os.isatty(0) and os.isatty(1)
    except OSError:
        return False


def _server_config(values: Settings) -> ServerConfig | int:
    """The configuration the settings give, or the exit code of a usage error (reported)."""
    try:
        return server_config(values)
    except SettingsError as exc:
        return _usage_error(str(exc))
    except ValueError as exc:
        print(f"triochat serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
