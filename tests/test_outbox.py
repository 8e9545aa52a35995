"""A member's outbox as a channel: waiting on it, closing it, and shared history copies."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from triochat import Hub, Message


async def test_wait_returns_at_once_when_there_is_something_to_see() -> None:
    hub = Hub()
    queued, removed, closed = hub.connect("queued"), hub.connect("removed"), hub.connect("closed")
    queued.notify("here already")
    hub.disconnect(removed, "bye")
    closed.close_outbox()
    with trio.fail_after(1):
        for member in (queued, removed, closed):
            await member.wait()


async def test_one_task_at_a_time_waits_on_an_outbox() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(alice.wait)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(
            trio.BusyResourceError, match=r"^another task is already waiting on this outbox$"
        ):
            await alice.wait()
        alice.notify("wakes the first")


def test_a_closed_outbox_refuses_to_be_read() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    alice.notify("never read")
    alice.close_outbox()
    with pytest.raises(trio.ClosedResourceError, match=r"^the outbox was closed by its owner$"):
        alice.receive_nowait()


def test_the_history_copy_of_an_event_is_made_once() -> None:
    event = Message(room="#lobby", seq=1, text="hello")
    copy = event.as_history()
    assert copy.history
    assert not event.history
    assert copy == Message(room="#lobby", seq=1, time=event.time, text="hello", history=True)
    # Every newcomer gets the same object, so its bytes are rendered once per format.
    assert event.as_history() is copy
    assert copy.as_history() is copy
