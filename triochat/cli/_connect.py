"""The ``triochat connect`` command: chat from a terminal, or from a script through a pipe.

Which client runs depends on where standard input and output lead:

- both are a terminal: the full-screen client (:mod:`triochat.cli._tui`, on urwid), unless
  ``--plain`` or ``--raw`` asks for line mode, the terminal is ``dumb``, or urwid is missing;
- otherwise line mode (:mod:`triochat.cli._lines`): each line of input is sent, each line
  from the server printed; a pipe is paced to the server's limits and accounted for.

Both switch the connection to the JSON format once the server's welcome shows it is triochat,
and render events for people; ``--raw`` keeps the text format and prints the server's lines as
they are. The exit status is one of :mod:`triochat.cli._client_common`'s.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import trio

from ..client._client import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    CertificateVerificationFailed,
    ChatConnection,
    ConnectionFailed,
    ConnectionLost,
    _check_line,
    connect,
)
from ..client._pacing import Pacer, ServerLimits
from ..client._render import Display, color_enabled
from ..client._transport import client_endpoint
from ..drivers._endpoints import Endpoint, parse_endpoint
from ..server._config import DEFAULT_MESSAGE_BURST, DEFAULT_MESSAGE_RATE
from ._client_common import (
    DEFAULT_RECONNECT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConnectOptions,
    Outcome,
    Target,
    sigint_receiver,
)
from ._lines import CLEAR_LINE, FormatSwitch, LineSession, converse
from ._reconnect import reopener

__all__ = ["INSECURE_WARNING", "add_connect_arguments", "run_connect"]

#: How long Ctrl-C waits to get a ``/quit`` out before leaving anyway.
_QUIT_TIMEOUT: Final = 0.5
#: Printed on stderr every time --insecure is used.
INSECURE_WARNING: Final = (
    "WARNING: --insecure: the server's certificate is not verified; anyone on the network path "
    "can read and change this conversation"
)
#: Said when the full-screen client cannot run because urwid is not installed.
NO_URWID: Final = (
    "the full-screen client needs urwid (pip install 'triochat[tui]'); using line mode"
)


def _count_or_zero(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(text)


def _count(text: str) -> int:
    value = _count_or_zero(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _lines_a_second(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of lines a second: {text!r}") from None
    if not value > 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"must be more than 0 (or inf), not {text}")
    return value


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
    """Add the options of ``triochat connect`` to *parser*: where to connect (``--server``,
    ``--host``, ``--port``, ``--tls``, ``--cafile``, ``--insecure``), then how to talk
    (``--nick``, the password, ``--raw``, ``--plain``, ``--history``, pacing, reconnection)."""
    _add_where(parser)
    _add_how(parser)


def _add_where(parser: argparse.ArgumentParser) -> None:
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


def _add_how(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--plain",
        action="store_true",
        help="line mode even at a terminal: a prompt and one line per event, instead of the "
        "full-screen client (for dumb terminals and screen readers)",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        help="no colours (the NO_COLOR environment variable does the same)",
    )
    parser.add_argument(
        "--history",
        metavar="N",
        type=_count_or_zero,
        default=None,
        help="on connecting, show the last N events of the room (0: none; default: all the "
        "server keeps, 100 on a default server)",
    )
    parser.add_argument(
        "--rate",
        metavar="LINES",
        type=_lines_a_second,
        default=None,
        help="the server's --rate, if it is not the default and the server does not say: "
        f"input is sent no faster (default: {DEFAULT_MESSAGE_RATE:g} lines a second)",
    )
    parser.add_argument(
        "--burst",
        metavar="LINES",
        type=_count,
        default=None,
        help=f"the server's --burst, likewise (default: {DEFAULT_MESSAGE_BURST})",
    )
    parser.add_argument(
        "--reconnect",
        metavar="N",
        type=_count_or_zero,
        default=DEFAULT_RECONNECT,
        help="attempts to reconnect after a lost connection, waiting longer each time, then "
        "resume each room where you were (not with --raw; 0: exit instead) "
        "(default: %(default)s)",
    )


def run_connect(args: argparse.Namespace) -> int:
    """Run ``triochat connect`` with the parsed *args*, and return the process exit status.

    Error handling: nothing is raised for conditions a user can cause. A connection that cannot
    be opened or that breaks is reported as one ``triochat: ...`` line on stderr and status 1;
    Ctrl-C gives status 130 without a traceback.
    """
    target = _target(args)
    if target is None:
        return EXIT_USAGE
    nick: str | None = args.nick
    if nick is not None:
        try:
            _check_line(nick)
        except ValueError:
            _report("a nickname cannot contain a line break")
            return EXIT_USAGE
    options = _options(args)
    try:
        if _wants_full_screen(options):
            if importlib.util.find_spec("urwid") is not None:
                from ._tui import run_full_screen

                return trio.run(run_full_screen, target, options)
            _report(NO_URWID)
        return trio.run(_main, target, options)
    except KeyboardInterrupt:
        # Ctrl-C outside the window where the client listens for SIGINT itself (during start-up
        # or shutdown of the run): nothing was left half done.
        return EXIT_INTERRUPTED


def _options(args: argparse.Namespace) -> ConnectOptions:
    limits = ServerLimits()
    rate, burst = getattr(args, "rate", None), getattr(args, "burst", None)
    if rate is not None:
        limits = ServerLimits(rate=rate, burst=limits.burst, max_line=limits.max_line)
    if burst is not None:
        limits = ServerLimits(rate=limits.rate, burst=burst, max_line=limits.max_line)
    return ConnectOptions(
        nick=args.nick,
        raw=bool(getattr(args, "raw", False)),
        plain=bool(getattr(args, "plain", False)),
        color=not getattr(args, "no_color", False) and not os.environ.get("NO_COLOR"),
        history=getattr(args, "history", None),
        limits=limits,
        reconnect=getattr(args, "reconnect", DEFAULT_RECONNECT),
    )


def _wants_full_screen(options: ConnectOptions) -> bool:
    if options.raw or options.plain or os.environ.get("TERM", "") in ("", "dumb"):
        return False
    return _isatty(sys.stdin) and _isatty(sys.stdout)


def _target(args: argparse.Namespace) -> Target | None:
    """Where to connect, from *args*; ``None`` (after saying why) if they do not add up."""
    server: Endpoint | None = args.server
    if server is not None and (args.host is not None or args.port is not None):
        _report("--server replaces --host and --port: give one or the other")
        return None
    if args.tls and server is not None and not server.is_tls:
        _report(
            f"--tls goes with --host/--port; with --server, write tls://HOST:PORT, not {server}"
        )
        return None
    try:
        endpoint = client_endpoint(
            args.host, args.port, url=None if server is None else str(server), tls=args.tls
        )
    except ValueError as exc:
        _report(str(exc))
        return None
    if (args.cafile is not None or args.insecure) and not endpoint.is_tls:
        _report("--cafile and --insecure are for TLS: add --tls, or use a tls:// URL")
        return None
    if args.cafile is not None and args.insecure:
        _report("--cafile and --insecure contradict each other: choose one")
        return None
    if args.insecure:
        _report(INSECURE_WARNING)
    try:
        password = _read_password(
            getattr(args, "password_file", None), getattr(args, "password_env", None)
        )
    except ValueError as exc:
        _report(str(exc))
        return None
    return Target(endpoint, args.cafile, args.insecure, password)


def _report(message: str) -> None:
    print(f"triochat: {message}", file=sys.stderr, flush=True)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except (OSError, ValueError):
        return False


async def _main(target: Target, options: ConnectOptions) -> int:
    """Line mode: one connection, until the server closes it (or Ctrl-C)."""
    with sigint_receiver() as sigint:
        async with trio.open_nursery() as nursery:
            outcome = Outcome(nursery.cancel_scope)
            if sigint is not None:
                nursery.start_soon(_watch_for_interrupt, sigint, outcome)
            nursery.start_soon(_run_session, target, options, outcome)
    if outcome.message is not None:
        _report(outcome.message)
    return outcome.exit_status


async def _watch_for_interrupt(sigint: AsyncIterator[int], outcome: Outcome) -> None:
    async for _ in sigint:
        outcome.interrupted = True
        outcome.scope.cancel()
        return


async def _run_session(target: Target, options: ConnectOptions, outcome: Outcome) -> None:
    try:
        async with contextlib.AsyncExitStack() as stack:
            connection = await stack.enter_async_context(
                connect(
                    url=str(target.endpoint),
                    nick=options.nick if options.raw else None,
                    cafile=target.cafile,
                    insecure=target.insecure,
                    password=target.password,
                )
            )
            session = _line_session(connection, target, options, outcome)
            if session.rendering is not None and options.reconnect > 0:
                session.reopen = reopener(target, options, stack)
            try:
                await converse(session)
            finally:
                if outcome.interrupted:
                    # Best effort: the user wants out now, so wait only briefly, and shield the
                    # attempt from the cancellation that brought us here.
                    with trio.move_on_after(_QUIT_TIMEOUT, shield=True):
                        with contextlib.suppress(ConnectionLost):
                            await session.connection.quit()
                    if session.prompt is not None:  # leave no "#lobby> ^C" for the shell's prompt
                        with contextlib.suppress(OSError, ValueError):
                            sys.stdout.write(CLEAR_LINE)
                            sys.stdout.flush()
    except CertificateVerificationFailed as exc:
        outcome.fail(f"{exc} (use --cafile FILE for a private CA)")
    except ConnectionFailed as exc:
        outcome.fail(str(exc))
    except ValueError as exc:  # TLSConfigError: the CA file cannot be used
        outcome.fail(str(exc))
    # Done, one way or another: stop watching for Ctrl-C.
    outcome.scope.cancel()


def _line_session(
    connection: ChatConnection, target: Target, options: ConnectOptions, outcome: Outcome
) -> LineSession:
    piped = not _isatty(sys.stdin)
    pacer = Pacer(options.limits)
    # The password, and the nick in raw mode, went out before anything else.
    sent = (target.password is not None) + (options.nick is not None and options.raw)
    for _ in range(sent):
        pacer.sent(trio.current_time(), echoed=False)
    session = LineSession(
        connection,
        outcome,
        pacer=pacer,
        piped=piped,
        progress=piped and _isatty(sys.stderr),
    )
    if not options.raw:
        display = Display(color=options.color and color_enabled(sys.stdout, os.environ))
        session.rendering = FormatSwitch(
            connection, display, options.nick, history=options.history, pacer=pacer
        )
        if not piped and _isatty(sys.stdout):
            session.prompt = lambda: display.prompt
    return session
