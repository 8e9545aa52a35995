"""Events: what a room tells its members. Frozen attrs classes, stamped by the room.

A room stamps every event it publishes with its own name, the next sequence number of that room,
the current UTC time and the sender's nickname; a client can never supply any of these. Events are
immutable and shared: one event object goes to every member of the room.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from typing import Any, Final, Protocol

import attrs

from ._errors import ErrorCode

__all__ = [
    "DEFAULT_ROOM",
    "SLOW_CONSUMER",
    "Action",
    "BanChanged",
    "Event",
    "Joined",
    "Kicked",
    "Left",
    "Message",
    "NickChanged",
    "Notice",
    "OperatorChanged",
    "Private",
    "TopicChanged",
    "utc_now",
]


#: The room every network client starts in. Room names start with "#".
DEFAULT_ROOM: Final = "#lobby"
#: The reason given to a member whose outbox overflowed (it reads too slowly).
SLOW_CONSUMER: Final = "SendQ exceeded: too slow reading messages"


def utc_now() -> dt.datetime:
    """The current time as an aware UTC datetime (the clock rooms stamp events with)."""
    return dt.datetime.now(dt.UTC)


_log = logging.getLogger("triochat.render")

# Where an event keeps its history copy, beside its renderings (see Event.as_history).
_HISTORY_COPY: Final = "history-copy"
# What memory holds for an event besides its own object and strings, in bytes (CPython): its
# cache of renderings (a dict, at this size until it holds more than five entries), its time
# and its sequence number (an int, once past the small ints CPython shares).
_CACHE_BYTES: Final = sys.getsizeof(dict.fromkeys("abcde"))
_STAMP_BYTES: Final = sys.getsizeof(utc_now()) + sys.getsizeof(1 << 20)


def _utf8_length(text: str) -> int:
    """Bytes of *text* in UTF-8 (lone surrogates, which only library code can make, count 3)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Ledger(Protocol):
    """Who pays for the memory of a kept event: a room's history (see :meth:`Event._keep`)."""

    def _charge(self, nbytes: int) -> None: ...


