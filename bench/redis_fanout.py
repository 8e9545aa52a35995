"""Fan-out through the Redis engine against the memory log, in one process, no sockets.

One room, --members members draining their outboxes, one sender saying --messages lines;
the figure is deliveries a second (messages x members) until every member has the last line.
Needs a redis-server: ``--engine redis://127.0.0.1:PORT/0`` (the bench does not start one).

    python bench/redis_fanout.py --engine redis://127.0.0.1:6399/0
"""

from __future__ import annotations

import argparse
import time

import trio

from triochat import Hub, Member, Message
from triochat.engines._redis import RedisEngine


async def _drain(member: Member, count: int, done: trio.Event) -> None:
    seen = 0
    async for event in member:
        if isinstance(event, Message):
            seen += 1
            if seen == count:
                done.set()
                return


async def _run(hub: Hub, members: int, messages: int) -> float:
    people = [hub.connect(f"m{i}", max_events=messages * 2 + 50) for i in range(members)]
    for person in people:
        hub.join(person, "#bench")
    sender = people[0]
    await trio.sleep(0.2)  # the room loaded (Redis) before the clock starts
    dones = [trio.Event() for _ in people]
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for person, done in zip(people, dones, strict=True):
            nursery.start_soon(_drain, person, messages, done)
        for number in range(messages):
            await sender.say(f"line {number}", "#bench")
        for done in dones:
            await done.wait()
    elapsed = time.perf_counter() - start
    for person in people:
        hub.disconnect(person, "done")
    return members * messages / elapsed


async def main(args: argparse.Namespace) -> None:
    memory = await _run(Hub(outbox_events=args.messages * 2 + 50), args.members, args.messages)
    async with trio.open_nursery() as nursery:
        engine = await nursery.start(RedisEngine(args.engine).serve)
        hub = Hub(outbox_events=args.messages * 2 + 50, room_log=engine.room_log)
        redis = await _run(hub, args.members, args.messages)
        nursery.cancel_scope.cancel()
    print(f"memory: {memory:,.0f} deliveries/s")
    print(f"redis:  {redis:,.0f} deliveries/s ({redis / memory:.0%} of memory)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--messages", type=int, default=2000)
    trio.run(main, parser.parse_args())
