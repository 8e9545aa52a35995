"""Tools for bench/reliability.py: a server process to attack, raw clients, and healthy clients
that measure what the attack cost them. Loopback only; every process is ours and is stopped by
its PID."""

from __future__ import annotations

import collections
import os
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

# Every connection line is logged (--log-connections 0): the report counts why clients were cut off
# from them, and the attacks come from one address, whose lines the server would otherwise limit.
SERVE = [
    sys.executable, "-m", "triochat", "serve", "--port", "0", "--log-level", "info",
    "--log-connections", "0",
]  # fmt: skip
_SERVING = re.compile(rb"serving on 127\.0\.0\.1:(\d+)")
_DISCONNECT = re.compile(r"disconnect \S+ \((?P<nick>[^)]*)\): (?P<reason>.*)$")
_CHAT = re.compile(r"^\[\d\d:\d\d:\d\d\] <(?P<nick>[^>]+)> (?P<text>.*)$")
WAIT = 20.0


# ------------------------------------------------------------------------- server process


@attrs.define
class Server:
    process: trio.Process
    port: int
    stderr: bytearray

    @property
    def pid(self) -> int:
        return self.process.pid

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def memory_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} for {self.pid}")

    @property
    def log(self) -> list[str]:
        return self.stderr.decode(errors="replace").splitlines()

    def disconnects(self, *, excluding: set[str]) -> collections.Counter[str]:
        """Disconnect reasons in the log, by count, leaving out the clients in *excluding*."""
        reasons: collections.Counter[str] = collections.Counter()
        for line in self.log:
            if (match := _DISCONNECT.search(line)) and match["nick"] not in excluding:
                reasons[match["reason"]] += 1
        return reasons

    async def settled_fds(self) -> int:
        """Open fds once the count stops changing (closes may still be in flight)."""
        previous = -1
        with trio.fail_after(WAIT):
            while (count := self.fds()) != previous:
                previous = count
                await trio.sleep(0.3)
        return count


@asynccontextmanager
async def run_server(*args: str, max_open_files: int | None = None) -> AsyncIterator[Server]:
    """``triochat serve`` on a free loopback port; SIGTERM on the way out, SIGKILL if it hangs."""

    def limit_files() -> None:  # in the child, between fork and exec
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    process = await trio.lowlevel.open_process(
        [*SERVE, *args], stderr=subprocess.PIPE, preexec_fn=limit_files
    )
    try:
        assert process.stderr is not None
        stderr = bytearray()
        with trio.fail_after(WAIT):
            while not (match := _SERVING.search(stderr)):
                chunk = await process.stderr.receive_some()
                if not chunk:
                    raise RuntimeError(f"server exited: {bytes(stderr)!r}")
                stderr += chunk
        async with trio.open_nursery() as nursery:

            async def collect() -> None:
                assert process.stderr is not None
                while chunk := await process.stderr.receive_some():
                    stderr.extend(chunk)

            nursery.start_soon(collect)
            yield Server(process, int(match[1]), stderr)
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with trio.fail_after(WAIT):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()  # our own child, by its PID
        with trio.CancelScope(shield=True), trio.move_on_after(WAIT):
            await process.wait()
            if process.stderr is not None:
                await process.stderr.aclose()


# -------------------------------------------------------------------------------- clients


async def open_raw(port: int, *, rcvbuf: int | None = None) -> trio.SocketStream:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def reset_on_close(stream: trio.SocketStream) -> None:
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@attrs.define
class Reader:
    """Reads a stream in the background, keeping each line with the time it arrived."""

    stream: trio.SocketStream
    lines: list[str] = attrs.field(factory=list)
    arrived: list[float] = attrs.field(factory=list)
    eof: bool = False
    _partial: bytes = b""
    _changed: trio.Event = attrs.field(factory=trio.Event)

    async def run(self) -> None:
        try:
            while data := await self.stream.receive_some(1 << 20):
                now = time.perf_counter()
                *complete, self._partial = (self._partial + data).split(b"\n")
                self.lines.extend(line.decode("utf-8", "replace") for line in complete)
                self.arrived.extend([now] * len(complete))
                self._changed.set()
                self._changed = trio.Event()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.eof = True
        self._changed.set()

    async def wait(self, predicate: Callable[[Reader], bool], timeout: float = WAIT) -> None:
        with trio.fail_after(timeout):
            while not predicate(self):
                if self.eof:
                    raise EOFError(self.lines[-3:])
                await self._changed.wait()

    async def wait_for(self, needle: str, timeout: float = WAIT) -> None:
        await self.wait(lambda r: any(needle in line for line in r.lines), timeout)

    def chat(self) -> list[tuple[str, str, float]]:
        """(nick, text, arrival time) of every chat line received."""
        return [
            (m["nick"], m["text"], at)
            for line, at in zip(self.lines, self.arrived, strict=True)
            if (m := _CHAT.match(line))
        ]


async def join(nursery: trio.Nursery, port: int, nick: str | None = None) -> Reader:
    reader = Reader(await open_raw(port))
    nursery.start_soon(reader.run)
    await reader.wait_for("joined #lobby")
    if nick is not None:
        await reader.stream.send_all(f"/nick {nick}\n".encode())
        await reader.wait_for(f"is now known as {nick}")
    return reader


@attrs.frozen
class Impact:
    """What an attack cost the healthy clients."""

    sent: int
    lost: int
    out_of_order: int
    latencies: list[float]  # seconds, every healthy line at every healthy client

    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    def p99(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@attrs.define
class Healthy:
    """Three well-behaved clients that chat through an attack and time their lines.

    Each sends a numbered line every *interval* seconds (under the default rate limit); each
    line carries the time it was sent, so every client can tell how long it took to arrive.
    """

    readers: list[Reader]
    sent: list[tuple[str, str, float]] = attrs.field(factory=list)

    NICKS = ("healthy0", "healthy1", "healthy2")

    @classmethod
    async def join(cls, nursery: trio.Nursery, port: int) -> Healthy:
        return cls([await join(nursery, port, nick) for nick in cls.NICKS])

    async def chat_until(self, done: trio.Event, interval: float = 0.1) -> None:
        number = 0
        while not done.is_set():
            for nick, reader in zip(self.NICKS, self.readers, strict=True):
                text = f"line {number}"
                self.sent.append((nick, text, time.perf_counter()))
                await reader.stream.send_all(text.encode() + b"\n")
            number += 1
            with trio.move_on_after(interval):
                await done.wait()

    async def impact(self, timeout: float = WAIT) -> Impact:
        """Wait (bounded) for every healthy line at every healthy client, then count."""
        expected = {(nick, text): at for nick, text, at in self.sent}
        own = set(self.NICKS)

        def complete(reader: Reader) -> bool:
            return sum(1 for nick, _, _ in reader.chat() if nick in own) >= len(expected)

        for reader in self.readers:
            with trio.move_on_after(timeout):
                await reader.wait(complete)
        lost = out_of_order = 0
        latencies: list[float] = []
        for reader in self.readers:
            seen = [(nick, text, at) for nick, text, at in reader.chat() if nick in own]
            keys = [(nick, text) for nick, text, _ in seen]
            lost += len(set(expected) - set(keys))
            for nick in own:
                mine = [text for n, text in keys if n == nick]
                ordered = [text for n, text, _ in self.sent if n == nick][: len(mine)]
                out_of_order += mine != ordered
            latencies.extend(at - expected[(nick, text)] for nick, text, at in seen)
        return Impact(len(self.sent), lost, out_of_order, latencies)

    async def aclose(self) -> None:
        for reader in self.readers:
            await reader.stream.aclose()
