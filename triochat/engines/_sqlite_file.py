"""The file under the durable room log: ``DATA_DIR/rooms.sqlite3``, its schema and its rows.

Everything here is blocking and runs in a thread (the store's writer thread, a worker thread
reading history, or the start-up load); nothing here imports trio.

The schema::

    rooms(key, name, epoch, seq, forgotten, topic, operators, bans, active)
    events(room, seq, kind, time, sender, fields)       -- PRIMARY KEY (room, seq)
    meta(key, value)                                     -- the schema version, "clean"

``rooms.key`` is the room's case-folded name (how the hub finds rooms), ``events.room`` refers
to it. ``time`` is in microseconds since the epoch (UTC), ``fields`` the event's own fields as
a JSON object (``{"text": "hello"}``), ``operators`` and ``bans`` JSON arrays. ``forgotten`` is
the newest ``seq`` of the room no longer kept (deleted by retention, or never written because the
disk fell behind). ``meta.clean`` is ``1`` while no server uses the file, ``0`` while one does:
a server that finds ``0`` at start was killed (the last commit interval may be lost) and gives
every room a new epoch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import json.encoder
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import attrs

from ..core._events import Action, Event, Message, TopicChanged
from ..core._log import RoomState

__all__ = [
    "KINDS",
    "DataDirLocked",
    "RoomRecord",
    "Row",
    "connect",
    "event_json",
    "event_params",
    "event_row",
    "lock_data_dir",
    "row_event",
]

#: The file's name in the data directory.
FILE_NAME: Final = "rooms.sqlite3"
#: Held (``flock``) by the one server that uses the data directory's rooms.
LOCK_NAME: Final = "rooms.lock"
SCHEMA_VERSION: Final = "1"

#: The events a room's history keeps, by the name they are stored under.
KINDS: Final[dict[str, type[Event]]] = {
    "message": Message,
    "action": Action,
    "topic": TopicChanged,
}
_NAMES: Final = {kind: name for name, kind in KINDS.items()}
# The kinds whose one field of their own is a string, "text".
_TEXT_KINDS: Final = frozenset({Message, Action, TopicChanged})
# The fields every event has; the rest are the kind's own, stored as JSON.
_COMMON: Final = frozenset({"room", "seq", "time", "sender", "history"})

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rooms ("
    " key TEXT PRIMARY KEY, name TEXT NOT NULL, epoch TEXT NOT NULL,"
    " seq INTEGER NOT NULL DEFAULT 0, forgotten INTEGER NOT NULL DEFAULT 0,"
    " topic TEXT NOT NULL DEFAULT '', operators TEXT NOT NULL DEFAULT '[]',"
    " bans TEXT NOT NULL DEFAULT '[]', active INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS events ("
    " room TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, time INTEGER NOT NULL,"
    " sender TEXT NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID",
)

#: One stored event: ``(seq, kind, time in µs, sender, fields as JSON)``.
Row = tuple[int, str, int, str, str]


class DataDirLocked(OSError):
    """Another process (another server) uses this data directory's rooms."""


@attrs.define(kw_only=True)
class RoomRecord:
    """What the store knows of a room besides its events (one row of ``rooms``)."""

    key: str
    name: str
    epoch: str
    seq: int = 0
    forgotten: int = 0
    state: RoomState = attrs.field(factory=RoomState)
    #: The newest events kept on disk (at most what memory keeps), oldest first, or ``None``
    #: if they were not loaded.
    tail: list[Row] | None = None
    #: Every kept event with a higher ``seq`` than this is in *tail*.
    tail_floor: int = 0
    #: When the room was last active (seconds, the store's clock): what the caps and the
    #: retention of idle rooms go by, the least recently active first.
    active: float = 0.0


def _micros(time: dt.datetime) -> int:
    delta = time - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def event_row(event: Event) -> Row | None:
    """The row of a kept event, ``None`` for an event the history does not keep."""
    params = event_params("", event)
    return None if params is None else params[1:]


