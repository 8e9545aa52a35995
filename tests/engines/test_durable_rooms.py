"""Durable rooms (``--data-dir``): the SQLite room log through the library API.

A restart keeps each room's epoch, seq, topic, operators, bans and history; history reaches the
file beyond memory; retention by count and by age; a room that empties comes back as it was; the
queue to the disk is bounded and what it drops is reported as forgotten, never as a silent gap.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings

from tests.core.test_room_order_model import Op, check_views, operations
from triochat import Event, Hub, Member, Message
from triochat.engines import _sqlite_file
from triochat.engines._sqlite import RoomStore, SqliteLog

DAY = 86_400.0


@asynccontextmanager
async def opened(path: Path, *, history: int = 5, **options: Any) -> AsyncIterator[Hub]:
    """A hub whose rooms are kept in *path*, with *history* events of each in memory."""
    store = RoomStore(path, **options)
    await store.open(history_events=history)
    try:
        yield Hub(room_log=store.room_log, history_events=history)
    finally:
        await store.aclose()


def store_of(hub: Hub, room: str = "#lobby") -> RoomStore:
    log = hub.room(room).log
    assert isinstance(log, SqliteLog)
    return log._store


def drain(member: Member) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            events.append(member.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return events


def texts(events: list[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, Message)]


async def test_a_restart_keeps_epoch_seq_state_and_history(tmp_path: Path) -> None:
    async with opened(tmp_path) as hub:
        alice, bob = hub.connect("alice"), hub.connect("bob")
        room = hub.join(alice, "#Demo")  # alice made it: she is its operator
        hub.join(bob, "#demo")
        for number in range(20):
            await alice.say(f"line {number}", room)
        room.set_topic(alice, "kept")
        room.set_operator(alice, "bob", operator=True)
        room.ban(alice, "mallory")
        epoch, seq, operators = room.log.epoch, room.seq, room.operators
        assert room.recent()[0].seq > 1  # memory keeps 5: the rest is on disk only
    async with opened(tmp_path) as hub:
        carol = hub.connect("carol")
        room = hub.join(carol, "#DEMO")
        assert room.name == "#DEMO"  # the name as it is asked for now, the same room
        assert room.log.epoch == epoch
        assert room.seq == seq + 1  # carol's join: the seq goes on
        assert room.topic == "kept"
        assert room.bans == ["mallory"]
        # They were operators when the server stopped (still in the room): they still are.
        assert room.operators == operators == {"alice", "bob"}
        # carol's replay on joining: the newest 5 kept events, read back at start.
        replay = drain(carol)
        assert [e.history for e in replay[:-1]] == [True] * 5
        assert texts(replay)[-1] == "line 19"
        # /history pages back beyond memory, through the file.
        every = await room.history(100)
        assert texts(every) == [f"line {number}" for number in range(20)]
        page = await room.history(3, before=every[5].seq)
        assert [e.seq for e in page] == [e.seq for e in every[2:5]]
        after = await room.history(4, after=every[1].seq)
        assert [e.seq for e in after] == [e.seq for e in every[2:6]]
        assert room.forgotten == 0  # nothing is lost: memory forgot, the file did not


async def test_history_reaches_the_disk_for_what_memory_let_go_in_this_run(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path, history=3) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(50):
            await alice.say(f"m{number}", room)
        assert len(room.recent()) == 3
        # Asked at once: the writer has not committed yet, the log waits for it to.
        assert texts(await room.history(10)) == [f"m{number}" for number in range(40, 50)]
        first = await room.history(2, after=0)
        assert texts(first) == ["m0", "m1"]
        # Between the file and memory: one run, no gap, no duplicate.
        assert texts(await room.history(6, after=first[0].seq + 45)) == ["m46", "m47", "m48", "m49"]
        whole = await room.history(None, after=0)
        assert texts(whole) == [f"m{number}" for number in range(3)]  # count=None: memory's 3


async def test_memory_answers_without_waiting_when_it_can(tmp_path: Path) -> None:
    async with opened(tmp_path, history=10) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(5):
            await alice.say(f"m{number}", room)
        store = store_of(hub, "#r")
        store._reading = trio.CapacityLimiter(1)
        await store._reading.acquire()  # the file cannot be read now: memory must answer
        with trio.fail_after(1):
            assert texts(await room.history(3)) == ["m2", "m3", "m4"]
            assert texts(await room.history(None, after=room.recent()[1].seq)) == [
                "m2",
                "m3",
                "m4",
            ]
        store._reading.release()


async def test_a_room_that_empties_comes_back_as_it_was(tmp_path: Path) -> None:
    # dormant_events=0: the closed room's tail is not cached, so it is read back from the file.
    for dormant in (20_000, 0):
        async with opened(tmp_path / str(dormant), dormant_events=dormant) as hub:
            alice = hub.connect("alice")
            room = hub.join(alice, "#quiet")
            await alice.say("remember me", room)
            room.set_topic(alice, "still here")
            seq, epoch = room.seq, room.log.epoch
            hub.part(alice, "#quiet")
            assert hub.find_room("#quiet") is None  # the hub forgot it; the store did not
            await store_of(hub, "#lobby").flush()
            bob = hub.connect("bob")
            again = hub.join(bob, "#quiet")
            assert again is not room
            assert (again.log.epoch, again.topic) == (epoch, "still here")
            assert again.seq == seq + 2  # alice's part, bob's join
            assert texts(drain(bob)) == ["remember me"]


async def test_retention_by_count_makes_forgotten_follow(tmp_path: Path) -> None:
    async with opened(tmp_path, history=3, keep_events=10) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(30):
            await alice.say(f"m{number}", room)
        await trio.to_thread.run_sync(lambda: store_of(hub, "#r")._writer.flush(retain=True))
        kept = await room.history(100)
        assert texts(kept) == [f"m{number}" for number in range(20, 30)]
        assert room.forgotten == kept[0].seq - 1
        # A client that saw the room up to a forgotten seq is told (the gap reply's test).
        assert room.forgotten > 5


async def test_retention_by_age_with_an_injected_clock(tmp_path: Path) -> None:
    now = [time.time()]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    async with opened(tmp_path, history=3, keep_days=30, clock=clock) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(10):
            await alice.say(f"old {number}", room)
        writer = store_of(hub, "#r")._writer
        await trio.to_thread.run_sync(lambda: writer.flush(retain=True))
        assert len(await room.history(100)) == 10  # young enough
        now[0] += 31 * DAY
        await alice.say("new", room)
        await trio.to_thread.run_sync(lambda: writer.flush(retain=True))
        # Every line is older than 30 days by the store's clock ("new" too: it was stamped by
        # the real clock, which the injected one is a month ahead of): the file keeps none.
        assert room.forgotten == room.recent()[-1].seq
        db = sqlite3.connect(tmp_path / "rooms.sqlite3")
        assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
        db.close()


async def test_keep_days_zero_keeps_for_ever(tmp_path: Path) -> None:
    now = [time.time()]
    async with opened(tmp_path, history=3, keep_days=0, clock=lambda: now[0]) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(10):
            await alice.say(f"m{number}", room)
        now[0] += 10_000 * DAY
        await trio.to_thread.run_sync(lambda: store_of(hub, "#r")._writer.flush(retain=True))
        assert len(texts(await room.history(100))) == 10
        assert room.forgotten == 0


async def test_a_full_queue_never_blocks_and_reports_what_it_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The writer commits only when told to (a long interval, no early wake-up): the queue fills.
    options = {"commit_interval": 3600.0, "commit_events": 10**9, "max_pending": 20}
    async with opened(tmp_path, history=3, **options) as hub:
        alice = hub.connect("alice", max_events=1000)
        room = hub.join(alice, "#r")
        store = store_of(hub, "#r")
        queued = store.statistics().pending  # #r's opening, alice's join and operator status
        for number in range(100):
            await alice.say(f"m{number}", room)  # never waits
        assert texts(drain(alice))[-1] == "m99"  # members got every line all the same
        stats = store.statistics()
        assert stats.pending == 20  # bounded
        assert stats.dropped == 100 - (20 - queued)
        await store.flush()
        # The disk keeps one contiguous run: what came after the last drop, nothing before.
        assert room.forgotten == room.seq
        assert "the disk is falling behind" in caplog.text
        assert caplog.text.count("the disk is falling behind") == 1  # rate limited


async def test_disk_errors_at_run_time_are_logged_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [3]
    write = _sqlite_file.write_events

    def failing(db: sqlite3.Connection, rows: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        write(db, rows)

    monkeypatch.setattr(_sqlite_file, "write_events", failing)
    caplog.set_level(logging.WARNING, "triochat.rooms")
    async with opened(tmp_path, history=3) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        store = store_of(hub, "#r")
        for number in range(10):
            await alice.say(f"m{number}", room)
            await store.flush()  # each commit fails (three times), then one works
        assert store.statistics().failures == 3
        assert caplog.text.count("cannot write rooms to the disk: disk I/O error") == 1
        assert "writing rooms to the disk again" in caplog.text
        assert texts(await room.history(100)) == [f"m{number}" for number in range(10)]
        assert room.forgotten == 0  # retried, nothing lost


async def test_an_unclean_stop_gives_every_room_a_new_epoch(tmp_path: Path) -> None:
    async with opened(tmp_path) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        await alice.say("before the crash", room)
        epoch, seq = room.log.epoch, room.seq
        store = store_of(hub, "#r")
        await store.flush()
        # What a kill -9 leaves: the file still marked in use.
        await trio.to_thread.run_sync(store._writer.stop)
        db = sqlite3.connect(tmp_path / "rooms.sqlite3")
        db.execute("UPDATE meta SET value = '0' WHERE key = 'clean'")
        db.commit()
        db.close()
    async with opened(tmp_path) as hub:
        bob = hub.connect("bob")
        room = hub.join(bob, "#r")
        assert room.log.epoch != epoch  # what the last interval held may be lost: say so
        assert room.seq > seq  # and the seq never goes back
        assert texts(drain(bob)) == ["before the crash"]


def test_events_round_trip_through_rows() -> None:
    hub = Hub()
    with hub.connect("alice") as alice:
        room = hub.join(alice, "#r")
        event = room.log.append(Message, "alice", {"text": "héllo \U0001f600"})
    row = _sqlite_file.event_row(event)
    assert row is not None
    assert _sqlite_file.row_event("#r", row) == event


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
async def test_the_order_model_holds_with_the_sqlite_log(ops: list[Op]) -> None:
    # The hypothesis model of tests/core/test_room_order_model.py, every room durable: members'
    # views are gap-free and share one order, and the file holds exactly that order's conversation.
    with tempfile.TemporaryDirectory() as directory:
        store = RoomStore(directory)
        await store.open(history_events=4)
        try:
            hub = Hub(outbox_events=12, history_events=4, room_log=store.room_log)
            canonical = await check_views(ops, hub)
            await store.flush()
            db = sqlite3.connect(Path(directory) / "rooms.sqlite3")
            try:
                for room in hub.rooms:
                    stored = db.execute(
                        "SELECT seq, kind, time, sender, fields FROM events WHERE room = ?"
                        " ORDER BY seq",
                        (room.name.casefold(),),
                    ).fetchall()
                    events = [_sqlite_file.row_event(room.name, row) for row in stored]
                    kept = [e for (name, _), e in sorted(canonical.items()) if name == room.name]
                    kept = [e for e in kept if _sqlite_file.event_row(e) is not None]
                    # Every kept event a member saw is in the file, equal, in the same place.
                    by_seq = {event.seq: event for event in events}
                    assert all(by_seq[event.seq] == event for event in kept)
                    assert [event.seq for event in events] == sorted(by_seq)
                    seq = db.execute("SELECT seq FROM rooms WHERE key = ?", (room.name,))
                    assert seq.fetchone() == (room.seq,)
            finally:
                db.close()
        finally:
            await store.aclose()


async def test_whoever_joins_a_durable_room_left_without_operators_runs_it(
    tmp_path: Path,
) -> None:
    # Leaving costs an operator its status, so a room that emptied has none; a memory room would
    # be made again with its first joiner as operator: a durable one comes back the same way.
    async with opened(tmp_path) as hub:
        alice = hub.connect("alice")
        await alice.say("kept", hub.join(alice, "#x"))  # (a room with nothing kept is dropped)
        hub.part(alice, "#x")
        bob = hub.connect("bob")
        room = hub.join(bob, "#x")
        assert room.seq > 1
        assert room.operators == {"bob"}
        hub.disconnect(bob, "gone")  # as every client is when a server stops
    async with opened(tmp_path) as hub:
        carol, dave = hub.connect("carol"), hub.connect("dave")
        room = hub.join(carol, "#x")
        assert room.operators == {"carol"}
        hub.join(dave, "#x")
        assert room.operators == {"carol"}


async def test_a_hub_that_keeps_less_than_the_store_loaded_reads_the_rest(tmp_path: Path) -> None:
    async with opened(tmp_path, history=5) as hub:
        alice = hub.connect("alice")
        room = hub.join(alice, "#r")
        for number in range(5):
            await alice.say(f"m{number}", room)
    store = RoomStore(tmp_path)
    await store.open(history_events=5)
    try:
        hub = Hub(room_log=store.room_log, history_events=2)
        bob = hub.connect("bob")
        room = hub.join(bob, "#r")
        assert texts(room.recent()) == ["m3", "m4"]
        assert texts(await room.history(4)) == ["m1", "m2", "m3", "m4"]
        assert texts(await room.history(3, after=0)) == ["m0", "m1", "m2"]
        assert await room.history(-1) == []
        assert await room.history(-1, after=0) == []
    finally:
        await store.aclose()


async def test_a_file_locked_at_run_time_costs_the_disk_only_and_is_caught_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "triochat.rooms")
    async with opened(tmp_path, history=3, busy_timeout=0.05) as hub:
        alice, bob = hub.connect("alice"), hub.connect("bob", max_events=1000)
        room = hub.join(alice, "#r")
        hub.join(bob, "#r")
        store = store_of(hub, "#r")
        await store.flush()
        other = sqlite3.connect(tmp_path / "rooms.sqlite3", isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")  # another process holds the file
            for number in range(200):
                await alice.say(f"m{number}", room)
            assert texts(drain(bob))[-1] == "m199"  # delivered at once, all of them
            await store.flush()
            await store.flush()
            assert store.statistics().failures >= 2
            assert caplog.text.count("database is locked") == 1  # once, not per commit
        finally:
            other.execute("ROLLBACK")
            other.close()
        await store.flush()
        assert "writing rooms to the disk again" in caplog.text
        assert texts(await room.history(500)) == [f"m{number}" for number in range(200)]
        assert room.forgotten == 0


async def test_a_hub_that_keeps_no_history_in_memory_reads_it_all_from_the_file(
    tmp_path: Path,
) -> None:
    for _ in range(2):  # the second time, the room is read back from the file
        async with opened(tmp_path, history=0, dormant_events=0) as hub:
            alice = hub.connect("alice")
            room = hub.join(alice, "#r")
            await alice.say("kept", room)
            assert room.recent() == []
            assert texts(await room.history(10))[-1] == "kept"
    async with opened(tmp_path, history=0) as hub:
        room = hub.room("#r")
        assert texts(await room.history(10)) == ["kept", "kept"]
