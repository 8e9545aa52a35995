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

    #: Generic: a request the server cannot carry out (see the message).
    REFUSED = "refused"
    #: The command's syntax was wrong (``params["usage"]`` says how to use it).
    USAGE = "usage"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_COMMAND = "invalid_command"
    LINE_TOO_LONG = "line_too_long"
    NOT_UTF8 = "not_utf8"
    SLOW_DOWN = "slow_down"
    INVALID_NICK = "invalid_nick"
    NICK_IN_USE = "nick_in_use"
    NO_SUCH_NICK = "no_such_nick"
    NICK_REGISTERED = "nick_registered"
    INVALID_ROOM = "invalid_room"
    NO_SUCH_ROOM = "no_such_room"
    NOT_IN_ROOM = "not_in_room"
    NO_ROOM = "no_room"
    TOO_MANY_ROOMS = "too_many_rooms"
    SERVER_ROOMS_FULL = "server_rooms_full"
    NOT_OPERATOR = "not_operator"
    BANNED = "banned"
    INVALID_MASK = "invalid_mask"
    TOO_MANY_BANS = "too_many_bans"
    NOT_BANNED = "not_banned"
    TOPIC_TOO_LONG = "topic_too_long"
    PASSWORD_REQUIRED = "password_required"
    WRONG_PASSWORD = "wrong_password"
    TOO_MANY_FAILURES = "too_many_failures"
    STORE_UNAVAILABLE = "store_unavailable"


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
