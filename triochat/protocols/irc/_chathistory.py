"""``CHATHISTORY`` (IRCv3 draft/chathistory) as session commands, sans-IO.

Every subcommand of the spec is understood::

    CHATHISTORY LATEST  <target> <* | reference> <limit>
    CHATHISTORY BEFORE  <target> <reference> <limit>
    CHATHISTORY AFTER   <target> <reference> <limit>
    CHATHISTORY AROUND  <target> <reference> <limit>
    CHATHISTORY BETWEEN <target> <reference> <reference> <limit>
    CHATHISTORY TARGETS <timestamp> <timestamp> <limit>

A reference is ``timestamp=YYYY-MM-DDThh:mm:ss.sssZ`` or ``msgid=<id>`` (a message's ``msgid``
tag: its room's epoch and seq, see :func:`~._events.message_id`); ``*`` (no reference) only
after ``LATEST``. A limit above the advertised ``CHATHISTORY=`` maximum gets that maximum. What is
malformed is answered here, with ``FAIL CHATHISTORY INVALID_PARAMS <subcommand>`` (the spec's
code for an unknown subcommand, missing, excess or unparsable parameters), and a target that is
not a channel with ``INVALID_TARGET`` (private conversations are not kept); a channel the client
is not in gets ``INVALID_TARGET`` from the session's error.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

from ...core._position import Position
from ...session._front_commands import ChatHistory, ChatHistoryTargets
from ...session._input import Input
from ._message import Message, middle_param
from ._standard_replies import standard_reply

if TYPE_CHECKING:
    from ._codec import IrcCodec

__all__ = ["chathistory"]

#: Subcommand: how many references it takes.
_REFERENCES: Final = {
    "LATEST": 1,
    "BEFORE": 1,
    "AFTER": 1,
    "AROUND": 1,
    "BETWEEN": 2,
    "TARGETS": 2,
}
#: The maximum when the server advertises none (it always does when it offers the capability).
_DEFAULT_MOST: Final = 100


def chathistory(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    """The session command for a ``CHATHISTORY`` line, or ``None`` after queueing its FAIL."""
    subcommand = params[0].upper() if params else ""
    references = _REFERENCES.get(subcommand)
    if references is None:
        return _fail(codec, "INVALID_PARAMS", subcommand, why="unknown subcommand")
    first = 1 if subcommand == "TARGETS" else 2  # where the references start
    if len(params) != first + references + 1:
        return _fail(codec, "INVALID_PARAMS", subcommand, why="wrong number of parameters")
    limit_text = params[-1]
    # ASCII digits only: str.isdecimal() also takes other scripts' digits, no IRC integer.
    digits = limit_text.isascii() and limit_text.isdecimal() and len(limit_text) < 6
    limit = int(limit_text) if digits else 0
    if limit < 1:
        return _fail(codec, "INVALID_PARAMS", subcommand, why="the limit is a positive number")
    limit = min(limit, codec.settings.features.chathistory or _DEFAULT_MOST)
    given = params[first : first + references]
    if subcommand == "TARGETS":
        start, end = (_reference(text) for text in given)
        if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
            return _fail(codec, "INVALID_PARAMS", subcommand, why="TARGETS takes two timestamps")
        return ChatHistoryTargets(start, end, limit)
    target = params[1]
    unbounded = subcommand == "LATEST" and given == ("*",)
    bounds = [None] if unbounded else [_reference(text) for text in given]
    if None in bounds and not unbounded:
        why = "a reference is timestamp=<time> or msgid=<id>, or * after LATEST"
        return _fail(codec, "INVALID_PARAMS", subcommand, *given, why=why)
    if not target.startswith("#"):
        return _fail(codec, "INVALID_TARGET", subcommand, target, why="only channels have history")
    match subcommand:
        case "BEFORE":
            return ChatHistory(target, limit, before=bounds[0], subcommand=subcommand)
        case "AFTER":
            return ChatHistory(target, limit, after=bounds[0], subcommand=subcommand)
        case "AROUND":
            return ChatHistory(target, limit, around=bounds[0], subcommand=subcommand)
        case "BETWEEN":
            return ChatHistory(
                target, limit, before=bounds[1], after=bounds[0], subcommand=subcommand
            )
    return ChatHistory(target, limit, after=bounds[0], latest=True, subcommand=subcommand)


def _fail(codec: IrcCodec, code: str, *context: str, why: str) -> Input:
    """Queue ``FAIL CHATHISTORY <code> <context>... :<why>``; nothing for the session."""
    message: Message = standard_reply(
        "FAIL",
        "CHATHISTORY",
        code,
        *[middle_param(text) for text in context if text],
        description=why,
        server=codec.settings.server,
    )
    codec.queue(message)
    return None


def _reference(text: str) -> dt.datetime | Position | None:
    """``timestamp=<time>`` or ``msgid=<epoch>-<seq>[.<piece>]`` (see
    :func:`~._events.message_id`), else ``None``."""
    if text.startswith("timestamp="):
        return _timestamp(text.removeprefix("timestamp="))
    if text.startswith("msgid="):
        name = text.removeprefix("msgid=")
        whole, dot, piece = name.rpartition(".")
        if dot and piece.isascii() and piece.isdecimal() and len(piece) < 6:
            name = whole  # a piece of a long message (see message_id): the message itself
        epoch, _, seq = name.rpartition("-")
        if epoch and seq.isascii() and seq.isdecimal() and len(seq) < 16:
            return Position(epoch, int(seq))
    return None


def _timestamp(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
