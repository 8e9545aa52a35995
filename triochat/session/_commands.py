"""Commands a client can send, whatever protocol it speaks (sans-IO: no trio here).

Each codec turns what its client sends into these objects: the line protocols' parsers are
:mod:`triochat.protocols.text._parse` (``/join #rust``) and :mod:`triochat.protocols.jsonl._parse`
(``{"cmd": "join", "room": "#rust"}``). The session carries them out.
"""

from __future__ import annotations

from typing import Final

import attrs

from ..core._errors import ErrorCode
from ..core._position import Position

__all__ = [
    "FORMATS",
    "MAX_COUNT",
    "Admin",
    "Ban",
    "Command",
    "Format",
    "Help",
    "History",
    "Join",
    "Kick",
    "Me",
    "Msg",
    "Nick",
    "Op",
    "Part",
    "Pass",
    "Quit",
    "Register",
    "Rooms",
    "Say",
    "Switch",
    "Topic",
    "Unknown",
    "Unregister",
    "Who",
]

#: Wire formats a connection can use (``Format.name``).
FORMATS: Final = ("text", "json")
#: Largest count or page number a command takes. Bounding the digits before ``int()`` keeps
#: a long line of digits (past Python's 4 300-digit limit) an error reply, not an exception.
MAX_COUNT: Final = 999_999_999


@attrs.frozen
class Say:
    """A plain chat line, to *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@attrs.frozen
class Me:
    """``/me waves``: an action, to *room* (``None``: the current room)."""

    text: str
    room: str | None = None


@attrs.frozen
class Nick:
    """``/nick NAME [PASSWORD]``: the password is needed for a registered nick."""

    name: str
    password: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Pass:
    """``/pass PASSWORD``: the server password, on servers that need one."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Admin:
    """``/admin TOKEN``: become a server administrator."""

    token: str = attrs.field(repr=False)


@attrs.frozen
class Register:
    """``/register PASSWORD``: protect the current nick with a password."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Unregister:
    """``/unregister PASSWORD``: remove the protection of the current nick."""

    password: str = attrs.field(repr=False)


@attrs.frozen
class Kick:
    """``/kick NICK [reason]``, in the current room."""

    nick: str
    reason: str = ""


@attrs.frozen
class Op:
    """``/op NICK`` (*grant*) or ``/deop NICK``, in the current room."""

    nick: str
    grant: bool = True


@attrs.frozen
class Ban:
    """``/ban MASK`` (*add*) or ``/unban MASK``, in the current room; ``/bans`` lists them."""

    mask: str | None
    add: bool = True


@attrs.frozen
class Quit:
    """``/quit [reason]`` or the bare line ``quit``."""

    reason: str = ""


@attrs.frozen
class Help:
    """``/help``."""


@attrs.frozen
class Who:
    """``/who [#room [page]]``: list the members of a room (``None``: the current room), one
    page at a time."""

    room: str | None = None
    page: int = 1


@attrs.frozen
class Join:
    """``/join #room``: join (creating it if needed) and make it the current room.

    JSON only: *since*, the last event the client saw there (a reconnecting client), to get
    back what it missed (see ``core/_recovery.py``).
    """

    room: str
    since: Position | None = None


@attrs.frozen
class Part:
    """``/part [#room] [reason]``: leave a room (``None``: the current room)."""

    room: str | None = None
    reason: str = ""


@attrs.frozen
class Rooms:
    """``/rooms [page]``: list the rooms with their member counts and topics, a page at a time."""

    page: int = 1


@attrs.frozen
class Topic:
    """``/topic [text]``: show the current room's topic, or set it (``""`` clears it)."""

    text: str | None = None


@attrs.frozen
class Switch:
    """``/switch #room``: make another room you are in the current one."""

    room: str


@attrs.frozen
class Msg:
    """``/msg NICK text``: a private message."""

    nick: str
    text: str


@attrs.frozen
class History:
    """``/history [N]``: replay the last N events of the current room (``None``: all kept).

    JSON only: *after*, the kept events numbered after it (what a reconnecting client missed),
    and *room*, a room you are in instead of the current one.
    """

    count: int | None = None
    after: int | None = None
    room: str | None = None


@attrs.frozen
class Format:
    """``/format json|text``: switch this connection's wire format."""

    name: str


@attrs.frozen
class Unknown:
    """What a codec could not make a command of: no such command (*code*
    ``UNKNOWN_COMMAND``), a command used wrongly (``USAGE``) or unreadable (``INVALID_COMMAND``).

    *message* says what was wrong, worded by the codec that read it (the session sends it back
    as the error's ``message`` param, for that codec to show)."""

    message: str
    code: ErrorCode = attrs.field(default=ErrorCode.UNKNOWN_COMMAND, eq=False)


Command = (
    Say
    | Me
    | Nick
    | Quit
    | Help
    | Who
    | Join
    | Part
    | Rooms
    | Topic
    | Switch
    | Msg
    | History
    | Format
    | Pass
    | Admin
    | Register
    | Unregister
    | Kick
    | Op
    | Ban
    | Unknown
)
