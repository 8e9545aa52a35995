"""Tests of the client library and of ``triochat connect``, against a small fake server.

The fake server speaks just enough of the protocol for the client: it echoes each line back as
``[00:00:00] <NICK> LINE``, answers ``/nick X`` with ``*** you are now X``, and answers ``/quit``
with ``*** goodbye`` before closing. Everything listens on 127.0.0.1 only, on a port the kernel
picks, and every test is bounded by ``trio.fail_after``. One test at the end also runs the
command against the real server.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Final

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import triochat
from tests.conftest import LineClient
from triochat import (
    Action,
    ChatServer,
    Event,
    Joined,
    Left,
    Message,
    NickChanged,
    Notice,
    Private,
    ServerConfig,
    TopicChanged,
)
from triochat.client._client import (
    MAX_LINE_BYTES,
    ChatClientError,
    ChatConnection,
    ConnectionFailed,
    ConnectionLost,
    NickRefused,
    ProtocolError,
    connect,
)
from triochat.client._decode import parse_event, parse_event_line, parse_time
from triochat.protocols._lines import LineSplitter, LineTooLong
from triochat.protocols.jsonl import render_json

#: Generous for one test on a slow CI machine, and still short enough to notice a hang.
TEST_TIMEOUT: Final = 10
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]

Handler = Callable[[trio.SocketStream], Awaitable[None]]


@attrs.define
class FakeServer:
    """A line server that records what it hears; ``port`` is set once it listens."""

    port: int = 0
    #: Every line received, from every connection, in order.
    heard: list[str] = attrs.field(factory=list)
    connections: int = 0
    #: Set when a connection ends, however it ends.
    finished: trio.Event = attrs.field(factory=trio.Event)

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        nick = f"guest-{self.connections}"
        buffer = b""
        try:
            async with stream:
                while data := await stream.receive_some(65536):
                    buffer += data
                    while b"\n" in buffer:
                        raw, buffer = buffer.split(b"\n", 1)
                        line = raw.decode("utf-8")
                        self.heard.append(line)
                        if line == "quit" or line.partition(" ")[0].lower() == "/quit":
                            await stream.send_all(b"*** goodbye\n")
                            return
                        if line.startswith("/nick "):
                            nick = line.removeprefix("/nick ")
                            await stream.send_all(f"*** you are now {nick}\n".encode())
                        else:
                            await stream.send_all(f"[00:00:00] <{nick}> {line}\n".encode())
        except trio.BrokenResourceError:
            pass  # the client went away without saying goodbye; not the server's problem
        finally:
            self.finished.set()


async def serve(nursery: trio.Nursery, handler: Handler) -> int:
    """Serve *handler* on 127.0.0.1 in *nursery*, and return the port it listens on."""
    listeners: list[trio.SocketListener] = await nursery.start(
        partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    )
    port: int = listeners[0].socket.getsockname()[1]
    return port


@pytest.fixture
async def fake_server(nursery: trio.Nursery) -> FakeServer:
    fake = FakeServer()
    fake.port = await serve(nursery, fake.handle)
    return fake


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def reset(stream: trio.SocketStream) -> None:
    """Close *stream* abortively, so the peer gets a TCP reset instead of a normal end."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


# ---------------------------------------------------------------------------------------------
# The library


async def test_send_and_receive_round_trip(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port) as chat:
            await chat.send("hi there")
            assert await anext(chat) == "[00:00:00] <guest-1> hi there"
            await chat.send("ünïcødé ✓")
            assert await anext(chat) == "[00:00:00] <guest-1> ünïcødé ✓"
        assert fake_server.heard == ["hi there", "ünïcødé ✓"]


async def test_nick_is_sent_first(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect("127.0.0.1", fake_server.port, nick="alice") as chat:
            await chat.send("hello")
            assert await anext(chat) == "*** you are now alice"
            assert await anext(chat) == "[00:00:00] <alice> hello"
        assert fake_server.heard == ["/nick alice", "hello"]


@pytest.mark.parametrize("line", ["two\nlines", "carriage\rreturn", "crlf\r\n", "\n"])
async def test_line_breaks_are_rejected(fake_server: FakeServer, line: str) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port) as chat:
            with pytest.raises(ValueError, match="line break"):
                await chat.send(line)
            with pytest.raises(ValueError, match="line break"):
                await chat.quit(line)
            # Nothing was sent, and the connection is still fine.
            await chat.send("ok")
            assert await anext(chat) == "[00:00:00] <guest-1> ok"
        assert fake_server.heard == ["ok"]


