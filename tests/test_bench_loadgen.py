"""The benchmark's load generator counts and times chat lines by their marker, in any framing,
whether its receiver worker is the C one (bench/perf/rx.c) or the Python one."""

from __future__ import annotations

import array
import importlib
import mmap
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# Imported by name: mypy checks bench/perf as the package "perf" (bench/ holds scripts, not a
# package), and would meet these files twice under two names.
_loadgen: Any = importlib.import_module("bench.perf.loadgen")
chat_line = importlib.import_module("bench.perf.dialects").chat_line
MEASURING, STOP, Client = _loadgen.MEASURING, _loadgen.STOP, _loadgen.Client
build_rx, received = _loadgen.build_rx, _loadgen.received

# A marker cut in the middle of its stamp, and one cut right after its "@": both must be
# counted once, when their end arrives. Between them, framing of several front ends.
CHUNKS = [
    b"[12:00:00] <s0> @T100~0!xxxx\n:s1!~s1@h PRIVMSG #lobby @T2",
    b'00~1!yy\r\n\x81\x10{"text":"@',
    b'T300~2!"}\n*** s0 joined #lobby @ not a marker\n',
]


def test_the_python_worker_counts_markers_cut_by_reads() -> None:
    a, b = socket.socketpair()
    with a, b:
        client = Client(a, None)
        latencies: array.array[int] = array.array("q")
        for chunk in CHUNKS:
            received(client, chunk, latencies)
        received(client, chat_line(7), latencies)
        assert client.chat == 4
        assert client.registered
        assert len(latencies) == 4
        # Made-up stamps of 100, 200 and 300 ns since boot; the last one is real and short.
        assert min(latencies[:3]) > 10**6
        assert 0 <= latencies[3] < 10 * 10**9


def test_the_c_worker_counts_and_times_markers_cut_by_reads(tmp_path: Path) -> None:
    rx, how = build_rx(tmp_path)
    assert rx is not None, how
    memfd = os.memfd_create("counts")
    os.ftruncate(memfd, 16)
    shared = memoryview(mmap.mmap(memfd, 16)).cast("q")
    shared[0] = MEASURING
    ours, theirs = socket.socketpair()
    read_end, write_end = os.pipe()
    theirs.setblocking(False)
    worker = subprocess.Popen(
        [rx, str(memfd), str(write_end), "0", f"{theirs.fileno()}:1"],
        pass_fds=(memfd, write_end, theirs.fileno()),
    )
    os.close(write_end)
    theirs.close()
    try:
        for chunk in CHUNKS:
            ours.sendall(chunk)
            time.sleep(0.05)  # separate reads: the markers really are cut
        line = chat_line(7)
        ours.sendall(line)
        deadline = time.monotonic() + 10
        while shared[1] < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert shared[1] == 4
        shared[0] = STOP
        data = b""
        while chunk := os.read(read_end, 1 << 16):
            data += chunk
        assert worker.wait(10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        os.close(read_end)
        os.close(memfd)
        ours.close()
    result = array.array("q")
    result.frombytes(data)
    closed, samples = result[0], list(result[1:])
    assert closed == 0
    assert len(samples) == 4
    # The first three carry made-up stamps (100, 200, 300 ns since boot): their "latency" is
    # about the clock's value. The last one's is real and short.
    assert min(samples[:3]) > 10**6
    assert 0 <= samples[3] < 10 * 10**9


def test_the_window_counts_each_load_generator_process_once() -> None:
    # A worker (a child of this process) that burns CPU during the window: its CPU must count
    # once, in its own column, not a second time in the main process's.
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", burn + "time.sleep(30)"])
    try:
        load = SimpleNamespace(server_pid=os.getpid(), workers=[SimpleNamespace(pid=child.pid)])
        window = _loadgen.Window(load)
        deadline = time.monotonic() + 10
        while _loadgen.cpu_seconds(child.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        result = window.result()
    finally:
        child.kill()
        child.wait()
    main, worker = result["loadgen_cpu_each"]
    assert worker * result["seconds"] >= 0.3
    assert main * result["seconds"] < 0.2
    assert result["loadgen_cpu"] == main + worker
