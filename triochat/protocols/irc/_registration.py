"""Connection registration, as a pure state machine: CAP, PASS, NICK, USER and SASL PLAIN.

:class:`Registration` takes the messages a new IRC connection sends and returns what to do, as
plain data: :class:`~._message.Message` replies to send, :class:`CheckSasl` when SASL credentials
need checking (the caller checks them, maybe in a thread, and answers with
:meth:`Registration.sasl_succeeded` or :meth:`Registration.sasl_failed`), and finally one
:class:`Registered` with everything the client said. It does no I/O, keeps no clock and never
decides whether a nick is free: the caller does, with *check_nick* and
:meth:`Registration.refuse_nick`.

The rules (Modern IRC, "Connection Registration"; IRCv3 capability negotiation and sasl-3.1):

- Before registration a client may send CAP, PASS, NICK, USER, AUTHENTICATE, PING, PONG and
  QUIT; anything else is answered with 451 ERR_NOTREGISTERED.
- ``CAP LS`` or ``CAP REQ`` suspends registration until ``CAP END``. ``CAP LS 302`` gets the
  capability values (``sasl=PLAIN``) and, if the list is long, several ``LS *`` lines.
- Registration completes when NICK and USER are in, capability negotiation (if started) has
  ended and no SASL check is in flight. An unfinished SASL exchange is then aborted (906).
- After registration the machine still answers CAP (and PING); PASS and USER get 462, and every
  other message comes back as :class:`Forward` for the session.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Final, Literal

import attrs

from ._casemap import nick_protocol_problem
from ._message import Message, middle_param
from ._numerics import (
    ERR_ALREADYREGISTERED,
    ERR_ERRONEUSNICKNAME,
    ERR_INVALIDCAPCMD,
    ERR_INVALIDUSERNAME,
    ERR_NEEDMOREPARAMS,
    ERR_NICKNAMEINUSE,
    ERR_NONICKNAMEGIVEN,
    ERR_NOTREGISTERED,
    ERR_SASLABORTED,
    ERR_SASLALREADY,
    ERR_SASLFAIL,
    ERR_SASLTOOLONG,
    RPL_LOGGEDIN,
    RPL_SASLMECHS,
    RPL_SASLSUCCESS,
    Numeric,
)

__all__ = [
    "DEFAULT_CAPABILITIES",
    "SASL_CHUNK",
    "CapabilitiesChanged",
    "CheckSasl",
    "Forward",
    "NickCheck",
    "Output",
    "Quit",
    "Registered",
    "Registration",
]

#: Capabilities offered by default, name to the value ``CAP LS 302`` shows ("" for none).
#: ``draft/chathistory`` is the work-in-progress name the IRCv3 chathistory spec asks for.
DEFAULT_CAPABILITIES: Final[Mapping[str, str]] = {
    "away-notify": "",
    "batch": "",
    "draft/chathistory": "",
    "echo-message": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": "PLAIN",
    "server-time": "",
}
#: Bytes of base64 in one AUTHENTICATE line; a full chunk means another one follows.
SASL_CHUNK: Final = 400
#: Base64 bytes one SASL exchange may send: plenty for a PLAIN nick and password.
MAX_SASL_PAYLOAD: Final = 8 * SASL_CHUNK
#: Failed SASL attempts one connection may make; after that AUTHENTICATE fails at once.
MAX_SASL_ATTEMPTS: Final = 3
#: Longest username kept from USER (longer ones are cut, as servers do).
DEFAULT_USER_LENGTH: Final = 32

#: Says whether a nick is acceptable: None, or the numeric to refuse it with (432 or 433).
NickCheck = Callable[[str], Numeric | None]


@attrs.frozen
class Registered:
    """Registration is complete: what the client said, for the session to act on.

    Attributes:
        nick: the nick asked for (the caller may still refuse it: :meth:`Registration.refuse_nick`).
        user: the username from USER, cut to the configured length.
        realname: the realname from USER.
        password: the PASS parameter, or None if the client sent none.
        account: the account SASL logged into (as :meth:`Registration.sasl_succeeded` named it).
        capabilities: the capabilities enabled.
        cap_version: 302 if the client asked ``CAP LS 302`` (cap-notify is then implied), else 301.
    """

    nick: str
    user: str
    realname: str
    password: str | None
    account: str | None
    capabilities: frozenset[str]
    cap_version: int


@attrs.frozen(repr=False)
class CheckSasl:
    """Check these SASL PLAIN credentials, then call ``sasl_succeeded`` or ``sasl_failed``.

    Attributes:
        authorization: the identity to act as (authzid); ``""`` means the same as *authentication*.
        authentication: the identity whose password this is (authcid).
        password: the password.
    """

    authorization: str
    authentication: str
    password: str

    def __repr__(self) -> str:
        # The password must not end up in a log line.
        return (
            f"CheckSasl(authorization={self.authorization!r}, "
            f"authentication={self.authentication!r})"
        )


@attrs.frozen
class CapabilitiesChanged:
    """After registration, ``CAP REQ`` changed the capabilities: these are enabled now."""

    enabled: frozenset[str]


@attrs.frozen
class Quit:
    """The client sent QUIT before registering: close the connection (after the ERROR line)."""

    reason: str


@attrs.frozen
class Forward:
    """A message for the session: registration is done and this is not a registration command."""

    message: Message


#: Everything :meth:`Registration.receive` may return.
Output = Message | Registered | CheckSasl | CapabilitiesChanged | Quit | Forward

_After = Literal["handle", "refuse", "forward"]


@attrs.frozen
class _Rule:
    """How one command is handled: its parameters, its handler, and what happens once registered."""

    min_params: int
    handler: Callable[[Registration, Message], list[Output]]
    after_registration: _After


class Registration:
    """The registration of one IRC connection.

    *server* is the name used as the source of replies. *capabilities* maps the capabilities
    offered to their ``CAP LS 302`` values. *check_nick* says whether a nick may be used; the
    default only applies the protocol's rules. *host* is the host shown in 900 RPL_LOGGEDIN.
    """

    def __init__(
        self,
        *,
        server: str,
        capabilities: Mapping[str, str] = DEFAULT_CAPABILITIES,
        check_nick: NickCheck | None = None,
        host: str = "*",
        user_length: int = DEFAULT_USER_LENGTH,
    ) -> None:
        self.server = server
        self.offered: Mapping[str, str] = dict(capabilities)
        self._check_nick = check_nick or _protocol_nick_check
        self.host = host
        self.user_length = user_length
        #: True once :class:`Registered` went out (and no :meth:`refuse_nick` since).
        self.registered = False
        #: The nick asked for; after registration the caller keeps it current with :meth:`renamed`.
        self.nick: str | None = None
        self.user: str | None = None
        self.realname = ""
        self.password: str | None = None
        #: The account SASL logged into, if any.
        self.account: str | None = None
        #: The capabilities enabled.
        self.enabled: frozenset[str] = frozenset()
        self.cap_version = 301
        self._negotiating = False
        self._sasl_mechanism: str | None = None
        self._sasl_buffer = ""
        self._sasl_checking = False
        self._sasl_failures = 0

    @property
    def client(self) -> str:
        """The ``<client>`` parameter of replies: the nick, or ``*`` before there is one."""
        return self.nick or "*"

    def receive(self, message: Message) -> list[Output]:
        """Handle one message from the client and return what to do, in order."""
        rule = _RULES.get(message.verb)
        if self.registered:
            if rule is None or rule.after_registration == "forward":
                return [Forward(message)]
            if rule.after_registration == "refuse":
                return [self._reply(ERR_ALREADYREGISTERED)]
        elif rule is None:
            return [self._reply(ERR_NOTREGISTERED)]
        if len(message.params) < rule.min_params:
            return [self._reply(ERR_NEEDMOREPARAMS, message.verb)]
        return rule.handler(self, message)

    def sasl_succeeded(self, account: str) -> list[Output]:
        """The credentials of the last :class:`CheckSasl` were right: log in as *account*."""
        self._end_check()
        self.account = account
        mask = middle_param(f"{self.client}!{self.user or '*'}@{self.host}")
        return [
            RPL_LOGGEDIN.message(
                self.server,
                self.client,
                mask,
                middle_param(account),
                text=f"You are now logged in as {account}",
            ),
            self._reply(RPL_SASLSUCCESS),
            *self._complete(),
        ]

    def sasl_failed(self, numeric: Numeric = ERR_SASLFAIL) -> list[Output]:
        """The credentials of the last :class:`CheckSasl` were wrong (or the account is locked:
        pass ERR_NICKLOCKED). The client may try again, a limited number of times."""
        self._end_check()
        self._sasl_failures += 1
        return [self._reply(numeric), *self._complete()]

    def refuse_nick(self, numeric: Numeric = ERR_NICKNAMEINUSE) -> list[Output]:
        """The session could not give the client the nick of :class:`Registered`.

        Registration is open again: the client is told why (433 by default, or 432) and the
        next NICK completes it, with everything else kept.
        """
        if not self.registered or self.nick is None:
            raise RuntimeError("refuse_nick() is for the nick of a Registered")
        nick, self.nick, self.registered = self.nick, None, False
        return [self._reply(numeric, middle_param(nick))]

    def renamed(self, nick: str) -> None:
        """After registration, the session changed the client's nick: use it in replies."""
        self.nick = nick

    # -- helpers ------------------------------------------------------------------------------

    def _reply(self, numeric: Numeric, *params: str) -> Message:
        return numeric.message(self.server, self.client, *params)

    def _end_check(self) -> None:
        if not self._sasl_checking:
            raise RuntimeError("no SASL check is in flight")
        self._sasl_checking = False
        self._sasl_mechanism = None

    def _complete(self) -> list[Output]:
        if (
            self.registered
            or self.nick is None
            or self.user is None
            or self._negotiating
            or self._sasl_checking
        ):
            return []
        out: list[Output] = []
        if self._sasl_mechanism is not None:
            # sasl-3.1: registering in the middle of an exchange aborts it.
            self._sasl_mechanism = None
            self._sasl_buffer = ""
            out.append(self._reply(ERR_SASLABORTED))
        self.registered = True
        out.append(
            Registered(
                nick=self.nick,
                user=self.user,
                realname=self.realname,
                password=self.password,
                account=self.account,
                capabilities=self.enabled,
                cap_version=self.cap_version,
            )
        )
        return out

    # -- commands -----------------------------------------------------------------------------

    def _ping(self, message: Message) -> list[Output]:
        return [Message("PONG", (self.server, message.params[0]), source=self.server)]

    def _pong(self, _message: Message) -> list[Output]:
        return []

    def _quit(self, message: Message) -> list[Output]:
        reason = message.params[0] if message.params else ""
        return [Message("ERROR", ("Closing link: client quit",)), Quit(reason)]

    def _pass(self, message: Message) -> list[Output]:
        self.password = message.params[0]
        return []

    def _nick(self, message: Message) -> list[Output]:
        nick = message.params[0] if message.params else ""
        if not nick:
            return [self._reply(ERR_NONICKNAMEGIVEN)]
        refusal = self._check_nick(nick)
        if refusal is not None:
            return [self._reply(refusal, middle_param(nick))]
        self.nick = nick
        return self._complete()

    def _user(self, message: Message) -> list[Output]:
        if self.user is not None:
            return [self._reply(ERR_ALREADYREGISTERED)]
        username = message.params[0][: self.user_length]
        if any(char in "@!" or not char.isprintable() for char in username):
            return [self._reply(ERR_INVALIDUSERNAME)]
        self.user, self.realname = username, message.params[3]
        return self._complete()

    def _cap(self, message: Message) -> list[Output]:
        subcommand = message.params[0].upper()
        handler = _CAP_SUBCOMMANDS.get(subcommand)
        if handler is None:
            return [self._reply(ERR_INVALIDCAPCMD, middle_param(message.params[0]))]
        return handler(self, message.params[1:])

    def _cap_ls(self, arguments: tuple[str, ...]) -> list[Output]:
        if arguments and arguments[0].isdigit() and int(arguments[0]) >= 302:
            self.cap_version = 302
        if not self.registered:
            self._negotiating = True
        entries = [
            f"{name}={value}" if value and self.cap_version >= 302 else name
            for name, value in self.offered.items()
        ]
        return self._cap_lines("LS", entries)

    def _cap_list(self, _arguments: tuple[str, ...]) -> list[Output]:
        return self._cap_lines("LIST", sorted(self.enabled))

    def _cap_lines(self, subcommand: str, entries: list[str]) -> list[Output]:
        # A long list is split over several lines, each but the last marked "*" (CAP 302).
        lines: list[list[str]] = [[]]
        room = 400 - len(self.server) - len(self.client)
        for entry in entries:
            if lines[-1] and len(" ".join([*lines[-1], entry])) > room and self.cap_version >= 302:
                lines.append([])
            lines[-1].append(entry)
        out: list[Output] = []
        for index, line in enumerate(lines):
            more = ("*",) if index < len(lines) - 1 else ()
            params = (self.client, subcommand, *more, " ".join(line))
            out.append(Message("CAP", params, source=self.server))
        return out

    def _cap_req(self, arguments: tuple[str, ...]) -> list[Output]:
        if not arguments:
            return [self._reply(ERR_NEEDMOREPARAMS, "CAP")]
        if not self.registered:
            self._negotiating = True
        requested = arguments[0].split()
        enabled = set(self.enabled)
        for entry in requested:
            name = entry.removeprefix("-")
            if name not in self.offered:
                # All or nothing: one unknown capability refuses the whole request.
                return [Message("CAP", (self.client, "NAK", arguments[0]), source=self.server)]
            if entry.startswith("-"):
                enabled.discard(name)
            else:
                enabled.add(name)
        self.enabled = frozenset(enabled)
        out: list[Output] = [Message("CAP", (self.client, "ACK", arguments[0]), source=self.server)]
        if self.registered:
            out.append(CapabilitiesChanged(self.enabled))
        return out

    def _cap_end(self, _arguments: tuple[str, ...]) -> list[Output]:
        if self.registered:
            return []
        self._negotiating = False
        return self._complete()

    def _authenticate(self, message: Message) -> list[Output]:
        argument = message.params[0]
        if self.registered or self.account is not None:
            return [self._reply(ERR_SASLALREADY if self.account else ERR_ALREADYREGISTERED)]
        if self._sasl_checking:
            # The client must wait for 903 or 904; what it sends meanwhile is not an exchange.
            return []
        if "sasl" not in self.enabled or self._sasl_failures >= MAX_SASL_ATTEMPTS:
            return [self._reply(ERR_SASLFAIL)]
        if argument == "*":
            self._sasl_mechanism, self._sasl_buffer = None, ""
            return [self._reply(ERR_SASLABORTED)]
        if self._sasl_mechanism is None:
            return self._sasl_start(argument)
        return self._sasl_data(argument)

    def _sasl_start(self, mechanism: str) -> list[Output]:
        if mechanism.upper() != "PLAIN":
            return [self._reply(RPL_SASLMECHS, "PLAIN"), self._reply(ERR_SASLFAIL)]
        self._sasl_mechanism, self._sasl_buffer = "PLAIN", ""
        return [Message("AUTHENTICATE", ("+",), source=self.server)]

    def _sasl_data(self, chunk: str) -> list[Output]:
        size = len(chunk.encode())
        if size > SASL_CHUNK or len(self._sasl_buffer) + size > MAX_SASL_PAYLOAD:
            self._sasl_mechanism, self._sasl_buffer = None, ""
            return [self._reply(ERR_SASLTOOLONG)]
        if chunk != "+":
            self._sasl_buffer += chunk
        if size == SASL_CHUNK:
            return []  # a full chunk: more follows (a "+" if the payload ended exactly here)
        payload, self._sasl_buffer = self._sasl_buffer, ""
        credentials = _decode_plain(payload)
        if credentials is None:
            self._sasl_mechanism = None
            self._sasl_failures += 1
            return [self._reply(ERR_SASLFAIL)]
        self._sasl_checking = True
        return [credentials]


