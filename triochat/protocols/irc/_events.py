"""Room events as IRC lines, rendered once per set of capabilities and shared (sans-IO).

A room event looks the same to every IRC client with the same capabilities that change its
bytes (``server-time`` adds a ``time`` tag; ``batch`` wraps history in a batch whose reference
comes from the room's name, so that it too is the same for everyone). So an event is rendered
once per such set, and :meth:`Event.encode <triochat.Event.encode>` shares the bytes. Everything
that differs per client (whether it sees its own messages, its own ``JOIN`` followed by the names)
is decided by the codec, which only picks which shared renderings to send.

Members are shown as ``nick!~nick@triochat``: every member is a triochat member, whatever it
connected with; its address is not shown (bans on addresses are the room operators' business).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from typing import Final

import attrs

from ...core._events import (
    Action,
    BanChanged,
    Event,
    Joined,
    Kicked,
    Left,
    Message,
    NickChanged,
    OperatorChanged,
    Private,
    TopicChanged,
)
from ._message import MAX_LINE
from ._message import Message as IrcMessage

__all__ = [
    "CAP_BATCH",
    "CAP_MSGID",
    "CAP_SERVER_TIME",
    "HOST",
    "EpochOf",
    "batch_reference",
    "format_time",
    "irc_mask",
    "irc_time",
    "message_id",
    "renderer",
    "source",
    "split_text",
    "triochat_mask",
]

#: The host part of every member's source.
HOST: Final = "triochat"
#: Bits of the capability sets that change the bytes of a room event.
CAP_SERVER_TIME: Final = 1
CAP_BATCH: Final = 2
#: ``message-tags`` with a server that names messages: a ``msgid`` tag on room events.
CAP_MSGID: Final = 4

#: The epoch of a room's order by room name (``None`` if unknown): what names its messages.
EpochOf = Callable[[str], "str | None"]
# "\x01ACTION " and "\x01" around the text of an action (CTCP).
_CTCP_ACTION: Final = ("\x01ACTION ", "\x01")


def source(nick: str) -> str:
    """How a member appears as the source of a line: ``nick!~nick@triochat``."""
    return f"{nick}!~{nick}@{HOST}"


def irc_time(event: Event) -> str:
    """The IRCv3 ``time`` tag's value: ISO 8601, UTC, milliseconds."""
    return format_time(event.time)


def format_time(time: dt.datetime) -> str:
    """*time* as IRCv3 writes times (``server-time``, CHATHISTORY): ISO 8601, UTC, milliseconds."""
    time = time.astimezone(dt.UTC)
    return time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z"


def message_id(epoch: str, seq: int) -> str:
    """The ``msgid`` of event *seq* of a room whose order's epoch is *epoch* (IRCv3
    message-ids): unique, since an epoch names one run of one room's order, and the same when
    the event is replayed (CHATHISTORY refers to it: ``msgid=<epoch>-<seq>``). A message split
    over several IRC lines names its pieces after the first ``<epoch>-<seq>.<n>``."""
    return f"{epoch}-{seq}"


def batch_reference(room: str) -> str:
    """The reference of the batch that holds *room*'s history: the same for every client (a
    connection never has two history batches of one room open at once)."""
    return f"h{zlib.crc32(room.casefold().encode()):08x}"


def irc_mask(mask: str) -> str:
    """A triochat ban mask (``NICK``, ``@ADDRESS``, ``NICK@ADDRESS``) as ``nick!user@host``."""
    nick, _, address = mask.partition("@")
    return f"{nick or '*'}!*@{address or '*'}"


def triochat_mask(mask: str) -> str:
    """An IRC ban mask as a triochat one: the nick part, and the host part unless it says
    nothing (``*``) or names the host every member shows (``triochat``); the user part is
    always ``~nick`` here, so it is ignored."""
    rest, _, host = mask.partition("@")
    nick = rest.partition("!")[0] or "*"
    if host in ("", "*", HOST):
        return nick
    return f"{'' if nick == '*' else nick}@{host}"


