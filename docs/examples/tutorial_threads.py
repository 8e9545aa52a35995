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
            file = sock.makefile("rw", encoding="utf-8", newline="\n")
            self.clients[peer] = file
            name = f"client {peer[0]}:{peer[1]}"
            thread = threading.Thread(target=self.recv, args=(file, peer), name=name)
            thread.daemon = True
            thread.start()

    def recv(self, file: TextIO, peer: tuple[str, int]) -> None:
        while True:
            line = file.readline()  # [7] no length limit; [9] bad UTF-8 raises
            if not line:
                return  # [1] the peer vanished; it stays in self.clients
            if line.strip() == "quit":
                del self.clients[peer]
                file.close()
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
    sockets = [socket.create_connection(server.address) for _ in range(2)]
    alice, bob = (sock.makefile("rw", encoding="utf-8") for sock in sockets)
    for who in (alice, bob):
        # The server registers a client in its accept thread, some time after connect()
        # returns. The echo of "I'm ready." shows that this client is in the table.
        who.write("I'm ready.\n")
        who.flush()
        while who.readline().strip() != "I'm ready.":
            pass
    alice.write("hello, bob\n")
    alice.flush()
    while (line := bob.readline().strip()) != "hello, bob":
        pass
    print("bob got:", line)
    for who in (alice, bob):
        who.write("quit\n")
        who.flush()
    deadline = time.monotonic() + 5
    while server.clients and time.monotonic() < deadline:
        time.sleep(0.01)  # both "quit" lines handled: their threads have returned
    server.stop()
    time.sleep(0.5)  # give any thread that stop() woke plenty of time to finish
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print("threads still running after stop():", ", ".join(stuck) or "none")
    for sock, file in zip(sockets, (alice, bob), strict=True):
        file.close()
        sock.close()


if __name__ == "__main__":
    main()
