"""Real IRC clients join, talk with an ``nc`` user and quit: irssi driven in tmux, and WeeChat
headless (``weechat-headless``) running a fixed script, read back from its buffer's log.

Both are Debian packages (``apt-get install irssi tmux weechat-headless``, which ``.ci/run``
does); a test fails, never skips, where one is missing. The irssi test polls its screen (``tmux
capture-pane``) for what it waits for, within the tests' usual bound, rather than sleeping for a
fixed time; the WeeChat one waits on what the ``nc`` user sees, then reads WeeChat's log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Final

import pytest
import trio

from tests.conftest import WAIT, LineClient
from triochat import ChatServer, ServerConfig


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


# WeeChat's commands, each at a time after it starts (``/wait`` counts from the start, not from
# the command before): WeeChat headless has no fifo plugin here, so the script is fixed in
# advance. The nc user answers as soon as it sees alice join, well before she quits.
_WEECHAT_SCRIPT: Final = (
    "/server add t 127.0.0.1/{port} -notls;"
    "/set irc.server.t.nicks alice;"
    "/set irc.server.t.autoreconnect off;"
    "/connect t;"
    "/wait 2s /join -server t #test;"
    "/wait 3s /msg -server t #test hello from weechat;"
    "/wait 6s /quit bye"
)


async def test_weechat_joins_talks_with_nc_and_quits(nursery: trio.Nursery, tmp_path: Path) -> None:
    weechat = shutil.which("weechat-headless")
    assert weechat, "weechat-headless is needed: apt-get install weechat-headless"
    config = ServerConfig(listen=["irc://127.0.0.1:0", "tcp://127.0.0.1:0"])
    server = await nursery.start(ChatServer(config=config).serve)
    irc_port, text_port = server.endpoints[0].port, server.endpoints[1].port
    nc = await LineClient.open(text_port)
    await nc.registered("ncuser")
    await nc.send("/join #test")
    await nc.until("now talking in #test")

    home = tmp_path / "weechat"
    script = _WEECHAT_SCRIPT.format(port=irc_port)
    with trio.fail_after(WAIT + 6):
        async with trio.open_nursery() as client:
            process = await client.start(
                partial(
                    trio.run_process,
                    [weechat, "--dir", str(home), "-r", script],
                    stdin=subprocess.DEVNULL,
                    capture_stdout=True,
                    capture_stderr=True,
                )
            )
            await nc.until("alice joined #test")
            assert (await nc.until("hello from weechat"))[-1].endswith(
                "#test <alice> hello from weechat"
            )
            await nc.send("hi weechat, from nc")
            assert (await nc.until("alice left #test"))[-1].endswith("(quit: bye)")
    assert process.returncode == 0
    # What WeeChat showed in the room's buffer, as its logger wrote it on quitting.
    shown = (home / "logs" / "irc.t.#test.weechatlog").read_text()
    assert re.search(r"^\S+ \S+\t-->\talice .* has joined #test$", shown, re.MULTILINE), shown
    assert re.search(r"\talice\thello from weechat$", shown, re.MULTILINE), shown
    assert re.search(r"\t@ncuser\thi weechat, from nc$", shown, re.MULTILINE), shown
    await nc.aclose()