@attrs.frozen(kw_only=True)
class Event:
    """Base class of everything a member receives.

    Attributes:
      room: the room's name (``""`` for notices addressed to one member).
      seq: the room's sequence number; consecutive within a room, starting at 1
        (``0`` for notices, which are not part of any room's order).
      time: when the room published the event (aware, UTC).
      sender: the nickname of the member who caused it (``""`` for the server).
      history: ``True`` for a copy replayed from the room's history (on joining, or on
        request), ``False`` for a live event.
    """

    room: str = ""
    seq: int = 0
    time: dt.datetime = attrs.field(factory=utc_now)
    sender: str = ""
    history: bool = False
    # Rendered bytes, per wire format. Filled on first use so that an event going to a thousand
    # members is encoded once per format, and every member's writer sends the same bytes object.
    _encoded: dict[str, Any] = attrs.field(
        factory=dict, init=False, eq=False, repr=False, hash=False
    )
    # The room history that keeps this event (or whose event this is a history copy of), told
    # of every byte the event comes to hold while kept; None for every other event.
    _ledger: Ledger | None = attrs.field(default=None, init=False, eq=False, repr=False, hash=False)

    def encode(self, wire_format: str, render: Callable[[Event], bytes]) -> bytes:
        """Return this event rendered by *render*, rendering it only the first time per format.

        Error handling: if *render* raises, the failure is logged once (the result is cached
        like any other) and a generic error notice in the same format stands in for the event.
        """
        try:
            cached: bytes = self._encoded[wire_format]
            return cached
        except KeyError:
            data = self._encoded[wire_format] = _render_or_stand_in(self, wire_format, render)
            ledger = self._ledger
            if ledger is not None:
                ledger._charge(data.__sizeof__())
            return data

    def as_history(self) -> Event:
        """A copy of this event marked ``history=True`` (made once, then reused)."""
        if self.history:
            return self
        copy: Event | None = self._encoded.get(_HISTORY_COPY)
        if copy is None:
            copy = attrs.evolve(self, history=True)
            self._encoded[_HISTORY_COPY] = copy
            ledger = self._ledger
            if ledger is not None:
                object.__setattr__(copy, "_ledger", ledger)
                ledger._charge(copy._copy_bytes())
        return copy

    @property
    def size(self) -> int:
        """The bytes this event costs in an outbox, for the byte limit.

        That is 64 for the event itself, plus the UTF-8 bytes of its text.
        """
        return 64

    # What a room's history holds for a kept event: the object, its stamp and strings, every
    # rendering cached on it, and its history copy with the copy's renderings (the copy shares
    # its strings and stamp with the event). Charged to the room's ledger as each piece appears.
    # (str.__sizeof__ and bytes.__sizeof__ are what sys.getsizeof reports for them, at a
    # fraction of the cost: this runs for every message a room keeps.)

    def _text_bytes(self) -> int:
        return 0

    def _copy_bytes(self) -> int:
        return _object_bytes(type(self)) + _CACHE_BYTES

    def _footprint(self) -> int:
        """The bytes a history that keeps this event holds for it, all forms counted."""
        total = (
            _object_bytes(type(self))
            + _CACHE_BYTES
            + _STAMP_BYTES
            + self.sender.__sizeof__()
            + self._text_bytes()
        )
        encoded = self._encoded
        if encoded:
            for value in encoded.values():
                if type(value) is bytes:
                    total += value.__sizeof__()
                elif isinstance(value, Event):  # the history copy
                    total += value._copy_bytes()
                    total += sum([v.__sizeof__() for v in value._encoded.values()])
        return total

    def _keep(self, ledger: Ledger) -> int:
        """Charge *ledger* for this event from now on; return what it holds already."""
        object.__setattr__(self, "_ledger", ledger)
        copy: Event | None = self._encoded.get(_HISTORY_COPY)
        if copy is not None:
            object.__setattr__(copy, "_ledger", ledger)
        return self._footprint()

    def _release(self) -> int:
        """Stop charging the ledger for this event; return every byte it was charged."""
        object.__setattr__(self, "_ledger", None)
        copy: Event | None = self._encoded.get(_HISTORY_COPY)
        if copy is not None:
            object.__setattr__(copy, "_ledger", None)
        return self._footprint()


# An event's own object is the same size for every instance of a class (they have __slots__).
_OBJECT_BYTES: dict[type[Event], int] = {}


def _object_bytes(cls: type[Event]) -> int:
    try:
        return _OBJECT_BYTES[cls]
    except KeyError:
        size = _OBJECT_BYTES[cls] = sys.getsizeof(object.__new__(cls))
        return size


def _render_or_stand_in(event: Event, wire_format: str, render: Callable[[Event], bytes]) -> bytes:
    # One event that cannot be rendered (data JSON cannot serialise, an Event subclass no
    # renderer knows) must cost that event only: this runs in the flusher and the writers, and
    # an exception there would end a connection, or the server.
    try:
        return render(event)
    except Exception:
        _log.exception(
            "cannot render %.300r as %s; sent an error notice instead", event, wire_format
        )
    stand_in = Notice(
        text="an event could not be shown (the server logged why)",
        error=True,
        kind="error",
        data={"room": event.room, "seq": event.seq} if event.seq else {},
    )
    try:
        return render(stand_in)
    except Exception:
        return b""


@attrs.frozen(kw_only=True)
class Message(Event):
    """A chat line said in a room."""

    text: str

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.text)

    def _text_bytes(self) -> int:
        return self.text.__sizeof__()


@attrs.frozen(kw_only=True)
class Action(Event):
    """``/me``: an action, rendered as ``* alice waves``."""

    text: str

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.text)

    def _text_bytes(self) -> int:
        return self.text.__sizeof__()


@attrs.frozen(kw_only=True)
class Joined(Event):
    """*sender* joined the room."""


