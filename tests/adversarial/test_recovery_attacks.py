"""Attacks on reconnect recovery: malformed ``since`` positions in JSON joins, malformed
CHATHISTORY requests over IRC. Every one gets a clear error (a JSON error line, an IRC ``FAIL``
per the IRCv3 chathistory spec), never a crash, and the connection goes on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.irc_client import IrcClient
from tests.protocols.text.test_json_format import JsonClient
from tests.server.test_irc import irc, text
from triochat import ChatServer, ServerConfig
from triochat.protocols.irc import Message as IrcMessage

CAPS = ("message-tags", "batch", "draft/chathistory", "echo-message")


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(listen=["tcp://127.0.0.1:0", "irc://127.0.0.1:0"])


@pytest.fixture
def port(server: ChatServer) -> int:
    return server.endpoints[0].port


@pytest.fixture
def irc_port(server: ChatServer) -> int:
    return server.endpoints[1].port


# ------------------------------------------------------------------------------ JSON since

BAD_SINCE: list[Any] = [
    "41",
    41,
    1.5,
    True,
    [],
    [1, 2],
    {},
    {"epoch": "e"},
    {"seq": 1},
    {"epoch": "e", "seq": "1"},
    {"epoch": "e", "seq": 1.0},
    {"epoch": "e", "seq": True},
    {"epoch": "e", "seq": -1},
    {"epoch": "e", "seq": 10**400},
    {"epoch": "e", "seq": None},
    {"epoch": "e", "seq": {"n": 1}},
    {"epoch": 5, "seq": 1},
    {"epoch": "", "seq": 1},
    {"epoch": "e" * 65, "seq": 1},
    {"epoch": ["e"], "seq": 1},
    {"epoch": None, "seq": 1},
]


@pytest.mark.parametrize("since", BAD_SINCE, ids=lambda since: json.dumps(since)[:40])
async def test_a_malformed_since_gets_one_error_line_and_the_connection_goes_on(
    port: int, since: Any
) -> None:
    alice = await JsonClient.open(port, "alice")
    await alice.send(cmd="join", room="#r", since=since)
    error = await alice.until(lambda e: e.get("kind") in ("error", "switch", "not-recovered"))
    assert error["kind"] == "error", error
    assert error["error"] is True
    assert error["text"].startswith("error: invalid JSON command 'join': \"since\""), error
    # Nothing was joined, and the connection still answers.
    await alice.send(cmd="join", room="#ok")
    switch = await alice.until(lambda e: e.get("kind") == "switch")
    assert switch["data"]["room"] == "#ok"
    await alice.aclose()


async def test_since_with_extra_keys_or_nan_or_huge_numbers_never_crashes(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    lines = [
        # Extra keys are ignored (as in every command); an unknown epoch is "restarted".
        '{"cmd":"join","room":"#a","since":{"epoch":"e","seq":1,"x":{"y":[1]}}}',
        '{"cmd":"join","room":"#b","since":{"epoch":"e","seq":NaN}}',
        '{"cmd":"join","room":"#b","since":{"epoch":"e","seq":1e999}}',
        '{"cmd":"join","room":"#b","since":{"epoch":"e","seq":' + "9" * 4000 + "}}",
        '{"cmd":"join","room":"#b","since":{"epoch":"\\ud800","seq":1}}',
        '{"cmd":"join","room":"#b","since":' + "[" * 2000 + "]" * 2000 + "}",
    ]
    await alice.send_text(lines[0])
    marker = await alice.until(lambda e: e.get("kind") in ("not-recovered", "recovered"))
    assert marker["kind"] == "not-recovered"
    assert marker["data"]["reason"] == "restarted"
    await alice.until(lambda e: e.get("kind") == "switch")
    for line in lines[1:]:
        await alice.send_text(line)
        error = await alice.until(lambda e: e.get("kind") in ("error", "switch"))
        assert error["kind"] == "error", (line[:80], error)
        assert error["text"].startswith("error: invalid JSON command"), (line[:80], error)
    await alice.send(cmd="join", room="#ok")
    assert (await alice.until(lambda e: e.get("kind") == "switch"))["data"]["room"] == "#ok"
    await alice.aclose()


# ------------------------------------------------------------------------------ CHATHISTORY


def _fails(messages: list[IrcMessage]) -> list[tuple[str, ...]]:
    return [m.params for m in messages if m.command == "FAIL"]


async def test_chathistory_of_a_channel_not_joined_is_fail_invalid_target(
    irc_port: int, port: int
) -> None:
    carol = await text(port, "carol", "#elsewhere")
    alice = await irc(irc_port, "alice", *CAPS)
    for subcommand, rest in [
        ("LATEST", "* 10"),
        ("BEFORE", "timestamp=2020-01-01T00:00:00Z 10"),
        ("AFTER", "msgid=abc-1 10"),
        ("BETWEEN", "msgid=abc-1 msgid=abc-9 10"),
    ]:
        for target in ("#nowhere", "#elsewhere"):  # no such channel; one alice is not in
            await alice.send(f"CHATHISTORY {subcommand} {target} {rest}")
            got = await alice.sync()
            assert [m.command for m in got] == ["FAIL"], got
            assert got[0].params[:4] == ("CHATHISTORY", "INVALID_TARGET", subcommand, target)
    await alice.aclose()
    await carol.aclose()


MALFORMED = [
    "CHATHISTORY AFTER #h msgid=garbage 10",
    "CHATHISTORY AFTER #h msgid=abc-99999999999999999999 10",
    "CHATHISTORY AFTER #h msgid=-5 10",
    "CHATHISTORY AFTER #h msgid= 10",
    "CHATHISTORY AFTER #h timestamp=not-a-time 10",
    "CHATHISTORY AFTER #h timestamp= 10",
    "CHATHISTORY BEFORE #h nonsense 10",
    "CHATHISTORY BEFORE #h timestamp=2020-13-01T00:00:00Z 10",
    "CHATHISTORY BEFORE #h timestamp=2020-01-01T00:00:00+99:00 10",
    "CHATHISTORY BEFORE #h timestamp=99999-01-01T00:00:00Z 10",
    "CHATHISTORY BEFORE #h timestamp=2020-01-01TZ 10",
    "CHATHISTORY BEFORE #h timestamp=1e308 10",
    "CHATHISTORY BEFORE #h timestamp=2020-01-01T00:00:00ZZ 10",
    "CHATHISTORY BEFORE #h msgid=١-١ 10",
    "CHATHISTORY LATEST #h * 0",
    "CHATHISTORY LATEST #h * -1",
    "CHATHISTORY LATEST #h * 99999999999999999999",
    "CHATHISTORY LATEST #h * \u0661\u0662",  # Arabic-Indic digits are no IRC integer
    "CHATHISTORY LATEST #h * ten",
    "CHATHISTORY LATEST #h *",
    "CHATHISTORY AFTER #h * 10",
    "CHATHISTORY BETWEEN #h msgid=x-1 10",
    "CHATHISTORY FOO #h * 10",
]


async def test_malformed_chathistory_is_fail_invalid_params_naming_the_subcommand(
    irc_port: int,
) -> None:
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join("#h")
    await alice.sync()
    for line in MALFORMED:
        await alice.send(line)
        got = await alice.sync()
        assert [m.command for m in got] == ["FAIL"], (line, got)
        assert got[0].params[:3] == ("CHATHISTORY", "INVALID_PARAMS", line.split()[1]), line
    await alice.aclose()


async def test_references_far_in_the_past_or_future_give_an_empty_or_whole_batch(
    irc_port: int, port: int
) -> None:
    carol = await text(port, "carol", "#h")
    await carol.send("hello")
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join("#h")
    await alice.sync()
    asks = {
        "AFTER #h timestamp=9999-12-31T23:59:59.999999-23:59 10": [],
        "BEFORE #h timestamp=0001-01-01T00:00:00+23:59 10": [],
        "BEFORE #h timestamp=0001-01-01 10": [],
        "AFTER #h timestamp=0001-01-01T00:00:00+23:59 10": ["hello"],
        "BEFORE #h timestamp=9999-12-31T23:59:59-23:59 10": ["hello"],
        "BETWEEN #h timestamp=0001-01-01T00:00:00+23:59 timestamp=9999-12-31T23:59:59Z 10": [
            "hello"
        ],
        "AFTER #h msgid=0000000000000000-0 10": ["hello"],  # another epoch: the latest
        "BEFORE #h msgid=abc-999999999999999 10": ["hello"],
    }
    for ask, texts in asks.items():
        await alice.send(f"CHATHISTORY {ask}")
        got = await alice.sync()
        assert [m.command for m in got][:: len(got) - 1 or 1] == ["BATCH", "BATCH"], (ask, got)
        assert [m.params[1] for m in got if m.command == "PRIVMSG"] == texts, ask
        assert all("msgid" in m.tags for m in got if m.command == "PRIVMSG")
    await alice.aclose()
    await carol.aclose()


async def test_chathistory_before_registration_is_refused(irc_port: int) -> None:
    client = await IrcClient.open(irc_port)
    await client.send("CHATHISTORY LATEST #h * 10")
    assert (await client.message()).command == "451"
    await client.register("bob", *CAPS)
    await client.aclose()


async def test_a_long_message_split_over_irc_lines_has_one_msgid_per_line(
    server: ChatServer, irc_port: int, port: int
) -> None:
    """IRCv3 message-ids: a msgid is unique. A message too long for one IRC line reaches IRC
    clients as several PRIVMSGs; a client that drops a msgid it has seen (replays, echoes) must
    not lose the pieces after the first. Each piece after the first is ``<msgid>.<n>``, and
    CHATHISTORY takes any piece's msgid as the whole message's."""
    carol = await text(port, "carol", "#h")
    alice = await irc(irc_port, "alice", *CAPS)
    await alice.join("#h")
    await alice.sync()
    await carol.send("x" * 1500)
    await carol.send("after")
    got = (await alice.until("PRIVMSG", "#h", "after"))[:-1]
    pieces = [m for m in got if m.command == "PRIVMSG"]
    assert len(pieces) >= 3
    assert "".join(m.params[1] for m in pieces) == "x" * 1500
    ids = [m.tags["msgid"] for m in pieces]
    assert len(set(ids)) == len(ids)
    room = server.hub.find_room("#h")
    assert room is not None
    first = ids[0]
    assert ids[1:] == [f"{first}.{n}" for n in range(1, len(ids))]
    # Every piece's msgid refers to the message: AFTER any of them gives what followed.
    for msgid in ids:
        await alice.send(f"CHATHISTORY AFTER #h msgid={msgid} 10")
        batch = await alice.sync()
        assert [m.params[1] for m in batch if m.command == "PRIVMSG"] == ["after"], msgid
    # The replay names the pieces the same way.
    await alice.send(f"CHATHISTORY BEFORE #h msgid={first.rpartition('-')[0]}-{room.seq} 10")
    batch = await alice.sync()
    assert [m.tags["msgid"] for m in batch if m.command == "PRIVMSG"] == ids
    await alice.aclose()
    await carol.aclose()


# ------------------------------------------------------------------------------ storms


async def test_a_storm_of_rejoins_is_held_to_flood_control_and_others_chat_on(port: int) -> None:
    """Clients that send recovery request after recovery request, all at once: each is held to
    flood control like any line (its burst, then "slow down"), every reply fits its outbox, and
    someone else in the room still chats meanwhile."""
    alice = await JsonClient.open(port, "alice")
    await alice.send(cmd="join", room="#big")
    switch = await alice.until(lambda e: e.get("kind") == "switch")
    epoch = switch["data"]["epoch"]
    for number in range(40):
        await alice.send(cmd="say", room="#big", text=f"m{number}")
    await alice.until(lambda e: e.get("text") == "m39")
    storm = [await JsonClient.open(port, f"storm{number}") for number in range(8)]
    join = json.dumps({"cmd": "join", "room": "#big", "since": {"epoch": epoch, "seq": 1}})
    for client in storm:
        await client.send_text("\n".join([join] * 150))
    await alice.send(cmd="say", room="#big", text="still here")
    await alice.until(lambda e: e.get("text") == "still here")
    for client in storm:
        markers = 0
        while True:
            event = await client.event()
            if event.get("kind") in ("recovered", "not-recovered"):
                markers += 1
                # The 40 lines, and "still here" for a rejoin read after alice said it.
                assert event["data"]["count"] <= 41
            if event.get("kind") == "error":
                assert event["text"].startswith("error: slow down"), event
                break
        assert 1 <= markers <= 110  # the burst (100 lines), and what refilled meanwhile
        await client.aclose()
    await alice.aclose()
