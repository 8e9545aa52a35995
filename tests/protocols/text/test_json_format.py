"""The JSON-lines wire format, end to end, and encode-once across formats."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import LineClient
from triochat import BanChanged, Event, Kicked, Notice, OperatorChanged
from triochat.protocols.jsonl import _render
from triochat.protocols.text import _codec

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class JsonClient:
    def __init__(self, lines: LineClient) -> None:
        self.lines = lines

    @classmethod
    async def open(cls, port: int, nick: str) -> JsonClient:
        lines = await (await LineClient.open(port)).registered(nick)
        await lines.send("/format json")
        # Text lines may come first; from the confirmation on, every line is JSON.
        while True:
            line = await lines.line()
            if line.startswith("{"):
                obj = json.loads(line)
                assert obj["kind"] == "format"
                limits = {"rate": 10.0, "burst": 100, "max_line": 4096}  # the server's defaults
                # The room's epoch, where a reconnecting client resumes from (with a seq).
                assert re.fullmatch("[0-9a-f]{16}", obj["data"].pop("epoch"))
                assert obj["data"] == {
                    "format": "json",
                    "nick": nick,
                    "room": "#lobby",
                    "limits": limits,
                }
                return cls(lines)

    async def send(self, **command: Any) -> None:
        await self.lines.send(json.dumps(command))

    async def send_text(self, line: str) -> None:
        await self.lines.send(line)

    async def event(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(await self.lines.line())
        return obj

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            obj = await self.event()
            if predicate(obj):
                return obj

    async def aclose(self) -> None:
        await self.lines.aclose()


async def test_message_event_fields(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    await alice.send(cmd="say", text="hi there")
    event = await alice.until(lambda e: e["type"] == "message")
    assert set(event) == {"type", "room", "seq", "time", "sender", "text", "history"}
    assert event["room"] == "#lobby"
    assert event["sender"] == "alice"
    assert event["text"] == "hi there"
    assert event["history"] is False
    assert isinstance(event["seq"], int)
    assert event["seq"] > 0
    assert ISO_MS.match(event["time"])
    # Plain text lines still work on a JSON connection.
    await alice.send_text("plain line")
    assert (await alice.until(lambda e: e["type"] == "message"))["seq"] == event["seq"] + 1
    await alice.aclose()


async def test_every_command_as_json(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    bob = await JsonClient.open(port, "bob")
    await alice.send(cmd="join", room="#ops")
    joined = await alice.until(lambda e: e["type"] == "join" and e["room"] == "#ops")
    assert (joined["room"], joined["sender"]) == ("#ops", "alice")
    switch = await alice.until(lambda e: e.get("kind") == "switch")
    assert re.fullmatch("[0-9a-f]{16}", switch["data"].pop("epoch"))
    assert switch["data"] == {"room": "#ops"}
    await alice.send(cmd="topic", text="incident 42")
    topic = await alice.until(lambda e: e["type"] == "topic")
    assert (topic["room"], topic["text"]) == ("#ops", "incident 42")
    await alice.send(cmd="me", text="rolls back", room="#lobby")
    action = await bob.until(lambda e: e["type"] == "action")
    assert (action["room"], action["sender"], action["text"]) == ("#lobby", "alice", "rolls back")
    await bob.send(cmd="msg", to="alice", text="need help?")
    private = await alice.until(lambda e: e["type"] == "private")
    assert (private["sender"], private["to"], private["text"]) == ("bob", "alice", "need help?")
    assert (private["room"], private["seq"]) == ("", 0)
    await bob.send(cmd="rooms")
    rooms = await bob.until(lambda e: e.get("kind") == "rooms")
    assert rooms["data"]["rooms"] == [
        {"name": "#lobby", "members": 2, "topic": ""},
        {"name": "#ops", "members": 1, "topic": "incident 42"},
    ]
    await bob.send(cmd="who", room="#ops")
    who = await bob.until(lambda e: e.get("kind") == "who")
    assert who["data"] == {"room": "#ops", "members": ["alice"]}
    await bob.send(cmd="nick", nick="robert")
    nick = await alice.until(lambda e: e["type"] == "nick")
    assert (nick["sender"], nick["new"]) == ("bob", "robert")
    await bob.send(cmd="part", room="#lobby", reason="lunch")
    part = await alice.until(lambda e: e["type"] == "part")
    assert (part["sender"], part["reason"], part["room"]) == ("robert", "lunch", "#lobby")
    await alice.send(cmd="quit", reason="done")
    goodbye = await alice.until(lambda e: e.get("kind") == "goodbye")
    assert goodbye["text"] == "goodbye (quit: done)"
    await alice.aclose()
    await bob.aclose()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("{not json", "invalid JSON command"),
        ('{"cmd": ["say"]}', '"cmd" must name a command'),
        ('{"text": "no cmd"}', '"cmd" must name a command'),
        ('{"cmd": "say"}', '"text" is required'),
        ('{"cmd": "say", "text": 5}', '"text" must be a string'),
        ('{"cmd": "history", "count": true}', '"count" must be a positive integer'),
        ('{"cmd": "fly"}', "unknown command 'fly'"),
    ],
)
async def test_bad_json_commands_get_error_notices(port: int, command: str, message: str) -> None:
    alice = await JsonClient.open(port, "alice")
    await alice.send_text(command)
    error = await alice.until(lambda e: e.get("kind") == "error")
    assert error["error"] is True
    assert message in error["text"]
    await alice.aclose()


async def test_history_is_flagged_and_precedes_own_join(port: int) -> None:
    alice = await JsonClient.open(port, "alice")
    for n in range(3):
        await alice.send(cmd="say", text=f"before {n}")
    await alice.until(lambda e: e.get("text") == "before 2")
    bob = await LineClient.open(port)
    await bob.registered("bob")
    await bob.send("/format json")
    await bob.send("/part #lobby")
    await bob.send('{"cmd": "join", "room": "#lobby"}')
    events: list[dict[str, Any]] = []
    while not (events and events[-1].get("type") == "join" and events[-1]["sender"] == "bob"):
        line = await bob.line()
        if line.startswith("{"):
            events.append(json.loads(line))
    history = [e for e in events if e["history"]]
    assert [e["text"] for e in history] == ["before 0", "before 1", "before 2"]
    assert all(e["type"] == "message" for e in history)
    # The history ends right before bob's own (live) join, whose seq follows the room's last.
    assert events[-1]["seq"] > history[-1]["seq"]
    await alice.aclose()
    await bob.aclose()


async def test_injection_across_formats_is_inert(port: int) -> None:
    text_user = await (await LineClient.open(port)).registered("texter")
    json_user = await JsonClient.open(port, "jsoner")
    forged = '{"type":"message","sender":"admin","text":"obey"}'
    await text_user.send(forged)
    event = await json_user.until(lambda e: e["type"] == "message")
    assert event["sender"] == "texter"
    assert event["text"] == forged  # an ordinary string, escaped inside the real object
    # A JSON command whose text hides a newline and an escape sequence cannot break a text line.
    await json_user.send(cmd="say", text="line one\n[00:00:00] <admin> fake\x1b[2J")
    line = (await text_user.until("<jsoner>"))[-1]
    assert line.endswith("<jsoner> line one[00:00:00] <admin> fake")
    await text_user.aclose()
    await json_user.aclose()


async def test_each_event_is_rendered_once_per_format(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[tuple[str, str]] = Counter()

    def counting(name: str) -> Callable[[Event], bytes]:
        real = _codec.RENDERERS[name]

        def render(event: Event) -> bytes:
            calls[name, getattr(event, "text", "")] += 1
            return real(event)

        return render

    for name in ("text", "json"):
        monkeypatch.setitem(_codec.RENDERERS, name, counting(name))
    texts = [await (await LineClient.open(port)).registered(f"t{i}") for i in range(4)]
    jsons = [await JsonClient.open(port, f"j{i}") for i in range(4)]
    await texts[0].send("shared bytes")
    for each in texts:
        await each.until("shared bytes")
    for json_client in jsons:
        await json_client.until(lambda e: e.get("text") == "shared bytes")
    assert calls["text", "shared bytes"] == 1
    assert calls["json", "shared bytes"] == 1
    for each in texts:
        await each.aclose()
    for json_client in jsons:
        await json_client.aclose()


# ------------------------------------------------------------------------ sans-IO rendering

AT = dt.datetime(2026, 11, 27, 12, 0, 1, 1_999, tzinfo=dt.UTC)
HEAD = {"room": "#ops", "seq": 7, "time": "2026-11-27T12:00:01.001Z", "sender": "op"}


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        (
            Kicked(room="#ops", seq=7, time=AT, sender="op", target="eve", reason="spam"),
            {"type": "kick", "target": "eve", "reason": "spam"},
        ),
        (
            OperatorChanged(room="#ops", seq=7, time=AT, sender="op", target="bob", operator=True),
            {"type": "op", "target": "bob", "operator": True},
        ),
        (
            OperatorChanged(room="#ops", seq=7, time=AT, sender="op", target="bob", operator=False),
            {"type": "op", "target": "bob", "operator": False},
        ),
        (
            BanChanged(room="#ops", seq=7, time=AT, sender="op", mask="eve*", banned=True),
            {"type": "ban", "mask": "eve*", "banned": True},
        ),
        (
            BanChanged(room="#ops", seq=7, time=AT, sender="op", mask="@10.*", banned=False),
            {"type": "ban", "mask": "@10.*", "banned": False},
        ),
    ],
)
def test_render_json_of_moderation_events(event: Event, fields: dict[str, Any]) -> None:
    line = _render.render_json(event)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == {**HEAD, "history": False, **fields}


@pytest.mark.parametrize(
    ("microsecond", "milliseconds"), [(0, "000"), (999, "000"), (1_000, "001"), (999_999, "999")]
)
def test_json_time_truncates_to_milliseconds(microsecond: int, milliseconds: str) -> None:
    event = Notice(text="tick", time=AT.replace(microsecond=microsecond))
    assert json.loads(_render.render_json(event))["time"] == f"2026-11-27T12:00:01.{milliseconds}Z"
