"""Connection churn: thousands of connect/disconnect cycles leave nothing behind.

In process, the count of trio tasks, open file descriptors, connections and hub members must come
back to exactly what it was. Against a server subprocess, its open file descriptors must come
back exactly and its resident memory may grow by no more than allocator noise.
"""

from __future__ import annotations

import math

import trio

from tests.adversarial.helpers import (
    Healthy,
    held,
    open_fds,
    open_raw,
    reset_on_close,
    rss_kib,
    serve_process,
    settles_back_to,
    size,
)
from tests.conftest import WAIT, eventually
from triochat import ChatServer, ServerConfig

#: Growth of a server subprocess's resident memory over the churn that still counts as noise:
#: allocator arenas and the interpreter's caches settle in steps of a few hundred KiB.
RSS_NOISE_KIB = 2048


async def churn(port: int, cycles: int) -> None:
    """Open and close *cycles* connections, one at a time, in three different ways."""
    for cycle in range(cycles):
        stream = await open_raw(port)
        how = cycle % 3
        if how == 0:  # close as soon as connected (the server may not have said anything)
            await stream.aclose()
            continue
        with trio.fail_after(WAIT):
            seen = b""
            while b"joined #lobby" not in seen:
                data = await stream.receive_some(65536)
                assert data, "closed by the server"
                seen += data
        if how == 2:
            reset_on_close(stream)  # RST instead of FIN
        await stream.aclose()


async def test_churn_in_process_leaves_no_task_fd_or_member(nursery: trio.Nursery) -> None:
    cycles = size(1000, 10_000)
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(port=0, message_rate=math.inf)).serve
    )
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    await churn(port, 30)  # warm up: first-use allocations are not a leak
    await eventually(lambda: server.statistics().connections == 3)
    before = held(server)
    async with trio.open_nursery() as both:
        both.start_soon(churn, port, cycles)
        both.start_soon(lambda: healthy.chat(50, interval=0.01))
    await healthy.everyone_got_everything()
    await settles_back_to(server, before)
    assert server.statistics().accepted >= 3 + 30 + cycles
    await healthy.aclose()


async def test_churn_against_a_server_process_leaves_no_fd_or_memory() -> None:
    cycles = size(3000, 10_000)
    async with serve_process("--log-level", "warning", "--rate", "inf") as server:
        async with trio.open_nursery() as nursery:
            healthy = await Healthy.join(nursery, server.port)
            await churn(server.port, 500)  # warm up
            fds_before, rss_before = await _settled(server.pid), rss_kib(server.pid)
            async with trio.open_nursery() as both:
                both.start_soon(churn, server.port, cycles)
                both.start_soon(lambda: healthy.chat(50, interval=0.02))
            await healthy.everyone_got_everything()
            fds_after, rss_after = await _settled(server.pid), rss_kib(server.pid)
            await healthy.aclose()
        assert fds_after == fds_before
        assert rss_after - rss_before < RSS_NOISE_KIB, (rss_before, rss_after)
        assert "Traceback" not in server.log


async def _settled(pid: int) -> int:
    """The process's open fd count once it stops changing (closes may still be in flight)."""
    with trio.fail_after(WAIT):
        previous = -1
        while (count := open_fds(pid)) != previous:
            previous = count
            await trio.sleep(0.2)
        return count
