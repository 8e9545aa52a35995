"""Flood control, connections per address and the soft outbox limit, each attacked directly.

The time-dependent cases run over ``trio.testing`` streams on the virtual clock
(``autojump_clock``): the limits read ``trio.current_time()``, so a ten-second window takes no
real time and the times asserted are exact.
"""

from __future__ import annotations

import math

import attrs
import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig
from triochat.drivers._addresses import address_key
from triochat.session._flood import FloodControl, TokenBucket, Verdict

# ------------------------------------------------------------------------- sans-IO policy


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2, burst=5)
    assert [bucket.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(0.4) is False  # 0.8 of a token
    assert bucket.take(0.5) is True  # one token after half a second at 2/s
    assert [bucket.take(100.0) for _ in range(6)] == [True] * 5 + [False]  # capped at the burst


def test_infinite_rate_never_refuses() -> None:
    bucket = TokenBucket(rate=math.inf, burst=1)
    assert all(bucket.take(0.0) for _ in range(10_000))


def test_refusals_warn_once_per_run_then_disconnect_past_the_limit() -> None:
    flood = FloodControl(rate=1, burst=2, limit=3, window=10)
    verdicts = [flood.check(0.0) for _ in range(6)]
    assert verdicts == [
        Verdict.ACCEPT,
        Verdict.ACCEPT,
        Verdict.WARN,
        Verdict.REFUSE,
        Verdict.REFUSE,
        Verdict.DISCONNECT,  # the fourth refusal within 10 s: more than the limit of 3
    ]
    assert flood.refused == 4


def test_a_new_run_of_refusals_warns_again() -> None:
    flood = FloodControl(rate=1, burst=1, limit=100, window=10)
    assert [flood.check(0.0) for _ in range(3)] == [Verdict.ACCEPT, Verdict.WARN, Verdict.REFUSE]
    assert flood.check(1.0) is Verdict.ACCEPT
    assert flood.check(1.0) is Verdict.WARN


def test_refusals_spread_wider_than_the_window_never_disconnect() -> None:
    # One refusal every 5 s, with a limit of 2 within 10 s: a window (t - 10, t] never holds
    # more than 2 of them, however long it goes on.
    flood = FloodControl(rate=1e-9, burst=1, limit=2, window=10)
    assert flood.check(0.0) is Verdict.ACCEPT
    assert all(flood.check(5.0 * n) is not Verdict.DISCONNECT for n in range(1, 100))
    # Three refusals within 10 s are more than 2.
    tight = FloodControl(rate=1e-9, burst=1, limit=2, window=10)
    tight.check(0.0)
    assert [tight.check(t) for t in (1.0, 2.0, 3.0)][-1] is Verdict.DISCONNECT


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="limit"):
        FloodControl(rate=1, burst=1, limit=-1, window=1)
    with pytest.raises(ValueError, match="message_burst"):
        ServerConfig(message_burst=0)
    with pytest.raises(ValueError, match="message_rate"):
        ServerConfig(message_rate=math.nan)


def test_address_key_folds_mapped_ipv4() -> None:
    assert address_key(("::ffff:192.0.2.1", 5000, 0, 0)) == "192.0.2.1"
    assert address_key(("192.0.2.1", 5000)) == "192.0.2.1"
    assert address_key(("::1", 5000, 0, 0)) == "::1"
    assert address_key("/tmp/socket") is None


# --------------------------------------------------------------------- flood control, served


FLOOD = ServerConfig(message_rate=10, message_burst=20, flood_limit=30, flood_window=10)


async def test_burst_then_slow_down_then_the_rate(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=FLOOD)
    async with trio.open_nursery() as nursery:
        client = await FakeClient.connect(nursery, server, "fake:1")
        await client.send(b"".join(b"burst %d\n" % n for n in range(25)))
        lines = [await client.line() for _ in range(21)]
        said = [line for line in lines if line and "> burst " in line]
        assert [line.split("> ")[1] for line in said] == [f"burst {n}" for n in range(20)]
        errors = [line for line in lines if line and line.startswith("*** error: slow down")]
        assert errors == [
            "*** error: slow down: at most 10 lines a second, 20 at once; "
            "lines sent faster are discarded"
        ]
        # One second later the bucket holds ten tokens again.
        await trio.sleep(1)
        await client.send(b"".join(b"later %d\n" % n for n in range(10)))
        await client.until("> later 9")
        assert server.statistics().refused_lines == 5
        assert server.statistics().connections == 1
        nursery.cancel_scope.cancel()


