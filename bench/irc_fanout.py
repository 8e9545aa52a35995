"""Fan-out over IRC against the text format, in one run: ``python -m bench.irc_fanout``.

One server process listens on a text and an IRC endpoint. For each format in turn, RECEIVERS
clients of that format join ``#bench`` and SENDERS text clients say lines there, each keeping up
to WINDOW lines in flight (paced by their own echoes); the receivers count the lines they get.
Prints the deliveries a second of each format and their ratio (IRC / text): the IRC front end
encodes each event once per set of capabilities and shares the bytes, as the text format does, so
the ratio should be close to 1 (the target is at least 0.9).
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import time

PAYLOAD = b"x" * 40


def _server() -> tuple[subprocess.Popen[bytes], int, int]:
    command = [
        sys.executable, "-m", "triochat", "serve", "--log-level", "warning",
        "--listen", "tcp://127.0.0.1:0", "--listen", "irc://127.0.0.1:0",
        "--rate", "1000000", "--burst", "1000000", "--flood-limit", "0",
        "--max-clients-per-ip", "100000",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    ports = [int(port) for port in re.findall(r":(\d+)", line)]
    if len(ports) < 2:
        process.kill()
        raise SystemExit(f"could not read the server's ports from: {line!r}")
    return process, ports[0], ports[1]


def _connect(port: int, hello: bytes, ready: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(hello)
    seen = b""
    deadline = time.monotonic() + 10
    while ready not in seen:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {ready!r} in {seen[-300:]!r}")
        seen += sock.recv(65536)
    sock.setblocking(False)
    return sock


def _run(fmt: str, text_port: int, irc_port: int, args: argparse.Namespace) -> float:
    receivers = []
    for index in range(args.receivers):
        if fmt == "irc":
            nick = f"i{index}"
            hello = f"NICK {nick}\r\nUSER {nick} 0 * :b\r\nJOIN #bench\r\n".encode()
            receivers.append(_connect(irc_port, hello, b"366 "))
        else:
            hello = f"/nick t{index}\n/join #bench\n".encode()
            receivers.append(_connect(text_port, hello, b"now talking in #bench"))
    senders = [
        _connect(text_port, f"/nick s{i}\n/join #bench\n".encode(), b"now talking in #bench")
        for i in range(args.senders)
    ]
    selector = selectors.DefaultSelector()
    for sock in receivers:
        selector.register(sock, selectors.EVENT_READ, "r")
    for sock in senders:
        selector.register(sock, selectors.EVENT_READ, "s")
    tag = {id(sock): f"<s{i}> ".encode() for i, sock in enumerate(senders)}
    sent = {id(sock): 0 for sock in senders}
    echoed = {id(sock): 0 for sock in senders}
    counted = 0
    measuring = False
    start = time.monotonic()
    end = start + args.warmup + args.duration
    while (now := time.monotonic()) < end:
        if not measuring and now >= start + args.warmup:
            measuring, counted, began = True, 0, now
        for sock in senders:
            room = args.window - (sent[id(sock)] - echoed[id(sock)])
            if room > 0:
                try:
                    sock.send((PAYLOAD + b"\n") * room)
                    sent[id(sock)] += room
                except BlockingIOError:
                    pass
        for key, _ in selector.select(0.001):
            sock = key.fileobj  # type: ignore[assignment]  # we registered sockets only
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if key.data == "r":
                counted += data.count(PAYLOAD)
            else:
                echoed[id(sock)] += data.count(tag[id(sock)])
    elapsed = time.monotonic() - began
    for sock in receivers + senders:
        selector.unregister(sock)
        sock.close()
    return counted / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    process, text_port, irc_port = _server()
    try:
        rates: dict[str, list[float]] = {"text": [], "irc": []}
        for _ in range(args.rounds):
            for fmt in ("text", "irc"):
                rates[fmt].append(_run(fmt, text_port, irc_port, args))
                time.sleep(0.5)  # let the departures of the last round go out
        for fmt, values in rates.items():
            print(f"{fmt}: {max(values):,.0f} deliveries/s (best of {values})")
        print(f"irc / text: {max(rates['irc']) / max(rates['text']):.3f}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
