"""The load generator's machinery: many chat clients on non-blocking sockets and epoll.

It is built so that it is not the bottleneck: every socket is non-blocking, reads are large
(``RECV_SIZE``), lines are counted in bulk with ``bytearray.count`` on whole chunks (never split
one by one), receivers live in forked worker processes, and senders put many lines into one
``send``. It measures its own CPU time and the server's from ``/proc`` over the same window, so a
reader can see which side was the limit.

Every chat line a sender writes carries its send time (``time.monotonic_ns``, the same clock in
every process on the machine); receivers compute the latency of each line from it and the time
the kernel received it (``SO_TIMESTAMPNS``), so that they can read in batches (a pause of
``READ_PAUSE`` between passes) without the pause counting as latency.

The scenarios that drive it are in ``bench/perf/scenarios.py``.
"""

from __future__ import annotations

import array
import errno
import hashlib
import mmap
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from .dialects import MARK, STAMP, Dialect
from .measure import cpu_seconds

#: Bytes asked of a socket per read.
RECV_SIZE: Final = 1 << 20
#: Seconds a receiver worker sleeps after each pass over its ready sockets: lines pile up, so it
#: reads several at once and is not woken per line (nor is the server, sending to it).
READ_PAUSE: Final = 0.001
#: ``setsockopt`` option for the kernel's receive time of the data (Linux; not in ``socket``).
SO_TIMESTAMPNS: Final = 35
#: Room for its control message (a ``struct timespec``) in ``recvmsg``.
STAMP_SPACE: Final = socket.CMSG_SPACE(16)
#: Connections opened before waiting for the server to register them (the listen backlog).
CONNECT_BATCH: Final = 500
#: Seconds to wait for all clients to register; then the scenario fails.
SETUP_TIMEOUT: Final = 120.0
# Phases the workers read from shared memory.
WARMING: Final = 0
MEASURING: Final = 1
STOP: Final = 2
#: Where the C receiver worker is built (git ignores build/).
BUILD: Final = Path(__file__).resolve().parent.parent.parent / "build" / "bench"


class Client:
    """One connection: a socket, the unfinished line at the end of what it read, and counters."""

    __slots__ = (
        "chat",
        "closed",
        "nick",
        "outgoing",
        "registered",
        "registered_mark",
        "sock",
        "tail",
    )

    def __init__(
        self, sock: socket.socket, nick: str | None, registered_mark: bytes = b"joined #lobby"
    ) -> None:
        self.sock = sock
        self.nick = nick
        self.registered_mark = registered_mark
        self.tail = b""
        self.registered = False
        self.closed = False
        self.chat = 0  # chat lines received
        self.outgoing = b""  # bytes the kernel has not taken yet


