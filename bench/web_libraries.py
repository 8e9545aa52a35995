"""Why the web chat frames its own WebSocket messages: the two maintained Trio WebSocket servers,
measured bare (no chat at all), on idle memory and on fan-out.

    python -m bench.web_libraries trio-websocket
    python -m bench.web_libraries websockets

- idle: N connections complete the handshake and sit; the server's RSS growth per connection.
- fan-out: R connections; the server sends M messages to each, one ``send`` per message and
  connection as a chat server on the library's API would; deliveries per second.

Clients are raw sockets in a thread (they only read). Prints one JSON object.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import socket
import sys
import time
from typing import Any

import trio

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def open_clients(port: int, count: int) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        assert b" 101 " in data, data
        clients.append(sock)
    return clients


MESSAGE = json.dumps({"type": "message", "text": "x" * 24})


def _drain(port: int, count: int, per_client: int) -> None:
    """The readers, in a process of their own (a thread would fight the server for the GIL)."""
    clients = open_clients(port, count)
    for sock in clients:
        got = 0
        while got < per_client:
            got += len(sock.recv(1 << 20))
    for sock in clients:
        sock.close()


async def serve(library: str, connections: list[Any], nursery: trio.Nursery) -> int:
    """Start the library's server; its port. Accepted connections are appended to *connections*."""
    if library == "trio-websocket":
        import trio_websocket

        async def handler(request: Any) -> None:
            ws = await request.accept()
            connections.append(ws)
            await trio.sleep_forever()

        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                handler, "127.0.0.1", 0, None, task_status=task_status
            )
        )
        return int(server.port)
    from websockets.trio.server import serve as websockets_serve

    async def handler2(ws: Any) -> None:
        connections.append(ws)
        await trio.sleep_forever()

    server = await nursery.start(
        lambda task_status: websockets_serve(
            handler2, 0, host="127.0.0.1", compression=None, ping_interval=None,
            task_status=task_status,
        )
    )  # fmt: skip
    return int(server.listeners[0].socket.getsockname()[1])


async def main(library: str, idle: int = 2000, receivers: int = 100, messages: int = 2000) -> None:
    result: dict[str, Any] = {"library": library}
    async with trio.open_nursery() as nursery:
        connections: list[Any] = []
        port = await serve(library, connections, nursery)
        await trio.sleep(0.5)
        base = rss()
        clients = await trio.to_thread.run_sync(open_clients, port, idle)
        while len(connections) < idle:  # noqa: ASYNC110 - filled by the library's handlers
            await trio.sleep(0.05)
        await trio.sleep(1)
        result["idle_kib_per_connection"] = round((rss() - base) / idle / 1024, 2)
        for sock in clients:
            sock.close()
        await trio.sleep(1)

        connections.clear()
        frame = 2 + len(MESSAGE)
        context = multiprocessing.get_context("fork")
        reader = context.Process(target=_drain, args=(port, receivers, messages * frame))
        reader.start()
        while len(connections) < receivers:  # noqa: ASYNC110 - filled by the handlers
            await trio.sleep(0.05)
        started = time.monotonic()
        for _ in range(messages):
            for ws in connections:
                if library == "trio-websocket":
                    await ws.send_message(MESSAGE)
                else:
                    await ws.send(MESSAGE)
        await trio.to_thread.run_sync(reader.join)
        elapsed = time.monotonic() - started
        result["fanout_deliveries_per_second"] = round(receivers * messages / elapsed)
        nursery.cancel_scope.cancel()
    print(json.dumps(result))


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
