"""CHATHISTORY by time over a long history (a durable room keeps far more than memory): the
answer is exact (AFTER a time long past is the first messages, not some from the middle) and
the work is a few reads of the log, not a scan of thousands of events per request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import trio

from triochat import Hub, Message
from triochat.core._room import Room
from triochat.session._front_commands import ChatHistory
from triochat.session._history_query import history_for

KEPT = 12_000  # more than one request looked through before (10 000)
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def _ms(time: dt.datetime) -> dt.datetime:
    """*time* to the millisecond, the precision CHATHISTORY compares times at."""
    return time.replace(microsecond=time.microsecond // 1000 * 1000)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the room's log is read, per request."""
    counted: list[int] = [0]
    history = Room.history

    async def counting(self: Room, *args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return await history(self, *args, **kwargs)

    monkeypatch.setattr(Room, "history", counting)
    return counted


async def test_chathistory_by_time_is_exact_and_reads_the_log_a_few_times(
    reads: list[int],
) -> None:
    big = 64 * 1024 * 1024  # memory keeps it all: a stand-in for a durable room
    hub = Hub(
        history_events=KEPT,
        outbox_events=4 * KEPT,
        outbox_bytes=big,
        history_bytes=big,
        history_total_bytes=big,
    )
    alice = hub.connect("alice")
    room = hub.join(alice, "#r")
    for number in range(KEPT):
        await alice.say(f"m{number}", room)
        if number % 500 == 0:
            while True:  # alice's own outbox: drained, as a connection would
                try:
                    alice.receive_nowait()
                except trio.WouldBlock:
                    break
    said = [event for event in await room.history(None) if isinstance(event, Message)]
    assert len(said) == KEPT
    middle = _ms(said[KEPT // 2].time)

    def texts(events: list[Any]) -> list[str]:
        return [event.text for event in events]

    asks = [
        (ChatHistory("#r", 100, after=PAST), said[:100]),
        (ChatHistory("#r", 100, before=PAST), []),
        (ChatHistory("#r", 100, after=FUTURE), []),
        (ChatHistory("#r", 100, before=FUTURE), said[-100:]),
        (ChatHistory("#r", 50, after=middle), [e for e in said if _ms(e.time) > middle][:50]),
        (ChatHistory("#r", 50, before=middle), [e for e in said if _ms(e.time) < middle][-50:]),
        (ChatHistory("#r", 30, after=PAST, before=middle), said[:30]),
        (
            ChatHistory("#r", 30, after=middle, before=PAST),
            [e for e in said if _ms(e.time) < middle][-30:],
        ),
    ]
    for ask, expected in asks:
        reads[0] = 0
        got = await history_for(room, ask)
        assert texts(got) == texts(expected), ask
        # A binary search per time (about log2(12 000) = 14 reads), two for BETWEEN, which
        # looks again with the references the other way round if the first finds nothing.
        assert reads[0] <= 4 * 16 + 2, (ask, reads[0])
