"""Commands of front ends richer than the line protocol (IRC first), sans-IO: no trio here.

The line protocol's commands (:mod:`._commands`) act on "the current room" and answer in
sentences. A protocol like IRC names its target in every command, expects one room per
``JOIN`` answered with the room's topic and names, asks who is where (WHO, WHOIS, NAMES, LIST),
queries modes, and authenticates before it has a nick. These commands say that, protocol-neutrally;
the session answers each with notices whose ``kind`` and ``data`` carry everything a codec needs
(see :mod:`._front`), and every error notice carries ``data["command"]`` (what was asked, in
upper case) and ``data["target"]`` (the room or nick it was about), so that a codec can number it.

Two commands carry a continuation, ``then``: the codec's own function, which the session calls
with the outcome as soon as it is known (before the next frame is decoded), and whose result (a
command, or ``None``) the session carries out next. That is how a sans-IO codec learns what an
asynchronous check (a password hashed in a thread) decided, in order, without any I/O of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

import attrs

from ..core._position import Position

__all__ = [
    "AWAY_CHANGED",
    "Authenticate",
    "ChannelMode",
    "ChatHistory",
    "ChatHistoryTargets",
    "Echo",
    "FrontCommand",
    "JoinRoom",
    "KickUser",
    "ListRooms",
    "ModeQuery",
    "Names",
    "PartAll",
    "PartRoom",
    "Rename",
    "SayTo",
    "SetAway",
    "SignOn",
    "TopicOf",
    "WhoQuery",
    "Whois",
]

#: The kind of the notice that tells the members sharing a room with someone that it went away
#: or came back (data: ``nick``, ``away``: the text, or ``None``). IRC clients that asked for
#: ``away-notify`` see it as ``AWAY``; the text and JSON formats show nothing for it.
AWAY_CHANGED: Final = "away-changed"


@attrs.frozen
class Echo:
    """Nothing for the hub: the session answers with an empty notice of kind ``echo``, which
    wakes the connection's output so that the codec can send replies of its own (a PONG, a
    ``CAP ACK``) in order with everything else."""


@attrs.frozen
class SignOn:
    """The client finished registering (IRC: NICK and USER, after CAP END): check the server
    password (*password*), take *nick*, and call ``then(error)`` with ``None`` on success, or
    the error notice's code as a string. A registered nick is taken without its password when
    SASL logged in as it (*account*)."""

    nick: str
    password: str | None = attrs.field(repr=False)
    account: str | None
    then: Callable[[str | None], Any] = attrs.field(eq=False, repr=False)


@attrs.frozen(repr=False)
class Authenticate:
    """Check *password* for the registered nick *account* (IRC SASL PLAIN), then call
    ``then(account)`` if it is right, ``then(None)`` if not."""

    account: str
    password: str
    then: Callable[[str | None], Any] = attrs.field(eq=False)

    def __repr__(self) -> str:
        return f"Authenticate(account={self.account!r})"


@attrs.frozen
class Rename:
    """Change nick (IRC ``NICK`` after registration); errors name the nick asked for."""

    nick: str


@attrs.frozen
class JoinRoom:
    """Join one room (not made current for plain lines: IRC names the target of every line),
    and answer with a ``joined`` notice: the room, its topic and its members."""

    room: str


@attrs.frozen
class PartRoom:
    """Leave *room*, saying *reason*."""

    room: str
    reason: str = ""


@attrs.frozen
class PartAll:
    """Leave every room (IRC ``JOIN 0``)."""


@attrs.frozen
class SayTo:
    """Say *text* to a room (a name starting with ``#``) or privately to a nick. *action* is
    ``/me``; *quiet* (IRC ``NOTICE``) means no error reply and no away reply, ever."""

    target: str
    text: str
    action: bool = False
    quiet: bool = False


@attrs.frozen
class TopicOf:
    """Show the topic of *room* (*text* ``None``), or set it (``""`` clears it)."""

    room: str
    text: str | None = None


@attrs.frozen
class Names:
    """The members of *room*, with their operator status: a ``names`` notice."""

    room: str


@attrs.frozen
class WhoQuery:
    """The members of a room, or the member called *mask*: a ``who-list`` notice."""

    mask: str


@attrs.frozen
class Whois:
    """What there is to know about the member called *nick*: a ``whois`` notice."""

    nick: str


@attrs.frozen
class ListRooms:
    """Every room, with its member count and topic: a ``room-list`` notice (not paged)."""


@attrs.frozen
class ModeQuery:
    """The modes of a room, or of a nick (only your own): a ``modes`` notice; with *bans*, the
    ban list of a room: a ``ban-list`` notice."""

    target: str
    bans: bool = False


@attrs.frozen
class ChannelMode:
    """Change modes of *room*: each change is (``+`` or ``-``, ``o`` or ``b``, argument)."""

    room: str
    changes: tuple[tuple[str, str, str], ...]


@attrs.frozen
class KickUser:
    """Kick *nick* out of *room*, saying *reason*."""

    room: str
    nick: str
    reason: str = ""


@attrs.frozen
class SetAway:
    """Mark yourself away, saying *text*, or back (``None``)."""

    text: str | None = None


#: Where a CHATHISTORY request starts or stops: a time, or a message (its room's epoch and seq,
#: from its ``msgid``).
Reference = dt.datetime | Position


@attrs.frozen
class ChatHistory:
    """Up to *limit* events of *room*'s history: the latest ones (no bound), the latest ones
    before *before*, the first ones after *after*, or those between both; a ``chathistory``
    notice whose data holds the events. A message of another epoch of the room bounds nothing
    (its numbers name other events now): the latest ones are given instead."""

    room: str
    limit: int
    before: Reference | None = None
    after: Reference | None = None
    #: With *after*: the last *limit* after it (IRC's ``LATEST`` with a reference), not the first.
    latest: bool = False
    #: Instead of *before* and *after*: about *limit* events on either side of it, the event it
    #: names (or the first at or after its time) included.
    around: Reference | None = None
    #: The front end's own name for this request (the subcommand, in IRC), for its error replies.
    subcommand: str = ""


@attrs.frozen
class ChatHistoryTargets:
    """The rooms the member is in whose latest kept message lies strictly between *start* and
    *end*, with that message's time: a ``chathistory-targets`` notice whose data ``targets``
    lists ``(room, time)`` pairs from *start* towards *end* (either may be the later), at most
    *limit* of them."""

    start: dt.datetime
    end: dt.datetime
    limit: int


#: Every command of this module.
FrontCommand = (
    Echo
    | SignOn
    | Authenticate
    | Rename
    | JoinRoom
    | PartRoom
    | PartAll
    | SayTo
    | TopicOf
    | Names
    | WhoQuery
    | Whois
    | ListRooms
    | ModeQuery
    | ChannelMode
    | KickUser
    | SetAway
    | ChatHistory
    | ChatHistoryTargets
)
