"""Driving the full-screen client headless: a private tmux server, keys in, screen text out.

Each :class:`Pane` runs one ``triochat connect`` in a tmux session of its own (on a socket of
its own, so nothing else running tmux is touched) inside a small shell wrapper that records the
terminal's settings before and after the client (``stty -g``) and its exit status, then keeps
the pane open so the screen after the exit can be read. Everything is asynchronous (tmux is run
with ``trio.run_process``), so a server in the test's own Trio loop keeps serving meanwhile.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from tests.conftest import WAIT

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Pane:
    """One client in a tmux pane (see the module's documentation)."""

    socket: Path
    directory: Path

    async def tmux(self, *args: str) -> str:
        result = await trio.run_process(
            ["tmux", "-S", str(self.socket), *args], capture_stdout=True, capture_stderr=True
        )
        return result.stdout.decode()

    async def screen(self) -> list[str]:
        """The visible screen, one string per row, trailing spaces removed."""
        captured = (await self.tmux("capture-pane", "-p")).removesuffix("\n")
        return [row.rstrip() for row in captured.split("\n")]

    async def wait_for(self, pattern: str, timeout: float = WAIT) -> list[str]:
        """Wait until some row of the screen matches *pattern* (a regular expression)."""
        found = re.compile(pattern)
        return await self.wait_until(
            lambda screen: any(found.search(row) for row in screen), repr(pattern), timeout
        )

    async def wait_until(
        self, predicate: Callable[[list[str]], bool], what: str, timeout: float = WAIT
    ) -> list[str]:
        """Wait until the screen satisfies *predicate*, and return it.

        A screen is checked whole, never in parts: a capture can fall in the middle of a redraw
        (or of tmux reflowing the old screen after a resize), and only a later one may show the
        state to check.
        """
        screen: list[str] = []
        with trio.move_on_after(timeout):
            while True:
                screen = await self.screen()
                if predicate(screen):
                    return screen
                await trio.sleep(0.05)
        raise AssertionError(f"{what} never appeared; the screen:\n" + "\n".join(screen))

    async def wait_for_cursor(self, column: int, timeout: float = WAIT) -> None:
        """Wait until the cursor is in *column* (it moves last in a redraw)."""
        with trio.move_on_after(timeout):
            # The cursor lives in tmux, another process: polling is all there is.
            while int(await self.show("cursor_x")) != column:  # noqa: ASYNC110
                await trio.sleep(0.05)
            return
        where = await self.show("cursor_x")
        raise AssertionError(f"the cursor is in column {where}, not {column}")

    async def keys(self, *keys: str, literal: bool = False) -> None:
        await self.tmux("send-keys", *(["-l"] if literal else []), *keys)

    async def type(self, text: str) -> None:
        await self.keys(text, literal=True)

    async def show(self, name: str) -> str:
        """A tmux format variable of the pane, such as ``cursor_x`` or ``alternate_on``."""
        return (await self.tmux("display-message", "-p", f"#{{{name}}}")).strip()

    async def exit_status(self, timeout: float = WAIT) -> int:
        """Wait for the client to exit, and return its status."""
        status = self.directory / "status"
        with trio.fail_after(timeout):
            # The status is a file another process writes: there is nothing to wait on.
            while not status.exists() or not status.read_text().strip():  # noqa: ASYNC110
                await trio.sleep(0.05)
        return int(status.read_text())

    def restored(self) -> bool:
        """Whether the terminal's settings after the client are those from before it."""
        after = self.directory / "after"
        before = (self.directory / "before").read_text()
        return after.exists() and after.read_text() == before

    @property
    def stderr(self) -> str:
        return (self.directory / "stderr").read_text()

    async def client_pid(self) -> int:
        shell = await self.show("pane_pid")
        children = (await trio.Path(f"/proc/{shell}/task/{shell}/children").read_text()).split()
        assert len(children) == 1, children
        return int(children[0])


def client_command(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "triochat", "connect", "--port", str(port), *args]


@asynccontextmanager
async def open_pane(
    directory: Path,
    command: Sequence[str],
    *,
    width: int = 80,
    height: int = 24,
    stderr: bool = False,
) -> AsyncIterator[Pane]:
    """Run *command* in a fresh tmux server in *directory* (short: it holds the socket).

    Its stderr goes to the file ``stderr`` (:attr:`Pane.stderr`), or with *stderr* to the
    terminal.
    """
    pane = Pane(directory / "tmux.sock", directory)
    env = {"PYTHONPATH": str(PROJECT_ROOT), "TERM": "xterm-256color", "LC_ALL": "C.UTF-8"}
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    script = (
        f"cd {shlex.quote(str(directory))}; stty -g > before; "
        f"env -u NO_COLOR {exports} {shlex.join(command)}{'' if stderr else ' 2> stderr'}; "
        # The status last: once it is there, so is everything else.
        "status=$?; stty -g > after; echo $status > status; exec sleep 3600"
    )
    await trio.run_process(
        [
            "tmux", "-S", str(pane.socket), "-f", "/dev/null", "new-session", "-d",
            "-x", str(width), "-y", str(height), script,
        ],
        env={**os.environ, "TMUX": ""},
    )  # fmt: skip
    try:
        yield pane
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(WAIT):
            await trio.run_process(["tmux", "-S", str(pane.socket), "kill-server"], check=False)
