"""The attacks of bench/reliability.py. Each one returns, in words, what the server did.

Every attack closes what it opened before it returns, so that the server's resources can be
measured after it. Sizes are fixed and bounded; everything is on 127.0.0.1.
"""

from __future__ import annotations

import collections
import random
import signal
import statistics
import time
from collections.abc import Awaitable, Callable

import attrs
import trio
from attack_kit import Healthy, Reader, Server, join, open_raw, reset_on_close, run_server

HEALTHY = set(Healthy.NICKS)
#: Attackers all come from 127.0.0.1; attacks other than the per-address one lift that limit.
MANY_PER_IP = ("--max-clients-per-ip", "100000")


def _reasons(server: Server) -> str:
    counts = server.disconnects(excluding=HEALTHY)
    return "; ".join(f"{reason} ×{count}" for reason, count in counts.most_common()) or "none"


async def _until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    with trio.move_on_after(timeout):
        while not predicate():  # noqa: ASYNC110 - polling the server's log and /proc
            await trio.sleep(0.05)


async def _close_all(streams: list[trio.SocketStream]) -> None:
    for stream in streams:
        await stream.aclose()


def _disconnected(server: Server, count: int) -> Callable[[], bool]:
    return lambda: sum(server.disconnects(excluding=HEALTHY).values()) >= count


# ---------------------------------------------------------------------------------- attacks


async def baseline(server: Server, nursery: trio.Nursery) -> str:
    await trio.sleep(5)  # long enough for a steady reference: 150 lines, 450 arrivals
    return "nothing to do"


async def never_reading(server: Server, nursery: trio.Nursery) -> str:
    # 100 clients that never read (4 KiB receive buffers) while 20 others paste 100 lines of
    # 1000 bytes each (within the default burst): 2 MB for every member.
    sloths = [await open_raw(server.port, rcvbuf=4096) for _ in range(100)]
    flooders = [await join(nursery, server.port) for _ in range(20)]
    line = b"x" * 1000 + b"\n"
    async with trio.open_nursery() as pasting:
        for flooder in flooders:
            pasting.start_soon(flooder.stream.send_all, line * 100)
    await _until(_disconnected(server, 100))
    cut = sum(server.disconnects(excluding=HEALTHY).values())
    await _close_all(sloths + [f.stream for f in flooders])
    await _until(_disconnected(server, 120))
    return (
        f"{cut} of 100 non-readers cut off while 20 clients pasted 2 MB; in all: {_reasons(server)}"
    )


async def slowloris(server: Server, nursery: trio.Nursery) -> str:
    readers = [await join(nursery, server.port) for _ in range(20)]
    connected = time.perf_counter()

    async def trickle(reader: Reader) -> None:
        while not reader.eof:
            try:
                await reader.stream.send_all(b"a")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            await trio.sleep(1)

    ended: list[float] = []

    async def watch(reader: Reader) -> None:
        await reader.wait(lambda r: r.eof, timeout=30)
        ended.append(time.perf_counter() - connected)

    async with trio.open_nursery() as attack:
        for reader in readers:
            attack.start_soon(trickle, reader)
            attack.start_soon(watch, reader)
    await _close_all([r.stream for r in readers])
    await _until(_disconnected(server, 20))
    return (
        f"20 clients sending 1 byte/s and never a newline (--idle-timeout 6): all cut off "
        f"{statistics.median(ended):.1f} s after connecting; {_reasons(server)}"
    )


async def endless_line(server: Server, nursery: trio.Nursery) -> str:
    reader = await join(nursery, server.port)
    chunk = b"y" * 65536
    sent = 0
    with trio.move_on_after(30):
        try:
            while not reader.eof:
                await reader.stream.send_all(chunk)
                sent += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    await reader.wait(lambda r: r.eof)
    errors = [line for line in reader.lines if "line too long" in line]
    await reader.stream.aclose()
    await _until(_disconnected(server, 1))
    return (
        f"one line of {sent / 1e6:.0f} MB with no newline (--idle-timeout 6): "
        f"{len(errors)} `line too long` error, at most 4097 bytes held; {_reasons(server)}"
    )


async def silent(server: Server, nursery: trio.Nursery) -> str:
    readers = [await join(nursery, server.port) for _ in range(50)]
    with trio.fail_after(20):
        for reader in readers:
            await reader.wait(lambda r: r.eof)
    pinged = sum(any("ping" in line for line in r.lines) for r in readers)
    await _close_all([r.stream for r in readers])
    await _until(_disconnected(server, 50))
    return f"50 clients that say nothing (--idle-timeout 4): {pinged} pinged; {_reasons(server)}"


