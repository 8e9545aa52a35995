"""Where the tutorial starts: a thread-per-client chat server, the way socket tutorials write it.

It works in a demo and has every flaw that the tutorial (docs/tutorial.md) then removes; the
comments mark each one with its number in the tutorial. Do not build on it.

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
        # One table, read and changed by every thread, with no lock.           [flaw 5]
        self.clients: dict[tuple[str, int], TextIO] = {}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def start(self) -> None:
        self.listener.bind(self.address)  # in use? an OSError traceback       [flaw 8]
        self.listener.listen()
        self.address = self.listener.getsockname()
        threading.Thread(target=self.accept, name="accept", daemon=True).start()

    def accept(self) -> None:
        while True:
            sock, peer = self.listener.accept()  # a thread blocked here, forever [flaw 2]
            file = sock.makefile("rw", encoding="utf-8", newline="\n")
            self.clients[peer] = file
            name = f"client {peer[0]}:{peer[1]}"
            threading.Thread(target=self.recv, args=(file, peer), name=name, daemon=True).start()

    def recv(self, file: TextIO, peer: tuple[str, int]) -> None:
        while True:
            line = file.readline()  # no length limit [7]; bad UTF-8 raises       [flaw 9]
            if not line:
                return  # the peer vanished; it stays in self.clients           [flaw 1]
            if line.strip() == "quit":
                del self.clients[peer]
                file.close()
                return
            self.broadcast(line.rstrip("\n"), peer)

    def broadcast(self, message: str, peer: tuple[str, int]) -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        # The sender is only an address, and the message may contain a newline
        # and a fake header of its own.                                        [flaw 10]
        text = f"{stamp} {peer[0]}:{peer[1]}\n{message}\n"
        for file in self.clients.values():  # another thread may change the table now [5]
            file.write(text)
            file.flush()  # blocks while this client does not read               [flaw 4]
            # ... and raises if it is gone: the clients after it miss the line   [flaw 3]

    def stop(self) -> None:
        for file in list(self.clients.values()):
            file.close()
        self.listener.close()  # wakes neither accept() nor readline()        [flaw 6]


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
