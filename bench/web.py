"""The web chat against plain TCP, in one run: idle memory per connection and fan-out throughput.

    python -m bench.web                      # 5 000 idle connections, 100 receivers, 10 senders
    python -m bench.web --idle 1000 --seconds 3

Every measurement gets a fresh ``triochat serve`` process (so that memory freed by one phase is
not reused by the next), one after another in the same run:

- **idle**: N clients connect and sit in the lobby (rooms over 100 members do not announce joins,
  as in the main bench's (d)); the server's RSS growth from /proc/PID/statm, divided by N. TCP
  clients then WebSocket clients (the handshake, then nothing).
- **fan-out**, scenario (a) of the main bench: R receivers and S senders in one room; senders
  write as fast as the slowest receiver allows (at most ``--window`` messages each ahead of it),
  receivers read in worker processes. Deliveries per second: messages received by the
  receivers. TCP in the text format, then WebSocket (JSON, one message per frame).

Prints one JSON object; the ratios are WebSocket ÷ TCP.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import multiprocessing.sharedctypes
import os
import re
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

PAGE: Final = os.sysconf("SC_PAGE_SIZE")
PYTHON: Final = sys.executable
SETUP_TIMEOUT: Final = 120.0
CONNECT_BATCH: Final = 200
PAYLOAD: Final = b"x" * 24
# What every WebSocket message starts with (a JSON event), and every text line ends with.
WS_MARK: Final = b'{"type":'
TEXT_MARK: Final = b"\n"


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextmanager
def server() -> Iterator[tuple[int, int, int]]:
    """A fresh server with a TCP and a web endpoint: (pid, tcp port, web port)."""
    command = [
        PYTHON, "-m", "triochat", "serve", "--log-level", "warning",
        "--listen", "tcp://127.0.0.1:0", "--listen", "ws://127.0.0.1:0",
        "--max-clients", "20000", "--max-clients-per-ip", "20000", "--rate", "inf",
        "--announce-limit", "100", "--idle-timeout", "3600",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    try:
        output = b""
        while b"Ctrl-C stops" not in output:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the server did not start: {output!r}")
            output += chunk
        found = re.search(rb"serving on 127\.0\.0\.1:(\d+), http://127\.0\.0\.1:(\d+)/", output)
        assert found is not None, output
        yield process.pid, int(found[1]), int(found[2])
    finally:
        process.terminate()
        process.wait(30)
        process.stderr.close()


def handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_message(text: bytes) -> bytes:
    """A client's text frame: masked, as clients must, with a zero key (XOR changes nothing)."""
    assert len(text) < 126
    return bytes((0x81, 0x80 | len(text))) + b"\0\0\0\0" + text


def connect(port: int, count: int, *, web: bool, ready: bytes) -> list[socket.socket]:
    """*count* clients, each having received *ready* (its own join) before this returns."""
    clients: list[socket.socket] = []
    deadline = time.monotonic() + SETUP_TIMEOUT
    while len(clients) < count:
        batch = []
        for _ in range(min(CONNECT_BATCH, count - len(clients))):
            sock = socket.create_connection(("127.0.0.1", port))
            if web:
                sock.sendall(handshake(port))
            sock.setblocking(False)
            batch.append(sock)
        seen = {sock.fileno(): b"" for sock in batch}
        by_fd = {sock.fileno(): sock for sock in batch}
        with select.epoll() as poller:  # select() cannot take descriptors over 1023
            for fd in seen:
                poller.register(fd, select.EPOLLIN)
            while seen:
                if time.monotonic() > deadline:
                    raise RuntimeError("clients did not get in within the setup timeout")
                for fd, _ in poller.poll(1.0):
                    data = seen[fd] + by_fd[fd].recv(65536)
                    if ready in data:
                        del seen[fd]
                        poller.unregister(fd)
                    else:
                        seen[fd] = data[-64:]
        clients.extend(batch)
    return clients


