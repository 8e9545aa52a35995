"""IRC commands of a registered client as session commands: a table, as ergo's is.

Each entry names the fewest parameters a command needs (fewer: 461 ERR_NEEDMOREPARAMS) and the
function that maps it; an unknown command gets 421 ERR_UNKNOWNCOMMAND. What the codec can answer
by itself (a bad parameter, MOTD) it queues and returns nothing for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ...session._commands import Quit
from ...session._front_commands import (
    ChannelMode,
    JoinRoom,
    KickUser,
    ListRooms,
    ModeQuery,
    Names,
    PartAll,
    PartRoom,
    Rename,
    SayTo,
    SetAway,
    TopicOf,
    Whois,
    WhoQuery,
)
from ...session._input import Input
from ._chathistory import chathistory
from ._events import triochat_mask
from ._message import Message, middle_param
from ._numerics import (
    ERR_NEEDMOREPARAMS,
    ERR_NONICKNAMEGIVEN,
    ERR_NORECIPIENT,
    ERR_NOSUCHCHANNEL,
    ERR_NOTEXTTOSEND,
    ERR_UMODEUNKNOWNFLAG,
    ERR_UNKNOWNCOMMAND,
    ERR_UNKNOWNMODE,
    ERR_USERSDONTMATCH,
    RPL_ENDOFNAMES,
)

if TYPE_CHECKING:
    from ._codec import IrcCodec

__all__ = ["expand", "to_command"]

# Commands whose first parameter may list several channels, split into one message per channel.
_LISTS: Final = frozenset({"JOIN", "PART", "NAMES"})


def expand(message: Message) -> Iterator[Message]:
    """*message*, or one message per channel if it names several (``JOIN #a,#b key1,key2``)."""
    if message.verb not in _LISTS or not message.params or "," not in message.params[0]:
        yield message
        return
    first, *rest = message.params
    keys = rest[0].split(",") if message.verb == "JOIN" and rest else []
    params: tuple[str, ...]
    for index, channel in enumerate(name for name in first.split(",") if name):
        if message.verb == "JOIN":
            params = (channel, keys[index]) if index < len(keys) and keys[index] else (channel,)
        else:
            params = (channel, *rest)
        yield attrs.evolve(message, params=params)


def to_command(codec: IrcCodec, message: Message) -> Input:
    """The session command for *message* from a registered client, or ``None`` (the codec
    queued what it had to say)."""
    rule = _COMMANDS.get(message.verb)
    if rule is None:
        codec.queue(codec._replier.numeric(ERR_UNKNOWNCOMMAND, middle_param(message.command)))
        return None
    minimum, handler = rule
    if len(message.params) < minimum:
        codec.queue(codec._replier.numeric(ERR_NEEDMOREPARAMS, message.verb))
        return None
    return handler(codec, message.params)


def _channel(codec: IrcCodec, name: str) -> bool:
    if name.startswith("#"):
        return True
    codec.queue(codec._replier.numeric(ERR_NOSUCHCHANNEL, middle_param(name)))
    return False


def _nick(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    if not params or not params[0]:
        codec.queue(codec._replier.numeric(ERR_NONICKNAMEGIVEN))
        return None
    return Rename(params[0])


def _join(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    if params[0] == "0":
        return PartAll()
    return JoinRoom(params[0]) if _channel(codec, params[0]) else None


def _part(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    reason = params[1] if len(params) > 1 else ""
    return PartRoom(params[0], reason) if _channel(codec, params[0]) else None


def _message(codec: IrcCodec, params: tuple[str, ...], *, quiet: bool) -> Input:
    reply = codec._replier
    if not params or not params[0]:
        if not quiet:
            codec.queue(reply.numeric(ERR_NORECIPIENT, text="No recipient given (PRIVMSG)"))
        return None
    if len(params) < 2 or not params[1]:
        if not quiet:
            codec.queue(reply.numeric(ERR_NOTEXTTOSEND))
        return None
    target, text = params[0], params[1]
    action = False
    if text.startswith("\x01"):
        body = text.strip("\x01")
        if not body.upper().startswith("ACTION ") or quiet:
            return None  # CTCP requests and replies other than ACTION are not relayed
        text, action = body[len("ACTION ") :], True
    if not text.strip():
        return None
    return SayTo(target, text, action=action, quiet=quiet)


def _privmsg(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    return _message(codec, params, quiet=False)


def _notice(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    return _message(codec, params, quiet=True)


def _topic(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    if not _channel(codec, params[0]):
        return None
    return TopicOf(params[0], params[1] if len(params) > 1 else None)


def _names(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    if not params:
        codec.queue(codec._replier.numeric(RPL_ENDOFNAMES, "*"))
        return None
    return Names(params[0])


def _mode(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    reply = codec._replier
    target = params[0]
    if not target.startswith("#"):
        if len(params) == 1:
            return ModeQuery(target)
        if target.casefold() != codec.nick.casefold():
            codec.queue(reply.numeric(ERR_USERSDONTMATCH))
        elif params[1].strip("+-iw"):
            # i and w change nothing here (every member is in WHO and nobody gets wallops);
            # clients set +i at connect by default, so they are taken quietly.
            codec.queue(reply.numeric(ERR_UMODEUNKNOWNFLAG))
        return None
    if len(params) == 1 or not params[1]:
        return ModeQuery(target)
    arguments = list(params[2:])
    changes: list[tuple[str, str, str]] = []
    sign = "+"
    for letter in params[1]:
        if letter in "+-":
            sign = letter
        elif letter == "b" and not arguments:
            if not changes:
                return ModeQuery(target, bans=True)
        elif letter in "bo":
            if not arguments:
                codec.queue(reply.numeric(ERR_NEEDMOREPARAMS, "MODE"))
                return None
            argument = arguments.pop(0)
            changes.append((sign, letter, triochat_mask(argument) if letter == "b" else argument))
        elif letter != "n":  # n is always set; setting it again changes nothing
            codec.queue(reply.numeric(ERR_UNKNOWNMODE, letter))
    return ChannelMode(target, tuple(changes)) if changes else None


def _kick(codec: IrcCodec, params: tuple[str, ...]) -> Input:
    if not _channel(codec, params[0]):
        return None
    reason = params[2] if len(params) > 2 else ""
    return KickUser(params[0], params[1].split(",")[0], reason)


def _away(_codec: IrcCodec, params: tuple[str, ...]) -> Input:
    return SetAway(params[0] if params and params[0] else None)


def _quit(_codec: IrcCodec, params: tuple[str, ...]) -> Input:
    return Quit(params[0] if params else "")


def _nothing(_codec: IrcCodec, _params: tuple[str, ...]) -> Input:
    return None


def _motd(codec: IrcCodec, _params: tuple[str, ...]) -> Input:
    codec.queue(*codec.motd())
    return None


_Handler = Callable[["IrcCodec", tuple[str, ...]], Input]

# Command: (fewest parameters, handler).
_COMMANDS: Final[Mapping[str, tuple[int, _Handler]]] = {
    "AWAY": (0, _away),
    "CHATHISTORY": (0, chathistory),
    "JOIN": (1, _join),
    "KICK": (2, _kick),
    "LIST": (0, lambda _codec, _params: ListRooms()),
    "MODE": (1, _mode),
    "MOTD": (0, _motd),
    "NAMES": (0, _names),
    "NICK": (0, _nick),
    "NOTICE": (0, _notice),
    "PART": (1, _part),
    "PONG": (0, _nothing),
    "PRIVMSG": (0, _privmsg),
    "QUIT": (0, _quit),
    "TAGMSG": (0, _nothing),
    "TOPIC": (1, _topic),
    "WHO": (1, lambda _codec, params: WhoQuery(params[0])),
    "WHOIS": (1, lambda _codec, params: Whois(params[-1].split(",")[0])),
}
