"""What the session answers with: the kinds of its replies (protocol-neutral, no wording).

Every reply of the session is a :class:`~triochat.Notice` with no text: its ``kind`` (one of
:class:`ReplyKind`, or ``"error"`` with an :class:`~triochat.ErrorCode`), its ``data`` (the
structured details the JSON format carries) and its ``params`` (the other values a wording
needs). Each protocol words it its own way: the text protocol's phrasebook
(:mod:`triochat.protocols.text._phrases`) has a sentence for every kind and every code.
"""

from __future__ import annotations

import enum

__all__ = ["ReplyKind"]


class ReplyKind(enum.StrEnum):
    """The kinds of reply the session sends, with their data and params."""

    #: The server needs a password first. Data: ``nick``.
    PASSWORD = "password"
    #: Data: ``nick``, ``room`` (``None``: no room to start in); params: ``others`` (members
    #: of the room besides this one).
    WELCOME = "welcome"
    #: No complete line for a while. Params: ``idle`` (seconds).
    PING = "ping"
    #: The list of commands.
    HELP = "help"
    #: The current room changed. Data: ``room`` (``None``: in no room now); params: ``left``
    #: (the room just left, after a part).
    SWITCH = "switch"
    #: Data: ``room``, ``bans``.
    BANS = "bans"
    #: Data: ``room``, ``topic``.
    TOPIC = "topic"
    #: The wire format changed. Data: ``format``, ``nick``, ``room``.
    FORMAT = "format"
    #: A password check waits its turn. Data: ``seconds``.
    THROTTLED = "throttled"
    #: The client is a server admin now.
    ADMIN = "admin"
    #: A nick was registered (data ``nick``) or unregistered (data ``nick`` ``None``; params:
    #: ``nick``, ``registered`` ``False``).
    REGISTERED = "registered"
    #: Data: ``room``, ``members`` (this page), and ``page``, ``pages``, ``total`` when paged;
    #: params: ``count`` (members in all), ``page``, ``pages``.
    WHO = "who"
    #: Data: ``rooms`` (this page: name, members, topic), and ``page``, ``pages``, ``total``
    #: when paged; params: ``count`` (rooms in all), ``page``, ``pages``.
    ROOMS = "rooms"
    #: A replay follows. Data: ``room``, ``count`` (events replayed); params: ``total`` (kept).
    HISTORY = "history"
    #: The replay is over. Data: ``room``.
    HISTORY_END = "history-end"
    #: Events a client asked for (after a seq) are no longer kept. Data: ``room``, ``after``,
    #: ``restarted`` (the room started again since), and ``forgotten`` (the newest event not
    #: kept) when it did not.
    HISTORY_GAP = "history-gap"
    #: A rejoin gave back what the client missed (see ``core/_recovery.py``); the events follow
    #: (marked as history), then its ``Joined``. Data: ``room``, ``count``, ``epoch``.
    RECOVERED = "recovered"
    #: A rejoin could not give back what the client missed; the latest history follows, as on a
    #: plain join. Data: ``room``, ``count`` (history events), ``epoch``, ``reason``
    #: (``restarted``, ``forgotten``, ``too-many`` or ``unknown``).
    NOT_RECOVERED = "not-recovered"