def settle(pid: int, quiet: float = 0.5) -> int:
    """The server's RSS once it has stopped growing for *quiet* seconds."""
    last, since = rss_bytes(pid), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = rss_bytes(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def idle(count: int, *, web: bool) -> dict[str, Any]:
    with server() as (pid, tcp_port, web_port):
        base = settle(pid)
        started = time.monotonic()
        ready = b'"type":"join"' if web else b"joined #lobby"
        clients = connect(web_port if web else tcp_port, count, web=web, ready=ready)
        seconds = time.monotonic() - started
        grown = settle(pid) - base
        for sock in clients:
            sock.close()
    return {
        "connections": count,
        "rss_growth_bytes": grown,
        "kib_per_connection": round(grown / count / 1024, 2),
        "connect_seconds": round(seconds, 2),
    }


def _receive(
    port: int, count: int, web: bool, counts: Any, first: int, start: Any, stop: Any
) -> None:
    """A worker: *count* receivers, counting the messages each gets into counts[first + i]."""
    ready = b'"type":"join"' if web else b"joined #lobby"
    clients = connect(port, count, web=web, ready=ready)
    mark = WS_MARK if web else TEXT_MARK
    tails = [b""] * count
    index = {sock.fileno(): i for i, sock in enumerate(clients)}
    poller = select.epoll()
    for sock in clients:
        poller.register(sock.fileno(), select.EPOLLIN)
    start.set()
    while not stop.is_set():
        for fd, _ in poller.poll(0.2):
            i = index[fd]
            try:
                data = clients[i].recv(1 << 20)
            except BlockingIOError:
                continue
            # Count marks across reads: keep what could be the start of a split one.
            joined = tails[i] + data
            counts[first + i] += joined.count(mark)
            tails[i] = joined[-(len(mark) - 1) :] if len(mark) > 1 else b""
    for sock in clients:
        sock.close()


def fanout(
    receivers: int, senders: int, seconds: float, window: int, workers: int, *, web: bool
) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    counts = context.Array("q", receivers, lock=False)
    with server() as (_, tcp_port, web_port):
        port = web_port if web else tcp_port
        stop = context.Event()
        processes, started = [], []
        share = -(-receivers // workers)
        for first in range(0, receivers, share):
            ready = context.Event()
            count = min(share, receivers - first)
            process = context.Process(
                target=_receive, args=(port, count, web, counts, first, ready, stop)
            )
            process.start()
            processes.append(process)
            started.append(ready)
        for ready in started:
            if not ready.wait(SETUP_TIMEOUT):
                raise RuntimeError("receivers did not connect")
        ready_mark = b'"type":"join"' if web else b"joined #lobby"
        clients = connect(port, senders, web=web, ready=ready_mark)
        line = ws_message(PAYLOAD) if web else PAYLOAD + b"\n"
        base = [counts[i] for i in range(receivers)]
        sent = 0

        def pump(until: float) -> None:
            nonlocal sent
            while time.monotonic() < until:
                slowest = min(counts[i] - base[i] for i in range(receivers))
                room = senders * window - (sent - slowest)
                for sock in clients:
                    with_room = min(window, room)
                    if with_room <= 0:
                        break
                    try:
                        written = sock.send(line * with_room)
                    except BlockingIOError:
                        written = 0
                    # Whole messages only: keep the socket's stream aligned.
                    whole = written // len(line)
                    rest = line * with_room
                    if written % len(line):
                        sock.setblocking(True)
                        sock.sendall(rest[written : (whole + 1) * len(line)])
                        sock.setblocking(False)
                        whole += 1
                    sent += whole
                    room -= whole
                for sock in clients:  # senders read their echoes, or their outbox would fill
                    try:
                        while sock.recv(1 << 20):
                            pass
                    except BlockingIOError:
                        pass
                time.sleep(0.0005)

        pump(time.monotonic() + 1.0)  # warm-up
        before = sum(counts[i] for i in range(receivers))
        began = time.monotonic()
        pump(began + seconds)
        elapsed = time.monotonic() - began
        delivered = sum(counts[i] for i in range(receivers)) - before
        stop.set()
        for process in processes:
            process.join(30)
        for sock in clients:
            sock.close()
    return {
        "receivers": receivers,
        "senders": senders,
        "seconds": round(elapsed, 2),
        "deliveries": delivered,
        "deliveries_per_second": round(delivered / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=5000, help="idle connections")
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.idle + 200
    if soft < wanted:
        soft = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    count = min(args.idle, soft - 200)  # the fallback when the fd limit is low
    result: dict[str, Any] = {"idle": {}, "fanout": {}}
    for name, web in (("tcp", False), ("websocket", True)):
        result["idle"][name] = idle(count, web=web)
    for name, web in (("tcp_text", False), ("websocket", True)):
        result["fanout"][name] = fanout(
            args.receivers, args.senders, args.seconds, args.window, args.workers, web=web
        )
    idle_result, fan = result["idle"], result["fanout"]
    result["ratios"] = {
        "idle_kib_websocket_over_tcp": round(
            idle_result["websocket"]["kib_per_connection"]
            / idle_result["tcp"]["kib_per_connection"],
            2,
        ),
        "fanout_websocket_over_tcp_text": round(
            fan["websocket"]["deliveries_per_second"] / fan["tcp_text"]["deliveries_per_second"],
            2,
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
