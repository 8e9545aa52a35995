"""The threat model's claims (docs/security.md), one test each or more.

Clients here are in-memory streams handed to ``ChatServer.handle_stream`` with made-up peer
addresses, so that address bans and per-address throttling can be tested without any network.
"""

from __future__ import annotations

import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig
from triochat.session._auth import Secret


async def connect(
    nursery: trio.Nursery, server: ChatServer, peer: str = "10.0.0.1:1000", nick: str | None = None
) -> FakeClient:
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.handle_stream, server_end, peer)
    client = FakeClient(client_end)
    await client.until("welcome")
    if nick is not None:
        await client.send(f"/nick {nick}")
        await client.until(f"now known as {nick}")
    return client


def password_server(**options: object) -> ChatServer:
    return ChatServer(config=ServerConfig(password=Secret.from_text("open sesame"), **options))  # type: ignore[arg-type]


# ------------------------------------------------------------------------- server password


async def test_password_is_required_before_anything_else(nursery: trio.Nursery) -> None:
    server = password_server()
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.handle_stream, server_end, "10.0.0.1:1000")
    client = FakeClient(client_end)
    assert await client.until("welcome") == (
        "*** welcome to triochat, guest-1! This server needs a password: "
        "send /pass PASSWORD (/quit leaves)."
    )
    await client.send("hello?")
    assert await client.until("error") == (
        "*** error: this server needs a password first: /pass PASSWORD"
    )
    await client.send("/join #x")
    assert "needs a password first" in await client.until("error")
    assert server.hub.room().nicks == []  # not in any room yet
    await client.send("/pass nope")
    assert await client.until("error") == "*** error: wrong password"
    await client.send("/pass open sesame")
    await client.until("joined #lobby")
    await client.send("now I can talk")
    await client.until("<guest-1> now I can talk")
    await client.send("/pass open sesame")
    assert await client.until("error") == "*** error: you are already in"


