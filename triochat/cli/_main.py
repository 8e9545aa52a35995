"""The ``triochat`` command: ``triochat serve`` and ``triochat connect``.

Signals belong here, not in the library: the server is stopped gracefully on SIGINT or SIGTERM
through :meth:`ChatServer.shutdown`, and at once on a second one (:mod:`triochat.cli._serve`).
Logging is set up here too (:mod:`triochat.cli._logging`): through a writer thread, so that a slow
stderr never stops the server.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Final, NoReturn

import trio

from .. import __version__
from ..core._hub import DEFAULT_HISTORY_TOTAL_BYTES, DEFAULT_MAX_ROOMS, DEFAULT_ROOMS_PER_MEMBER
from ..core._member import DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES
from ..core._room import DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_EVENTS
from ..drivers._endpoints import Endpoint, parse_endpoint
from ..protocols._lines import DEFAULT_MAX_LINE
from ..server._config import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_FLOOD_LIMIT,
    DEFAULT_FLOOD_WINDOW,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_CLIENTS_PER_IP,
    DEFAULT_MESSAGE_BURST,
    DEFAULT_MESSAGE_RATE,
    DEFAULT_OUTBOX_SOFT_BYTES,
    DEFAULT_OUTBOX_SOFT_EVENTS,
    DEFAULT_PORT,
    DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    ServerConfig,
)
from ..session._auth import Secret, read_secret
from ._logging import (
    DEFAULT_CONNECTION_LOG_LIMIT,
    DEFAULT_LOG_QUEUE,
    LOG_DRAIN_TIMEOUT,
    log_to_stderr,
)
from ._serve import EXIT_OK, EXIT_USAGE, hold_stop_signals, serve_until_stopped

__all__ = ["build_parser", "main"]

log = logging.getLogger("triochat.cli")


_DESCRIPTION: Final = """\
Group chat over TCP, TLS and Unix sockets, built on Trio. One server, many clients; every line
a client sends is broadcast to the room with the sender's nick and the time. Plain `nc` works as
a client:

  triochat serve                 # listen on 127.0.0.1:9999
  nc 127.0.0.1 9999              # or: triochat connect
