"""End-to-end tests of the server over real loopback sockets."""

from __future__ import annotations

import math
import re
import socket
import struct

import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from triochat import SLOW_CONSUMER, ChatServer, ServerConfig

CHAT_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] <(?P<nick>[^>]+)> (?P<text>.*)$")


async def test_welcome_names_a_guest_and_explains_commands(port: int) -> None:
    client = await LineClient.open(port)
    welcome = await client.line()
    assert welcome.startswith("*** welcome to triochat, guest-")
    assert "/nick NAME" in welcome
    assert "/quit" in welcome
    await client.aclose()


async def test_three_clients_chat_with_sender_and_time(port: int) -> None:
    alice = await (await LineClient.open(port)).registered("alice")
    bob = await (await LineClient.open(port)).registered("bob")
    carol = await (await LineClient.open(port)).registered("carol")
    await alice.send("hello from alice")
    for client in (alice, bob, carol):  # the sender included, as in the original program
        line = (await client.until("hello from alice"))[-1]
        match = CHAT_LINE.match(line)
        assert match is not None, line
        assert match["nick"] == "alice"
        assert match["text"] == "hello from alice"
    for client in (alice, bob, carol):
        await client.aclose()


async def test_nick_rules(port: int) -> None:
    alice = await (await LineClient.open(port)).registered("alice")
    other = await (await LineClient.open(port)).registered()
    await other.send("/nick ALICE")  # unique regardless of case
    assert "taken" in (await other.until("error"))[-1]
    await other.send("/nick 9lives")
    assert "starts with a letter" in (await other.until("error"))[-1]
    await other.send("/nick")
    assert "usage: /nick NAME [PASSWORD]" in (await other.until("error"))[-1]
    await other.send("/nick bob")
    assert "is now known as bob" in (await alice.until("bob"))[-1]
    await alice.aclose()
    await other.aclose()


@pytest.mark.parametrize("quit_line", ["quit", "/quit", "/quit see you"])
async def test_quit_says_goodbye_and_closes(port: int, quit_line: str) -> None:
    watcher = await (await LineClient.open(port)).registered("watcher")
    leaver = await (await LineClient.open(port)).registered("leaver")
    await leaver.send("last words")
    await leaver.send(quit_line)
    rest = await leaver.rest()
    # Everything said before quitting is delivered before the goodbye.
    assert any(line.endswith("<leaver> last words") for line in rest)
    assert rest[-1].startswith("*** goodbye (quit")
    left = (await watcher.until("left #lobby"))[-1]
    assert "leaver left #lobby (quit" in left
    await watcher.aclose()
    await leaver.aclose()


async def test_help_who_and_unknown_commands(port: int) -> None:
    client = await (await LineClient.open(port)).registered("solo")
    await client.send("/help")
    assert "/nick NAME" in (await client.until("commands:"))[-1]
    await client.send("/who")
    assert (await client.until(" in #lobby:"))[-1] == "*** 1 in #lobby: solo"
    await client.send("/frobnicate")
    assert "unknown command /frobnicate" in (await client.until("error"))[-1]
    await client.send("//not a command")
    assert (await client.until("<solo>"))[-1].endswith("<solo> /not a command")
    await client.aclose()


async def test_crlf_and_blank_lines(port: int) -> None:
    client = await (await LineClient.open(port)).registered("crlf")
    await client.send(b"\r\n\n   \r\nwindows line\r\n")
    line = (await client.until("<crlf>"))[-1]
    assert line.endswith("<crlf> windows line")  # no stray \r, blank lines not broadcast
    await client.aclose()


async def test_overlong_line_is_refused_without_buffering_and_server_goes_on(
    nursery: trio.Nursery,
) -> None:
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(port=0, max_line=100)).serve
    )
    port = server.addresses[0][1]
    client = await (await LineClient.open(port)).registered("big")
    # The error comes before the newline does: the server does not wait to buffer it all.
    await client.send(b"x" * 5000)
    assert "line too long (the limit is 100 bytes)" in (await client.until("error"))[-1]
    await client.send(b"y" * 200_000 + b"\nafter\n")
    assert (await client.until("<big>"))[-1].endswith("<big> after")
    await client.aclose()


