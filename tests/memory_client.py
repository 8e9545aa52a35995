"""An in-memory client for ``ChatServer.handle_stream``: no sockets, works on a virtual clock."""

from __future__ import annotations

import trio
import trio.testing

from triochat import ChatServer

#: Bound on each wait on the virtual clock (autojump_clock), where tests legitimately wait
#: minutes for idle timeouts, and costs nothing.
VIRTUAL_WAIT = 10_000.0
#: Bound on each wait on the real clock: a line that never comes fails the test this soon,
#: instead of hanging it (which is what a mutation test run meets all the time).
REAL_WAIT = 10.0


def default_wait() -> float:
    """:data:`VIRTUAL_WAIT` under a :class:`trio.testing.MockClock`, else :data:`REAL_WAIT`."""
    clock = trio.lowlevel.current_clock()
    return VIRTUAL_WAIT if isinstance(clock, trio.testing.MockClock) else REAL_WAIT


class FakeClient:
    """The client end of an in-memory connection to ``server.handle_stream``."""

    def __init__(self, stream: trio.abc.Stream, timeout: float | None = None) -> None:
        self.stream = stream
        self.buffer = b""
        #: Bound on each wait, in the clock's seconds (:func:`default_wait` if ``None``).
        self.timeout = timeout

    @classmethod
    async def connect(
        cls,
        nursery: trio.Nursery,
        server: ChatServer,
        peer: str = "fake:1",
        *,
        ip: str | None = None,
        timeout: float | None = None,
    ) -> FakeClient:
        """Serve a new in-memory client and wait until it is in the lobby."""
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(lambda: server.handle_stream(server_end, peer, ip=ip))
        client = cls(client_end, timeout)
        await client.until("joined #lobby")
        return client

    async def line(self) -> str | None:
        """The next line, or ``None`` at end of stream."""
        with trio.fail_after(self.timeout if self.timeout is not None else default_wait()):
            while b"\n" not in self.buffer:
                data = await self.stream.receive_some(65536)
                if not data:
                    return None
                self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    async def until(self, needle: str) -> str:
        """The first line that contains *needle*; fails if the stream ends first."""
        while True:
            line = await self.line()
            assert line is not None, f"closed before {needle!r}"
            if needle in line:
                return line

    async def rest(self) -> list[str]:
        """Every line until the end of the stream."""
        lines = []
        while (line := await self.line()) is not None:
            lines.append(line)
        return lines

    async def send(self, data: bytes | str) -> None:
        """Send raw bytes, or a string as one line."""
        await self.stream.send_all(data if isinstance(data, bytes) else data.encode() + b"\n")
