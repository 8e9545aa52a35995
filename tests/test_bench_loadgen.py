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
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

# Imported by name: mypy checks bench/perf as the package "perf" (bench/ holds scripts, not a
# package), and would meet these files twice under two names.
_loadgen: Any = importlib.import_module("bench.perf.loadgen")
_measure: Any = importlib.import_module("bench.perf.measure")
chat_line = importlib.import_module("bench.perf.dialects").chat_line
MEASURING, STOP, Client = _loadgen.MEASURING, _loadgen.STOP, _loadgen.Client
build_rx, received = _loadgen.build_rx, _loadgen.received
#: Where the tests build rx.c (as the bench does: once per version of the source).
BUILD = _loadgen.BUILD

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


def test_senders_count_markers_cut_by_reads_without_timing_them() -> None:
    a, b = socket.socketpair()
    with a, b:
        sender = Client(a, None)
        for chunk in [*CHUNKS, chat_line(7)]:
            received(sender, chunk, None)
        assert sender.chat == 4
        assert sender.registered


def test_a_line_is_timed_from_the_kernel_stamp_given_with_it() -> None:
    # One chunk with two lines sent at 1.000 s and 1.002 s (monotonic), and a kernel stamp of
    # 1 000 001.003 s realtime while realtime - monotonic = 1 000 000 s: both arrived at 1.003 s.
    client = Client(None, None)
    latencies: array.array[int] = array.array("q")
    stamp = array.array("q", [1_000_001, 3_000_000]).tobytes()
    offset = 1_000_000 * 10**9
    arrival = _loadgen.kernel_arrival(
        [(socket.SOL_SOCKET, 99, b"other"), (socket.SOL_SOCKET, _loadgen.SO_TIMESTAMPNS, stamp)],
        offset,
    )
    assert arrival == 1_003_000_000
    received(client, b"@T1000000000~0!x\n@T1002000000~1!x\n", latencies, arrival)
    assert list(latencies) == [3_000_000, 1_000_000]


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair over TCP on 127.0.0.1 (kernel receive stamps are a TCP/IP feature)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    ours.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ours, theirs


class _Worker:
    """One receiver worker, C (a process) or Python (``_work`` in a thread), reading *theirs*
    with *pause* seconds between passes and *arrival* timing; counts in ``shared[1]``."""

    def __init__(self, kind: str, theirs: socket.socket, pause: float, arrival: str) -> None:
        self.memfd = os.memfd_create("counts")
        os.ftruncate(self.memfd, 16)
        self.area = mmap.mmap(self.memfd, 16)
        self.shared = memoryview(self.area).cast("q")
        self.shared[0] = MEASURING
        self.read_end, write_end = os.pipe()
        theirs.setblocking(False)
        if arrival != "read":
            # As Load.connect does: stamped from the first byte, before the worker starts.
            theirs.setsockopt(socket.SOL_SOCKET, _loadgen.SO_TIMESTAMPNS, 1)
        self.process: subprocess.Popen[bytes] | None = None
        self.thread: threading.Thread | None = None
        if kind == "c":
            rx, how = build_rx(BUILD)
            assert rx is not None, how
            command = [rx, str(self.memfd), str(write_end), str(round(pause * 1e6)), arrival]
            self.process = subprocess.Popen(
                [*command, f"{theirs.fileno()}:1"],
                pass_fds=(self.memfd, write_end, theirs.fileno()),
            )
            os.close(write_end)
            theirs.close()
        else:
            client = Client(theirs, None)
            job = ([client], [1], self.shared, write_end, pause, arrival)
            self.thread = threading.Thread(target=_run_python_worker, args=(job, theirs))
            self.thread.start()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while self.shared[1] < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.shared[1] == count

    def stop(self) -> tuple[int, int, list[int]]:
        """Closed clients, reads without a kernel stamp, and the samples."""
        self.shared[0] = STOP
        data = b""
        while chunk := os.read(self.read_end, 1 << 16):
            data += chunk
        if self.process is not None:
            assert self.process.wait(10) == 0
        if self.thread is not None:
            self.thread.join(10)
        result = array.array("q", data)
        return result[0], result[1], list(result[2:])

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.thread is not None and self.thread.is_alive():
            self.shared[0] = STOP
            self.thread.join(10)
        os.close(self.read_end)
        self.shared.release()
        self.area.close()
        os.close(self.memfd)


