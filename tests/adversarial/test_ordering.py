"""One order per room: under concurrent senders every member sees the same events, no gaps."""

from __future__ import annotations

import math
import random

import trio
import trio.lowlevel

from tests.adversarial.helpers import CHAT, Reader, open_raw, size
from triochat import ChatServer, Event, Hub, Member, Message, ServerConfig

SENDERS = size(10, 40)
LINES = size(200, 1000)  # per sender
LISTENERS = 5


async def test_concurrent_senders_over_sockets_one_order(nursery: trio.Nursery) -> None:
    config = ServerConfig(port=0, message_rate=math.inf)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    readers = []
    for _ in range(SENDERS + LISTENERS):
        reader = Reader(await open_raw(port))
        nursery.start_soon(reader.run)
        await reader.wait_for_line("joined #lobby")
        readers.append(reader)
    total = SENDERS * LINES
    await readers[0].wait(lambda r: sum("joined #lobby" in x for x in r.lines) == len(readers))

    async def send(index: int) -> None:
        # Lines in random-sized writes, with random pauses: reads on the server interleave.
        rng = random.Random(index)
        number = 0
        while number < LINES:
            count = min(rng.randint(1, 40), LINES - number)
            data = b"".join(b"s%d n%d\n" % (index, number + k) for k in range(count))
            await readers[index].stream.send_all(data)
            number += count
            await trio.sleep(rng.random() / 100)

    async with trio.open_nursery() as senders:
        for index in range(SENDERS):
            senders.start_soon(send, index)

    def complete(reader: Reader) -> bool:
        return sum(1 for line in reader.lines if CHAT.match(line)) >= total

    views = []
    for reader in readers:
        await reader.wait(complete, timeout=30)
        views.append([line.split("] ", 1)[1] for line in reader.lines if CHAT.match(line)])
        await reader.stream.aclose()
    assert all(view == views[0] for view in views)
    assert len(views[0]) == total
    for index in range(SENDERS):  # each sender's lines in the order it sent them, none missing
        mine = [line.rsplit(" ", 1)[1] for line in views[0] if f"> s{index} " in line]
        assert mine == [f"n{number}" for number in range(LINES)]


async def test_concurrent_speakers_in_the_core_have_consecutive_sequence_numbers() -> None:
    hub = Hub(outbox_events=100_000, outbox_bytes=1 << 30)
    room = hub.room()
    members = [hub.connect(f"m{index}") for index in range(SENDERS + LISTENERS)]
    for member in members:
        room.join(member)
    first = room.seq + 1

    async def speak(member: Member, index: int) -> None:
        rng = random.Random(index)
        for number in range(LINES):
            await member.say(f"{index}:{number}")
            if rng.random() < 0.3:
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for index, member in enumerate(members[:SENDERS]):
            nursery.start_soon(speak, member, index)

    views: list[list[Event]] = []
    for member in members:
        events = []
        while True:
            try:
                events.append(member.receive_nowait())
            except trio.WouldBlock:
                break
        views.append([event for event in events if event.seq >= first])
    reference = views[0]
    assert [event.seq for event in reference] == list(range(first, first + SENDERS * LINES))
    for view in views:
        assert view == reference  # the very same events, in the same order
        assert all(isinstance(event, Message) for event in view)
