"""The ``triochat connect`` command: chat from a terminal, or from a script through a pipe.

Every line read from standard input is sent as one message, and every line from the server is
printed as it arrives; the two happen at the same time, in two tasks. When standard input ends
(Ctrl-D at a terminal, or the end of a pipe), ``/quit`` is sent and the server's remaining lines
are printed until it closes the connection, so ``printf 'hi\\n' | triochat connect`` shows the
echo of ``hi`` and the goodbye.

By default, once the server's first line shows it is a triochat server (its welcome), the
connection is switched to the JSON format (``/format json``, then ``/nick NAME`` for ``--nick``,
then ``/history`` to show the current room's recent conversation again, now as events), and
:class:`triochat.client._render.Display` renders each event for people: local ``HH:MM`` times,
colours by nick when standard output is a terminal and ``NO_COLOR`` is not set, history dimmed.
When both standard input and standard output are terminals, a prompt shows the current room
(``#lobby> ``); it is redrawn after every batch of incoming lines. ``--raw`` keeps the text
format and prints the server's lines as they are, for scripts.

Nothing is sent before that first line. A server that greets with something else, such as
``*** error: server full, try again later`` before it closes, is shown as with ``--raw``; so is a
server that says nothing until the first typed line, which waits at most
:data:`_GREETING_TIMEOUT` seconds for a greeting. (Sending to a server that is closing would
make it reset the connection, and the reset can destroy its last line before it is read.)

Exit status: 0 when the server closed the connection normally, 1 when the connection could not be
opened or broke, 130 after Ctrl-C (the shell convention for "killed by SIGINT").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..client._client import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_LINE_BYTES,
    CertificateVerificationFailed,
    ChatClientError,
    ChatConnection,
    ConnectionFailed,
    ConnectionLost,
    _check_line,
    _decode,
    _describe_os_error,
    _LineBuffer,
    _LineTooLong,
    connect,
)
from ..client._render import Display, color_enabled
from ..client._transport import client_endpoint
from ..drivers._endpoints import Endpoint, parse_endpoint

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["add_connect_arguments", "run_connect"]

#: The exit status a shell reports for a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED: Final = 130
#: How long Ctrl-C waits to get a ``/quit`` out before leaving anyway.
_QUIT_TIMEOUT: Final = 0.5
#: Received lines waiting to be printed. When stdout is slower than the server, reading from the
#: server stops here instead of buffering without bound.
_PRINT_BACKLOG: Final = 256
#: How much of standard input to read at once.
_STDIN_CHUNK: Final = 65536
#: How long a typed line waits for the server's greeting, which decides the format, before it is
#: sent anyway (to a server that is evidently not triochat, in the text format).
_GREETING_TIMEOUT: Final = 5.0
#: How the welcome of a triochat server starts: a server that greets so understands JSON.
_WELCOME: Final = "*** welcome to triochat"
#: Written before incoming lines at a terminal: back to the start of the line, and clear it (the
#: prompt, and whatever was typed after it; the terminal still has the typed text).
_CLEAR_LINE: Final = "\r\x1b[K"
#: Printed on stderr every time --insecure is used.
INSECURE_WARNING: Final = (
    "WARNING: --insecure: the server's certificate is not verified; anyone on the network path "
    "can read and change this conversation"
)

# Characters that would let a server drive the terminal (colours, cursor moves, clearing the
# screen, changing the window title): C0 controls except tab, DEL, and C1 controls.
_CONTROL_CHARACTERS: Final = {
    code: "\N{REPLACEMENT CHARACTER}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if code != ord("\t")
}


def _port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {port}")
    return port


def _endpoint(text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read_password(path: str | None, env: str | None) -> str | None:
    """The server password from a file (its first line) or an environment variable."""
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read the password file {path}: {exc.strerror}") from None
        value, where = (lines[0].strip() if lines else ""), f"the file {path}"
    elif env is not None:
        value, where = os.environ.get(env, "").strip(), f"the environment variable {env}"
    else:
        return None
    if not value:
        raise ValueError(f"the password in {where} is empty")
    return value


def add_connect_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``triochat connect`` (``--server``, ``--host``, ``--port``, ``--tls``,
    ``--cafile``, ``--insecure``, ``--nick``, ``--raw``) to *parser*."""
    parser.add_argument(
        "--server",
        metavar="URL",
        type=_endpoint,
        default=None,
        help=(
            "the server as an endpoint URL, instead of --host/--port: tcp://HOST:PORT, "
            "tls://HOST:PORT (IPv6 addresses in brackets: tls://[::1]:6697) or unix:PATH"
        ),
    )
    parser.add_argument(
        "--host",
        default=None,
        help=(
            "the machine the chat server runs on, as a host name or IP address "
            f"(default: {DEFAULT_HOST}, which is this machine)"
        ),
    )
    parser.add_argument(
        "--port",
        type=_port_number,
        default=None,
        help=f"the TCP port the chat server listens on, as given to it (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="use TLS to --host/--port (with --server, write tls://HOST:PORT instead)",
    )
    parser.add_argument(
        "--cafile",
        metavar="FILE",
        default=None,
        help="trust the CA certificates in this PEM file instead of the system's (for a private "
        "CA or a self-signed server certificate)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the server's certificate: encrypted, but anyone on the network path "
        "can impersonate the server. Only for testing",
    )
    parser.add_argument(
        "--nick",
        metavar="NAME",
        default=None,
        help=(
            "the nickname to ask for as soon as you are connected; without it the server names "
            "you (guest-1, guest-2, ...). You can change it later by typing /nick NAME"
        ),
    )
    password = parser.add_mutually_exclusive_group()
    password.add_argument(
        "--password-file",
        metavar="FILE",
        help="for a server that needs a password: send the first line of FILE with /pass "
        "as soon as you are connected (never give a password on the command line: ps shows it)",
    )
    password.add_argument(
        "--password-env",
        metavar="VAR",
        help="the same, from the environment variable VAR",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        default=False,
        help=(
            "print the server's text lines exactly as they arrive, for scripts, instead of "
            "switching the connection to JSON and rendering events for people (local HH:MM "
            "times, colours by nick at a terminal unless NO_COLOR is set, history dimmed, the "
            "room in the prompt) (default: %(default)s)"
        ),
    )


def run_connect(args: argparse.Namespace) -> int:
    """Run ``triochat connect`` with the parsed *args*, and return the process exit status.

    Error handling: nothing is raised for conditions a user can cause. A connection that cannot
    be opened or that breaks is reported as one ``triochat: ...`` line on stderr and status 1;
    Ctrl-C gives status 130 without a traceback.
    """
    nick: str | None = args.nick
    raw = bool(getattr(args, "raw", False))
    if nick is not None:
        try:
            _check_line(nick)
        except ValueError:
            _report("a nickname cannot contain a line break")
            return 2
    server: Endpoint | None = args.server
    if server is not None and (args.host is not None or args.port is not None):
        _report("--server replaces --host and --port: give one or the other")
        return 2
    if args.tls and server is not None and not server.is_tls:
        _report(
            f"--tls goes with --host/--port; with --server, write tls://HOST:PORT, not {server}"
        )
        return 2
    try:
        endpoint = client_endpoint(
            args.host, args.port, url=None if server is None else str(server), tls=args.tls
        )
    except ValueError as exc:
        _report(str(exc))
        return 2
    if (args.cafile is not None or args.insecure) and not endpoint.is_tls:
        _report("--cafile and --insecure are for TLS: add --tls, or use a tls:// URL")
        return 2
    if args.cafile is not None and args.insecure:
        _report("--cafile and --insecure contradict each other: choose one")
        return 2
    if args.insecure:
        _report(INSECURE_WARNING)
    try:
        password = _read_password(
            getattr(args, "password_file", None), getattr(args, "password_env", None)
        )
    except ValueError as exc:
        _report(str(exc))
        return 2
    target = _Target(endpoint, args.cafile, args.insecure, password)
    try:
        return trio.run(_main, target, nick, raw)
    except KeyboardInterrupt:
        # Ctrl-C outside the window where _main listens for SIGINT itself (during start-up or
        # shutdown of the run): nothing was left half done.
        return EXIT_INTERRUPTED


def _report(message: str) -> None:
    print(f"triochat: {message}", file=sys.stderr, flush=True)


@attrs.frozen
class _Target:
    """Where to connect, and how."""

    endpoint: Endpoint
    cafile: str | None
    insecure: bool
    password: str | None = None


@attrs.define(eq=False)
class _Outcome:
    """How the session ends; shared by its tasks. The first error reported wins."""

    #: Cancelled to end the whole session at once.
    scope: trio.CancelScope
    interrupted: bool = False
    error: str | None = None

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def abort(self, message: str) -> None:
        self.fail(message)
        self.scope.cancel()

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return 0 if self.error is None else 1


def _sigint_receiver() -> AbstractContextManager[AsyncIterator[int] | None]:
    # Signal handlers can only be installed from the main thread. Elsewhere Ctrl-C is never
    # delivered to this thread anyway, so there is nothing to listen for.
    if threading.current_thread() is threading.main_thread():
        return trio.open_signal_receiver(signal.SIGINT)
    return contextlib.nullcontext()


async def _main(target: _Target, nick: str | None, raw: bool = False) -> int:
    with _sigint_receiver() as sigint:
        async with trio.open_nursery() as nursery:
            outcome = _Outcome(nursery.cancel_scope)
            if sigint is not None:
                nursery.start_soon(_watch_for_interrupt, sigint, outcome)
            nursery.start_soon(_run_session, target, nick, raw, outcome)
    if outcome.error is not None and not outcome.interrupted:
        _report(outcome.error)
    return outcome.exit_status


async def _watch_for_interrupt(sigint: AsyncIterator[int], outcome: _Outcome) -> None:
    async for _ in sigint:
        outcome.interrupted = True
        outcome.scope.cancel()
        return


async def _run_session(target: _Target, nick: str | None, raw: bool, outcome: _Outcome) -> None:
    try:
        async with connect(
            url=str(target.endpoint),
            nick=nick if raw else None,
            cafile=target.cafile,
            insecure=target.insecure,
            password=target.password,
        ) as connection:
            rendering: _Rendering | None = None
            if not raw:
                display = Display(color=color_enabled(sys.stdout, os.environ))
                rendering = _Rendering(connection, display, nick)
            try:
                await _converse(connection, outcome, rendering)
            finally:
                if outcome.interrupted:
                    # Best effort: the user wants out now, so wait only briefly, and shield the
                    # attempt from the cancellation that brought us here.
                    with trio.move_on_after(_QUIT_TIMEOUT, shield=True):
                        with contextlib.suppress(ConnectionLost):
                            await connection.quit()
    except CertificateVerificationFailed as exc:
        outcome.fail(f"{exc} (use --cafile FILE for a private CA)")
    except ConnectionFailed as exc:
        outcome.fail(str(exc))
    except ValueError as exc:  # TLSConfigError: the CA file cannot be used
        outcome.fail(str(exc))
    # Done, one way or another: stop watching for Ctrl-C.
    outcome.scope.cancel()


@attrs.define(eq=False)
class _Rendering:
    """What the rendering mode (not ``--raw``) shares between receiving and typing."""

    connection: ChatConnection
    display: Display
    nick: str | None
    #: Set once the format is settled: typed lines may be sent from then on.
    settled: trio.Event = attrs.field(factory=trio.Event)
    _deciding: bool = False

    async def decide(self, first_line: str | None) -> list[str]:
        """Settle the format, from the server's first line (``None``: it has not said any).

        A triochat welcome gets the switch to JSON, with the nick and a history replay; anything
        else, nothing. Returns lines to print. Only the first call does anything.
        """
        if self._deciding:
            return []
        self._deciding = True
        shown: list[str] = []
        if first_line is not None and first_line.startswith(_WELCOME):
            with contextlib.suppress(ConnectionLost):  # then receiving ends, and says why
                await self.connection.send("/format json")
                if self.nick is not None:
                    await self.connection.send(f"/nick {self.nick}")
                # The room's history came in text before the switch and was dropped with the
                # other text lines: ask for it again, as events.
                await self.connection.send("/history")
            self.display.asked_for_json(history=True)
        else:
            shown = self.display.pass_through()
            if self.nick is not None:
                with contextlib.suppress(ConnectionLost):
                    await self.connection.send(f"/nick {self.nick}")
        self.settled.set()
        return shown


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except (OSError, ValueError):
        return False


async def _converse(
    connection: ChatConnection, outcome: _Outcome, rendering: _Rendering | None = None
) -> None:
    """Send typed lines and print received ones until the server closes the connection.

    With *rendering*, received lines are rendered by its display; otherwise they are printed as
    they are (with control characters replaced).
    """
    prompt: Callable[[], str] | None = None
    if rendering is not None and _isatty(sys.stdin) and _isatty(sys.stdout):
        display = rendering.display
        prompt = lambda: display.prompt  # noqa: E731 - read when printing, not now
    to_print, printable = trio.open_memory_channel[str](_PRINT_BACKLOG)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_print_lines, printable, outcome, prompt)
        typing_scope = trio.CancelScope()
        nursery.start_soon(_send_typed_lines, connection, typing_scope, outcome, rendering)
        async with to_print:
            try:
                async for line in connection:
                    if rendering is None:
                        await to_print.send(line.translate(_CONTROL_CHARACTERS))
                        continue
                    for shown in [*await rendering.decide(line), *rendering.display.feed(line)]:
                        await to_print.send(shown)
            except ChatClientError as exc:
                outcome.fail(str(exc))
            for shown in rendering.display.finish() if rendering is not None else ():
                await to_print.send(shown)
        # The server is gone: typing more would be pointless. The printer still empties its queue.
        typing_scope.cancel()
    if connection.closed_reason is not None:
        outcome.fail(f"connection lost: {connection.closed_reason}")


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