def _run_python_worker(job: tuple[Any, ...], sock: socket.socket) -> None:
    try:
        _loadgen._work(*job)
    finally:
        sock.close()


@pytest.fixture(params=["c", "python"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_worker_counts_and_times_markers_cut_by_reads(kind: str) -> None:
    ours, theirs = _tcp_pair()
    worker = _Worker(kind, theirs, 0.0, "kernel")
    try:
        for chunk in CHUNKS:
            ours.sendall(chunk)
            time.sleep(0.05)  # separate reads: the markers really are cut
        ours.sendall(chat_line(7))
        worker.wait_for(4)
        closed, unstamped, samples = worker.stop()
    finally:
        worker.close()
        ours.close()
    assert closed == 0
    assert unstamped == 0  # every read over TCP had the kernel's receive time
    assert len(samples) == 4
    # The first three carry made-up stamps (100, 200, 300 ns since boot): their "latency" is
    # about the clock's value. The last one's is real and short.
    assert min(samples[:3]) > 10**6
    assert 0 <= samples[3] < 10 * 10**9


@pytest.mark.parametrize("arrival", ["kernel", "read", "both"])
def test_a_line_arrives_when_the_kernel_got_it_not_when_the_worker_read_it(
    kind: str, arrival: str
) -> None:
    # A first byte wakes the worker, which then sleeps its pause (0.4 s) before the next pass:
    # the line sent meanwhile waits in the socket. Timed by the kernel's receive stamp, its
    # latency is the loopback's (well under 0.2 s); timed by the read, it includes the pause.
    # "both" records the two for each line: kernel, then read.
    ours, theirs = _tcp_pair()
    worker = _Worker(kind, theirs, 0.4, arrival)
    try:
        ours.sendall(b"hello\n")
        time.sleep(0.1)  # the worker has read it and sleeps
        ours.sendall(chat_line(1))
        worker.wait_for(1)
        _, unstamped, samples = worker.stop()
    finally:
        worker.close()
        ours.close()
    assert unstamped == 0
    by_kernel, by_read = {"kernel": (samples, []), "read": ([], samples)}.get(
        arrival, (samples[0::2], samples[1::2])
    )
    assert len(by_kernel) + len(by_read) == len(samples) == (2 if arrival == "both" else 1)
    assert all(0 <= latency < 0.2e9 for latency in by_kernel)
    assert all(latency >= 0.2e9 for latency in by_read)


def test_the_kernel_stamp_of_a_read_is_that_of_its_last_segment() -> None:
    # What the workers rely on, and its bound: lines from two segments read at once both get
    # the later segment's time (never the time of the read).
    ours, theirs = _tcp_pair()
    with ours, theirs:
        theirs.setsockopt(socket.SOL_SOCKET, _loadgen.SO_TIMESTAMPNS, 1)
        first = time.monotonic_ns()
        ours.sendall(b"one\n")
        time.sleep(0.2)
        second = time.monotonic_ns()
        ours.sendall(b"two\n")
        time.sleep(0.2)
        offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
        data, ancillary, _, _ = theirs.recvmsg(1024, _loadgen.STAMP_SPACE)
        read = time.monotonic_ns()
    assert data == b"one\ntwo\n"
    arrival = _loadgen.kernel_arrival(ancillary, offset)
    assert arrival is not None
    assert second <= arrival < second + 0.1e9
    assert arrival - first >= 0.2e9
    assert read - arrival >= 0.15e9
    assert _loadgen.kernel_arrival([], offset) is None


def test_the_window_counts_each_load_generator_process_once() -> None:
    # A worker (a child of this process) that burns CPU during the window: its CPU must count
    # once, in its own column, not a second time in the main process's.
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", burn + "time.sleep(30)"])
    try:
        load = SimpleNamespace(server_pid=os.getpid(), workers=[SimpleNamespace(pid=child.pid)])
        window = _measure.Window(load)
        deadline = time.monotonic() + 10
        while _measure.cpu_seconds(child.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        result = window.result()
    finally:
        child.kill()
        child.wait()
    main, worker = result["loadgen_cpu_each"]
    assert worker * result["seconds"] >= 0.3
    assert main * result["seconds"] < 0.2
    assert result["loadgen_cpu"] == main + worker