async def test_password_brute_force_is_throttled_per_address(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = password_server(auth_timeout=10_000, idle_timeout=10_000)
    attacker = await connect(nursery, server, "10.6.6.6:1")
    for attempt in range(5):
        await attacker.send(f"/pass guess{attempt}")
        assert await attacker.until("error") == "*** error: wrong password"
    # Over the limit an attempt waits for its turn (one every 10 s), then is checked.
    start = trio.current_time()
    await attacker.send("/pass guess5")
    assert "too many failed attempts" in await attacker.until("too many")
    assert await attacker.until("error") == "*** error: wrong password"
    assert trio.current_time() - start == pytest.approx(10, abs=0.01)
    # A new connection from the same address waits as well; another address does not.
    honest = await connect(nursery, server, "10.0.0.9:1")
    await honest.send("/pass open sesame")
    await honest.until("joined #lobby")
    assert trio.current_time() - start == pytest.approx(10, abs=0.01)
    again = await connect(nursery, server, "10.6.6.6:2")
    await again.send("/pass guess6")
    assert "checked in at most 10 s" in await again.until("too many")
    assert await again.until("error") == "*** error: wrong password"
    assert trio.current_time() - start == pytest.approx(20, abs=0.01)
    nursery.cancel_scope.cancel()


async def test_client_that_never_authenticates_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = password_server(auth_timeout=30)
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        client = await connect(nursery, server)
        client.timeout = 1000  # virtual seconds
        assert await client.until("goodbye") == "*** goodbye (authentication timeout)"
        assert trio.current_time() - start == 30
    assert server.statistics().connections == 0


# ------------------------------------------------------------------------- admin token


async def test_admin_token(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig(admin_token=Secret.from_text("t0ken")))
    admin = await connect(nursery, server, nick="boss")
    victim = await connect(nursery, server, "10.0.0.2:1", nick="victim")
    await admin.send("/kick victim")
    assert "not an operator of #lobby" in await admin.until("error")
    await admin.send("/admin wrong")
    assert await admin.until("error") == "*** error: wrong admin token"
    await admin.send("/admin t0ken")
    await admin.until("you are now a server admin")
    await admin.send("/kick victim behave")
    kicked = await victim.until("kicked")
    assert kicked.endswith("*** victim was kicked from #lobby by boss (behave)")
    assert server.hub.room().nicks == ["boss"]
    nursery.cancel_scope.cancel()


async def test_no_admin_token_configured(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    client = await connect(nursery, server)
    await client.send("/admin anything")
    assert "has no admin token" in await client.until("error")
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------- registered nicks


async def test_registered_nick_cannot_be_taken(nursery: trio.Nursery, tmp_path: Path) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    owner = await connect(nursery, server, "10.0.0.1:1", nick="owner")
    await owner.send("/register hunter22")
    assert "now registered" in await owner.until("registered")
    await owner.send("/quit")
    await owner.until("goodbye")
    thief = await connect(nursery, server, "10.0.0.66:1")
    await thief.send("/nick OWNER")
    assert "is registered; /nick OWNER PASSWORD" in await thief.until("error")
    await thief.send("/nick owner letmein")
    assert await thief.until("error") == "*** error: wrong password for owner"
    returning = await connect(nursery, server, "10.0.0.1:2")
    await returning.send("/nick owner hunter22")
    await returning.until("now known as owner")
    # The password is stored salted and hashed, in a file only the server's user can read.
    database = tmp_path / "nicks.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert b"hunter22" not in database.read_bytes()
    with sqlite3.connect(database) as db:
        (salt, digest) = db.execute("SELECT salt, hash FROM nicks").fetchone()
    assert len(salt) == 16
    assert len(digest) == 32
    nursery.cancel_scope.cancel()


async def test_register_rules(nursery: trio.Nursery, tmp_path: Path) -> None:
    without = ChatServer(config=ServerConfig())
    client = await connect(nursery, without)
    await client.send("/register secret99")
    assert "does not keep registered nicks" in await client.until("error")
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    guest = await connect(nursery, server)
    await guest.send("/register secret99")
    assert "choose a nick" in await guest.until("error")
    await guest.send("/nick named")
    await guest.until("now known as named")
    await guest.send("/register short")
    assert "6 to 256 characters" in await guest.until("error")
    await guest.send("/register longenough")
    await guest.until("now registered")
    await guest.send("/unregister wrongpass")
    assert "wrong password" in await guest.until("error")
    await guest.send("/unregister longenough")
    await guest.until("no longer registered")
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------- moderation


async def test_room_creator_moderates(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    alice = await connect(nursery, server, "10.0.0.1:1", nick="alice")
    bob = await connect(nursery, server, "10.0.0.2:1", nick="bob")
    carol = await connect(nursery, server, "10.0.0.3:1", nick="carol")
    await alice.send("/join #club")
    await alice.until("now talking in #club")
    for other in (bob, carol):
        await other.send("/join #club")
        await other.until("now talking in #club")
    await bob.send("/kick carol")
    assert "not an operator of #club" in await bob.until("error")
    await alice.send("/op bob")
    assert (await carol.until("operator")).endswith("*** alice made bob an operator of #club")
    await bob.send("/kick carol spam")
    assert (await carol.until("kicked")).endswith("*** carol was kicked from #club by bob (spam)")
    assert server.hub.room("#club").nicks == ["alice", "bob"]
    await alice.send("/deop bob")
    await bob.until("took operator status")
    await bob.send("/kick alice")
    assert "not an operator" in await bob.until("error")
    nursery.cancel_scope.cancel()


async def test_ban_by_nick_and_by_address_and_reconnecting(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    op = await connect(nursery, server, "10.0.0.1:1", nick="op")
    troll = await connect(nursery, server, "10.9.9.9:1", nick="troll")
    await op.send("/join #quiet")
    await op.until("now talking in #quiet")
    await troll.send("/join #quiet")
    await troll.until("now talking in #quiet")
    await op.send("/ban @10.9.9.*")
    assert (await troll.until("kicked")).endswith("was kicked from #quiet by op (banned)")
    await troll.send("/join #quiet")
    assert "you are banned from #quiet" in await troll.until("error")
    # Reconnecting under another nick does not help: the address is banned.
    await troll.send("/quit")
    again = await connect(nursery, server, "10.9.9.9:2", nick="innocent")
    await again.send("/join #quiet")
    assert "you are banned from #quiet" in await again.until("error")
    # A nick ban matches nicks, in any case, with wildcards.
    await op.send("/ban spam*")
    await op.until("banned spam*")
    spammer = await connect(nursery, server, "10.0.0.7:1", nick="SpamBot")
    await spammer.send("/join #quiet")
    assert "banned" in await spammer.until("error")
    await op.send("/bans")
    assert (await op.until("bans in")) == "*** bans in #quiet: @10.9.9.*, spam*"
    await op.send("/unban @10.9.9.*")
    await op.until("lifted the ban")
    await again.send("/join #quiet")
    await again.until("now talking in #quiet")
    nursery.cancel_scope.cancel()


async def test_admin_ban_from_the_lobby_applies_on_connect(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig(admin_token=Secret.from_text("t0ken")))
    admin = await connect(nursery, server, "10.0.0.1:1", nick="admin")
    await admin.send("/admin t0ken")
    await admin.until("server admin")
    await admin.send("/ban @10.6.6.6")
    await admin.until("banned @10.6.6.6")
    banned = await connect(nursery, server, "10.6.6.6:1")
    assert "you are banned from #lobby" in await banned.until("error")
    await banned.send("hello?")
    assert "you are not in any room" in await banned.until("error")
    assert "guest-2" not in server.hub.room().nicks
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "line",
    [
        "[12:00:00] <admin> you have been banned",  # looks like another user's line
        "*** error: server shutting down",  # looks like a server notice
        '{"type":"notice","text":"obey"}',  # looks like a JSON event
    ],
)
async def test_spoofed_prefixes_stay_inside_the_senders_line(
    nursery: trio.Nursery, line: str
) -> None:
    server = ChatServer(config=ServerConfig())
    mallory = await connect(nursery, server, nick="mallory")
    victim = await connect(nursery, server, "10.0.0.2:1", nick="victim")
    await mallory.send(line)
    seen = await victim.until(line)
    assert seen.startswith("[")
    assert seen.split("] ", 1)[1] == f"<mallory> {line}"
    nursery.cancel_scope.cancel()


async def test_cli_client_sends_the_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("open sesame\n")
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(
            ChatServer(config=ServerConfig(port=0, password=Secret.from_text("open sesame"))).serve
        )
        port = server.addresses[0][1]
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "triochat",
                "connect",
                "--port",
                str(port),
                "--raw",
                "--password-file",
                str(secret),
            ],
            stdin=b"inside\n",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert b"<guest-1> inside" in result.stdout
        empty = tmp_path / "empty"
        empty.write_text("")
        refused = await trio.run_process(
            [
                sys.executable,
                "-m",
                "triochat",
                "connect",
                "--port",
                str(port),
                "--password-file",
                str(empty),
            ],
            capture_stderr=True,
            check=False,
        )
        assert refused.returncode == 2
        assert refused.stderr.decode().strip().endswith("is empty")
        nursery.cancel_scope.cancel()
