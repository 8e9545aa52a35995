"""Line mode of ``triochat connect``: a pipe, ``--plain`` at a terminal, and ``--raw``.

Every line read from standard input is sent as one message, and every line from the server is
printed as it arrives; the two happen at the same time, in separate tasks. When standard input
ends (Ctrl-D at a terminal, or the end of a pipe), ``/quit`` is sent and the server's remaining
lines are printed until it closes the connection, so ``printf 'hi\\n' | triochat connect`` shows
the echo of ``hi`` and the goodbye.

Lines go out no faster than the server accepts them (:class:`~triochat.client._pacing.Pacer`),
and what comes back is tallied (:class:`~triochat.client._pacing.Delivery`), so a pipe either
arrives complete or the exit status says it did not.

By default, once the server's first line shows it is a triochat server (its welcome), the
connection is switched to the JSON format (``/format json``, then ``/nick NAME`` for ``--nick``,
then ``/history`` to show the current room's recent conversation again, now as events), and
:class:`triochat.client._render.Display` renders each event for people. ``--raw`` keeps the text
format and prints the server's lines as they are.

Nothing is sent before that first line. A server that greets with something else, such as
``*** error: server full, try again later`` before it closes, is shown as with ``--raw``; so is a
server that says nothing until the first typed line, which waits at most
:data:`_GREETING_TIMEOUT` seconds for a greeting. (Sending to a server that is closing would
make it reset the connection, and the reset can destroy its last line before it is read.)
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import trio

from ..client._client import MAX_LINE_BYTES, ChatConnection, _decode
from ..client._errors import ChatClientError, ConnectionLost
from ..client._pacing import Delivery, Pacer, hear
from ..client._render import Display
from ..protocols._lines import LineSplitter, LineTooLong
from ._client_common import Outcome, is_quit, needs_wrapping, sends_message
from ._printing import CLEAR_LINE, PRINT_BACKLOG, print_lines, tick, write
from ._resume import Resume

__all__ = ["CLEAR_LINE", "WELCOME", "FormatSwitch", "LineSession", "converse"]

#: How much of standard input to read at once.
_STDIN_CHUNK: Final = 65536
#: How long a typed line waits for the server's greeting, which decides the format, before it is
#: sent anyway (to a server that is evidently not triochat, in the text format).
_GREETING_TIMEOUT: Final = 5.0
#: How the welcome of a triochat server starts: a server that greets so understands JSON.
WELCOME: Final = "*** welcome to triochat"
#: How long the sender waits for an echo when as many lines as the pacer allows are in flight,
#: before it counts one of them as lost and goes on (a line whose echo never comes must not stop
#: the pipe).
_ECHO_WAIT: Final = 5.0
#: After ``/quit``, how long the server may stay silent before ``/quit`` is sent again, and how
#: many times it is sent before the client gives up.
_QUIT_WAIT: Final = 10.0
_QUIT_ATTEMPTS: Final = 3
#: Progress on stderr: shown once a pipe has taken this long (redrawn: see _printing.py).
_PROGRESS_AFTER: Final = 1.0

# Characters that would let a server drive the terminal (colours, cursor moves, clearing the
# screen, changing the window title): C0 controls except tab, DEL, and C1 controls.
_CONTROL_CHARACTERS: Final = {
    code: "\N{REPLACEMENT CHARACTER}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if code != ord("\t")
}


@attrs.define(eq=False)
class FormatSwitch:
    """What the rendering mode (not ``--raw``) shares between receiving and typing."""

    connection: ChatConnection
    display: Display
    nick: str | None
    #: Events of the history to ask for on connecting: ``None`` for all the server keeps, 0 for
    #: none.
    history: int | None = None
    #: Charged for each line sent here (they count against the server's rate limit too).
    pacer: Pacer | None = None
    #: On a reconnection: where to resume each room (instead of asking for the history).
    resume: Resume | None = None
    #: Set once the format is settled: typed lines may be sent from then on.
    settled: trio.Event = attrs.field(factory=trio.Event)
    _deciding: bool = False

    async def _send(self, line: str) -> None:
        await self.connection.send(line)
        if self.pacer is not None:
            self.pacer.sent(trio.current_time(), echoed=False)

    async def decide(self, first_line: str | None) -> list[str]:
        """Settle the format, from the server's first line (``None``: it has not said any).

        A triochat welcome gets the switch to JSON, with the nick and a history replay; anything
        else, nothing. Returns lines to print. Only the first call does anything.
        """
        if self._deciding:
            return []
        self._deciding = True
        shown: list[str] = []
        if first_line is not None and first_line.startswith(WELCOME):
            with contextlib.suppress(ConnectionLost):  # then receiving ends, and says why
                await self._send("/format json")
                if self.nick is not None:
                    await self._send(f"/nick {self.nick}")
                # The room's history came in text before the switch and was dropped with the
                # other text lines: ask for it again, as events (as much of it as wanted), or
                # after a reconnection, exactly what was missed in each room.
                if self.resume is not None:
                    for request in self.resume.requests():
                        await self._send(request)
                elif self.history is None:
                    await self._send("/history")
                elif self.history > 0:
                    await self._send(f"/history {self.history}")
            self.display.asked_for_json(history=self.history != 0 and self.resume is None)
        else:
            shown = self.display.pass_through()
            if self.nick is not None:
                with contextlib.suppress(ConnectionLost):
                    await self._send(f"/nick {self.nick}")
        self.settled.set()
        return shown


@attrs.define(eq=False)
class LineSession:
    """One conversation in line mode: what its tasks share."""

    connection: ChatConnection
    outcome: Outcome
    rendering: FormatSwitch | None = None
    pacer: Pacer = attrs.field(factory=Pacer)
    delivery: Delivery = attrs.field(factory=Delivery)
    #: Standard input is a pipe (or a file): account for every line, show progress.
    piped: bool = False
    #: Show progress on stderr (a pipe, and stderr is a terminal).
    progress: bool = False
    #: The prompt, for a terminal: read each time it is drawn.
    prompt: Callable[[], str] | None = None
    #: Non-empty lines read from standard input, lines of it sent, and lines not sent because
    #: they were too long.
    lines_read: int = 0
    lines_sent: int = 0
    too_long: int = 0
    #: Set when the server closed the connection (or it broke), for good.
    closed: trio.Event = attrs.field(factory=trio.Event)
    #: Each room's position, for resuming after a reconnection.
    resume: Resume = attrs.field(factory=Resume)
    #: Opens a new connection after a lost one and puts it (and its rendering) in place of the
    #: old; ``False`` if it gave up. ``None``: line mode does not reconnect (``--raw``).
    reopen: Callable[[LineSession], Awaitable[bool]] | None = None
    #: Set when the current connection is over (replaced, or for good): a line that could not
    #: be sent on it waits for this, then goes on the new connection, if there is one.
    connection_done: trio.Event = attrs.field(factory=trio.Event)
    #: When the server last said something (trio's clock).
    last_heard: float = attrs.field(factory=trio.current_time)
    _echoed: trio.Event = attrs.field(factory=trio.Event)
    _started: float = attrs.field(factory=time.monotonic)

    async def send(self, text: str, *, message: bool) -> None:
        """Send *text* once the pacer allows it; *message*: its echo will come back."""
        pacer = self.pacer
        while (delay := pacer.delay(trio.current_time())) > 0:
            if delay == float("inf"):
                echoed = self._echoed
                with trio.move_on_after(_ECHO_WAIT) as waiting:
                    await echoed.wait()
                if waiting.cancelled_caught:
                    pacer.acknowledged()  # its echo is not coming: stop waiting for it
            else:
                await trio.sleep(delay)
        json_mode = self.rendering is not None and self.rendering.display.wire_format == "json"
        # Counted before it goes: its echo can come back before send() returns.
        pacer.sent(trio.current_time(), echoed=message and json_mode)
        if message and json_mode:
            self.delivery.messages_sent += 1
        try:
            await self.connection.send(text)
        except ConnectionLost:
            # Not sent: not counted (it may go again, on the next connection).
            if message and json_mode:
                pacer.acknowledged()
                self.delivery.messages_sent -= 1
            raise

    def heard(self, line: str) -> None:
        """Account for *line* from the server: echoes, refusals, limits, the last word."""
        self.last_heard = trio.current_time()
        if hear(self.pacer, self.delivery, line, self.last_heard):
            self._echoed.set()
            self._echoed = trio.Event()

    async def finish(self) -> None:
        """Say ``/quit`` and wait for the server to close the connection; say it again if the
        server stays silent (a ``/quit`` refused as too fast), and give up after a few tries."""
        for _ in range(_QUIT_ATTEMPTS):
            await self.send("/quit", message=False)
            while True:
                with trio.move_on_at(self.last_heard + _QUIT_WAIT):
                    await self.closed.wait()
                    return
                if trio.current_time() >= self.last_heard + _QUIT_WAIT:
                    break  # silent all that time (otherwise: it spoke since, wait on)
        self.outcome.abort(f"the server did not answer /quit within {_QUIT_WAIT:g} seconds")

    def progress_line(self) -> str:
        """What the progress display says now (empty: nothing to show yet)."""
        if not self.progress or time.monotonic() - self._started < _PROGRESS_AFTER:
            return ""
        delivery = self.delivery
        counts = f"{self.lines_read} lines read, {self.lines_sent} sent"
        if delivery.json:
            counts += f", {delivery.echoes} delivered"
        return f"triochat: {counts} (at most {self.pacer.rate:.3g} a second)"


async def converse(session: LineSession) -> None:
    """Send typed lines and print received ones until the server closes the connection (after
    a lost connection, until :attr:`LineSession.reopen` gives up).

    With a rendering, received lines are rendered by its display; otherwise they are printed as
    they are (with control characters replaced).
    """
    to_print, printable = trio.open_memory_channel[str | None](PRINT_BACKLOG)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(print_lines, printable, session)
        typing_scope, ticking_scope = trio.CancelScope(), trio.CancelScope()
        nursery.start_soon(_send_input, session, typing_scope)
        if session.progress:
            nursery.start_soon(tick, to_print.clone(), ticking_scope)
        async with to_print:
            await _receive(session, to_print)
            while _lost(session) and session.reopen is not None and await session.reopen(session):
                done, session.connection_done = session.connection_done, trio.Event()
                done.set()  # lines waiting to be sent go on the new connection
                await _receive(session, to_print)
            session.connection_done.set()
            session.closed.set()
        # The server is gone: typing more would be pointless. The printer still empties its queue.
        typing_scope.cancel()
        ticking_scope.cancel()
    _judge(session)


async def _receive(session: LineSession, to_print: trio.MemorySendChannel[str | None]) -> None:
    """Print what the current connection receives, until it ends."""
    connection, outcome, rendering = session.connection, session.outcome, session.rendering
    try:
        async for line in connection:
            if rendering is not None:
                resumed = session.resume.feed(line)
                for note in resumed.notes:
                    await to_print.send(note)
                for warning in resumed.warnings:
                    if session.piped:
                        write(sys.stderr, f"triochat: {warning}\n")
                if resumed.line is None:
                    continue
                line = resumed.line
            session.heard(line)
            if rendering is None:
                await to_print.send(line.translate(_CONTROL_CHARACTERS))
                continue
            for shown in [*await rendering.decide(line), *rendering.display.feed(line)]:
                await to_print.send(shown)
    except ChatClientError as exc:
        outcome.fail(str(exc))
    for shown in rendering.display.finish() if rendering is not None else ():
        await to_print.send(shown)


def _lost(session: LineSession) -> bool:
    """Whether the connection was lost, rather than ended: no goodbye from a triochat server,
    and not while leaving (the input was all sent, or Ctrl-C) or after an error of ours."""
    outcome, rendering = session.outcome, session.rendering
    return (
        rendering is not None
        and rendering.display.confirmed
        and session.delivery.last_word is None
        and not outcome.input_done
        and not outcome.interrupted
        and outcome.error is None
    )


def _judge(session: LineSession) -> None:
    """Tell the outcome how the conversation ended, once the server has closed the connection."""
    outcome, delivery = session.outcome, session.delivery
    if session.connection.closed_reason is not None:
        outcome.fail(f"connection lost: {session.connection.closed_reason}")
    elif delivery.last_word is None:
        outcome.fail("connection lost: the server closed the connection without a goodbye")
    elif session.piped and not outcome.input_done:
        outcome.fail(
            f"the server closed the connection before the end of the input: {delivery.last_word}"
        )
    if not session.piped:
        return
    missing = session.too_long + (delivery.messages_sent - delivery.echoes if delivery.json else 0)
    if missing > 0:
        because = f"the server said: {delivery.refusal or delivery.first_error or 'nothing'}"
        if delivery.refusal is None and session.too_long:
            because = outcome.refusal or because
        outcome.note_refusal(
            f"{missing} of {session.lines_read} lines were not delivered ({because})", force=True
        )
    elif delivery.refusal is not None:
        outcome.note_refusal(f"the server refused lines ({delivery.refusal})", force=True)


def _stdin_reader() -> Callable[[], bytes]:
    """Return a blocking function that reads the next chunk of stdin (``b""`` at its end).

    It reads the unbuffered ``sys.stdin.buffer.raw`` rather than calling
    ``sys.stdin.buffer.readline()``. The read runs in a worker thread that is abandoned when the
    session ends (a blocked read cannot be interrupted portably), and an abandoned ``readline``
    would still hold the buffered reader's lock when the interpreter exits, which makes CPython
    abort with "could not acquire lock for <_io.BufferedReader name='<stdin>'>". The raw file has
    no such lock. It still works for a terminal (one line per read), for a pipe (whatever is
    available), and for the Windows console (whose raw reader returns UTF-8).
    """
    stdin = sys.stdin
    if stdin is None:  # for example under pythonw: there is no input at all
        return lambda: b""
    raw = getattr(getattr(stdin, "buffer", None), "raw", None)
    if raw is None:  # stdin was replaced by a text-only object: read it line by line
        return lambda: stdin.readline().encode("utf-8", errors="replace")
    read_raw: Callable[[int], bytes | None] = raw.read

    def read() -> bytes:
        while (data := read_raw(_STDIN_CHUNK)) is None:
            # Only when someone made the shared descriptor non-blocking: poll gently.
            time.sleep(0.05)
        return data

    return read


async def _send_input(session: LineSession, scope: trio.CancelScope) -> None:
    """Send each line of stdin as a message, then ``/quit`` when stdin ends.

    With a rendering, nothing is sent before the format is settled (see :class:`FormatSwitch`).
    """
    read = _stdin_reader()
    splitter = LineSplitter(MAX_LINE_BYTES)
    rendering = session.rendering
    with scope:
        try:
            while True:
                data = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
                if data:
                    fed = splitter.feed(data)
                    if any(isinstance(line, LineTooLong) for line in fed):
                        # Not fatal on the spot: leave politely, and exit 1 once the server is done.
                        session.outcome.fail(f"an input line is longer than {MAX_LINE_BYTES} bytes")
                        break
                    lines = [line for line in fed if isinstance(line, bytes)]
                else:
                    last = splitter.flush()
                    lines = [] if last is None else [last]
                for line in lines:
                    # A stray carriage return cannot be sent inside a line; it carries no text.
                    text = _decode(line).replace("\r", "")
                    if not text.strip():  # a blank line is not a message
                        continue
                    session.lines_read += 1
                    if rendering is not None:
                        await _settle(session)
                    if await _send_surviving(session, text):
                        # Sent like any line, and the server will say goodbye and close. Typing
                        # more would only reach a closed socket (and could reset the connection
                        # before the goodbye is read), so stop here.
                        session.outcome.input_done = True
                        await _wait_for_close(session)
                        return
                if not data:
                    break
            if rendering is not None:
                await _settle(session)
            session.outcome.input_done = True
            await session.finish()
        except ConnectionLost:
            # The server went away; receiving notices too and decides how that is reported.
            return


async def _send_surviving(session: LineSession, text: str) -> bool:
    """:func:`_send_line`, again on the next connection if the current one is lost meanwhile."""
    while True:
        connection, done = session.connection, session.connection_done
        try:
            return await _send_line(session, text)
        except ConnectionLost:
            await done.wait()
            if session.connection is connection:
                raise  # no new connection: the input ends here
            await _settle(session)


async def _send_line(session: LineSession, text: str) -> bool:
    """Send one typed line (unless it is too long for the server); ``True`` if it was a quit."""
    rendering = session.rendering
    json_mode = rendering is not None and rendering.display.wire_format == "json"
    if json_mode and needs_wrapping(text):
        text = json.dumps({"cmd": "say", "text": text}, ensure_ascii=False)
    limit = session.pacer.limits.max_line
    if len(text.encode("utf-8")) > limit:
        session.too_long += 1
        session.outcome.note_refusal(f"a line was longer than the server's {limit} bytes")
        return False
    await session.send(text, message=sends_message(text, json_mode=json_mode))
    session.lines_sent += 1
    return is_quit(text)


async def _wait_for_close(session: LineSession) -> None:
    with trio.move_on_after(_QUIT_WAIT * _QUIT_ATTEMPTS):
        await session.closed.wait()
        return
    session.outcome.abort(f"the server did not answer /quit within {_QUIT_WAIT:g} seconds")


async def _settle(session: LineSession) -> None:
    """Wait for the format to be settled by the server's greeting, or settle it without one."""
    rendering = session.rendering
    assert rendering is not None
    if rendering.settled.is_set():
        return
    with trio.move_on_after(_GREETING_TIMEOUT):
        await rendering.settled.wait()
    # Printing what pass_through returns is not needed: nothing was held without a greeting.
    await rendering.decide(None)
    await rendering.settled.wait()
