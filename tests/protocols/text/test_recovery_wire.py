"""Recovery in the JSON format, over real sockets: ``{"cmd":"join","since":{...}}`` gives the
missed events after a ``recovered`` marker, or a ``not-recovered`` marker and the latest history.
"""

from __future__ import annotations

import json
from typing import Any

from tests.protocols.text.test_json_format import JsonClient


async def _position(client: JsonClient, room: str) -> dict[str, Any]:
    """Join *room* and return where the client is in it: its epoch and its own join's seq."""
    await client.send(cmd="join", room=room)
    joined = await client.until(lambda e: e["type"] == "join" and e["room"] == room)
    switch = await client.until(lambda e: e.get("kind") == "switch")
    assert switch["data"]["room"] == room
    return {"epoch": switch["data"]["epoch"], "seq": joined["seq"]}


async def _replay(client: JsonClient, room: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The marker and the events replayed before the client's own join event."""
    marker = await client.until(lambda e: e.get("kind", "").endswith("recovered"))
    events = []
    while (event := await client.event())["type"] != "join":
        events.append(event)
    assert all(event["history"] for event in events)
    return marker, events


async def test_a_reconnecting_client_gets_exactly_what_it_missed(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    bob = await JsonClient.open(port, "bob")
    await _position(alice, "#r")
    await alice.send(cmd="say", room="#r", text="seen")
    # Published before bob joins (two connections: the server may read bob's join first).
    await alice.until(lambda e: e.get("text") == "seen")
    since = await _position(bob, "#r")  # "seen" came in its history, before its join
    await bob.aclose()  # the connection is lost: bob leaves #r
    for number in range(3):
        await alice.send(cmd="say", room="#r", text=f"missed {number}")
    await alice.until(lambda e: e.get("text") == "missed 2")
    bob = await JsonClient.open(port, "bob2")
    await bob.send(cmd="join", room="#r", since=since)
    marker, events = await _replay(bob, "#r")
    assert marker["data"] == {"room": "#r", "count": 3, "epoch": since["epoch"]}
    assert marker["text"] == "rejoined #r: 3 missed events recovered"
    assert [event["text"] for event in events] == ["missed 0", "missed 1", "missed 2"]
    switch = await bob.until(lambda e: e.get("kind") == "switch")
    assert switch["data"] == {"room": "#r", "epoch": since["epoch"]}
    await alice.send(cmd="say", room="#r", text="live")
    live = await bob.until(lambda e: e["type"] == "message")
    assert (live["text"], live["history"]) == ("live", False)
    await alice.aclose()
    await bob.aclose()


async def test_the_room_a_client_is_put_in_on_connecting_is_caught_up_too(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    bob = await JsonClient.open(port, "bob")
    await bob.send(cmd="say", text="hello")
    said = await bob.until(lambda e: e["type"] == "message")
    await bob.send(cmd="join", room="#lobby")  # already in: only says where (and the epoch)
    switch = await bob.until(lambda e: e.get("kind") == "switch")
    since = {"epoch": switch["data"]["epoch"], "seq": said["seq"]}
    await bob.aclose()
    for number in range(2):
        await alice.send(cmd="say", text=f"missed {number}")
    await alice.until(lambda e: e.get("text") == "missed 1")
    bob = await JsonClient.open(port, "bob2")  # in #lobby already, with its latest history
    await bob.send(cmd="join", room="#lobby", since=since)
    marker = await bob.until(lambda e: e.get("kind", "").endswith("recovered"))
    assert marker["kind"] == "recovered"
    assert marker["data"]["count"] == 2
    replayed = [await bob.event(), await bob.event()]
    assert [(e["text"], e["history"]) for e in replayed] == [
        ("missed 0", True),
        ("missed 1", True),
    ]
    assert (await bob.event())["kind"] == "switch"  # and nothing else: no join, no duplicate
    await alice.aclose()
    await bob.aclose()


async def test_another_epoch_is_not_recovered_and_shows_the_latest_history(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    await _position(alice, "#r")
    await alice.send(cmd="say", room="#r", text="latest")
    await alice.until(lambda e: e.get("text") == "latest")  # published before bob joins
    bob = await JsonClient.open(port, "bob")
    await bob.send(cmd="join", room="#r", since={"epoch": "0123456789abcdef", "seq": 1})
    marker, events = await _replay(bob, "#r")
    assert marker["kind"] == "not-recovered"
    assert marker["data"]["reason"] == "restarted"
    assert marker["text"] == (
        "rejoined #r: could not recover what you missed (the room started again); "
        "showing the latest history"
    )
    assert [event["text"] for event in events] == ["latest"]
    await alice.aclose()
    await bob.aclose()


async def test_a_malformed_since_is_refused(port: int) -> None:
    bob = await JsonClient.open(port, "bob")
    for since in ("x", {"seq": 1}, {"epoch": "e", "seq": -1}, {"epoch": "e" * 65, "seq": 1}):
        await bob.lines.send(json.dumps({"cmd": "join", "room": "#r", "since": since}))
        error = await bob.until(lambda e: e.get("kind") == "error")
        assert error["text"].startswith("error: invalid JSON command 'join': \"since\"")
    await bob.aclose()