def event_params(key: str, event: Event) -> tuple[str, int, str, int, str, str] | None:
    """What the writer inserts for a kept event of room *key* (``None`` for an event the
    history does not keep).

    (It runs in the writer thread for every event, holding the GIL the event loop needs too: so
    it avoids ``json.dumps`` for the strings that are most fields, with the same JSON.)"""
    kind = type(event)
    name = _NAMES.get(kind)
    if name is None:
        return None
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(
            (field.name, json.dumps(field.name) + ": ")
            for field in attrs.fields(kind)
            if field.init and field.name not in _COMMON
        )
    if len(names) == 1 and type(value := getattr(event, names[0][0])) is str:
        fields = "{" + names[0][1] + _quote(value) + "}"  # {"text": "..."}: nearly every event
    else:
        fields = "{" + ", ".join([k + _json(getattr(event, f)) for f, k in names]) + "}"
    return (key, event.seq, name, _micros(event.time), event.sender, fields)


def event_json(key: str, event: Event) -> str | None:
    """What the writer inserts for a kept event of room *key*, as one JSON array
    ``[room, seq, kind, time, sender, {fields}]`` (``None`` for an event the history does not
    keep): :func:`write_events` hands SQLite the whole batch as one JSON text.

    (The writer thread holds the GIL the event loop needs while it runs Python: one string an
    event, made with JSON's own C quoting, is the least it can do; binding six parameters a row
    in ``executemany`` cost as much again, and took the GIL back for every row.)"""
    kind = type(event)
    if kind in _TEXT_KINDS:  # nearly every event: {"text": "..."}, made in one step
        text = event.text  # type: ignore[attr-defined]
        return (
            f'[{_quote(key)},{event.seq},"{_NAMES[kind]}",{_micros(event.time)},'
            f'{_quote(event.sender)},{{"text":{_quote(text)}}}]'
        )
    params = event_params(key, event)
    if params is None:
        return None
    key, seq, name, micros, sender, fields = params
    return f'[{_quote(key)},{seq},"{name}",{micros},{_quote(sender)},{fields}]'


def _json(value: object) -> str:
    return _quote(value) if type(value) is str else json.dumps(value)


# The fields each kind stores, with their JSON keys; and JSON's own quoting of a string.
_FIELDS: dict[type[Event], tuple[tuple[str, str], ...]] = {}
# (UTF-8 as it is, not \uXXXX: a line of accented text takes a third of the room. The hub's
# texts hold no lone surrogate, which SQLite could not encode: sanitize() removes them.)
_quote: Final = json.encoder.encode_basestring


def row_event(room: str, row: Row) -> Event:
    """The event a row stores, stamped with *room* (its name as the hub spells it now)."""
    seq, kind, micros, sender, fields = row
    time = _EPOCH + dt.timedelta(microseconds=micros)
    return KINDS[kind](room=room, seq=seq, time=time, sender=sender, **json.loads(fields))


def micros_now(now: float) -> int:
    """*now* (seconds since the epoch) in microseconds."""
    return int(now * 1_000_000)


# ------------------------------------------------------------------------------ the file


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Create *data_dir* if needed and take its rooms lock; the open lock file holds it.

    Error handling: :exc:`DataDirLocked` if another process holds it, :exc:`OSError` if the
    directory cannot be created or written.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(data_dir / LOCK_NAME, "wb")  # noqa: SIM115 (held until the store closes)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirLocked(
            f"{data_dir / FILE_NAME} is in use by another server (it holds {LOCK_NAME})"
        ) from None
    except BaseException:
        handle.close()
        raise
    return handle


#: The size the write-ahead log is cut back to after a checkpoint (bytes).
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


