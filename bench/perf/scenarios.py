"""The scenarios of the benchmark, one per process: ``python -m bench.perf.scenarios SCENARIO``.

Run by ``bench/perf/run.py``, one scenario per process; prints one JSON object on stdout::

    python -m bench.perf.scenarios --port 9999 --server-pid 1234 fanout --receivers 100 --senders 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Final

from .dialects import DIALECTS, chat_line
from .loadgen import (
    MEASURING,
    READ_PAUSE,
    RECV_SIZE,
    WARMING,
    Client,
    Load,
    build_rx,
)
from .measure import Window, cdf, percentiles, rss_bytes, threads

#: Seconds between two reads of the paced senders' sockets (they hold far more than that).
SENDER_DRAIN: Final = 0.01


def fanout(load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """(a) Receivers and senders; senders keep up to --window lines each in flight."""
    senders = load.connect(args.senders, [f"s{i}" for i in range(args.senders)])
    receivers = load.connect(
        args.receivers, [f"r{i}" for i in range(args.receivers)], receivers=True
    )
    load.settle()
    load.spread(receivers, args.workers, pause=args.read_pause)
    tags = {id(sender): b"~%d!" % index for index, sender in enumerate(senders)}
    numbers = {id(sender): index for index, sender in enumerate(senders)}
    echoed = {id(sender): 0 for sender in senders}
    sent = {id(sender): 0 for sender in senders}

    def on_chunk(client: Client, chunk: bytes) -> None:
        # Chunks may split a tag; the sender's own echo count only paces it, so that is fine.
        tag = tags.get(id(client))
        if tag is not None:
            echoed[id(client)] += chunk.count(tag)

    load.on_chunk = on_chunk
    lag_limit = args.senders * args.window  # bound on what any receiver may trail by

    def pump(deadline: float) -> None:
        while time.monotonic() < deadline:
            # The slowest receiver's progress bounds the senders as well as each one's own echo,
            # so that no outbox fills because of the load generator itself.
            slowest = min(load.counts())
            total_sent = sum(sent.values())
            for sender in senders:
                key = id(sender)
                room = args.window - (sent[key] - echoed[key])
                room = min(room, lag_limit - (total_sent - slowest))
                if room > 0 and not sender.outgoing:
                    sender.outgoing = chat_line(numbers[key]) * room
                    sent[key] += room
                    total_sent += room
                load.flush(sender)
            # Echoes pile up for a moment and are read in one pass: not one wake-up per segment
            # of a server that sends each line in its own. Each sender keeps --window lines in
            # flight, far more than the server delivers in this time, so the server never waits.
            if args.read_pause:
                time.sleep(args.read_pause)
                load.poll(0)
            else:
                load.poll(0.0005)

    pump(time.monotonic() + args.warmup)
    before = sum(load.counts()) + sum(sender.chat for sender in senders)
    window = Window(load)
    load.phase(MEASURING)
    pump(time.monotonic() + args.duration)
    result = window.result()
    delivered = sum(load.counts()) + sum(sender.chat for sender in senders) - before
    latencies = load.collect()
    return {
        **result,
        "deliveries": delivered,
        "deliveries_per_second": delivered / result["seconds"],
        "sent": sum(sent.values()),
        "latency": percentiles(latencies),
        "disconnected": sum(client.closed for client in senders) + load.receivers_closed,
    }


def paced(load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """(b), (c), (e): senders at a fixed rate each; latency at every receiver."""
    sloth: Client | None = None
    if args.never_reader:
        # A client with a tiny receive buffer that never reads: the server must cut it off
        # without the others noticing.
        (sloth,) = load.connect(1, ["sloth"], rcvbuf=4096)
        load.mute(sloth)
    senders = load.connect(args.senders, [f"s{i}" for i in range(args.senders)])
    receivers = load.connect(
        args.receivers, [f"r{i}" for i in range(args.receivers)], receivers=True
    )
    load.settle()
    load.spread(receivers, args.workers, pause=args.read_pause)
    if sloth is not None:
        # At 1 000 lines/s the never-reading client would take minutes to fill the kernel's
        # socket buffers (megabytes on loopback) and then a 1 MiB backlog. So during the warm-up
        # a separate client pastes --prefill bytes of long /me lines (not counted as chat lines):
        # the measurement then starts with the never-reader already stuck, as it would be after
        # minutes of this load.
        (paster,) = load.connect(1, ["p0"])
        line = b"/me " + b"y" * 3900 + b"\n"
        lines = args.prefill // len(line)
        paster.outgoing = line * lines
        echoes = [0]

        def on_chunk(client: Client, chunk: bytes) -> None:
            if client is paster:
                echoes[0] += chunk.count(b"* p0 y")

        load.on_chunk = on_chunk
        # Wait until the paste is through (the paster has its own lines back), so that the
        # measurement does not queue behind it.
        limit = time.monotonic() + 8
        while echoes[0] < lines and time.monotonic() < limit:
            load.flush(paster)
            load.poll(0.01)
        load.on_chunk = None
        load.settle(0.2)
    interval = 1.0 / args.rate
    start = time.monotonic() + 0.01
    # Senders are spread evenly over one interval so that the load is smooth.
    due = [start + interval * i / len(senders) for i in range(len(senders))]
    sent = 0

    drained = [0.0]

    def pump(deadline: float) -> None:
        nonlocal sent
        while (now := time.monotonic()) < deadline:
            for index, sender in enumerate(senders):
                if now >= due[index]:
                    due[index] += interval
                    if due[index] < now:  # we fell behind: do not burst to catch up
                        due[index] = now + interval
                    sender.outgoing += chat_line(index)
                    sent += 1
                    load.flush(sender)
            # The senders' own lines come back to them (and everyone else's): only counts, so
            # they are drained every SENDER_DRAIN seconds, not read as each arrives.
            if now >= drained[0] + SENDER_DRAIN:
                drained[0] = now
                load.poll(0)
            time.sleep(max(0.0, min(due) - time.monotonic()))

    pump(time.monotonic() + args.warmup)
    before_sent = sent
    before = sum(load.counts())
    window = Window(load)
    load.phase(MEASURING)
    pump(time.monotonic() + args.duration)
    result = window.result()
    load.phase(WARMING)  # stop recording, keep reading
    # Let the lines in flight arrive, so that "delivered" is comparable with "expected".
    settle = time.monotonic() + 0.3
    while time.monotonic() < settle:
        load.poll(0.01)
    delivered = sum(load.counts()) - before
    expected = (sent - before_sent) * len(receivers)
    latencies = load.collect()
    return {
        **result,
        "latency": percentiles(latencies),
        **({"latency_read": percentiles(load.read_latencies)} if load.read_latencies else {}),
        "cdf_ms": cdf(latencies),
        "sent": sent - before_sent,
        "delivered_fraction": delivered / expected if expected else 0.0,
        "sloth_cut_off": None if sloth is None else _was_cut_off(sloth),
        "disconnected": sum(client.closed for client in senders) + load.receivers_closed,
    }


def _was_cut_off(sloth: Client) -> bool:
    """Whether the server closed the never-reading client (drain its socket to find out)."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            data = sloth.sock.recv(RECV_SIZE)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        except OSError:
            return True
        if not data:
            return True
    return False


