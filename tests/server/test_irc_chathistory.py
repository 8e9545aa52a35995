"""CHATHISTORY against the IRCv3 chathistory spec, line by line over a raw socket: every
subcommand (LATEST, BEFORE, AFTER, AROUND, BETWEEN, TARGETS), its batch, its FAIL replies, the
advertised maximum, and message IDs that are the same live, echoed, replayed and fetched."""

from __future__ import annotations

import re

import pytest
import trio

from tests.irc_client import IrcClient
from tests.server.test_irc import irc
from triochat import ChatServer, Member, ServerConfig
from triochat.protocols.irc import Message as IrcMessage

CAPS = ("message-tags", "batch", "draft/chathistory", "echo-message", "server-time")


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(listen=["irc://127.0.0.1:0"], history_events=5)


@pytest.fixture
def irc_port(server: ChatServer) -> int:
    return server.endpoints[0].port


async def _said(server: ChatServer, room: str, *lines: str) -> Member:
    """A library member that joins *room* and says *lines* (IRC flood control would slow a
    network client down)."""
    carol = server.hub.connect("carol", max_events=10_000, max_bytes=1 << 30)
    server.hub.join(carol, room)
    for line in lines:
        await carol.say(line, server.hub.room(room))
    return carol


async def _batch(client: IrcClient, kind: str = "chathistory") -> list[IrcMessage]:
    """The next batch of *kind*: its opening BATCH, what it holds, its closing BATCH."""
    opened = (await client.until("BATCH"))[-1]
    assert opened.params[1] == kind
    reference = opened.params[0].removeprefix("+")
    inside = await client.until("BATCH", f"-{reference}")
    assert all(m.tags.get("batch") == reference for m in inside[:-1])
    return [opened, *inside]


def _texts(batch: list[IrcMessage]) -> list[str]:
    return [m.params[1] for m in batch if m.command == "PRIVMSG"]


async def _alice(irc_port: int, room: str = "#h") -> IrcClient:
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join(room)
    return alice