def connect(path: Path, *, busy_timeout: float, writer: bool = False) -> sqlite3.Connection:
    """A connection to the rooms file (created with its schema by the *writer*)."""
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        if writer:
            # WAL: readers (history pages) never wait for the writer, nor it for them.
            # synchronous=NORMAL: a commit is durable once the WAL is synced at checkpoints; a
            # power cut (not a crash of the process) may lose the last commits, which is the
            # trade every batched log makes (docs/durable-rooms.md).
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot use write-ahead logging (mode {mode})")
            db.execute("PRAGMA synchronous=NORMAL")
            # The -wal file grows while a reader holds a checkpoint back; truncate it back to
            # this size after each checkpoint instead of keeping its largest size for ever.
            db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            with transaction(db):
                for statement in _SCHEMA:
                    db.execute(statement)
                version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
                if version is None:
                    db.execute("INSERT INTO meta VALUES ('version', ?)", (SCHEMA_VERSION,))
                elif version[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"{path} has schema version {version[0]}, this server knows "
                        f"{SCHEMA_VERSION}"
                    )
            with contextlib.suppress(OSError):
                path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        else:
            db.execute("PRAGMA query_only=1")
    except BaseException:
        db.close()
        raise
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def was_clean(db: sqlite3.Connection) -> bool:
    """Whether the last server to use the file closed it (``meta.clean``), and mark it in use."""
    with transaction(db):
        row = db.execute("SELECT value FROM meta WHERE key = 'clean'").fetchone()
        db.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
    return row is None or row[0] == "1"


def mark_clean(db: sqlite3.Connection) -> None:
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")


def load_rooms(db: sqlite3.Connection, *, tail: int, budget: int) -> dict[str, RoomRecord]:
    """Every room of the file, with the newest *tail* events of the most recently active
    rooms, as many rooms as *budget* events allow."""
    records: dict[str, RoomRecord] = {}
    rows = db.execute(
        "SELECT key, name, epoch, seq, forgotten, topic, operators, bans, active FROM rooms"
        " ORDER BY active DESC"
    )
    for key, name, epoch, seq, forgotten, topic, operators, bans, active in rows.fetchall():
        state = RoomState(
            topic=topic, operators=frozenset(json.loads(operators)), bans=tuple(json.loads(bans))
        )
        record = RoomRecord(
            key=key,
            name=name,
            epoch=epoch,
            seq=seq,
            forgotten=forgotten,
            state=state,
            active=active / 1_000_000,
        )
        if tail and budget > 0:
            record.tail = load_tail(db, key, tail)
            budget -= len(record.tail)
        records[key] = record
    return records


def load_tail(db: sqlite3.Connection, key: str, count: int) -> list[Row]:
    """The newest *count* events of room *key*, oldest first."""
    rows = db.execute(
        "SELECT seq, kind, time, sender, fields FROM events WHERE room = ?"
        " ORDER BY seq DESC LIMIT ?",
        (key, count),
    ).fetchall()
    rows.reverse()
    return rows


def query(
    db: sqlite3.Connection,
    key: str,
    count: int,
    *,
    before: int | None,
    after: int | None,
) -> list[Row]:
    """Up to *count* events of room *key* between *after* and *before* (both excluded): the
    first ones after *after* if it is given, else the last ones before *before*; oldest first."""
    low = -1 if after is None else after
    high = (1 << 62) if before is None else before
    if after is not None:
        return db.execute(
            "SELECT seq, kind, time, sender, fields FROM events"
            " WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?",
            (key, low, high, count),
        ).fetchall()
    rows = db.execute(
        "SELECT seq, kind, time, sender, fields FROM events"
        " WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (key, low, high, count),
    ).fetchall()
    rows.reverse()
    return rows


# ------------------------------------------------------------------------------ writing


def write_events(db: sqlite3.Connection, events: list[str]) -> None:
    """Insert *events*, each made by :func:`event_json`, in one statement.

    SQLite walks the batch's JSON itself (``json_each``), with the GIL released for the whole
    statement: the event loop runs meanwhile, where a row-by-row ``executemany`` took the GIL
    back for every row."""
    if not events:
        return
    db.execute(
        "INSERT OR REPLACE INTO events (room, seq, kind, time, sender, fields)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
        " json_extract(value, '$[4]'), json_extract(value, '$[5]') FROM json_each(?)",
        ("[" + ",".join(events) + "]",),
    )


