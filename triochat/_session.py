"""What a connected client does in the hub: carrying out its commands.

A :class:`Session` has no I/O of its own. The connection feeds it parsed commands; it acts on
the hub and answers through the member's outbox, so that every reply takes its place in the same
order as the room events around it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from ._commands import (
    HELP_TEXT,
    Command,
    Format,
    Help,
    History,
    Join,
    Me,
    Msg,
    Nick,
    Part,
    Quit,
    Rooms,
    Say,
    Switch,
    Topic,
    Unknown,
    Who,
)
from ._errors import ChatError, NotInRoom

if TYPE_CHECKING:
    from ._hub import Hub
    from ._member import Member
    from ._room import Room

__all__ = ["Session"]

# Longest list of names that one text reply shows (the JSON reply has them all).
_LIST_LIMIT: Final = 100


class Session:
    """One client's commands, carried out on the hub on behalf of *member*."""

    __slots__ = ("format", "format_switches", "hub", "member")

    def __init__(self, hub: Hub, member: Member) -> None:
        self.hub = hub
        self.member = member
        #: The format asked for last: JSON commands are accepted from then on.
        self.format = "text"
        #: Format switches queued but not yet seen by the writer (it only looks when non-zero).
        self.format_switches = 0

    def notify(
        self, text: str, *, error: bool = False, kind: str | None = None, **data: Any
    ) -> None:
        self.member.notify(f"error: {text}" if error else text, error=error, kind=kind, data=data)

    def welcome(self, room: Room) -> None:
        others = len(room)
        self.notify(
            f"welcome to triochat, {self.member.nick}! You are in {room.name} with {others} "
            f"other{'' if others == 1 else 's'}. /nick NAME sets your nick, /join #ROOM joins a "
            "room, /help lists the commands, /quit leaves.",
            kind="welcome",
            nick=self.member.nick,
            room=room.name,
        )

    def ping(self, idle: float) -> None:
        self.notify(
            f"ping: no input for {_seconds(idle)}; send any line within {_seconds(idle)} or you "
            "will be disconnected",
            kind="ping",
        )

    async def execute(self, command: Command) -> str | None:
        """Carry out *command*. Returns the reason to end the connection, or ``None`` to go on.

        User errors (a bad nick, an unknown room...) become error notices, never exceptions.
        """
        try:
            return await self._execute(command)
        except ChatError as exc:
            self.notify(str(exc), error=True)
            return None

    async def _execute(self, command: Command) -> str | None:
        hub, member = self.hub, self.member
        match command:
            case Say(text=text, room=room_name):
                await member.say(text, self._room(room_name))
            case Me(text=text, room=room_name):
                await member.act(text, self._room(room_name))
            case Nick(name=name):
                hub.rename(member, name)
            case Quit(reason=reason):
                return f"quit: {reason}" if reason else "quit"
            case Help():
                self.notify(HELP_TEXT, kind="help")
            case Who(room=room_name):
                self._who(self._room(room_name, must_be_in=False))
            case Join(room=name):
                room = hub.join(member, name)
                self.notify(f"now talking in {room.name}", kind="switch", room=room.name)
            case Part(room=name, reason=reason):
                room = hub.part(member, name, reason)
                current = member.current_room
                where = (
                    f"now talking in {current.name}"
                    if current is not None
                    else "you are in no room now; /join #ROOM"
                )
                self.notify(
                    f"you left {room.name}; {where}",
                    kind="switch",
                    room=current.name if current is not None else None,
                )
            case Switch(room=name):
                room = self._room(name)
                member.switch(room)
                self.notify(f"now talking in {room.name}", kind="switch", room=room.name)
            case Rooms():
                self._rooms()
            case Topic(text=None):
                room = self._current()
                self.notify(
                    f"topic of {room.name}: {room.topic}"
                    if room.topic
                    else f"{room.name} has no topic",
                    kind="topic",
                    room=room.name,
                    topic=room.topic,
                )
            case Topic(text=text):
                assert text is not None
                self._current().set_topic(member, "" if text == "-" else text)
            case Msg(nick=nick, text=text):
                hub.send_private(member, nick, text)
            case History(count=count):
                self._history(self._current(), count)
            case Format(name=name):
                self.format = name
                self.format_switches += 1
                current = member.current_room
                self.notify(
                    f"format is now {name}",
                    kind="format",
                    format=name,
                    nick=member.nick,
                    room=current.name if current is not None else None,
                )
            case Unknown(message=message):
                self.notify(message, error=True)
        return None

    # ---------------------------------------------------------------------------- helpers

    def _current(self) -> Room:
        room = self.member.current_room
        if room is None:
            raise NotInRoom("you are not in any room; /join #ROOM")
        return room

    def _room(self, name: str | None, *, must_be_in: bool = True) -> Room:
        """The room called *name*, or the current room for ``None``."""
        if name is None:
            return self._current()
        room = self.hub.find_room(name)
        if room is None:
            raise NotInRoom(f"there is no room {name}")
        if must_be_in and self.member.rooms.get(room.name) is not room:
            raise NotInRoom(f"you are not in {room.name}; /join {room.name}")
        return room

    def _who(self, room: Room) -> None:
        nicks = room.nicks
        shown = ", ".join(nicks[:_LIST_LIMIT])
        more = f" and {len(nicks) - _LIST_LIMIT} more" if len(nicks) > _LIST_LIMIT else ""
        self.notify(
            f"{len(nicks)} in {room.name}: {shown}{more}", kind="who", room=room.name, members=nicks
        )

    def _rooms(self) -> None:
        rooms = sorted(self.hub.rooms, key=lambda room: room.name.casefold())
        listing = [{"name": room.name, "members": len(room), "topic": room.topic} for room in rooms]
        shown = ", ".join(
            f"{room.name} ({len(room)})" + (f": {room.topic}" if room.topic else "")
            for room in rooms[:_LIST_LIMIT]
        )
        more = f" and {len(rooms) - _LIST_LIMIT} more" if len(rooms) > _LIST_LIMIT else ""
        self.notify(
            f"{len(rooms)} room{'' if len(rooms) == 1 else 's'}: {shown}{more}",
            kind="rooms",
            rooms=listing,
        )

    def _history(self, room: Room, count: int | None) -> None:
        events = room.recent(count)
        self.notify(
            f"history of {room.name}: {len(events)} event{'' if len(events) == 1 else 's'}",
            kind="history",
            room=room.name,
            count=len(events),
        )
        from ._member import SLOW_CONSUMER

        for event in events:
            if not self.member.deliver(event.as_history()):
                self.hub.disconnect(self.member, SLOW_CONSUMER)
                return
        self.notify(f"end of history of {room.name}", kind="history-end", room=room.name)


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 60 or not math.isfinite(value) else f"{value / 60:g} min"
