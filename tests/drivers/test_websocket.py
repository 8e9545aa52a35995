"""The web chat's WebSocket endpoint, end to end: browsers (trio-websocket here) in the same
rooms as text and JSON-lines TCP clients, the HTTP front door, limits, and the keepalive."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.events import TextMessage

from tests.conftest import WAIT, LineClient
from tests.websocket_helpers import (
    MemoryWebSocket,
    handshake_status,
    http_request,
    open_browser,
    upgrade_request,
)
from triochat import ChatServer, ServerConfig

PAGE = files("triochat.web").joinpath("index.html").read_bytes()


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(listen=["ws://127.0.0.1:0", "tcp://127.0.0.1:0"])


@pytest.fixture
def web_port(server: ChatServer) -> int:
    port: int = server.addresses[0][1]
    return port


@pytest.fixture
def tcp_port(server: ChatServer) -> int:
    port: int = server.addresses[1][1]
    return port


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(WAIT):
        message = await ws.get_message()
    assert isinstance(message, str)
    decoded: dict[str, Any] = json.loads(message)
    return decoded


async def receive_until(ws: WebSocketConnection, **match: Any) -> dict[str, Any]:
    while True:
        event = await receive(ws)
        if all(event.get(key) == value for key, value in match.items()):
            return event


async def json_line(client: LineClient, **match: Any) -> tuple[str, dict[str, Any]]:
    while True:
        line = await client.line()
        event = json.loads(line)
        if all(event.get(key) == value for key, value in match.items()):
            return line, event


@pytest.fixture
async def browser(web_port: int) -> AsyncIterator[WebSocketConnection]:
    async with open_browser(web_port) as ws:
        await receive_until(ws, type="join", room="#lobby")
        yield ws


async def test_browser_text_and_json_clients_chat_in_one_room(
    browser: WebSocketConnection, tcp_port: int
) -> None:
    text = await (await LineClient.open(tcp_port)).registered("tex")
    machine = await (await LineClient.open(tcp_port)).registered("jay")
    try:
        await machine.send("/format json")
        await json_line(machine, kind="format")
        await browser.send_message(json.dumps({"cmd": "nick", "nick": "webby"}))
        await receive_until(browser, type="nick", new="webby")

        await browser.send_message(json.dumps({"cmd": "say", "text": "hello from the web"}))
        said = await receive_until(browser, type="message")
        assert said["sender"] == "webby"
        assert said["text"] == "hello from the web"
        assert (await text.until("hello from the web"))[-1].endswith("<webby> hello from the web")
        line, event = await json_line(machine, type="message")
        # One schema: the WebSocket message is the JSON line, byte for byte, without its newline.
        assert event == said
        assert line == json.dumps(said, ensure_ascii=False, separators=(",", ":"))

        await text.send("hi browser")
        heard = await receive_until(browser, type="message", sender="tex")
        assert heard["text"] == "hi browser"
        await machine.send(json.dumps({"cmd": "me", "text": "waves"}))
        action = await receive_until(browser, type="action")
        assert (action["sender"], action["text"]) == ("jay", "waves")
        # Text commands work too, as on a JSON-lines connection.
        await browser.send_message("/msg tex psst")
        assert (await text.until("psst"))[-1].endswith("<webby -> tex> psst")
    finally:
        await text.aclose()
        await machine.aclose()


async def test_browser_quits_and_others_see_it(web_port: int, tcp_port: int) -> None:
    text = await (await LineClient.open(tcp_port)).registered("tex")
    try:
        async with open_browser(web_port) as ws:
            await receive_until(ws, type="join")
            await ws.send_message("/quit see you")
            goodbye = await receive_until(ws, kind="goodbye")
            assert goodbye["data"]["reason"] == "quit: see you"
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(WAIT):
                await ws.get_message()
            reason = closed.value.reason
            assert reason is not None
            assert (reason.code, reason.reason) == (1000, "quit: see you")
        assert (await text.until("left #lobby"))[-1].endswith("left #lobby (quit: see you)")
    finally:
        await text.aclose()


async def test_closing_the_tab_is_a_quit(web_port: int, tcp_port: int) -> None:
    text = await (await LineClient.open(tcp_port)).registered("tex")
    try:
        async with open_browser(web_port) as ws:
            await receive_until(ws, type="join")
            await ws.aclose(code=1001)
        assert (await text.until("left #lobby"))[-1].endswith("left #lobby (quit)")
    finally:
        await text.aclose()


async def test_history_after_a_sequence_number(browser: WebSocketConnection) -> None:
    for word in ("one", "two", "three"):
        await browser.send_message(json.dumps({"cmd": "say", "text": word}))
    events = [await receive_until(browser, type="message") for _ in range(3)]
    await browser.send_message(json.dumps({"cmd": "history", "after": events[0]["seq"]}))
    start = await receive_until(browser, kind="history")
    assert start["data"]["count"] == 2
    replayed = [await receive(browser), await receive(browser)]
    assert [event["text"] for event in replayed] == ["two", "three"]
    assert all(event["history"] for event in replayed)
    await receive_until(browser, kind="history-end")


async def test_message_size_cap_is_max_line(web_port: int) -> None:
    async with open_browser(web_port) as ws:
        await receive_until(ws, type="join")
        await ws.send_message("x" * 4097)
        error = await receive_until(ws, type="notice", error=True)
        assert error["error"]
        assert error["text"] == "error: line too long (the limit is 4096 bytes); discarded"
        await ws.send_message("x" * 4096)  # at the limit: said
        said = await receive_until(ws, type="message")
        assert len(said["text"]) == 4096


async def test_text_format_is_refused(browser: WebSocketConnection) -> None:
    await browser.send_message("/format text")
    error = await receive_until(browser, type="notice")
    assert error["text"] == "error: the web chat speaks JSON only"
    await browser.send_message("/format json")
    assert (await receive_until(browser, type="notice"))["kind"] == "format"


async def test_page_is_served_with_its_policy(web_port: int) -> None:
    status, headers, body = await http_request(
        web_port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert status == 200
    assert body == PAGE
    assert len(body) < 50 * 1024
    assert headers["content-type"] == "text/html; charset=utf-8"
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    # Nothing is fetched from anywhere else: no URL in the page at all.
    assert b"http://" not in body
    assert b"https://" not in body
    status, headers, body = await http_request(
        web_port, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert (status, body, int(headers["content-length"])) == (200, b"", len(PAGE))


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n", 404),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", 426),
        (b"garbage\r\n\r\n", 400),
        (upgrade_request().replace(b"Sec-WebSocket-Version: 13", b"X: 1"), 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"x" * 9000 + b"\r\n\r\n", 431),
    ],
)
async def test_front_door_errors(web_port: int, request_bytes: bytes, status: int) -> None:
    assert (await http_request(web_port, request_bytes))[0] == status


async def test_origin_check_defaults_to_the_same_host(web_port: int) -> None:
    host = f"127.0.0.1:{web_port}"
    evil = await http_request(web_port, upgrade_request(host, origin="https://evil.example"))
    assert evil[0] == 403
    assert b"https://evil.example are not allowed" in evil[2]
    assert (await http_request(web_port, upgrade_request(host, origin="null")))[0] == 403
    # The page's own origin, and clients that are not browsers (no Origin header), get in.
    same = await handshake_status(web_port, upgrade_request(host, origin=f"http://{host}"))
    assert same[0] == 101
    assert (await handshake_status(web_port, upgrade_request(host)))[0] == 101


async def test_origin_allow_list(nursery: trio.Nursery) -> None:
    config = ServerConfig(listen=["ws://127.0.0.1:0"], ws_origins=["https://chat.example.org"])
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    allowed = upgrade_request(origin="https://CHAT.example.org")
    assert (await handshake_status(port, allowed))[0] == 101
    same_host = upgrade_request(f"127.0.0.1:{port}", origin=f"http://127.0.0.1:{port}")
    assert (await handshake_status(port, same_host))[0] == 403


def test_origin_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        ServerConfig(ws_origins=["chat.example.org"])


async def test_full_server_answers_503(nursery: trio.Nursery) -> None:
    config = ServerConfig(listen=["ws://127.0.0.1:0"], max_clients=1)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    async with open_browser(port) as ws:
        await receive_until(ws, type="join")
        status, headers, body = await http_request(port, upgrade_request())
        assert status == 503
        assert body == b"server full, try again later\n"
        assert headers["retry-after"] == "10"


async def test_wss_serves_over_tls(nursery: trio.Nursery, certs: Any) -> None:
    config = ServerConfig(listen=["wss://127.0.0.1:0"], tls_cert=certs.cert, tls_key=certs.key)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    assert server.endpoints[0].address == f"https://127.0.0.1:{port}/"
    async with open_browser(port, ssl_context=certs.client_context()) as ws:
        await receive_until(ws, type="join")
        await ws.send_message(json.dumps({"cmd": "say", "text": "secret"}))
        assert (await receive_until(ws, type="message"))["text"] == "secret"


# -------------------------------------------------------------- on the virtual clock


async def test_ping_frames_keep_an_open_tab_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=10))
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server)
        await tab.until(type="join")
        start = trio.current_time()
        # Nothing but the browser's automatic pongs for ten idle timeouts: still connected.
        with trio.move_on_after(100):
            while True:
                event = await tab.event()
                assert event is not None, "disconnected although it answered every ping"
        assert trio.current_time() - start == 100
        assert tab.pings >= 19  # one ping every 5 s (half the idle timeout)
        nursery.cancel_scope.cancel()


async def test_a_tab_that_does_not_answer_pings_is_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=10))
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server, answer_pings=False)
        await tab.until(type="join")
        start = trio.current_time()
        goodbye = await tab.until(kind="goodbye")
        assert goodbye["data"]["reason"] == "idle timeout"
        assert trio.current_time() - start == 10
        assert tab.pings == 1
        assert await tab.event() is None
        assert tab.closed is not None
        assert tab.closed.code == 1000
    assert server.hub.statistics().members == 0


async def test_flood_control_applies_to_browsers(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(message_rate=1, message_burst=2, flood_limit=3))
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server)
        await tab.until(type="join")
        spam = [TextMessage(json.dumps({"cmd": "say", "text": f"spam {i}"})) for i in range(10)]
        await tab.stream.send_all(b"".join(map(tab.connection.send, spam)))
        slow = await tab.until(type="notice", error=True)
        assert slow["text"].startswith("error: slow down")
        goodbye = await tab.until(kind="goodbye")
        assert goodbye["data"]["reason"].startswith("excess flood")
        assert await tab.event() is None
        assert tab.closed is not None
        assert tab.closed.code == 1008  # policy violation


async def test_a_fragmented_message_is_one_command(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(max_line=40))
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server)
        await tab.until(type="join")
        send = tab.connection.send
        parts = [
            TextMessage('{"cmd":"say",', message_finished=False),
            TextMessage('\n"text":"hi"}'),
        ]
        for part in parts:
            await tab.stream.send_all(send(part))
        assert (await tab.until(type="message"))["text"] == "hi"
        # Over the limit across fragments: discarded, and never held whole.
        for chunk in ("a" * 15, "b" * 15, "c" * 15):
            await tab.stream.send_all(send(TextMessage(chunk, message_finished=chunk[0] == "c")))
        error = await tab.until(type="notice", error=True)
        assert "line too long (the limit is 40 bytes)" in error["text"]
        nursery.cancel_scope.cancel()


async def test_a_frame_that_breaks_the_protocol_costs_that_browser_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=ServerConfig())
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server)
        await tab.until(type="join")
        other = MemoryWebSocket.connect(nursery, server)
        await other.until(type="join")
        await tab.stream.send_all(b"\x81\x02hi")  # a client's frame must be masked
        goodbye = await tab.until(kind="goodbye")
        assert goodbye["data"]["reason"].startswith("quit: WebSocket error 1002")
        assert await tab.event() is None
        left = await other.until(type="part")
        assert left["reason"].startswith("quit: WebSocket error 1002")
        await other.send({"cmd": "say", "text": "still here"})
        assert (await other.until(type="message"))["text"] == "still here"
        nursery.cancel_scope.cancel()


async def test_history_after_tells_the_gap(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(history_events=2))
    async with trio.open_nursery() as nursery:
        tab = MemoryWebSocket.connect(nursery, server)
        joined = await tab.until(type="join")
        for word in ("one", "two", "three", "four"):
            await tab.send({"cmd": "say", "text": word})
            await tab.until(type="message", text=word)
        # Seen up to the join: "one" and "two" are forgotten, "three" and "four" are kept.
        await tab.send({"cmd": "history", "room": "#lobby", "after": joined["seq"]})
        gap = await tab.until(kind="history-gap")
        assert gap["data"] == {
            "room": "#lobby",
            "after": joined["seq"],
            "forgotten": joined["seq"] + 2,
            "restarted": False,
        }
        assert gap["text"] == "events 2 to 3 of #lobby are no longer kept"
        assert (await tab.until(kind="history"))["data"]["count"] == 2
        # A number beyond the room's last: the room started again since.
        await tab.send({"cmd": "history", "after": 1000})
        restarted = await tab.until(kind="history-gap")
        assert restarted["data"]["restarted"] is True
        assert (await tab.until(kind="history"))["data"]["count"] == 2
        await tab.send({"cmd": "history", "after": -1})
        error = await tab.until(type="notice", error=True)
        assert '"after" must be a sequence number' in error["text"]
        nursery.cancel_scope.cancel()


def test_ws_origin_needs_a_web_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    from triochat.cli._main import main

    assert main(["serve", "--ws-origin", "https://chat.example.org"]) == 2
    assert "--ws-origin is for the web chat" in capsys.readouterr().err


def test_web_endpoints_parse_with_port_8080_and_are_not_for_the_client() -> None:
    from triochat import parse_endpoint
    from triochat.client._transport import client_endpoint

    endpoint = parse_endpoint("ws://127.0.0.1")
    assert (endpoint.scheme, endpoint.port, endpoint.is_web, endpoint.is_tls) == (
        "ws",
        8080,
        True,
        False,
    )
    assert parse_endpoint("WSS://[::1]").is_tls
    assert str(parse_endpoint("wss://[::1]:8443")) == "wss://[::1]:8443"
    with pytest.raises(ValueError, match="open it in a browser"):
        client_endpoint(None, None, url="ws://127.0.0.1:8080", tls=False)