async def resets(server: Server, nursery: trio.Nursery) -> str:
    victims = [await join(nursery, server.port) for _ in range(50)]
    talkers = [await join(nursery, server.port) for _ in range(5)]
    for talker in talkers:
        nursery.start_soon(talker.stream.send_all, (b"w" * 500 + b"\n") * 100)
    await victims[0].wait(lambda r: len(r.lines) > 50)
    for victim in victims:  # mid-broadcast
        reset_on_close(victim.stream)
        await victim.stream.aclose()
    await _until(_disconnected(server, 50))
    await _close_all([t.stream for t in talkers])
    await _until(_disconnected(server, 55))
    return f"50 clients reset (RST) while 5 others pasted 500 lines; in all: {_reasons(server)}"


async def half_close(server: Server, nursery: trio.Nursery) -> str:
    readers = [await join(nursery, server.port) for _ in range(20)]
    for reader in readers:
        await reader.stream.send_all(b"last words\n")
        await reader.stream.send_eof()
    with trio.fail_after(20):
        for reader in readers:
            await reader.wait(lambda r: r.eof)
    complete = sum(
        any(line.endswith("> last words") for line in r.lines)
        and r.lines[-1].startswith("*** goodbye")
        for r in readers
    )
    await _close_all([r.stream for r in readers])
    await _until(_disconnected(server, 20))
    return (
        f"20 half-closed clients: {complete} got their echo, then the goodbye; {_reasons(server)}"
    )


async def eof_mid_line(server: Server, nursery: trio.Nursery) -> str:
    watcher = await join(nursery, server.port, "watcher")
    for _ in range(20):
        stream = await open_raw(server.port)
        await stream.send_all(b"complete line\npartial line")
        await stream.aclose()
    await _until(_disconnected(server, 20))
    said = [text for _, text, _ in watcher.chat()]
    await watcher.stream.aclose()
    return (
        f"20 clients closed in the middle of a line: {said.count('complete line')} complete "
        f"lines served, {said.count('partial line')} partial ones; {_reasons(server)}"
    )


async def _mallory(server: Server, nursery: trio.Nursery, payload: bytes) -> Reader:
    mallory = await join(nursery, server.port, "mallory")
    with trio.move_on_after(60):
        try:
            view = memoryview(payload)
            for start in range(0, len(view), 65536):
                await mallory.stream.send_all(view[start : start + 65536])
            await mallory.stream.send_all(b"\n/quit\n")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    await mallory.wait(lambda r: r.eof, timeout=30)
    await mallory.stream.aclose()
    await _until(lambda: any("(mallory)" in line for line in server.log))
    return mallory


def _errors(reader: Reader) -> str:
    kinds = collections.Counter(
        line.removeprefix("*** error: ").split(" (")[0].split(";")[0].split(":")[0]
        for line in reader.lines
        if line.startswith("*** error")
    )
    return ", ".join(f"`{kind}` ×{count}" for kind, count in kinds.most_common()) or "no errors"


def _garbage(describe: str, payload: Callable[[], bytes]) -> Callable[..., Awaitable[str]]:
    async def attack(server: Server, nursery: trio.Nursery) -> str:
        mallory = await _mallory(server, nursery, payload())
        last = mallory.lines[-1] if mallory.lines else ""
        ending = "quit normally" if last.startswith("*** goodbye (quit") else f"ended by `{last}`"
        return f"{describe}: {_errors(mallory)}; {ending}"

    return attack


_ESCAPES = (
    b"nul\x00in\x00the\x00middle\n\x1b[2J\x1b[Hclear screen\n\x1b]0;title\x07osc\n"
    b"\xc2\x9b31mC1 CSI\nbell\x07 cr\r forged\n\xe2\x80\xaereversed\n"
) * 10


async def escapes(server: Server, nursery: trio.Nursery) -> str:
    watcher = await join(nursery, server.port, "watcher")
    attack = _garbage("NUL, CSI/OSC/C1 escapes, CR, BEL, bidi override", lambda: _ESCAPES)
    described = await attack(server, nursery)
    relayed = sum(any(ch in line for ch in "\x00\x1b\x07\x9b\r\u202e") for line in watcher.lines)
    said = sum(1 for nick, _, _ in watcher.chat() if nick == "mallory")
    await watcher.stream.aclose()
    return f"{described}; {said} lines relayed, {relayed} of them with a control character"


