"""The session's notices as IRC replies: numerics, by the notice's ``kind``, ``code`` and ``data``.

Notices go to one member, so they are rendered for that member (its nick is the ``<client>`` of
every numeric), never cached. Only the notice's structure is read, never its English ``text``
(except as the human part of a catch-all ``ERR_UNKNOWNERROR`` or ``NOTICE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ...core._errors import ErrorCode
from ...core._events import Notice
from ._events import HOST, batch_reference, format_time, irc_mask
from ._message import Message, middle_param
from ._numerics import (
    ERR_BANNEDFROMCHAN,
    ERR_CANNOTSENDTOCHAN,
    ERR_CHANOPRIVSNEEDED,
    ERR_ERRONEUSNICKNAME,
    ERR_INPUTTOOLONG,
    ERR_NICKNAMEINUSE,
    ERR_NOSUCHCHANNEL,
    ERR_NOSUCHNICK,
    ERR_NOTONCHANNEL,
    ERR_PASSWDMISMATCH,
    ERR_TOOMANYCHANNELS,
    ERR_UNKNOWNCOMMAND,
    ERR_UNKNOWNERROR,
    ERR_USERNOTINCHANNEL,
    ERR_USERSDONTMATCH,
    RPL_AWAY,
    RPL_BANLIST,
    RPL_CHANNELMODEIS,
    RPL_ENDOFBANLIST,
    RPL_ENDOFNAMES,
    RPL_ENDOFWHO,
    RPL_ENDOFWHOIS,
    RPL_LIST,
    RPL_LISTEND,
    RPL_LISTSTART,
    RPL_NAMREPLY,
    RPL_NOTOPIC,
    RPL_NOWAWAY,
    RPL_TOPIC,
    RPL_UMODEIS,
    RPL_UNAWAY,
    RPL_WHOISCHANNELS,
    RPL_WHOISOPERATOR,
    RPL_WHOISSERVER,
    RPL_WHOISUSER,
    RPL_WHOREPLY,
    Numeric,
)
from ._standard_replies import standard_reply

__all__ = ["Replier"]

#: The reference of a CHATHISTORY TARGETS batch: one is open at a time, and never beside a
#: chathistory batch (whose references start with "h").
_TARGETS_BATCH: Final = "targets"
# Bytes a 353 line may take before its names: "<source> 353 <nick> = <room> :" is under 120.
_NAMES_ROOM: Final = 380


class Replier:
    """Renders notices for one client: *server* is the source of replies, *nick* the client's
    nick now (the codec keeps it current), *batch* whether it takes batches."""

    __slots__ = ("batch", "multi_prefix", "nick", "server")

    def __init__(self, server: str) -> None:
        self.server = server
        self.nick = "*"
        self.batch = False
        self.multi_prefix = False

    def numeric(self, numeric: Numeric, *params: str, text: str | None = None) -> Message:
        return numeric.message(self.server, self.nick, *params, text=text)

    def notice(self, notice: Notice) -> list[Message]:
        """The lines for *notice* (none for a notice the client needs not see)."""
        if notice.error:
            return self._error(notice)
        handler = _KINDS.get(notice.kind)
        if handler is not None:
            return handler(self, {**notice.params, **notice.data} if notice.params else notice.data)
        if not notice.text:
            return []
        return [Message("NOTICE", (self.nick, notice.text), source=self.server)]

    # -- errors -----------------------------------------------------------------------------

    def _error(self, notice: Notice) -> list[Message]:
        # The session puts an error's details in params (worded by each protocol), a front
        # end's own details (the command, its target) in data.
        data = {**notice.params, **notice.data}
        code = notice.code
        command = str(data.get("command", "*"))
        target = middle_param(str(data.get("target") or data.get("room") or "*"))
        nick = middle_param(str(data.get("nick") or target))
        room = middle_param(str(data.get("room") or target))
        if command == "CHATHISTORY":
            # IRCv3 chathistory: a channel that does not exist or that the client is not in.
            subcommand = middle_param(str(data.get("subcommand") or "*"))
            return [
                standard_reply(
                    "FAIL",
                    "CHATHISTORY",
                    "INVALID_TARGET",
                    subcommand,
                    target,
                    description=str(data.get("description") or notice.text),
                    server=self.server,
                )
            ]
        match code:
            case ErrorCode.LINE_TOO_LONG:
                return [self.numeric(ERR_INPUTTOOLONG)]
            case ErrorCode.NOT_UTF8:
                return [
                    standard_reply(
                        "FAIL",
                        "*",
                        "INVALID_UTF8",
                        description="Message rejected: not UTF-8",
                        server=self.server,
                    )
                ]
            case ErrorCode.INVALID_NICK:
                return [self.numeric(ERR_ERRONEUSNICKNAME, target)]
            case ErrorCode.NICK_IN_USE | ErrorCode.NICK_REGISTERED:
                return [self.numeric(ERR_NICKNAMEINUSE, target)]
            case ErrorCode.WRONG_PASSWORD | ErrorCode.PASSWORD_REQUIRED if command in ("NICK",):
                return [self.numeric(ERR_NICKNAMEINUSE, target)]
            case ErrorCode.WRONG_PASSWORD | ErrorCode.PASSWORD_REQUIRED:
                return [self.numeric(ERR_PASSWDMISMATCH)]
            case ErrorCode.NO_SUCH_NICK:
                return [self.numeric(ERR_NOSUCHNICK, nick)]
            case ErrorCode.NO_SUCH_ROOM | ErrorCode.INVALID_ROOM:
                if command in ("PRIVMSG", "NOTICE", "WHOIS"):
                    return [self.numeric(ERR_NOSUCHNICK, target)]
                return [self.numeric(ERR_NOSUCHCHANNEL, room)]
            case ErrorCode.USER_NOT_IN_ROOM:
                return [self.numeric(ERR_USERNOTINCHANNEL, nick, room)]
            case ErrorCode.NOT_IN_ROOM | ErrorCode.NO_ROOM:
                if command in ("PRIVMSG", "NOTICE"):
                    return [self.numeric(ERR_CANNOTSENDTOCHAN, room)]
                if "nick" in data:
                    return [self.numeric(ERR_USERNOTINCHANNEL, nick, room)]
                return [self.numeric(ERR_NOTONCHANNEL, room)]
            case ErrorCode.TOO_MANY_ROOMS | ErrorCode.SERVER_ROOMS_FULL:
                return [self.numeric(ERR_TOOMANYCHANNELS, room)]
            case ErrorCode.NOT_OPERATOR:
                return [self.numeric(ERR_CHANOPRIVSNEEDED, room)]
            case ErrorCode.BANNED if command == "JOIN":
                return [self.numeric(ERR_BANNEDFROMCHAN, room)]
            case ErrorCode.BANNED:
                return [self.numeric(ERR_CANNOTSENDTOCHAN, room)]
            case ErrorCode.UNKNOWN_COMMAND:
                return [self.numeric(ERR_UNKNOWNCOMMAND, middle_param(command))]
            case ErrorCode.REFUSED if command == "MODE" and "nick" in data:
                return [self.numeric(ERR_USERSDONTMATCH)]
            case ErrorCode.SLOW_DOWN | ErrorCode.TOO_MANY_FAILURES:
                return [Message("NOTICE", (self.nick, notice.text), source=self.server)]
        # What IRC has no numeric for: the generic error, with the session's sentence.
        words = notice.text.removeprefix("error: ") or str(code)
        return [self.numeric(ERR_UNKNOWNERROR, middle_param(command), text=words)]

    # -- replies ----------------------------------------------------------------------------

    def _ping(self, _data: Mapping[str, Any]) -> list[Message]:
        return [Message("PING", (self.server,), source=self.server)]

    def _nothing(self, _data: Mapping[str, Any]) -> list[Message]:
        return []

    def _topic(self, data: Mapping[str, Any]) -> list[Message]:
        room, topic = data["room"], data["topic"]
        if topic:
            return [self.numeric(RPL_TOPIC, room, text=topic)]
        return [self.numeric(RPL_NOTOPIC, room)]

    def _joined(self, data: Mapping[str, Any]) -> list[Message]:
        out = [self.numeric(RPL_TOPIC, data["room"], text=data["topic"])] if data["topic"] else []
        return out + self._names(data)

    def _names(self, data: Mapping[str, Any]) -> list[Message]:
        room = data["room"]
        out: list[Message] = []
        line: list[str] = []
        size = 0
        for nick, op, _away in data["members"]:
            name = f"@{nick}" if op else nick
            if line and size + len(name.encode()) + 1 > _NAMES_ROOM:
                out.append(self.numeric(RPL_NAMREPLY, "=", room, text=" ".join(line)))
                line, size = [], 0
            line.append(name)
            size += len(name.encode()) + 1
        if line:
            out.append(self.numeric(RPL_NAMREPLY, "=", room, text=" ".join(line)))
        out.append(self.numeric(RPL_ENDOFNAMES, room))
        return out

    def _who(self, data: Mapping[str, Any]) -> list[Message]:
        out = []
        for room, nick, op, away in data["entries"]:
            flags = ("G" if away else "H") + ("@" if op else "")
            out.append(
                self.numeric(
                    RPL_WHOREPLY, room, f"~{nick}", HOST, self.server, nick, flags, text=f"0 {nick}"
                )
            )
        out.append(self.numeric(RPL_ENDOFWHO, middle_param(data["mask"])))
        return out

    def _whois(self, data: Mapping[str, Any]) -> list[Message]:
        nick = data["nick"]
        out = [self.numeric(RPL_WHOISUSER, nick, f"~{nick}", HOST, "*", text=nick)]
        rooms = [f"@{name}" if op else name for name, op in data["rooms"]]
        if rooms:
            out.append(self.numeric(RPL_WHOISCHANNELS, nick, text=" ".join(rooms)))
        out.append(self.numeric(RPL_WHOISSERVER, nick, self.server, text="triochat"))
        if data["admin"]:
            out.append(self.numeric(RPL_WHOISOPERATOR, nick))
        if data["away"] is not None:
            out.append(self.numeric(RPL_AWAY, nick, text=data["away"]))
        out.append(self.numeric(RPL_ENDOFWHOIS, nick))
        return out

    def _list(self, data: Mapping[str, Any]) -> list[Message]:
        out = [self.numeric(RPL_LISTSTART, "Channel", text="Users  Name")]
        for name, count, topic in data["rooms"]:
            out.append(self.numeric(RPL_LIST, name, str(count), text=topic))
        out.append(self.numeric(RPL_LISTEND))
        return out

    def _modes(self, data: Mapping[str, Any]) -> list[Message]:
        target = data["target"]
        if target.startswith("#"):
            return [self.numeric(RPL_CHANNELMODEIS, target, "+" + data["modes"])]
        return [self.numeric(RPL_UMODEIS, "+" + data["modes"])]

    def _bans(self, data: Mapping[str, Any]) -> list[Message]:
        room = data["room"]
        out = [self.numeric(RPL_BANLIST, room, irc_mask(mask)) for mask in data["bans"]]
        out.append(self.numeric(RPL_ENDOFBANLIST, room))
        return out

    def _away(self, data: Mapping[str, Any]) -> list[Message]:
        return [self.numeric(RPL_NOWAWAY if data["away"] is not None else RPL_UNAWAY)]

    def _away_reply(self, data: Mapping[str, Any]) -> list[Message]:
        return [self.numeric(RPL_AWAY, data["nick"], text=data["away"])]

    def _nick(self, data: Mapping[str, Any]) -> list[Message]:
        new, old = data["nick"], self.nick
        if new == old:
            return []
        self.nick = new
        return [Message("NICK", (new,), source=f"{old}!~{old}@{HOST}")]

    def _parted(self, data: Mapping[str, Any]) -> list[Message]:
        room, reason = data["room"], data["reason"]
        params = (room, reason) if reason else (room,)
        nick = self.nick
        return [Message("PART", params, source=f"{nick}!~{nick}@{HOST}")]

    def _history_start(self, data: Mapping[str, Any]) -> list[Message]:
        if not self.batch:
            return []
        room = data["room"]
        ref = batch_reference(room)
        return [Message("BATCH", (f"+{ref}", "chathistory", room), source=self.server)]

    def _history_end(self, data: Mapping[str, Any]) -> list[Message]:
        if not self.batch:
            return []
        return [Message("BATCH", (f"-{batch_reference(data['room'])}",), source=self.server)]

    def _history_targets(self, data: Mapping[str, Any]) -> list[Message]:
        """``CHATHISTORY TARGETS <room> <time>`` for each, in a ``draft/chathistory-targets``
        batch (which takes no parameter) for a client that takes batches."""
        server, reference = self.server, _TARGETS_BATCH
        tags = {"batch": reference} if self.batch else {}
        lines = [
            Message("CHATHISTORY", ("TARGETS", room, format_time(time)), source=server, tags=tags)
            for room, time in data["targets"]
        ]
        if not self.batch:
            return lines
        start = Message("BATCH", (f"+{reference}", "draft/chathistory-targets"), source=server)
        end = Message("BATCH", (f"-{reference}",), source=server)
        return [start, *lines, end]


_KINDS: Final[Mapping[str, Callable[[Replier, Mapping[str, Any]], list[Message]]]] = {
    "ping": Replier._ping,
    "echo": Replier._nothing,
    "topic": Replier._topic,
    "joined": Replier._joined,
    "names": Replier._names,
    "who-list": Replier._who,
    "whois": Replier._whois,
    "room-list": Replier._list,
    "modes": Replier._modes,
    "ban-list": Replier._bans,
    "away": Replier._away,
    "away-reply": Replier._away_reply,
    "nick": Replier._nick,
    "parted": Replier._parted,
    "chathistory": Replier._history_start,
    "chathistory-end": Replier._history_end,
    "chathistory-targets": Replier._history_targets,
}
