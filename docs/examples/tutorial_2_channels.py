"""Tutorial step 2: an outbox and a writer per client; a broadcast that never waits.

Run it: python docs/examples/tutorial_2_channels.py
"""

from __future__ import annotations

import functools
import itertools
from typing import Final

import trio

from triochat import ChatConnection  # only the demo uses it, as a line-by-line client

MAX_LINE: Final = 4096
#: Lines queued for one client. A client this far behind is cut off as too slow.
OUTBOX_SIZE: Final = 64


class Client:
    def __init__(self, name: str, outbox: trio.MemorySendChannel[bytes]) -> None:
        self.name = name
        # The broadcast puts lines in; the client's writer task takes them out.
        self.outbox = outbox
        self.cancel_scope = trio.CancelScope()  # cancelling it ends the client's tasks


class Chat:
    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.numbers = itertools.count(1)

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one client with two tasks: this one reads, a child task writes."""
        outbox, queued = trio.open_memory_channel[bytes](OUTBOX_SIZE)
        client = Client(f"guest-{next(self.numbers)}", outbox)
        with client.cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.write_lines, stream, queued, client)
                self.clients[client.name] = client
                try:
                    outbox.send_nowait(f"welcome, {client.name}\n".encode())
                    await self.read_lines(stream, client.name)
                finally:
                    del self.clients[client.name]
                    outbox.close()  # the writer sends what is still queued, then ends

    async def write_lines(
        self,
        stream: trio.SocketStream,
        queued: trio.MemoryReceiveChannel[bytes],
        client: Client,
    ) -> None:
        """The only task that writes to this client's socket."""
        try:
            async for data in queued:
                await stream.send_all(data)
        except trio.BrokenResourceError:
            client.cancel_scope.cancel()  # the connection broke: stop reading too

    async def read_lines(self, stream: trio.SocketStream, name: str) -> None:
        buffer = b""
        while True:
            try:
                data = await stream.receive_some(4096)
            except trio.BrokenResourceError:
                return  # reset by the peer
            if not data:
                return
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()
            if len(buffer) > MAX_LINE:
                return
            for line in lines:
                text = line.decode("utf-8", errors="replace").strip()
                if text == "quit":
                    return
                if text:
                    self.broadcast(f"<{name}> {text}\n".encode())
                    # Let the writers run between lines, so that a big paste from one
                    # client is not mistaken for every other client being slow.
                    await trio.lowlevel.checkpoint()

    def broadcast(self, data: bytes) -> None:
        """Queue *data* for every client. No await, so the table stays as it is."""
        too_slow = []
        for client in self.clients.values():
            try:
                client.outbox.send_nowait(data)  # never waits
            except trio.WouldBlock:
                too_slow.append(client)  # its outbox is full: it stopped reading
            except trio.BrokenResourceError:
                pass  # its writer has ended: it is on its way out
        for client in too_slow:
            client.cancel_scope.cancel()


async def main() -> None:
    chat = Chat()
    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, chat.handle, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        port = listeners[0].socket.getsockname()[1]

        async with await trio.open_tcp_stream("127.0.0.1", port) as alice_stream:
            alice = ChatConnection(alice_stream)
            print("alice got:", await anext(alice))
            # Dave connects and never reads: socket buffers fill up, then his outbox.
            async with await trio.open_tcp_stream("127.0.0.1", port) as dave_stream:
                dave = ChatConnection(dave_stream)
                print("dave got:", await anext(dave))
                # Alice talks on. Each of her lines reaches her at once, however far
                # behind dave falls, and once his outbox is full he is cut off.
                line = "x" * 1000
                for _ in range(1000):
                    await alice.send(line)
                    assert await anext(alice) == f"<guest-1> {line}"
                left = ", ".join(chat.clients)
                print("alice got all 1000 lines; clients left:", left)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
