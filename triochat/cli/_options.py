# ruff: noqa: E501  (OPTIONS is a table: one option a row reads best)
"""The settings of ``triochat serve``: one table drives both its flags and its config file keys.

Every :class:`Option` is a flag (``--max-line``) and a key of the TOML config file with the same
name (``max-line = 4096``), parsed by the same function, so the two cannot drift apart. The
table says which group a flag is shown in, its default, and whether a running server can take a
new value on SIGHUP (:attr:`Option.live`) or needs a restart.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

from ..core._hub import DEFAULT_HISTORY_TOTAL_BYTES, DEFAULT_MAX_ROOMS, DEFAULT_ROOMS_PER_MEMBER
from ..core._member import DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES
from ..core._room import DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_EVENTS
from ..drivers._endpoints import DEFAULT_HOST, DEFAULT_PORT, Endpoint, parse_endpoint
from ..engines._sqlite import DEFAULT_KEEP_DAYS, DEFAULT_KEEP_EVENTS
from ..protocols._lines import DEFAULT_MAX_LINE
from ..server._config import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_FLOOD_LIMIT,
    DEFAULT_FLOOD_WINDOW,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_CLIENTS_PER_IP,
    DEFAULT_MESSAGE_BURST,
    DEFAULT_MESSAGE_RATE,
    DEFAULT_OUTBOX_SOFT_BYTES,
    DEFAULT_OUTBOX_SOFT_EVENTS,
    DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
)
from ._logging import DEFAULT_CONNECTION_LOG_LIMIT, DEFAULT_LOG_QUEUE

__all__ = ["GIVEN", "OPTIONS", "Option", "add_serve_options", "by_key"]

#: The attribute of the parsed arguments that holds the keys given on the command line.
GIVEN: Final = "given_options"


def _number(kind: Callable[[str], float], *, minimum: float, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {what}") from None
        if not value >= minimum:
            raise ValueError(f"{text!r} is too small (minimum {minimum:g})")
        return value

    return parse


_count = _number(int, minimum=1, what="a whole number")
_count_or_zero = _number(int, minimum=0, what="a whole number")
_seconds = _number(float, minimum=0.001, what="a number of seconds")
_days = _number(float, minimum=0, what="a number of days")
_rate = _number(float, minimum=0.001, what="a number of lines a second (or inf)")


def _port(text: str) -> int:
    value = int(_number(int, minimum=0, what="a port number")(text))
    if value > 65535:
        raise ValueError(f"{text!r} is not a port number (0-65535)")
    return value


def _text(text: str) -> str:
    return text


def _endpoint(text: str) -> Endpoint:
    return parse_endpoint(text)


def _unix_endpoint(text: str) -> Endpoint:
    endpoint = parse_endpoint(text)
    if not endpoint.is_unix:
        raise ValueError(f"{text!r} is not a unix:PATH endpoint")
    return endpoint


def _engine(text: str) -> str:
    from ..engines._redis import check_redis_url  # coredis is imported only when it is used

    return check_redis_url(text)


def _tcp_endpoint(text: str) -> Endpoint:
    endpoint = parse_endpoint(text)
    if endpoint.is_unix or endpoint.is_tls:
        raise ValueError(f"{text!r} is not a tcp://HOST:PORT endpoint")
    return endpoint


@attrs.frozen(kw_only=True)
class Option:
    """One setting of ``triochat serve``: a flag and a config file key of the same name."""

    #: The flag without its dashes, and the config file key.
    key: str
    group: str
    help: str
    #: Turns the text of a flag (or a config value, as text) into the value; raises ValueError.
    parse: Callable[[str], Any] = _text
    default: Any = None
    metavar: str | None = None
    choices: Sequence[str] | None = None
    #: Given several times (``--listen``); a list in the config file.
    repeated: bool = False
    #: Options of one exclusive group cannot be combined.
    exclusive: str | None = None
    #: Whether a running server takes a new value on SIGHUP (else it needs a restart).
    live: bool = False
    #: Shown as its source, never as a value (the source *is* the value here: a path or a
    #: variable name), but flagged so that nobody adds a key that holds a secret itself.
    secret_source: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.key

    @property
    def dest(self) -> str:
        return self.key.replace("-", "_")

    def value_from_toml(self, value: object) -> Any:
        """Check and convert a config file value; raises ValueError with a reason for people."""
        if self.repeated:
            items = value if isinstance(value, list) else [value]
            return [self._one_from_toml(item) for item in items]
        return self._one_from_toml(value)

    def _one_from_toml(self, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{value!r} is not a {'string' if self.parse is _text else 'number'}")
        if isinstance(value, int | float) and self._wants_text:
            raise ValueError(f"{value!r} is not a string")
        if isinstance(value, str) and not self._wants_text and value != "inf":
            raise ValueError(f"{value!r} is a string, not a number")
        text = str(value)
        if self.choices is not None and text not in self.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
        return self.parse(text)

    @property
    def _wants_text(self) -> bool:
        return self.parse in (_text, _endpoint, _unix_endpoint, _tcp_endpoint, _engine)


LISTENING: Final = "listening"
TLS: Final = "TLS (for tls://, ircs:// and wss:// endpoints)"
LIMITS: Final = "limits"
WEB: Final = "web chat (for ws:// and wss:// endpoints)"
ACCESS: Final = "access"
ROOMS: Final = "rooms"
LOGGING: Final = "logging"
OPERATIONS: Final = "operations"

GROUP_DESCRIPTIONS: Final = {
    ACCESS: "Secrets are read from a file or an environment variable, never from the command "
    "line (which every user of the machine can read with ps).",
    OPERATIONS: "The admin console, metrics and the config file; see docs/operations.md.",
}

_S, _N = "SECONDS", "N"

OPTIONS: Final[tuple[Option, ...]] = (
    Option(key="host", group=LISTENING, help="address to listen on: 0.0.0.0 for every IPv4 interface, :: for IPv6 and IPv4, '' for every interface (default: " + DEFAULT_HOST + ")"),
    Option(key="port", group=LISTENING, parse=_port, help=f"TCP port to listen on; 0 picks a free port and logs it (default: {DEFAULT_PORT})"),
    Option(key="listen", group=LISTENING, parse=_endpoint, repeated=True, metavar="URL", help="an endpoint to listen on, instead of --host/--port; repeat it for several: tcp://127.0.0.1:9999, tcp://[::1]:9999, tcp://[::]:9999 (IPv6 and IPv4), tls://0.0.0.0:6697, unix:/run/triochat.sock; IRC clients: irc://0.0.0.0 (port 6667), ircs://0.0.0.0 (TLS, port 6697); the web chat: ws://127.0.0.1:8080 (open http://127.0.0.1:8080/), wss://0.0.0.0:8443"),
    Option(key="tls-cert", group=TLS, metavar="FILE", live=True, help="PEM file with the server's certificate chain (its own certificate first)"),
    Option(key="tls-key", group=TLS, metavar="FILE", live=True, help="PEM file with the certificate's private key, unencrypted; keep it readable only by the server's user"),
    Option(key="tls-handshake-timeout", group=TLS, parse=_seconds, default=DEFAULT_TLS_HANDSHAKE_TIMEOUT, metavar=_S, live=True, help="disconnect a client that has not completed its TLS handshake in this time"),
    Option(key="max-line", group=LIMITS, parse=_count, default=DEFAULT_MAX_LINE, metavar="BYTES", live=True, help="longest line a client may send; longer lines get an error reply"),
    Option(key="outbox", group=LIMITS, parse=_count, default=DEFAULT_OUTBOX_MESSAGES, metavar="MESSAGES", help="messages queued for one client before it is disconnected as too slow"),
    Option(key="outbox-bytes", group=LIMITS, parse=_count, default=DEFAULT_OUTBOX_BYTES, metavar="BYTES", help="bytes queued for one client before it is disconnected as too slow"),
    Option(key="outbox-soft", group=LIMITS, parse=_count, default=DEFAULT_OUTBOX_SOFT_EVENTS, metavar="MESSAGES", live=True, help="while this many messages are queued for a client, stop reading what it sends"),
    Option(key="outbox-soft-bytes", group=LIMITS, parse=_count, default=DEFAULT_OUTBOX_SOFT_BYTES, metavar="BYTES", live=True, help="while this many bytes are queued for a client, stop reading what it sends"),
    Option(key="idle-timeout", group=LIMITS, parse=_seconds, default=DEFAULT_IDLE_TIMEOUT, metavar=_S, live=True, help="disconnect a client that sends no complete line for this long (pinged at half)"),
    Option(key="write-timeout", group=LIMITS, parse=_seconds, default=DEFAULT_WRITE_TIMEOUT, metavar=_S, live=True, help="disconnect a client whose socket accepts no output for this long"),
    Option(key="max-clients", group=LIMITS, parse=_count, default=DEFAULT_MAX_CLIENTS, metavar=_N, live=True, help="clients served at once; more are told the server is full"),
    Option(key="announce-limit", group=LIMITS, parse=_count, metavar=_N, live=True, help="in rooms with more than N members, joins, leaves and nick changes are not announced (default: always announced)"),
    Option(key="max-clients-per-ip", group=LIMITS, parse=_count, default=DEFAULT_MAX_CLIENTS_PER_IP, metavar=_N, live=True, help="clients served at once from one IP address; more from it are refused"),
    Option(key="rate", group=LIMITS, parse=_rate, default=DEFAULT_MESSAGE_RATE, metavar="LINES", live=True, help="lines a second one client may send, sustained ('inf': no limit); faster lines are discarded with a 'slow down' error"),
    Option(key="burst", group=LIMITS, parse=_count, default=DEFAULT_MESSAGE_BURST, metavar="LINES", live=True, help="lines one client may send at once before --rate applies"),
    Option(key="flood-limit", group=LIMITS, parse=_count_or_zero, default=DEFAULT_FLOOD_LIMIT, metavar="LINES", live=True, help="disconnect a client with more than this many lines refused within --flood-window"),
    Option(key="flood-window", group=LIMITS, parse=_seconds, default=DEFAULT_FLOOD_WINDOW, metavar=_S, live=True, help="the window in which --flood-limit counts refused lines"),
    Option(key="shutdown-grace", group=LIMITS, parse=_seconds, default=DEFAULT_SHUTDOWN_GRACE, metavar=_S, live=True, help="on Ctrl-C/SIGTERM, time given to clients to receive queued messages and the goodbye"),
    Option(key="password-file", group=ACCESS, metavar="FILE", exclusive="password", secret_source=True, help="require this server password (the file's first line): clients send /pass PASSWORD before anything else"),
    Option(key="password-env", group=ACCESS, metavar="VAR", exclusive="password", secret_source=True, help="the same, from the environment variable VAR"),
    Option(key="admin-token-file", group=ACCESS, metavar="FILE", exclusive="admin-token", secret_source=True, help="clients that send /admin TOKEN (the file's first line) become server admins: operators in every room"),
    Option(key="admin-token-env", group=ACCESS, metavar="VAR", exclusive="admin-token", secret_source=True, help="the same, from the environment variable VAR"),
    Option(key="data-dir", group=ACCESS, metavar="DIR", help="make rooms durable: history, topics, operators and bans kept in DIR/rooms.sqlite3 across restarts (a kill -9 loses at most the last second); and let users register their nicks with a password (/register), kept hashed in DIR/nicks.sqlite3"),
    Option(key="ws-origin", group=WEB, repeated=True, metavar="ORIGIN", help="a page (https://chat.example.org) whose scripts may open the chat's WebSocket; repeat it for several, or give * for any (default: the host the request was sent to, which is the server's own page)"),
    Option(key="auth-timeout", group=ACCESS, parse=_seconds, default=DEFAULT_AUTH_TIMEOUT, metavar=_S, live=True, help="with a server password, how long a client has to give it"),
    Option(key="max-rooms", group=ROOMS, parse=_count, default=DEFAULT_MAX_ROOMS, metavar=_N, live=True, help="rooms that may exist at once; /join of one more is refused"),
    Option(key="rooms-per-client", group=ROOMS, parse=_count, default=DEFAULT_ROOMS_PER_MEMBER, metavar=_N, live=True, help="rooms one client may be in at once"),
    Option(key="history", group=ROOMS, parse=_count_or_zero, default=DEFAULT_HISTORY_EVENTS, metavar="EVENTS", help="messages each room keeps and replays to whoever joins (0: none; at most half of --outbox)"),
    Option(key="history-bytes", group=ROOMS, parse=_count_or_zero, default=DEFAULT_HISTORY_BYTES, metavar="BYTES", help="the memory each room's history may hold, in bytes (text, renderings and history copies all counted)"),
    Option(key="history-total-bytes", group=ROOMS, parse=_count_or_zero, default=DEFAULT_HISTORY_TOTAL_BYTES, metavar="BYTES", live=True, help="the memory the history of all rooms may hold together; past it the oldest history of the rooms with the most goes first"),
    Option(key="keep-history", group=ROOMS, parse=_count_or_zero, default=DEFAULT_KEEP_EVENTS, metavar="EVENTS", help="with --data-dir: messages each room keeps on disk, for /history beyond memory (0: no limit); older ones are deleted in the background"),
    Option(key="keep-days", group=ROOMS, parse=_days, default=DEFAULT_KEEP_DAYS, metavar="DAYS", help="with --data-dir: days a message is kept on disk (0: for ever)"),
    Option(key="engine", group=ROOMS, parse=_engine, metavar="URL", help="share rooms with other server processes through Redis: redis://HOST:PORT/DB (or rediss:// for TLS); see docs/scaling.md"),
    Option(key="workers", group=ROOMS, parse=_count, default=1, metavar=_N, help="serve from N processes on one port (SO_REUSEPORT), sharing rooms through --engine (which it needs)"),
    Option(key="log-level", group=LOGGING, default="info", choices=("debug", "info", "warning", "error"), live=True, help="how much to log on stderr (info: one line per connect and disconnect)"),
    Option(key="log-format", group=LOGGING, default="text", choices=("text", "json"), help="text: one line for people; json: one JSON object per line (time, level, logger, event, and fields such as conn, nick, address, room, reason)"),
    Option(key="log-connections", group=LOGGING, parse=_count_or_zero, default=DEFAULT_CONNECTION_LOG_LIMIT, metavar=_N, help="connect and disconnect lines logged per client address per 10 s; the others are counted in one line (0: no limit)"),
    Option(key="log-queue", group=LOGGING, parse=_count, default=DEFAULT_LOG_QUEUE, metavar="LINES", help="log lines held while stderr is not read fast enough; more are dropped and counted"),
    Option(key="control", group=OPERATIONS, parse=_unix_endpoint, metavar="unix:PATH", help="open the admin console on this Unix socket (mode 0600), for `triochat admin`"),
    Option(key="metrics", group=OPERATIONS, parse=_tcp_endpoint, metavar="URL", help="serve /metrics (Prometheus text format) and /healthz over HTTP on this tcp://HOST:PORT (needs the prometheus_client package: pip install triochat[metrics])"),
)  # fmt: skip

_BY_KEY: Final = {option.key: option for option in OPTIONS}


def by_key(key: str) -> Option | None:
    """The option whose flag and config key is *key*, if there is one."""
    return _BY_KEY.get(key)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in --help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _noting_given(base: type[argparse.Action]) -> type[argparse.Action]:
    """An argparse action that also notes its key in the namespace's ``given_options`` set, so
    that a flag given on the command line (even with its default value) overrides the file."""

    class Noting(base):  # type: ignore[valid-type,misc]  # a class made from a variable base
        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,
            option_string: str | None = None,
        ) -> None:
            super().__call__(parser, namespace, values, option_string)
            given = getattr(namespace, GIVEN, None)
            if given is None:
                given = set()
                setattr(namespace, GIVEN, given)
            given.add(self.dest)

    return Noting


_STORE: Final = _noting_given(argparse._StoreAction)
_APPEND: Final = _noting_given(argparse._AppendAction)


def _argparse_type(option: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.key  # argparse names the type in some errors
    return parse


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """Add every :data:`OPTIONS` flag to *parser*, in its group."""
    groups: dict[str, Any] = {}
    exclusive: dict[str, Any] = {}
    for option in OPTIONS:
        if option.group == LISTENING:
            group: Any = parser
        elif option.group not in groups:
            group = groups[option.group] = parser.add_argument_group(
                option.group, GROUP_DESCRIPTIONS.get(option.group)
            )
        else:
            group = groups[option.group]
        if option.exclusive is not None:
            if option.exclusive not in exclusive:
                exclusive[option.exclusive] = group.add_mutually_exclusive_group()
            group = exclusive[option.exclusive]
        _add(group, option)


def _add(group: Any, option: Option) -> None:
    kwargs: dict[str, Any] = {
        "action": _APPEND if option.repeated else _STORE,
        "default": option.default,
        "help": option.help,
        "dest": option.dest,
    }
    if option.metavar is not None:
        kwargs["metavar"] = option.metavar
    if option.choices is not None:
        kwargs["choices"] = option.choices
    elif option.parse is not _text:
        kwargs["type"] = _argparse_type(option)
    group.add_argument(option.flag, **kwargs)


HELP_FORMATTER: Final = _HelpFormatter
