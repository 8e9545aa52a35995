"""An event that cannot be rendered costs that event, never the server (tracker issue 11).

A notice whose data JSON cannot serialise, or an :class:`Event` subclass no renderer knows, is
delivered to a member of a real server; the server logs it once, the member gets a generic
error line instead, and everyone goes on chatting.
"""

from __future__ import annotations

import json
import logging

import attrs
import pytest
import trio

from tests.adversarial.helpers import Healthy
from tests.conftest import LineClient
from triochat import ChatServer, Event, Message, ServerConfig
from triochat.protocols.text._codec import RENDERERS


@attrs.frozen(kw_only=True)
class Unknown(Event):
    """An event type that no renderer was written for."""

    detail: str = "?"


async def _json_client(port: int, nick: str) -> LineClient:
    client = await LineClient.open(port)
    await client.registered(nick)
    await client.send("/format json")
    while not (await client.line()).startswith("{"):
        pass
    return client


async def _json_until(client: LineClient, text: str) -> list[dict[str, object]]:
    """JSON objects received up to the one whose text contains *text*."""
    seen: list[dict[str, object]] = []
    while True:
        obj = json.loads(await client.line())
        seen.append(obj)
        if text in str(obj.get("text", "")):
            return seen


async def test_unserialisable_notice_data_costs_one_event(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="triochat")
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    client = await _json_client(port, "jason")
    member = server.hub.member("jason")
    assert member is not None

    member.notify("bad data", data={"x": object()})
    member.notify("good data", data={"y": 1})
    seen = await _json_until(client, "good data")
    assert [obj["error"] for obj in seen] == [True, False]
    assert "could not be shown" in str(seen[0]["text"])
    assert seen[1]["data"] == {"y": 1}

    await healthy.say(0, "still serving")
    await healthy.everyone_got_everything()
    await client.send(json.dumps({"cmd": "say", "text": "me too"}))
    await _json_until(client, "me too")
    failures = [r for r in caplog.records if "cannot render" in r.getMessage()]
    assert len(failures) == 1
    assert "bad data" in failures[0].getMessage()
    await client.aclose()
    await healthy.aclose()


@pytest.mark.parametrize("wire_format", ["text", "json"])
async def test_an_event_no_renderer_knows_costs_one_event(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, wire_format: str
) -> None:
    caplog.set_level(logging.ERROR, logger="triochat")
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    if wire_format == "json":
        client = await _json_client(port, "odd")
    else:
        client = await (await LineClient.open(port)).registered("odd")
    member = server.hub.member("odd")
    assert member is not None

    strange = Unknown(room="#lobby", sender="nobody")
    # Delivered to two members: rendered (and logged) once per format, however many get it.
    assert member.deliver(strange)
    other = server.hub.member(healthy.nicks[0])
    assert other is not None
    assert other.deliver(strange)
    member.notify("after it")
    lines = await client.until("after it")
    assert "could not be shown" in lines[-2]
    assert "after it" in lines[-1]
    await healthy.readers[0].wait_for_line("could not be shown")

    await healthy.say(1, "still serving")
    await healthy.everyone_got_everything()
    failures = [r for r in caplog.records if "cannot render" in r.getMessage()]
    assert len(failures) == (1 if wire_format == "text" else 2)
    await client.aclose()
    await healthy.aclose()


@attrs.frozen(kw_only=True)
class Shout(Message):
    """A subclass of a known event: rendered as the event it extends, in every format."""


def test_a_subclass_of_a_known_event_renders_as_that_event() -> None:
    shout = Shout(room="#lobby", seq=3, sender="alice", text="HEY")
    assert shout.encode("text", RENDERERS["text"]).endswith(b"<alice> HEY\n")
    assert json.loads(shout.encode("json", RENDERERS["json"]))["type"] == "message"