def _decode_plain(payload: str) -> CheckSasl | None:
    """RFC 4616 PLAIN: ``authzid NUL authcid NUL password``, base64 and UTF-8; None if malformed."""
    try:
        fields = base64.b64decode(payload, validate=True).decode("utf-8").split("\x00")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if len(fields) != 3 or not fields[1] or not fields[2]:
        return None
    return CheckSasl(authorization=fields[0], authentication=fields[1], password=fields[2])


def _protocol_nick_check(nick: str) -> Numeric | None:
    return ERR_ERRONEUSNICKNAME if nick_protocol_problem(nick) else None


# The commands registration knows, as data (the way ergo's command table reads): how many
# parameters each needs and what happens to it once the client is registered.
_RULES: Final[Mapping[str, _Rule]] = {
    "AUTHENTICATE": _Rule(1, Registration._authenticate, "handle"),
    "CAP": _Rule(1, Registration._cap, "handle"),
    "NICK": _Rule(0, Registration._nick, "forward"),
    "PASS": _Rule(1, Registration._pass, "refuse"),
    "PING": _Rule(1, Registration._ping, "handle"),
    "PONG": _Rule(0, Registration._pong, "forward"),
    "QUIT": _Rule(0, Registration._quit, "forward"),
    "USER": _Rule(4, Registration._user, "refuse"),
}
_CAP_SUBCOMMANDS: Final[Mapping[str, Callable[[Registration, tuple[str, ...]], list[Output]]]] = {
    "END": Registration._cap_end,
    "LIST": Registration._cap_list,
    "LS": Registration._cap_ls,
    "REQ": Registration._cap_req,
}
