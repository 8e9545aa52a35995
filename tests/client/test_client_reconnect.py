"""``triochat connect`` in line mode reconnects after a lost connection and resumes each room:
exactly the lines said meanwhile, or a clear "could not recover" (on stderr too, in a pipe).

The connection is cut by a proxy the test controls, between the client and a real server on
127.0.0.1; a second server behind the same proxy stands for a restarted one (another epoch).
"""

from __future__ import annotations

import re

import attrs
import trio

from tests.client.test_client import real_cli, start_piped_cli
from tests.conftest import WAIT, LineClient
from triochat import ChatServer, ServerConfig
from triochat.cli._reconnect import BACKOFF_MOST, backoff
from triochat.cli._resume import Resume


@attrs.define
class CuttingProxy:
    """Forwards loopback connections to *target*; :meth:`cut` closes every one of them."""

    target: int
    port: int = 0
    _scopes: list[trio.CancelScope] = attrs.field(factory=list)

    async def serve(self, *, task_status: trio.TaskStatus[CuttingProxy]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            await trio.serve_listeners(self._forward, listeners, handler_nursery=nursery)

    async def _forward(self, client: trio.SocketStream) -> None:
        with trio.CancelScope() as scope:
            self._scopes.append(scope)
            server = await trio.open_tcp_stream("127.0.0.1", self.target)
            async with client, server, trio.open_nursery() as nursery:
                nursery.start_soon(_pump, client, server, nursery.cancel_scope)
                nursery.start_soon(_pump, server, client, nursery.cancel_scope)

    def cut(self) -> None:
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()


async def _read_until(stream: trio.abc.ReceiveStream, pattern: str, seen: bytearray) -> str:
    while re.search(pattern, seen.decode(errors="replace"), re.MULTILINE) is None:
        chunk = await stream.receive_some(65536)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    return seen.decode(errors="replace")


async def _start(nursery: trio.Nursery, port: int) -> ChatServer:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    return server


async def test_a_cut_connection_is_resumed_with_exactly_the_lines_missed(
    nursery: trio.Nursery,
) -> None:
    server = await _start(nursery, 0)
    proxy: CuttingProxy = await nursery.start(CuttingProxy(server.addresses[0][1]).serve)
    bob = await (await LineClient.open(server.addresses[0][1])).registered("bob")
    out, err = bytearray(), bytearray()
    with trio.fail_after(4 * WAIT):
        async with trio.open_nursery() as inner:
            cli = await start_piped_cli(inner, real_cli(proxy.port, "--nick", "ann"))
            await _read_until(cli.stdout, r"\*\*\* you are ", out)
            await cli.stdin.send_all(b"before the cut\n")
            await bob.until("<ann> before the cut")
            await _read_until(cli.stdout, r"<ann> before the cut", out)  # seen: not missed
            proxy.cut()
            await bob.until("ann left #lobby")
            await bob.send("missed one")
            await bob.send("missed two")
            await _read_until(cli.stderr, r"reconnecting in \d+ s \(1 of 10\)", err)
            await _read_until(cli.stdout, r"<bob> missed two", out)
            await cli.stdin.send_all(b"after the cut\n")
            await bob.until("<ann> after the cut")
            await cli.stdin.aclose()
            await cli.process.wait()
            err += await cli.stderr.receive_some(65536)
            await cli.stdout.aclose()
            await cli.stderr.aclose()
    await bob.aclose()
    shown = out.decode()
    assert cli.process.returncode == 0, err
    resumed = shown[shown.index("*** reconnected") :].splitlines()
    assert resumed[0] == "*** reconnected, 2 missed lines recovered in #lobby"
    assert [re.sub(r"^\S+ ", "", line) for line in resumed[1:3]] == [
        "<bob> missed one",
        "<bob> missed two",
    ]
    assert shown.count("missed one") == 1
    assert shown.count("before the cut") == 1  # not replayed again
    assert "triochat: reconnected" in err.decode()
    assert "missing" not in err.decode()


async def test_a_restarted_server_is_not_recovered_and_a_pipe_says_so_on_stderr(
    nursery: trio.Nursery,
) -> None:
    first = await _start(nursery, 0)
    second = await _start(nursery, 0)
    proxy: CuttingProxy = await nursery.start(CuttingProxy(first.addresses[0][1]).serve)
    out, err = bytearray(), bytearray()
    with trio.fail_after(4 * WAIT):
        async with trio.open_nursery() as inner:
            cli = await start_piped_cli(inner, real_cli(proxy.port, "--nick", "ann"))
            await _read_until(cli.stdout, r"\*\*\* you are ", out)
            await cli.stdin.send_all(b"hello\n")
            await _read_until(cli.stdout, r"<ann> hello", out)
            proxy.target = second.addresses[0][1]  # "the server restarted", empty
            proxy.cut()
            await _read_until(cli.stderr, r"some lines may be missing", err)
            await _read_until(cli.stdout, r"could not recover missed lines in #lobby", out)
            await cli.stdin.aclose()
            await cli.process.wait()
            await cli.stdout.aclose()
            await cli.stderr.aclose()
    assert cli.process.returncode == 0
    assert re.search(
        r"triochat: could not recover the lines said in #lobby while reconnecting "
        r"\(restarted\): some lines may be missing",
        err.decode(),
    )


def test_the_backoff_doubles_is_capped_and_jittered() -> None:
    first = [backoff(1) for _ in range(50)]
    assert all(0.8 <= delay <= 1.2 for delay in first)
    assert len(set(first)) > 1  # jittered
    assert all(3.2 <= backoff(3) <= 4.8 for _ in range(20))
    assert all(delay <= BACKOFF_MOST * 1.2 for delay in (backoff(12) for _ in range(20)))


def test_resume_positions_follow_live_events_and_the_servers_epochs() -> None:
    resume = Resume(nick="ann")
    resume.feed(
        '{"type":"notice","room":"","seq":0,"kind":"switch","data":{"room":"#a","epoch":"E"}}'
    )
    resume.feed('{"type":"message","room":"#a","seq":5,"sender":"bob","history":false}')
    resume.feed('{"type":"message","room":"#a","seq":3,"sender":"bob","history":true}')
    assert resume.requests() == [
        '{"cmd": "join", "room": "#a", "since": {"epoch": "E", "seq": 5}}',
        '{"cmd": "switch", "room": "#a"}',
    ]
    # The new connection's greeting names the epoch of now; the resumption keeps the old one.
    resume.feed(
        '{"type":"notice","room":"","seq":0,"kind":"format","data":{"room":"#a","epoch":"F"}}'
    )
    assert resume.rooms["#a"] == ("E", 5)
    resume.feed('{"type":"part","room":"#a","seq":9,"sender":"ann","history":false}')
    assert resume.rooms == {}
    # A room where nothing numbered was seen yet is joined again plainly.
    resume.feed(
        '{"type":"notice","room":"","seq":0,"kind":"switch","data":{"room":"#b","epoch":"G"}}'
    )
    assert resume.requests() == ['{"cmd": "join", "room": "#b"}', '{"cmd": "switch", "room": "#b"}']
