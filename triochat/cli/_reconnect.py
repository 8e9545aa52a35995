"""Line mode's reconnection: after a lost connection, connect again with backoff and resume.

A connection is *lost* when a triochat server's connection ends without its goodbye, while
the client is not leaving (see ``_lines._lost``): never after ``/quit``, the end of the input,
Ctrl-C, or a refusal (a wrong password, a ban: the server says goodbye first). Then
:func:`reopener`'s function waits (1, 2, 4... at most 30 seconds, with 20 % jitter, at most
``--reconnect`` attempts, counted on while new connections do not last :data:`STABLE_AFTER`),
says so on stderr, connects again, and puts the new connection in
place of the old one. Its :class:`~triochat.cli._lines.FormatSwitch` switches to JSON as on the
first connection, then joins every room again with ``since`` (:mod:`triochat.cli._resume`), so
the server replays exactly the lines missed, or says it cannot. Lines typed meanwhile wait, and
go on the new connection.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from ..client._client import CertificateVerificationFailed, ConnectionFailed, connect
from ..client._render import Display
from ._client_common import ConnectOptions, Target
from ._lines import FormatSwitch, LineSession

__all__ = ["backoff", "reopener"]

#: The first wait before reconnecting, the longest, and the share of random jitter (so that the
#: clients of a restarted server do not all come back in the same instant).
BACKOFF_FIRST: Final = 1.0
BACKOFF_MOST: Final = 30.0
JITTER: Final = 0.2
#: How long a new connection must last for the next loss to start counting attempts again:
#: a server that closes each connection at once (a crash loop) gets ``--reconnect`` attempts
#: in all, with the backoff growing, not one a second forever.
STABLE_AFTER: Final = BACKOFF_MOST


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnection attempt *attempt* (from 1): doubling, capped,
    jittered."""
    delay: float = min(BACKOFF_MOST, BACKOFF_FIRST * 2.0 ** (attempt - 1))
    return delay * (1 + random.uniform(-JITTER, JITTER))


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"triochat: {text}\n")
        sys.stderr.flush()


def reopener(
    target: Target, options: ConnectOptions, stack: contextlib.AsyncExitStack
) -> Callable[[LineSession], Awaitable[bool]]:
    """The function that reconnects a line session (:attr:`LineSession.reopen`); each new
    connection is closed with *stack*."""

    # The last attempt that connected, and when: a connection that did not last counts on.
    made, since = 0, -math.inf

    async def reopen(session: LineSession) -> bool:
        nonlocal made, since
        old = session.rendering
        assert old is not None  # only a rendering session is resumed
        reason = session.connection.closed_reason or "the server closed the connection"
        first = 1 if trio.current_time() - since >= STABLE_AFTER else made + 1
        for attempt in range(first, options.reconnect + 1):
            delay = backoff(attempt)
            _say(
                f"connection lost: {reason}; reconnecting in {delay:.0f} s "
                f"({attempt} of {options.reconnect})"
            )
            await trio.sleep(delay)
            try:
                connection = await stack.enter_async_context(
                    connect(
                        url=str(target.endpoint),
                        cafile=target.cafile,
                        insecure=target.insecure,
                        password=target.password,
                    )
                )
            except CertificateVerificationFailed as exc:
                session.outcome.fail(f"{exc} (use --cafile FILE for a private CA)")
                return False
            except (ConnectionFailed, ValueError) as exc:  # ValueError: an unusable CA file
                reason = str(exc)
                continue
            display = Display(color=old.display.color, tz=old.display.tz)
            display.room = old.display.room  # the prompt, until the server says it again
            session.connection = connection
            session.rendering = FormatSwitch(
                connection,
                display,
                old.display.nick or old.nick,
                history=0,
                pacer=session.pacer,
                resume=session.resume,
            )
            session.delivery.last_word = None
            if session.prompt is not None:
                session.prompt = lambda shown=display: shown.prompt
            _say("reconnected")
            made, since = attempt, trio.current_time()
            return True
        session.outcome.fail(f"connection lost: {reason}")
        return False

    return reopen
