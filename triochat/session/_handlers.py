"""The command table: one small handler per command class, looked up by the command's type.

Dispatch is data (the way ergo's IRC command table is): :data:`HANDLERS` maps each command class
of :mod:`._commands` to the coroutine that carries it out for a session. A handler returns why the
connection must end, or ``None`` to go on; user errors are raised as :exc:`ChatError`, which the
session turns into an error reply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from ..core._recovery import join_since
from . import _accounts, _listings
from ._commands import (
    Admin,
    Ban,
    Format,
    Help,
    History,
    Join,
    Kick,
    Me,
    Msg,
    Nick,
    Op,
    Part,
    Pass,
    Quit,
    Register,
    Rooms,
    Say,
    Switch,
    Topic,
    Unknown,
    Unregister,
    Who,
)
from ._reasons import CloseReason
from ._replies import ReplyKind

if TYPE_CHECKING:
    from ._session import Ending, Session

__all__ = ["HANDLERS", "Handler"]

#: What carries out one command for a session (the command is of the class it is filed under).
Handler = Callable[["Session", Any], Awaitable["Ending | None"]]

moderation_log = logging.getLogger("triochat.moderation")


async def _say(session: Session, command: Say) -> None:
    await session.member.say(command.text, session.room(command.room))


async def _me(session: Session, command: Me) -> None:
    await session.member.act(command.text, session.room(command.room))


async def _nick(session: Session, command: Nick) -> None:
    await _accounts.rename(session, command.name, command.password)


async def _pass(session: Session, command: Pass) -> None:
    await _accounts.give_password(session, command.password)


async def _admin(session: Session, command: Admin) -> None:
    await _accounts.become_admin(session, command.token)


async def _register(session: Session, command: Register) -> None:
    await _accounts.register(session, command.password)


async def _unregister(session: Session, command: Unregister) -> None:
    await _accounts.unregister(session, command.password)


async def _kick(session: Session, command: Kick) -> None:
    member, nick, reason = session.member, command.nick, command.reason
    room = session.current()
    room.kick(member, nick, reason)
    session.hub.forget_if_empty(room)
    moderation_log.info("%s kicked %s from %s (%s)", member.nick, nick, room.name, reason)


async def _op(session: Session, command: Op) -> None:
    member, nick, grant = session.member, command.nick, command.grant
    room = session.current()
    room.set_operator(member, nick, operator=grant)
    moderation_log.info(
        "%s %s %s in %s", member.nick, "opped" if grant else "deopped", nick, room.name
    )


async def _ban(session: Session, command: Ban) -> None:
    member, mask, add = session.member, command.mask, command.add
    room = session.current()
    if mask is None:  # no mask: list the bans
        session.reply(ReplyKind.BANS, room=room.name, bans=list(room.bans))
        return
    if add:
        room.ban(member, mask)
        session.hub.forget_if_empty(room)
    else:
        room.unban(member, mask)
    moderation_log.info(
        "%s %s %s in %s", member.nick, "banned" if add else "unbanned", mask, room.name
    )


async def _quit(session: Session, command: Quit) -> Ending:
    return CloseReason.QUIT, command.reason


async def _help(session: Session, command: Help) -> None:
    session.reply(ReplyKind.HELP)


async def _who(session: Session, command: Who) -> None:
    _listings.who(session, session.room(command.room, must_be_in=False), command.page)


async def _join(session: Session, command: Join) -> None:
    """Join a room; with *since*, replay what the client missed there after it (a reconnecting
    client: see core/_recovery.py)."""
    member, since = session.member, command.since
    existing = session.hub.find_room(command.room)
    already = existing is not None and member in existing
    if since is None:
        room = session.hub.join(member, command.room)
    else:
        # Already in: joined on connecting, before it could ask; it missed what preceded.
        arrived = session.arrived(existing.name) if existing is not None else None
        room, _ = await join_since(session.hub, member, command.room, since, arrived=arrived)
    arrived_at = session.arrived(room.name)
    session.note_arrival(room.name, room.seq if not already or arrived_at is None else arrived_at)
    session.reply(ReplyKind.SWITCH, room=room.name, epoch=room.log.epoch)


async def _part(session: Session, command: Part) -> None:
    member = session.member
    room = session.hub.part(member, command.room, command.reason)
    current = member.current_room
    session.reply(
        ReplyKind.SWITCH,
        {"left": room.name},
        room=current.name if current is not None else None,
        **session.epoch(current),
        **session.limits(),
    )


async def _switch(session: Session, command: Switch) -> None:
    room = session.room(command.room)
    session.member.switch(room)
    session.reply(ReplyKind.SWITCH, room=room.name)


async def _rooms(session: Session, command: Rooms) -> None:
    _listings.rooms(session, command.page)


async def _topic(session: Session, command: Topic) -> None:
    room, text = session.current(), command.text
    if text is None:  # no text: ask for the topic
        session.reply(ReplyKind.TOPIC, room=room.name, topic=room.topic)
    else:
        room.set_topic(session.member, "" if text == "-" else text)


async def _msg(session: Session, command: Msg) -> None:
    session.hub.send_private(session.member, command.nick, command.text)


async def _history(session: Session, command: History) -> None:
    room = session.room(command.room)
    await _listings.history(session, room, command.count, command.after)


async def _format(session: Session, command: Format) -> None:
    # The codec switched its input already; its output switches at this notice.
    member = session.member
    current = member.current_room
    session.reply(
        ReplyKind.FORMAT,
        format=command.name,
        nick=member.nick,
        room=current.name if current is not None else None,
        **session.epoch(current),
        **session.limits(),
    )


async def _unknown(session: Session, command: Unknown) -> None:
    session.fail(command.code, message=command.message)


#: The handler of each command class.
HANDLERS: Final[dict[type, Handler]] = {
    Say: _say,
    Me: _me,
    Nick: _nick,
    Pass: _pass,
    Admin: _admin,
    Register: _register,
    Unregister: _unregister,
    Kick: _kick,
    Op: _op,
    Ban: _ban,
    Quit: _quit,
    Help: _help,
    Who: _who,
    Join: _join,
    Part: _part,
    Switch: _switch,
    Rooms: _rooms,
    Topic: _topic,
    Msg: _msg,
    History: _history,
    Format: _format,
    Unknown: _unknown,
}