class Load:
    """Clients on one epoll object, and receiver workers in forked processes.

    Setup (connecting, setting nicks, waiting for the join lines) happens here; then
    :meth:`spread` hands the receivers to worker processes, which read and count on their own
    core and publish their counts in shared memory, so the senders here can see how far behind the
    slowest receiver is and so receiving never competes with sending for one interpreter.
    """

    def __init__(
        self,
        port: int,
        server_pid: int,
        dialect: Dialect | None = None,
        rx: str | None = None,
        *,
        arrival: str = "kernel",
    ) -> None:
        self.port = port
        self.server_pid = server_pid
        #: How receivers speak (``connect(..., dialect=True)``); senders speak text on *port*.
        self.dialect = dialect or Dialect(port)
        #: The C receiver worker (``rx.c``, built by :func:`build_rx`), or ``None``: Python's.
        self.rx = rx
        #: A line's arrival in the workers: the kernel's receive time ("kernel"), the time the
        #: worker read it ("read", the old way), or "both" (kernel, and :attr:`read_latencies`).
        self.arrival = arrival
        #: With arrival "both": the same lines' latencies timed by the read.
        self.read_latencies: list[int] = []
        #: Reads the workers timed themselves because the kernel gave no stamp.
        self.unstamped = 0
        self.epoll = select.epoll()
        self.clients: list[Client] = []
        self.by_fd: dict[int, Client] = {}
        self.on_chunk: Callable[[Client, bytes], None] | None = None
        self.workers: list[Worker] = []
        self.shared: memoryview | None = None
        #: Receivers the server closed (known once the workers are collected).
        self.receivers_closed = 0
        #: Per worker: how many receivers it had, and its samples in the order it took them.
        self.worker_samples: list[tuple[int, list[int]]] = []

    # ------------------------------------------------------------------ connections

    def connect(
        self, count: int, nicks: list[str | None], *, rcvbuf: int = 0, receivers: bool = False
    ) -> list[Client]:
        """Open *count* connections, set their nicks, and wait until each has registered.
        *receivers* speak the load's dialect (on its port); the others speak text."""
        dialect = self.dialect if receivers else Dialect(self.port)
        made: list[Client] = []
        for start in range(0, count, CONNECT_BATCH):
            batch: list[Client] = []
            for index in range(start, min(count, start + CONNECT_BATCH)):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if rcvbuf:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if receivers and self.arrival != "read":
                    # From the first byte: the kernel only stamps what arrives after this.
                    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.connect(("127.0.0.1", dialect.port))
                sock.setblocking(False)
                nick = nicks[index]
                if nick is None and dialect.needs_nick:
                    nick = f"u{len(self.clients) + len(batch)}"
                client = Client(sock, nick, dialect.registered)
                client.outgoing = dialect.hello(nick)
                self.flush(client)
                self.epoll.register(sock.fileno(), select.EPOLLIN)
                self.by_fd[sock.fileno()] = client
                batch.append(client)
            made.extend(batch)
            self.clients.extend(batch)
            deadline = time.monotonic() + SETUP_TIMEOUT
            while not all(client.registered for client in batch):
                if time.monotonic() > deadline:
                    missing = sum(not client.registered for client in batch)
                    raise TimeoutError(f"{missing} clients did not register")
                self.poll(0.5)
        return made

    def settle(self, quiet: float = 0.3, limit: float = SETUP_TIMEOUT) -> None:
        """Read until nothing has arrived for *quiet* seconds: the join and nick announcements
        of the setup are then behind us, and the measurement does not queue behind them."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not self.epoll.poll(quiet):
                return
            self.poll(0)
            time.sleep(0.002)  # let lines pile up: fewer, larger reads
        raise TimeoutError("the setup traffic did not settle")

    def mute(self, client: Client) -> None:
        """Stop reading *client* (the never-reading client)."""
        self.epoll.unregister(client.sock.fileno())
        del self.by_fd[client.sock.fileno()]

    def flush(self, client: Client) -> None:
        """Send what the client has pending, without blocking."""
        if not client.outgoing or client.closed:
            return
        try:
            sent = client.sock.send(client.outgoing)
        except BlockingIOError:
            sent = 0
        except OSError:
            client.closed = True
            return
        client.outgoing = client.outgoing[sent:]

    # ------------------------------------------------------------------ workers

    def spread(self, receivers: list[Client], count: int, *, pause: float = 0.0) -> None:
        """Fork *count* worker processes and give each an equal share of *receivers*."""
        area = mmap.mmap(-1, 8 * (len(receivers) + 1))
        shared = self.shared = memoryview(area).cast("q")
        for index, client in enumerate(receivers):
            shared[1 + index] = client.chat
        slices = [receivers[i::count] for i in range(count)]
        slots = [list(range(len(receivers)))[i::count] for i in range(count)]
        if self.rx is not None:
            self._spread_rx(area, receivers, slices, slots, pause)
            return
        for share, slot in zip(slices, slots, strict=True):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker
                os.close(read_end)
                code = 1
                try:
                    mine = {client.sock.fileno() for client in share}
                    for client in self.clients:
                        if client.sock.fileno() not in mine:
                            client.sock.close()
                    self.epoll.close()
                    _work(share, [1 + i for i in slot], shared, write_end, pause, self.arrival)
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_end)
            self.workers.append(Worker(pid, read_end, len(share)))
        for client in receivers:
            self.mute(client)
            client.sock.close()
        self.clients = [client for client in self.clients if client not in receivers]

    def _spread_rx(
        self,
        area: mmap.mmap,
        receivers: list[Client],
        slices: list[list[Client]],
        slots: list[list[int]],
        pause: float,
    ) -> None:
        """:meth:`spread` with the C worker: the counters live in a memfd it maps too."""
        assert self.rx is not None
        assert self.shared is not None
        memfd = os.memfd_create("loadgen-counts")
        os.ftruncate(memfd, len(area))
        shared_area = mmap.mmap(memfd, len(area))
        shared_area[:] = area[:]
        self.shared = memoryview(shared_area).cast("q")
        for share, slot in zip(slices, slots, strict=True):
            read_end, write_end = os.pipe()
            fds = [client.sock.fileno() for client in share]
            pairs = [f"{fd}:{1 + index}" for fd, index in zip(fds, slot, strict=True)]
            process = subprocess.Popen(
                [
                    self.rx,
                    str(memfd),
                    str(write_end),
                    str(round(pause * 1e6)),
                    self.arrival,
                    *pairs,
                ],
                pass_fds=(memfd, write_end, *fds),
            )
            os.close(write_end)
            self.workers.append(Worker(process.pid, read_end, len(share), process))
        os.close(memfd)
        for client in receivers:
            self.mute(client)
            client.sock.close()
        self.clients = [client for client in self.clients if client not in receivers]

    def counts(self) -> list[int]:
        assert self.shared is not None
        return list(self.shared[1:])

    def phase(self, value: int) -> None:
        assert self.shared is not None
        self.shared[0] = value

    def collect(self) -> list[int]:
        """Stop the workers and return the latencies (ns) they recorded while measuring."""
        self.phase(STOP)
        samples = array.array("q")
        self.receivers_closed = self.unstamped = 0
        self.worker_samples = []
        for worker in self.workers:
            data = bytearray()
            while chunk := os.read(worker.pipe, 1 << 20):
                data += chunk
            os.close(worker.pipe)
            worker.wait()
            if len(data) >= 16:
                head = array.array("q", bytes(data[:16]))
                self.receivers_closed += head[0]
                self.unstamped += head[1]
                mine = array.array("q")
                mine.frombytes(bytes(data[16:]))
                if self.arrival == "both":  # kernel, read, kernel, read...
                    self.read_latencies += mine[1::2]
                    mine = mine[0::2]
                self.worker_samples.append((worker.clients, mine.tolist()))
                samples.extend(mine)
        self.workers = []
        return samples.tolist()

    def kill_workers(self) -> None:
        for worker in self.workers:
            try:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
            except (ProcessLookupError, ChildProcessError):
                pass
        self.workers = []

    def cpu(self) -> float:
        """CPU seconds of this process and its workers."""
        return cpu_seconds(os.getpid())  # the workers are this process's children

    # ------------------------------------------------------------------ the loop

    def poll(self, timeout: float) -> None:
        """Wait up to *timeout* for readable sockets and read each of them once."""
        for fd, _ in self.epoll.poll(timeout):
            client = self.by_fd[fd]
            data = _read(client)
            if data is None:
                continue
            if not data:
                self.mute(client)
                continue
            received(client, data, None)
            if self.on_chunk is not None:
                self.on_chunk(client, data)


class Worker:
    """A receiver worker: a forked Python process, or the C worker (*process*)."""

    __slots__ = ("clients", "pid", "pipe", "process")

    def __init__(
        self, pid: int, pipe: int, clients: int, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        self.pid = pid
        self.pipe = pipe
        self.clients = clients
        self.process = process

    def wait(self) -> None:
        if self.process is not None:
            self.process.wait()
        else:
            os.waitpid(self.pid, 0)


def build_rx(directory: Path = BUILD) -> tuple[str | None, str]:
    """Compile ``rx.c`` (once per version of it) with ``cc -O2``: its path and what was done,
    or ``None`` and why not (then the Python worker is used, and the results say so)."""
    source = Path(__file__).with_name("rx.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = directory / f"rx-{digest}"
    if target.exists():
        return str(target), "C worker (rx.c, cc -O2)"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None, "Python worker: no C compiler (cc) on this machine"
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    built = subprocess.run(
        [compiler, "-O2", "-o", str(partial), str(source)], capture_output=True, text=True
    )
    if built.returncode != 0:
        return None, "Python worker: rx.c did not compile: " + built.stderr.strip()[-300:]
    partial.replace(target)
    return str(target), "C worker (rx.c, cc -O2)"


def _read(client: Client) -> bytes | None:
    """What the socket has (``b""`` once closed), or ``None`` on a spurious wake-up."""
    try:
        data = client.sock.recv(RECV_SIZE)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
            raise
        data = b""
    if not data:
        client.closed = True
    return data


def _complete(data: bytes | bytearray, end: int) -> int:
    """Where the last chat marker in ``data[:end]`` starts if a read cut it (else *end*)."""
    at = data.rfind(b"@", max(0, end - 64), end)
    if at < 0 or (at + 1 < end and data[at + 1 : at + 2] != b"T"):
        return end
    return at if data.find(b"~", at, end) < 0 else end


def received(
    client: Client, data: bytes, latencies: array.array[int] | None, arrival: int | None = None
) -> None:
    """Count the chat markers in what arrived (and whether the client has registered); with
    *latencies*, record the latency of each: from its stamp to *arrival* (ns, default now).

    Without *latencies* (the main process's clients: senders only need counts) the markers are
    counted with ``bytes.count``, not parsed."""
    chunk = client.tail + data if client.tail else data
    cut = _complete(chunk, len(chunk))
    client.tail = chunk[cut:]
    chunk = chunk[:cut]
    if not client.registered and client.registered_mark in chunk:
        client.registered = True
    if latencies is None:
        client.chat += chunk.count(MARK)
    elif MARK in chunk:
        stamps = STAMP.findall(chunk)
        client.chat += len(stamps)
        now = time.monotonic_ns() if arrival is None else arrival
        latencies.extend([now - int(stamp) for stamp in stamps])


def kernel_arrival(ancillary: list[tuple[int, int, bytes]], offset: int) -> int | None:
    """The kernel's receive time (``SO_TIMESTAMPNS``, ``CLOCK_REALTIME``) in a ``recvmsg``'s
    control data, moved to ``CLOCK_MONOTONIC`` by *offset* (realtime - monotonic, ns); ``None``
    if there is none. For TCP it is the time of the last segment the read returned."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = array.array("q", data[:16])
            return seconds * 1_000_000_000 + nanoseconds - offset
    return None


def _work(
    clients: list[Client],
    slots: list[int],
    shared: memoryview,
    result: int,
    pause: float,
    arrival: str = "kernel",
) -> None:
    """A worker: read and count until told to stop; then send back the latency samples.

    The twin of ``rx.c`` (see there), for machines without a C compiler. It reads into one
    preallocated buffer and counts with ``rfind``/``findall`` over a range of it: no allocation
    per read. After each pass it sleeps *pause*, so that reads find several lines waiting; with
    *arrival* "kernel" a line's arrival is the kernel's receive time, so the pause is not
    latency; "read" times it by the read; "both" records the two, one after the other.
    """
    kernel, both = arrival != "read", arrival == "both"
    epoll = select.epoll()
    by_fd = {}
    for client, slot in zip(clients, slots, strict=True):
        if kernel:
            client.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        epoll.register(client.sock.fileno(), select.EPOLLIN)
        by_fd[client.sock.fileno()] = (client, slot)
    samples: array.array[int] = array.array("q")
    buffer = bytearray(RECV_SIZE + 8192)
    view = memoryview(buffer)
    find_stamps = STAMP.findall
    monotonic_ns = time.monotonic_ns
    control = STAMP_SPACE if kernel else 0
    unstamped = 0
    while True:
        ready = epoll.poll(0.02)  # an idle worker waits here, and costs nothing
        phase = shared[0]  # read after the wait: a read may not predate the phase it counts in
        if phase == STOP:
            break
        measuring = phase == MEASURING
        offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - monotonic_ns()
        for fd, _ in ready:
            client, slot = by_fd[fd]
            tail = client.tail
            start = len(tail)
            if start:
                buffer[:start] = tail
            try:
                n, ancillary, _, _ = client.sock.recvmsg_into(
                    [view[start : start + RECV_SIZE]], control
                )
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if not n:
                client.closed = True
                epoll.unregister(fd)
                continue
            read_time = monotonic_ns()
            stamped = kernel_arrival(ancillary, offset) if kernel else None
            if stamped is None:
                unstamped += kernel and measuring
                stamped = read_time
            end = start + n
            cut = _complete(buffer, end)
            client.tail = bytes(buffer[cut:end]) if cut < end else b""
            stamps = find_stamps(buffer, 0, cut)
            client.chat += len(stamps)
            shared[slot] = client.chat
            if measuring:
                for stamp in stamps:
                    samples.append(stamped - int(stamp))
                    if both:
                        samples.append(read_time - int(stamp))
        if pause:
            time.sleep(pause)
    # As rx.c: the number of this worker's clients the server closed, of reads without a kernel
    # stamp, then the samples.
    data = array.array("q", [sum(client.closed for client in clients), unstamped]).tobytes()
    data += samples.tobytes()
    while data:
        written = os.write(result, data)
        data = data[written:]
    os.close(result)