async def _send_typed_lines(
    connection: ChatConnection,
    scope: trio.CancelScope,
    outcome: _Outcome,
    rendering: _Rendering | None = None,
) -> None:
    """Send each line of stdin as a message, then ``/quit`` when stdin ends.

    With *rendering*, nothing is sent before the format is settled (see :class:`_Rendering`).
    """
    read = _stdin_reader()
    splitter = _LineBuffer()
    with scope:
        try:
            while True:
                data = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
                if data:
                    try:
                        lines = splitter.feed(data)
                    except _LineTooLong:
                        # Not fatal on the spot: leave politely, and exit 1 once the server is done.
                        outcome.fail(f"an input line is longer than {MAX_LINE_BYTES} bytes")
                        break
                else:
                    last = splitter.flush()
                    lines = [] if last is None else [last]
                for line in lines:
                    # A stray carriage return cannot be sent inside a line; it carries no text.
                    text = _decode(line).replace("\r", "")
                    if not text:  # an empty line is not a message
                        continue
                    if rendering is not None:
                        await _settle(rendering)
                    if _needs_wrapping(text, rendering):
                        text = json.dumps({"cmd": "say", "text": text}, ensure_ascii=False)
                    await connection.send(text)
                    if _is_quit(text):
                        # Sent like any line, and the server will say goodbye and close. Typing
                        # more would only reach a closed socket (and could reset the connection
                        # before the goodbye is read), so stop here.
                        return
                if not data:
                    break
            if rendering is not None:
                await _settle(rendering)
            await connection.quit()
        except ConnectionLost:
            # The server went away; receiving notices too and decides how that is reported.
            return


