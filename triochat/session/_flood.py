"""Flood control, without any I/O: a token bucket and the rule for "sustained abuse".

Nothing here reads a clock. The caller passes the time in (the server passes
``trio.current_time()``, so tests on trio's virtual clock see exact behaviour), which also makes
these small state machines easy to test and fuzz.

The policy, for each line a client sends:

1. The line takes one token from a bucket that holds at most *burst* tokens and refills at *rate*
   tokens a second. With a token, the line is accepted.
2. Without one, the line is refused: the client is told to slow down (once per run of refused
   lines, so that the warnings themselves cannot flood a client that does not read) and the line
   is discarded.
3. A client that has had more than *limit* lines refused within the last *window* seconds is
   abusing the server, not just typing fast: it is disconnected. This is exact (a sliding window
   of the last *limit* + 1 refusal times), not an approximation.
"""

from __future__ import annotations

import collections
import enum
import math
from typing import Final

__all__ = ["FloodControl", "TokenBucket", "Verdict"]

#: Lines a second that one client may send, sustained (the refill rate of its token bucket).
DEFAULT_MESSAGE_RATE: Final = 10.0
#: Lines one client may send at once, faster than the rate (the size of its token bucket).
DEFAULT_MESSAGE_BURST: Final = 100


class TokenBucket:
    """*burst* tokens at most, refilled continuously at *rate* tokens a second.

    A *rate* of ``math.inf`` never refuses. The bucket starts full.
    """

    __slots__ = ("_updated", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self._updated: float | None = None

    def take(self, now: float) -> bool:
        """Take one token at time *now* (in seconds, any origin); ``False`` if there is none."""
        if self.rate == math.inf:
            return True
        if self._updated is not None and now > self._updated:
            self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
        self._updated = now if self._updated is None else max(now, self._updated)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Verdict(enum.Enum):
    """What to do with one line."""

    ACCEPT = "accept"
    #: Refuse the line and tell the client to slow down (the first refusal of a run).
    WARN = "warn"
    #: Refuse the line quietly: the client has already been told.
    REFUSE = "refuse"
    #: Sustained abuse: disconnect the client.
    DISCONNECT = "disconnect"


class FloodControl:
    """The per-client policy described in the module docstring.

    Memory is bounded: the bucket is two numbers, the window at most *limit* + 1 times.
    """

    __slots__ = ("_bucket", "_refusals", "_warned", "limit", "refused", "window")

    def __init__(self, *, rate: float, burst: int, limit: int, window: float) -> None:
        if limit < 0 or not window > 0:
            raise ValueError("flood control needs limit >= 0 and window > 0")
        self._bucket = TokenBucket(rate, burst)
        self.limit = limit
        self.window = window
        #: Lines refused so far, in total.
        self.refused = 0
        # Made at the first refusal: a deque allocates half a KiB up front, and most clients
        # are never refused (this is per connection, ten thousand times over).
        self._refusals: collections.deque[float] | None = None
        self._warned = False

    def reconfigure(self, *, rate: float, burst: int, limit: int, window: float) -> None:
        """Apply new limits from now on (a reload): the tokens saved so far stay, up to the new
        *burst*; refusals already counted stay in the window."""
        bucket = self._bucket
        bucket.rate, bucket.burst = rate, burst
        bucket.tokens = min(bucket.tokens, float(burst))
        self.window = window
        if limit != self.limit:
            self.limit = limit
            if self._refusals is not None:
                self._refusals = collections.deque(self._refusals, maxlen=limit + 1)

    def check(self, now: float) -> Verdict:
        """Decide about one line that arrived at time *now*."""
        if self._bucket.take(now):
            self._warned = False
            return Verdict.ACCEPT
        self.refused += 1
        refusals = self._refusals
        if refusals is None:
            refusals = self._refusals = collections.deque(maxlen=self.limit + 1)
        refusals.append(now)
        while refusals and refusals[0] <= now - self.window:
            refusals.popleft()
        if len(refusals) > self.limit:
            return Verdict.DISCONNECT
        if self._warned:
            return Verdict.REFUSE
        self._warned = True
        return Verdict.WARN
