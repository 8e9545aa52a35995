"""The registered-nick store: one SQLite connection, used by one worker thread at a time.

Registered nicks live in ``DATA_DIR/nicks.sqlite3``: per nick a random salt and an scrypt hash of
its password. Hashing is not done here (see :class:`~triochat.session._auth.PasswordHasher`):
this module only reads and writes rows, quickly, and turns every way the file can fail into one
exception a client can be told about.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import attrs
import trio

from ..core._errors import ChatError, ErrorCode
from ..core._nicks import look_key, nick_key

__all__ = ["DEFAULT_BUSY_TIMEOUT", "NickStore", "Registration", "StoreUnavailable"]

log = logging.getLogger("triochat.auth")

T = TypeVar("T")

#: Seconds an operation waits for a lock another process holds on the file (SQLite's busy
#: timeout) before it fails. Every nick operation waits behind the one in progress, so this is
#: short: a healthy store answers in milliseconds.
DEFAULT_BUSY_TIMEOUT: Final = 1.0
# While the store keeps failing, one log line per this many seconds (with a count).
_FAILURE_LOG_INTERVAL: Final = 60.0
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS nicks ("
    " key TEXT PRIMARY KEY, nick TEXT NOT NULL, salt BLOB NOT NULL,"
    " hash BLOB NOT NULL, n INTEGER NOT NULL, r INTEGER NOT NULL,"
    " p INTEGER NOT NULL, created REAL NOT NULL)"
)


class StoreUnavailable(ChatError):
    """The registered-nick store cannot be used now (locked, corrupt, unreadable...)."""

    default_code = ErrorCode.STORE_UNAVAILABLE


@attrs.frozen(repr=False)
class Registration:
    """What the store keeps about a registered nick: an scrypt hash, its salt and cost."""

    salt: bytes
    digest: bytes
    n: int
    r: int
    p: int

    def __repr__(self) -> str:
        return f"Registration(n={self.n}, r={self.r}, p={self.p})"


class NickStore:
    """Registered nicks in ``DATA_DIR/nicks.sqlite3``.

    Creating a store touches no file: :meth:`open` (called by ``ChatServer.serve`` before it
    listens) creates the directory (mode 0700) and the file (mode 0600). The async methods run
    the blocking work in a worker thread, one at a time (a :class:`trio.CapacityLimiter` of 1),
    all on one connection, so that however many clients ask, the store costs one thread.

    Error handling: any :exc:`sqlite3.Error` or :exc:`OSError` of :meth:`lookup`, :meth:`add`
    and :meth:`remove` becomes :exc:`StoreUnavailable`, logged once (then at most once a minute
    with a count while it lasts) and once more when the store works again. The connection is
    dropped after a failure, and whenever the file is replaced or removed under it, so that a
    repaired or restored file is used without a restart.

    Cancellation: a waiting operation is abandoned at once (a client leaving, a shutdown). Its
    worker thread finishes on its own, within *busy_timeout* if it waits on a lock, and keeps
    the store's single place until then, so no two threads ever use the connection.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> None:
        self.path = Path(data_dir) / "nicks.sqlite3"
        self.busy_timeout = busy_timeout
        self._lane = trio.CapacityLimiter(1)
        # Guards the fields below: close() may be called while a (possibly abandoned) worker
        # thread uses the connection; the last of the two closes it.
        self._state = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._busy = False
        self._closed = False
        self._failures = 0
        self._unlogged_failures = 0
        self._last_failure_log = -_FAILURE_LOG_INTERVAL

    @property
    def busy(self) -> bool:
        """Whether a worker thread is using the store now."""
        return self._busy

    @property
    def connected(self) -> bool:
        """Whether the store holds an open connection to its file."""
        return self._db is not None

    # ----------------------------------------------------------------------- the async face

    async def open(self) -> None:
        """Create (or check) the directory, the file and its table.

        Error handling: raises the :exc:`OSError` or :exc:`sqlite3.Error` itself, for the
        caller to report (a server that cannot use its store should not start).
        """
        with self._state:
            self._closed = False
        await self._in_thread(lambda db: None)

    def close(self) -> None:
        """Close the connection now, or as soon as the operation in progress ends. Never blocks."""
        with self._state:
            self._closed = True
            if not self._busy:
                self._disconnect()

    async def lookup(self, nick: str) -> Registration | None:
        """The registration of *nick* (any case), or ``None`` if it is not registered."""
        return await self._guarded(_lookup, nick.casefold())

    async def registered_like(self, nick: str) -> list[str]:
        """The registered nicks that *nick* is, or looks like (see ``triochat/core/_nicks.py``)."""
        return await self._guarded(_like, nick_key(nick), look_key(nick))

    async def add(self, nick: str, registration: Registration) -> bool:
        """Register *nick*; ``False`` if it, or a nick it looks like, is registered already."""
        return await self._guarded(_add, nick, registration)

    async def remove(self, nick: str) -> None:
        await self._guarded(_remove, nick.casefold())

    async def _guarded(self, operation: Callable[..., T], *args: object) -> T:
        try:
            result = await self._in_thread(operation, *args)
        except (sqlite3.Error, OSError) as exc:
            self._report(exc)
            raise StoreUnavailable("registration store unavailable, try again later") from None
        if self._failures:
            log.warning(
                "registration store %s works again (%d failed operations)",
                self.path,
                self._failures,
            )
            self._failures = self._unlogged_failures = 0
            self._last_failure_log = -_FAILURE_LOG_INTERVAL
        return result

    async def _in_thread(self, operation: Callable[..., T], *args: object) -> T:
        # abandon_on_cancel: a thread in sqlite's busy wait must not hold up a client that is
        # leaving or a server that is stopping; the limiter stays taken until it returns.
        return await trio.to_thread.run_sync(
            self._run, operation, *args, limiter=self._lane, abandon_on_cancel=True
        )

    def _report(self, exc: BaseException) -> None:
        self._failures += 1
        self._unlogged_failures += 1
        now = trio.current_time()
        if now - self._last_failure_log >= _FAILURE_LOG_INTERVAL:
            more = self._unlogged_failures - 1
            since = f" ({more} more failed operations since the last such line)" if more else ""
            log.error("registration store %s unavailable: %s%s", self.path, exc, since)
            self._last_failure_log = now
            self._unlogged_failures = 0

    # ----------------------------------------------------------------- in the worker thread

    def _run(self, operation: Callable[..., T], *args: object) -> T:
        with self._state:
            if self._closed:
                raise sqlite3.ProgrammingError("the nick store is closed")
            self._busy = True
        try:
            try:
                return operation(self._connection(), *args)
            except (sqlite3.Error, OSError):
                self._disconnect()  # the next operation starts afresh
                raise
        finally:
            self._done()

    def _done(self) -> None:
        with self._state:
            self._busy = False
            if self._closed:  # closed while we worked: close() left it to us
                self._disconnect()

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None and self._identity != _identity(self.path):
            # Replaced or removed under us: the open connection would go on writing to a file
            # nobody will ever read again. Use what is at the path now.
            self._disconnect()
        if self._db is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                # One thread at a time (the lane), but not always the same one.
                check_same_thread=False,
            )
            try:
                db.execute(_SCHEMA)
                _index_look_alikes(db)
                # The file holds password hashes: readable by the server's user only.
                with contextlib.suppress(OSError):
                    self.path.chmod(stat.S_IRUSR | stat.S_IWUSR)
                self._identity = _identity(self.path)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _disconnect(self) -> None:
        db, self._db, self._identity = self._db, None, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _lookup(db: sqlite3.Connection, key: str) -> Registration | None:
    row = db.execute("SELECT salt, hash, n, r, p FROM nicks WHERE key = ?", (key,)).fetchone()
    return None if row is None else Registration(*row)


