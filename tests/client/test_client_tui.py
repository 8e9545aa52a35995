"""The full-screen client, tried as a person would: in a real terminal (tmux), headless.

Each test types into a tmux pane with ``send-keys`` and reads it back with ``capture-pane``,
against a real server. The points of the bug report: typing is never disturbed by a line that
arrives, a resize and a line wider than the screen leave nothing stale behind, keys that used to
print ``^[[A`` do what they say, and every way out (Ctrl-C, Ctrl-D, /quit, SIGTERM, the server
gone, an exception) gives the terminal back as it was, with the right exit status.

These need ``tmux`` installed (CI installs it).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Final

import pytest
import trio

from tests.adversarial.helpers import serve_process
from tests.conftest import WAIT, LineClient
from tests.tui_helpers import Pane, client_command, open_pane
from triochat import ChatServer, ServerConfig
from triochat.client._render import NICK_PALETTE, nick_index
from triochat.session._auth import Secret

#: The prompt on the last row once connected (the room first).
PROMPT: Final = r"^#lobby> ?$"
#: A client that raises in the middle of a session (on a message saying "boom"): an exception
#: must restore the terminal too. Run with ``python -c``.
BOOM: Final = """
import sys
import triochat.cli._state as state
feed = state.ChatState.feed
def boom(self, obj):
    if obj.get("text") == "boom":
        raise RuntimeError("boom")
    return feed(self, obj)