async def test_a_reply_batch_holds_privmsg_only_oldest_first(
    server: ChatServer, irc_port: int
) -> None:
    """Without draft/event-playback a reply batch MUST hold only PRIVMSG and NOTICE: no TOPIC
    (kept in the room's history), no JOIN. The batch names the room, oldest message first."""
    carol = await _said(server, "#h", "one", "two")
    alice = await _alice(irc_port)
    await alice.send("TOPIC #h :a topic")
    await alice.until("TOPIC")
    await alice.send("PRIVMSG #h :three")
    await alice.until("PRIVMSG")
    await alice.send("CHATHISTORY LATEST #H * 5")
    batch = await _batch(alice)
    assert batch[0].params[1:] == ("chathistory", "#h")  # the room's own name
    assert [m.command for m in batch[1:-1]] == ["PRIVMSG"] * 3
    assert _texts(batch) == ["one", "two", "three"]
    times = [m.tags["time"] for m in batch[1:-1]]
    assert times == sorted(times)
    # The topic change between "two" and "three" does not take a place of the limit.
    await alice.send(f"CHATHISTORY AFTER #h msgid={batch[1].tags['msgid']} 2")
    assert _texts(await _batch(alice)) == ["two", "three"]
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_limits_above_the_advertised_maximum_give_that_maximum(
    server: ChatServer, irc_port: int
) -> None:
    carol = await _said(server, "#h", *[f"line {n}" for n in range(8)])
    alice = await IrcClient.open(irc_port)
    welcome = await alice.register("alice", *CAPS)
    tokens = " ".join(" ".join(m.params) for m in welcome)
    assert re.search(r"\bCHATHISTORY=5\b", tokens)
    await alice.join("#h")
    await alice.send("CHATHISTORY LATEST #h * 50")
    assert _texts(await _batch(alice)) == [f"line {n}" for n in range(3, 8)]
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_latest_with_a_reference_gives_the_latest_after_it(
    server: ChatServer, irc_port: int
) -> None:
    carol = await _said(server, "#h", "a", "b", "c", "d")
    alice = await _alice(irc_port)
    await alice.send("CHATHISTORY LATEST #h * 4")
    ids = [m.tags["msgid"] for m in (await _batch(alice))[1:-1]]
    await alice.send(f"CHATHISTORY LATEST #h msgid={ids[0]} 2")
    assert _texts(await _batch(alice)) == ["c", "d"]
    await alice.send(f"CHATHISTORY LATEST #h msgid={ids[1]} 5")
    assert _texts(await _batch(alice)) == ["c", "d"]
    await alice.send(f"CHATHISTORY LATEST #h msgid={ids[3]} 5")
    assert _texts(await _batch(alice)) == []
    await alice.send("CHATHISTORY LATEST #h timestamp=2000-01-01T00:00:00.000Z 3")
    assert _texts(await _batch(alice)) == ["b", "c", "d"]
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_around_a_message_gives_its_neighbours_and_itself(
    server: ChatServer, irc_port: int
) -> None:
    carol = await _said(server, "#h", "a", "b", "c", "d", "e")
    alice = await _alice(irc_port)
    await alice.send("CHATHISTORY LATEST #h * 5")
    replayed = (await _batch(alice))[1:-1]
    ids = [m.tags["msgid"] for m in replayed]
    await alice.send(f"CHATHISTORY AROUND #h msgid={ids[2]} 3")
    assert _texts(await _batch(alice)) == ["b", "c", "d"]
    await alice.send(f"CHATHISTORY AROUND #h msgid={ids[0]} 3")
    assert _texts(await _batch(alice)) == ["a", "b", "c"]
    # Near an end, the other side gives more.
    await alice.send(f"CHATHISTORY AROUND #h msgid={ids[4]} 4")
    assert _texts(await _batch(alice)) == ["b", "c", "d", "e"]
    await alice.send("CHATHISTORY AROUND #h timestamp=2999-01-01T00:00:00.000Z 2")
    assert _texts(await _batch(alice)) == ["d", "e"]
    await alice.send("CHATHISTORY AROUND #h timestamp=2000-01-01T00:00:00.000Z 2")
    assert _texts(await _batch(alice)) == ["a", "b"]
    await alice.send("CHATHISTORY AROUND #h * 3")
    fail = (await alice.until("FAIL"))[-1]
    assert fail.params[:3] == ("CHATHISTORY", "INVALID_PARAMS", "AROUND")
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_targets_lists_the_rooms_with_messages_between_two_times(
    server: ChatServer, irc_port: int
) -> None:
    carol = await _said(server, "#a", "in a")
    alice = await _alice(irc_port, "#a")
    await alice.join("#b")
    await alice.join("#quiet")
    await alice.send("PRIVMSG #b :in b")
    await alice.until("PRIVMSG")
    await _said_more(carol, server, "#a", "again in a")
    await alice.until("PRIVMSG", "#a", "again in a")
    await alice.send(
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
        "timestamp=2999-01-01T00:00:00.000Z 10"
    )
    batch = await _batch(alice, "draft/chathistory-targets")
    assert len(batch[0].params) == 2
    lines = [m.params for m in batch[1:-1]]
    assert [line[:2] for line in lines] == [("TARGETS", "#b"), ("TARGETS", "#a")]
    assert all(m.command == "CHATHISTORY" for m in batch[1:-1])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line[2]) for line in lines)
    assert lines[0][2] <= lines[1][2]
    # From the first time towards the second: the limit counts from the first.
    await alice.send(
        "CHATHISTORY TARGETS timestamp=2999-01-01T00:00:00.000Z "
        "timestamp=2000-01-01T00:00:00.000Z 1"
    )
    batch = await _batch(alice, "draft/chathistory-targets")
    assert [m.params[1] for m in batch[1:-1]] == ["#a"]
    await alice.send(f"CHATHISTORY TARGETS timestamp={lines[1][2]} timestamp={lines[1][2]} 10")
    assert (await _batch(alice, "draft/chathistory-targets"))[1:-1] == []
    await alice.send("CHATHISTORY TARGETS msgid=x-1 timestamp=2999-01-01T00:00:00.000Z 10")
    fail = (await alice.until("FAIL"))[-1]
    assert fail.params[:3] == ("CHATHISTORY", "INVALID_PARAMS", "TARGETS")
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def _said_more(carol: Member, server: ChatServer, room: str, line: str) -> None:
    await carol.say(line, server.hub.room(room))


async def test_fail_replies_name_the_subcommand_and_the_target(irc_port: int) -> None:
    alice = await _alice(irc_port)
    cases = {
        "CHATHISTORY": ("INVALID_PARAMS",),
        "CHATHISTORY LATEST #h": ("INVALID_PARAMS", "LATEST"),
        "CHATHISTORY SIDEWAYS #h * 10": ("INVALID_PARAMS", "SIDEWAYS"),
        "CHATHISTORY BEFORE #h * 10": ("INVALID_PARAMS", "BEFORE"),
        "CHATHISTORY AFTER #h timestamp=yesterday 10": ("INVALID_PARAMS", "AFTER"),
        "CHATHISTORY LATEST #h * none": ("INVALID_PARAMS", "LATEST"),
        "CHATHISTORY LATEST #elsewhere * 10": ("INVALID_TARGET", "LATEST", "#elsewhere"),
        "CHATHISTORY LATEST #nowhere * 10": ("INVALID_TARGET", "LATEST", "#nowhere"),
        "CHATHISTORY LATEST bob * 10": ("INVALID_TARGET", "LATEST", "bob"),
    }
    bob = await irc(irc_port, "bob")
    await bob.join("#elsewhere")
    for line, expected in cases.items():
        await alice.send(line)
        got = (await alice.until("FAIL"))[-1]
        assert got.params[0] == "CHATHISTORY", line
        assert got.params[1 : 1 + len(expected)] == expected, line
        assert not [m for m in await alice.sync() if m.command != "PONG"], line
    await alice.aclose()
    await bob.aclose()


