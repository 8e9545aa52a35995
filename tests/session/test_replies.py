"""What the session answers, exactly: texts, JSON kinds and data, and the log lines it writes.

Programs read the JSON ``kind`` and ``data`` of a notice, people read its text, operators read
the log; each is an interface, so each is pinned down here. Clients are in-memory streams
handed to ``ChatServer.handle_stream`` (on the virtual clock where time matters).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig


class JsonClient:
    """An in-memory client that switched to the JSON format."""

    def __init__(self, client: FakeClient) -> None:
        self.client = client

    @classmethod
    async def connect(
        cls, nursery: trio.Nursery, server: ChatServer, peer: str = "10.0.0.1:1", nick: str = ""
    ) -> JsonClient:
        client = await FakeClient.connect(nursery, server, peer)
        if nick:
            await client.send(f"/nick {nick}")
            await client.until(f"now known as {nick}")
        await client.send("/format json")
        await client.until('"kind":"format"')
        return cls(client)

    async def send(self, line: str) -> None:
        await self.client.send(line)

    async def next(self) -> dict[str, Any]:
        line = await self.client.line()
        assert line is not None, "closed"
        obj: dict[str, Any] = json.loads(line)
        return obj

    async def notice(self, kind: str | None = None) -> dict[str, Any]:
        """The next notice (of *kind*, skipping anything else, if given), as its kind, text,
        error flag and data; the fields every notice has are checked here."""
        while True:
            obj = await self.next()
            if kind is None or obj.get("kind") == kind:
                break
        assert (obj["type"], obj["room"], obj["seq"], obj["sender"]) == ("notice", "", 0, "")
        return {key: obj[key] for key in ("kind", "text", "error", "data") if key in obj}


# -------------------------------------------------------------------------------- history


async def test_history_reply_brackets_the_replay(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    alice = await JsonClient.connect(nursery, server, nick="alice")
    await alice.send("first")
    await alice.send("/history")
    assert await alice.notice("history") == {
        "kind": "history",
        "text": "history of #lobby: 1 event",
        "error": False,
        "data": {"room": "#lobby", "count": 1},
    }
    replayed = await alice.next()
    assert (replayed["type"], replayed["text"], replayed["history"]) == ("message", "first", True)
    assert await alice.notice() == {
        "kind": "history-end",
        "text": "end of history of #lobby",
        "error": False,
        "data": {"room": "#lobby"},
    }
    await alice.send("second")
    await alice.send("/history 5")
    assert await alice.notice("history") == {
        "kind": "history",
        "text": "history of #lobby: 2 events",
        "error": False,
        "data": {"room": "#lobby", "count": 2},
    }
    nursery.cancel_scope.cancel()


# --------------------------------------------------------------------- lists: who and rooms


async def test_renamed_in_no_room_is_told_by_a_notice(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    client = await JsonClient.connect(nursery, server, nick="alice")
    await client.send("/part")
    await client.notice("switch")
    await client.send("/nick alicia")
    assert await client.notice() == {
        "kind": "nick",
        "text": "you are now known as alicia",
        "error": False,
        "data": {"nick": "alicia"},
    }
    nursery.cancel_scope.cancel()


def error(text: str) -> dict[str, Any]:
    return {"kind": "error", "text": f"error: {text}", "error": True}


def switch(text: str, room: str | None) -> dict[str, Any]:
    return {"kind": "switch", "text": text, "error": False, "data": {"room": room}}


async def test_refusals_about_rooms(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    alice = await JsonClient.connect(nursery, server, nick="alice")
    server.hub.room("#elsewhere")
    await alice.send('{"cmd": "say", "room": "#elsewhere", "text": "hi"}')
    assert await alice.notice() == error("you are not in #elsewhere; /join #elsewhere")
    await alice.send('{"cmd": "say", "room": "#nowhere", "text": "hi"}')
    assert await alice.notice() == error("there is no room #nowhere")
    await alice.send("/who #nowhere")
    assert await alice.notice() == error("there is no room #nowhere")
    await alice.send("/switch #elsewhere")
    assert await alice.notice() == error("you are not in #elsewhere; /join #elsewhere")
    await alice.send("/part")
    await alice.notice("switch")
    for line in ("hello?", "/topic", "/history", "/bans", "/kick bob"):
        await alice.send(line)
        assert await alice.notice() == error("you are not in any room; /join #ROOM")
    nursery.cancel_scope.cancel()


async def test_a_line_for_a_named_room_goes_there_not_to_the_current_one(
    nursery: trio.Nursery,
) -> None:
    server = ChatServer(config=ServerConfig())
    alice = await JsonClient.connect(nursery, server, nick="alice")
    await alice.send("/join #ops")  # now the current room
    await alice.notice("switch")
    for command in ("say", "me"):
        await alice.send(json.dumps({"cmd": command, "room": "#lobby", "text": "over there"}))
        event = await alice.next()
        assert (event["room"], event["text"]) == ("#lobby", "over there")
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("idle_timeout", "said"), [(90, "45 s"), (119, "59.5 s"), (120, "1 min"), (600, "5 min")]
)
async def test_ping_says_how_long_in_seconds_or_minutes(
    autojump_clock: trio.testing.MockClock, idle_timeout: float, said: str
) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=idle_timeout))
    async with trio.open_nursery() as nursery:
        client = await JsonClient.connect(nursery, server)
        assert await client.notice("ping") == {
            "kind": "ping",
            "text": f"ping: no complete line for {said}; send any line within {said} "
            "or you will be disconnected",
            "error": False,
        }
        nursery.cancel_scope.cancel()


async def test_an_endless_flood_window_is_said_in_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(message_burst=1, flood_limit=0, flood_window=math.inf)
    server = ChatServer(config=config)
    async with trio.open_nursery() as nursery:
        client = await FakeClient.connect(nursery, server)
        await client.send(b"one\ntwo\n")
        assert (await client.rest())[-1] == (
            "*** error: excess flood: more than 0 lines refused within inf s; disconnecting"
        )


# ------------------------------------------------------------------- passwords and admins


async def test_refusals_about_nicks_and_registration(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    client = await JsonClient.connect(nursery, server)
    await client.send("/nick two words")
    assert await client.notice() == {
        "kind": "error",
        "text": "error: usage: /nick NAME (a nick has no spaces)",
        "error": True,
    }
    await client.send("/register secret99")
    assert (await client.notice())["text"] == ("error: this server does not keep registered nicks")
    nursery.cancel_scope.cancel()


async def test_guest_cannot_register_its_guest_nick(nursery: trio.Nursery, tmp_path: Path) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    client = await JsonClient.connect(nursery, server)
    await client.send("/register secret99")
    assert (await client.notice())["text"] == (
        "error: choose a nick with /nick NAME before registering it"
    )
    nursery.cancel_scope.cancel()


async def test_without_admin_token_admin_is_refused(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    client = await JsonClient.connect(nursery, server)
    await client.send("/admin t0ken")
    assert (await client.notice())["text"] == "error: this server has no admin token"
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------ moderation


async def test_moderation_is_logged(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat.moderation")
    server = ChatServer(config=ServerConfig())
    op = await JsonClient.connect(nursery, server, "10.0.0.1:1", nick="op")
    bob = await JsonClient.connect(nursery, server, "10.0.0.2:1", nick="bob")
    await op.send("/join #club")
    await bob.send("/join #club")
    await bob.notice("switch")
    for line in ("/op bob", "/deop bob", "/ban eve", "/unban eve", "/kick bob bye"):
        await op.send(line)
    await trio.testing.wait_all_tasks_blocked()
    assert [r.getMessage() for r in caplog.records if r.name == "triochat.moderation"] == [
        "op opped bob in #club",
        "op deopped bob in #club",
        "op banned eve in #club",
        "op unbanned eve in #club",
        "op kicked bob from #club (bye)",
    ]
    nursery.cancel_scope.cancel()