def write_room(db: sqlite3.Connection, record: RoomRecord, active: int) -> None:
    state = record.state
    db.execute(
        "INSERT INTO rooms (key, name, epoch, seq, forgotten, topic, operators, bans, active)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " name = excluded.name, epoch = excluded.epoch, seq = max(seq, excluded.seq),"
        " forgotten = max(forgotten, excluded.forgotten), topic = excluded.topic,"
        " operators = excluded.operators, bans = excluded.bans, active = excluded.active",
        (
            record.key,
            record.name,
            record.epoch,
            record.seq,
            record.forgotten,
            state.topic,
            json.dumps(sorted(state.operators)),
            json.dumps(list(state.bans)),
            active,
        ),
    )


def forget_through(db: sqlite3.Connection, key: str, seq: int) -> int:
    """Delete room *key*'s events up to *seq* and record that they are gone; how many went."""
    deleted = db.execute("DELETE FROM events WHERE room = ? AND seq <= ?", (key, seq)).rowcount
    db.execute("UPDATE rooms SET forgotten = max(forgotten, ?) WHERE key = ?", (seq, key))
    return deleted


def drop_room(db: sqlite3.Connection, key: str) -> int:
    """Delete room *key*, its state and its events; how many events went."""
    deleted = db.execute("DELETE FROM events WHERE room = ?", (key,)).rowcount
    db.execute("DELETE FROM rooms WHERE key = ?", (key,))
    return deleted


def used_bytes(db: sqlite3.Connection) -> int:
    """Bytes of the file in use (its pages less the free ones, which SQLite reuses first)."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def count_events(db: sqlite3.Connection, key: str | None = None) -> int:
    """Events the file holds (of room *key*, if given)."""
    if key is None:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    return int(db.execute("SELECT count(*) FROM events WHERE room = ?", (key,)).fetchone()[0])


def nth_seq(db: sqlite3.Connection, key: str, count: int) -> int:
    """The ``seq`` of room *key*'s *count*-th oldest event (its newest if it has fewer)."""
    row = db.execute(
        "SELECT seq FROM events WHERE room = ? ORDER BY seq LIMIT 1 OFFSET ?", (key, count - 1)
    ).fetchone()
    if row is None:
        row = db.execute("SELECT max(seq) FROM events WHERE room = ?", (key,)).fetchone()
    return int(row[0] or 0)


def retention_cut(
    db: sqlite3.Connection, key: str, *, keep: int | None, older_than: int | None
) -> int:
    """The newest ``seq`` of room *key* that retention deletes (0: none): beyond the newest
    *keep* events, or stamped before *older_than* (µs)."""
    cut = 0
    if keep is not None:
        row = db.execute(
            "SELECT seq FROM events WHERE room = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (key, keep),
        ).fetchone()
        if row is not None:
            cut = row[0]
    if older_than is not None:
        # Events are written in seq order with the time they were stamped, so the old ones are
        # the first ones: walk from the oldest to the first recent one (no index on time).
        row = db.execute(
            "SELECT seq FROM events WHERE room = ? AND seq > ? AND time >= ? ORDER BY seq LIMIT 1",
            (key, cut, older_than),
        ).fetchone()
        if row is not None:
            cut = max(cut, row[0] - 1)
        else:
            row = db.execute("SELECT max(seq) FROM events WHERE room = ?", (key,)).fetchone()
            if row is not None and row[0] is not None:
                cut = max(cut, row[0])
    return cut


def room_keys(db: sqlite3.Connection) -> list[str]:
    return [key for (key,) in db.execute("SELECT key FROM rooms")]


def file_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / FILE_NAME
