"""triochat.testing: the helpers work as documented, and leave nothing behind."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triochat
from tests.conftest import WAIT
from triochat import ChatServer, ServerConfig
from triochat.testing import connect_to, open_chat_server, open_memory_client, read_until


async def test_open_chat_server_listens_on_a_free_loopback_port() -> None:
    with trio.fail_after(WAIT):
        async with open_chat_server() as server:
            host, port = server.addresses[0][:2]
            assert host == "127.0.0.1"
            assert port != 0
            async with connect_to(server, nick="alice") as alice:
                await read_until(alice, "is now known as alice")
                await alice.send("hello")
                lines = await read_until(alice, "hello")
            assert lines[-1].endswith("<alice> hello")
        # The server is gone with the block: nobody listens on that port any more.
        with pytest.raises(triochat.ConnectionFailed, match="connection refused"):
            async with triochat.connect(host, port):
                pass  # pragma: no cover


async def test_open_chat_server_shares_a_hub_with_your_code() -> None:
    hub = triochat.Hub()
    with trio.fail_after(WAIT), hub.connect("watcher") as watcher:
        hub.room().join(watcher)
        async with open_chat_server(hub=hub) as server, connect_to(server, nick="bob") as bob:
            await bob.send("hi from the network")
            async for event in watcher:
                if isinstance(event, triochat.Message):
                    assert (event.sender, event.text) == ("bob", "hi from the network")
                    break


async def test_open_chat_server_lets_the_body_error_through_unwrapped() -> None:
    with pytest.raises(KeyError, match="from the body"):
        async with open_chat_server():
            raise KeyError("from the body")


async def test_graceful_shutdown_inside_open_chat_server() -> None:
    with trio.fail_after(WAIT):
        async with open_chat_server() as server, connect_to(server) as client:
            await read_until(client, "joined #lobby")
            await server.shutdown()
            lines = await read_until(client, "goodbye")
            assert lines[-1] == "*** goodbye (server shutting down)"


async def test_connect_to_a_server_that_is_not_listening_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not listening"):
        connect_to(ChatServer())


async def test_memory_client_needs_no_listener_and_cleans_up() -> None:
    server = ChatServer()
    with trio.fail_after(WAIT):
        async with open_memory_client(server, nick="alice") as alice:
            await read_until(alice, "is now known as alice")
            assert server.statistics().connections == 1
            assert server.hub.member("alice") is not None
        assert server.statistics().connections == 0
        assert server.hub.member("alice") is None


async def test_two_memory_clients_chat(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer()
    async with (
        open_memory_client(server, nick="alice") as alice,
        open_memory_client(server, nick="bob") as bob,
    ):
        await read_until(bob, "is now known as bob")
        await alice.send("hello, bob")
        lines = await read_until(bob, "hello, bob")
        assert lines[-1].endswith("<alice> hello, bob")


async def test_memory_client_runs_on_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=600))
    start = trio.current_time()
    async with open_memory_client(server) as client:
        lines = await read_until(client, "goodbye", timeout=3600)
    assert any(line.startswith("*** ping:") for line in lines)
    assert lines[-1] == "*** goodbye (idle timeout)"
    # Ten virtual minutes passed, and no real ones: autojump_clock skipped the wait.
    assert trio.current_time() - start == pytest.approx(600)


async def test_read_until_fails_with_the_lines_seen_on_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_memory_client(ChatServer()) as client:
        with pytest.raises(AssertionError, match=r"no line containing 'never' within 5 s: \[.*"):
            await read_until(client, "never", timeout=5)


async def test_read_until_fails_when_the_connection_ends_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_memory_client(ChatServer()) as client:
        await client.quit()
        with pytest.raises(AssertionError, match=r"ended before .*goodbye \(quit\)"):
            await read_until(client, "never")