@attrs.frozen(kw_only=True)
class Left(Event):
    """*sender* left the room; *reason* says why (``quit``, ``idle timeout``, ...). *quit* is
    true when the member left the server, not only this room (IRC tells ``QUIT`` from ``PART``)."""

    reason: str = ""
    quit: bool = False

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.reason)


@attrs.frozen(kw_only=True)
class NickChanged(Event):
    """*sender* is now called *new*."""

    new: str


@attrs.frozen(kw_only=True)
class TopicChanged(Event):
    """*sender* set the room's topic to *text* (``""`` clears it)."""

    text: str

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.text)

    def _text_bytes(self) -> int:
        return self.text.__sizeof__()


@attrs.frozen(kw_only=True)
class Kicked(Event):
    """*sender* (an operator) removed *target* from the room, saying *reason*."""

    target: str
    reason: str = ""

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.reason)


@attrs.frozen(kw_only=True)
class OperatorChanged(Event):
    """*sender* made *target* an operator of the room (*operator* true) or took it back."""

    target: str
    operator: bool


@attrs.frozen(kw_only=True)
class BanChanged(Event):
    """*sender* banned (*banned* true) or unbanned the *mask* in the room."""

    mask: str
    banned: bool


@attrs.frozen(kw_only=True)
class Private(Event):
    """A private message from *sender* to *target*; both receive it (the sender as its echo).

    Private messages are not part of any room (``room`` is ``""``, ``seq`` is 0).
    """

    target: str
    text: str

    @property
    def size(self) -> int:
        return 64 + _utf8_length(self.text)

    def _text_bytes(self) -> int:
        return self.text.__sizeof__()


@attrs.frozen(kw_only=True)
class Notice(Event):
    """A line from the server to one member: a welcome, a reply, an error or a goodbye.

    Attributes:
      text: the line for people; ``""`` for a structured reply, which each protocol words
        from its *kind*, *code*, *data* and *params* (the text and JSON formats take the
        sentence from the text protocol's phrasebook).
      error: marks replies to bad input.
      kind: what the notice is, for programs: ``welcome``, ``help``, ``who``, ``rooms``,
        ``error``, ``ping``, ``goodbye``, ``nick``, ``switch``, ``history``, ``info``...
      data: structured details for programs (for ``who``, the list of members; for ``rooms``,
        each room's name, member count and topic), rendered into the JSON format.
      code: for an error, what went wrong (an :class:`~triochat.ErrorCode`), so that every
        protocol can word or number it its own way; ``None`` otherwise.
      params: the other values a protocol needs to word a structured reply (a count, a
        limit, the room just left...), which are not part of *data*: never rendered as they
        are, only used by a protocol's wording.

    Notices are not part of a room's order (``seq`` is 0).
    """

    text: str = ""
    error: bool = False
    kind: str = "info"
    data: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    code: ErrorCode | None = None
    params: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def size(self) -> int:
        # Bytes as rendered (UTF-8, the data as JSON), so that a listing of non-ASCII text
        # counts what it costs: repr() spells one plane-15 character in ten ASCII characters.
        # Counted once: the outbox adds and later subtracts the same number.
        size: int | None = self._encoded.get("size")
        if size is None:
            size = self._encoded["size"] = (
                64
                + _json_size(self.text)
                + (_json_size(self.data) if self.data else 0)
                + (_json_size(self.params) if self.params else 0)
            )
        return size


def _json_size(value: object) -> int:
    """About the bytes *value* takes in compact JSON with ``ensure_ascii=False``."""
    if isinstance(value, str):
        return 2 + (len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass")))
    if isinstance(value, dict):
        return 2 + sum(_json_size(key) + _json_size(item) + 2 for key, item in value.items())
    if isinstance(value, list | tuple):
        return 2 + sum(_json_size(item) + 1 for item in value)
    if value is None or isinstance(value, bool):
        return 5
    return len(str(value))
