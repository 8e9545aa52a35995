"""IRCv3 standard replies (``FAIL``, ``WARN``, ``NOTE``): machine-readable errors and notes that
are not numerics, such as ``FAIL * INVALID_UTF8`` or ``FAIL CHATHISTORY INVALID_PARAMS``."""

from __future__ import annotations

from typing import Literal

from ._message import Message

__all__ = ["standard_reply"]


def standard_reply(
    kind: Literal["FAIL", "WARN", "NOTE"],
    command: str,
    code: str,
    *context: str,
    description: str,
    server: str,
) -> Message:
    """An IRCv3 standard reply: ``FAIL <command> <code> [<context>...] :<description>``.

    *command* is the command it is about, or ``*`` for none; *code* a machine-readable
    ``UPPER_CASE`` word such as ``INVALID_UTF8`` (IRCv3 UTF8ONLY) or ``INVALID_PARAMS``
    (chathistory). Clients show *description* to people.
    """
    return Message(kind, (command, code, *context, description), source=server)
