"""Carrying out the commands of richer front ends (:mod:`._front_commands`) on the hub.

Every answer is a notice for the member who asked, with a ``kind`` and ``data`` a codec renders
(IRC numerics); the ``text`` is a plain sentence for logs and programs that show notices as they
are. Every error notice carries ``data["command"]`` and ``data["target"]``, and the details of the
error (``nick``, ``room``), so that a codec can number it (IRC: 401, 403, 442, 482...).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from ..core._errors import (
    AuthenticationFailed,
    ChatError,
    ErrorCode,
    NoSuchNick,
    NotInRoom,
)
from ..core._events import Notice
from ..core._hub import validate_nick
from ..core._member import SLOW_CONSUMER
from ..core._nicks import nick_key
from ..core._text import sanitize
from . import _accounts
from ._front_commands import (
    AWAY_CHANGED,
    Authenticate,
    ChannelMode,
    ChatHistory,
    ChatHistoryTargets,
    Echo,
    FrontCommand,
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
    SignOn,
    TopicOf,
    Whois,
    WhoQuery,
)
from ._history_query import history_for, latest_message
from ._reasons import CloseReason

if TYPE_CHECKING:
    from ..core._member import Member
    from ..core._room import Room
    from ._session import Ending, Session

__all__ = ["FRONT_COMMANDS", "run_front_command"]

#: The command classes :func:`run_front_command` carries out (for ``isinstance``).
FRONT_COMMANDS: Final = (
    Echo,
    SignOn,
    Authenticate,
    Rename,
    JoinRoom,
    PartRoom,
    PartAll,
    SayTo,
    TopicOf,
    Names,
    WhoQuery,
    Whois,
    ListRooms,
    ModeQuery,
    ChannelMode,
    KickUser,
    SetAway,
    ChatHistory,
    ChatHistoryTargets,
)
#: Longest away message kept, in characters.
MAX_AWAY_LENGTH: Final = 300

moderation_log = logging.getLogger("triochat.moderation")
auth_log = logging.getLogger("triochat.auth")


def _what(command: FrontCommand) -> tuple[str, str]:
    """The command's name and target, as its error notices carry them."""
    match command:
        case SignOn(nick=nick) | Rename(nick=nick):
            return "NICK", nick
        case JoinRoom(room=room):
            return "JOIN", room
        case PartRoom(room=room):
            return "PART", room
        case SayTo(target=target, quiet=quiet):
            return ("NOTICE" if quiet else "PRIVMSG"), target
        case TopicOf(room=room):
            return "TOPIC", room
        case Names(room=room):
            return "NAMES", room
        case WhoQuery(mask=mask):
            return "WHO", mask
        case Whois(nick=nick):
            return "WHOIS", nick
        case ModeQuery(target=target) | ChannelMode(room=target):
            return "MODE", target
        case KickUser(room=room):
            return "KICK", room
        case ChatHistory(room=room):
            return "CHATHISTORY", room
        case ChatHistoryTargets():
            return "CHATHISTORY", "*"
        case Authenticate(account=account):
            return "AUTHENTICATE", account
        case _:
            return type(command).__name__.upper(), ""


async def run_front_command(session: Session, command: FrontCommand) -> Ending | None:
    """Carry out *command* for *session*; user errors become error notices, never exceptions."""
    name, target = _what(command)
    try:
        if not session.authenticated and not isinstance(command, Echo | SignOn | Authenticate):
            raise AuthenticationFailed(
                "this server needs a password first", code=ErrorCode.PASSWORD_REQUIRED
            )
        return await _run(session, command)
    except ChatError as exc:
        if isinstance(command, SayTo) and command.quiet:
            return None  # IRC: a NOTICE is never answered, not even with an error
        # IRC answers CHATHISTORY's errors with FAIL replies that name the subcommand.
        extra = {"subcommand": command.subcommand} if isinstance(command, ChatHistory) else {}
        _refuse(session, exc, command=name, target=target, **extra)
        return None