async def test_sustained_flood_is_disconnected_and_the_room_is_told(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=FLOOD)
    async with trio.open_nursery() as nursery:
        watcher = await FakeClient.connect(nursery, server, "fake:1")
        flooder = await FakeClient.connect(nursery, server, "fake:2")
        # 20 accepted, then the 31st refusal within 10 s ends it: 51 lines.
        await flooder.send(b"x\n" * 51)
        rest = await flooder.rest()
        assert rest[-1] == (
            "*** error: excess flood: more than 30 lines refused within 10 s; disconnecting"
        )
        left = await watcher.until("left #lobby")
        assert left.endswith(
            "guest-2 left #lobby (excess flood: more than 30 lines refused within 10 s)"
        )
        assert server.statistics().connections == 1
        assert server.hub.statistics().members == 1
        nursery.cancel_scope.cancel()


async def test_fifty_lines_are_only_throttled(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=FLOOD)
    async with trio.open_nursery() as nursery:
        client = await FakeClient.connect(nursery, server, "fake:1")
        await client.send(b"y\n" * 50)  # 20 accepted, 30 refused: at the limit, not over it
        lines = [await client.line() for _ in range(21)]
        assert [line for line in lines if line and line.endswith("> y")] == lines[:20]
        assert lines[20] is not None
        assert lines[20].startswith("*** error: slow down")  # warned once, not disconnected
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().refused_lines == 30
        assert server.statistics().connections == 1
        await trio.sleep(1)
        await client.send("still here")
        # The very next line: no goodbye, no second warning came in between.
        still = await client.line()
        assert still is not None
        assert still.endswith("> still here")
        nursery.cancel_scope.cancel()


async def test_a_little_too_fast_for_a_minute_is_throttled_not_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 15 lines a second against a rate of 10 for a minute: 5 refusals a second, so 50 in any
    # 10 s window, under a limit of 60. Throttled the whole time, never disconnected.
    server = ChatServer(config=attrs.evolve(FLOOD, flood_limit=60))
    async with trio.open_nursery() as nursery:
        client = await FakeClient.connect(nursery, server, "fake:1")

        async def drain() -> None:
            while await client.line() is not None:
                pass

        nursery.start_soon(drain)
        for _ in range(60 * 15):
            await client.send("steady")
            await trio.sleep(1 / 15)
        await trio.testing.wait_all_tasks_blocked()
        stats = server.statistics()
        assert stats.connections == 1
        # Accepted: the burst of 20, then 10 a second for 60 s; the rest of the 900 refused.
        assert abs(stats.refused_lines - (900 - 20 - 600)) <= 2
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- connections per IP


async def test_connections_per_ip_are_limited_and_freed(nursery: trio.Nursery) -> None:
    config = ServerConfig(port=0, max_clients_per_ip=3)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    clients = [await (await LineClient.open(port)).registered() for _ in range(3)]
    refused = await LineClient.open(port)
    assert await refused.rest() == [
        "*** error: too many connections from your address (the limit is 3), try again later"
    ]
    await refused.aclose()
    assert server.statistics().refused_per_ip == 1
    await clients[0].aclose()
    await eventually(lambda: server.statistics().connections == 2)
    again = await (await LineClient.open(port)).registered()
    await again.send("back in")
    await again.until("back in")
    for client in [*clients[1:], again]:
        await client.aclose()


async def test_other_addresses_are_not_affected(autojump_clock: trio.testing.MockClock) -> None:
    server = ChatServer(config=ServerConfig(max_clients_per_ip=1))
    async with trio.open_nursery() as nursery:
        await FakeClient.connect(nursery, server, "a", ip="192.0.2.1")
        await FakeClient.connect(nursery, server, "b", ip="192.0.2.2")
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(lambda: server.handle_stream(server_end, "c", ip="192.0.2.1"))
        refused = FakeClient(client_end)
        assert (await refused.rest())[0].startswith("*** error: too many connections")
        assert server.statistics().connections == 2
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- soft outbox limit


async def test_soft_limit_stops_reading_a_flooder_until_it_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A lockstep stream: the server's writes wait until this client reads, and this client's
    # writes wait until the server reads. The client floods without reading its echoes.
    config = ServerConfig(
        outbox_events=64,
        outbox_soft_events=16,
        history_events=16,
        message_rate=math.inf,
        write_timeout=1000,
    )
    server = ChatServer(config=config)
    client_end, server_end = trio.testing.lockstep_stream_pair()
    client = FakeClient(client_end)
    count = 200
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: server.handle_stream(server_end, "flooder"))
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for number in range(count):
                await client.send(f"flood {number}")
                sent += 1

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        # The server has stopped reading: the flooder is stuck, not disconnected.
        assert server.statistics().reading_paused == 1
        assert server.statistics().connections == 1
        member = server.hub.members[0]
        assert config.outbox_soft_events <= member.queued < config.outbox_events
        assert sent < count
        # Once it reads, everything it sent is served, in order.
        for number in range(count):
            line = await client.until("> flood ")
            assert line.endswith(f"> flood {number}")
        assert server.statistics().reading_paused == 0
        assert member.connected
        nursery.cancel_scope.cancel()


