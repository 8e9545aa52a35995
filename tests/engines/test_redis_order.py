"""The room-order model across processes: members of three hubs (each with its own engine and
Redis connection) join, leave, rename and talk in two rooms, in a seeded random interleaving;
every member sees one order per room (each ``(room, seq)`` the same event for all who saw it)
and no gap while it is in a room."""

from __future__ import annotations

import random

import pytest
import trio

from tests.engines.conftest import RedisServer
from triochat import Event, Hub, Joined, Member, Message
from triochat.engines._redis import RedisEngine

ROOMS = ("#a", "#b")
STEPS = 80
WAIT = 15.0


def _drain(member: Member, into: list[Event]) -> None:
    while True:
        try:
            event = member.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return
        if not event.history and event.seq:
            into.append(event)


def _same(event: Event) -> tuple[object, ...]:
    return (type(event).__name__, event.room, event.seq, event.sender, getattr(event, "text", ""))


@pytest.mark.parametrize("seed", [1, 2])
async def test_one_order_per_room_across_three_processes(
    redis_server: RedisServer, seed: int
) -> None:
    rng = random.Random(seed)
    async with trio.open_nursery() as nursery:
        engines = [await nursery.start(RedisEngine(redis_server.url).serve) for _ in range(3)]
        hubs = [engine.attach(Hub()) for engine in engines]
        members = [hubs[i % 3].connect(f"p{i}") for i in range(6)]
        # Each member's live events per room, cut into runs: one run per stay in the room.
        runs: dict[tuple[int, str], list[list[Event]]] = {}
        pending: dict[int, list[Event]] = {i: [] for i in range(6)}

        def settle(i: int) -> None:
            """Give member i's pending events to the run of their room (it is in it)."""
            _drain(members[i], pending[i])
            for event in pending[i]:
                runs[(i, event.room)][-1].append(event)
            pending[i].clear()

        for step in range(STEPS):
            i = rng.randrange(6)
            member, hub = members[i], members[i].hub
            room = rng.choice(ROOMS)
            settle(i)
            if room not in member.rooms:
                hub.join(member, room)
                runs.setdefault((i, room), []).append([])
            elif rng.random() < 0.25:
                hub.part(member, room)
            elif rng.random() < 0.1:
                hub.rename(member, f"{member.nick.split('-')[0]}-{step}")
            else:
                await member.say(f"{member.nick} {step}", room)
            if rng.random() < 0.3:
                await trio.sleep(0.002)  # let some batches through, to vary the interleaving
        # Everyone still in a room says so last; all wait until they heard all of those.
        present = {room: [i for i in range(6) if room in members[i].rooms] for room in ROOMS}
        for room, indexes in present.items():
            for i in indexes:
                await members[i].say(f"fin {i}", room)
        for room, indexes in present.items():
            wanted = {f"fin {i}" for i in indexes}
            for i in indexes:
                with trio.fail_after(WAIT):
                    while not wanted <= {
                        e.text for run in runs[(i, room)] for e in run if isinstance(e, Message)
                    }:
                        pending[i].append(await members[i].receive())
                        if pending[i][-1].history or not pending[i][-1].seq:
                            pending[i].pop()
                        settle(i)
        for i in range(6):
            settle(i)
        nursery.cancel_scope.cancel()

    seen: dict[tuple[str, int], tuple[object, ...]] = {}
    for (_, room), stays in runs.items():
        for run in stays:
            seqs = [event.seq for event in run]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, seqs
            for event in run:
                assert event.room == room
                assert seen.setdefault((room, event.seq), _same(event)) == _same(event)
    # Every stay ends up seeing its own Joined, and the rooms' orders were really shared.
    joined = [e for stays in runs.values() for run in stays for e in run if isinstance(e, Joined)]
    assert joined
    assert len({room for room, _ in seen}) == len(ROOMS)