async def _run(session: Session, command: FrontCommand) -> Ending | None:
    hub, member = session.hub, session.member
    match command:
        case Echo():
            tell(session, "echo")
        case SignOn():
            return await _sign_on(session, command)
        case Authenticate():
            return await _follow(session, command.then(await _authenticate(session, command)))
        case Rename(nick=nick):
            await _accounts.rename(session, nick, None)
        case JoinRoom(room=name):
            _join(session, name)
        case PartRoom(room=name, reason=reason):
            _part(session, _in(session, name), reason)
        case PartAll():
            for room in list(member.rooms.values()):
                _part(session, room, "")
        case SayTo():
            await _say(session, command)
        case TopicOf(room=name, text=None):
            room = _existing(session, name)
            tell(session, "topic", room=room.name, topic=room.topic)
        case TopicOf(room=name, text=text):
            assert text is not None
            _in(session, name).set_topic(member, text)
        case Names(room=name):
            room = _existing(session, name)
            tell(session, "names", room=room.name, members=_entries(room))
        case WhoQuery(mask=mask):
            _who(session, mask)
        case Whois(nick=nick):
            _whois(session, nick)
        case ListRooms():
            rooms = sorted(hub.rooms, key=lambda room: room.name.casefold())
            listing = [[room.name, len(room), room.topic] for room in rooms]
            tell(session, "room-list", rooms=listing)
        case ModeQuery(target=target, bans=bans):
            _modes(session, target, bans=bans)
        case ChannelMode(room=name, changes=changes):
            room = _in(session, name)
            for sign, mode, argument in changes:
                _change_mode(session, room, sign, mode, argument)
        case KickUser(room=name, nick=nick, reason=reason):
            room = _in(session, name)
            if hub.member(nick) not in room:
                raise NotInRoom(f"{nick} is not in {room.name}", nick=nick, room=room.name)
            room.kick(member, nick, reason)
            hub.forget_if_empty(room)
            moderation_log.info("%s kicked %s from %s (%s)", member.nick, nick, room.name, reason)
        case SetAway(text=text):
            away = sanitize(text, keep_formatting=True)[:MAX_AWAY_LENGTH] if text else None
            changed, member.away = away != member.away, away
            tell(session, "away", away=away)
            if changed:
                _announce_away(member)
        case ChatHistory():
            await _chathistory(session, command)
        case ChatHistoryTargets():
            await _chathistory_targets(session, command)
    return None


async def _follow(session: Session, follow: object) -> Ending | None:
    """Carry out what a front end's continuation asked for next (a command, or nothing)."""
    if isinstance(follow, FRONT_COMMANDS):
        return await run_front_command(session, follow)
    return None


async def _sign_on(session: Session, command: SignOn) -> Ending | None:
    member = session.member
    if not session.authenticated:
        if command.password is None:
            session.fail(ErrorCode.PASSWORD_REQUIRED)
            return CloseReason.QUIT, "no password"
        try:
            await _accounts.give_password(session, command.password)
        except ChatError as exc:
            _refuse(session, exc, command="PASS", target="")
            return CloseReason.QUIT, "wrong password"
    nick = command.nick
    try:
        if nick.casefold() != member.nick.casefold():
            store = session.guard.nick_store
            account = command.account
            if store is not None and (account is None or account.casefold() != nick.casefold()):
                validate_nick(nick)
                if await store.lookup(nick) is not None:
                    raise ChatError(
                        f"the nick {nick} is registered", code=ErrorCode.NICK_REGISTERED
                    )
            session.hub.rename(member, nick)
    except ChatError as exc:
        return await _follow(session, command.then(str(exc.code)))
    return await _follow(session, command.then(None))


async def _authenticate(session: Session, command: Authenticate) -> str | None:
    store = session.guard.nick_store
    if store is None:
        return None
    try:
        registration = await store.lookup(command.account)
        if registration is None:
            return None
        await _accounts.check_nick_password(
            session, command.account, registration, command.password
        )
    except ChatError:
        return None
    return command.account


def _existing(session: Session, name: str) -> Room:
    room = session.hub.find_room(name)
    if room is None:
        raise ChatError(f"there is no room {name}", code=ErrorCode.NO_SUCH_ROOM, room=name)
    return room


def _in(session: Session, name: str) -> Room:
    room = _existing(session, name)
    if session.member.rooms.get(room.name) is not room:
        raise NotInRoom(f"you are not in {room.name}", room=room.name)
    return room


def _entries(room: Room) -> list[list[Any]]:
    """Each member of *room*: nick, operator, away."""
    here = [
        [member.nick, room.is_operator(member), member.away is not None] for member in room.members
    ]
    # Members of other processes sharing the room (an engine's): operator by nick, never away.
    return here + [[nick, nick_key(nick) in room.operators, False] for nick in room.others]


def _join(session: Session, name: str) -> None:
    hub, member = session.hub, session.member
    current = member.current_room
    room = hub.join(member, name)
    # A front end that names the room of every line keeps the room plain lines go to as it was.
    if current is not None and current is not room and current.name in member.rooms:
        member.current_room = current
    if member.connected:
        tell(session, "joined", room=room.name, topic=room.topic, members=_entries(room))


def _part(session: Session, room: Room, reason: str) -> None:
    # The room tells those who stay; the one who left hears it from a notice (its own PART).
    session.hub.part(session.member, room.name, reason)
    tell(session, "parted", room=room.name, reason=reason)


async def _say(session: Session, command: SayTo) -> None:
    hub, member = session.hub, session.member
    target = command.target
    if target.startswith("#"):
        room = _existing(session, target)
        if member.rooms.get(room.name) is not room:
            raise NotInRoom(f"you are not in {room.name}", room=room.name)
        if command.action:
            await member.act(command.text, room)
        else:
            await member.say(command.text, room)
        return
    recipient = hub.member(target)
    if recipient is None:
        raise NoSuchNick(f"nobody is called {target}", nick=target)
    # A private action has no event of its own (and CTCP's \x01 would not survive sanitizing).
    text = f"* {member.nick} {command.text}" if command.action else command.text
    hub.send_private(member, target, text)
    if recipient.away is not None and not command.quiet:
        tell(session, "away-reply", nick=recipient.nick, away=recipient.away)