async def rate_flood(server: Server, nursery: trio.Nursery) -> str:
    watcher = await join(nursery, server.port, "watcher")
    payload = b"".join(b"spam %d\n" % n for n in range(10_000))
    mallory = await _mallory(server, nursery, payload)
    said = sum(1 for nick, _, _ in watcher.chat() if nick == "mallory")
    await watcher.stream.aclose()
    return (
        f"10 000 lines at once: {said} accepted (the burst of 100, less its /nick), "
        f"{_errors(mallory)}; {_reasons(server)}"
    )


async def per_ip(server: Server, nursery: trio.Nursery) -> str:
    readers = []
    for _ in range(150):
        reader = Reader(await open_raw(server.port))
        nursery.start_soon(reader.run)
        readers.append(reader)
    with trio.fail_after(20):
        for reader in readers:
            await reader.wait(lambda r: r.eof or any("joined #lobby" in x for x in r.lines))
    refused = sum(any("too many connections" in x for x in r.lines) for r in readers)
    await _close_all([r.stream for r in readers])
    warnings = sum("refused" in line for line in server.log)
    return (
        f"150 more connections from 127.0.0.1 (default limit 100 per address, 3 healthy "
        f"already in): {150 - refused} served, {refused} refused with an error line; "
        f"{warnings} log line(s) for the refusals"
    )


async def churn(server: Server, nursery: trio.Nursery) -> str:
    started = time.perf_counter()
    for cycle in range(10_000):
        stream = await open_raw(server.port)
        if cycle % 3:
            seen = b""
            while b"joined #lobby" not in seen:
                data = await stream.receive_some(65536)
                if not data:
                    break
                seen += data
            if cycle % 3 == 2:
                reset_on_close(stream)
        await stream.aclose()
    elapsed = time.perf_counter() - started
    await _until(_disconnected(server, 6666))
    connects = sum(" connect " in line for line in server.log) - len(HEALTHY)
    return (
        f"10 000 connect/disconnect cycles (close at once, after the welcome, or RST) in "
        f"{elapsed:.0f} s: {connects} reached the hub (the others closed before they were "
        f"served), every one released"
    )


async def fd_exhaustion(server: Server, nursery: trio.Nursery) -> str:
    readers = []
    for _ in range(100):
        reader = Reader(await open_raw(server.port))
        nursery.start_soon(reader.run)
        readers.append(reader)
    await _until(lambda: any("Too many open files" in line for line in server.log))
    await trio.sleep(0.5)
    served_first = [r for r in readers if any("joined #lobby" in x for x in r.lines)]
    for reader in served_first:
        await reader.stream.aclose()
    waiting = [r for r in readers if r not in served_first]
    with trio.fail_after(30):
        for reader in waiting:
            await reader.wait_for("joined #lobby")
    await _close_all([r.stream for r in waiting])
    warnings = sum("cannot accept connections" in line for line in server.log)
    tracebacks = sum("Traceback" in line for line in server.log)
    recovered = [line.split(": ", 1)[1] for line in server.log if "accepting connections" in line]
    return (
        f"100 connections to a server with `ulimit -n 64`: {len(served_first)} served, the "
        f"rest kept in the backlog; {warnings} warning line, {tracebacks} tracebacks; "
        f"`{recovered[0] if recovered else 'no recovery line'}`; all {len(waiting)} waiting "
        f"were served once descriptors were freed"
    )


async def ordering(server: Server, nursery: trio.Nursery) -> str:
    senders = [await join(nursery, server.port) for _ in range(10)]
    listeners = [await join(nursery, server.port) for _ in range(5)]
    async with trio.open_nursery() as sending:
        for index, sender in enumerate(senders):
            data = b"".join(b"order %d-%d\n" % (index, n) for n in range(100))
            sending.start_soon(sender.stream.send_all, data)
    everyone = senders + listeners

    def views() -> list[list[str]]:
        return [[t for _, t, _ in r.chat() if t.startswith("order ")] for r in everyone]

    await _until(lambda: all(len(view) >= 1000 for view in views()))
    all_views = views()
    same = sum(view == all_views[0] for view in all_views)
    await _close_all([r.stream for r in everyone])
    await _until(_disconnected(server, 15))
    return (
        f"10 clients send 100 lines each at the same moment: {len(all_views[0])} lines, "
        f"{same} of {len(all_views)} views identical, in each sender's order"
    )


@attrs.frozen
class Attack:
    key: str
    name: str
    run: Callable[[Server, trio.Nursery], Awaitable[str]]
    server_args: tuple[str, ...] = MANY_PER_IP
    max_open_files: int | None = None