def idle(load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """(d) Many idle connections: server memory per connection, time for a line to reach all."""
    rss_before = rss_bytes(load.server_pid)
    threads_before = threads(load.server_pid)
    started = time.monotonic()
    (sender,) = load.connect(1, ["s0"])
    others: list[Client] = []
    curve = [(0, rss_before)]
    step = max(1, args.connections // 10)
    while len(others) < args.connections - 1:
        count = min(step, args.connections - 1 - len(others))
        others += load.connect(count, [None] * count, receivers=True)
        load.settle(0.05)
        curve.append((len(others) + 1, rss_bytes(load.server_pid)))
    connect_seconds = time.monotonic() - started
    # Let the join announcements drain, then measure the server at rest.
    load.settle(args.settle)
    load.spread(others, args.workers, pause=args.read_pause)
    rss_after = rss_bytes(load.server_pid)
    per_connection = (rss_after - rss_before) / args.connections
    # Each probe line carries its send time, and the workers take the time each client's read
    # returned with it; the probe has reached all when the last of those came. (The workers
    # take exactly one sample per client per probe, in order.) This process only checks, at
    # leisure, that every count moved before sending the next probe: polling ten thousand
    # counters in a loop would take CPU from the server and the workers being measured.
    load.phase(MEASURING)
    for _ in range(args.messages):
        before = load.counts()
        sender.outgoing = chat_line(0)
        load.flush(sender)
        limit = time.monotonic() + 10.0
        while time.monotonic() < limit:
            load.poll(0.005)
            if all(after > was for after, was in zip(load.counts(), before, strict=True)):
                break
        # Quiet time between probes, so that each one meets an idle server.
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            load.poll(0.05)
    load.collect()
    reach = [0.0] * args.messages
    for clients, samples in load.worker_samples:
        if len(samples) != clients * args.messages:
            reach = [float("inf")] * args.messages  # some client missed a probe
            break
        for probe in range(args.messages):
            chunk = samples[probe * clients : (probe + 1) * clients]
            reach[probe] = max(reach[probe], max(chunk, default=0) / 1e6)
    return {
        "connections": args.connections,
        "connect_seconds": connect_seconds,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "rss_per_connection_bytes": per_connection,
        "server_threads": threads(load.server_pid) - threads_before,
        "reach_all_ms": reach,
        "rss_curve": curve,
        "disconnected": sum(client.closed for client in load.clients),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2, help="receiver processes")
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="text")
    parser.add_argument("--rx-port", type=int, help="the receivers' port (default: --port)")
    parser.add_argument(
        "--python-workers", action="store_true", help="receiver workers in Python, not C"
    )
    parser.add_argument(
        "--read-pause",
        type=float,
        default=READ_PAUSE,
        help="seconds a receiver worker sleeps between passes (lines pile up and are read at once)",
    )
    parser.add_argument(
        "--arrival",
        choices=("kernel", "read", "both"),
        default="kernel",
        help="a line arrives when the kernel received it (SO_TIMESTAMPNS), or when it was read; "
        "both: kernel, and the read's latencies as latency_read (not for idle)",
    )
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    a = scenarios.add_parser("fanout")
    a.add_argument("--receivers", type=int, default=100)
    a.add_argument("--senders", type=int, default=10)
    a.add_argument("--window", type=int, default=64)
    b = scenarios.add_parser("paced")
    b.add_argument("--receivers", type=int, default=100)
    b.add_argument("--senders", type=int, default=10)
    b.add_argument("--rate", type=float, default=100.0)
    b.add_argument("--never-reader", action="store_true")
    b.add_argument("--prefill", type=int, default=4_000_000, help="bytes (with --never-reader)")
    d = scenarios.add_parser("idle")
    d.add_argument("--connections", type=int, default=10_000)
    d.add_argument("--settle", type=float, default=0.5)
    d.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()
    rx, worker = (None, "Python worker (--python-workers)")
    if not args.python_workers:
        rx, worker = build_rx()
    dialect = DIALECTS[args.dialect](args.rx_port or args.port)
    load = Load(args.port, args.server_pid, dialect, rx, arrival=args.arrival)
    run = {"fanout": fanout, "paced": paced, "idle": idle}[args.scenario]
    try:
        result = run(load, args)
    finally:
        load.kill_workers()
        for client in load.clients:
            client.sock.close()
    result["loadgen_pid"] = os.getpid()
    result["loadgen_worker"] = worker
    result["read_pause_ms"] = args.read_pause * 1e3
    result["arrival"] = args.arrival
    result["unstamped_reads"] = load.unstamped
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
