"""A real IRC client, irssi, driven headless in tmux: it joins, talks with an ``nc`` user, quits.

irssi is a Debian package (``apt-get install irssi tmux``, which ``.ci/run`` does); the test
fails, never skips, where it is missing. It polls irssi's screen (``tmux capture-pane``) for
what it waits for, within the tests' usual bound, rather than sleeping for a fixed time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from triochat import ChatServer, ServerConfig

from .conftest import WAIT, LineClient


class Tmux:
    """One tmux server of our own (``-L``), running one program in one window."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, *args: str) -> str:
        result = await trio.run_process(
            ["tmux", "-L", self.name, *args], capture_stdout=True, capture_stderr=True
        )
        return result.stdout.decode(errors="replace")

    async def keys(self, text: str) -> None:
        await self.run("send-keys", "-t", "chat", "-l", text)
        await self.run("send-keys", "-t", "chat", "Enter")

    async def screen(self) -> str:
        return await self.run("capture-pane", "-p", "-t", "chat")

    async def shows(self, needle: str) -> str:
        """The screen once it shows *needle* (fails after WAIT seconds)."""
        with trio.fail_after(WAIT):
            # Polling irssi's screen: there is no event to wait on.
            while needle not in (screen := await self.screen()):  # noqa: ASYNC110
                await trio.sleep(0.05)
        return screen


@pytest.fixture
async def tmux(tmp_path: Path) -> AsyncIterator[Tmux]:
    for program in ("irssi", "tmux"):
        assert shutil.which(program), f"{program} is needed: apt-get install irssi tmux"
    server = Tmux(f"triochat-test-{os.getpid()}-{tmp_path.name}")
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await trio.run_process(["tmux", "-L", server.name, "kill-server"], check=False)


async def test_irssi_joins_talks_with_nc_and_quits(
    nursery: trio.Nursery, tmux: Tmux, tmp_path: Path
) -> None:
    config = ServerConfig(listen=["irc://127.0.0.1:0", "tcp://127.0.0.1:0"])
    server = await nursery.start(ChatServer(config=config).serve)
    irc_port, text_port = server.endpoints[0].port, server.endpoints[1].port
    nc = await LineClient.open(text_port)
    await nc.registered("ncuser")
    await nc.send("/join #trio")
    await nc.until("now talking in #trio")

    home = tmp_path / "irssi"
    home.mkdir()
    command = f"irssi --home={home} -c 127.0.0.1 -p {irc_port} -n ircuser"
    await tmux.run("new-session", "-d", "-s", "chat", "-x", "160", "-y", "40", command)
    await tmux.shows("End of /MOTD command")
    await tmux.keys("/join #trio")
    await nc.until("ircuser joined #trio")
    await tmux.shows("Total of 2 nicks")
    await tmux.keys("hello from irssi")
    assert (await nc.until("hello from irssi"))[-1].endswith("#trio <ircuser> hello from irssi")
    await nc.send("hi irssi, from nc")
    screen = await tmux.shows("hi irssi, from nc")
    assert "ncuser" in screen
    await tmux.keys("/quit see you")
    assert (await nc.until("ircuser left #trio"))[-1].endswith("(quit: see you)")
    await nc.aclose()
