"""Tools for attacking a server in tests: sizes, fake and raw clients, healthy traffic, resources;
and ``triochat serve`` run as a process (:func:`serve_process`, :func:`json_server`).

Sizes come from :func:`size`: the small value in the normal run (CI), the large one when the
environment variable ``TRIOCHAT_STRESS`` is ``1`` (``nox -s stress``).
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from tests.cleanup import close_at_test_end
from tests.conftest import WAIT, eventually
from triochat import ChatServer, Endpoint, parse_endpoint

STRESS: bool = os.environ.get("TRIOCHAT_STRESS") == "1"
TRIOCHAT = [sys.executable, "-m", "triochat"]
# The startup line of `triochat serve` (a log record's event with --log-format json).
_SERVING = re.compile(r"serving on (.*); Ctrl-C stops")
CHAT = re.compile(r"^\[\d\d:\d\d:\d\d\] <(?P<nick>[^>]+)> (?P<text>.*)$")


def size(normal: int, stress: int) -> int:
    """*normal* in the default test run, *stress* under ``TRIOCHAT_STRESS=1``."""
    return stress if STRESS else normal


# ------------------------------------------------------------------------------ resources


def count_tasks() -> int:
    """Tasks alive in this trio run, found by walking the task tree from the root."""
    count = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None
    todo = [root]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@attrs.frozen
class Held:
    """What an in-process server holds, plus this process's tasks and file descriptors."""

    connections: int
    members: int
    pending_input: int
    tasks: int
    fds: int


def held(server: ChatServer) -> Held:
    stats = server.statistics()
    return Held(stats.connections, stats.members, stats.pending_input, count_tasks(), open_fds())


async def settles_back_to(server: ChatServer, before: Held) -> None:
    """Wait until the server and this process hold exactly what they held *before*."""
    try:
        await eventually(lambda: held(server) == before)
    except trio.TooSlowError:
        raise AssertionError(f"held {held(server)}, before {before}") from None


# -------------------------------------------------------------------------------- clients


async def open_raw(port: int, *, rcvbuf: int | None = None) -> trio.SocketStream:
    """A TCP connection to 127.0.0.1:*port*; *rcvbuf* is set before connecting, so it holds.

    The socket is closed when the test ends, even if the test fails first.
    """
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    close_at_test_end(sock)
    return trio.SocketStream(sock)


def reset_on_close(stream: trio.SocketStream) -> None:
    """Make closing *stream* send RST instead of FIN (SO_LINGER with a zero timeout)."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@attrs.define
class Reader:
    """Reads one client's stream in the background and keeps every line, so it never lags."""

    stream: trio.SocketStream
    lines: list[str] = attrs.field(factory=list)
    eof: bool = False
    _partial: bytes = b""
    _changed: trio.Event = attrs.field(factory=trio.Event)

    async def run(self) -> None:
        try:
            while data := await self.stream.receive_some(1 << 20):
                *complete, self._partial = (self._partial + data).split(b"\n")
                self.lines.extend(line.decode("utf-8", "replace") for line in complete)
                self._changed.set()
                self._changed = trio.Event()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.eof = True
        self._changed.set()

    def said(self, nick: str) -> list[str]:
        """The texts of the chat lines from *nick*, in the order received."""
        return [m["text"] for line in self.lines if (m := CHAT.match(line)) and m["nick"] == nick]

    async def wait_for_line(self, needle: str, timeout: float = WAIT) -> str:
        """The first line received so far, or from now on, that contains *needle*."""
        found: list[str] = []

        def seen(reader: Reader) -> bool:
            found[:] = [line for line in reader.lines if needle in line][:1]
            return bool(found)

        await self.wait(seen, timeout)
        return found[0]

    async def wait(self, predicate: Callable[[Reader], bool], timeout: float = WAIT) -> None:
        with trio.fail_after(timeout):
            while not predicate(self):
                assert not self.eof, f"connection closed; last lines: {self.lines[-5:]}"
                await self._changed.wait()


@attrs.define
class Healthy:
    """Well-behaved clients that chat during an attack; each must receive every message.

    Each client reads in the background (a :class:`Reader`), so the attack, not the test,
    decides whether a healthy client keeps up.
    """

    streams: list[trio.SocketStream]
    readers: list[Reader]
    nicks: list[str]
    sent: dict[str, list[str]] = attrs.field(factory=dict)

    @classmethod
    async def join(cls, nursery: trio.Nursery, port: int, count: int = 3) -> Healthy:
        streams, readers, nicks = [], [], []
        for index in range(count):
            stream = await open_raw(port)
            reader = Reader(stream)
            nursery.start_soon(reader.run)
            nick = f"healthy{index}"
            await reader.wait_for_line("joined #lobby")
            await stream.send_all(f"/nick {nick}\n".encode())
            await reader.wait_for_line(f"is now known as {nick}")
            streams.append(stream)
            readers.append(reader)
            nicks.append(nick)
        return cls(streams, readers, nicks)

    async def say(self, index: int, text: str) -> None:
        self.sent.setdefault(self.nicks[index], []).append(text)
        await self.streams[index].send_all(text.encode() + b"\n")

    async def chat(self, count: int, *, interval: float = 0.0, tag: str = "msg") -> None:
        """Each client says *count* numbered lines, *interval* seconds apart."""
        for number in range(count):
            for index in range(len(self.streams)):
                await self.say(index, f"{tag} {number} from {self.nicks[index]}")
            await trio.sleep(interval)

    async def everyone_got_everything(self, timeout: float = WAIT) -> None:
        """Every healthy client received every healthy line said so far, in order, no gaps."""
        for reader in self.readers:
            for nick, texts in self.sent.items():

                def arrived(r: Reader, nick: str = nick, count: int = len(texts)) -> bool:
                    return len(r.said(nick)) >= count

                await reader.wait(arrived, timeout)
                assert reader.said(nick) == texts, f"{nick}'s lines arrived wrong"
        for reader in self.readers:
            assert not reader.eof

    async def aclose(self) -> None:
        for stream in self.streams:
            await stream.aclose()


