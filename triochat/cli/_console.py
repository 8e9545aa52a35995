"""The admin console at ``triochat serve``'s own terminal: the origin's ``>>`` prompt.

When standard input is a terminal, the server reads command lines from it and answers them as the
control socket does (:class:`triochat.server._admin.AdminConsole`); ``quit`` stops the server
gracefully. Reading happens in a worker thread (a terminal read cannot be cancelled); the thread
is abandoned when the server stops.
"""

from __future__ import annotations

import os
import sys
from typing import Final

import trio

from ..server._admin import AdminConsole, AdminError

__all__ = ["PROMPT", "run_console"]

PROMPT: Final = ">> "
_CHUNK: Final = 4096


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def run_console(console: AdminConsole, fd: int = 0) -> None:
    """Read commands from *fd* until ``quit``, its end, or cancellation."""
    pending = b""
    _write(PROMPT)
    while True:
        data = await trio.to_thread.run_sync(os.read, fd, _CHUNK, abandon_on_cancel=True)
        if not data:
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if line == "quit":
                if console.stop is not None:
                    console.stop(None)
                return
            if line:
                try:
                    answer = await console.run(line)
                except AdminError as exc:
                    answer = f"error: {exc}"
                _write(answer.rstrip("\n") + "\n")
            _write(PROMPT)