def split_text(prefix: str, text: str, limit: int = MAX_LINE - 2) -> list[str]:
    """*text* in pieces that each fit a line ``prefix + piece`` of *limit* bytes, cut at a
    space where one is near, never inside a character."""
    room = max(limit - len(prefix.encode()), 16)
    data = text.encode()
    if len(data) <= room:
        return [text]
    pieces = []
    while len(data) > room:
        cut = room
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
            cut -= 1
        space = data.rfind(b" ", cut - 64, cut)
        if space > 0:
            cut = space + 1
        pieces.append(data[:cut].decode())
        data = data[cut:]
    if data:
        pieces.append(data.decode())
    return pieces


def _lines(
    tags: dict[str, str], who: str, command: str, target: str, text: str
) -> list[IrcMessage]:
    prefix = f":{who} {command} {target} :"
    return [
        IrcMessage(command, (target, piece), source=who, tags=tags)
        for piece in split_text(prefix, text)
    ]


def _render(event: Event, caps: int, epoch_of: EpochOf | None = None) -> bytes:
    tags: dict[str, str] = {}
    if caps & CAP_SERVER_TIME:
        tags["time"] = irc_time(event)
    if event.history and caps & CAP_BATCH:
        tags["batch"] = batch_reference(event.room)
    if caps & CAP_MSGID and event.seq and epoch_of is not None:
        epoch = epoch_of(event.room)
        if epoch is not None:
            tags["msgid"] = message_id(epoch, event.seq)
    who = source(event.sender)
    room = event.room
    lines: list[IrcMessage]
    match event:
        case Message(text=text):
            lines = _lines(tags, who, "PRIVMSG", room, text)
        case Action(text=text):
            start, end = _CTCP_ACTION
            pieces = split_text(f":{who} PRIVMSG {room} :{start}{end}", text)
            lines = [
                IrcMessage("PRIVMSG", (room, f"{start}{piece}{end}"), source=who, tags=tags)
                for piece in pieces
            ]
        case Private(target=target, text=text):
            lines = _lines(tags, who, "PRIVMSG", target, text)
        case Joined():
            lines = [IrcMessage("JOIN", (room,), source=who, tags=tags)]
        case Left(reason=reason, quit=True):
            lines = [IrcMessage("QUIT", (reason,), source=who, tags=tags)]
        case Left(reason=reason):
            params = (room, reason) if reason else (room,)
            lines = [IrcMessage("PART", params, source=who, tags=tags)]
        case NickChanged(new=new):
            lines = [IrcMessage("NICK", (new,), source=who, tags=tags)]
        case TopicChanged(text=text):
            lines = [IrcMessage("TOPIC", (room, text), source=who, tags=tags)]
        case Kicked(target=target, reason=reason):
            lines = [IrcMessage("KICK", (room, target, reason or target), source=who, tags=tags)]
        case OperatorChanged(target=target, operator=operator):
            mode = "+o" if operator else "-o"
            lines = [IrcMessage("MODE", (room, mode, target), source=who, tags=tags)]
        case BanChanged(mask=mask, banned=banned):
            mode = "+b" if banned else "-b"
            lines = [IrcMessage("MODE", (room, mode, irc_mask(mask)), source=who, tags=tags)]
        case _:
            raise TypeError(f"no IRC rendering for {type(event).__name__}")
    msgid = tags.get("msgid")
    if msgid is not None and len(lines) > 1:
        # A msgid is unique (IRCv3 message-ids): a client that drops one it has seen must not
        # drop the pieces of a long message after the first, so they are <msgid>.1, .2...
        lines[1:] = [
            attrs.evolve(line, tags={**tags, "msgid": f"{msgid}.{number}"})
            for number, line in enumerate(lines[1:], 1)
        ]
    return b"".join([line.encode() for line in lines])


# One render function and cache key per capability set, made once.
_RENDERERS: dict[int, tuple[str, Callable[[Event], bytes]]] = {}


def renderer(caps: int, epoch_of: EpochOf | None = None) -> tuple[str, Callable[[Event], bytes]]:
    """The cache key and the render function of room events for the capability bits *caps*
    (with ``CAP_MSGID``, naming messages with *epoch_of*: one per server, so not kept here; the
    events of one server name the same epochs whichever client renders them first)."""
    if caps & CAP_MSGID:

        def named(event: Event) -> bytes:
            return _render(event, caps, epoch_of)

        return f"irc{caps}", named
    try:
        return _RENDERERS[caps]
    except KeyError:

        def render(event: Event) -> bytes:
            return _render(event, caps)

        made = _RENDERERS[caps] = (f"irc{caps}", render)
        return made
