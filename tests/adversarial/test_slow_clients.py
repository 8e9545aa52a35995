"""Clients that read nothing, send nothing, or send too slowly: they are cut off, nobody else is.

The never-reading clients use real loopback sockets with tiny receive buffers. The slow senders
run over ``trio.testing`` streams on the virtual clock: a client sending one byte a second for
five minutes takes a few milliseconds, and the moment of each disconnect is exact.
"""

from __future__ import annotations

import math

import trio
import trio.testing

from tests.adversarial.helpers import Healthy, held, open_raw, settles_back_to, size
from tests.conftest import eventually
from tests.memory_client import FakeClient
from triochat import SLOW_CONSUMER, ChatServer, ServerConfig


async def test_hundred_never_reading_clients_during_a_flood(nursery: trio.Nursery) -> None:
    sloths = size(100, 500)
    lines = size(700, 5000)  # per healthy client, 900 bytes each
    config = ServerConfig(
        port=0,
        outbox_events=64,
        history_events=16,
        outbox_bytes=64 * 1024,
        max_clients_per_ip=sloths + 10,
        message_rate=math.inf,  # the flood here is legitimate traffic; only reading is at fault
    )
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    before = held(server)
    streams = [await open_raw(port, rcvbuf=4096) for _ in range(sloths)]
    await eventually(lambda: server.statistics().connections == 3 + sloths)

    async with trio.open_nursery() as talkers:
        for index in range(3):
            talkers.start_soon(_talk, healthy, index, lines)
    await healthy.everyone_got_everything(timeout=60)
    # Every never-reading client was cut off as a slow consumer, and the room was told why.
    await eventually(lambda: server.statistics().connections == 3, timeout=30)
    for reader in healthy.readers:
        cut_off = [line for line in reader.lines if "left #lobby" in line]
        assert len(cut_off) == sloths
        assert all(SLOW_CONSUMER in line for line in cut_off)
    for stream in streams:
        await stream.aclose()
    await settles_back_to(server, before)
    await healthy.aclose()


async def _talk(healthy: Healthy, index: int, count: int) -> None:
    padding = "z" * 880
    for number in range(count):
        await healthy.say(index, f"{number} {padding}")


async def _tick(client: FakeClient, count: int, every: float) -> None:
    for number in range(count):
        await trio.sleep(every)
        await client.send(f"tick {number}")


async def _assert_ticked(client: FakeClient, count: int) -> None:
    for number in range(count):
        line = await client.until("> tick ")
        assert line.endswith(f"> tick {number}")


async def test_silent_client_is_pinged_then_dropped(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(idle_timeout=300))
    async with trio.open_nursery() as nursery:
        healthy = await FakeClient.connect(nursery, server, "healthy")
        before = held(server)
        start = trio.current_time()
        silent = await FakeClient.connect(nursery, server, "silent")
        nursery.start_soon(_tick, healthy, 40, 10)
        ping = await silent.until("*** ping")
        assert ping.startswith("*** ping: no complete line for 2.5 min"), ping
        assert trio.current_time() - start == 150
        assert (await silent.rest())[-1] == "*** goodbye (idle timeout)"
        assert trio.current_time() - start == 300
        await _assert_ticked(healthy, 40)
        await trio.testing.wait_all_tasks_blocked()
        assert held(server) == before
        nursery.cancel_scope.cancel()


async def test_slowloris_one_byte_a_second_is_dropped_as_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Every byte arrives well within any timeout, but no line is ever finished: the idle clock
    # runs from the last complete line, so the trickle buys nothing.
    server = ChatServer(config=ServerConfig(idle_timeout=300, max_line=4096))
    async with trio.open_nursery() as nursery:
        healthy = await FakeClient.connect(nursery, server, "healthy")
        before = held(server)
        start = trio.current_time()
        slow = await FakeClient.connect(nursery, server, "slowloris")
        nursery.start_soon(_tick, healthy, 40, 10)

        async def trickle() -> None:
            while True:
                await slow.send(b"a")
                assert server.statistics().pending_input <= 4096 + 1
                await trio.sleep(1)

        async with trio.open_nursery() as attack:
            attack.start_soon(trickle)
            await slow.until("*** ping")
            assert await slow.until("goodbye") == "*** goodbye (idle timeout)"
            attack.cancel_scope.cancel()
        assert trio.current_time() - start == 300
        await _assert_ticked(healthy, 40)
        await trio.testing.wait_all_tasks_blocked()
        assert held(server) == before
        nursery.cancel_scope.cancel()


async def test_slow_typist_who_finishes_lines_is_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The other side of the rule: slow bytes are fine as long as lines get finished.
    server = ChatServer(config=ServerConfig(idle_timeout=300))
    async with trio.open_nursery() as nursery:
        typist = await FakeClient.connect(nursery, server, "typist")
        for number in range(5):
            for byte in f"slow line {number}\n".encode():
                await typist.send(bytes([byte]))
                await trio.sleep(1)
            assert (await typist.until("> slow line")).endswith(f"> slow line {number}")
        assert server.statistics().connections == 1
        nursery.cancel_scope.cancel()


async def test_endless_line_is_refused_once_held_bounded_and_dropped_as_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    max_line = 1000
    server = ChatServer(config=ServerConfig(idle_timeout=60, max_line=max_line))
    async with trio.open_nursery() as nursery:
        healthy = await FakeClient.connect(nursery, server, "healthy")
        before = held(server)
        start = trio.current_time()
        endless = await FakeClient.connect(nursery, server, "endless")
        nursery.start_soon(_tick, healthy, 10, 5)
        sent = 0

        async def grow() -> None:
            nonlocal sent
            while True:
                await endless.send(b"x" * 4096)
                sent += 4096
                assert server.statistics().pending_input <= max_line + 1
                await trio.sleep(0.01)

        async with trio.open_nursery() as attack:
            attack.start_soon(grow)
            rest = await endless.rest()
            attack.cancel_scope.cancel()
        errors = [line for line in rest if line.startswith("*** error")]
        assert errors == [f"*** error: line too long (the limit is {max_line} bytes); discarded"]
        assert rest[-1] == "*** goodbye (idle timeout)"
        assert trio.current_time() - start == 60
        assert sent > 20_000_000  # 20 MB sent into a line, never more than 1001 bytes held
        await _assert_ticked(healthy, 10)
        await trio.testing.wait_all_tasks_blocked()
        assert held(server) == before
        nursery.cancel_scope.cancel()
