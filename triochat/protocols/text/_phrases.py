"""The phrasebook: the English of the line protocols (sans-IO: no trio here).

The session and the core answer with structured notices (a kind, for errors an
:class:`~triochat.ErrorCode`, and the values a wording needs); this module is where they
become sentences, for the text format and for the ``text`` field of the JSON format alike.
Slash syntax (``/join #ROOM``) appears here and in the text parser only. A notice that comes
with its own text (a library user's ``Member.notify("...")``) keeps it as it is.

Each phrase takes the notice's values (its ``data`` and its ``params`` together) and returns
the sentence. A phrase that is missing, or that cannot word the values it is given, falls back
to the error's own description (or to the kind's name), never to an exception;
``tests/protocols/text/test_phrases.py`` checks that every code and every kind of reply has a
phrase.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from ...core._errors import ErrorCode
from ...core._events import Notice
from ...session._reasons import seconds
from ...session._replies import ReplyKind
from .._codec import Refusal
from ._parse import HELP_TEXT

__all__ = ["ERRORS", "REFUSALS", "REPLIES", "notice_text", "refusal_text"]

_log = logging.getLogger("triochat.protocols")

#: A phrase: the values of a notice (its data and params) to a sentence (``None``: no wording
#: for these values; the notice's description stands in).
Phrase = Callable[[Mapping[str, Any]], str | None]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _heading(v: Mapping[str, Any]) -> str:
    pages = v.get("pages", 1)
    return f", page {v['page']} of {pages}" if pages > 1 else ""


def _more(v: Mapping[str, Any], command: str) -> str:
    page = v.get("page", 1)
    return f"; {command} {page + 1} for more" if page < v.get("pages", 1) else ""


def _welcome(v: Mapping[str, Any]) -> str:
    room = v["room"]
    if room is None:
        where = "You are in no room."
    else:
        others = v["others"]
        where = f"You are in {room} with {others} other{'' if others == 1 else 's'}."
    return (
        f"welcome to triochat, {v['nick']}! {where} /nick NAME sets your nick, /join #ROOM "
        f"joins a room, /help lists the commands, /quit leaves.{_limits(v)}"
    )


def _limits(v: Mapping[str, Any]) -> str:
    """The limits a welcome tells (" Limits: ..."), or "" if it tells none."""
    limits = v.get("limits")
    if not isinstance(limits, Mapping):
        return ""
    rate = limits.get("rate")
    pace = "no limit on lines a second" if rate is None else f"at most {rate:g} lines a second"
    return (
        f" Limits: {pace}, {limits.get('burst')} at once, "
        f"lines of up to {limits.get('max_line')} bytes."
    )


def _switch(v: Mapping[str, Any]) -> str:
    room, left = v["room"], v.get("left")
    if left is None:
        return f"now talking in {room}"
    where = f"now talking in {room}" if room is not None else "you are in no room now; /join #ROOM"
    return f"you left {left}; {where}"


def _who(v: Mapping[str, Any]) -> str:
    room = v["room"]
    return f"{v['count']} in {room}{_heading(v)}: {', '.join(v['members'])}" + _more(
        v, f"/who {room}"
    )


def _rooms(v: Mapping[str, Any]) -> str:
    entries = ", ".join(
        f"{room['name']} ({room['members']})" + (f": {room['topic']}" if room["topic"] else "")
        for room in v["rooms"]
    )
    return f"{_plural(v['count'], 'room')}{_heading(v)}: {entries}" + _more(v, "/rooms")


def _history(v: Mapping[str, Any]) -> str:
    count, total = v["count"], v.get("total", v["count"])
    more = f", the last of {total}: more would not fit in your outbox" if count < total else ""
    return f"history of {v['room']}: {_plural(count, 'event')}{more}"


def _registered(v: Mapping[str, Any]) -> str:
    if v.get("registered", True):
        return (
            f"the nick {v['nick']} is now registered: nobody else can take it without the password"
        )
    return f"the nick {v['nick']} is no longer registered"


def _goodbye(v: Mapping[str, Any]) -> str:
    if v.get("error"):
        return f"error: {v['reason']}; disconnecting"
    return f"goodbye ({v['reason']})"


# Why a rejoin could not recover what a client missed (core/_recovery.py's reasons).
_NOT_RECOVERED: Final = {
    "restarted": "the room started again",
    "forgotten": "some of it is no longer kept",
    "too-many": "too much was said",
    "unknown": "the room never had the last event you saw",
}


#: The sentence of each kind of reply that is not an error.
REPLIES: Final[dict[str, Phrase]] = {
    ReplyKind.PASSWORD: lambda v: (
        f"welcome to triochat, {v['nick']}! This server needs a password: send /pass PASSWORD "
        "(/quit leaves)."
    ),
    ReplyKind.WELCOME: _welcome,
    ReplyKind.PING: lambda v: (
        f"ping: no complete line for {seconds(v['idle'])}; send any line within "
        f"{seconds(v['idle'])} or you will be disconnected"
    ),
    ReplyKind.HELP: lambda v: HELP_TEXT,
    ReplyKind.SWITCH: _switch,
    ReplyKind.BANS: lambda v: f"bans in {v['room']}: {', '.join(v['bans']) or 'none'}",
    ReplyKind.TOPIC: lambda v: (
        f"topic of {v['room']}: {v['topic']}" if v["topic"] else f"{v['room']} has no topic"
    ),
    ReplyKind.FORMAT: lambda v: f"format is now {v['format']}",
    ReplyKind.THROTTLED: lambda v: (
        "too many failed attempts from your address: yours is checked in at most "
        f"{seconds(v['seconds'])}"
    ),
    ReplyKind.ADMIN: lambda v: "you are now a server admin: an operator in every room",
    ReplyKind.REGISTERED: _registered,
    ReplyKind.WHO: _who,
    ReplyKind.ROOMS: _rooms,
    ReplyKind.HISTORY: _history,
    ReplyKind.HISTORY_END: lambda v: f"end of history of {v['room']}",
    ReplyKind.HISTORY_GAP: lambda v: (
        f"{v['room']} started again since event {v['after']}: what was said before is gone"
        if v["restarted"]
        else f"events {v['after'] + 1} to {v['forgotten']} of {v['room']} are no longer kept"
    ),
    ReplyKind.RECOVERED: lambda v: (
        f"rejoined {v['room']}: {_plural(v['count'], 'missed event')} recovered"
    ),
    ReplyKind.NOT_RECOVERED: lambda v: (
        f"rejoined {v['room']}: could not recover what you missed "
        f"({_NOT_RECOVERED.get(v['reason'], v['reason'])}); showing the latest history"
    ),
    # The codec's own: the last words before a connection closes (data: reason).
    "goodbye": _goodbye,
}


def _invalid_nick(v: Mapping[str, Any]) -> str | None:
    match v.get("problem"):
        case "length":
            return f"a nick has 1 to {v['limit']} characters"
        case "characters":
            rule = "a nick starts with a letter or '_' and has only letters, digits and _-[]{}|^`"
            return f"{rule}; this one {v['detail']}" if v.get("detail") else rule
        case "spaces":
            return "usage: /nick NAME (a nick has no spaces)"
    return None


def _wrong_password(v: Mapping[str, Any]) -> str | None:
    match v.get("secret"):
        case "server":
            return "wrong password"
        case "admin":
            return "wrong admin token"
        case "nick":
            return f"wrong password for {v['nick']}"
    return None


def _no_such_page(v: Mapping[str, Any]) -> str:
    pages = v["pages"]
    what = f"names in {v['room']}" if v["listing"] == "who" else "rooms"
    return f"there {'is' if pages == 1 else 'are'} {_plural(pages, 'page')} of {what}"


def _join_hint(v: Mapping[str, Any], room: str) -> str:
    return f"; /join {room}" if v.get("hint") == "join" else ""


def _message(v: Mapping[str, Any]) -> str:
    message: str = v["message"]
    return message


#: The sentence of each error (after ``error: ``), by code.
ERRORS: Final[dict[ErrorCode, Phrase]] = {
    ErrorCode.REFUSED: lambda v: v.get("description"),
    ErrorCode.USAGE: _message,
    ErrorCode.UNKNOWN_COMMAND: _message,
    ErrorCode.INVALID_COMMAND: _message,
    ErrorCode.LINE_TOO_LONG: lambda v: (
        f"line too long (the limit is {v['limit']} bytes); discarded"
    ),
    ErrorCode.NOT_UTF8: lambda v: (
        f"line is not valid UTF-8 (bad byte at offset {v['offset']}); discarded"
    ),
    ErrorCode.SLOW_DOWN: lambda v: (
        f"slow down: at most {v['rate']:g} lines a second, {v['burst']} at once; lines sent "
        "faster are discarded"
    ),
    ErrorCode.INVALID_NICK: _invalid_nick,
    ErrorCode.NICK_IN_USE: lambda v: (
        f"the nick {v['nick']} looks like {v['like']}, which is taken"
        if v.get("like")
        else f"the nick {v['nick']} is taken"
    ),
    ErrorCode.NO_SUCH_NICK: lambda v: f"nobody is called {v['nick']}",
    ErrorCode.NICK_REGISTERED: lambda v: (
        f"the nick {v['nick']} looks like {v['like']}, which is registered; "
        f"/nick {v['nick']} PASSWORD with the password of {v['like']}"
        if v.get("like")
        else f"the nick {v['nick']} is registered; /nick {v['nick']} PASSWORD"
    ),
    ErrorCode.ALREADY_REGISTERED: lambda v: (
        f"the nick {v['nick']}, or one that looks like it, is registered already"
    ),
    ErrorCode.NOT_REGISTERED: lambda v: f"the nick {v['nick']} is not registered",
    ErrorCode.GUEST_NICK: lambda v: "choose a nick with /nick NAME before registering it",
    ErrorCode.INVALID_PASSWORD: lambda v: f"a password has {v['min']} to {v['max']} characters",
    ErrorCode.TOO_MANY_REGISTRATIONS: lambda v: (
        f"too many registrations from your address; try again in {seconds(v['seconds'])}"
    ),
    ErrorCode.NO_NICK_STORE: lambda v: "this server does not keep registered nicks",
    ErrorCode.INVALID_ROOM: lambda v: (
        f"a room name is '#' and then 1 to {v['limit']} letters, digits, _ or -"
    ),
    ErrorCode.NO_SUCH_ROOM: lambda v: f"there is no room {v['room']}",
    ErrorCode.NOT_IN_ROOM: lambda v: f"you are not in {v['room']}{_join_hint(v, v['room'])}",
    ErrorCode.NO_ROOM: lambda v: f"you are not in any room{_join_hint(v, '#ROOM')}",
    ErrorCode.USER_NOT_IN_ROOM: lambda v: f"{v['nick']} is not in {v['room']}",
    ErrorCode.TOO_MANY_ROOMS: lambda v: f"you are already in {v['limit']} rooms; /part one",
    ErrorCode.SERVER_ROOMS_FULL: lambda v: f"the server has its maximum of {v['limit']} rooms",
    ErrorCode.NOT_OPERATOR: lambda v: f"you are not an operator of {v['room']}",
    ErrorCode.TARGET_IS_ADMIN: lambda v: f"{v['nick']} is a server admin",
    ErrorCode.BANNED: lambda v: f"you are banned from {v['room']}",
    ErrorCode.INVALID_MASK: lambda v: (
        "a ban mask is NICK, @ADDRESS or NICK@ADDRESS, with * and ? wildcards"
    ),
    ErrorCode.TOO_MANY_BANS: lambda v: f"{v['room']} already has {v['limit']} bans; /unban one",
    ErrorCode.NOT_BANNED: lambda v: f"{v['mask']} is not banned in {v['room']}",
    ErrorCode.TOPIC_TOO_LONG: lambda v: f"a topic has at most {v['limit']} characters",
    ErrorCode.NO_SUCH_PAGE: _no_such_page,
    ErrorCode.PASSWORD_REQUIRED: lambda v: "this server needs a password first: /pass PASSWORD",
    ErrorCode.ALREADY_AUTHENTICATED: lambda v: "you are already in",
    ErrorCode.WRONG_PASSWORD: _wrong_password,
    ErrorCode.NO_ADMIN_TOKEN: lambda v: "this server has no admin token",
    ErrorCode.TOO_MANY_FAILURES: lambda v: "too many failed attempts",
    ErrorCode.STORE_UNAVAILABLE: lambda v: (
        "the shared room store is unreachable: try again shortly"
        if v.get("store") == "rooms"
        else "registration store unavailable, try again later"
    ),
    ErrorCode.NOT_CONNECTED: lambda v: f"{v['nick']} is not connected",
}

#: Why a client is turned away before it has a session (after ``error: ``).
REFUSALS: Final[dict[Refusal, str]] = {
    Refusal.SERVER_FULL: "server full, try again later",
    Refusal.TOO_MANY_FROM_ADDRESS: (
        "too many connections from your address (the limit is {limit}), try again later"
    ),
    Refusal.NOT_TLS: "this port speaks TLS; connect with TLS (triochat connect --tls)",
}


_SESSION_KINDS: Final = frozenset(kind.value for kind in ReplyKind)


def _word(phrase: Phrase | None, values: Mapping[str, Any], what: object) -> str | None:
    if phrase is None:
        _log.warning("no phrase for %s", what)
        return None
    try:
        return phrase(values)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        # The values do not fit the phrase (a raise site that gave other params): the
        # description says it, and the log says what to fix.
        _log.warning("cannot word %s with %r", what, sorted(values), exc_info=True)
        return None


def notice_text(notice: Notice) -> str:
    """The sentence of *notice*: its own text if it has one, else its phrase."""
    if notice.text:
        return notice.text
    values = notice.params if not notice.data else {**notice.data, **notice.params}
    code = notice.code
    if notice.error and code is not None:
        said = _word(ERRORS.get(code), values, code)
        return f"error: {said or values.get('description') or code.value.replace('_', ' ')}"
    phrase = REPLIES.get(notice.kind)
    if phrase is None and notice.kind not in _SESSION_KINDS:
        return ""  # a library user's notice with no words, and of a kind of its own
    said = _word(phrase, values, notice.kind)
    return said if said is not None else (values.get("description") or notice.kind)


def refusal_text(refusal: Refusal, *, limit: int = 0) -> str:
    """The line that turns a client away (without its ``***`` and newline)."""
    return "error: " + REFUSALS[refusal].format(limit=limit)
