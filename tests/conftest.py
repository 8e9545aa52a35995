"""Shared fixtures: a server on an ephemeral loopback port and a line-oriented test client."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
import trio

from tests.cleanup import close_at_test_end, sockets_closed_at_exit
from tests.transport_helpers import CertFiles, make_cert_files
from triochat import ChatServer, ServerConfig

#: Upper bound for any single wait in a real-socket test. Tests never sleep for a fixed time: they
#: wait for a line, and this only turns a hang into a failure.
WAIT: float = 10.0


@attrs.define
class LineClient:
    """A raw client (TCP, or any stream) that reads whole lines, to check what the server sends."""

    stream: trio.abc.Stream
    _buffer: bytes = b""
    eof: bool = False

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> LineClient:
        """Connect over TCP; the socket is closed when the test ends, even if it fails."""
        stream = await trio.open_tcp_stream(host, port)
        close_at_test_end(stream.socket)
        return cls(stream)

    @classmethod
    async def open_unix(cls, path: str | Path) -> LineClient:
        """Connect to a Unix socket; closed when the test ends, even if it fails."""
        stream = await trio.open_unix_socket(str(path))
        close_at_test_end(stream.socket)
        return cls(stream)

    @property
    def socket(self) -> trio.socket.SocketType:
        """The socket under a TCP or Unix client (for socket options)."""
        assert isinstance(self.stream, trio.SocketStream), self.stream
        return self.stream.socket

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = (data + "\n").encode()
        await self.stream.send_all(data)

    async def line(self) -> str:
        """The next line, without its newline; fails if none arrives within WAIT seconds."""
        with trio.fail_after(WAIT):
            while b"\n" not in self._buffer:
                data = await self.stream.receive_some(65536)
                if not data:
                    self.eof = True
                    raise EOFError(f"connection closed; unterminated: {self._buffer!r}")
                self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def until(self, needle: str) -> list[str]:
        """Lines up to and including the first one that contains *needle*."""
        seen: list[str] = []
        while True:
            line = await self.line()
            seen.append(line)
            if needle in line:
                return seen

    async def rest(self) -> list[str]:
        """Every line until the server closes the connection."""
        lines: list[str] = []
        try:
            while True:
                lines.append(await self.line())
        except EOFError:
            return lines

    async def registered(self, nick: str | None = None) -> LineClient:
        """Wait for the welcome and our own join; set *nick* if given."""
        await self.until("joined #lobby")
        if nick is not None:
            await self.send(f"/nick {nick}")
            await self.until(f"is now known as {nick}")
        return self

    async def aclose(self) -> None:
        await self.stream.aclose()


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(port=0)


@pytest.fixture
async def server(nursery: trio.Nursery, config: ServerConfig) -> ChatServer:
    """A server on a free loopback port, stopped when the test's nursery is cancelled."""
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    return server


@pytest.fixture
def port(server: ChatServer) -> int:
    port: int = server.addresses[0][1]
    return port


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until *predicate* holds (state changed by other tasks), polling; fail on timeout."""
    with trio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - the state lives in the server, not an Event
            await trio.sleep(0.005)


def _open_fds() -> set[tuple[str, str]]:
    """(fd, what it points to) for every open file descriptor of this process."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        # OSError: closed meanwhile (it was the listing's own descriptor).
        with contextlib.suppress(OSError):
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
    return found


@pytest.fixture(autouse=True)
def no_leaked_sockets() -> Iterator[None]:
    """Every test closes what it opened: no file descriptor (socket, pipe) outlives it.

    Runs outside the test's trio.run, so the run's own epoll and wake-up fds are gone by then.
    Sockets opened through the shared helpers are closed on the way out (see cleanup.py).
    """
    before = _open_fds()
    with sockets_closed_at_exit():
        yield
        gc.collect()
        leaked = _open_fds() - before
    # The sockets the helpers opened are closed by now, passed or failed: a leak is blamed on
    # the test that made it, never on the next one.
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


class _CrashLog(logging.Handler):
    """Collects the records of crashes the server contained (see ``triochat._isolation``)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "contained_crash", False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _loud_contained_crashes(request: pytest.FixtureRequest) -> Iterator[_CrashLog]:
    """A crash the server contains (it costs one connection, and the server goes on) is still a
    bug: it fails the test that caused it, unless the test asks for ``contained_crashes``."""
    handler = _CrashLog()
    logger = logging.getLogger("triochat")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    if handler.records and "contained_crashes" not in request.fixturenames:
        messages = "\n".join(record.getMessage() for record in handler.records)
        pytest.fail(f"the server contained {len(handler.records)} crash(es):\n{messages}")


@pytest.fixture
def contained_crashes(_loud_contained_crashes: _CrashLog) -> list[logging.LogRecord]:
    """The crashes the server contained during this test, for tests that cause them on purpose."""
    return _loud_contained_crashes.records


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A trustme CA and a server certificate for 127.0.0.1, ::1 and localhost."""
    return make_cert_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory with a short path, for Unix sockets (whose paths must fit in 107 bytes;
    pytest's tmp_path can be longer)."""
    with tempfile.TemporaryDirectory(prefix="tc-") as name:
        yield Path(name)
