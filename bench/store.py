"""What durable rooms (``--data-dir``) cost: the SQLite store alone, and the server with it.

(1) **The store alone**: events published through a durable room's log as fast as one task can
(``SqliteLog.append``: the memory log's work plus one append to the writer's queue), written by
the writer thread in batched commits; persisted messages a second = events in the file / time
from the first publish to the last commit. Target: 50 000/s.

(2) **The server**: bench/perf's fan-out (a) and latency (b) scenarios against ``triochat`` and
``triochat --data-dir`` in one invocation (rounds interleaved, the best of each counts, as
bench/perf does). Targets: (a) at least 90 % of the in-memory figure, (b) p99 within 1.2x.

    python -m bench.store                 # both, results in bench/perf/results/store.json
    python -m bench.store --store-only    # (1) only
    python -m bench.store --quick         # shorter scenarios for (2)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import trio

from triochat import Hub, Message
from triochat.engines._sqlite import RoomStore

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = ROOT / "bench" / "perf" / "results" / "store.json"
#: Events published per yield to the event loop (a busy server's scheduling round).
BATCH: Final = 1000


async def store_alone(events: int, rooms: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="triochat-store-") as directory:
        store = RoomStore(directory, max_pending=events + 1000)
        await store.open(history_events=100)
        try:
            hub = Hub(room_log=store.room_log, history_total_bytes=1 << 30)
            logs = [hub.room(f"#bench{number}").log for number in range(rooms)]
            await store.flush()
            text = "a line of chat of an ordinary length, about sixty bytes long"
            start = time.perf_counter()
            for number in range(events):
                logs[number % rooms].append(Message, "bench", {"text": text})
                if number % BATCH == BATCH - 1:
                    await trio.lowlevel.checkpoint()
            published = time.perf_counter() - start
            await store.flush()
            elapsed = time.perf_counter() - start
            stats = store.statistics()
        finally:
            await store.aclose()
        size = await trio.to_thread.run_sync(_size, Path(directory))
    return {
        "events": events,
        "rooms": rooms,
        "publish_seconds": published,
        "seconds": elapsed,
        "persisted": stats.written,
        "dropped": stats.dropped,
        "persisted_per_second": stats.written / elapsed,
        "publish_per_second": events / published,
        "file_bytes": size,
    }


async def fanout_in_process(messages: int, members: int, durable: bool) -> dict[str, Any]:
    """CPU (every thread of this process) to publish *messages* to a room of *members* and take
    them out of every outbox: the fan-out's own cost, with no sockets and no other process, so
    that the figure does not depend on what else the machine runs."""
    with tempfile.TemporaryDirectory(prefix="triochat-store-") as directory:
        store = RoomStore(directory) if durable else None
        if store is not None:
            await store.open(history_events=100)
        try:
            hub = Hub(room_log=store.room_log) if store is not None else Hub()
            people = [hub.connect(f"m{number}", max_events=10_000) for number in range(members)]
            room = hub.join(people[0], "#fanout")
            for member in people[1:]:
                hub.join(member, "#fanout")
            text = "a line of chat of an ordinary length, about sixty bytes long"
            start_cpu, start = time.process_time(), time.perf_counter()
            for number in range(messages):
                await people[number % members].say(text, room)
                if number % 100 == 99:
                    for member in people:
                        while True:
                            try:
                                member.receive_nowait()
                            except trio.WouldBlock:
                                break
            if store is not None:
                await store.flush()
            cpu, elapsed = time.process_time() - start_cpu, time.perf_counter() - start
        finally:
            if store is not None:
                await store.aclose()
    return {"messages": messages, "members": members, "cpu_seconds": cpu, "seconds": elapsed}


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir())


def server_comparison(quick: bool, rounds: int) -> dict[str, Any]:
    output = ROOT / "bench" / "perf" / "results" / "store-perf.json"
    command = [
        sys.executable, "-m", "bench.perf.run", "--only", "fanout", "latency",
        "--servers", "triochat", "triochat-sqlite", "--rounds", str(rounds),
        "--no-profile", "--no-report", "--output", str(output),
    ]  # fmt: skip
    if quick:
        command.append("--quick")
    subprocess.run(command, cwd=ROOT, check=True)
    results: dict[str, Any] = json.loads(output.read_text())
    fanout = results["scenarios"]["fanout"]["servers"]
    latency = results["scenarios"]["latency"]["servers"]
    memory, durable = fanout["triochat"], fanout["triochat-sqlite"]
    fast, slow = latency["triochat"]["latency"], latency["triochat-sqlite"]["latency"]
    return {
        "machine": results["machine"],
        "fanout_deliveries_per_second": {
            "memory": memory["deliveries_per_second"],
            "sqlite": durable["deliveries_per_second"],
            "ratio": durable["deliveries_per_second"] / memory["deliveries_per_second"],
        },
        "fanout_loadgen_cpu": {
            "memory": memory["loadgen_cpu"],
            "sqlite": durable["loadgen_cpu"],
        },
        "fanout_server_cpu": {"memory": memory["server_cpu"], "sqlite": durable["server_cpu"]},
        "latency_p99_ms": {
            "memory": fast["p99_ms"],
            "sqlite": slow["p99_ms"],
            "ratio": slow["p99_ms"] / fast["p99_ms"],
        },
        "latency_p50_ms": {"memory": fast["p50_ms"], "sqlite": slow["p50_ms"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--store-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"store": trio.run(store_alone, args.events, args.rooms)}
    store = results["store"]
    memory = trio.run(fanout_in_process, 50_000, 100, False)
    durable = trio.run(fanout_in_process, 50_000, 100, True)
    results["fanout_in_process"] = {
        "memory": memory,
        "sqlite": durable,
        "ratio": memory["cpu_seconds"] / durable["cpu_seconds"],
    }
    print(
        f"fan-out in one process, 100 members: {memory['cpu_seconds'] * 20:.1f} vs "
        f"{durable['cpu_seconds'] * 20:.1f} us of CPU a message (memory vs sqlite, every thread "
        f"counted): the durable log runs at {memory['cpu_seconds'] / durable['cpu_seconds']:.0%}"
        " of the in-memory throughput",
        file=sys.stderr,
    )
    print(
        f"store alone: {store['persisted_per_second']:,.0f} persisted messages/s "
        f"({store['persisted']:,} of {store['events']:,} in {store['seconds']:.2f} s, "
        f"{store['dropped']} dropped; publishing alone {store['publish_per_second']:,.0f}/s)",
        file=sys.stderr,
    )
    if not args.store_only:
        results["server"] = server = server_comparison(args.quick, args.rounds)
        fanout, latency = server["fanout_deliveries_per_second"], server["latency_p99_ms"]
        print(
            f"fan-out (a): {fanout['sqlite']:,.0f} vs {fanout['memory']:,.0f} deliveries/s "
            f"({fanout['ratio']:.0%}); latency (b) p99: {latency['sqlite']:.2f} vs "
            f"{latency['memory']:.2f} ms ({latency['ratio']:.2f}x); load generator CPU in (a): "
            f"{server['fanout_loadgen_cpu']['memory']:.2f} / "
            f"{server['fanout_loadgen_cpu']['sqlite']:.2f} cores",
            file=sys.stderr,
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results in {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
