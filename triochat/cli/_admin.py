"""``triochat admin [--control unix:PATH] COMMAND``: one command on a server's admin console.

Connects to the control socket of a server started with ``--control unix:PATH``, sends the
command, prints the answer. Exit status: 0 if the command was carried out, 1 if the server said
``error: ...`` or could not be reached, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

import trio

from ..drivers._endpoints import parse_endpoint
from ..server._admin import COMMANDS
from ._serve import EXIT_ERROR, EXIT_OK, EXIT_USAGE

__all__ = ["DEFAULT_CONTROL", "add_admin_arguments", "run_admin"]

#: Where the systemd unit in docs/ puts the control socket (RuntimeDirectory=triochat).
DEFAULT_CONTROL: Final = "unix:/run/triochat/control.sock"
#: How long the whole exchange may take (a ``tasks`` listing of a big server included).
ADMIN_TIMEOUT: Final = 30.0


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--control`` and the command words to *parser*."""
    parser.add_argument(
        "--control",
        metavar="unix:PATH",
        default=DEFAULT_CONTROL,
        help="the server's control socket, as given to triochat serve --control (a bare PATH "
        "works too)",
    )
    commands = ", ".join(f"{name} {args}".strip() for name, (args, _) in COMMANDS.items())
    parser.add_argument("words", nargs="+", metavar="COMMAND", help=f"one of: {commands}")


def run_admin(args: argparse.Namespace) -> int:
    """Send the command; print the answer; the exit status."""
    control: str = args.control
    try:
        endpoint = parse_endpoint(control if control.startswith("unix:") else f"unix:{control}")
    except ValueError as exc:
        print(f"triochat admin: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    command = " ".join(args.words)
    if "\n" in command:
        print("triochat admin: error: a command is one line", file=sys.stderr)
        return EXIT_USAGE
    try:
        answer = trio.run(_ask, endpoint.path, command)
    except (OSError, trio.TooSlowError) as exc:
        reason = getattr(exc, "strerror", None) or "no answer in time"
        print(f"triochat admin: cannot reach {endpoint}: {reason}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(answer)
    return EXIT_ERROR if answer.startswith("error:") else EXIT_OK


async def _ask(path: str, command: str) -> str:
    with trio.fail_after(ADMIN_TIMEOUT):
        async with await trio.open_unix_socket(path) as stream:
            await stream.send_all(command.encode() + b"\n")
            chunks = []
            while data := await stream.receive_some(65536):
                chunks.append(data)
    return b"".join(chunks).decode(errors="replace")
