"""A member's outbox is a ``trio.abc.ReceiveChannel[Event]``: code written against Trio's channel
interface alone (nothing of triochat's below) works with it unchanged."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triochat


async def collect_texts(channel: trio.abc.ReceiveChannel[triochat.Event], count: int) -> list[str]:
    """Generic channel code: take *count* items with ``async for``, then stop."""
    texts: list[str] = []
    async for item in channel:
        texts.append(str(getattr(item, "text", type(item).__name__)))
        if len(texts) == count:
            break
    return texts


async def drain(channel: trio.abc.ReceiveChannel[triochat.Event]) -> int:
    """Generic channel code: receive until the sender side ends the channel."""
    received = 0
    while True:
        try:
            await channel.receive()
        except trio.EndOfChannel:
            return received
        received += 1


async def test_a_member_is_a_receive_channel() -> None:
    hub = triochat.Hub()
    with hub.connect("alice") as alice, hub.connect("bob") as bob:
        assert isinstance(alice, trio.abc.ReceiveChannel)
        room = hub.room("#lobby")
        room.join(alice)
        room.join(bob)
        await bob.say("one")
        await bob.say("two")
        assert await collect_texts(alice, 3) == ["Joined", "Joined", "one"]
        assert alice.receive_nowait().text == "two"  # type: ignore[attr-defined]
        with pytest.raises(trio.WouldBlock):
            alice.receive_nowait()


async def test_the_channel_ends_when_the_member_is_disconnected() -> None:
    hub = triochat.Hub()
    alice = hub.connect("alice")
    hub.room().join(alice)
    await alice.say("hello")
    hub.disconnect(alice, "bye")
    # What was queued before the disconnect is still received, then the channel ends.
    assert await drain(alice) == 2
    with pytest.raises(trio.EndOfChannel):
        await alice.receive()


async def test_aclose_leaves_the_hub_and_closes_the_channel() -> None:
    hub = triochat.Hub()
    async with hub.connect("alice") as alice:
        hub.room().join(alice)
        bob = hub.connect("bob")
        hub.room().join(bob)
    # `async with` closed it: alice has left, and her channel is closed, not ended.
    assert not alice.connected
    assert hub.member("alice") is None
    with pytest.raises(trio.ClosedResourceError):
        await alice.receive()
    with pytest.raises(trio.ClosedResourceError):
        alice.receive_nowait()
    await alice.aclose()  # idempotent
    left = _queued(bob)
    assert any(isinstance(event, triochat.Left) and event.sender == "alice" for event in left)


async def test_aclose_wakes_a_task_waiting_to_receive() -> None:
    hub = triochat.Hub()
    alice = hub.connect("alice")
    outcome: list[str] = []

    async def wait_for_one() -> None:
        try:
            await alice.receive()
        except trio.ClosedResourceError:
            outcome.append("closed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_one)
        await trio.testing.wait_all_tasks_blocked()
        await alice.aclose()
    assert outcome == ["closed"]


async def test_two_tasks_cannot_wait_on_one_channel() -> None:
    hub = triochat.Hub()
    alice = hub.connect("alice")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(alice.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await alice.receive()
        nursery.cancel_scope.cancel()


def _queued(channel: trio.abc.ReceiveChannel[triochat.Event]) -> list[triochat.Event]:
    """Everything *channel* holds now, without waiting."""
    items: list[triochat.Event] = []
    while True:
        try:
            items.append(channel.receive_nowait())  # type: ignore[attr-defined]
        except trio.WouldBlock:
            return items