ATTACKS = [
    Attack("baseline", "none (baseline)", baseline),
    Attack("never-reading", "100 never-reading clients during a flood", never_reading),
    Attack("slowloris", "slowloris: 1 byte/s", slowloris, (*MANY_PER_IP, "--idle-timeout", "6")),
    Attack("endless", "a line that never ends", endless_line, ("--idle-timeout", "6")),
    Attack("silent", "clients that say nothing", silent, (*MANY_PER_IP, "--idle-timeout", "4")),
    Attack("reset", "RST mid-broadcast (SO_LINGER 0)", resets),
    Attack("half-close", "half-close (shutdown SHUT_WR)", half_close),
    Attack("eof", "EOF in the middle of a line", eof_mid_line),
    Attack(
        "random",
        "1 MiB of random bytes",
        _garbage("1 MiB of random bytes", lambda: random.Random(4).randbytes(1 << 20)),
    ),
    Attack(
        "utf8",
        "invalid UTF-8",
        _garbage(
            "60 lines of invalid UTF-8",
            lambda: b"".join(
                b"ok " + bad + b"\n" for bad in [b"\xff", b"\xc3\x28", b"\xed\xa0\x80"] * 20
            ),
        ),
    ),
    Attack(
        "overlong",
        "overlong lines",
        _garbage("30 lines of 10 kB", lambda: (b"o" * 10_000 + b"\n") * 30),
    ),
    Attack("escapes", "NUL bytes and escape sequences", escapes),
    Attack("megabyte", "a 1 MB line", _garbage("one 1 MB line", lambda: b"m" * 1_000_000 + b"\n")),
    Attack(
        "empty",
        "a million empty lines",
        _garbage("1 000 000 empty lines", lambda: b"\n" * 1_000_000),
    ),
    Attack("flood", "flood over the rate limit", rate_flood),
    Attack("per-ip", "150 connections from one address", per_ip, ()),
    Attack("churn", "connection churn", churn),
    Attack("fds", "fd exhaustion", fd_exhaustion, MANY_PER_IP, 64),
    Attack("ordering", "concurrent senders", ordering),
]


# ------------------------------------------------------------------- shutdown under load

GRACE = 3.0


async def shutdown_under_load() -> tuple[str, str, str, str, str]:
    """200 clients chat; SIGTERM; compare what each received. Not a healthy-client probe: here
    all 200 are the healthy clients, and the server itself goes away."""
    args = ("--shutdown-grace", str(GRACE), *MANY_PER_IP)
    async with run_server(*args) as server, trio.open_nursery() as nursery:
        fds_before, rss_before = await server.settled_fds(), server.memory_kib()
        readers = [await join(nursery, server.port) for _ in range(200)]
        sent = 0

        async def chat(reader: Reader, index: int) -> None:
            nonlocal sent
            rng = random.Random(index)
            await trio.sleep(rng.random())
            number = 0
            try:
                while not reader.eof:
                    await reader.stream.send_all(b"c%d m%d\n" % (index, number))
                    sent += 1
                    number += 1
                    await trio.sleep(0.5 + rng.random())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

        for index, reader in enumerate(readers):
            nursery.start_soon(chat, reader, index)
        await trio.sleep(3)
        fds_loaded, peak = server.fds(), server.memory_kib("VmHWM")
        rss_loaded = server.memory_kib()
        signalled = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(GRACE + 5):
            returncode = await server.process.wait()
        elapsed = time.perf_counter() - signalled
        with trio.fail_after(20):
            for reader in readers:
                await reader.wait(lambda r: r.eof)
        await _close_all([r.stream for r in readers])
        nursery.cancel_scope.cancel()
    views = [[(nick, text) for nick, text, _ in r.chat()] for r in readers]
    same = sum(view == views[0] for view in views)
    goodbyes = sum(r.lines[-1] == "*** goodbye (server shutting down)" for r in readers)
    did = (
        f"SIGTERM while 200 clients chat (grace {GRACE:g} s): exit code {returncode}, "
        f"{elapsed / GRACE:.0%} of the grace period after the signal"
    )
    healthy = (
        f"{sent} lines sent, {len(views[0])} accepted before the signal; {same} of 200 clients "
        f"received exactly those, in one order, then the goodbye ({goodbyes} of 200)"
    )
    fds = f"{fds_before} → {fds_loaded} under load; exited"
    rss = (
        f"{rss_before / 1024:.1f} → {rss_loaded / 1024:.1f} under load ({peak / 1024:.1f}); exited"
    )
    return "SIGTERM under load", did, healthy, fds, rss