async def test_invalid_utf8_gets_an_error_line(port: int) -> None:
    client = await (await LineClient.open(port)).registered("bytes")
    await client.send(b"ok \xff\xfe bad\n")
    assert "not valid UTF-8" in (await client.until("error"))[-1]
    await client.send("still here")
    assert (await client.until("<bytes>"))[-1].endswith("still here")
    await client.aclose()


async def test_escapes_and_control_characters_are_never_relayed(port: int) -> None:
    mallory = await (await LineClient.open(port)).registered("mallory")
    victim = await (await LineClient.open(port)).registered("victim")
    await mallory.send(b"\x1b[2J\x1b]0;pwned\x07hi\x00\x08 \xe2\x80\xaeevil\x1b[0m\rforged\n")
    line = (await victim.until("<mallory>"))[-1]
    assert "\x1b" not in line
    assert "\x00" not in line
    assert "\u202e" not in line
    assert "\r" not in line
    assert line.endswith("<mallory> hi evilforged")
    await mallory.aclose()
    await victim.aclose()


async def test_reset_client_does_not_break_broadcast(port: int, server: ChatServer) -> None:
    # ORIGIN flaw 3: a send to a dead socket raised mid-loop and later clients missed the message.
    clients = [await (await LineClient.open(port)).registered(f"c{i}") for i in range(6)]
    dead = clients[2]
    dead.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await dead.aclose()  # RST, not FIN
    await clients[0].send("after the reset")
    for client in clients[:2] + clients[3:]:
        assert (await client.until("after the reset"))[-1].endswith("<c0> after the reset")
    await eventually(lambda: server.statistics().connections == 5)
    for client in clients[:2] + clients[3:]:
        await client.aclose()


async def test_vanished_client_is_removed(port: int, server: ChatServer) -> None:
    # ORIGIN flaw 1: a client that disappears without "quit" must leave the client table.
    stayer = await (await LineClient.open(port)).registered("stayer")
    ghost = await (await LineClient.open(port)).registered("ghost")
    await ghost.aclose()
    assert (
        "ghost left #lobby (client closed the connection)" in (await stayer.until("ghost left"))[-1]
    )
    assert server.hub.member("ghost") is None
    await eventually(lambda: server.statistics().connections == 1)
    await stayer.aclose()


async def test_never_reading_client_does_not_stall_the_room(nursery: trio.Nursery) -> None:
    # ORIGIN flaw 4: one slow client blocked the broadcast. Here it is cut off once its outbox
    # overflows, with a reason, and the others keep receiving everything.
    # No rate limit here: this test is about the outbox, not about flood control.
    config = ServerConfig(
        port=0,
        outbox_events=64,
        outbox_bytes=64 * 1024,
        history_events=16,
        message_rate=math.inf,
    )
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    sloth = await LineClient.open(port)
    sloth.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sloth.registered("sloth")
    talker = await (await LineClient.open(port)).registered("talker")
    listener = await (await LineClient.open(port)).registered("listener")
    text = "z" * 900
    count = 3000  # ~2.7 MB: far more than the sloth's socket buffers and outbox hold

    notices: list[str] = []

    async def read_all(client: LineClient, seen: list[int]) -> None:
        while seen[0] < count:
            line = await client.line()
            if line.endswith(f"<talker> {text}"):
                seen[0] += 1
            elif "sloth left" in line:
                notices.append(line)

    talker_seen, listener_seen = [0], [0]
    async with trio.open_nursery() as readers:
        readers.start_soon(read_all, talker, talker_seen)
        readers.start_soon(read_all, listener, listener_seen)
        for _ in range(count):
            await talker.send(text)
    assert talker_seen == listener_seen == [count]
    assert server.hub.member("sloth") is None
    await eventually(lambda: server.statistics().connections == 2)
    assert len(notices) == 2  # talker and listener each saw why the sloth left
    assert all(SLOW_CONSUMER in line for line in notices)
    for client in (sloth, talker, listener):
        await client.aclose()


