"""A plain asyncio server of the triochat wire protocol: the baseline the benchmark compares with.

Written the way an asyncio programmer would write it with streams: one task per client reading
lines with ``readline``, and a broadcast that calls ``writer.write`` on every client (no ``await``,
so one slow client never stalls the others; its backlog is checked after each write and it is cut
off past 1 MiB, like triochat's byte bound). Each line is encoded once.

    python -m bench.perf.servers.asyncio_chat --port 0 [--uvloop]

Prints ``serving on 127.0.0.1:PORT`` on stderr once listening; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys

from .common import (
    MAX_BACKLOG,
    MAX_LINE,
    SLOW_CONSUMER,
    action_line,
    chat_line,
    clean,
    joined_line,
    left_line,
    nick_line,
    valid_nick,
    welcome,
)


class Chat:
    def __init__(self, announce_limit: int | None) -> None:
        self.announce_limit = announce_limit
        self.writers: dict[asyncio.StreamWriter, str] = {}
        self.nicks: set[str] = set()
        self.guests = itertools.count(1)

    def broadcast(self, data: bytes) -> None:
        slow = []
        for writer in self.writers:
            writer.write(data)
            if writer.transport.get_write_buffer_size() > MAX_BACKLOG:
                slow.append(writer)
        for writer in slow:
            self.leave(writer, SLOW_CONSUMER)
            writer.transport.abort()

    def quiet(self) -> bool:
        """Whether the room is too large to announce joins, leaves and nick changes."""
        return self.announce_limit is not None and len(self.writers) > self.announce_limit

    def tell(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Send *data* to one client, or to the room if it is small enough to announce."""
        if self.quiet():
            writer.write(data)
        else:
            self.broadcast(data)

    def leave(self, writer: asyncio.StreamWriter, reason: str) -> None:
        quiet = self.quiet()
        nick = self.writers.pop(writer, None)
        if nick is None:
            return
        self.nicks.discard(nick.casefold())
        if not quiet:
            self.broadcast(left_line(nick, reason))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nick = f"guest-{next(self.guests)}"
        self.nicks.add(nick.casefold())
        writer.write(welcome(nick, len(self.writers)))
        self.writers[writer] = nick
        self.tell(writer, joined_line(nick))
        reason = "client closed the connection"
        try:
            while writer in self.writers:
                try:
                    raw = await reader.readline()
                except ValueError:  # longer than the stream limit
                    writer.write(b"*** error: line too long; discarded\n")
                    continue
                if not raw:
                    break
                text = clean(raw.rstrip(b"\r\n").decode("utf-8", "replace"))
                if not text.strip():
                    continue
                if text == "quit" or text.startswith("/quit"):
                    reason = "quit"
                    break
                if text.startswith("/nick "):
                    new = text[6:].strip()
                    if not valid_nick(new) or new.casefold() in self.nicks:
                        writer.write(b"*** error: that nick is not available\n")
                        continue
                    self.nicks.discard(nick.casefold())
                    self.nicks.add(new.casefold())
                    old, nick = nick, new
                    self.writers[writer] = nick
                    self.tell(writer, nick_line(old, nick))
                    continue
                if text.startswith("/me "):
                    self.broadcast(action_line(nick, text[4:]))
                    continue
                if text.startswith("//"):
                    text = text[1:]
                elif text.startswith("/"):
                    writer.write(b"*** error: unknown command\n")
                    continue
                self.broadcast(chat_line(nick, text))
        except ConnectionError:
            reason = "connection lost"
        finally:
            self.leave(writer, reason)
            writer.transport.abort()


async def serve(port: int, announce_limit: int | None) -> None:
    chat = Chat(announce_limit)
    server = await asyncio.start_server(
        chat.handle, "127.0.0.1", port, limit=MAX_LINE + 2, backlog=4096
    )
    address = server.sockets[0].getsockname()
    print(f"serving on {address[0]}:{address[1]}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--announce-limit", type=int)
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.port, args.announce_limit))
    else:
        asyncio.run(serve(args.port, args.announce_limit))


if __name__ == "__main__":
    main()
