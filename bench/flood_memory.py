"""Flood check: one client floods, one never reads, others read. Server memory and fairness.

Starts ``triochat serve`` on a free loopback port, connects a client that never reads (with a
small receive buffer), a flooder and some readers; the flooder sends --megabytes of chat lines.
Reports the server's resident memory before (the baseline of this run) and at its peak, whether
every reader got every line, whether the non-reader was cut off, and how long SIGINT took to stop
the server. Loopback only; bounded in size and time; it stops by itself.

    python bench/flood_memory.py --megabytes 20
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import trio

LINE = 1000  # bytes of text per chat line
SERVE = [sys.executable, "-m", "triochat", "serve"]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


async def open_client(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await wait_for(stream, b"joined #lobby")
    return stream


async def wait_for(stream: trio.SocketStream, needle: bytes) -> None:
    seen = b""
    while needle not in seen:
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError(needle)
        seen = seen[-200:] + data


async def flood(args: argparse.Namespace) -> dict[str, object]:
    process = await trio.lowlevel.open_process(
        # --rate inf: this bench measures the outbox and memory, not flood control.
        [*SERVE, "--port", "0", "--rate", "inf", "--log-level", "warning"],
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    banner = b""
    with trio.fail_after(10):
        while not (match := re.search(rb"serving on 127\.0\.0\.1:(\d+)", banner)):
            banner += await process.stderr.receive_some()
    port = int(match[1])
    try:
        sloth = await trio.open_tcp_stream("127.0.0.1", port)
        sloth.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooder = await open_client(port)
        readers = [await open_client(port) for _ in range(args.readers)]
        baseline = rss_kib(process.pid)
        total_lines = args.megabytes * 1_000_000 // LINE
        payload = b"x" * (LINE - 10)
        peak = baseline
        readers.append(flooder)  # the flooder reads its own echoes, or it would be cut off too
        counts = [0] * len(readers)
        started = time.perf_counter()

        async def read(index: int, stream: trio.SocketStream) -> None:
            partial = b""
            while counts[index] < total_lines:
                data = await stream.receive_some(1 << 20)
                if not data:
                    return
                *lines, partial = (partial + data).split(b"\n")
                counts[index] += sum(1 for line in lines if line.endswith(payload))

        async def send() -> None:
            batch = 64
            for start in range(0, total_lines, batch):
                n = min(batch, total_lines - start)
                await flooder.send_all(
                    b"".join(b"%08d " % (start + i) + payload + b"\n" for i in range(n))
                )

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_kib(process.pid))
                await trio.sleep(0.02)

        with trio.fail_after(args.time_limit):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sample)
                async with trio.open_nursery() as work:
                    for index, stream in enumerate(readers):
                        work.start_soon(read, index, stream)
                    work.start_soon(send)
                nursery.cancel_scope.cancel()
        elapsed = time.perf_counter() - started
        # The sloth: what did it get? Its socket buffer filled, its outbox overflowed, and the
        # server closed it. Reading now drains the kernel buffer to the end.
        sloth_bytes = 0
        sloth_closed = False
        with trio.move_on_after(5):
            while data := await sloth.receive_some(1 << 20):
                sloth_bytes += len(data)
            sloth_closed = True  # the server closed it (EOF), rather than our 5 s running out
        peak = max(peak, rss_kib(process.pid, "VmHWM"))
        stop_started = time.perf_counter()
        process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            returncode = await process.wait()
        stop_seconds = time.perf_counter() - stop_started
    finally:
        if process.returncode is None:
            process.kill()
    return {
        "megabytes_flooded": args.megabytes,
        "lines": total_lines,
        "readers": args.readers + 1,
        "every_reader_got_every_line": all(c == total_lines for c in counts),
        "reader_counts": counts,
        "flood_seconds": round(elapsed, 3),
        "server_rss_baseline_mib": round(baseline / 1024, 1),
        "server_rss_peak_mib": round(peak / 1024, 1),
        "peak_over_baseline": round(peak / baseline, 2),
        "non_reader_cut_off": sloth_closed,
        "non_reader_received_bytes": sloth_bytes,
        "sigint_to_exit_seconds": round(stop_seconds, 3),
        "exit_code": returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=20)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=120)
    args = parser.parse_args()
    print(json.dumps(trio.run(flood, args), indent=2))


if __name__ == "__main__":
    main()