"""


def _number(kind: Callable[[str], float], *, minimum: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is too small (minimum {minimum:g})")
        return value

    return parse


_port = _number(int, minimum=0, what="a port number")
_count = _number(int, minimum=1, what="a whole number")
_count_or_zero = _number(int, minimum=0, what="a whole number")
_seconds = _number(float, minimum=0.001, what="a number of seconds")
_rate = _number(float, minimum=0.001, what="a number of lines a second (or inf)")


def _port_in_range(text: str) -> int:
    value = int(_port(text))
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _endpoint(text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in --help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


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

    serve = commands.add_parser(
        "serve",
        help="run a chat server",
        description="Run a chat server until Ctrl-C or SIGTERM. Clients connect with "
        "`triochat connect` or `nc HOST PORT`; each line they send is broadcast to the room.",
        formatter_class=_HelpFormatter,
    )
    serve.add_argument(
        "--host",
        default=None,
        help="address to listen on: 0.0.0.0 for every IPv4 interface, :: for IPv6 and IPv4, "
        f"'' for every interface (default: {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=_port_in_range,
        default=None,
        help=f"TCP port to listen on; 0 picks a free port and logs it (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--listen",
        action="append",
        type=_endpoint,
        default=None,
        metavar="URL",
        help="an endpoint to listen on, instead of --host/--port; repeat it for several: "
        "tcp://127.0.0.1:9999, tcp://[::1]:9999, tcp://[::]:9999 (IPv6 and IPv4), "
        "tls://0.0.0.0:6697, unix:/run/triochat.sock; IRC clients: irc://0.0.0.0 (port "
        "6667), ircs://0.0.0.0 (TLS, port 6697); the web chat: ws://127.0.0.1:8080 (open "
        "http://127.0.0.1:8080/), wss://0.0.0.0:8443",
    )
    tls = serve.add_argument_group("TLS (for tls://, ircs:// and wss:// endpoints)")
    tls.add_argument(
        "--tls-cert",
        metavar="FILE",
        default=None,
        help="PEM file with the server's certificate chain (its own certificate first)",
    )
    tls.add_argument(
        "--tls-key",
        metavar="FILE",
        default=None,
        help="PEM file with the certificate's private key, unencrypted; keep it readable only "
        "by the server's user",
    )
    tls.add_argument(
        "--tls-handshake-timeout",
        type=_seconds,
        default=DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        metavar="SECONDS",
        help="disconnect a client that has not completed its TLS handshake in this time",
    )
    limits = serve.add_argument_group("limits")
    limits.add_argument(
        "--max-line",
        type=_count,
        default=DEFAULT_MAX_LINE,
        metavar="BYTES",
        help="longest line a client may send; longer lines get an error reply",
    )
    limits.add_argument(
        "--outbox",
        type=_count,
        default=DEFAULT_OUTBOX_MESSAGES,
        metavar="MESSAGES",
        help="messages queued for one client before it is disconnected as too slow",
    )
    limits.add_argument(
        "--outbox-bytes",
        type=_count,
        default=DEFAULT_OUTBOX_BYTES,
        metavar="BYTES",
        help="bytes queued for one client before it is disconnected as too slow",
    )
    limits.add_argument(
        "--outbox-soft",
        type=_count,
        default=DEFAULT_OUTBOX_SOFT_EVENTS,
        metavar="MESSAGES",
        help="while this many messages are queued for a client, stop reading what it sends",
    )
    limits.add_argument(
        "--outbox-soft-bytes",
        type=_count,
        default=DEFAULT_OUTBOX_SOFT_BYTES,
        metavar="BYTES",
        help="while this many bytes are queued for a client, stop reading what it sends",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="disconnect a client that sends no complete line for this long (pinged at half)",
    )
    limits.add_argument(
        "--write-timeout",
        type=_seconds,
        default=DEFAULT_WRITE_TIMEOUT,
        metavar="SECONDS",
        help="disconnect a client whose socket accepts no output for this long",
    )
    limits.add_argument(
        "--max-clients",
        type=_count,
        default=DEFAULT_MAX_CLIENTS,
        metavar="N",
        help="clients served at once; more are told the server is full",
    )
    limits.add_argument(
        "--announce-limit",
        type=_count,
        default=None,
        metavar="N",
        help="in rooms with more than N members, joins, leaves and nick changes are not "
        "announced (default: always announced)",
    )
    limits.add_argument(
        "--max-clients-per-ip",
        type=_count,
        default=DEFAULT_MAX_CLIENTS_PER_IP,
        metavar="N",
        help="clients served at once from one IP address; more from it are refused",
    )
    limits.add_argument(
        "--rate",
        type=_rate,
        default=DEFAULT_MESSAGE_RATE,
        metavar="LINES",
        help="lines a second one client may send, sustained ('inf': no limit); "
        "faster lines are discarded with a 'slow down' error",
    )
    limits.add_argument(
        "--burst",
        type=_count,
        default=DEFAULT_MESSAGE_BURST,
        metavar="LINES",
        help="lines one client may send at once before --rate applies",
    )
    limits.add_argument(
        "--flood-limit",
        type=_count_or_zero,
        default=DEFAULT_FLOOD_LIMIT,
        metavar="LINES",
        help="disconnect a client with more than this many lines refused within --flood-window",
    )
    limits.add_argument(
        "--flood-window",
        type=_seconds,
        default=DEFAULT_FLOOD_WINDOW,
        metavar="SECONDS",
        help="the window in which --flood-limit counts refused lines",
    )
    limits.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=DEFAULT_SHUTDOWN_GRACE,
        metavar="SECONDS",
        help="on Ctrl-C/SIGTERM, time given to clients to receive queued messages and the goodbye",
    )
    trust = serve.add_argument_group(
        "access",
        "Secrets are read from a file or an environment variable, never from the command line "
        "(which every user of the machine can read with ps).",
    )
    password = trust.add_mutually_exclusive_group()
    password.add_argument(
        "--password-file",
        metavar="FILE",
        help="require this server password (the file's first line): clients send "
        "/pass PASSWORD before anything else",
    )
    password.add_argument(
        "--password-env", metavar="VAR", help="the same, from the environment variable VAR"
    )
    admin = trust.add_mutually_exclusive_group()
    admin.add_argument(
        "--admin-token-file",
        metavar="FILE",
        help="clients that send /admin TOKEN (the file's first line) become server admins: "
        "operators in every room",
    )
    admin.add_argument(
        "--admin-token-env", metavar="VAR", help="the same, from the environment variable VAR"
    )
    trust.add_argument(
        "--data-dir",
        metavar="DIR",
        help="let users register their nicks with a password (/register), kept hashed in "
        "DIR/nicks.sqlite3",
    )
    trust.add_argument(
        "--auth-timeout",
        type=_seconds,
        default=DEFAULT_AUTH_TIMEOUT,
        metavar="SECONDS",
        help="with a server password, how long a client has to give it",
    )
    web = serve.add_argument_group("web chat (for ws:// and wss:// endpoints)")
    web.add_argument(
        "--ws-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="a page (https://chat.example.org) whose scripts may open the chat's WebSocket; "
        "repeat it for several, or give * for any (default: the host the request was sent to, "
        "which is the server's own page)",
    )
    rooms = serve.add_argument_group("rooms")
    rooms.add_argument(
        "--max-rooms",
        type=_count,
        default=DEFAULT_MAX_ROOMS,
        metavar="N",
        help="rooms that may exist at once; /join of one more is refused",
    )
    rooms.add_argument(
        "--rooms-per-client",
        type=_count,
        default=DEFAULT_ROOMS_PER_MEMBER,
        metavar="N",
        help="rooms one client may be in at once",
    )
    rooms.add_argument(
        "--history",
        type=_count_or_zero,
        default=DEFAULT_HISTORY_EVENTS,
        metavar="EVENTS",
        help="messages each room keeps and replays to whoever joins (0: none; at most half "
        "of --outbox)",
    )
    rooms.add_argument(
        "--history-bytes",
        type=_count_or_zero,
        default=DEFAULT_HISTORY_BYTES,
        metavar="BYTES",
        help="the memory each room's history may hold, in bytes (text, renderings and "
        "history copies all counted)",
    )
    rooms.add_argument(
        "--history-total-bytes",
        type=_count_or_zero,
        default=DEFAULT_HISTORY_TOTAL_BYTES,
        metavar="BYTES",
        help="the memory the history of all rooms may hold together; past it the oldest "
        "history of the rooms with the most goes first",
    )
    logs = serve.add_argument_group("logging")
    logs.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr (info: one line per connect and disconnect)",
    )
    logs.add_argument(
        "--log-connections",
        type=_count_or_zero,
        default=DEFAULT_CONNECTION_LOG_LIMIT,
        metavar="N",
        help="connect and disconnect lines logged per client address per 10 s; the others "
        "are counted in one line (0: no limit)",
    )
    logs.add_argument(
        "--log-queue",
        type=_count,
        default=DEFAULT_LOG_QUEUE,
        metavar="LINES",
        help="log lines held while stderr is not read fast enough; more are dropped and counted",
    )
    serve.set_defaults(run=_run_serve)

    connect = commands.add_parser(
        "connect",
        help="chat with a server from this terminal (or a pipe)",
        description="Connect to a triochat server: lines you type are sent, lines that arrive "
        "are printed. Type /help for the server's commands, /quit (or Ctrl-D) to leave. Piped "
        "input works too: printf 'hi\\n' | triochat connect",
        formatter_class=_HelpFormatter,
    )
    from ._connect import add_connect_arguments, run_connect

    add_connect_arguments(connect)
    connect.set_defaults(run=run_connect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


# ------------------------------------------------------------------------------------ serve


def _secret(path: str | None, env: str | None, what: str) -> Secret | None:
    if path is None and env is None:
        return None
    return read_secret(path=path, env=env, what=what)


def _usage_error(message: str) -> int:
    print(f"triochat serve: error: {message} (see triochat serve --help)", file=sys.stderr)
    return EXIT_USAGE


def _run_serve(args: argparse.Namespace) -> int:
    early_signals = hold_stop_signals()  # first of all: no Ctrl-C can end in a traceback
    with log_to_stderr(
        args.log_level.upper(),
        queue_size=args.log_queue,
        connection_limit=args.log_connections,
    ) as logs:
        config = _server_config(args)
        if not isinstance(config, ServerConfig):
            return config  # the exit code of a usage error
        code = trio.run(serve_until_stopped, config, early_signals)
        if code == EXIT_OK:
            logs.report_counts(timeout=LOG_DRAIN_TIMEOUT)  # before the last line, not after
            log.info("stopped")
        return code


def _server_config(args: argparse.Namespace) -> ServerConfig | int:
    """The configuration the arguments give, or the exit code of a usage error (reported)."""
    listen: list[Endpoint] = args.listen or []
    if listen and (args.host is not None or args.port is not None):
        return _usage_error("--listen replaces --host/--port: give every endpoint with --listen")
    has_tls_endpoint = any(e.is_tls for e in listen)
    if (args.tls_cert is None) != (args.tls_key is None):
        return _usage_error("--tls-cert and --tls-key go together: give both")
    if has_tls_endpoint and args.tls_cert is None:
        scheme = next(e.scheme for e in listen if e.is_tls)
        article = "an" if scheme[0] in "aeiou" else "a"
        return _usage_error(
            f"{article} {scheme}:// endpoint needs --tls-cert FILE and --tls-key FILE"
        )
    if args.tls_cert is not None and not has_tls_endpoint:
        return _usage_error(
            "--tls-cert and --tls-key are used by tls://, ircs:// and wss:// endpoints only: "
            "add one, as in --listen tls://0.0.0.0:6697"
        )
    if args.ws_origin and not any(e.is_web for e in listen):
        return _usage_error(
            "--ws-origin is for the web chat: add --listen ws://HOST:PORT or wss://HOST:PORT"
        )
    try:
        return ServerConfig(
            host=DEFAULT_HOST if args.host is None else args.host,
            port=DEFAULT_PORT if args.port is None else args.port,
            listen=listen,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_handshake_timeout=args.tls_handshake_timeout,
            max_line=args.max_line,
            outbox_events=args.outbox,
            outbox_bytes=args.outbox_bytes,
            outbox_soft_events=args.outbox_soft,
            outbox_soft_bytes=args.outbox_soft_bytes,
            idle_timeout=args.idle_timeout,
            write_timeout=args.write_timeout,
            max_clients=args.max_clients,
            max_clients_per_ip=args.max_clients_per_ip,
            message_rate=args.rate,
            message_burst=args.burst,
            flood_limit=args.flood_limit,
            flood_window=args.flood_window,
            shutdown_grace=args.shutdown_grace,
            announce_limit=args.announce_limit,
            max_rooms=args.max_rooms,
            rooms_per_client=args.rooms_per_client,
            history_events=args.history,
            history_bytes=args.history_bytes,
            history_total_bytes=args.history_total_bytes,
            password=_secret(args.password_file, args.password_env, "password"),
            admin_token=_secret(args.admin_token_file, args.admin_token_env, "admin token"),
            data_dir=args.data_dir,
            auth_timeout=args.auth_timeout,
            ws_origins=args.ws_origin or (),
        )
    except ValueError as exc:
        print(f"triochat serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
