"""The full-screen client of ``triochat connect``: urwid inside Trio's own loop.

urwid draws and reads the keyboard through its :class:`urwid.TrioEventLoop`, in the same Trio run
as the connection, so nothing here needs a thread. Incoming lines go to a
:class:`~triochat.cli._state.ChatState`, which :class:`~triochat.cli._tui_widgets.ChatScreen`
draws: the input line is a widget of its own, and nothing that arrives can disturb it.

Lines typed are sent in order, paced like a pipe (a paste of a hundred lines is not refused as a
flood), as JSON commands that name the room on view, so a line always goes where you are looking.

When the connection is lost (not after ``/quit``), the client reconnects with exponential backoff
(1, 2, 4... at most 30 seconds, at most ``--reconnect`` times in a row), says so in the status
line, rejoins your rooms and shows what was missed, as far as the server's history reaches.

Every way out restores the terminal (urwid's ``MainLoop.start`` context): ``/quit`` and Ctrl-D
on an empty line (exit 0), Ctrl-C (130), SIGTERM (143) and SIGHUP (129), the connection lost for
good (1), and an unexpected exception (whose traceback is printed after the restore).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from typing import Final, Literal

import trio
import urwid

from ..client._client import (
    CertificateVerificationFailed,
    ChatConnection,
    ConnectionFailed,
    ConnectionLost,
    connect,
)
from ..client._pacing import Delivery, Pacer, hear
from ..client._render import color_enabled
from ._client_common import (
    EXIT_FAILED,
    EXIT_OK,
    ConnectOptions,
    Target,
    is_quit,
    refused,
    sends_message,
)
from ._lines import WELCOME
from ._state import ChatState
from ._tui_widgets import ChatScreen, palette

__all__ = ["run_full_screen"]

#: Lines typed (or pasted) that may wait to be sent; more are refused with a notice.
_OUTBOX: Final = 1000
#: Reconnection backoff: the first wait, the longest, and the share of random jitter.
_BACKOFF_FIRST: Final = 1.0
_BACKOFF_MOST: Final = 30.0
_JITTER: Final = 0.2
#: A session that lasted this long resets the count of attempts.
_STABLE: Final = 60.0
#: How long to wait for an echo when as many lines as the pacer allows are in flight, before
#: counting one as lost (as line mode does).
_ECHO_WAIT: Final = 5.0
#: How long a goodbye may take when leaving on a signal.
_QUIT_TIMEOUT: Final = 0.5
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _colours(options: ConnectOptions) -> Literal[1, 16, 256]:
    """How many colours to draw with: none for ``--no-color`` and ``NO_COLOR``; 256 where the
    terminal says it has them; otherwise the 16 basic ones (the palette has a fallback for each
    nick colour)."""
    if not (options.color and color_enabled(sys.stdout, os.environ)):
        return 1
    term = os.environ.get("TERM", "")
    return 256 if "256" in term or os.environ.get("COLORTERM") else 16


async def run_full_screen(target: Target, options: ConnectOptions) -> int:
    """Run the full-screen client until you leave; returns the exit status."""
    app = _App(target, options)
    return await app.run()


class _App:
    def __init__(self, target: Target, options: ConnectOptions) -> None:
        self.target = target
        self.options = options
        self.state = ChatState(history=options.history, nick=options.nick)
        self.screen = ChatScreen(self.state, self)
        self.screen.waiting = self._waiting
        display = urwid.display.raw.Screen()
        display.set_terminal_properties(colors=_colours(options))
        self.event_loop = urwid.TrioEventLoop()
        self.loop = urwid.MainLoop(
            self.screen.top,
            palette(),
            screen=display,
            event_loop=self.event_loop,
            handle_mouse=False,
        )
        #: Lines typed, waiting to go (kept across reconnections).
        self.outbox: collections.deque[str] = collections.deque()
        self.requests: collections.deque[str] = collections.deque()
        self.wake = trio.Event()
        self.connection: ChatConnection | None = None
        self.pacer = Pacer(options.limits)
        self.delivery = Delivery()
        self.quitting = False
        self.status = EXIT_OK
        self.message: str | None = None
        self.scope = trio.CancelScope()

    async def run(self) -> int:
        with trio.open_signal_receiver(*_SIGNALS) as signals:
            async with trio.open_nursery() as nursery:
                self.scope = nursery.cancel_scope
                nursery.start_soon(self._watch_signals, signals)
                nursery.start_soon(self._connections, nursery)
        if self.message is not None:
            print(f"triochat: {self.message}", file=sys.stderr, flush=True)
        return self.status

    def _leave(self, status: int, message: str | None = None) -> None:
        if self.message is None:
            self.status, self.message = status, message
        self.scope.cancel()

    async def _ui(self) -> None:
        with self.loop.start():
            self.screen.refresh()
            await self.event_loop.run_async()

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            self.quitting = True
            connection = self.connection
            if connection is not None:
                with trio.move_on_after(_QUIT_TIMEOUT), contextlib.suppress(ConnectionLost):
                    await connection.quit()
            self._leave(128 + signum)
            return

    # ------------------------------------------------------------------------ connections

    async def _connections(self, nursery: trio.Nursery) -> None:
        """Connect, and reconnect after a lost connection, until you leave."""
        attempts, again, started = 0, False, False
        while True:
            began = trio.current_time()
            async with contextlib.AsyncExitStack() as stack:
                try:
                    connection = await stack.enter_async_context(
                        connect(
                            url=str(self.target.endpoint),
                            cafile=self.target.cafile,
                            insecure=self.target.insecure,
                            password=self.target.password,
                        )
                    )
                except CertificateVerificationFailed as exc:
                    self._leave(EXIT_FAILED, f"{exc} (use --cafile FILE for a private CA)")
                    return
                except (ConnectionFailed, ValueError) as exc:  # ValueError: an unusable CA file
                    if not started:  # a wrong address or port: say so, as line mode does
                        self._leave(EXIT_FAILED, str(exc))
                        return
                    ended = str(exc)
                else:
                    if not started:  # the screen comes up once there is something to show
                        started = True
                        nursery.start_soon(self._ui)
                    ended = await self._converse(connection, again=again)
            self.connection = None
            if self.quitting:
                self._leave(EXIT_OK)
                return
            if refused(self.delivery.goodbye_reason):
                self._leave(EXIT_FAILED, ended)  # trying again would be turned away again
                return
            if trio.current_time() - began > _STABLE:
                attempts = 0
            if attempts >= self.options.reconnect:
                self._leave(EXIT_FAILED, ended)
                return
            attempts, again = attempts + 1, True
            self.state.note(ended, "error")
            await self._back_off(attempts)

    async def _back_off(self, attempt: int) -> None:
        delay = min(_BACKOFF_MOST, _BACKOFF_FIRST * 2 ** (attempt - 1))
        delay *= 1 + random.uniform(-_JITTER, _JITTER)
        deadline = trio.current_time() + delay
        while (left := deadline - trio.current_time()) > 0:
            self.state.connection = (
                f"reconnecting in {left:.0f} s ({attempt} of {self.options.reconnect})"
            )
            self.screen.refresh()
            await trio.sleep(min(1.0, left))
        self.state.connection = "connecting"
        self.screen.refresh()

    async def _converse(self, connection: ChatConnection, *, again: bool) -> str:
        """One connection, until it ends; returns why it ended."""
        self.connection = connection
        self.delivery = Delivery(known=self.pacer.limits)
        self.pacer = Pacer(self.pacer.limits)
        if self.target.password is not None:
            self.pacer.sent(trio.current_time(), echoed=False)
        self.requests.clear()
        self.state.connected(again=again)
        self.state.connection = "connected"
        self.screen.refresh()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send, connection)
            first = True
            async for line in connection:
                if first:
                    first = False
                    await self._greeted(connection, line, again=again)
                if hear(self.pacer, self.delivery, line, trio.current_time()):
                    self._wake()
                self.state.feed_line(line)
                self.requests.extend(self.state.requests)
                self.state.requests.clear()
                self._wake()
                self.screen.refresh()
            nursery.cancel_scope.cancel()
        if connection.closed_reason is not None:
            return f"connection lost: {connection.closed_reason}"
        if self.delivery.last_word is None:
            return "connection lost: the server closed the connection without a goodbye"
        return f"the server closed the connection: {self.delivery.last_word}"

    async def _greeted(self, connection: ChatConnection, line: str, *, again: bool) -> None:
        """The server's first line: switch a triochat server to JSON, and ask for the nick and
        the history; show another server's text as it is."""
        if not line.startswith(WELCOME):
            self.state.pass_through()
            return
        lines = ["/format json"]
        nick = self.state.nick
        if nick is not None:
            lines.append(f"/nick {nick}")
        if not again and self.options.history != 0:
            count = self.options.history
            lines.append("/history" if count is None else f"/history {count}")
        for text in lines:
            self.pacer.sent(trio.current_time(), echoed=False)
            with contextlib.suppress(ConnectionLost):
                await connection.send(text)

    # ----------------------------------------------------------------------------- sending

    async def _send(self, connection: ChatConnection) -> None:
        """Send what the client asks for and what you type, in that order, paced."""
        while True:
            if self.requests:
                text, typed = self.requests.popleft(), False
            elif self.outbox and self.state.json:
                text, typed = self.outbox.popleft(), True
            else:
                await self._sleep()
                continue
            # A server that is not triochat sends no echoes to count.
            message = not self.state.text_only and sends_message(text, json_mode=True)
            while (delay := self.pacer.delay(trio.current_time())) > 0:
                if delay < float("inf"):
                    await self._sleep(delay)
                elif not await self._sleep(_ECHO_WAIT):
                    self.pacer.acknowledged()  # its echo is not coming: stop waiting for it
            self.pacer.sent(trio.current_time(), echoed=message)
            try:
                await connection.send(text)
            except ConnectionLost:
                if typed:
                    self.outbox.appendleft(text)  # to go on the next connection
                return
            self.screen.refresh()

    async def _sleep(self, seconds: float = float("inf")) -> bool:
        """Wait *seconds*, or less if something changed; ``True`` if something did."""
        wake = self.wake
        with trio.move_on_after(seconds):
            await wake.wait()
            return True
        return False

    def _wake(self) -> None:
        self.wake.set()
        self.wake = trio.Event()

    def _waiting(self) -> str:
        return f"({len(self.outbox)} waiting)" if self.outbox else ""

    # -------------------------------------------------------------------- what keys ask for

    def submit(self, text: str) -> None:
        """A line was typed: send it (as a JSON command naming the room on view)."""
        line = self._command(text)
        limit = self.pacer.limits.max_line
        if len(line.encode("utf-8")) > limit:
            self.state.note(f"not sent: longer than the server's limit of {limit} bytes", "error")
        elif len(self.outbox) >= _OUTBOX:
            self.state.note(f"not sent: {_OUTBOX} lines are waiting already", "error")
        else:
            if is_quit(text):
                self.quitting = True
                if self.connection is None:  # nobody to say goodbye to
                    self._leave(EXIT_OK)
                    return
            elif self.connection is None:
                self.state.note("not connected: the line will go once the client reconnects")
            self.outbox.append(line)
            self._wake()
        self.screen.refresh()

    def _command(self, text: str) -> str:
        if self.state.text_only:
            return text
        room = self.state.current.name
        where = {"room": room} if room != "*" else {}
        if text.startswith("/") and not text.startswith("//"):
            name, _, rest = text.partition(" ")
            if name.lower() == "/me" and rest.strip():
                return json.dumps({"cmd": "me", **where, "text": rest}, ensure_ascii=False)
            return text
        text = text.removeprefix("/") if text.startswith("//") else text
        return json.dumps({"cmd": "say", **where, "text": text}, ensure_ascii=False)

    def quit(self) -> None:
        """Ctrl-D on an empty line."""
        self.submit("/quit")

    def switch(self, index: int) -> None:
        line = self.state.switch(index)
        if line is not None:
            self.requests.append(line)
            self._wake()
        self.screen.refresh()

    def scroll(self, key: str) -> None:
        self.screen.scroll(key, self.loop.screen.get_cols_rows())

    def completions(self) -> list[str]:
        return list(self.state.completions())
