"""Durable rooms (``--data-dir``) under churn: a client that makes rooms endlessly.

Joining ``#r1`` .. ``#rN`` and leaving them, setting a ban in each, or filling many rooms with
long lines must not grow ``rooms.sqlite3`` or the store's memory without bound: a room with no
kept events and the default state is dropped when it empties, rooms idle for longer than
``keep_days`` are dropped, and two caps (rooms, stored events) bound the rest, the least
recently active rooms going first.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from triochat import Hub, Message
from triochat.engines._sqlite import RoomStore

DAY = 86_400.0


@asynccontextmanager
async def opened(path: Path, **options: Any) -> AsyncIterator[tuple[Hub, RoomStore]]:
    store = RoomStore(path, **options)
    await store.open(history_events=5)
    try:
        yield Hub(room_log=store.room_log, history_events=5), store
    finally:
        await store.aclose()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path / "rooms.sqlite3")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def room_keys(path: Path) -> set[str]:
    return {key for (key,) in rows(path, "SELECT key FROM rooms")}


async def test_rooms_joined_and_left_leave_no_row_and_no_memory(tmp_path: Path) -> None:
    async with opened(tmp_path) as (hub, store):
        mallory = hub.connect("mallory")
        for turn in range(3):
            for number in range(300):
                hub.join(mallory, f"#r{turn}x{number}")  # she runs it: an operator, until she parts
                hub.part(mallory, f"#r{turn}x{number}")
            await store.flush()
            assert len(room_keys(tmp_path)) <= 1  # (the default room, if the hub made it)
            assert store.statistics().rooms <= 1
        assert len(store._writer.records) <= 1
        assert len(store._writer.floors) <= 1


async def test_a_room_dropped_comes_back_new(tmp_path: Path) -> None:
    async with opened(tmp_path) as (hub, store):
        alice = hub.connect("alice")
        room = hub.join(alice, "#gone")
        epoch = room.log.epoch
        hub.part(alice, "#gone")  # only a join and a part: nothing kept
        room = hub.join(alice, "#gone")
        assert room.log.epoch != epoch  # a new run of the room, told by its epoch
        assert room.log.forgotten == 0
        await alice.say("hello", room)
        await store.flush()
        assert [e.text for e in await room.history(10) if isinstance(e, Message)] == ["hello"]
        assert rows(tmp_path, "SELECT room, seq FROM events") == [("#gone", room.seq)]


async def test_rooms_idle_past_keep_days_are_dropped(tmp_path: Path) -> None:
    now = [time.time()]  # events are stamped with the real time
    async with opened(tmp_path, keep_days=30, clock=lambda: now[0]) as (hub, store):
        alice = hub.connect("alice")
        for name in ("#old", "#open"):
            room = hub.join(alice, name)
            room.set_topic(alice, "a topic")  # state and one kept event
            await alice.say("hello", room)
        hub.part(alice, "#old")
        await store.flush()
        assert {"#old", "#open"} <= room_keys(tmp_path)
        now[0] += 31 * DAY
        hub.join(alice, "#other")  # rooms opening and closing sweep the idle ones
        hub.part(alice, "#other")
        await store.flush()
        keys = room_keys(tmp_path)
        assert "#old" not in keys
        assert "#open" in keys  # an open room keeps its state, whatever its age
        assert rows(tmp_path, "SELECT count(*) FROM events") == [(0,)]
        assert "#old" not in store._records
        room = hub.join(alice, "#old")
        assert room.topic == ""
        assert room.log.forgotten == 0


async def test_rooms_with_state_only_are_capped_oldest_first(tmp_path: Path) -> None:
    now = [1_000_000.0]
    async with opened(tmp_path, keep_days=0, max_rooms=20, clock=lambda: now[0]) as (hub, store):
        mallory = hub.connect("mallory")
        for number in range(50):
            room = hub.join(mallory, f"#b{number}")
            room.ban(mallory, f"victim{number}")  # state, and no event: not dropped when it empties
            hub.part(mallory, f"#b{number}")
            now[0] += 1
        await store.flush()
        keys = room_keys(tmp_path)
        assert len(keys) <= 20
        assert "#b49" in keys
        assert "#b0" not in keys
        assert store.statistics().rooms <= 20
        assert hub.join(mallory, "#b49").bans


async def test_stored_events_are_capped_oldest_rooms_trimmed_first(tmp_path: Path) -> None:
    now = [1_000_000.0]
    options: dict[str, Any] = {"keep_days": 0, "max_events": 100, "clock": lambda: now[0]}
    async with opened(tmp_path, **options) as (hub, store):
        alice = hub.connect("alice")
        for name in ("#first", "#second"):
            room = hub.join(alice, name)
            for number in range(80):
                await alice.say(f"{name} {number} " + "x" * 1000, room)
            await store.flush()  # committed now: #first is the least recently active
            now[0] += 60
        await store.flush()
        (total,) = rows(tmp_path, "SELECT count(*) FROM events")[0]
        assert total <= 100
        assert store._writer.stored == total  # the count the cap goes by is the file's
        second = hub.find_room("#second")
        first = hub.find_room("#first")
        assert second is not None
        assert first is not None
        assert len(await second.history(80)) == 80  # the newest room is whole
        assert first.log.forgotten > 0  # the oldest lost its oldest lines, and says so
        kept = await first.history(80)
        assert kept == [] or kept[0].seq > first.log.forgotten


async def test_the_file_is_capped_in_bytes_oldest_rooms_trimmed_first(tmp_path: Path) -> None:
    # Long lines in many rooms: what the event count alone does not bound.
    now = [1_000_000.0]
    cap = 256 * 1024
    options: dict[str, Any] = {"keep_days": 0, "max_bytes": cap, "clock": lambda: now[0]}
    async with opened(tmp_path, **options) as (hub, store):
        alice = hub.connect("alice")
        for name in ("#first", "#second", "#third", "#fourth"):
            room = hub.join(alice, name)
            for number in range(10):  # about 80 kB a room
                await alice.say(f"{name} {number} " + "\x02é" * 1000, room)  # escapes, UTF-8
            await store.flush()
            now[0] += 60
        await store.flush()
        (pages,) = rows(tmp_path, "PRAGMA page_count")[0]
        (free,) = rows(tmp_path, "PRAGMA freelist_count")[0]
        (size,) = rows(tmp_path, "PRAGMA page_size")[0]
        assert (pages - free) * size <= cap
        fourth, first = hub.find_room("#fourth"), hub.find_room("#first")
        assert fourth is not None
        assert first is not None
        assert len(await fourth.history(10)) == 10  # the newest room is whole
        assert first.log.forgotten > 0


def test_the_write_ahead_log_is_truncated_after_checkpoints(tmp_path: Path) -> None:
    # WAL mode lets the -wal file grow while readers hold a checkpoint back (a long history
    # page); without a limit it keeps its largest size for ever after.
    from triochat.engines import _sqlite_file

    db = _sqlite_file.connect(tmp_path / "rooms.sqlite3", busy_timeout=1.0, writer=True)
    try:
        limit = db.execute("PRAGMA journal_size_limit").fetchone()[0]
    finally:
        db.close()
    assert 0 < limit <= _sqlite_file.WAL_SIZE_LIMIT