def _who(session: Session, mask: str) -> None:
    hub = session.hub
    entries: list[list[Any]] = []
    if mask.startswith("#"):
        room = hub.find_room(mask)
        if room is not None:
            entries = [[room.name, *entry] for entry in _entries(room)]
    else:
        found = hub.member(mask)
        if found is not None:
            shared = next(iter(found.rooms.values()), None)
            where = shared.name if shared is not None else "*"
            op = shared is not None and shared.is_operator(found)
            entries = [[where, found.nick, op, found.away is not None]]
    tell(session, "who-list", mask=mask, entries=entries)


def _whois(session: Session, nick: str) -> None:
    found = session.hub.member(nick)
    if found is None:
        raise NoSuchNick(f"nobody is called {nick}", nick=nick)
    rooms = [[room.name, room.is_operator(found)] for room in found.rooms.values()]
    tell(
        session,
        "whois",
        nick=found.nick,
        rooms=rooms,
        away=found.away,
        admin=found.is_admin,
    )


def _modes(session: Session, target: str, *, bans: bool) -> None:
    member = session.member
    if not target.startswith("#"):
        if session.hub.member(target) is None:
            raise NoSuchNick(f"nobody is called {target}", nick=target)
        if session.hub.member(target) is not member:
            raise ChatError("you can only see your own modes", code=ErrorCode.REFUSED, nick=target)
        tell(session, "modes", target=member.nick, modes="")
        return
    room = _existing(session, target)
    if bans:
        tell(session, "ban-list", room=room.name, bans=list(room.bans))
    else:
        tell(session, "modes", target=room.name, modes="n")


def _change_mode(session: Session, room: Room, sign: str, mode: str, argument: str) -> None:
    member = session.member
    if mode == "o":
        if session.hub.member(argument) not in room:
            raise NotInRoom(f"{argument} is not in {room.name}", nick=argument, room=room.name)
        room.set_operator(member, argument, operator=sign == "+")
        verb = "opped" if sign == "+" else "deopped"
    else:
        if sign == "+":
            room.ban(member, argument)
            session.hub.forget_if_empty(room)
        else:
            room.unban(member, argument)
        verb = "banned" if sign == "+" else "unbanned"
    moderation_log.info("%s %s %s in %s", member.nick, verb, argument, room.name)


async def _chathistory(session: Session, command: ChatHistory) -> None:
    room = _in(session, command.room)
    member: Member = session.member
    events = await history_for(room, command)
    # A reply must never by itself overflow the outbox of whoever asked (as /history).
    room_events, room_bytes = member.max_events // 2 - 2, member.max_bytes // 2
    fit = 0
    for event in reversed(events):
        room_bytes -= event.size
        if fit >= room_events or room_bytes < 0:
            break
        fit += 1
    events = events[len(events) - fit :]
    tell(session, "chathistory", room=room.name, count=len(events))
    for event in events:
        if not member.deliver(event.as_history()):
            session.hub.disconnect(member, SLOW_CONSUMER)
            return
    tell(session, "chathistory-end", room=room.name)


async def _chathistory_targets(session: Session, command: ChatHistoryTargets) -> None:
    """The rooms the member is in with a message between the two times, by the time of their
    latest one, from *start* towards *end*."""
    after, before = sorted((command.start, command.end))
    found = []
    for room in list(session.member.rooms.values()):
        latest = await latest_message(room, after, before)
        if latest is not None:
            found.append((latest.time, room.name))
    found.sort(reverse=command.start > command.end)
    targets = [(name, time) for time, name in found[: command.limit]]
    tell(session, "chathistory-targets", targets=targets)


def _announce_away(member: Member) -> None:
    """Tell every member sharing a room with *member* (once each) that it went away or came
    back: one notice, shared, so that each front end encodes it once."""
    notice = Notice(
        kind=AWAY_CHANGED, sender=member.nick, data={"nick": member.nick, "away": member.away}
    )
    told = {id(member)}
    overflowing = []
    for room in member.rooms.values():
        for other in room.members:
            if id(other) not in told:
                told.add(id(other))
                if not other.deliver(notice):
                    overflowing.append(other)
    for other in overflowing:  # after the loops: disconnecting changes the rooms' members
        member.hub.disconnect(other, SLOW_CONSUMER)


def tell(session: Session, kind: str, **data: Any) -> None:
    """A reply of a front end's own *kind* (its codec words it); *data* says what it needs."""
    session.member.notify("", kind=kind, data=data)


def _refuse(session: Session, exc: ChatError, **data: Any) -> None:
    """An error, with what the front end needs to answer it (the command and its target)."""
    session.member.notify(
        "",
        error=True,
        kind="error",
        code=exc.code,
        params={"description": str(exc), **exc.params},
        data=data,
    )
