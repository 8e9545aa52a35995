"""``triochat connect`` with its input piped: paced to the server's limits, and honest about it.

A pipe must arrive complete, and the exit status must say whether it did: 0 only when every line
was accepted, 3 when the server refused some, 1 when the connection was lost. These tests run the
real command against a real server on 127.0.0.1 with a fast rate limit, so that pacing a thousand
lines takes seconds, not the minute and a half it takes at the default rate (that run, and the
10 000-line one, are timed by hand; see docs/client.md).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import partial
from pathlib import Path
from typing import Final

import attrs
import trio

from tests.adversarial.helpers import serve_process
from tests.client.test_client import cli_environment, real_cli, run_cli
from tests.conftest import WAIT, LineClient
from tests.tui_helpers import client_command, open_pane
from triochat import ChatServer, ServerConfig

#: Generous bound for a whole piped run (a thousand lines paced at 200 a second take about 5 s).
PIPE_TIMEOUT: Final = 60.0
MESSAGE = re.compile(r"^\d\d:\d\d <(?P<nick>[^>]+)> (?P<text>.*)$")


async def start_server(nursery: trio.Nursery, *, tell_limits: bool = True, **options: float) -> int:
    config = ServerConfig(port=0, **options)  # type: ignore[arg-type]
    server = ChatServer(config=config)
    if not tell_limits:  # a server whose welcome does not say its limits (an older one)
        server.policy = attrs.evolve(server.policy, limits=None)
    await nursery.start(server.serve)
    port: int = server.addresses[0][1]
    return port


def said(stdout: bytes, nick: str) -> list[str]:
    """The texts of *nick*'s messages in the client's rendered output, in order."""
    found = []
    for line in stdout.decode().splitlines():
        match = MESSAGE.match(line)
        if match and match["nick"] == nick:
            found.append(match["text"])
    return found


async def test_a_pipe_longer_than_the_burst_arrives_complete(nursery: trio.Nursery) -> None:
    # The bug report's case, scaled: more lines than the server takes at once. Unpaced, a client
    # lost every line past the burst and still exited 0.
    port = await start_server(nursery, message_rate=200, message_burst=20)
    lines = [f"l{i}" for i in range(1, 1001)]
    stdin = "".join(f"{line}\n" for line in lines).encode()
    with trio.fail_after(PIPE_TIMEOUT):
        watcher = await (await LineClient.open(port)).registered("watcher")
        args = real_cli(port, "--nick", "piper", "--rate", "200", "--burst", "20", "--history", "0")
        result = await run_cli(args, stdin)
        seen = await watcher.until("<piper> l1000")
        await watcher.aclose()
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""  # stderr is not a terminal: no progress display
    assert said(result.stdout, "piper") == lines
    # Everyone else got them too, in order, and none twice.
    heard = [line.partition("<piper> ")[2] for line in seen if "<piper> " in line]
    assert heard == lines


async def test_refused_lines_give_a_message_and_exit_3(nursery: trio.Nursery) -> None:
    # A server stricter than the client was told, and that does not say so in its welcome: some
    # lines are refused. The client must not exit 0, must say so in one line, and must still
    # leave cleanly.
    port = await start_server(nursery, tell_limits=False, message_rate=5, message_burst=5)
    stdin = "".join(f"m{i}\n" for i in range(30)).encode()
    with trio.fail_after(PIPE_TIMEOUT):
        result = await run_cli(real_cli(port, "--nick", "hasty"), stdin)
    assert result.returncode == 3, result
    errors = result.stderr.decode().splitlines()
    assert len(errors) == 1, errors
    assert re.fullmatch(
        r"triochat: \d+ of 30 lines were not delivered \(the server said: slow down: .*\)",
        errors[0],
    ), errors
    delivered = said(result.stdout, "hasty")
    assert 0 < len(delivered) < 30
    assert f"{30 - len(delivered)} of 30" in errors[0]
    assert result.stdout.decode().splitlines()[-1] == "*** goodbye (quit)"


async def test_a_server_that_tells_its_limits_gets_every_line(nursery: trio.Nursery) -> None:
    # The same strict server, telling its limits in the welcome: the client paces itself by
    # them (not by its own defaults) and nothing is refused.
    port = await start_server(nursery, message_rate=50, message_burst=5)
    stdin = "".join(f"m{i}\n" for i in range(30)).encode()
    with trio.fail_after(PIPE_TIMEOUT):
        result = await run_cli(real_cli(port, "--nick", "patient", "--history", "0"), stdin)
    assert result.returncode == 0, result
    assert said(result.stdout, "patient") == [f"m{i}" for i in range(30)]


async def test_a_killed_server_gives_a_message_and_exit_1() -> None:
    # --reconnect 0: at once, without trying again (test_client_reconnect.py tries again).
    async with serve_process() as server, trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                real_cli(server.port, "--reconnect", "0"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
                env=cli_environment(),
            )
        )
        assert process.stdout is not None
        assert process.stderr is not None
        with trio.fail_after(WAIT):
            output = b""
            while b"*** you are guest-1" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, output
                output += chunk
            server.process.kill()  # SIGKILL: no goodbye, no flush
            stderr = b""
            while chunk := await process.stderr.receive_some():
                stderr += chunk
            await process.wait()
        assert process.stdin is not None
        await process.stdin.aclose()
        await process.stdout.aclose()
        await process.stderr.aclose()
    assert process.returncode == 1
    assert re.fullmatch(rb"triochat: connection lost: [^\n]+\n", stderr), stderr


async def test_progress_is_shown_on_a_terminal_and_cleared(
    nursery: trio.Nursery, short_tmp: Path
) -> None:
    # stdin a pipe, stdout a file, stderr the terminal: a long input shows how far it got, on
    # one line that is redrawn, and leaves nothing behind.
    port = await start_server(nursery, message_rate=50, message_burst=10)
    pipeline = (
        f"seq -f 'p%g' 1 150 | {shlex.join(client_command(port, '--rate', '50', '--burst', '10'))}"
        " > out"
    )
    async with open_pane(short_tmp, ["sh", "-c", pipeline], stderr=True) as pane:
        screen = await pane.wait_for(r"^triochat: \d+ lines read, \d+ sent, \d+ delivered")
        assert int(await pane.show("cursor_y")) == 0  # one line, redrawn in place
        progress = next(row for row in screen if row.startswith("triochat:"))
        assert progress.endswith("(at most 49.5 a second)")
        assert await pane.exit_status(timeout=PIPE_TIMEOUT) == 0
        assert await pane.screen() == [""] * len(screen)  # cleared
        assert said((short_tmp / "out").read_bytes(), "guest-1") == [f"p{i}" for i in range(1, 151)]
