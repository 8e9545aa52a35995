"""Rooms, presence, private messages and history, end to end in the text format."""

from __future__ import annotations

import pytest
import trio

from tests.conftest import LineClient, eventually
from triochat import ChatServer, ServerConfig


async def client(port: int, nick: str) -> LineClient:
    return await (await LineClient.open(port)).registered(nick)


async def test_join_creates_room_and_lines_name_it(port: int, server: ChatServer) -> None:
    alice, bob, carol = [await client(port, nick) for nick in ("alice", "bob", "carol")]
    await alice.send("/join #rust")
    assert (await alice.until("joined #rust"))[-1].endswith("*** alice joined #rust")
    assert (await alice.until("now talking"))[-1] == "*** now talking in #rust"
    await bob.send("/join rust")  # the "#" is optional
    await bob.until("now talking in #rust")
    assert (await alice.until("bob joined"))[-1].endswith("*** bob joined #rust")
    await alice.send("hello rustaceans")
    # Lines from a room other than the lobby carry the room's name.
    assert (await bob.until("hello rustaceans"))[-1].endswith("#rust <alice> hello rustaceans")
    # Carol, in the lobby only, hears nothing of it.
    await carol.send("lobby line")
    lines = await carol.until("lobby line")
    assert not any("rustaceans" in line for line in lines)
    assert lines[-1].endswith("] <carol> lobby line")
    # Alice is in two rooms, and hears the lobby too, named so she can tell it from #rust.
    assert (await alice.until("lobby line"))[-1].endswith("] #lobby <carol> lobby line")
    assert server.hub.find_room("#RUST") is server.hub.find_room("#rust")
    for each in (alice, bob, carol):
        await each.aclose()


async def test_switch_part_and_empty_rooms_disappear(port: int, server: ChatServer) -> None:
    alice = await client(port, "alice")
    await alice.send("/join #a")
    await alice.until("now talking in #a")
    await alice.send("/switch #lobby")
    await alice.until("now talking in #lobby")
    await alice.send("to the lobby")
    # In two rooms, lobby lines name the lobby too (tracker issue 15).
    assert (await alice.until("to the lobby"))[-1].endswith("] #lobby <alice> to the lobby")
    await alice.send("/switch #nowhere")
    assert "there is no room #nowhere" in (await alice.until("error"))[-1]
    await alice.send("/part #a see you")
    assert (await alice.until("you left #a"))[-1] == ("*** you left #a; now talking in #lobby")
    await eventually(lambda: server.hub.find_room("#a") is None)
    await alice.send("/part")
    assert (await alice.until("you left #lobby"))[-1].endswith(
        "you are in no room now; /join #ROOM"
    )
    await alice.send("anyone?")
    assert "you are not in any room" in (await alice.until("error"))[-1]
    assert server.hub.find_room("#lobby") is not None  # the default room stays, even empty
    await alice.aclose()


async def test_rooms_who_and_topic(port: int) -> None:
    alice, bob = await client(port, "alice"), await client(port, "bob")
    await alice.send("/join #dev")
    await alice.until("now talking in #dev")
    await alice.send("/topic shipping v0.2 today")
    assert (await alice.until("topic"))[-1].endswith(
        "*** alice set the topic of #dev: shipping v0.2 today"
    )
    await bob.send("/rooms")
    assert (await bob.until("rooms:"))[-1] == (
        "*** 2 rooms: #dev (1): shipping v0.2 today, #lobby (2)"
    )
    await bob.send("/who #dev")
    assert (await bob.until(" in #dev:"))[-1] == "*** 1 in #dev: alice"
    await bob.send("/join #dev")
    await bob.send("/topic")
    assert (await bob.until("*** topic of #dev"))[-1] == "*** topic of #dev: shipping v0.2 today"
    await bob.send("/topic -")  # "-" clears it
    assert (await bob.until("cleared"))[-1].endswith("*** bob cleared the topic of #dev")
    for each in (alice, bob):
        await each.aclose()


async def test_private_messages(port: int) -> None:
    alice, bob, eve = [await client(port, nick) for nick in ("alice", "bob", "eve")]
    await alice.send("/msg BOB psst")  # nicks match regardless of case
    assert (await bob.until("psst"))[-1].endswith("<alice -> bob> psst")
    assert (await alice.until("psst"))[-1].endswith("<alice -> bob> psst")  # the echo
    await alice.send("/msg nobody hello")
    assert "nobody is called nobody" in (await alice.until("error"))[-1]
    await alice.send("public now")
    lines = await eve.until("public now")
    assert not any("psst" in line for line in lines)
    for each in (alice, bob, eve):
        await each.aclose()


async def test_presence_events(port: int) -> None:
    watcher = await client(port, "watcher")
    actor = await client(port, "actor")
    await actor.send("/me waves")
    assert (await watcher.until("waves"))[-1].endswith("] * actor waves")
    await actor.send("/nick actress")
    assert (await watcher.until("known as"))[-1].endswith("*** actor is now known as actress")
    await actor.send("/quit gone fishing")
    assert (await watcher.until("left"))[-1].endswith(
        "*** actress left #lobby (quit: gone fishing)"
    )
    for each in (watcher, actor):
        await each.aclose()


async def test_history_on_join_then_live_without_gap_or_duplicate(port: int) -> None:
    alice = await client(port, "alice")
    await alice.send("/join #log")
    for n in range(5):
        await alice.send(f"old {n}")
    await alice.until("old 4")
    bob = await LineClient.open(port)
    await bob.registered("bob")
    await bob.send("/join #log")
    lines = await bob.until("bob joined #log")
    assert [line.split("> ")[1] for line in lines if "<alice>" in line] == [
        f"old {n}" for n in range(5)
    ]
    await alice.send("live 0")
    later = await bob.until("live 0")
    assert [line for line in later if "<alice>" in line] == [later[-1]]  # nothing replayed twice
    await bob.send("/history 2")
    replay = await bob.until("end of history")
    assert replay[0] == "*** history of #log: 2 events"
    assert [line.split("> ")[1] for line in replay[1:-1]] == ["old 4", "live 0"]
    for each in (alice, bob):
        await each.aclose()


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/join", "usage: /join #ROOM"),
        ("/join #bad!name", "a room name is '#'"),
        ("/join #" + "x" * 40, "a room name is '#'"),
        ("/msg bob", "usage: /msg NICK TEXT"),
        ("/history 0", "usage: /history [N]"),
        ("/format xml", "usage: /format json|text"),
        ("/part #elsewhere", "you are not in #elsewhere"),
        ("/topic " + "t" * 400, "at most 300 characters"),
    ],
)
async def test_command_errors(port: int, line: str, error: str) -> None:
    alice = await client(port, "alice")
    await alice.send(line)
    assert error in (await alice.until("error"))[-1]
    await alice.send("still fine")
    await alice.until("still fine")
    await alice.aclose()


async def test_room_limits(nursery: trio.Nursery) -> None:
    config = ServerConfig(port=0, max_rooms=3, rooms_per_client=2)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    alice, bob = await client(port, "alice"), await client(port, "bob")
    await alice.send("/join #one")
    await alice.until("now talking in #one")
    await alice.send("/join #two")
    assert "you are already in 2 rooms" in (await alice.until("error"))[-1]
    await bob.send("/join #two")
    await bob.until("now talking in #two")
    await bob.send("/part #lobby")
    await bob.until("you left #lobby")
    await bob.send("/join #three")
    assert "maximum of 3 rooms" in (await bob.until("error"))[-1]
    for each in (alice, bob):
        await each.aclose()
