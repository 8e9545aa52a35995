"""Scenario (a) of the benchmark suite (fan-out: 100 receivers, 10 senders, as fast as possible)
against triochat in memory, with ``--engine redis://`` in one process, and with ``--workers 2``.

Starts its own redis-server on a free loopback port (no persistence) and stops it after; every
server is started and stopped by ``bench/perf/run.py``'s :class:`Server`. Ratios are of one run.

    python -m bench.perf.redis_scaling [--quick] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import time
from typing import Any

from .run import SERVERS, Server, run_loadgen, scenarios


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _deliveries(result: dict[str, Any]) -> float:
    for key in ("deliveries_per_second", "deliveries/s", "throughput"):
        if key in result:
            return float(result[key])
    raise KeyError(f"no deliveries figure in {sorted(result)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    redis_port = _free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{redis_port}/0"
        base = SERVERS["triochat"]
        commands = {
            "memory": base,
            "redis": [*base, "--engine", url],
            "redis, --workers 2": [
                *base, "--engine", url, "--workers", "2", "--port", "WORKERS_PORT",
            ],
        }  # fmt: skip
        fanout = scenarios(args.quick)["fanout"]["args"]
        best: dict[str, float] = {}
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                port = str(_free_port())  # a fresh one each time: none in TIME_WAIT
                command = [port if word == "WORKERS_PORT" else word for word in command]
                with Server(name, command) as server:
                    time.sleep(1.0)  # every worker listening, the room store connected
                    result = run_loadgen(server, fanout)
                results[name].append(result)
                if "error" not in result:
                    best[name] = max(best.get(name, 0.0), _deliveries(result))
        memory = best.get("memory", 0.0)
        for name, value in best.items():
            share = f"{value / memory:.0%}" if memory else "?"
            print(f"{name:22} {value:12,.0f} deliveries/s  {share} of memory")
        print(json.dumps(results)[:4000])
    finally:
        redis.kill()
        redis.wait()


if __name__ == "__main__":
    main()
