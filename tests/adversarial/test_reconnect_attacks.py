"""Attacks on the line client's auto-reconnect: a server that accepts each connection, says
its welcome and closes at once (a crash loop, or on purpose) must not get a reconnection every
second forever: the attempts of ``--reconnect`` count on until a connection has lasted."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from functools import partial
from typing import Any

import attrs
import trio

from tests.client.test_client import cli_environment, real_cli
from tests.conftest import WAIT
from triochat import ChatServer, Event, Joined, Message, Notice, ServerConfig
from triochat.cli._resume import MOST_ROOMS, Resume
from triochat.cli._state import SCROLLBACK, ChatState
from triochat.protocols.jsonl import render_json

NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
_CONFIRMED = re.compile(rb'"kind": ?"format"')


@attrs.define
class FlappingProxy:
    """Forwards each connection to *target* until the server has confirmed the JSON format
    (the client counts as connected), then closes it: a server that falls over each time."""

    target: int
    port: int = 0
    connections: int = 0

    async def serve(self, *, task_status: trio.TaskStatus[FlappingProxy]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            await trio.serve_listeners(self._forward, listeners, handler_nursery=nursery)

    async def _forward(self, client: trio.SocketStream) -> None:
        self.connections += 1
        server = await trio.open_tcp_stream("127.0.0.1", self.target)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(_upstream, client, server)
            seen = b""
            while data := await server.receive_some(65536):
                await client.send_all(data)
                seen = (seen + data)[-4096:]
                if _CONFIRMED.search(seen):
                    break
            nursery.cancel_scope.cancel()


async def _upstream(client: trio.SocketStream, server: trio.SocketStream) -> None:
    try:
        while data := await client.receive_some(65536):
            await server.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_a_server_that_closes_each_connection_at_once_is_not_retried_forever(
    nursery: trio.Nursery,
) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    proxy: FlappingProxy = await nursery.start(FlappingProxy(server.addresses[0][1]).serve)
    err_bytes = bytearray()
    with trio.fail_after(3 * WAIT):  # the waits: about 1 + 2 seconds
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    real_cli(proxy.port, "--nick", "ann", "--reconnect", "2"),
                    stdin=subprocess.PIPE,  # kept open: the client does not leave of itself
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    check=False,
                    env=cli_environment(),
                )
            )
            assert process.stderr is not None
            assert process.stdin is not None
            while chunk := await process.stderr.receive_some(65536):
                err_bytes += chunk
            await process.wait()
            await process.stdin.aclose()
            await process.stderr.aclose()
    err = err_bytes.decode()
    attempts = re.findall(r"reconnecting in \d+ s \((\d+) of 2\)", err)
    assert attempts == ["1", "2"], err
    assert proxy.connections == 3
    assert process.returncode != 0
    assert "connection lost" in err.splitlines()[-1]


def test_events_of_rooms_never_joined_are_not_rejoined_and_memory_stays_bounded() -> None:
    """A server that sends garbage: events and notices naming rooms the client never joined
    (a hundred thousand of them) neither make the client join them on its next connection nor
    grow its memory without bound; an epoch longer than a server takes is not kept."""
    resume = Resume(nick="ann")
    resume.feed(
        '{"type":"notice","room":"","seq":0,"kind":"welcome",'
        '"data":{"nick":"ann","room":"#lobby","epoch":"E"}}'
    )
    resume.feed('{"type":"join","room":"#lobby","seq":4,"sender":"ann","history":false}')
    for number in range(100_000):
        resume.feed(f'{{"type":"message","room":"#x{number}","seq":5,"sender":"z"}}')
        resume.feed(
            f'{{"type":"notice","room":"","seq":0,"kind":"topic",'
            f'"data":{{"room":"#y{number}","epoch":"E"}}}}'
        )
    assert set(resume.rooms) == {"#lobby"}
    resume.feed('{"type":"join","room":"#b","seq":7,"sender":"ann","history":false}')
    resume.feed(
        '{"type":"notice","room":"","seq":0,"kind":"switch","data":{"room":"#b","epoch":"F"}}'
    )
    for number in range(5000):  # switches the server never should send
        resume.feed(
            f'{{"type":"notice","room":"","seq":0,"kind":"switch",'
            f'"data":{{"room":"#s{number}","epoch":"{"e" * 1000}"}}}}'
        )
    assert len(resume.rooms) <= MOST_ROOMS
    assert resume.rooms["#lobby"] == ("E", 4)
    assert resume.rooms["#b"] == ("F", 7)
    assert all(len(epoch or "") <= 64 for epoch, _ in resume.rooms.values())
    assert len(resume.requests()) <= MOST_ROOMS + 1


def test_a_replay_without_end_keeps_the_full_screen_clients_memory_bounded() -> None:
    """A server that says it recovers a billion lines and then sends them: the full-screen
    client keeps only what its scrollback can show, and counts them all."""
    state = ChatState(tz=dt.UTC)
    state.connected(again=False)
    state.feed_line(line_of(notice_of("format", format="json", nick="ann", room="#lobby")))
    state.feed_line(line_of(notice_of("recovered", room="#lobby", count=10**9, epoch="e")))
    replayed = SCROLLBACK * 5
    for seq in range(1, replayed + 1):
        event = Message(room="#lobby", seq=seq, time=NOON, sender="bob", text=f"n{seq}")
        state.feed_line(line_of(event.as_history()))
        window = state.windows["#lobby"]
        assert window.replay is not None
        assert len(window.replay) <= 2 * SCROLLBACK
    # Its own join ends the replay: the last lines are shown (a scrollback's worth).
    state.feed_line(line_of(Joined(room="#lobby", seq=replayed + 1, time=NOON, sender="ann")))
    shown = [rendered.text for rendered in state.windows["#lobby"].lines]
    assert len(shown) == SCROLLBACK
    assert shown[-2:] == [f"12:00 <bob> n{replayed}", "12:00 --> ann joined #lobby"]
    assert shown[0] == f"12:00 <bob> n{replayed - SCROLLBACK + 2}"


def notice_of(kind: str, **data: Any) -> Notice:
    event = Notice(text="", kind=kind, time=NOON)
    event.data.update(data)
    return event


def line_of(event: Event) -> str:
    return render_json(event).decode().rstrip("\n")
