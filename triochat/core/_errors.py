"""Errors a user can cause: each becomes an error line on the wire, never a crash."""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "Banned",
    "ChatError",
    "InvalidNick",
    "InvalidRoom",
    "NickInUse",
    "NoSuchNick",
    "NotInRoom",
    "NotOperator",
    "TooManyRooms",
]


class ChatError(Exception):
    """Base class of errors a user can cause and be told about; ``str(exc)`` is the message."""


class InvalidNick(ChatError):
    """A nick that breaks the rules (length, characters)."""


class NickInUse(ChatError):
    """A nick someone else has (nicks are compared ignoring case)."""


class NoSuchNick(ChatError):
    """No connected member has that nick."""


class InvalidRoom(ChatError):
    """A room name that breaks the rules."""


class NotInRoom(ChatError):
    """An action on a room the member is not in (or when it is in no room at all)."""


class TooManyRooms(ChatError):
    """A limit on rooms was reached: rooms per member, or rooms on the server."""


class NotOperator(ChatError):
    """A moderation command from someone who is not an operator of the room (nor an admin)."""


class Banned(ChatError):
    """The member matches one of the room's bans."""


class AuthenticationFailed(ChatError):
    """A wrong password: the server password, a registered nick's, or the admin token."""
