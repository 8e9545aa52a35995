"""The admin console's commands, on a server in this process, and over its control socket."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
import trio

from tests.conftest import LineClient
from triochat import ChatServer
from triochat.drivers._endpoints import parse_endpoint
from triochat.server._admin import AdminConsole, AdminError, serve_control
from triochat.server._tasks import task_tree


async def _clients(port: int, *nicks: str) -> list[LineClient]:
    return [await (await LineClient.open(port)).registered(nick) for nick in nicks]


async def test_who_rooms_and_stats(server: ChatServer, port: int) -> None:
    alice, bob = await _clients(port, "alice", "bob")
    await bob.send("/join #side")
    await bob.until("joined #side")
    console = AdminConsole(server)
    who = (await console.run("who")).splitlines()
    assert who[0].split() == ["conn", "nick", "address", "front", "end", "rooms", "outbox", "age"]
    assert any(" alice " in f" {row} " and "127.0.0.1:" in row for row in who[1:])
    side = await console.run("who #side")
    assert "bob" in side
    assert "alice" not in side
    rooms = await console.run("rooms")
    assert "#lobby" in rooms
    assert "#side" in rooms
    stats = dict(line.split(": ") for line in (await console.run("stats")).splitlines())
    assert stats["connections"] == "2"
    assert int(stats["lines_in"]) >= 3
    for client in (alice, bob):
        await client.aclose()


async def test_kick_disconnects_with_the_reason(server: ChatServer, port: int) -> None:
    alice, bob = await _clients(port, "alice", "bob")
    console = AdminConsole(server)
    assert await console.run("kick alice spamming") == "kicked alice"
    rest = await alice.rest()
    await alice.aclose()
    assert "spamming" in rest[-1], rest
    assert "alice left #lobby (kicked by the server: spamming)" in (await bob.until("alice"))[-1]
    with pytest.raises(AdminError, match="nobody is called alice"):
        await console.run("kick alice")
    await bob.aclose()


async def test_ban_cuts_matches_and_bans_every_room(server: ChatServer, port: int) -> None:
    alice, bob = await _clients(port, "alice", "bob")
    await bob.send("/join #side")
    await bob.until("joined #side")
    console = AdminConsole(server)
    answer = await console.run("ban al*@127.0.0.1")
    assert answer.endswith("cut off 1")
    await alice.rest()
    await alice.aclose()
    assert "al*@127.0.0.1" in server.hub.room("#lobby").bans
    again = await LineClient.open(port)
    await again.registered("alice2")
    await again.send("/join #side")
    assert "banned" in (await again.until("banned"))[-1]
    for client in (again, bob):
        await client.aclose()


async def test_say_tells_the_room_as_the_server(server: ChatServer, port: int) -> None:
    (alice,) = await _clients(port, "alice")
    console = AdminConsole(server)
    assert await console.run("say #lobby maintenance at noon") == "told 1 members of #lobby"
    assert "[server] maintenance at noon" in (await alice.until("maintenance"))[-1]
    with pytest.raises(AdminError, match="no room"):
        await console.run("say #nowhere hi")
    await alice.aclose()


async def test_bad_commands_are_errors(server: ChatServer) -> None:
    console = AdminConsole(server)
    for line, message in [
        ("fly", "unknown command"),
        ("kick", "usage"),
        ("ban", "usage"),
        ("say #lobby", "usage"),
        ("reload", "no config file"),
        ("shutdown", "cannot be stopped"),
    ]:
        with pytest.raises(AdminError, match=message):
            await console.run(line)
    assert "who [ROOM]" in await console.run("help")


async def test_shutdown_asks_the_runner_to_stop(server: ChatServer) -> None:
    asked: list[float | None] = []
    console = AdminConsole(server, stop=asked.append)
    assert await console.run("shutdown 2.5") == "shutting down"
    with pytest.raises(AdminError, match="not a number"):
        await console.run("shutdown soon")
    assert asked == [2.5]


async def test_tasks_shows_connections_with_nick_address_outbox_and_age(
    server: ChatServer, port: int
) -> None:
    (alice,) = await _clients(port, "alice")
    tree = task_tree()
    assert "Flusher.run" in tree
    assert "ChatServer._accept_loop  tcp://127.0.0.1:" in tree
    line = next(row for row in tree.splitlines() if "Connection.run" in row)
    assert " alice 127.0.0.1:" in line
    assert "[text] outbox 0 age " in line
    await alice.aclose()


async def test_control_socket_is_private_and_answers_one_command(
    server: ChatServer, port: int, short_tmp: Path, nursery: trio.Nursery
) -> None:
    path = short_tmp / "control.sock"
    await nursery.start(serve_control, AdminConsole(server), parse_endpoint(f"unix:{path}"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    async def ask(line: bytes) -> bytes:
        async with await trio.open_unix_socket(str(path)) as stream:
            await stream.send_all(line)
            answer = b""
            while data := await stream.receive_some():
                answer += data
            return answer

    assert (await ask(b"rooms\n")).startswith(b"room ")
    assert await ask(b"fly\n") == b"error: unknown command 'fly'; try help\n"
    # The server answers and closes with the rest unread: the client may see a reset instead.
    with contextlib.suppress(trio.BrokenResourceError):
        assert (await ask(b"x" * 10_000)).startswith(b"error: a command is at most")
    assert (await ask(b"rooms\n")).startswith(b"room ")
