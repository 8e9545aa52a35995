"""Line mode's output: received lines to stdout, with the prompt and the progress line kept
out of their way (and a write that blocks, a terminal paused with Ctrl-S, kept off the event
loop). Used by :func:`triochat.cli._lines.converse`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Final

import trio

from ..client._errors import _describe_os_error

if TYPE_CHECKING:
    from ._lines import LineSession

__all__ = ["CLEAR_LINE", "PRINT_BACKLOG", "print_lines", "tick", "write"]

#: Received lines waiting to be printed. When stdout is slower than the server, reading from the
#: server stops here instead of buffering without bound.
PRINT_BACKLOG: Final = 256
#: Written before incoming lines at a terminal: back to the start of the line, and clear it (the
#: prompt, and whatever was typed after it; the terminal still has the typed text).
CLEAR_LINE: Final = "\r\x1b[K"
#: Progress on stderr is redrawn this often.
_PROGRESS_EVERY: Final = 0.25


async def tick(redraw: trio.MemorySendChannel[str | None], scope: trio.CancelScope) -> None:
    """Ask the printer to redraw the progress line now and then (``None``: nothing to print)."""
    with scope, redraw:
        while True:
            await trio.sleep(_PROGRESS_EVERY)
            await redraw.send(None)


async def print_lines(lines: trio.MemoryReceiveChannel[str | None], session: LineSession) -> None:
    """Print received lines, writing whatever has piled up in one go and flushing it.

    With a prompt, the terminal's current line (the prompt and any half-typed text) is cleared
    before the lines, and the prompt written again after them; with progress, the same for the
    progress line on stderr. ``None`` in *lines* prints nothing but redraws the progress.
    """
    prompt, outcome = session.prompt, session.outcome
    status = session.progress_line if session.progress else None
    shown = ""
    async with lines:
        while True:
            try:
                batch = [await lines.receive()]
            except trio.EndOfChannel:
                if prompt is not None:  # leave no prompt behind for the shell's
                    with contextlib.suppress(OSError):
                        await trio.to_thread.run_sync(write, sys.stdout, CLEAR_LINE)
                if shown:
                    with contextlib.suppress(OSError):
                        await trio.to_thread.run_sync(write, sys.stderr, CLEAR_LINE)
                return
            while len(batch) < PRINT_BACKLOG:
                try:
                    batch.append(lines.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            text = "".join(f"{line}\n" for line in batch if line is not None)
            if prompt is not None and text:
                text = f"{CLEAR_LINE}{text}{prompt()}"
            try:
                # A terminal paused with Ctrl-S, or a slow reader of a pipe, blocks the write;
                # doing it in a thread keeps the event loop (and Ctrl-C) responsive meanwhile.
                if status is not None:
                    now = status()
                    if text or now != shown:
                        await trio.to_thread.run_sync(_redraw, text, shown, now)
                        shown = now
                elif text:
                    await trio.to_thread.run_sync(write, sys.stdout, text)
            except OSError as exc:
                outcome.abort(f"cannot write output: {_describe_os_error(exc)}")
                return


def _redraw(text: str, shown: str, status: str) -> None:
    """Write *text* to stdout with the progress line on stderr out of its way."""
    if shown:
        write(sys.stderr, CLEAR_LINE)
    if text:
        write(sys.stdout, text)
    if status:
        write(sys.stderr, status)


def write(stream: object, text: str) -> None:
    if stream is None:
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]
        return
    # Encode ourselves so a character the terminal's encoding lacks becomes "?" instead of an
    # exception that would end the session.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    buffer.write(text.encode(encoding, errors="replace"))
    buffer.flush()
