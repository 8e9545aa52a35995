"""History memory: many rooms filled with the longest lines, then visited. Server RSS per step.

The attack of tracker issue 10 (item 4): ``--attackers`` connections from one address, each in
``--rooms-per-attacker`` rooms of its own, fill every room's history with lines of 1 024 astral
characters (4 096 UTF-8 bytes, the longest line the server takes), keeping to the server's
message rate. Then visitors join every room (each gets its history replayed), and the attackers
quit while the visitors stay. The server's resident memory is reported at each step, beside the
bound the history settings promise (rooms times ``--history-bytes``, at most
``--history-total-bytes``). Loopback only; bounded in size and time; it stops by itself.

    python bench/history_memory.py --history-bytes 65536        # the issue's attack, about 70 s
    python bench/history_memory.py --history-bytes 0            # the same with no history kept
    python bench/history_memory.py --rooms-per-attacker 3       # 297 rooms, about 25 s

The run with ``--history-bytes 0`` measures what the attack costs besides the history (the
connections' buffers, the allocator's fragmentation): subtract it to see the history's share.
``--old-server`` leaves out ``--history-total-bytes``, for servers from before that flag.
Visitors also connect from 127.0.0.1, so the per-address limit is raised to let them in.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import trio
from attack_kit import Reader, Server, open_raw, run_server

from triochat.core._hub import DEFAULT_HISTORY_TOTAL_BYTES
from triochat.core._room import DEFAULT_HISTORY_BYTES

ROOMS_PER_VISITOR = 19  # the default --rooms-per-client, less #lobby
LINE = "\U0001f600" * 1024  # 4 096 bytes of UTF-8, 4 KiB as a CPython str


async def _connect(nursery: trio.Nursery, port: int) -> Reader:
    reader = Reader(await open_raw(port))
    nursery.start_soon(reader.run)
    await reader.wait_for("joined #lobby")
    return reader


async def _attack(reader: Reader, rooms: list[str], lines: int, rate: float, burst: int) -> None:
    """Fill each of *rooms* with *lines* lines, keeping under the server's token bucket."""
    tokens = float(burst) - 1
    last = time.monotonic()
    for room in rooms:
        for data in [f"/join {room}", *[LINE] * lines]:
            now = time.monotonic()
            tokens = min(burst - 1.0, tokens + (now - last) * rate * 0.9)
            last = now
            if tokens < 1:
                await trio.sleep((1 - tokens) / (rate * 0.9))
                tokens, last = 1.0, time.monotonic()
            tokens -= 1
            await reader.stream.send_all(data.encode() + b"\n")
    expected = len(rooms) * lines
    await reader.wait(lambda r: sum(LINE in line for line in r.lines) >= expected, timeout=600)


async def _visit(reader: Reader, rooms: list[str]) -> None:
    for room in rooms:
        await reader.stream.send_all(f"/join {room}\n".encode())
        await reader.wait_for(f"joined {room}", timeout=60)


async def _settled_rss(server: Server) -> int:
    """RSS in KiB once it stops changing for half a second (frees may still be in flight)."""
    previous = -1
    with trio.move_on_after(10):
        while (rss := server.memory_kib()) != previous:
            previous = rss
            await trio.sleep(0.5)
    return server.memory_kib()


async def measure(args: argparse.Namespace) -> dict[str, object]:
    rooms = args.attackers * args.rooms_per_attacker
    visitors = math.ceil(rooms / ROOMS_PER_VISITOR)
    flags = ["--max-clients-per-ip", str(args.attackers + visitors + 10), *args.server_args]
    mib = 1024.0
    result: dict[str, object] = {"server_flags": flags}
    async with run_server(*flags) as server, trio.open_nursery() as nursery:
        attackers = [await _connect(nursery, server.port) for _ in range(args.attackers)]
        visitor_readers = [await _connect(nursery, server.port) for _ in range(visitors)]
        names = [f"#h{index}" for index in range(rooms)]
        rss = {"connected": await _settled_rss(server)}
        started = time.perf_counter()
        async with trio.open_nursery() as attacking:
            for index, reader in enumerate(attackers):
                mine = names[
                    index * args.rooms_per_attacker : (index + 1) * args.rooms_per_attacker
                ]
                attacking.start_soon(_attack, reader, mine, args.lines, args.rate, args.burst)
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        rss["filled"] = await _settled_rss(server)
        async with trio.open_nursery() as visiting:
            for index, reader in enumerate(visitor_readers):
                mine = names[index * ROOMS_PER_VISITOR : (index + 1) * ROOMS_PER_VISITOR]
                visiting.start_soon(_visit, reader, mine)
        rss["visited"] = await _settled_rss(server)
        for reader in attackers:
            await reader.stream.aclose()
        await trio.sleep(1)
        rss["attackers_left"] = await _settled_rss(server)
        result["server_rss_mib"] = {step: round(kib / mib, 1) for step, kib in rss.items()}
        result["rss_growth_mib"] = {
            step: round((kib - rss["connected"]) / mib, 1) for step, kib in rss.items()
        }
        result["peak_rss_mib"] = round(server.memory_kib("VmHWM") / mib, 1)
        for reader in visitor_readers:
            await reader.stream.aclose()
        nursery.cancel_scope.cancel()
    result["rooms"] = rooms
    result["lines_per_room"] = args.lines
    # What the settings promise the history of all rooms holds at most.
    bound = rooms * args.history_bytes
    if not args.old_server:
        bound = min(bound, args.history_total_bytes)
    result["history_bound_mib"] = round(bound / 2**20, 1)
    growth = result["rss_growth_mib"]
    assert isinstance(growth, dict)
    if bound:
        result["worst_growth_over_bound"] = round(max(growth.values()) / (bound / 2**20), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attackers", type=int, default=99)
    parser.add_argument("--rooms-per-attacker", type=int, default=10)
    parser.add_argument("--lines", type=int, default=64, help="lines sent to each room")
    parser.add_argument("--rate", type=float, default=10.0, help="the server's --rate")
    parser.add_argument("--burst", type=int, default=100, help="the server's --burst")
    parser.add_argument("--history-bytes", type=int, default=DEFAULT_HISTORY_BYTES)
    parser.add_argument("--history-total-bytes", type=int, default=DEFAULT_HISTORY_TOTAL_BYTES)
    parser.add_argument(
        "--old-server",
        action="store_true",
        help="a server without --history-total-bytes (to measure the code before the fix)",
    )
    args = parser.parse_args()
    args.server_args = ["--rate", str(args.rate), "--burst", str(args.burst)]
    args.server_args += ["--history-bytes", str(args.history_bytes)]
    if not args.old_server:
        args.server_args += ["--history-total-bytes", str(args.history_total_bytes)]
    print(json.dumps(trio.run(measure, args), indent=2))


if __name__ == "__main__":
    main()
