"""Server settings: every limit and timeout, with its documented default."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterable
from typing import Any, Final

import attrs

from ..core._hub import (
    DEFAULT_HISTORY_TOTAL_BYTES,
    DEFAULT_MAX_ROOMS,
    DEFAULT_ROOMS_PER_MEMBER,
    Hub,
)
from ..core._member import DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES
from ..core._room import DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_EVENTS
from ..drivers._endpoints import DEFAULT_HOST, DEFAULT_PORT, Endpoint, parse_endpoint
from ..drivers._tls import DEFAULT_TLS_HANDSHAKE_TIMEOUT
from ..engines._sqlite import DEFAULT_KEEP_DAYS, DEFAULT_KEEP_EVENTS
from ..protocols._lines import DEFAULT_MAX_LINE
from ..session._auth import Secret
from ..session._flood import DEFAULT_MESSAGE_BURST, DEFAULT_MESSAGE_RATE

__all__ = [
    "DEFAULT_AUTH_TIMEOUT",
    "DEFAULT_FLOOD_LIMIT",
    "DEFAULT_FLOOD_WINDOW",
    "DEFAULT_HOST",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MAX_CLIENTS_PER_IP",
    "DEFAULT_MESSAGE_BURST",
    "DEFAULT_MESSAGE_RATE",
    "DEFAULT_OUTBOX_SOFT_BYTES",
    "DEFAULT_OUTBOX_SOFT_EVENTS",
    "DEFAULT_PORT",
    "DEFAULT_READ_SIZE",
    "DEFAULT_SHUTDOWN_GRACE",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "DEFAULT_WEB_REQUEST_TIMEOUT",
    "DEFAULT_WRITE_TIMEOUT",
    "ServerConfig",
]

#: Seconds without input before a client is disconnected (a ping notice goes out at half).
DEFAULT_IDLE_TIMEOUT: Final = 300.0
#: Seconds a client's socket may refuse a batch of output before it is closed.
DEFAULT_WRITE_TIMEOUT: Final = 30.0
DEFAULT_MAX_CLIENTS: Final = 10_000
#: Connections served at once from one IP address (so one host cannot take every slot).
DEFAULT_MAX_CLIENTS_PER_IP: Final = 100
#: A client that has more than this many lines refused within DEFAULT_FLOOD_WINDOW seconds is
#: disconnected for flooding.
DEFAULT_FLOOD_LIMIT: Final = 200
DEFAULT_FLOOD_WINDOW: Final = 10.0
#: Soft outbox limits: while a client's own outbox holds this many events or bytes, the server
#: stops reading that client's input (TCP then pushes back on it) until its outbox drains.
DEFAULT_OUTBOX_SOFT_EVENTS: Final = DEFAULT_OUTBOX_MESSAGES // 2
DEFAULT_OUTBOX_SOFT_BYTES: Final = DEFAULT_OUTBOX_BYTES // 2
#: Bytes asked of a client's socket per read.
DEFAULT_READ_SIZE: Final = 65536
#: Seconds that a graceful shutdown waits for clients to receive what was queued and the goodbye.
DEFAULT_SHUTDOWN_GRACE: Final = 1.0
#: Seconds a client has to give the server password, on servers that have one.
DEFAULT_AUTH_TIMEOUT: Final = 30.0
#: Seconds a web client has to send its HTTP request (the page, or the WebSocket handshake).
DEFAULT_WEB_REQUEST_TIMEOUT: Final = 10.0
_ORIGIN: Final = re.compile(r"https?://[^/?#\s]+/?\Z", re.IGNORECASE)


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be greater than 0, not {value!r}")


def _at_least_one(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not value >= 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value!r}")


def _not_negative(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be 0 or more, not {value!r}")


def _port(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {value!r}")


def _endpoints(value: Iterable[Endpoint | str]) -> tuple[Endpoint, ...]:
    if isinstance(value, str):  # a lone URL, not an iterable of its characters
        value = [value]
    return tuple(parse_endpoint(item) if isinstance(item, str) else item for item in value)


def _origins(value: Iterable[str] | str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if item != "*" and not _ORIGIN.match(item):
            raise ValueError(
                f"{item!r} is not an origin: write scheme://host[:port], as in "
                "https://chat.example.org, or * for any"
            )
    return items


def _optional_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Settings of a :class:`~triochat.ChatServer`. All keyword-only, all with defaults.

    Attributes:
      host: address to listen on; ``None`` or ``""`` listens on every interface.
      port: TCP port; 0 picks a free one (see :attr:`ChatServer.addresses`).
      listen: endpoints to listen on, as :class:`Endpoint` objects or URLs
        (``"tcp://[::1]:9999"``, ``"tls://0.0.0.0:6697"``, ``"unix:/run/triochat.sock"``); when
        given, *host* and *port* are not used. :attr:`endpoints` is what the server opens.
      tls_cert, tls_key: PEM files of the certificate chain and of its unencrypted private key,
        needed by ``tls://`` endpoints; checked when the server starts, before it listens.
      ssl_context: a ready server-side :class:`ssl.SSLContext` for ``tls://`` endpoints, used
        instead of *tls_cert* and *tls_key* (for client certificates, say).
      tls_handshake_timeout: seconds a TLS client gets to finish its handshake.
      max_line: longest line a client may send, in bytes; longer lines get an error reply and are
        discarded without being buffered whole.
      outbox_events, outbox_bytes: bounds of each client's outbox; a client whose outbox would
        pass either is disconnected as too slow.
      outbox_soft_events, outbox_soft_bytes: soft bounds of each client's outbox; while the
        client's outbox holds this much, the server reads no more of that client's input (a
        soft bound at or above the hard one never applies).
      idle_timeout: seconds without a complete line before a client is disconnected; a ping
        notice is sent at half of it. Bytes that do not finish a line do not count, so a client
        that trickles a line byte by byte (slowloris) is disconnected too.
      write_timeout: seconds a client's socket may take to accept one batch of output.
      max_clients: connections served at once; the next one is told the server is full.
      max_clients_per_ip: connections served at once from one IP address.
      message_rate, message_burst: each client's token bucket, in lines: *message_burst* lines
        at once, *message_rate* lines a second sustained (``math.inf`` turns it off). A line
        beyond it is discarded and the client told to slow down.
      flood_limit, flood_window: a client with more than *flood_limit* lines refused within
        *flood_window* seconds is disconnected for flooding.
      shutdown_grace: seconds :meth:`ChatServer.shutdown` gives clients to receive what was queued
        for them, and the goodbye line, before their connections are cut.
      read_size: bytes asked of the socket per read.
      announce_limit: rooms with more members than this do not announce joins, leaves and nick
        changes (see :class:`Hub`); ``None`` announces them always.
      max_rooms: rooms that may exist at once; rooms_per_client: rooms one client may be in.
      history_events, history_bytes: how much of its conversation each room keeps, replayed to
        whoever joins; history_events may be at most half of outbox_events. history_bytes is
        the memory the history holds: the events, their text, their renderings and history
        copies, all counted.
      history_total_bytes: bound of the memory the history of all rooms holds together; past
        it the oldest events of the rooms with the most history go first.
      password: if set, clients must send ``/pass PASSWORD`` within *auth_timeout* seconds
        before anything else.
      admin_token: if set, ``/admin TOKEN`` makes a client a server administrator.
      data_dir: if set, rooms are durable: every room's history, topic, operators and bans are
        kept in ``DATA_DIR/rooms.sqlite3`` and come back after a restart (see
        :doc:`/durable-rooms`); and nicks can be registered with a password (``/register``),
        kept in ``DATA_DIR/nicks.sqlite3``.
      keep_history, keep_days: with *data_dir*, the events each room keeps on disk (0: no
        limit) and for how many days (0: for ever); older ones are deleted in the background.
      ws_origins: the pages (``https://chat.example.org``) whose scripts may open the web chat's
        WebSocket (``ws://`` and ``wss://`` endpoints); empty: only pages of the host the
        request was sent to (the server's own page); ``"*"``: any.
      web_request_timeout: seconds a web client has to send its HTTP request.
    """

    host: str | None = DEFAULT_HOST
    port: int = attrs.field(default=DEFAULT_PORT, validator=_port)
    listen: tuple[Endpoint, ...] = attrs.field(default=(), converter=_endpoints)
    tls_cert: str | None = attrs.field(default=None, converter=_optional_path)
    tls_key: str | None = attrs.field(default=None, converter=_optional_path)
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, eq=False, repr=False)
    tls_handshake_timeout: float = attrs.field(
        default=DEFAULT_TLS_HANDSHAKE_TIMEOUT, validator=_positive
    )
    max_line: int = attrs.field(default=DEFAULT_MAX_LINE, validator=_positive)
    outbox_events: int = attrs.field(default=DEFAULT_OUTBOX_MESSAGES, validator=_positive)
    outbox_bytes: int = attrs.field(default=DEFAULT_OUTBOX_BYTES, validator=_positive)
    outbox_soft_events: int = attrs.field(
        default=DEFAULT_OUTBOX_SOFT_EVENTS, validator=_at_least_one
    )
    outbox_soft_bytes: int = attrs.field(default=DEFAULT_OUTBOX_SOFT_BYTES, validator=_at_least_one)
    idle_timeout: float = attrs.field(default=DEFAULT_IDLE_TIMEOUT, validator=_positive)
    write_timeout: float = attrs.field(default=DEFAULT_WRITE_TIMEOUT, validator=_positive)
    max_clients: int = attrs.field(default=DEFAULT_MAX_CLIENTS, validator=_positive)
    max_clients_per_ip: int = attrs.field(default=DEFAULT_MAX_CLIENTS_PER_IP, validator=_positive)
    message_rate: float = attrs.field(default=DEFAULT_MESSAGE_RATE, validator=_positive)
    message_burst: int = attrs.field(default=DEFAULT_MESSAGE_BURST, validator=_at_least_one)
    flood_limit: int = attrs.field(default=DEFAULT_FLOOD_LIMIT, validator=_not_negative)
    flood_window: float = attrs.field(default=DEFAULT_FLOOD_WINDOW, validator=_positive)
    shutdown_grace: float = attrs.field(default=DEFAULT_SHUTDOWN_GRACE, validator=_positive)
    read_size: int = attrs.field(default=DEFAULT_READ_SIZE, validator=_positive)
    announce_limit: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    max_rooms: int = attrs.field(default=DEFAULT_MAX_ROOMS, validator=_positive)
    rooms_per_client: int = attrs.field(default=DEFAULT_ROOMS_PER_MEMBER, validator=_positive)
    history_events: int = attrs.field(default=DEFAULT_HISTORY_EVENTS, validator=_not_negative)
    history_bytes: int = attrs.field(default=DEFAULT_HISTORY_BYTES, validator=_not_negative)
    history_total_bytes: int = attrs.field(
        default=DEFAULT_HISTORY_TOTAL_BYTES, validator=_not_negative
    )
    password: Secret | None = None
    admin_token: Secret | None = None
    data_dir: str | None = None
    keep_history: int = attrs.field(default=DEFAULT_KEEP_EVENTS, validator=_not_negative)
    keep_days: float = attrs.field(default=DEFAULT_KEEP_DAYS, validator=_not_negative)
    auth_timeout: float = attrs.field(default=DEFAULT_AUTH_TIMEOUT, validator=_positive)
    ws_origins: tuple[str, ...] = attrs.field(default=(), converter=_origins)
    #: TCP listeners set ``SO_REUSEPORT`` (each worker of ``triochat serve --workers N``).
    reuse_port: bool = False
    web_request_timeout: float = attrs.field(
        default=DEFAULT_WEB_REQUEST_TIMEOUT, validator=_positive
    )

    def __attrs_post_init__(self) -> None:
        if self.history_events * 2 > self.outbox_events:
            raise ValueError(
                f"the history ({self.history_events} events) must be at most half of the "
                f"outbox ({self.outbox_events} events): a newcomer receives it all at once"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        has_tls = self.ssl_context is not None or self.tls_cert is not None
        tls_endpoints = [str(e) for e in self.endpoints if e.is_tls]
        if tls_endpoints and not has_tls:
            raise ValueError(
                f"{tls_endpoints[0]} needs a certificate: give tls_cert and tls_key "
                "(or ssl_context)"
            )

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The endpoints the server listens on (*listen*, or else TCP on *host* and *port*)."""
        return self.listen or (Endpoint.tcp(self.host or "", self.port),)

    def make_hub(self) -> Hub:
        """A new hub with this configuration's limits."""
        return Hub(
            outbox_events=self.outbox_events,
            outbox_bytes=self.outbox_bytes,
            max_rooms=self.max_rooms,
            rooms_per_member=self.rooms_per_client,
            history_events=self.history_events,
            history_bytes=self.history_bytes,
            history_total_bytes=self.history_total_bytes,
            announce_limit=self.announce_limit,
        )
