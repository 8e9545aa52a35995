"""The IRC codec: IRC lines in, session commands out; events and notices out, IRC lines in.

A :class:`~triochat.protocols.Codec` (sans-IO, no trio). Lines are framed by
:class:`IrcLineSplitter` and parsed in :meth:`IrcCodec.receive` (a ``JOIN``, ``PART`` or
``NAMES`` of several channels becomes one frame per channel, so that the driver's backpressure
and flood control see each: joining twenty channels with their history must not overflow an
outbox). :meth:`IrcCodec.decode` runs the :class:`Registration` state machine until the client
is registered, then maps each command to a session command (:mod:`._inbound`).

Replies the codec makes itself (``PONG``, ``CAP``, ``461``, the welcome burst) cannot go into
the member's outbox (the codec has no access to it, and is sans-IO): they wait here, in order, and
the codec asks the session for an :class:`Echo`, an empty notice that takes their place in the
outbox. When :meth:`encode` meets that notice, it sends them there, in order with every reply and
event around them (a client that matches replies to its commands needs that order). Room events
are rendered once per capability set and shared (:mod:`._events`); notices are rendered for this
client (:mod:`._replies`).
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Mapping
from typing import ClassVar, Final

import attrs

from ...core._errors import ErrorCode
from ...core._events import (
    Action,
    Event,
    Kicked,
    Left,
    Message,
    NickChanged,
    Notice,
    TopicChanged,
)
from ...core._events import Private as PrivateEvent
from ...session._commands import Quit as QuitCommand
from ...session._front_commands import AWAY_CHANGED, Authenticate, Echo, SignOn
from ...session._input import InputError, InputProblem
from ...session._reasons import CloseReason
from .._codec import Input, Refusal
from ._casemap import CaseMapping
from ._events import (
    CAP_BATCH,
    CAP_MSGID,
    CAP_SERVER_TIME,
    HOST,
    EpochOf,
    batch_reference,
    irc_time,
    renderer,
    source,
)
from ._inbound import expand, to_command
from ._isupport import Features, isupport_messages
from ._message import (
    MAX_LINE,
    InputTooLong,
    IrcLineSplitter,
    LineTooLong,
    MessageError,
    NotUtf8,
    parse_client_line,
)
from ._message import Message as IrcMessage
from ._numerics import (
    ERR_ERRONEUSNICKNAME,
    ERR_NICKNAMEINUSE,
    RPL_CREATED,
    RPL_ENDOFMOTD,
    RPL_MOTD,
    RPL_MOTDSTART,
    RPL_MYINFO,
    RPL_WELCOME,
    RPL_YOURHOST,
)
from ._registration import (
    DEFAULT_CAPABILITIES,
    CapabilitiesChanged,
    CheckSasl,
    Forward,
    Output,
    Quit,
    Registered,
    Registration,
)
from ._replies import Replier

__all__ = ["IRC_CAPABILITIES", "IrcCodec", "IrcSettings"]

#: The capabilities offered: all of :data:`DEFAULT_CAPABILITIES`.
IRC_CAPABILITIES: Final[Mapping[str, str]] = dict(DEFAULT_CAPABILITIES)
_REFUSALS: Final = {
    Refusal.SERVER_FULL: "server full, try again later",
    Refusal.TOO_MANY_FROM_ADDRESS: "too many connections from your address (the limit is {limit})",
    Refusal.NOT_TLS: "this port speaks TLS",
}


def _casefold(name: str) -> str:
    return name.casefold()


@attrs.frozen(kw_only=True)
class IrcSettings:
    """What every IRC client of one server is told: shared by all their codecs.

    Attributes:
      server: the server's name, the source of its replies.
      features: the ``RPL_ISUPPORT`` tokens (the server builds them from its real limits).
      version: shown in 002 and 004.
      created: shown in 003.
      motd: the lines of the message of the day.
      capabilities: offered in ``CAP LS``.
      epoch_of: the epoch of a room's order, by room name: with it, clients that enable
        ``message-tags`` get a ``msgid`` tag on room events (``None``: no message IDs).
    """

    server: str = "triochat"
    features: Features = attrs.field(
        factory=lambda: Features(casemapping=CaseMapping("x-triochat", _casefold))
    )
    version: str = "triochat"
    created: str = "when it started"
    motd: tuple[str, ...] = ("Welcome to triochat: the same rooms for IRC, nc and JSON clients.",)
    capabilities: Mapping[str, str] = IRC_CAPABILITIES
    epoch_of: EpochOf | None = None


Render = Callable[[Event], bytes]
# The chat events a batch may hold to be shared as it is (see _LastBatch).
_CHAT: Final = frozenset({Message, Action})


class _LastBatch:
    """The last batch of chat lines encoded for a client that sent none of them: its events,
    its cache key (capabilities), the senders, and its bytes.

    Under load the members of a room hold the same batch (every line since their last write), and
    for each one that sent none of those lines (or takes its own echoes) the bytes are the same:
    comparing the batch by identity, in C, costs far less than looking up each line's encoding
    and joining them again for every member. (The line codec does the same.)
    """

    events: ClassVar[list[Event]] = []
    key: ClassVar[str] = ""
    senders: ClassVar[frozenset[str]] = frozenset()
    data: ClassVar[bytes] = b""


class IrcCodec:
    """One IRC client's protocol state (see the module's docstring)."""

    name: ClassVar[str] = "irc"
    #: The session must not put an IRC client in the default room: it joins what it asks for.
    auto_join: ClassVar[bool] = False

    def __init__(self, settings: IrcSettings | None = None) -> None:
        self.settings = settings = settings or IrcSettings()
        self._splitter = IrcLineSplitter()
        self.registration = Registration(
            server=settings.server, capabilities=settings.capabilities, host=HOST
        )
        self._replier = Replier(settings.server)
        # Replies of the codec's own not yet given an Echo, and those that have one, in the
        # order of their Echo notices (bounded: each waits for a notice in the bounded outbox).
        self._immediate: list[bytes] = []
        self._sealed: collections.deque[bytes] = collections.deque()
        self._echo = False
        self._asks_history = False
        self._live = renderer(0)
        self._replay = renderer(0)
        # History replayed on joining a room, held until the room's names have gone out.
        self._held: dict[str, list[Event]] = {}
        # The room whose CHATHISTORY batch is open.
        self._replaying: str | None = None
        # The last QUIT or NICK sent: a member in several rooms with us leaves or renames in
        # each of them, and IRC says so once.
        self._last_repeat: tuple[object, ...] | None = None

    @property
    def nick(self) -> str:
        """The client's nick as the codec knows it (``*`` before registration)."""
        return self._replier.nick

    @property
    def pending(self) -> int:
        return self._splitter.pending

    # ------------------------------------------------------------------------------ input

    def receive(self, data: bytes | bytearray) -> list[object]:
        frames: list[object] = []
        for line in self._splitter.feed(data):
            if isinstance(line, LineTooLong):
                frames.append(InputError(InputProblem.LINE_TOO_LONG, limit=MAX_LINE))
                continue
            try:
                message = parse_client_line(line)
            except InputTooLong:
                frames.append(InputError(InputProblem.LINE_TOO_LONG, limit=MAX_LINE))
            except NotUtf8:
                frames.append(InputError(InputProblem.NOT_UTF8))
            except MessageError:
                continue  # not a message at all (spaces only): IRC ignores it
            else:
                frames.extend(expand(message))
        return frames

    def decode(self, frame: object) -> Input:
        if isinstance(frame, InputError):
            return frame
        assert isinstance(frame, IrcMessage)
        return self._act(self.registration.receive(frame))

    def _act(self, outputs: list[Output]) -> Input:
        """Queue the replies among *outputs*; the command they ask of the session, if any."""
        command: Input = None
        for output in outputs:
            match output:
                case IrcMessage():
                    if output.command != "ERROR":  # the goodbye says it
                        self.queue(output)
                case Registered():
                    self._set_capabilities(output.capabilities)
                    command = SignOn(
                        output.nick, output.password, output.account, then=self._signed_on
                    )
                case CheckSasl():
                    command = self._check_sasl(output)
                case CapabilitiesChanged(enabled=enabled):
                    self._set_capabilities(enabled)
                case Quit(reason=reason):
                    command = QuitCommand(reason)
                case Forward(message=message):
                    command = to_command(self, message)
        if command is None and self._immediate:
            return self._echo_request()
        return command

    def _echo_request(self) -> Echo:
        """An Echo for the replies queued so far: they go out where its notice is."""
        self._sealed.append(b"".join(self._immediate))
        self._immediate = []
        return Echo()

    def queue(self, *messages: IrcMessage) -> None:
        """Send *messages* with the next output, before it."""
        self._immediate.extend(message.encode() for message in messages)

    def _set_capabilities(self, enabled: frozenset[str]) -> None:
        epoch_of = self.settings.epoch_of
        caps = (
            (CAP_SERVER_TIME if "server-time" in enabled else 0)
            | (CAP_BATCH if "batch" in enabled else 0)
            | (CAP_MSGID if "message-tags" in enabled and epoch_of is not None else 0)
        )
        self._live = renderer(caps & ~CAP_BATCH, epoch_of)  # batches only matter for history
        self._replay = renderer(caps, epoch_of)
        self._echo = "echo-message" in enabled
        self._asks_history = "draft/chathistory" in enabled
        self._replier.batch = "batch" in enabled

    def _check_sasl(self, check: CheckSasl) -> Input:
        if check.authorization and check.authorization != check.authentication:
            return self._act(self.registration.sasl_failed())  # no acting as someone else
        return Authenticate(check.authentication, check.password, then=self._sasl_done)

    def _sasl_done(self, account: str | None) -> Input:
        # Called by the session as soon as the password is checked, before the next frame.
        registration = self.registration
        outputs = (
            registration.sasl_succeeded(account)
            if account is not None
            else registration.sasl_failed()
        )
        return self._act(outputs)

    def _signed_on(self, error: str | None) -> Input:
        # Called by the session once it has given the client its nick, or could not.
        registration = self.registration
        if error is not None:
            numeric = ERR_ERRONEUSNICKNAME if error == ErrorCode.INVALID_NICK else ERR_NICKNAMEINUSE
            for reply in registration.refuse_nick(numeric):  # replies only: no command
                assert isinstance(reply, IrcMessage)
                self.queue(reply)
            if error == ErrorCode.NICK_REGISTERED:
                self.queue(
                    IrcMessage(
                        "NOTICE",
                        ("*", "That nick is registered: log in with SASL PLAIN to use it"),
                        source=self.settings.server,
                    )
                )
            return self._echo_request()
        assert registration.nick is not None
        self._replier.nick = registration.nick
        self.queue(*self._welcome())
        return self._echo_request()

    def _welcome(self) -> list[IrcMessage]:
        settings, reply = self.settings, self._replier
        nick, server = reply.nick, settings.server
        features = settings.features
        if "draft/chathistory" not in self.registration.enabled:
            features = attrs.evolve(features, chathistory=None)
        return [
            reply.numeric(
                RPL_WELCOME,
                text=f"Welcome to the {features.network} IRC Network, {nick}!~{nick}@{HOST}",
            ),
            reply.numeric(
                RPL_YOURHOST, text=f"Your host is {server}, running version {settings.version}"
            ),
            reply.numeric(RPL_CREATED, text=f"This server was created {settings.created}"),
            reply.numeric(RPL_MYINFO, server, settings.version, "o", "bno", "bo"),
            *isupport_messages(server, nick, features.tokens()),
            *self.motd(),
        ]

    def motd(self) -> list[IrcMessage]:
        """The message of the day: 375, 372 for each line, 376."""
        reply, server = self._replier, self.settings.server
        return [
            reply.numeric(RPL_MOTDSTART, text=f"- {server} Message of the day - "),
            *[reply.numeric(RPL_MOTD, text=f"- {line}") for line in self.settings.motd],
            reply.numeric(RPL_ENDOFMOTD),
        ]

    # ------------------------------------------------------------------------------ output

    def encode(self, events: list[Event]) -> bytes:
        live_key, live_render = self._live
        last = _LastBatch
        if (
            len(events) == len(last.events)
            and live_key == last.key
            and (self._echo or self._replier.nick not in last.senders)
            and all(map(operator.is_, events, last.events))
        ):
            # The batch every receiver of a busy room holds: chat lines only, none of them ours.
            self._last_repeat = None
            return last.data
        data = self._encode(events, live_key, live_render)
        if (
            events
            and all(type(event) in _CHAT and not event.history for event in events)
            and (self._echo or all(event.sender != self._replier.nick for event in events))
        ):
            # Nothing in it was left out for this client: every client may share it.
            last.events, last.key, last.data = events, live_key, data
            last.senders = frozenset([event.sender for event in events])
        return data

    def _encode(self, events: list[Event], live_key: str, live_render: Render) -> bytes:
        parts: list[bytes] = []
        nick = self._replier.nick
        echo = self._echo
        for event in events:
            cls = type(event)
            if cls is Notice:
                assert isinstance(event, Notice)
                if event.kind == "echo":
                    if self._sealed:
                        parts.append(self._sealed.popleft())
                    continue
                parts.extend(self._notice(event))
                nick = self._replier.nick
                continue
            if event.history:
                self._history(event, parts)
                continue
            if cls is Message or cls is Action or cls is PrivateEvent:
                if event.sender == nick and not echo:
                    continue
                self._last_repeat = None
            elif cls is NickChanged or (cls is Left and event.quit):  # type: ignore[attr-defined]
                repeat = (cls, event.sender, getattr(event, "new", None))
                if repeat == self._last_repeat:
                    continue
                self._last_repeat = repeat
                if cls is NickChanged and event.sender == nick:
                    assert isinstance(event, NickChanged)
                    nick = self._replier.nick = event.new
                    self.registration.renamed(nick)
            else:
                self._last_repeat = None
                if (cls is Left and event.sender == nick) or (
                    cls is Kicked and event.target == nick  # type: ignore[attr-defined]
                ):
                    self._held.pop(event.room, None)
            parts.append(event.encode(live_key, live_render))
        return b"".join(parts)

    def _history(self, event: Event, parts: list[bytes]) -> None:
        if event.room == self._replaying:
            key, render = self._replay
            parts.append(event.encode(key, render))
        elif type(event) is not TopicChanged and not self._asks_history:
            # Replayed on joining: held until the JOIN and the names have gone out (the topic
            # of now goes out with the names). A client with draft/chathistory asks for the
            # history it wants, so the server SHOULD NOT play it back by itself (IRCv3).
            self._held.setdefault(event.room, []).append(event)

    def _notice(self, notice: Notice) -> list[bytes]:
        kind = notice.kind
        if kind == "chathistory":
            self._replaying = notice.data["room"]
        elif kind == "chathistory-end":
            self._replaying = None
        if kind == AWAY_CHANGED:
            return self._away_changed(notice)
        lines = [line.encode() for line in self._replier.notice(notice)]
        if kind == "joined":
            held = self._held.pop(notice.data["room"], None)
            if held:
                lines.extend(self._replayed(notice.data["room"], held))
        return lines

    def _away_changed(self, notice: Notice) -> list[bytes]:
        """``AWAY`` from a member sharing a room, for a client that asked for away-notify."""
        enabled = self.registration.enabled
        if "away-notify" not in enabled:
            return []
        away = notice.data["away"]
        tags = {"time": irc_time(notice)} if "server-time" in enabled else {}
        params = (away,) if away is not None else ()
        message = IrcMessage("AWAY", params, source=source(notice.data["nick"]), tags=tags)
        return [message.encode()]

    def _replayed(self, room: str, events: list[Event]) -> list[bytes]:
        key, render = self._replay
        lines = [event.encode(key, render) for event in events]
        if not self._replier.batch:
            return lines
        reference = batch_reference(room)
        server = self.settings.server
        start = IrcMessage("BATCH", (f"+{reference}", "chathistory", room), source=server)
        end = IrcMessage("BATCH", (f"-{reference}",), source=server)
        return [start.encode(), *lines, end.encode()]

    def goodbye(self, reason: CloseReason, detail: str = "") -> bytes:
        said = reason.describe(detail)
        return IrcMessage("ERROR", (f"Closing link: {said}",)).encode()

    @staticmethod
    def refusal(refusal: Refusal, *, limit: int = 0) -> bytes:
        """The line that turns a client away before it has a session."""
        said = _REFUSALS[refusal].format(limit=limit)
        return IrcMessage("ERROR", (f"Closing link: {said}",)).encode()
