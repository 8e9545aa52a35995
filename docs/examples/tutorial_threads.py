"""Where the tutorial starts: a thread-per-client chat server, in the classic style.

It works in a demo and has every flaw that the tutorial (docs/tutorial.md) removes; the
comments mark each with its number there. Do not build on it.

Run it: python docs/examples/tutorial_threads.py
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TextIO


class ThreadedChatServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 9999) -> None:
        self.address: tuple[str, int] = (host, port)
        # [5] One table, read and changed by every thread, with no lock.
        self.clients: dict[tuple[str, int], TextIO] = {}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def start(self) -> None:
        self.listener.bind(self.address)  # [8] in use? an OSError traceback
        self.listener.listen()
        self.address = self.listener.getsockname()
        threading.Thread(target=self.accept, name="accept", daemon=True).start()

    def accept(self) -> None:
        while True:
            sock, peer = self.listener.accept()  # [2] a thread blocked here
            reader = sock.makefile("r", encoding="utf-8", newline="\n")
            self.clients[peer] = sock.makefile("w", encoding="utf-8", newline="\n")
            name = f"client {peer[0]}:{peer[1]}"
            thread = threading.Thread(target=self.recv, args=(reader, peer), name=name)
            thread.daemon = True
            thread.start()

    def recv(self, reader: TextIO, peer: tuple[str, int]) -> None:
        while True:
            line = reader.readline()  # [7] no length limit; [9] bad UTF-8 raises
            if not line:
                return  # [1] the peer vanished; it stays in self.clients
            if line.strip() == "quit":
                self.clients.pop(peer).close()
                reader.close()
                return
            self.broadcast(line.rstrip("\n"), peer)

    def broadcast(self, message: str, peer: tuple[str, int]) -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        # [10] The sender is only an address, and the message may contain a
        # newline and a fake header of its own.
        text = f"{stamp} {peer[0]}:{peer[1]}\n{message}\n"
        # [5] Another thread may change the table during this loop.
        for file in self.clients.values():
            file.write(text)
            # [4] Blocks while this client does not read; [3] raises if it is
            # gone, and the clients after it miss the line.
            file.flush()

    def stop(self) -> None:
        for file in list(self.clients.values()):
            file.close()
        self.listener.close()  # [6] wakes neither accept() nor readline()


def main() -> None:
    server = ThreadedChatServer(port=0)
    server.start()

    def wait_for_clients(count: int) -> None:
        # A real client cannot tell when the server has registered it (or let it go);
        # this demo peeks at the server's table, and does one thing at a time, so that
        # the races of flaw 5 cannot spoil it.
        deadline = time.monotonic() + 5
        while len(server.clients) != count and time.monotonic() < deadline:
            time.sleep(0.01)

    sockets = []
    for count in (1, 2):
        sockets.append(socket.create_connection(server.address))
        wait_for_clients(count)
    alice, bob = (sock.makefile("rw", encoding="utf-8") for sock in sockets)
    alice.write("hello, bob\n")
    alice.flush()
    while (line := bob.readline().strip()) != "hello, bob":
        pass  # the line before it is the header: the time and alice's address
    print("bob got:", line)
    for count, who in enumerate((alice, bob)):
        who.write("quit\n")
        who.flush()
        wait_for_clients(1 - count)
    server.stop()
    time.sleep(0.5)  # give any thread that stop() woke plenty of time to finish
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print("threads still running after stop():", ", ".join(stuck) or "none")
    for sock, file in zip(sockets, (alice, bob), strict=True):
        file.close()
        sock.close()


if __name__ == "__main__":
    main()