async def test_nick_with_line_break_is_rejected_before_connecting() -> None:
    with trio.fail_after(TEST_TIMEOUT), pytest.raises(ValueError, match="line break"):
        # The port is closed: reaching the network would raise ConnectionFailed instead.
        async with connect(port=closed_port(), nick="eve\n/quit"):
            pytest.fail("the body should not run")


async def test_iteration_ends_when_server_closes(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port) as chat:
            await chat.send("last words")
            await chat.quit("bye now")
            assert [line async for line in chat] == [
                "[00:00:00] <guest-1> last words",
                "*** goodbye",
            ]
            assert chat.closed_reason is None
            # Iterating again after the end stays at the end.
            assert [line async for line in chat] == []
        assert fake_server.heard == ["last words", "/quit bye now"]


async def test_plain_quit_sends_bare_command(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port) as chat:
            await chat.quit()
            assert [line async for line in chat] == ["*** goodbye"]
        assert fake_server.heard == ["/quit"]


async def test_connection_refused() -> None:
    port = closed_port()
    with trio.fail_after(TEST_TIMEOUT):
        with pytest.raises(ConnectionFailed) as info:
            async with connect("127.0.0.1", port):
                pytest.fail("the body should not run")
    exc = info.value
    assert isinstance(exc, ChatClientError)
    assert str(exc) == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert (exc.host, exc.port, exc.reason) == ("127.0.0.1", port, "connection refused")
    # Translated "from None": no OSError chained onto a message that already says it all.
    assert exc.__cause__ is None
    assert exc.__suppress_context__


async def test_connection_is_closed_on_exit(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port):
            pass
        # The server sees the end of the stream, which it only does once we closed it.
        await fake_server.finished.wait()


async def test_connection_is_closed_when_body_raises(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        with pytest.raises(KeyError):
            async with connect(port=fake_server.port):
                raise KeyError("from the body")
        await fake_server.finished.wait()


async def test_overlong_line_from_server(nursery: trio.Nursery) -> None:
    async def flood(stream: trio.SocketStream) -> None:
        # First a line exactly at the limit, which is fine, then one byte too many.
        with trio.move_on_after(TEST_TIMEOUT):
            await stream.send_all(b"x" * MAX_LINE_BYTES + b"\n")
            await stream.send_all(b"y" * (MAX_LINE_BYTES + 1))
            await trio.sleep_forever()

    port = await serve(nursery, flood)
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=port) as chat:
            assert await anext(chat) == "x" * MAX_LINE_BYTES
            with pytest.raises(ChatClientError, match=r"^server sent an overlong line$"):
                await anext(chat)
            # After that the stream cannot be trusted, so nothing more is yielded.
            assert [line async for line in chat] == []
            assert chat.closed_reason == "server sent an overlong line"


async def test_reset_ends_iteration_with_a_reason(nursery: trio.Nursery) -> None:
    async def rude(stream: trio.SocketStream) -> None:
        await stream.send_all(b"one line\n")
        # Wait until the client has read it, so the reset does not discard it in flight.
        assert await stream.receive_some(100) == b"got it\n"
        reset(stream)

    port = await serve(nursery, rude)
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=port) as chat:
            assert await anext(chat) == "one line"
            await chat.send("got it")
            assert [line async for line in chat] == []
            assert chat.closed_reason == "connection reset by peer"


# Over in-memory streams, the bytes on the wire are entirely under the test's control.