state.ChatState.feed = boom
from triochat.cli._main import main
sys.exit(main())
"""


async def left_cleanly(pane: Pane, status: int) -> None:
    """The client exited with *status* and gave the terminal back: settings, the normal screen,
    a visible cursor."""
    assert await pane.exit_status() == status, pane.stderr
    assert pane.restored()
    assert await pane.show("alternate_on") == "0"
    assert await pane.show("cursor_flag") == "1"


async def test_typing_is_not_disturbed_by_a_line_arriving(port: int, short_tmp: Path) -> None:
    async with open_pane(short_tmp, client_command(port, "--nick", "ann")) as pane:
        await pane.wait_for(PROMPT)
        bob = await (await LineClient.open(port)).registered("bob")
        await pane.wait_for(r"bob is now known|--- guest-\d is now known as bob")
        await pane.type("half typ")
        await pane.wait_for(r"^#lobby> half typ$")
        await bob.send("hello ann")
        screen = await pane.wait_for(r"<bob> hello ann")
        # The line came in above; what was typed, and the cursor, stayed where they were.
        assert screen[-1] == "#lobby> half typ"
        await pane.wait_for_cursor(len("#lobby> half typ"))
        await pane.type("ed, then sent")
        await pane.keys("Enter")
        await bob.until("<ann> half typed, then sent")
        screen = await pane.wait_for(r"<ann> half typed, then sent")
        assert screen[-1] == "#lobby>"
        await bob.aclose()
        await pane.keys("C-d")
        await left_cleanly(pane, 0)


async def test_a_resize_and_a_line_wider_than_the_screen(port: int, short_tmp: Path) -> None:
    command = client_command(port, "--nick", "ann")
    async with open_pane(short_tmp, command, width=80, height=16) as pane:
        await pane.wait_for(PROMPT)
        await pane.wait_for(r"1 in #lobby")  # the nick list, at this width
        text = "x" * 70 + " and the end of a long line"
        await pane.type(text)
        await pane.tmux("resize-window", "-x", "40", "-y", "12")

        def redrawn(screen: list[str]) -> bool:
            # The input wraps onto the rows below the status line, all of it and nothing else;
            # the nick list is gone (too narrow for it).
            status = [i for i, row in enumerate(screen) if row.startswith(" connected")]
            return (
                len(screen) == 12
                and len(status) == 1
                and "".join(row.ljust(40) for row in screen[status[0] + 1 :]).rstrip()
                == f"#lobby> {text}"
                and not any("1 in #lobby" in row for row in screen)
            )

        await pane.wait_until(redrawn, "the input wrapped at 40 columns")
        await pane.keys("Enter")
        screen = await pane.wait_for(r"^#lobby>$")
        assert screen[-2].startswith(" connected")  # no stale fragment of the long input
        await pane.tmux("resize-window", "-x", "80", "-y", "16")
        await pane.wait_for(r"1 in #lobby")
        await pane.keys("C-c")
        await left_cleanly(pane, 130)


async def test_keys_edit_history_and_completion(port: int, short_tmp: Path) -> None:
    async with open_pane(short_tmp, client_command(port, "--nick", "ann")) as pane:
        await pane.wait_for(PROMPT)
        bob = await (await LineClient.open(port)).registered("bob")
        await pane.wait_for(r"^\s*.*bob\s*$")  # in the nick list
        await pane.type("hello b")
        await pane.keys("Tab")
        await pane.wait_for(r"^#lobby> hello bob$")
        await pane.wait_for_cursor(len("#lobby> hello bob "))
        await pane.keys("Enter")
        await bob.until("<ann> hello bob")
        # Arrow keys move and recall; they print nothing.
        await pane.keys("Up")
        await pane.wait_for(r"^#lobby> hello bob$")
        await pane.keys("Home")
        await pane.type(">> ")
        await pane.keys("Left", "Right", "End")
        await pane.wait_for(r"^#lobby> >> hello bob$")
        await pane.keys("C-w")
        await pane.wait_for(r"^#lobby> >> hello$")
        await pane.keys("C-a", "C-k")
        await pane.wait_for(PROMPT)
        await pane.type("/jo")
        await pane.keys("Tab")
        await pane.wait_for(r"^#lobby> /join$")
        await pane.type("#bots")
        await pane.keys("Enter")
        await pane.wait_for(r"^#bots>$")
        await pane.wait_for(r"1:#lobby 2:#bots")
        await pane.keys("M-1")
        await pane.wait_for(PROMPT)
        # PgUp scrolls back (and new lines do not pull the view down), PgDn comes back.
        for number in range(40):
            await bob.send(f"/msg ann line {number}")
        await pane.wait_for(r"<bob -> ann> line 39")
        await pane.keys("PageUp")
        await pane.wait_until(
            lambda screen: (
                any("-- more below: PgDn --" in row for row in screen)
                and not any("line 39" in row for row in screen)
            ),
            "the scrollback, scrolled back",
        )
        await bob.send("/msg ann one more")
        await bob.until("one more")
        await pane.keys("PageDown", "PageDown", "PageDown")
        await pane.wait_until(
            lambda screen: (
                any("<bob -> ann> one more" in row for row in screen)
                and not any("more below" in row for row in screen)
            ),
            "the scrollback, following again",
        )
        # Enter on an empty line sends nothing, and says nothing.
        before = await pane.screen()
        await pane.keys("Enter")
        await pane.type("/quit")
        await pane.keys("Enter")
        await left_cleanly(pane, 0)
        assert not any("^[" in row for row in before)
        await bob.aclose()


@pytest.mark.parametrize("way", ["ctrl-c", "ctrl-d", "quit", "sigterm", "server gone", "crash"])
async def test_every_way_out_restores_the_terminal(
    way: str, nursery: trio.Nursery, short_tmp: Path
) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    command = client_command(port, "--nick", "ann", "--reconnect", "0")
    if way == "crash":
        command[1:3] = ["-c", BOOM]
    expected = {"ctrl-c": 130, "sigterm": 128 + signal.SIGTERM}.get(way, 0)
    async with open_pane(short_tmp, command) as pane:
        await pane.wait_for(PROMPT)
        if way == "ctrl-c":
            await pane.keys("C-c")
        elif way == "ctrl-d":
            await pane.keys("C-d")
        elif way == "quit":
            await pane.type("/quit")
            await pane.keys("Enter")
        elif way == "sigterm":
            os.kill(await pane.client_pid(), signal.SIGTERM)
        elif way == "server gone":
            expected = 1
            await server.shutdown()
        else:
            expected = 1
            await pane.type("boom")
            await pane.keys("Enter")
        await left_cleanly(pane, expected)
        if way == "server gone":
            assert pane.stderr == (
                "triochat: the server closed the connection: goodbye (server shutting down)\n"
            )
        elif way == "crash":
            assert "RuntimeError: boom" in pane.stderr
        else:
            assert pane.stderr == ""


async def test_reconnects_after_the_server_is_killed_and_rejoins(short_tmp: Path) -> None:
    async with serve_process() as first:
        port = first.port
        async with open_pane(short_tmp, client_command(port, "--nick", "ann")) as pane:
            await pane.wait_for(PROMPT)
            await pane.type("/join #bots")
            await pane.keys("Enter")
            await pane.wait_for(r"1:#lobby 2:#bots")
            first.process.kill()  # SIGKILL: no goodbye
            await pane.wait_for(r"^ reconnecting in \d+ s \(\d+ of 10\)")
            await pane.wait_for(r"connection lost: the server closed the connection without")
            async with serve_process("--port", str(port)) as second:
                # Backoff of 1, 2, 4, 8 s (20 % jitter): the next attempt comes soon after the
                # server is up (which takes a few seconds on a busy machine).
                await pane.wait_for(r"^ connected .*1:#lobby 2:#bots", timeout=3 * WAIT)
                bob = await (await LineClient.open(second.port)).registered("bob")
                await bob.send("/join #bots")
                await bob.until("joined #bots")
                await bob.send("ann, are you back?")
                screen = await pane.wait_for(r"<bob> ann, are you back\?")
                assert screen[-1] == "#bots>"  # the room on view before the loss
                await bob.aclose()
                await pane.keys("C-d")
                await left_cleanly(pane, 0)


async def test_a_refusal_is_not_retried(nursery: trio.Nursery, short_tmp: Path) -> None:
    # A wrong password, then the time to give the right one runs out: the server says goodbye
    # (authentication timeout). Connecting again would be turned away again: the client exits.
    config = ServerConfig(port=0, password=Secret.from_text("right"), auth_timeout=1.0)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    command = [
        "env",
        "TRIOCHAT_PW=wrong",
        *client_command(server.addresses[0][1], "--password-env", "TRIOCHAT_PW"),
    ]
    async with open_pane(short_tmp, command) as pane:
        await left_cleanly(pane, 1)
        assert "authentication timeout" in pane.stderr
        assert "reconnecting" not in pane.stderr


async def test_a_server_that_cannot_be_reached_is_one_line_before_any_screen(
    short_tmp: Path,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with open_pane(short_tmp, client_command(port)) as pane:
        await left_cleanly(pane, 1)
        assert pane.stderr == f"triochat: cannot connect to 127.0.0.1:{port}: connection refused\n"


@pytest.mark.parametrize("colour", [True, False])
async def test_nick_colours_and_no_color(colour: bool, port: int, short_tmp: Path) -> None:
    command = client_command(port, "--nick", "alice")
    if not colour:
        command = ["env", "NO_COLOR=1", *command]
    async with open_pane(short_tmp, command) as pane:
        await pane.wait_for(PROMPT)
        await pane.wait_for(r"is now known as alice")
        screen = await pane.tmux("capture-pane", "-p", "-e")  # with the escape sequences
        alice = f"\x1b[38;5;{NICK_PALETTE[nick_index('alice')][0]}m"
        assert (alice in screen) is colour, screen
        assert ("\x1b[38;5;" in screen) is colour
        await pane.keys("C-d")
        await left_cleanly(pane, 0)


async def test_plain_mode_at_a_terminal_leaves_no_prompt_behind(port: int, short_tmp: Path) -> None:
    async with open_pane(short_tmp, client_command(port, "--plain", "--nick", "ann")) as pane:
        await pane.wait_for(r"^#lobby> $|^#lobby>$")
        await pane.type("hello")
        await pane.keys("Enter")
        await pane.wait_for(r"<ann> hello")
        await pane.keys("C-c")
        assert await pane.exit_status() == 130
        # The shell's prompt would start on a clean line, not after "#lobby> ^C".
        screen = [row for row in await pane.screen() if row]
        assert screen[-1].endswith("<ann> hello"), screen
        assert pane.restored()


async def test_a_paste_of_many_lines_is_paced_not_refused(
    nursery: trio.Nursery, short_tmp: Path
) -> None:
    config = ServerConfig(port=0, message_rate=50, message_burst=20)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    command = client_command(port, "--nick", "ann", "--rate", "50", "--burst", "20")
    async with open_pane(short_tmp, command) as pane:
        await pane.wait_for(PROMPT)
        watcher = await (await LineClient.open(port)).registered("watcher")
        pasted = [f"pasted {n}" for n in range(1, 61)]  # three times the burst
        buffer = short_tmp / "paste"
        buffer.write_text("".join(f"{line}\n" for line in pasted))
        await pane.tmux("load-buffer", str(buffer))
        await pane.tmux("paste-buffer", "-p")
        heard = await watcher.until("<ann> pasted 60")
        assert [line.partition("<ann> ")[2] for line in heard if "<ann> " in line] == pasted
        assert not any("slow down" in row for row in await pane.screen())
        await watcher.aclose()
        await pane.keys("C-d")
        await left_cleanly(pane, 0)
