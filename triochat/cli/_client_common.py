"""What every mode of ``triochat connect`` shares: where to connect, how a session ends, and how
the server will read a typed line.

Exit status (see docs/client.md):

====  =================================================================================
0     the session ended normally: you quit, or (at a terminal) the server said goodbye;
      for a pipe, every line was accepted
1     the connection could not be opened, was lost (the server died, a reset, no goodbye),
      or the server ended it before the input was all sent; one ``triochat:`` line says why
2     bad usage
3     the connection ended normally but some lines were refused or not delivered (sent too
      fast for the server, too long, or refused, such as a message while in no room)
130   interrupted with Ctrl-C
====  =================================================================================
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..client._pacing import ServerLimits
from ..drivers._endpoints import Endpoint
from ..protocols.text._parse import parse_command
from ..session._commands import Me, Msg, Say
from ..session._reasons import CloseReason

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = [
    "DEFAULT_RECONNECT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNDELIVERED",
    "EXIT_USAGE",
    "ConnectOptions",
    "Outcome",
    "Target",
    "is_quit",
    "needs_wrapping",
    "refused",
    "sends_message",
    "sigint_receiver",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNDELIVERED: Final = 3
#: The exit status a shell reports for a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED: Final = 130
#: Reconnection attempts of the full-screen client after a lost connection, by default.
DEFAULT_RECONNECT: Final = 10


@attrs.frozen
class Target:
    """Where to connect, and how."""

    endpoint: Endpoint
    cafile: str | None
    insecure: bool
    password: str | None = None


@attrs.define(eq=False)
class Outcome:
    """How the session ends; shared by its tasks. The first error reported wins."""

    #: Cancelled to end the whole session at once.
    scope: trio.CancelScope
    interrupted: bool = False
    error: str | None = None
    #: All the input was sent (or a typed ``/quit`` ended it).
    input_done: bool = False
    #: Why lines did not get through, when some did not (and nothing worse happened).
    refusal: str | None = None

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def abort(self, message: str) -> None:
        self.fail(message)
        self.scope.cancel()

    def note_refusal(self, message: str, *, force: bool = False) -> None:
        """Remember that lines did not get through, and why (the first reason, unless *force*)."""
        if self.refusal is None or force:
            self.refusal = message

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.error is not None:
            return EXIT_FAILED
        return EXIT_OK if self.refusal is None else EXIT_UNDELIVERED

    @property
    def message(self) -> str | None:
        """The one line to report on stderr, if any (nothing after Ctrl-C)."""
        return None if self.interrupted else self.error or self.refusal


def sigint_receiver() -> AbstractContextManager[AsyncIterator[int] | None]:
    """Ctrl-C as an async iterator, or ``None`` where it cannot be received."""
    # Signal handlers can only be installed from the main thread. Elsewhere Ctrl-C is never
    # delivered to this thread anyway, so there is nothing to listen for.
    if threading.current_thread() is threading.main_thread():
        return trio.open_signal_receiver(signal.SIGINT)
    return contextlib.nullcontext()


def needs_wrapping(text: str) -> bool:
    """Whether typed *text* must be sent as a JSON ``say`` command to arrive as a message, on a
    connection in the JSON format.

    There the server reads a line that starts with ``{`` as a JSON command; typed by a person,
    such a line is a message.
    """
    return text.lstrip()[:1] == "{"


def is_quit(text: str) -> bool:
    """Whether the server will take *text* as the quit command (``quit``, or ``/quit ...``)."""
    text = text.strip()
    return text == "quit" or text.partition(" ")[0].lower() == "/quit"


def sends_message(text: str, *, json_mode: bool) -> bool:
    """Whether the server will take the line *text* as a message (to a room, an action, or a
    private message): one whose echo comes back to the sender."""
    return isinstance(parse_command(text, json_commands=json_mode), Say | Me | Msg)


@attrs.frozen
class ConnectOptions:
    """How ``triochat connect`` talks, whatever the mode."""

    nick: str | None = None
    #: Keep the text format and print the server's lines as they are.
    raw: bool = False
    #: Line mode even at a terminal.
    plain: bool = False
    #: Colours allowed (neither ``--no-color`` nor ``NO_COLOR``); still only at a terminal.
    color: bool = True
    #: Events of history to show on connecting: ``None`` for all the server keeps, 0 for none.
    history: int | None = None
    limits: ServerLimits = attrs.field(factory=ServerLimits)
    #: Reconnection attempts after a lost connection (line mode: not with ``raw``).
    reconnect: int = DEFAULT_RECONNECT


#: Goodbyes that turn this client away: connecting again would be turned away again, so no
#: reconnection follows them (a shutdown or a lost connection is another matter).
_REFUSING: Final = (
    CloseReason.AUTH_TIMEOUT,
    CloseReason.TOO_MANY_FAILURES,
    CloseReason.REMOVED,
    CloseReason.EXCESS_FLOOD,
)


def refused(reason: str | None) -> bool:
    """Whether a goodbye's *reason* (``None``: no goodbye) turns the client away."""
    return reason is not None and any(
        reason == refusal.value or reason.startswith(f"{refusal.value}:") for refusal in _REFUSING
    )
