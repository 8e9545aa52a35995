"""What one idle connection holds in the server, by line and by type (tracemalloc).

    python -m bench.perf.idle_memory [--connections 500] [--top 25] [--frames 1]

The server runs in this process under tracemalloc; the clients are a child process of plain
sockets (so that none of their objects is counted). They connect, set no nick, and stay idle;
the snapshot taken before they connect is compared with the one after they settled, and every
figure is divided by the number of connections. With ``--frames N``, each line of the top
list is followed by the N calls that led to it (where an allocation made in C, or in a callee,
comes from). By type: the live objects the garbage collector
tracks, counted before and after (objects it does not track, such as bytes, show only by line).
"""

from __future__ import annotations

import argparse
import collections
import gc
import subprocess
import sys
import tracemalloc
from typing import Final

import trio

from triochat.server._config import ServerConfig
from triochat.server._server import ChatServer

#: The child that holds the clients: it connects, says it is done, and waits for stdin to close.
CLIENTS: Final = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
print("connected", flush=True)
sys.stdin.read()
"""


def _where(frame: tracemalloc.Frame) -> str:
    return f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}"


def _types() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def measure(connections: int, top: int, frames: int = 1) -> None:
    config = ServerConfig(port=0, max_clients_per_ip=connections + 10, announce_limit=10)
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(ChatServer(config=config).serve)
        port = server.addresses[0][1]
        await trio.sleep(0.2)
        gc.collect()
        types_before = _types()
        before = tracemalloc.take_snapshot()
        child = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [sys.executable, "-c", CLIENTS, str(port), str(connections)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdin is not None
        await trio.to_thread.run_sync(child.stdout.readline)
        while server.hub.statistics().members < connections:  # noqa: ASYNC110 - a poll of a count
            await trio.sleep(0.05)
        await trio.sleep(0.5)  # the welcomes are written, the outboxes empty
        gc.collect()
        after = tracemalloc.take_snapshot()
        types_after = _types()
        diff = after.compare_to(before, "lineno" if frames <= 1 else "traceback")
        total = sum(stat.size_diff for stat in diff)
        print(f"{connections} idle connections: {total / connections:,.0f} bytes each (traced)")
        print("\nby line (bytes per connection, blocks per connection):")
        for stat in diff[:top]:
            # tracemalloc orders a traceback from the oldest call to the allocation itself.
            frame, *callers = reversed(stat.traceback)
            print(
                f"  {stat.size_diff / connections:8.0f} {stat.count_diff / connections:6.2f}  "
                f"{_where(frame)}"
            )
            for caller in callers:
                print(f"  {'':15}    called from {_where(caller)}")
        print("\nby type (objects the garbage collector tracks, per connection):")
        grown = (types_after - types_before).most_common(top)
        for name, count in grown:
            print(f"  {count / connections:6.2f}  {name}")
        child.stdin.close()
        child.wait()
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=1, help="calls to show for each line")
    args = parser.parse_args()
    tracemalloc.start(max(1, args.frames))
    trio.run(measure, args.connections, args.top, args.frames)


if __name__ == "__main__":
    main()
