"""A slow consumer cut off by any event is announced before the room's next event (issue 11).

Departures of slow consumers are paced (announcing a hundred at once would overflow the healthy
outboxes in turn), but pacing must not let the room move on without saying who left: a member
overflowed by a join, a topic or a kick is announced before whatever the room publishes next.
"""

from __future__ import annotations

import trio

from tests.conftest import LineClient
from triochat import SLOW_CONSUMER, ChatServer, Event, Hub, Member, ServerConfig


def drain(member: Member) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            events.append(member.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events


def summary(events: list[Event]) -> list[str]:
    return [f"{type(event).__name__} {event.sender}" for event in events]


async def test_a_member_overflowed_by_a_join_is_announced_before_the_topic(
    nursery: trio.Nursery,
) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    alice = await (await LineClient.open(port)).registered("alice")
    # A library member that never reads, with room for its own join and bob's arrival.
    slow = server.hub.connect("slow", max_events=3)
    server.hub.join(slow, "#lobby")
    bob = await (await LineClient.open(port)).registered("bob")
    await alice.until("is now known as bob")  # guest-N joined, then took the nick
    carol = await LineClient.open(port)
    await carol.until("joined #lobby")  # this Joined overflowed slow's outbox
    assert slow.removed_reason == SLOW_CONSUMER
    await bob.send("/topic after the join")
    lines = await alice.until("set the topic")
    left = [index for index, line in enumerate(lines) if "slow left #lobby" in line]
    assert len(left) == 1, lines
    assert SLOW_CONSUMER in lines[left[0]]
    assert lines[left[0] - 1].endswith("joined #lobby")  # carol's arrival, which cut slow off
    for client in (alice, bob, carol):
        await client.aclose()


async def _room_with_full_sloths(bob: Member, count: int) -> list[Member]:
    """bob and alice in the lobby with *count* members whose outboxes are full (2 of 2)."""
    hub = bob.hub
    hub.join(bob, "#lobby")
    alice = hub.connect("alice")
    hub.join(alice, "#lobby")
    sloths = []
    for index in range(count):
        sloths.append(hub.connect(f"sloth{index}", max_events=2))
        hub.join(sloths[-1], "#lobby")
        for sloth in sloths:
            drain(sloth)
    await alice.say("one")
    await alice.say("two")
    assert all(sloth.queued == 2 for sloth in sloths)
    return sloths


async def test_many_departures_from_one_join_go_out_before_the_next_event() -> None:
    hub = Hub()
    bob = hub.connect("bob")
    sloths = await _room_with_full_sloths(bob, 5)
    drain(bob)
    hub.join(hub.connect("newcomer"), "#lobby")
    assert not any(sloth.connected for sloth in sloths)
    hub.join(hub.connect("setter"), "#lobby")
    assert summary(drain(bob)) == [
        "Joined newcomer",
        *[f"Left sloth{index}" for index in range(5)],
        "Joined setter",
    ]


async def test_departures_wait_while_an_outbox_is_crowded_but_precede_the_next_line() -> None:
    # bob's outbox is more than half full: announcing five departures at once could overflow
    # him too. One goes out before the next join; the rest before the next chat line.
    hub = Hub()
    bob = hub.connect("bob", max_events=16)
    await _room_with_full_sloths(bob, 5)
    assert bob.queued == 9  # more than half of 16
    hub.join(hub.connect("newcomer"), "#lobby")
    hub.join(hub.connect("setter"), "#lobby")
    assert bob.connected
    events = drain(bob)[9:]
    assert summary(events) == ["Joined newcomer", "Left sloth0", "Joined setter"]
    alice = hub.member("alice")
    assert alice is not None
    await alice.say("next line")
    assert summary(drain(bob)) == [
        *[f"Left sloth{index}" for index in range(1, 5)],
        "Message alice",
    ]
    assert bob.connected


async def test_a_newcomer_hears_no_departure_before_its_own_join() -> None:
    # Departures still held back by a crowded room must not reach a newcomer ahead of its own
    # Joined: its view is its history, its Joined, then live events, with no gap.
    hub = Hub()
    bob = hub.connect("bob", max_events=16)
    await _room_with_full_sloths(bob, 5)
    hub.join(hub.connect("newcomer"), "#lobby")  # cuts the sloths off; bob is crowded
    late = hub.connect("late")
    hub.join(late, "#lobby")
    events = drain(late)
    live = [event for event in events if not event.history]
    assert summary(live)[0] == "Joined late"
    assert [event.seq for event in live] == list(range(live[0].seq, live[0].seq + len(live)))
    drain(bob)  # bob's writer catches up
    alice = hub.member("alice")
    assert alice is not None
    await alice.say("after")
    live += drain(late)
    assert bob.connected
    assert [event.seq for event in live] == list(range(live[0].seq, live[0].seq + len(live)))
    assert summary(live)[-1] == "Message alice"