def _like(db: sqlite3.Connection, skeleton: str, look: str) -> list[str]:
    rows = db.execute("SELECT nick FROM nicks WHERE skeleton = ? OR look = ?", (skeleton, look))
    return [nick for (nick,) in rows]


def _add(db: sqlite3.Connection, nick: str, registration: Registration) -> bool:
    # One connection used by one thread at a time: nothing is registered between the two steps.
    if _like(db, nick_key(nick), look_key(nick)):
        return False
    try:
        db.execute(
            "INSERT INTO nicks (key, nick, salt, hash, n, r, p, created, skeleton, look)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                nick.casefold(),
                nick,
                registration.salt,
                registration.digest,
                registration.n,
                registration.r,
                registration.p,
                time.time(),
                nick_key(nick),
                look_key(nick),
            ),
        )
    except sqlite3.IntegrityError:
        return False
    return True


def _index_look_alikes(db: sqlite3.Connection) -> None:
    """Give every row its two look-alike keys: files from before them, or from older rules."""
    if "skeleton" not in {column for _, column, *_ in db.execute("PRAGMA table_info(nicks)")}:
        db.execute("ALTER TABLE nicks ADD COLUMN skeleton TEXT")
        db.execute("ALTER TABLE nicks ADD COLUMN look TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS nicks_skeleton ON nicks (skeleton)")
    db.execute("CREATE INDEX IF NOT EXISTS nicks_look ON nicks (look)")
    # Computed again on each connection (cheap) and written only where the rules or the Unicode
    # data changed since the keys were stored.
    stale = [
        (nick_key(nick), look_key(nick), key)
        for key, nick, skeleton, look in db.execute("SELECT key, nick, skeleton, look FROM nicks")
        if (skeleton, look) != (nick_key(nick), look_key(nick))
    ]
    db.executemany("UPDATE nicks SET skeleton = ?, look = ? WHERE key = ?", stale)


def _remove(db: sqlite3.Connection, key: str) -> None:
    db.execute("DELETE FROM nicks WHERE key = ?", (key,))
