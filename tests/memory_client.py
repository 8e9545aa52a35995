"""An in-memory client for ``ChatServer.handle_stream``: no sockets, works on a virtual clock."""

from __future__ import annotations

import trio
import trio.testing

from triochat import ChatServer

#: Bound on each wait of a client made by :meth:`FakeClient.connect` (virtual seconds under
#: autojump_clock, where tests legitimately wait minutes for idle timeouts).
VIRTUAL_WAIT = 10_000.0


class FakeClient:
    """The client end of an in-memory connection to ``server.handle_stream``."""

    def __init__(self, stream: trio.abc.Stream, timeout: float = 30) -> None:
        self.stream = stream
        self.buffer = b""
        #: Bound on each wait (virtual seconds under autojump_clock, real ones otherwise).
        self.timeout = timeout

    @classmethod
    async def connect(
        cls,
        nursery: trio.Nursery,
        server: ChatServer,
        peer: str = "fake:1",
        *,
        ip: str | None = None,
        timeout: float = VIRTUAL_WAIT,
    ) -> FakeClient:
        """Serve a new in-memory client and wait until it is in the lobby."""
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(lambda: server.handle_stream(server_end, peer, ip=ip))
        client = cls(client_end, timeout)
        await client.until("joined #lobby")
        return client

    async def line(self) -> str | None:
        """The next line, or ``None`` at end of stream."""
        with trio.fail_after(self.timeout):
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