async def test_a_msgid_is_the_same_live_echoed_replayed_and_fetched(
    server: ChatServer, irc_port: int
) -> None:
    carol = await _said(server, "#h")
    alice = await _alice(irc_port)
    bob = await irc(irc_port, "bob", "message-tags", "batch", "server-time")
    await bob.join("#h")
    await alice.send("PRIVMSG #h :hello")
    echoed = (await alice.until("PRIVMSG"))[-1]
    live = (await bob.until("PRIVMSG"))[-1]
    assert echoed.tags["msgid"] == live.tags["msgid"]
    assert echoed.tags["time"] == live.tags["time"]
    dave = await irc(irc_port, "dave", "message-tags", "batch", "server-time")
    await dave.join("#h")
    replayed = [m for m in await _batch(dave) if m.command == "PRIVMSG"]
    assert [(m.tags["msgid"], m.tags["time"]) for m in replayed] == [
        (live.tags["msgid"], live.tags["time"])
    ]
    await alice.send("CHATHISTORY LATEST #h * 1")
    fetched = (await _batch(alice))[1]
    assert (fetched.tags["msgid"], fetched.tags["time"]) == (live.tags["msgid"], live.tags["time"])
    for client in (alice, bob, dave):
        await client.aclose()
    server.hub.disconnect(carol, "done")


async def test_the_msgid_of_a_join_bounds_chathistory_like_a_message(
    server: ChatServer, irc_port: int
) -> None:
    """JOIN and PART are not kept in history, but carry a msgid in the room's numbering: it
    bounds a request where the event was, as any message's would."""
    carol = await _said(server, "#h", "before")
    alice = await _alice(irc_port)
    bob = await irc(irc_port, "bob", "message-tags")
    await bob.join("#h")
    joined = (await alice.until("JOIN"))[-1]
    assert "msgid" in joined.tags
    await _said_more(carol, server, "#h", "after")
    await alice.until("PRIVMSG")
    await alice.send(f"CHATHISTORY AFTER #h msgid={joined.tags['msgid']} 5")
    assert _texts(await _batch(alice)) == ["after"]
    await alice.send(f"CHATHISTORY BEFORE #h msgid={joined.tags['msgid']} 5")
    assert _texts(await _batch(alice)) == ["before"]
    await alice.send(f"CHATHISTORY AROUND #h msgid={joined.tags['msgid']} 2")
    assert _texts(await _batch(alice)) == ["before", "after"]
    await alice.aclose()
    await bob.aclose()
    server.hub.disconnect(carol, "done")


async def test_no_automatic_replay_for_clients_with_draft_chathistory(
    server: ChatServer, irc_port: int
) -> None:
    """With draft/chathistory a client asks for the history it wants, so the server SHOULD NOT
    play it back on joining; without it, the room's history follows the names."""
    carol = await _said(server, "#h", "earlier")
    alice = await _alice(irc_port)
    await alice.send("CHATHISTORY LATEST #h * 5")
    got = await alice.until("BATCH")
    assert [m.command for m in got] == ["BATCH"]
    assert _texts(got + await alice.until("BATCH")) == ["earlier"]
    bob = await irc(irc_port, "bob", "batch")
    await bob.join("#h")
    assert _texts(await _batch(bob)) == ["earlier"]
    await alice.aclose()
    await bob.aclose()
    server.hub.disconnect(carol, "done")


async def test_isupport_denies_client_tags_the_server_drops(irc_port: int) -> None:
    """message-tags without relaying client tags: CLIENTTAGDENY=* says so."""
    alice = await IrcClient.open(irc_port)
    welcome = await alice.register("alice", "message-tags")
    tokens = " ".join(" ".join(m.params) for m in welcome)
    assert re.search(r"\bCLIENTTAGDENY=\*(\s|$)", tokens)
    await alice.aclose()


async def test_a_timestamp_excludes_the_messages_of_its_millisecond(
    server: ChatServer, irc_port: int
) -> None:
    """Clients see times to the millisecond: AFTER the time of the last message seen does not
    give that message again, and BEFORE it does not give it either."""
    carol = await _said(server, "#h", "a", "b", "c")
    alice = await _alice(irc_port)
    await alice.send("CHATHISTORY LATEST #h * 3")
    seen = (await _batch(alice))[1:-1]
    stamp = seen[1].tags["time"]
    await alice.send(f"CHATHISTORY AFTER #h timestamp={stamp} 5")
    after = _texts(await _batch(alice))
    assert after == [m.params[1] for m in seen if m.tags["time"] > stamp]
    await alice.send(f"CHATHISTORY BEFORE #h timestamp={stamp} 5")
    before = _texts(await _batch(alice))
    assert before == [m.params[1] for m in seen if m.tags["time"] < stamp]
    assert "b" not in after + before
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_without_history_draft_chathistory_is_not_offered(
    nursery: trio.Nursery,
) -> None:
    """A server that keeps no history (--history 0, no data directory) cannot answer
    CHATHISTORY, and has no CHATHISTORY= maximum to advertise: it does not offer the capability."""
    config = ServerConfig(listen=["irc://127.0.0.1:0"], history_events=0)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    client = await IrcClient.open(server.endpoints[0].port)
    await client.send("CAP LS 302")
    offered = (await client.until("CAP"))[-1].params[-1].split()
    assert "draft/chathistory" not in offered
    assert "batch" in offered
    await client.aclose()