async def _settle(rendering: _Rendering) -> None:
    """Wait for the format to be settled by the server's greeting, or settle it without one."""
    if rendering.settled.is_set():
        return
    with trio.move_on_after(_GREETING_TIMEOUT):
        await rendering.settled.wait()
    # Printing what pass_through returns is not needed: nothing was held without a greeting.
    await rendering.decide(None)
    await rendering.settled.wait()


def _needs_wrapping(text: str, rendering: _Rendering | None) -> bool:
    """Whether typed *text* must be sent as a JSON ``say`` command to arrive as a message.

    On a JSON connection the server reads a line that starts with ``{`` as a JSON command; typed
    by a person, such a line is a message.
    """
    if rendering is None or rendering.display.wire_format != "json":
        return False
    return text.lstrip()[:1] == "{"


def _is_quit(text: str) -> bool:
    """Whether the server will take *text* as the quit command (``quit``, or ``/quit ...``)."""
    text = text.strip()
    return text == "quit" or text.partition(" ")[0].lower() == "/quit"


async def _print_lines(
    lines: trio.MemoryReceiveChannel[str],
    outcome: _Outcome,
    prompt: Callable[[], str] | None = None,
) -> None:
    """Print received lines, writing whatever has piled up in one go and flushing it.

    With a *prompt*, the terminal's current line (the prompt and any half-typed text) is cleared
    before the lines, and the prompt written again after them.
    """
    async with lines:
        while True:
            try:
                batch = [await lines.receive()]
            except trio.EndOfChannel:
                if prompt is not None:  # leave no prompt behind for the shell's
                    with contextlib.suppress(OSError):
                        await trio.to_thread.run_sync(_write_stdout, _CLEAR_LINE)
                return
            while len(batch) < _PRINT_BACKLOG:
                try:
                    batch.append(lines.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            text = "".join(f"{line}\n" for line in batch)
            if prompt is not None:
                text = f"{_CLEAR_LINE}{text}{prompt()}"
            try:
                # A terminal paused with Ctrl-S, or a slow reader of a pipe, blocks the write;
                # doing it in a thread keeps the event loop (and Ctrl-C) responsive meanwhile.
                await trio.to_thread.run_sync(_write_stdout, text)
            except OSError as exc:
                outcome.abort(f"cannot write output: {_describe_os_error(exc)}")
                return


def _write_stdout(text: str) -> None:
    stdout = sys.stdout
    if stdout is None:
        return
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        stdout.write(text)
        stdout.flush()
        return
    # Encode ourselves so a character the terminal's encoding lacks becomes "?" instead of an
    # exception that would end the session.
    buffer.write(text.encode(stdout.encoding or "utf-8", errors="replace"))
    buffer.flush()
