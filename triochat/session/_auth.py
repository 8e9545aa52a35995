"""Secrets, throttling of failed attempts, and the registered-nick store.

Nothing secret is ever logged or kept in plain text: the server password and the admin token are
kept as SHA-256 digests and compared in constant time; registered nicks' passwords are stored
salted and hashed with scrypt in a small SQLite file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Final

import attrs

__all__ = ["FailureThrottle", "Guard", "NickStore", "Secret", "read_secret"]

#: Failed attempts one address may make in a burst (server password, nick passwords, admin).
DEFAULT_FAILURE_BURST: Final = 5
#: Seconds after which one more failed attempt is allowed again.
DEFAULT_FAILURE_REFILL: Final = 10.0
# Addresses remembered by the throttle; the least recently seen are forgotten first.
_THROTTLE_MAX_ADDRESSES: Final = 10_000
# scrypt cost: about 16 MiB and some tens of milliseconds per hash, run in a worker thread.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
#: Longest password accepted, in characters.
MAX_PASSWORD_LENGTH: Final = 256
#: Shortest password accepted for a registered nick.
MIN_PASSWORD_LENGTH: Final = 6


@attrs.frozen(repr=False)
class Secret:
    """A shared secret (server password, admin token), held only as a digest."""

    _digest: bytes

    @classmethod
    def from_text(cls, text: str) -> Secret:
        return cls(hashlib.sha256(text.encode()).digest())

    def matches(self, attempt: str) -> bool:
        """Constant-time comparison (of digests, so the length of the secret does not leak)."""
        return hmac.compare_digest(hashlib.sha256(attempt.encode()).digest(), self._digest)

    def __repr__(self) -> str:
        return "Secret(<hidden>)"


def read_secret(*, path: str | None = None, env: str | None = None, what: str) -> Secret:
    """Read a secret from a file (first line) or an environment variable.

    Never from a command-line value, which every user of the machine can see in ``ps``. Raises
    :exc:`ValueError` with a message for people.
    """
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8").splitlines()[0:1]
        except OSError as exc:
            raise ValueError(f"cannot read the {what} file {path}: {exc.strerror}") from None
        value = text[0].strip() if text else ""
        where = f"the file {path}"
    elif env is not None:
        value = os.environ.get(env, "").strip()
        where = f"the environment variable {env}"
    else:
        raise ValueError(f"no {what} given")
    if not value:
        raise ValueError(f"the {what} in {where} is empty")
    return Secret.from_text(value)


class FailureThrottle:
    """A token bucket of failed attempts per address.

    Each address may fail *burst* times in a row; one more attempt is allowed every *refill*
    seconds. Memory is bounded: at most 10 000 addresses are remembered. *clock* is a function
    returning seconds (the server passes ``trio.current_time``, so tests can use a fake clock).
    """

    def __init__(
        self,
        *,
        burst: int = DEFAULT_FAILURE_BURST,
        refill: float = DEFAULT_FAILURE_REFILL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill = refill
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, address: str) -> float:
        now = self.clock()
        tokens, then = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) / self.refill)

    def allowed(self, address: str) -> bool:
        """Whether *address* may make another attempt now."""
        return self._tokens(address) >= 1

    def failed(self, address: str) -> None:
        """Count one failed attempt from *address*."""
        tokens = max(0.0, self._tokens(address) - 1)
        self._buckets[address] = (tokens, self.clock())
        self._buckets.move_to_end(address)
        while len(self._buckets) > _THROTTLE_MAX_ADDRESSES:
            self._buckets.popitem(last=False)


class NickStore:
    """Registered nicks in an SQLite file: ``DATA_DIR/nicks.sqlite3``.

    Passwords are stored as scrypt hashes with a random salt each. Every method is blocking (file
    I/O and a deliberately slow hash): call them through ``trio.to_thread.run_sync``.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        directory = Path(data_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / "nicks.sqlite3"
        with self._open() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS nicks ("
                " key TEXT PRIMARY KEY, nick TEXT NOT NULL, salt BLOB NOT NULL,"
                " hash BLOB NOT NULL, n INTEGER NOT NULL, r INTEGER NOT NULL,"
                " p INTEGER NOT NULL, created REAL NOT NULL)"
            )
        # The file holds password hashes: readable by the server's user only.
        with contextlib.suppress(OSError):
            self.path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    def _open(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(self.path, timeout=5, isolation_level=None))

    @staticmethod
    def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=64 * 1024 * 1024,
            dklen=_HASH_BYTES,
        )

    def is_registered(self, nick: str) -> bool:
        with self._open() as db:
            row = db.execute("SELECT 1 FROM nicks WHERE key = ?", (nick.casefold(),)).fetchone()
        return row is not None

    def register(self, nick: str, password: str) -> bool:
        """Register *nick*; ``False`` if it is registered already."""
        salt = secrets.token_bytes(_SALT_BYTES)
        digest = self._hash(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        with self._open() as db:
            try:
                db.execute(
                    "INSERT INTO nicks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        nick.casefold(),
                        nick,
                        salt,
                        digest,
                        _SCRYPT_N,
                        _SCRYPT_R,
                        _SCRYPT_P,
                        time.time(),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def verify(self, nick: str, password: str) -> bool:
        """Whether *password* is the one *nick* was registered with (``False`` if unknown)."""
        with self._open() as db:
            row = db.execute(
                "SELECT salt, hash, n, r, p FROM nicks WHERE key = ?", (nick.casefold(),)
            ).fetchone()
        if row is None:
            return False
        salt, digest, n, r, p = row
        return hmac.compare_digest(self._hash(password, salt, n, r, p), digest)

    def unregister(self, nick: str) -> None:
        with self._open() as db:
            db.execute("DELETE FROM nicks WHERE key = ?", (nick.casefold(),))


@attrs.define(eq=False, kw_only=True)
class Guard:
    """What a server checks people against: its password, the admin token, registered nicks.

    One guard per server, shared by its connections (so the failure throttle sees every attempt
    from an address, whichever connection it comes on).
    """

    password: Secret | None = None
    admin_token: Secret | None = None
    nick_store: NickStore | None = None
    throttle: FailureThrottle = attrs.field(factory=FailureThrottle)
