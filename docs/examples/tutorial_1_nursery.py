"""Tutorial step 1: one task per client, in a nursery.

Not finished: a slow client still stalls the broadcast (step 2 fixes that).
Run it: python docs/examples/tutorial_1_nursery.py
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from typing import Final

import trio

from triochat import ChatConnection  # only the demo uses it, as a line-by-line client

#: Longest line a client may send, in bytes. A longer one ends its connection.
MAX_LINE: Final = 4096


class Chat:
    def __init__(self) -> None:
        self.clients: dict[trio.SocketStream, str] = {}
        self.numbers = itertools.count(1)

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one client. trio.serve_tcp runs this in a new task per connection."""
        name = f"guest-{next(self.numbers)}"
        self.clients[stream] = name
        try:
            await stream.send_all(f"welcome, {name}\n".encode())
            await self.read_lines(stream, name)
        except trio.BrokenResourceError:
            pass  # the connection broke: this client is gone, and only this one
        finally:
            del self.clients[stream]  # however the task ends, the client leaves

    async def read_lines(self, stream: trio.SocketStream, name: str) -> None:
        buffer = b""
        while True:
            data = await stream.receive_some(4096)
            if not data:
                return  # the client closed the connection
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()  # the unfinished end of the data, if any
            if len(buffer) > MAX_LINE:
                await stream.send_all(b"error: line too long\n")
                return
            for line in lines:
                text = line.decode("utf-8", errors="replace").strip()
                if text == "quit":
                    return
                if text:
                    await self.broadcast(f"<{name}> {text}\n".encode())

    async def broadcast(self, data: bytes) -> None:
        # A copy: clients may come and go while this task waits in send_all.
        for stream in list(self.clients):
            # If that client is gone, skip it: its own task cleans up after it.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(data)  # waits for each client in turn: step 2


async def main() -> None:
    chat = Chat()
    async with trio.open_nursery() as nursery:
        # trio.serve_tcp runs until cancelled; nursery.start returns once it listens
        # (port 0: any free port) and hands back its listeners, which know the port.
        serve = functools.partial(trio.serve_tcp, chat.handle, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        port = listeners[0].socket.getsockname()[1]

        async with await trio.open_tcp_stream("127.0.0.1", port) as alice_stream:
            alice = ChatConnection(alice_stream)
            # The welcome line: alice is in the table now.
            print("alice got:", await anext(alice))
            async with await trio.open_tcp_stream("127.0.0.1", port) as bob_stream:
                bob = ChatConnection(bob_stream)
                print("bob got:", await anext(bob))
                # A client that vanishes without a word must not break the broadcast.
                carol_stream = await trio.open_tcp_stream("127.0.0.1", port)
                await anext(ChatConnection(carol_stream))
                await carol_stream.aclose()
                await alice.send("hello, bob")
                print("bob got:", await anext(bob))
        nursery.cancel_scope.cancel()  # stop serving; every task in the nursery ends


if __name__ == "__main__":
    trio.run(main)
