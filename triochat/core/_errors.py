"""Errors a user can cause: each becomes an error reply on the wire, never a crash.

Every error has a stable :class:`ErrorCode` and the details a protocol needs to word it
(``params``): the text format turns them into a sentence, IRC into a numeric, JSON into
``code`` and ``data``. ``str(exc)`` is a plain description for library users.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "Banned",
    "ChatError",
    "ErrorCode",
    "InvalidNick",
    "InvalidRoom",
    "NickInUse",
    "NoSuchNick",
    "NotInRoom",
    "NotOperator",
    "TooManyRooms",
]


class ErrorCode(enum.StrEnum):
    """What went wrong, for programs and protocols: stable, whatever the wording."""

    # The params each code comes with are listed beside it; every error also has
    # ``description`` (its ``str()``, for a protocol with no wording of its own for it).

    #: Generic — a request the server cannot carry out (see ``description``).
    REFUSED = "refused"
    #: The command's syntax was wrong — ``message`` (worded by the codec that parsed it).
    USAGE = "usage"
    #: No such command — ``message`` (worded by the codec that parsed it).
    UNKNOWN_COMMAND = "unknown_command"
    #: A command that could not be read (bad JSON...) — ``message``, worded by its codec.
    INVALID_COMMAND = "invalid_command"
    #: ``limit`` — the longest line, in bytes.
    LINE_TOO_LONG = "line_too_long"
    #: ``offset`` — the first byte that is not UTF-8.
    NOT_UTF8 = "not_utf8"
    #: ``rate`` (lines a second) and ``burst``.
    SLOW_DOWN = "slow_down"
    #: ``problem`` — ``length`` (``limit``), ``characters`` or ``spaces``; ``nick``.
    INVALID_NICK = "invalid_nick"
    #: ``nick``.
    NICK_IN_USE = "nick_in_use"
    #: ``nick``.
    NO_SUCH_NICK = "no_such_nick"
    #: ``nick`` — registered, and no password was given for it.
    NICK_REGISTERED = "nick_registered"
    #: ``nick`` — ``/register`` of a nick that is registered already.
    ALREADY_REGISTERED = "already_registered"
    #: ``nick`` — ``/unregister`` of a nick that is not registered.
    NOT_REGISTERED = "not_registered"
    #: Registering a guest nick (``guest-12``) — choose one first.
    GUEST_NICK = "guest_nick"
    #: A new password of the wrong length — ``min`` and ``max`` characters.
    INVALID_PASSWORD = "invalid_password"
    #: Registrations from this address are throttled — ``seconds`` to wait.
    TOO_MANY_REGISTRATIONS = "too_many_registrations"
    #: The server keeps no registered nicks.
    NO_NICK_STORE = "no_nick_store"
    #: ``limit`` — the longest room name after its ``#``.
    INVALID_ROOM = "invalid_room"
    #: ``room``.
    NO_SUCH_ROOM = "no_such_room"
    #: ``room``; ``hint`` (``"join"``) when joining it is the remedy.
    NOT_IN_ROOM = "not_in_room"
    #: The member is in no room; ``hint`` (``"join"``) when joining one is the remedy.
    NO_ROOM = "no_room"
    #: ``nick`` is not in ``room`` (the target of a moderation command).
    USER_NOT_IN_ROOM = "user_not_in_room"
    #: ``limit`` — rooms a member may be in.
    TOO_MANY_ROOMS = "too_many_rooms"
    #: ``limit`` — rooms on the server.
    SERVER_ROOMS_FULL = "server_rooms_full"
    #: ``room``.
    NOT_OPERATOR = "not_operator"
    #: ``nick`` — a server admin, whom only an admin can kick.
    TARGET_IS_ADMIN = "target_is_admin"
    #: ``room``.
    BANNED = "banned"
    INVALID_MASK = "invalid_mask"
    #: ``room`` and ``limit``.
    TOO_MANY_BANS = "too_many_bans"
    #: ``mask`` and ``room``.
    NOT_BANNED = "not_banned"
    #: ``limit`` — the longest topic, in characters.
    TOPIC_TOO_LONG = "topic_too_long"
    #: A listing has no such page — ``listing`` (``who`` or ``rooms``), ``pages``, ``room``.
    NO_SUCH_PAGE = "no_such_page"
    #: Anything but the password, before the password.
    PASSWORD_REQUIRED = "password_required"
    #: The password was given already.
    ALREADY_AUTHENTICATED = "already_authenticated"
    #: ``secret`` — ``server`` (the server password), ``admin`` (the admin token) or
    #: ``nick`` (the password of registered ``nick``).
    WRONG_PASSWORD = "wrong_password"
    #: The server has no admin token.
    NO_ADMIN_TOKEN = "no_admin_token"
    TOO_MANY_FAILURES = "too_many_failures"
    STORE_UNAVAILABLE = "store_unavailable"
    #: ``nick`` has been disconnected (a library call on a member that is gone).
    NOT_CONNECTED = "not_connected"


class ChatError(Exception):
    """Base class of errors a user can cause and be told about.

    ``str(exc)`` is the message; ``exc.code`` (an :class:`ErrorCode`) says what went wrong
    (each subclass has its own, a raise site may name a more precise one) and ``exc.params``
    carries the details (``nick``, ``room``, ``limit``...) a protocol words its reply with.
    """

    #: The code of this kind of error, unless the raise site names another.
    default_code: ClassVar[ErrorCode] = ErrorCode.REFUSED

    def __init__(self, message: str = "", *, code: ErrorCode | None = None, **params: Any):
        super().__init__(message)
        self.code: ErrorCode = code or self.default_code
        self.params: dict[str, Any] = params


class InvalidNick(ChatError):
    """A nick that breaks the rules (length, characters)."""

    default_code = ErrorCode.INVALID_NICK


class NickInUse(ChatError):
    """A nick someone else has (nicks are compared ignoring case)."""

    default_code = ErrorCode.NICK_IN_USE


class NoSuchNick(ChatError):
    """No connected member has that nick."""

    default_code = ErrorCode.NO_SUCH_NICK


class InvalidRoom(ChatError):
    """A room name that breaks the rules."""

    default_code = ErrorCode.INVALID_ROOM


class NotInRoom(ChatError):
    """An action on a room the member is not in (or when it is in no room at all)."""

    default_code = ErrorCode.NOT_IN_ROOM


class TooManyRooms(ChatError):
    """A limit on rooms was reached: rooms per member, or rooms on the server."""

    default_code = ErrorCode.TOO_MANY_ROOMS


class NotOperator(ChatError):
    """A moderation command from someone who is not an operator of the room (nor an admin)."""

    default_code = ErrorCode.NOT_OPERATOR


class Banned(ChatError):
    """The member matches one of the room's bans."""

    default_code = ErrorCode.BANNED


class AuthenticationFailed(ChatError):
    """A wrong password: the server password, a registered nick's, or the admin token."""

    default_code = ErrorCode.WRONG_PASSWORD