async def test_lines_split_across_reads_crlf_and_bad_utf8() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    chat = ChatConnection(client_end)
    with trio.fail_after(TEST_TIMEOUT):
        for chunk in [b"hel", b"lo\r", b"\nwor", b"ld\n\n\xff\xfe ok\n", b"no newline"]:
            await server_end.send_all(chunk)
        await server_end.aclose()
        lines = [line async for line in chat]
    assert lines == ["hello", "world", "", "\N{REPLACEMENT CHARACTER}" * 2 + " ok", "no newline"]
    assert chat.closed_reason is None


async def test_send_on_broken_connection_raises_connection_lost() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    chat = ChatConnection(client_end)
    with trio.fail_after(TEST_TIMEOUT):
        await server_end.aclose()
        with pytest.raises(ConnectionLost, match="connection lost"):
            await chat.send("anyone?")
        await client_end.aclose()
        with pytest.raises(ConnectionLost, match="already closed"):
            await chat.send("anyone?")
        # Receiving from a connection we closed ourselves just ends.
        assert [line async for line in chat] == []


async def test_concurrent_sends_do_not_interleave() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    chat = ChatConnection(client_end)
    lines = [f"message {i} " + "z" * 5000 for i in range(20)]
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for line in lines:
                nursery.start_soon(chat.send, line)
        await client_end.aclose()
        received = ChatConnection(server_end)
        assert sorted([line async for line in received]) == sorted(lines)


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_line_buffer_is_independent_of_chunking(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    # The client's splitter is the protocols' one (LineSplitter), with flush() at the end.
    splitter = LineSplitter(max_line=64)
    out: list[bytes | LineTooLong] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        out += splitter.feed(data[start:cut])
        start = cut
    assert out == [line.removesuffix(b"\r") for line in lines]
    assert splitter.flush() is None


def test_line_buffer_limit() -> None:
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"abcd\nab") == [b"abcd"]
    assert splitter.feed(b"cd") == []
    assert splitter.feed(b"e") == [LineTooLong(4)]  # as soon as it passes the limit
    assert splitter.feed(b"fgh\nok\n") == [b"ok"]  # the rest of it is skipped
    # A finished line over the limit is refused too, even when it arrives in one piece.
    assert splitter.feed(b"abcdefgh\nok\nlast\r") == [LineTooLong(4), b"ok"]
    assert splitter.flush() == b"last"  # a last line without its newline is still a line
    assert splitter.flush() is None


# ---------------------------------------------------------------------------------------------
# Typed events over the JSON format

MOMENT: Final = dt.datetime(2026, 11, 27, 12, 0, 1, 123000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "event",
    [
        Message(room="#lobby", seq=4, time=MOMENT, sender="alice", text="hi"),
        Action(room="#lobby", seq=5, time=MOMENT, sender="alice", text="waves", history=True),
        Joined(room="#bots", seq=1, time=MOMENT, sender="bob"),
        Left(room="#bots", seq=2, time=MOMENT, sender="bob", reason="quit: bye"),
        NickChanged(room="#lobby", seq=6, time=MOMENT, sender="guest-1", new="carol"),
        TopicChanged(room="#lobby", seq=7, time=MOMENT, sender="alice", text="news"),
        Private(time=MOMENT, sender="alice", target="bob", text="psst"),
        Notice(time=MOMENT, text="error: no", error=True, kind="error"),
        Notice(time=MOMENT, text="3 in #lobby: a, b, c", kind="who", data={"members": ["a"]}),
    ],
    ids=lambda event: type(event).__name__,
)
def test_parse_event_reads_back_what_the_server_renders(event: Event) -> None:
    parsed = parse_event_line(render_json(event).decode())
    assert parsed == event  # attrs equality: same class, same fields
    assert parsed.time.tzinfo is dt.UTC
    if isinstance(event, Notice):
        assert isinstance(parsed, Notice)
        assert parsed.data == event.data


def test_parse_time() -> None:
    assert parse_time("2026-11-27T12:00:01.123Z") == MOMENT
    assert parse_time("2026-11-27T13:00:01.123+01:00") == MOMENT
    assert parse_time("2026-11-27T12:00:01.123") == MOMENT  # no offset: UTC
    for bad in ["noon", 12, None]:
        with pytest.raises(ValueError, match="time"):
            parse_time(bad)


