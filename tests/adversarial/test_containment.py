"""Isolation boundaries: an unexpected failure in one connection costs that connection only.

Each test injects a bug into one per-connection code path (the session, the input codec, the
output path run by the flusher, the nick store) and checks that the client concerned is told and
disconnected, that everyone else goes on chatting, and that the log carries exactly one traceback
naming the connection.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.conftest import LineClient
from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig


class Injected(RuntimeError):
    """The bug planted by a test."""


async def _crashed(client: LineClient) -> list[str]:
    lines = await client.rest()
    assert any("internal server error" in line for line in lines), lines
    return lines


async def _others_still_chat(port: int) -> None:
    async with trio.open_nursery():
        alice = await (await LineClient.open(port)).registered("alice2")
        bob = await (await LineClient.open(port)).registered("bob2")
        await alice.send("still here")
        await bob.until("<alice2> still here")
        await alice.aclose()
        await bob.aclose()


def _one_traceback(records: list[logging.LogRecord]) -> logging.LogRecord:
    assert len(records) == 1, [record.getMessage() for record in records]
    record = records[0]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Injected)
    assert "connection" in record.getMessage()
    return record


async def test_a_session_bug_costs_one_connection(
    server: ChatServer,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    contained_crashes: list[logging.LogRecord],
) -> None:
    from triochat.session import _session

    original = _session.Session._execute

    async def buggy(self: Any, command: Any) -> Any:
        if type(command).__name__ == "Help":
            raise Injected("session bug")
        return await original(self, command)

    monkeypatch.setattr(_session.Session, "_execute", buggy)
    victim = await (await LineClient.open(port)).registered("victim")
    witness = await (await LineClient.open(port)).registered("witness")
    await victim.send("/help")
    await _crashed(victim)
    await witness.until("victim left #lobby")
    await _others_still_chat(port)
    _one_traceback(contained_crashes)
    await eventually_no_connections(server, 1)
    await witness.aclose()
    await victim.aclose()


async def test_an_input_codec_bug_costs_one_connection(
    server: ChatServer,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    contained_crashes: list[logging.LogRecord],
) -> None:
    from triochat.protocols import _lines

    original = _lines.LineSplitter.feed

    def buggy(self: Any, data: bytes) -> Any:
        if b"POISON" in data:
            raise Injected("codec bug")
        return original(self, data)

    monkeypatch.setattr(_lines.LineSplitter, "feed", buggy)
    victim = await (await LineClient.open(port)).registered("victim")
    await victim.send("POISON")
    await _crashed(victim)
    await _others_still_chat(port)
    _one_traceback(contained_crashes)
    await victim.aclose()


async def test_an_output_bug_in_the_flusher_costs_one_connection(
    server: ChatServer,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    contained_crashes: list[logging.LogRecord],
) -> None:
    # The bug is in the codec's encode, which the flusher calls for each member it writes to.
    from triochat.protocols.text import _codec

    original = _codec.LineCodec.encode

    def buggy(self: Any, events: Any) -> Any:
        member = self._member
        victim = member is not None and member.nick == "victim"
        if victim and any("trigger" in str(getattr(event, "text", "")) for event in events):
            raise Injected("output bug")
        return original(self, events)

    monkeypatch.setattr(_codec.LineCodec, "encode", buggy)
    victim = await (await LineClient.open(port)).registered("victim")
    speaker = await (await LineClient.open(port)).registered("speaker")
    await speaker.send("trigger")
    await speaker.until("<speaker> trigger")
    # The victim's output path failed: it is cut off (it may not even get a last line).
    await victim.rest()
    await speaker.until("victim left #lobby")
    await speaker.send("after")
    await speaker.until("<speaker> after")
    await _others_still_chat(port)
    _one_traceback(contained_crashes)
    await speaker.aclose()
    await victim.aclose()


@pytest.mark.parametrize("config", [ServerConfig(port=0)], ids=["store"])
async def test_a_store_bug_costs_one_connection(
    nursery: trio.Nursery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    contained_crashes: list[logging.LogRecord],
    config: ServerConfig,
) -> None:
    import attrs

    from triochat.session import _nick_store

    async def buggy(self: Any, nick: str) -> Any:
        raise Injected("store bug")

    monkeypatch.setattr(_nick_store.NickStore, "registered_like", buggy)
    config = attrs.evolve(config, data_dir=str(tmp_path))
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    victim = await (await LineClient.open(port)).registered()
    await victim.send("/nick victim")
    await _crashed(victim)
    await _others_still_chat_without_nicks(port)
    _one_traceback(contained_crashes)
    await victim.aclose()


async def _others_still_chat_without_nicks(port: int) -> None:
    alice = await (await LineClient.open(port)).registered()
    bob = await (await LineClient.open(port)).registered()
    await alice.send("still here")
    await bob.until("> still here")
    await alice.aclose()
    await bob.aclose()


async def eventually_no_connections(server: ChatServer, expected: int) -> None:
    from tests.conftest import eventually

    await eventually(lambda: server.statistics().connections == expected)


def test_contained_crashes_are_collected(contained_crashes: list[logging.LogRecord]) -> None:
    """The autouse fixture sees contained crashes (and fails any test that did not ask for them:
    see tests/conftest.py)."""
    logging.getLogger("triochat.server").error(
        "connection 1 failed", extra={"contained_crash": True}
    )
    logging.getLogger("triochat.server").error("an ordinary error line")
    assert [record.getMessage() for record in contained_crashes] == ["connection 1 failed"]


# ----------------------------------------------------------------- handle_stream and serve


async def test_handle_stream_after_serve_has_ended_serves_and_cleans_up() -> None:
    server = ChatServer(config=ServerConfig(port=0))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        nursery.cancel_scope.cancel()
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle_stream, server_end, "late:1")
        client = FakeClient(client_end, timeout=10)
        await client.until("joined #lobby")
        await client.send("/who")
        await client.until("1 in #lobby")
        await client.send("/quit")
        await client.rest()
    assert server.hub.statistics().members == 0
    assert server.statistics().connections == 0


async def test_handle_stream_connections_end_with_serve() -> None:
    """A connection handed to handle_stream while serving ends when serve does: it is never left
    reading with no writer, registered in a server that is gone."""
    server = ChatServer(config=ServerConfig(port=0))
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as outer:
        with trio.CancelScope() as serving:
            async with trio.open_nursery() as inner:
                await inner.start(server.serve)
                outer.start_soon(server.handle_stream, server_end, "fake:1")
                client = FakeClient(client_end, timeout=10)
                await client.until("joined #lobby")
                serving.cancel()
        await client.rest()  # ends: the server is gone
    assert server.hub.statistics().members == 0
    assert server.statistics().connections == 0


def test_batch_encoding_is_never_shared_between_equal_looking_batches() -> None:
    from triochat import Event, Notice
    from triochat.core._events import utc_now
    from triochat.protocols.text._codec import _encode_batch

    # Notice.data does not take part in equality: these two compare equal, but are not the same.
    now = utc_now()
    first: list[Event] = [Notice(text="x", time=now, data={"members": ["alice"]}), Notice(text="y")]
    second: list[Event] = [Notice(text="x", time=now, data={"members": ["mallory"]}), first[1]]
    assert first == second
    assert b"alice" in _encode_batch(first, "json")
    encoded = _encode_batch(second, "json")
    assert b"mallory" in encoded
    assert b"alice" not in encoded
