"""A thread-per-client server of the triochat wire protocol, in the style of the program triochat
grew from (see ORIGIN.md): an accept thread, one thread per client reading lines from
``socket.makefile``, and a broadcast that calls blocking ``sendall`` on every client in turn.

Unlike the original it guards the client table with a lock (so it does not crash while
measured), but it keeps its design: one client that stops reading blocks the broadcast.

    python -m bench.perf.servers.thread_chat --port 0

Prints ``serving on 127.0.0.1:PORT`` on stderr once listening; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import socket
import sys
import threading

from .common import (
    MAX_LINE,
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
        self.clients: dict[socket.socket, str] = {}
        self.nicks: set[str] = set()
        self.lock = threading.Lock()
        self.guests = itertools.count(1)

    def broadcast(self, data: bytes) -> None:
        with self.lock:
            for client in list(self.clients):
                with contextlib.suppress(OSError):
                    client.sendall(data)

    def quiet(self) -> bool:
        """Whether the room is too large to announce joins, leaves and nick changes."""
        return self.announce_limit is not None and len(self.clients) > self.announce_limit

    def tell(self, sock: socket.socket, data: bytes) -> None:
        """Send *data* to one client, or to the room if it is small enough to announce."""
        if self.quiet():
            with contextlib.suppress(OSError):
                sock.sendall(data)
        else:
            self.broadcast(data)

    def serve_client(self, sock: socket.socket) -> None:
        with self.lock:
            nick = f"guest-{next(self.guests)}"
            self.nicks.add(nick.casefold())
            others = len(self.clients)
            self.clients[sock] = nick
        with contextlib.suppress(OSError):
            sock.sendall(welcome(nick, others))
        self.tell(sock, joined_line(nick))
        reason = "client closed the connection"
        reader = sock.makefile("rb")
        try:
            while True:
                raw = reader.readline(MAX_LINE + 2)
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
                    with self.lock:
                        free = valid_nick(new) and new.casefold() not in self.nicks
                        if free:
                            self.nicks.discard(nick.casefold())
                            self.nicks.add(new.casefold())
                            old, nick = nick, new
                            self.clients[sock] = nick
                    if free:
                        self.tell(sock, nick_line(old, nick))
                    else:
                        sock.sendall(b"*** error: that nick is not available\n")
                    continue
                if text.startswith("/me "):
                    self.broadcast(action_line(nick, text[4:]))
                    continue
                if text.startswith("//"):
                    text = text[1:]
                elif text.startswith("/"):
                    sock.sendall(b"*** error: unknown command\n")
                    continue
                self.broadcast(chat_line(nick, text))
        except OSError:
            reason = "connection lost"
        finally:
            with self.lock:
                quiet = self.quiet()
                self.clients.pop(sock, None)
                self.nicks.discard(nick.casefold())
            if not quiet:
                self.broadcast(left_line(nick, reason))
            sock.close()

    def accept(self, listener: socket.socket) -> None:
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=self.serve_client, args=(sock,), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--announce-limit", type=int)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", args.port), backlog=4096)
    chat = Chat(args.announce_limit)
    threading.Thread(target=chat.accept, args=(listener,), daemon=True).start()
    address = listener.getsockname()
    print(f"serving on {address[0]}:{address[1]}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
