"""The welcome tells a client the limits it is held to: rate, burst and longest line."""

from __future__ import annotations

import json
import math

import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig
from triochat.session._auth import Secret


def _serve(nursery: trio.Nursery, server: ChatServer) -> FakeClient:
    """A new in-memory client, from its first line (FakeClient.connect skips the welcome)."""
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(lambda: server.handle_stream(server_end, "fake:1"))
    return FakeClient(client_end, timeout=100)


async def test_the_text_welcome_says_the_limits(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(message_rate=5, message_burst=20, max_line=2048))
    async with trio.open_nursery() as nursery:
        client = _serve(nursery, server)
        welcome = await client.until("welcome to triochat")
        assert welcome.endswith(
            "/quit leaves. Limits: at most 5 lines a second, 20 at once, lines of up to 2048 bytes."
        )
        nursery.cancel_scope.cancel()


async def test_the_json_format_reply_carries_the_limits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(message_rate=math.inf, max_line=1000))
    async with trio.open_nursery() as nursery:
        client = await FakeClient.connect(nursery, server)
        await client.send("/format json")
        reply = json.loads(await client.until('"kind":"format"'))
        assert reply["data"]["limits"] == {"rate": None, "burst": 100, "max_line": 1000}
        nursery.cancel_scope.cancel()


async def test_a_json_welcome_after_the_password_carries_the_limits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(
        config=ServerConfig(password=Secret.from_text("secret"), message_rate=2, message_burst=3)
    )
    async with trio.open_nursery() as nursery:
        client = _serve(nursery, server)
        await client.until("password")
        await client.send(b"/format json\n/pass secret\n")
        welcome = json.loads(await client.until('"kind":"welcome"'))
        assert welcome["data"]["limits"] == {"rate": 2, "burst": 3, "max_line": 4096}
        assert "Limits: at most 2 lines a second, 3 at once" in welcome["text"]
        nursery.cancel_scope.cancel()


async def test_a_reload_welcomes_new_clients_with_the_new_limits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(message_rate=5))
    await server.reconfigure(ServerConfig(message_rate=7))
    async with trio.open_nursery() as nursery:
        client = _serve(nursery, server)
        assert "at most 7 lines a second" in await client.until("welcome to triochat")
        nursery.cancel_scope.cancel()
