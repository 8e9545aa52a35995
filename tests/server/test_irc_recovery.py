"""IRC clients catching up: a ``msgid`` tag (the room's epoch and the event's seq) on room events
for clients that enabled message-tags, and CHATHISTORY AFTER and BETWEEN with ``msgid=``."""

from __future__ import annotations

import re

import pytest

from tests.irc_client import IrcClient
from tests.server.test_irc import irc, text
from triochat import ChatServer, ServerConfig
from triochat.protocols.irc import Message as IrcMessage


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(listen=["irc://127.0.0.1:0", "tcp://127.0.0.1:0"])


@pytest.fixture
def irc_port(server: ChatServer) -> int:
    return server.endpoints[0].port


@pytest.fixture
def text_port(server: ChatServer) -> int:
    return server.endpoints[1].port


CAPS = ("message-tags", "batch", "draft/chathistory", "echo-message")


def _history(messages: list[IrcMessage]) -> list[str]:
    return [m.params[1] for m in messages if m.command == "PRIVMSG"]


async def _batch(client: IrcClient) -> list[IrcMessage]:
    """The next chathistory batch: its opening BATCH, what it holds, its closing BATCH."""
    opened = (await client.until("BATCH"))[-1]
    assert opened.params[1:3] == ("chathistory", "#h")
    return [opened, *await client.until("BATCH")]


async def test_messages_carry_a_msgid_and_chathistory_after_fetches_what_was_missed(
    server: ChatServer, irc_port: int, text_port: int
) -> None:
    carol = await text(text_port, "carol", "#h")
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join("#h")
    await carol.send("seen")
    seen = (await alice.until("PRIVMSG"))[-1]
    room = server.hub.find_room("#h")
    assert room is not None
    assert seen.tags["msgid"] == f"{room.log.epoch}-{room.seq}"
    for number in range(3):
        await carol.send(f"missed {number}")
        await alice.until("PRIVMSG")  # it got them live, but say its client lost them
    await alice.send(f"CHATHISTORY AFTER #h msgid={seen.tags['msgid']} 10")
    batch = await _batch(alice)
    assert batch[0].params[1:] == ("chathistory", "#h")
    replayed = [m for m in batch if m.command == "PRIVMSG"]
    assert [m.params[1] for m in replayed] == ["missed 0", "missed 1", "missed 2"]
    seqs = [int(m.tags["msgid"].rpartition("-")[2]) for m in replayed]
    assert seqs == sorted(seqs)
    assert seqs[0] > int(seen.tags["msgid"].rpartition("-")[2])
    # The first N after it, when more were missed.
    await alice.send(f"CHATHISTORY AFTER #h msgid={seen.tags['msgid']} 2")
    assert _history(await _batch(alice)) == ["missed 0", "missed 1"]
    # BETWEEN two messages, either way round: only what lies between them.
    first, last = replayed[0].tags["msgid"], replayed[2].tags["msgid"]
    await alice.send(f"CHATHISTORY BETWEEN #h msgid={first} msgid={last} 10")
    assert _history(await _batch(alice)) == ["missed 1"]
    await alice.send(f"CHATHISTORY BETWEEN #h msgid={last} msgid={seen.tags['msgid']} 10")
    assert _history(await _batch(alice)) == ["missed 0", "missed 1"]
    await alice.aclose()
    await carol.aclose()


async def test_a_msgid_of_another_epoch_gives_the_latest_history(
    irc_port: int, text_port: int
) -> None:
    carol = await text(text_port, "carol", "#h")
    await carol.send("latest")
    await carol.until("latest")
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join("#h")
    await alice.send("CHATHISTORY AFTER #h msgid=0123456789abcdef-1 10")
    assert _history(await _batch(alice)) == ["latest"]
    await alice.aclose()
    await carol.aclose()


async def test_msgid_needs_message_tags_and_isupport_says_how_to_refer(irc_port: int) -> None:
    plain = await IrcClient.open(irc_port)
    welcome = await plain.register("plain", "batch", "draft/chathistory")
    tokens = " ".join(" ".join(m.params) for m in welcome)
    assert re.search(r"\bMSGREFTYPES=msgid,timestamp\b", tokens)
    await plain.join("#h")
    await plain.send("PRIVMSG #h :hi")
    bob = await irc(irc_port, "bob")
    await bob.join("#h")
    await plain.send("PRIVMSG #h :again")
    said = (await bob.until("PRIVMSG"))[-1]
    assert "msgid" not in said.tags
    await plain.send("CHATHISTORY AFTER #h msgid=nonsense 10")
    assert (await plain.until("FAIL"))[-1].params[:2] == ("CHATHISTORY", "INVALID_PARAMS")
    await plain.aclose()
    await bob.aclose()
