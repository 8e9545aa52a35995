"""Tutorial step 3: cancel scopes for timeouts and stopping; task_status.

This is "minichat", the end of the tutorial: about 140 lines that keep the promises of
triochat's design, in miniature.

Run it: python docs/examples/tutorial_3_cancel_scopes.py
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from typing import Final

import trio

from triochat import ChatConnection  # only the demo uses it, as a line-by-line client

MAX_LINE: Final = 4096
OUTBOX_SIZE: Final = 64
#: Seconds a client may stay silent before it is disconnected.
IDLE_TIMEOUT: Final = 300.0
#: Seconds a client's socket may take to accept one line before the client is cut off.
WRITE_TIMEOUT: Final = 30.0
#: Seconds spent on a goodbye line, even while the server is being cancelled.
GOODBYE_TIMEOUT: Final = 1.0


class Client:
    def __init__(self, name: str, outbox: trio.MemorySendChannel[bytes]) -> None:
        self.name = name
        self.outbox = outbox
        self.cancel_scope = trio.CancelScope()
        #: Why the client is leaving, as its goodbye line will say. If the server is
        #: cancelled from outside, nobody sets it: that is the server shutting down.
        self.reason = "server shutting down"
        self.say_goodbye = True

    def cut_off(self, reason: str) -> None:
        """End this client's tasks at once, with no goodbye: its socket is unusable."""
        self.reason, self.say_goodbye = reason, False
        self.cancel_scope.cancel()


class Chat:
    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self.clients: dict[str, Client] = {}
        self.numbers = itertools.count(1)

    async def handle(self, stream: trio.SocketStream) -> None:
        outbox, queued = trio.open_memory_channel[bytes](OUTBOX_SIZE)
        client = Client(f"guest-{next(self.numbers)}", outbox)
        try:
            with client.cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.write_lines, stream, queued, client)
                    self.clients[client.name] = client
                    try:
                        outbox.send_nowait(f"welcome, {client.name}\n".encode())
                        client.reason = await self.read_lines(stream, client.name)
                    finally:
                        del self.clients[client.name]
                        outbox.close()  # the writer sends what is queued, then ends
        finally:
            if client.say_goodbye:
                await self.goodbye(stream, client.reason)

    async def goodbye(self, stream: trio.SocketStream, reason: str) -> None:
        # Shielded: this runs even while the server is being cancelled. And bounded:
        # a shield with no deadline could wait for ever on a client that does not read.
        with trio.move_on_after(GOODBYE_TIMEOUT, shield=True):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(f"goodbye ({reason})\n".encode())

    async def write_lines(
        self,
        stream: trio.SocketStream,
        queued: trio.MemoryReceiveChannel[bytes],
        client: Client,
    ) -> None:
        async for data in queued:
            with trio.move_on_after(WRITE_TIMEOUT) as stuck:
                try:
                    await stream.send_all(data)
                except trio.BrokenResourceError:
                    client.cut_off("connection lost")
            if stuck.cancelled_caught:
                # Its socket accepted nothing for too long.
                client.cut_off("write timeout")

    async def read_lines(self, stream: trio.SocketStream, name: str) -> str:
        """Read and broadcast until the client leaves; return why it left."""
        buffer = b""
        while True:
            with trio.move_on_after(self.idle_timeout) as idle:
                try:
                    data = await stream.receive_some(4096)
                except trio.BrokenResourceError:
                    return "connection lost"
            if idle.cancelled_caught:
                return "idle timeout"
            if not data:
                return "client closed the connection"
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()
            if len(buffer) > MAX_LINE:
                return "line too long"
            for line in lines:
                text = line.decode("utf-8", errors="replace").strip()
                if text == "quit":
                    return "quit"
                if text:
                    self.broadcast(f"<{name}> {text}\n".encode())
                    await trio.lowlevel.checkpoint()

    def broadcast(self, data: bytes) -> None:
        too_slow = []
        for client in self.clients.values():
            try:
                client.outbox.send_nowait(data)
            except trio.WouldBlock:
                too_slow.append(client)
            except trio.BrokenResourceError:
                pass
        for client in too_slow:
            client.cut_off("too slow")


async def serve_chat(
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve chat on 127.0.0.1 until cancelled; report the port once listening.

    If the port cannot be had (it is in use, say), the OSError is raised before
    anything is reported, so ``await nursery.start(serve_chat, port)`` raises it.
    """
    chat = Chat(idle_timeout=idle_timeout)
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, chat.handle, listeners)
        task_status.started(listeners[0].socket.getsockname()[1])


async def main() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(functools.partial(serve_chat, 0, idle_timeout=1.0))
        try:
            await nursery.start(serve_chat, port)
        except OSError as exc:
            print("a second server on the same port:", exc.strerror)

        async with await trio.open_tcp_stream("127.0.0.1", port) as bob_stream:
            bob = ChatConnection(bob_stream)
            print("bob got:", await anext(bob))
            print("bob got:", await anext(bob))  # a second later, as bob said nothing

        alice_stream = await trio.open_tcp_stream("127.0.0.1", port)
        alice = ChatConnection(alice_stream)
        print("alice got:", await anext(alice))
        await alice.send("hello")
        print("alice got:", await anext(alice))
        # Stop the server: every task in the nursery is cancelled.
        nursery.cancel_scope.cancel()

    # When the nursery block ends they have all finished, and alice's goodbye was sent.
    async with alice_stream:
        async for line in alice:
            print("alice got:", line)


if __name__ == "__main__":
    trio.run(main)
