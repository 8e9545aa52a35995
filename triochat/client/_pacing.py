"""Sending no faster than the server accepts (sans-IO: no trio here, the time is passed in).

A triochat server lets each client send *burst* lines at once and *rate* lines a second after
that (a token bucket); it discards lines sent faster, with one ``slow down`` notice per run of
refusals. A client that must not lose lines, such as ``triochat connect`` reading a pipe, paces
itself with a :class:`Pacer`.

Mirroring the server's bucket is not enough on its own: the server charges a line when it
*reads* it, not when it was sent, and lines that wait in the network or in the server's socket
buffer (while the server is busy, or has stopped reading because our own replies are backed up)
are read in one go and charged at once. So the pacer also bounds the lines *in flight*: sent,
but whose echo (or error) has not come back yet. With a bucket of *burst* - *window* tokens
refilled at no more than *rate*, and at most *window* lines in flight, the server's bucket can
never run dry, whatever the delays: between the server reading any two lines, at most the
pacer's burst plus the lines in flight can have been read on top of what its rate allowed.
(Commands get no echo that can be told apart reliably, so they are charged but not counted in
flight; a pipe is mostly messages.)

Where the limits come from, best first: a ``limits`` object in the data of the server's
``welcome`` or ``format`` notice (``{"rate": 10, "burst": 100, "max_line": 4096}``), the options
``--rate`` and ``--burst``, the server's documented defaults. A ``slow down`` refusal quotes the
real rate and burst, and the pacer takes them from there on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..protocols._lines import DEFAULT_MAX_LINE
from ..session._flood import DEFAULT_MESSAGE_BURST, DEFAULT_MESSAGE_RATE

__all__ = ["Delivery", "Pacer", "ServerLimits", "hear", "limits_from_notice"]

#: The pacer sends at this fraction of the server's rate: the two clocks are not the same
#: clock, and the server's bucket is refilled in floating point.
RATE_MARGIN: Final = 0.99
#: The ``slow down`` notice quotes the limits: "at most 10 lines a second, 100 at once".
_SLOW_DOWN: Final = re.compile(r"at most (?P<rate>[0-9.e+]+|inf) lines? a second, (?P<burst>\d+)")


@attrs.frozen
class ServerLimits:
    """What a server accepts from one client: *rate* lines a second after a *burst* of lines at
    once (``math.inf``: no limit), each line at most *max_line* bytes of UTF-8."""

    rate: float = DEFAULT_MESSAGE_RATE
    burst: int = DEFAULT_MESSAGE_BURST
    max_line: int = DEFAULT_MAX_LINE


def limits_from_notice(obj: Mapping[str, Any], known: ServerLimits) -> ServerLimits | None:
    """The limits a server's JSON notice *obj* tells, on top of *known*; ``None`` if it tells none.

    Two notices tell them: a ``welcome`` or ``format`` notice whose data has a ``limits`` object,
    and the error that refuses a line sent too fast (``slow down: at most R lines a second, B at
    once``).
    """
    if obj.get("type") != "notice":
        return None
    data = obj.get("data")
    limits = data.get("limits") if isinstance(data, Mapping) else None
    if isinstance(limits, Mapping):
        rate = limits.get("rate")
        return ServerLimits(
            # JSON has no infinity: a rate of null means none.
            rate=math.inf if rate is None and "rate" in limits else _positive(rate, known.rate),
            burst=max(1, int(_positive(limits.get("burst"), known.burst))),
            max_line=max(1, int(_positive(limits.get("max_line"), known.max_line))),
        )
    text = obj.get("text")
    if obj.get("error") is True and isinstance(text, str) and "slow down" in text:
        match = _SLOW_DOWN.search(text)
        if match is not None:
            return attrs.evolve(
                known,
                rate=_positive(float(match["rate"]), known.rate),
                burst=max(1, int(match["burst"])),
            )
    return None


def _positive(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return default
    return float(value)


@attrs.define
class Pacer:
    """When the next line may go: a token bucket under the server's, and a bound on lines in
    flight (see the module's documentation).

    Call :meth:`delay` before each line and wait that long (``math.inf``: until an echo comes
    back); then :meth:`sent`. Call :meth:`acknowledged` for each echo of a line of yours (and
    each error notice). Times are seconds on any one monotonic clock.
    """

    limits: ServerLimits = attrs.field(factory=ServerLimits)
    #: Lines sent whose echo has not come back yet.
    in_flight: int = attrs.field(default=0, init=False)
    _tokens: float = attrs.field(default=0.0, init=False)
    _updated: float | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.bucket)

    @property
    def window(self) -> int:
        """The most lines in flight at once: a quarter of the server's burst."""
        return max(1, self.limits.burst // 4)

    @property
    def bucket(self) -> int:
        """The pacer's own burst: what the window leaves of the server's."""
        return max(1, self.limits.burst - self.window)

    @property
    def rate(self) -> float:
        """The pacer's sustained rate, lines a second."""
        return self.limits.rate * RATE_MARGIN

    def learn(self, limits: ServerLimits) -> None:
        """Pace to *limits* from now on (the server told them). Tokens are not given back."""
        self.limits = limits
        self._tokens = min(self._tokens, float(self.bucket))

    def delay(self, now: float) -> float:
        """Seconds to wait before the next line may be sent; ``math.inf`` while the window is full
        (wait for an echo)."""
        if self.in_flight >= self.window:
            return math.inf
        if self.limits.rate == math.inf:
            return 0.0
        tokens = self._refill(now)
        # Within rounding of a whole token is a token: waiting for the last 1e-12 of one would
        # only add a time too small to move the clock.
        return 0.0 if tokens >= 1 - 1e-9 else (1 - tokens) / self.rate

    def sent(self, now: float, *, echoed: bool = True) -> None:
        """Count a line sent at *now*; *echoed*: it is a message, whose echo will come back."""
        self._tokens = self._refill(now) - 1
        self._updated = now
        if echoed:
            self.in_flight += 1

    def acknowledged(self) -> None:
        """An echo (or an error) came back for a line in flight."""
        self.in_flight = max(0, self.in_flight - 1)

    def refused(self, now: float) -> None:
        """The server refused a line as sent too fast: its bucket is empty now. The lines in
        flight will not all be echoed (it refuses the rest of a run silently), but those that
        reach it once its bucket refills will take tokens: count them as spent already."""
        self._tokens = -float(self.in_flight)
        self._updated = now
        self.in_flight = 0

    def _refill(self, now: float) -> float:
        if self._updated is None or self.limits.rate == math.inf:
            return self._tokens
        elapsed = max(0.0, now - self._updated)
        return min(float(self.bucket), self._tokens + elapsed * self.rate)


@attrs.define
class Delivery:
    """What the server's lines say about the lines a client sent: echoes, refusals, the last word.

    Feed it every line received (:meth:`feed`). On a JSON connection it counts the echoes of
    your own messages (:attr:`echoes`; compare with :attr:`messages_sent`, which the sender
    counts), notices the errors, and follows your nick. Whatever the format, it keeps the
    server's last word: the goodbye notice, or a text line starting with ``*** `` (the server's
    notices), so that a connection that just stops (a server killed, a cable pulled) can be told
    from one the server closed on purpose.
    """

    #: Your nick, as the server last said it.
    nick: str | None = None
    #: Whether the server confirmed the JSON format (echoes are counted from then on).
    json: bool = False
    messages_sent: int = 0
    echoes: int = 0
    #: The first refusal for sending too fast (``slow down: ...``), and the first error.
    refusal: str | None = None
    #: How many ``slow down`` refusals came (each starts a run of lines refused).
    refusals: int = 0
    first_error: str | None = None
    #: The server's last line if it was a notice (see above), without ``*** `` or ``error: ``.
    last_word: str | None = None
    #: Why the server said goodbye (``quit`` after ``/quit``), when it said.
    goodbye_reason: str | None = None
    known: ServerLimits = attrs.field(factory=ServerLimits)
    _new_limits: ServerLimits | None = None

    def feed(self, line: str) -> int:
        """Account for *line*; returns how many lines in flight it acknowledges (0 or 1)."""
        obj = _json_object(line) if line.startswith("{") else None
        if obj is None:
            self._text(line)
            return 0
        text = obj.get("text") if isinstance(obj.get("text"), str) else ""
        assert isinstance(text, str)
        kind, history = obj.get("type"), obj.get("history") is True
        self.last_word = None
        if kind == "notice":
            return self._notice(obj, text.removeprefix("error: "))
        if history or self.nick is None or obj.get("sender") != self.nick:
            return 0
        if kind in ("message", "action", "private"):
            self.echoes += 1
            return 1
        if kind == "nick" and isinstance(obj.get("new"), str):
            self.nick = obj["new"]
        return 0

    def take_limits(self) -> ServerLimits | None:
        """Limits the server told since the last call, if it told any."""
        limits, self._new_limits = self._new_limits, None
        return limits

    def _notice(self, obj: Mapping[str, Any], text: str) -> int:
        data = obj.get("data")
        data = data if isinstance(data, Mapping) else {}
        limits = limits_from_notice(obj, self.known)
        if limits is not None:
            self.known = self._new_limits = limits
        match obj.get("kind"):
            case "format" | "welcome" | "nick":
                if obj.get("kind") == "format":
                    self.json = data.get("format") == "json"
                if isinstance(data.get("nick"), str):
                    self.nick = data["nick"]
            case "goodbye":
                self.last_word = text
                reason = data.get("reason")
                self.goodbye_reason = reason if isinstance(reason, str) else None
                return 0
        if obj.get("error") is not True or obj.get("history") is True:
            return 0
        self.first_error = self.first_error or text
        if text.startswith("slow down"):
            self.refusal = self.refusal or text
            self.refusals += 1
        return 1

    def _text(self, line: str) -> None:
        if not line.startswith("*** "):
            self.last_word = None
            return
        self.last_word = line.removeprefix("*** ")
        # A text notice that tells the limits in the words of the refusal ("at most 10 lines a
        # second, 100 at once") is as good as the JSON.
        match = _SLOW_DOWN.search(line)
        if match is not None:
            rate = _positive(float(match["rate"]), self.known.rate)
            limits = attrs.evolve(self.known, rate=rate, burst=max(1, int(match["burst"])))
            self.known = self._new_limits = limits
        if self.last_word.startswith("goodbye (") and line.endswith(")"):
            self.goodbye_reason = self.last_word.removeprefix("goodbye (")[:-1]
        if self.last_word.startswith("error: slow down"):
            self.refusal = self.refusal or self.last_word.removeprefix("error: ")
            self.refusals += 1


def hear(pacer: Pacer, delivery: Delivery, line: str, now: float) -> int:
    """Account for *line* from the server in *delivery*, and tell *pacer* what it means: limits
    told, a refusal, echoes. Returns how many lines in flight it acknowledged."""
    refusals = delivery.refusals
    acknowledged = delivery.feed(line)
    limits = delivery.take_limits()
    if limits is not None:
        pacer.learn(limits)
    if delivery.refusals != refusals:
        pacer.refused(now)
    for _ in range(acknowledged):
        pacer.acknowledged()
    return acknowledged


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