# ------------------------------------------------------------------------ server process


@attrs.define
class ServerProcess:
    """A ``triochat serve`` process, with what it wrote on stderr (read all along, unless
    :func:`serve_process` was told not to) and where it said it listens."""

    process: trio.Process
    #: The addresses of its endpoints, in order, as its "serving on" line gives them.
    addresses: list[str] = attrs.field(factory=list)
    #: Everything read from its stderr so far.
    stderr: bytearray = attrs.field(factory=bytearray)
    #: With ``--log-format json``: every stderr line, parsed (each must be one JSON object).
    json_logs: bool = False
    records: list[dict[str, Any]] = attrs.field(factory=list)
    _partial: bytes = b""
    _changed: trio.Event = attrs.field(factory=trio.Event)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.stderr.decode(errors="replace")

    @property
    def address(self) -> str:
        """The address of the first endpoint."""
        return self.addresses[0]

    @property
    def port(self) -> int:
        """The port of the first endpoint."""
        return int(self.address.rsplit(":", 1)[1])

    @property
    def endpoints(self) -> list[Endpoint]:
        """The endpoints it listens on (plain TCP has no scheme in the startup line)."""
        return [parse_endpoint(a if ":/" in a else f"tcp://{a}") for a in self.addresses]

    def _take(self, chunk: bytes | bytearray) -> None:
        self.stderr.extend(chunk)
        *lines, self._partial = (self._partial + bytes(chunk)).split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            if self.json_logs:
                record = json.loads(line)  # every line is one JSON object
                self.records.append(record)
                text = record["event"]
            if not self.addresses and (serving := _SERVING.search(text)):
                self.addresses = serving[1].split(", ")
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until_serving(self) -> None:
        """Read stderr until the process says where it listens."""
        assert self.process.stderr is not None
        with trio.fail_after(WAIT):
            while not self.addresses:
                chunk = await self.process.stderr.receive_some()
                assert chunk, f"server exited early: {bytes(self.stderr)!r}"
                self._take(chunk)

    async def collect_stderr(self) -> None:
        """Read the process's stderr into :attr:`stderr` until it ends."""
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.receive_some():
            self._take(chunk)
        assert not (self.json_logs and self._partial), self._partial

    async def record(self, event: str, after: int = 0) -> dict[str, Any]:
        """The first JSON record (from index *after* on) whose event contains *event*."""
        with trio.fail_after(WAIT):
            while True:
                for record in self.records[after:]:
                    if event in record["event"]:
                        return record
                await self._changed.wait()


@asynccontextmanager
async def serve_process(
    *args: str,
    max_open_files: int | None = None,
    read_stderr: bool = True,
    any_port: bool = True,
    json_logs: bool = False,
) -> AsyncIterator[ServerProcess]:
    """Run ``triochat serve --port 0 ARGS`` (``--port 0`` only with *any_port*; optionally
    with ``ulimit -n`` *max_open_files*), and wait until it says where it listens.

    Its stderr is read into :attr:`ServerProcess.stderr` all along (and parsed into
    :attr:`ServerProcess.records` with *json_logs*); with *read_stderr* false, only up to the
    startup line, and then not at all until the caller starts
    :meth:`ServerProcess.collect_stderr`. At the end it is stopped with SIGTERM, if it still
    runs, and must exit; it is killed by its PID on the way out if it is still running.
    """

    def limit_files() -> None:  # runs in the child, between fork and exec
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    port_args = ("--port", "0") if any_port else ()
    command: Sequence[str] = [*TRIOCHAT, "serve", *port_args, *args]
    process = await trio.lowlevel.open_process(
        command, stderr=subprocess.PIPE, preexec_fn=limit_files
    )
    try:
        server = ServerProcess(process, json_logs=json_logs)
        await server.wait_until_serving()
        async with trio.open_nursery() as nursery:
            if read_stderr:
                nursery.start_soon(server.collect_stderr)
            yield server
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with trio.fail_after(WAIT):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()  # only our own child, by its PID
        with trio.CancelScope(shield=True), trio.move_on_after(WAIT):
            await process.wait()
            if process.stderr is not None:
                await process.stderr.aclose()


@asynccontextmanager
async def json_server(config: Path, *args: str) -> AsyncIterator[ServerProcess]:
    """``triochat serve --config CONFIG --log-format json ARGS`` (see :func:`serve_process`)."""
    arguments = ("--config", str(config), "--log-format", "json", *args)
    async with serve_process(*arguments, any_port=False, json_logs=True) as server:
        yield server