SOFT = ServerConfig(
    outbox_events=64,
    outbox_soft_events=16,
    history_events=16,
    message_rate=math.inf,
    write_timeout=1000,
    idle_timeout=10_000,
)


def flood_without_reading(
    nursery: trio.Nursery, server: ChatServer, lines: list[str]
) -> tuple[FakeClient, list[str]]:
    """A client on a lockstep stream (the server's writes wait until it reads, its own writes
    wait until the server reads) that sends *lines* without reading; returns it and what it
    managed to send so far."""
    client_end, server_end = trio.testing.lockstep_stream_pair()
    nursery.start_soon(lambda: server.handle_stream(server_end, "flooder"))
    client = FakeClient(client_end)
    sent: list[str] = []

    async def flood() -> None:
        for line in lines:
            await client.send(line)
            sent.append(line)

    nursery.start_soon(flood)
    return client, sent


async def test_soft_limit_pauses_only_the_flooder_while_others_chat_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=SOFT)
    async with trio.open_nursery() as nursery:
        healthy = await FakeClient.connect(nursery, server, "healthy")
        lines = [f"flood {number}" for number in range(200)]
        flooder, sent = flood_without_reading(nursery, server, lines)
        await trio.testing.wait_all_tasks_blocked()
        flooding = server.hub.member("guest-2")
        assert flooding is not None
        # Its reader stopped at exactly the soft bound of its own outbox: each line it sends
        # puts one echo there, and the writer is stuck on the batch before them.
        assert flooding.queued == SOFT.outbox_soft_events
        assert server.statistics().reading_paused == 1
        assert len(sent) < len(lines)
        # The healthy client is read and served all the while: nobody waits for the flooder.
        await healthy.send("still served")
        healthy_saw = []
        while not (line := await healthy.until("> ")).endswith("<guest-1> still served"):
            healthy_saw.append(line.split("> ")[1])
        assert server.statistics().reading_paused == 1
        assert flooding.connected
        assert server.statistics().connections == 2
        # Once the flooder reads, it is read again: every line it sent goes out, in order.
        said: list[str] = []
        while len(said) < len(lines):
            said.append((await flooder.until("> flood ")).split("> ")[1])
        assert said == lines
        assert server.statistics().reading_paused == 0
        while len(healthy_saw) < len(lines):
            healthy_saw.append((await healthy.until("> flood ")).split("> ")[1])
        assert healthy_saw == lines
        nursery.cancel_scope.cancel()


async def test_soft_limit_in_bytes_pauses_a_flooder_of_long_lines(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The bound in events is far away: only the bytes of a few long lines can stop the reader.
    config = attrs.evolve(SOFT, outbox_soft_events=1000, outbox_soft_bytes=4000)
    server = ChatServer(config=config)
    async with trio.open_nursery() as nursery:
        lines = [f"{number:04d} " + "x" * 995 for number in range(30)]
        flooder, sent = flood_without_reading(nursery, server, lines)
        await trio.testing.wait_all_tasks_blocked()
        member = server.hub.members[0]
        assert server.statistics().reading_paused == 1
        # Each echo costs 1064 bytes: the reader stopped at the first one past 4000 bytes.
        assert member.queued == 4
        assert member.queued_bytes >= config.outbox_soft_bytes
        assert len(sent) < len(lines)
        for line in lines:
            assert (await flooder.until("> ")).endswith(f"> {line}")
        assert server.statistics().reading_paused == 0
        assert member.connected
        nursery.cancel_scope.cancel()


async def test_reader_resumes_when_its_outbox_drains_and_pauses_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer(config=SOFT)
    async with trio.open_nursery() as nursery:
        lines = [f"flood {number}" for number in range(100)]
        flooder, sent = flood_without_reading(nursery, server, lines)
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().reading_paused == 1
        paused_at = len(sent)
        # Reading the welcome takes the stuck batch off the writer; it takes the 16 queued
        # echoes next, so the outbox is empty: the reader goes on, until 16 echoes wait again.
        await flooder.until("joined #lobby")
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().reading_paused == 1
        assert paused_at < len(sent) < len(lines)
        assert server.hub.members[0].queued == SOFT.outbox_soft_events
        # Read it all (a write cut short by the cancellation would leave a lockstep stream
        # half-written).
        for line in lines:
            assert (await flooder.until("> ")).endswith(f"> {line}")
        nursery.cancel_scope.cancel()