@pytest.mark.parametrize(
    ("obj", "complaint"),
    [
        ({"type": "message", "time": "2026-11-27T12:00:01Z"}, '"text" must be a string'),
        ({"time": "2026-11-27T12:00:01Z"}, '"type" must name'),
        ({"type": "join"}, '"time" must be a string'),
        ({"type": "join", "time": "2026-11-27T12:00:01Z", "seq": "1"}, '"seq" must be'),
        ({"type": "join", "time": "2026-11-27T12:00:01Z", "history": 1}, '"history" must be'),
        ({"type": "notice", "time": "2026-11-27T12:00:01Z", "data": []}, '"data" must be'),
    ],
)
def test_parse_event_rejects_what_is_not_an_event(obj: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse_event(obj)


def test_parse_event_ignores_what_it_does_not_know() -> None:
    event = parse_event(
        {"type": "join", "time": "2026-11-27T12:00:01.123Z", "room": "#x", "mood": "happy"}
    )
    assert event == Joined(room="#x", time=MOMENT)
    # A type from a newer server: the common fields, in the base class.
    newer = parse_event(
        {"type": "sparkle", "time": "2026-11-27T12:00:01.123Z", "room": "#x", "seq": 9}
    )
    assert type(newer) is Event
    assert (newer.room, newer.seq, newer.time) == ("#x", 9, MOMENT)


async def test_json_connection_yields_typed_events(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=port, nick="alice", wire_format="json") as alice:
            assert (alice.wire_format, alice.nick, alice.room) == ("json", "alice", "#lobby")
            events = alice.events()
            # The nick change that connect waited for is still there to read.
            renamed = await anext(events)
            assert isinstance(renamed, NickChanged)
            assert (renamed.room, renamed.new) == ("#lobby", "alice")
            await alice.send_command("say", text="hello, ünïcode ✓")
            said = await anext(events)
            assert isinstance(said, Message)
            assert (said.room, said.sender, said.text) == ("#lobby", "alice", "hello, ünïcode ✓")
            assert said.time.tzinfo is dt.UTC
            assert abs(dt.datetime.now(dt.UTC) - said.time) < dt.timedelta(seconds=TEST_TIMEOUT)

            await alice.send_command("join", room="#bots")
            joined = await anext(events)
            assert isinstance(joined, Joined)
            assert (joined.room, joined.sender) == ("#bots", "alice")
            switched = await anext(events)
            assert isinstance(switched, Notice)
            assert switched.kind == "switch"
            assert alice.room == "#bots"
            # Text commands still work on a JSON connection.
            await alice.send("/me waves")
            await alice.send_command("msg", to="alice", text="note to self")
            await alice.send_command("topic", text="bots only")
            await alice.send("/nosuchcommand")
            kinds = [await anext(events) for _ in range(4)]
            assert [type(event) for event in kinds] == [Action, Private, TopicChanged, Notice]
            assert [event.room for event in kinds] == ["#bots", "", "#bots", ""]
            assert isinstance(kinds[3], Notice)
            assert kinds[3].error
            await alice.quit("done")
            rest = [event async for event in events]
        goodbye = rest[-1]
        assert isinstance(goodbye, Notice)
        assert goodbye.kind == "goodbye"
        assert goodbye.data == {"reason": "quit: done"}


async def test_json_events_from_others(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=port, nick="alice", wire_format="json") as alice:
            bob = await (await LineClient.open(port)).registered("bob")
            await bob.send("hi alice")
            await bob.send("/quit later")
            seen: list[Event] = []
            async for event in alice.events():
                seen.append(event)
                if isinstance(event, Left):
                    break
            await bob.aclose()
        said = [e for e in seen if isinstance(e, Message)]
        assert [(e.sender, e.text) for e in said] == [("bob", "hi alice")]
        assert seen[-1] == Left(
            room="#lobby", seq=seen[-1].seq, time=seen[-1].time, sender="bob", reason="quit: later"
        )
        # Joins and the nick change of bob came first, in the room's order.
        seqs = [e.seq for e in seen if e.room == "#lobby"]
        assert seqs == sorted(seqs)
        assert any(isinstance(e, Joined) for e in seen)


async def test_json_history_is_marked(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        bob = await (await LineClient.open(port)).registered("bob")
        await bob.send("earlier")
        await bob.until("<bob> earlier")
        async with connect(port=port, wire_format="json") as alice:
            await alice.send("/history")
            events = alice.events()
            start = await anext(events)
            assert isinstance(start, Notice)
            assert start.kind == "history"
            old = await anext(events)
            assert isinstance(old, Message)
            assert (old.text, old.history) == ("earlier", True)
            end = await anext(events)
            assert isinstance(end, Notice)
            assert end.kind == "history-end"
        await bob.aclose()


async def test_json_connect_refused_nick(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        bob = await (await LineClient.open(port)).registered("bob")
        with pytest.raises(NickRefused) as info:
            async with connect(port=port, nick="BOB", wire_format="json"):
                pytest.fail("the body should not run")
        assert info.value.nick == "BOB"
        assert "taken" in info.value.reason
        assert str(info.value).startswith("the server refused the nick BOB: ")
        with pytest.raises(NickRefused):
            async with connect(port=port, nick="1digit-first", wire_format="json"):
                pytest.fail("the body should not run")
        await bob.aclose()


async def test_json_connect_to_a_server_that_does_not_speak_json(
    fake_server: FakeServer,
) -> None:
    # The fake server echoes "/format json" as a message and never confirms.
    with trio.fail_after(TEST_TIMEOUT):
        with pytest.raises(ConnectionFailed, match=r"did not confirm the JSON format within 0\.5"):
            async with connect(port=fake_server.port, wire_format="json", connect_timeout=0.5):
                pytest.fail("the body should not run")
    assert fake_server.heard == ["/format json"]


async def test_json_connect_to_a_full_server(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(port=0, max_clients=1)).serve
    )
    port = server.addresses[0][1]
    with trio.fail_after(TEST_TIMEOUT):
        first = await (await LineClient.open(port)).registered()
        with pytest.raises(ConnectionFailed) as info:
            async with connect(port=port, wire_format="json"):
                pytest.fail("the body should not run")
        # Either the error line arrived, or the server's close reset the connection first.
        assert "server full" in str(info.value) or "closed the connection" in str(info.value)
        await first.aclose()


async def test_send_command_needs_a_json_connection(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect(port=fake_server.port) as chat:
            with pytest.raises(ChatClientError, match="JSON format"):
                await chat.send_command("say", text="hi")
            await chat.send("ok")
            assert await anext(chat) == "[00:00:00] <guest-1> ok"
        assert fake_server.heard == ["ok"]
    with pytest.raises(ValueError, match="wire_format"):
        async with connect(port=fake_server.port, wire_format="xml"):  # type: ignore[arg-type]
            pytest.fail("the body should not run")


async def test_events_over_a_stream_and_switch_to_json() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    chat = ChatConnection(client_end)
    server = ChatConnection(server_end)
    confirmation = Notice(time=MOMENT, text="format is now json", kind="format")
    confirmation.data.update(format="json", nick="zed", room="#lobby")
    said = Message(room="#lobby", seq=3, time=MOMENT, sender="zed", text="{not a command}")
    with trio.fail_after(TEST_TIMEOUT):
        await server_end.send_all(
            b"*** welcome, in text\n"
            + render_json(confirmation)
            + b"this line is not JSON\n"
            + render_json(said)
        )
        notice = await chat.switch_to_json(timeout=TEST_TIMEOUT)
        assert await anext(server) == "/format json"
        assert notice.kind == "format"
        assert (chat.wire_format, chat.nick, chat.room) == ("json", "zed", "#lobby")
        events = chat.events()
        with pytest.raises(ProtocolError, match="not an event"):
            await anext(events)
        # The bad line is skipped; the next one is read as usual.
        assert await anext(events) == said
        await chat.send_command("say", text="a\nb", room=None)
        assert json.loads(await anext(server)) == {"cmd": "say", "text": "a\nb"}
        await server_end.aclose()
        assert [event async for event in events] == []


def test_public_names() -> None:
    assert triochat.NickRefused is NickRefused
    assert triochat.ProtocolError is ProtocolError
    assert triochat.parse_event is parse_event


# ---------------------------------------------------------------------------------------------
# The ``triochat connect`` command, run as a real process.

# `python -m triochat connect` needs triochat/__main__.py and triochat/cli/_main.py, which were
# written separately (and did not exist when these tests were). So most of these tests drive the
# entry point, run_connect, through `python -c` with the same options `triochat connect` has, and
# do not depend on the rest of the command line; the last two tests run the real command.
RUN_CONNECT: Final = """
import argparse, sys
from triochat.cli._connect import add_connect_arguments, run_connect
parser = argparse.ArgumentParser(prog="triochat connect")
add_connect_arguments(parser)
sys.exit(run_connect(parser.parse_args()))
"""


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", RUN_CONNECT, *args]


def cli_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@attrs.frozen
class PipedCli:
    """A ``triochat connect`` process with its three pipes (see :func:`start_piped_cli`)."""

    process: trio.Process
    stdin: trio.abc.SendStream
    stdout: trio.abc.ReceiveStream
    stderr: trio.abc.ReceiveStream


async def start_piped_cli(nursery: trio.Nursery, args: list[str]) -> PipedCli:
    """Start *args* in *nursery* with stdin, stdout and stderr as pipes the test drives."""
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
            env=cli_environment(),
        )
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    return PipedCli(process, process.stdin, process.stdout, process.stderr)


async def run_cli(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        args,
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=PROJECT_ROOT,
        env=cli_environment(),
    )


async def test_cli_sends_stdin_and_prints_until_goodbye(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        args = cli_command("--raw", "--port", str(fake_server.port))
        result = await run_cli(args, b"hi\n\nsecond line")
    assert result.stderr == b""
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [
        "[00:00:00] <guest-1> hi",
        "[00:00:00] <guest-1> second line",
        "*** goodbye",
    ]
    # The empty line was not sent; end of input became /quit.
    assert fake_server.heard == ["hi", "second line", "/quit"]


async def test_cli_nick_option(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        args = cli_command(
            "--raw", "--host", "127.0.0.1", "--port", str(fake_server.port), "--nick", "bob"
        )
        result = await run_cli(args, b"hi\r\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "*** you are now bob",
        "[00:00:00] <bob> hi",
        "*** goodbye",
    ]
    assert fake_server.heard == ["/nick bob", "hi", "/quit"]


async def test_cli_typed_quit_is_just_sent(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        result = await run_cli(
            cli_command("--raw", "--port", str(fake_server.port)), b"/QUIT see you\nlost\n"
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == ["*** goodbye"]
    # Nothing after the quit command is sent, not even a second /quit at the end of input.
    assert fake_server.heard == ["/QUIT see you"]


async def test_cli_connection_refused() -> None:
    port = closed_port()
    with trio.fail_after(TEST_TIMEOUT):
        result = await run_cli(cli_command("--port", str(port)), b"hi\n")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"triochat: cannot connect to 127.0.0.1:{port}: connection refused\n"
    )


async def test_cli_connection_lost(nursery: trio.Nursery) -> None:
    async def rude(stream: trio.SocketStream) -> None:
        await stream.send_all(b"welcome\n")
        await stream.receive_some(100)
        reset(stream)

    port = await serve(nursery, rude)
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    cli_command("--raw", "--port", str(port)),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                    env=cli_environment(),
                )
            )
            assert process.stdin is not None
            assert process.stdout is not None
            assert process.stderr is not None
            # Wait for the first line before typing, so the reset cannot overtake it.
            assert await process.stdout.receive_some(100) == b"welcome\n"
            await process.stdin.send_all(b"hello?\n")
            stderr = b""
            while chunk := await process.stderr.receive_some(1000):
                stderr += chunk
    assert process.returncode == 1
    assert stderr.decode() == "triochat: connection lost: connection reset by peer\n"


async def test_cli_exits_when_server_closes_while_input_is_open(nursery: trio.Nursery) -> None:
    # Stdin stays open (nobody typed Ctrl-D) while the server ends the session. The thread
    # blocked reading stdin is abandoned, and the process must still exit cleanly.
    async def kicker(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.send_all(b"*** you have been kicked\n")

    port = await serve(nursery, kicker)
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    cli_command("--port", str(port)),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    check=False,
                    env=cli_environment(),
                )
            )
            assert process.stderr is not None
            stderr = b""
            while chunk := await process.stderr.receive_some(1000):
                stderr += chunk
            await process.wait()
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.stderr.aclose()
    # Standard input is a pipe here, and the server ended the session before its end: lines may
    # be lost, so this is not a success (it was exit 0 before pipes were accounted for).
    assert process.returncode == 1
    assert stderr == (
        b"triochat: the server closed the connection before the end of the input: "
        b"you have been kicked\n"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT, which is POSIX")
async def test_cli_ctrl_c_says_goodbye_and_exits_130(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    cli_command("--raw", "--port", str(fake_server.port)),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                    env=cli_environment(),
                )
            )
            assert process.stdin is not None
            assert process.stdout is not None
            assert process.stderr is not None
            # Once a line has made the round trip, the client is connected and listening for
            # SIGINT (it installs its handler before connecting).
            await process.stdin.send_all(b"ready?\n")
            assert await process.stdout.receive_some(100) == b"[00:00:00] <guest-1> ready?\n"
            process.send_signal(signal.SIGINT)
            stderr = b""
            while chunk := await process.stderr.receive_some(1000):
                stderr += chunk
        await fake_server.finished.wait()
    assert process.returncode == 130
    assert stderr == b""  # in particular, no traceback
    assert fake_server.heard == ["ready?", "/quit"]


@pytest.mark.skipif(
    importlib.util.find_spec("triochat.__main__") is None
    or importlib.util.find_spec("triochat.cli._main") is None,
    reason="triochat/__main__.py or triochat/cli/_main.py is not written yet",
)
async def test_python_m_triochat_connect(fake_server: FakeServer) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        port = str(fake_server.port)
        args = [sys.executable, "-m", "triochat", "connect", "--raw", "--port", port]
        result = await run_cli(args, b"hi\n")
    assert result.returncode == 0, result.stderr
    assert b"<guest-1> hi" in result.stdout
    assert fake_server.heard == ["hi", "/quit"]


async def test_cli_against_the_real_server(port: int) -> None:
    # The `port` fixture (tests/conftest.py) runs the real ChatServer; only loose checks here,
    # as its exact wording is tested with the server.
    with trio.fail_after(TEST_TIMEOUT):
        args = [sys.executable, "-m", "triochat", "connect", "--port", str(port), "--nick", "ann"]
        result = await run_cli(args, b"hi\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    assert any(line.endswith("<ann> hi") for line in lines), lines
    assert lines[-1].startswith("*** ")


# ---------------------------------------------------------------------------------------------
# Rendered output (the default): JSON on the wire, lines for people on stdout.

CLOCK = r"\d\d:\d\d"
ESCAPE = re.compile(rb"\x1b")


def real_cli(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "triochat", "connect", "--port", str(port), *args]


async def test_cli_renders_events_in_a_pipe(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        bob = await (await LineClient.open(port)).registered("bob")
        await bob.send("said before you came")
        await bob.until("said before you came")
        stdin = b"hi\n{braces are text}\n/me waves\n/msg bob psst\n/nosuch\n"
        result = await run_cli(real_cli(port), stdin)
        await bob.aclose()
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    # Piped: not one escape sequence, whatever the environment says about colour.
    assert not ESCAPE.search(result.stdout)
    lines = result.stdout.decode().splitlines()
    # The server's text lines are replaced by one welcome; its history comes again, as events.
    assert lines[:4] == [
        "*** you are guest-2, talking in #lobby. /help lists the commands, /quit leaves.",
        "*** history of #lobby: 1 event",
        lines[2],
        "*** end of history of #lobby",
    ]
    assert re.fullmatch(rf"{CLOCK} <bob> said before you came", lines[2])
    patterns = [
        rf"{CLOCK} <guest-2> hi",
        rf"{CLOCK} <guest-2> {{braces are text}}",
        rf"{CLOCK} \* guest-2 waves",
        rf"{CLOCK} \[private\] <guest-2 -> bob> psst",
        r"\*\*\* error: unknown command /nosuch; /help lists the commands",
        r"\*\*\* goodbye \(quit\)",
    ]
    assert len(lines) == 4 + len(patterns), lines
    for pattern, text in zip(patterns, lines[4:], strict=True):
        assert re.fullmatch(pattern, text), (pattern, text)


async def test_cli_renders_without_colour_even_at_no_color_unset(port: int) -> None:
    # NO_COLOR empty means "not set" for no-color.org; a pipe still gets no colour.
    with trio.fail_after(TEST_TIMEOUT):
        result = await trio.run_process(
            real_cli(port),
            stdin=b"hi\n",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=PROJECT_ROOT,
            env={**cli_environment(), "NO_COLOR": "", "TERM": "xterm-256color"},
        )
    assert result.returncode == 0, result.stderr
    assert not ESCAPE.search(result.stdout)
    assert re.search(rf"^{CLOCK} <guest-1> hi$", result.stdout.decode(), re.MULTILINE)


async def test_cli_nick_is_asked_for_after_the_switch(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        result = await run_cli(real_cli(port, "--nick", "ann"), b"hi\n/nick ann2\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("*** you are guest-1, talking in #lobby.")
    assert re.fullmatch(rf"{CLOCK} --- guest-1 is now known as ann", lines[1])
    assert re.fullmatch(rf"{CLOCK} <ann> hi", lines[2])
    assert re.fullmatch(rf"{CLOCK} --- ann is now known as ann2", lines[3])
    assert lines[4:] == ["*** goodbye (quit)"]


async def test_cli_raw_keeps_the_text_format(port: int) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        result = await run_cli(real_cli(port, "--raw", "--nick", "ann"), b"hi\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("*** welcome to triochat, guest-1!")
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] <ann> hi", lines[-2])
    assert lines[-1] == "*** goodbye (quit)"
    assert not any(line.startswith("{") for line in lines)


async def test_cli_rendered_mode_sends_the_switch_first(nursery: trio.Nursery) -> None:
    # A server that greets like triochat but never confirms: what the client sends, in order,
    # and the text lines it printed anyway at the end, since no switch came.
    heard: list[str] = []

    async def greeter(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.send_all(b"*** welcome to triochat, guest-1! (a fake)\n")
            chat = ChatConnection(stream)
            async for line in chat:
                heard.append(line)
                if line == "/quit":
                    await stream.send_all(b"*** goodbye (quit)\n")
                    return

    port = await serve(nursery, greeter)
    with trio.fail_after(TEST_TIMEOUT):
        result = await run_cli(cli_command("--port", str(port), "--nick", "bob"), b"{hi}\n")
    assert result.returncode == 0, result.stderr
    assert heard == [
        "/format json",
        "/nick bob",
        "/history",
        '{"cmd": "say", "text": "{hi}"}',
        "/quit",
    ]
    assert result.stdout.decode().splitlines() == [
        "*** welcome to triochat, guest-1! (a fake)",
        "*** goodbye (quit)",
    ]


async def test_cli_full_server_output(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(port=0, max_clients=1)).serve
    )
    port = server.addresses[0][1]
    with trio.fail_after(TEST_TIMEOUT):
        first = await (await LineClient.open(port)).registered()
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    real_cli(port),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                    env=cli_environment(),
                )
            )
            assert process.stdout is not None
            assert process.stderr is not None
            output = b""
            while chunk := await process.stdout.receive_some(1000):
                output += chunk
            stderr = b""
            while chunk := await process.stderr.receive_some(1000):
                stderr += chunk
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.stdout.aclose()
            await process.stderr.aclose()
        await first.aclose()
    assert output == b"*** error: server full, try again later\n"
    # Not a success: nothing of the input could be sent (this was exit 0 before pipes were
    # accounted for).
    assert process.returncode == 1
    assert stderr == (
        b"triochat: the server closed the connection before the end of the input: "
        b"error: server full, try again later\n"
    )