async def test_paste_burst_is_not_a_slow_consumer(nursery: trio.Nursery) -> None:
    # One read carrying thousands of lines must not make healthy members look slow.
    config = ServerConfig(port=0, outbox_events=256, message_rate=math.inf)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    clients = [await (await LineClient.open(port)).registered(f"p{i}") for i in range(3)]
    paste = b"".join(b"line %d\n" % i for i in range(2000))
    await clients[0].send(paste)
    for client in clients:
        lines = await client.until("<p0> line 1999")
        said = [line for line in lines if "<p0> line " in line]
        assert len(said) == 2000
    assert server.statistics().connections == 3
    for client in clients:
        await client.aclose()


async def test_max_clients(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(port=0, max_clients=2)).serve
    )
    port = server.addresses[0][1]
    first = await (await LineClient.open(port)).registered()
    second = await (await LineClient.open(port)).registered()
    third = await LineClient.open(port)
    assert await third.rest() == ["*** error: server full, try again later"]
    assert server.statistics().refused_full == 1
    for client in (first, second, third):
        await client.aclose()


async def test_graceful_shutdown_delivers_queued_then_goodbye(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    clients = [await (await LineClient.open(port)).registered(f"s{i}") for i in range(5)]
    await clients[0].send("before shutdown")
    await clients[1].until("before shutdown")  # the server has accepted and published it
    with trio.fail_after(3):
        await server.shutdown()
    for client in clients:
        rest = await client.rest()
        assert rest[-1] == "*** goodbye (server shutting down)"
        assert all("left #lobby" not in line for line in rest)  # no leave spam on shutdown
    # New connections are refused once the server has stopped.
    with pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream("127.0.0.1", port)
    for client in clients:
        await client.aclose()


async def test_stop_by_cancellation_is_prompt_and_leaves_nothing(port: int) -> None:
    # ORIGIN flaw 6: stop() could not wake threads blocked in accept/readline.
    clients = [await (await LineClient.open(port)).registered() for _ in range(3)]
    # The fixture's nursery is cancelled when the test ends; here we cancel a server of our own.
    async with trio.open_nursery() as nursery:
        own: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
        idle = await LineClient.open(own.addresses[0][1])
        await idle.until("joined")
        nursery.cancel_scope.cancel()
        with trio.fail_after(1):
            await trio.lowlevel.checkpoint()
    assert own.statistics().connections == 0
    assert own.hub.statistics().members == 0
    await idle.rest()
    assert idle.eof
    for client in [*clients, idle]:
        await client.aclose()


async def test_ipv6_loopback(nursery: trio.Nursery) -> None:
    if not socket.has_ipv6:
        pytest.fail("this platform has no IPv6; the test suite expects ::1")
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(host="::1", port=0)).serve
    )
    client = await (await LineClient.open(server.addresses[0][1], host="::1")).registered("six")
    await client.send("over v6")
    assert (await client.until("over v6"))[-1].endswith("<six> over v6")
    await client.aclose()


async def test_many_clients_each_see_every_message_in_one_order(port: int) -> None:
    clients = [await (await LineClient.open(port)).registered(f"m{i}") for i in range(20)]
    async with trio.open_nursery() as nursery:
        for index, client in enumerate(clients[:5]):
            nursery.start_soon(
                client.send, b"".join(b"msg %d-%d\n" % (index, n) for n in range(20))
            )
    views = []
    for client in clients:
        lines: list[str] = []
        while len(lines) < 100:
            line = await client.line()
            if "> msg " in line:
                lines.append(line.split("> ", 1)[1])
        views.append(lines)
    assert all(view == views[0] for view in views)
    for client in clients:
        await client.aclose()
