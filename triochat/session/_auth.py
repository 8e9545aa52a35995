"""Secrets, the throttling of attempts, password hashing, and the guard that holds them.

Nothing secret is ever logged or kept in plain text: the server password and the admin token are
kept as SHA-256 digests and compared in constant time; registered nicks' passwords are stored
salted and hashed with scrypt (see :mod:`triochat.session._nick_store` for the store).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import attrs
import trio

from ._nick_store import NickStore, Registration

__all__ = ["FailureThrottle", "Guard", "PasswordHasher", "Secret", "hash_password", "read_secret"]

#: Attempts one address may make in a burst on one target (failed ones on the server password,
#: the admin token or one nick's password; any registration).
DEFAULT_FAILURE_BURST: Final = 5
#: Seconds after which one more attempt is allowed again.
DEFAULT_FAILURE_REFILL: Final = 10.0
# (target, address) pairs remembered by the throttle; the least recently seen are forgotten.
_THROTTLE_MAX_KEYS: Final = 10_000
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


#: What the throttle counts attempts by: (target, address), such as ``("pass", "192.0.2.1")``.
ThrottleKey = tuple[str, str]


@attrs.define(eq=False)
class _Turns:
    """The attempts on one key in progress: checked one at a time, in the order they came."""

    lock: trio.Lock = attrs.field(factory=trio.Lock)
    users: int = 0


class FailureThrottle:
    """A token bucket of attempts per (target, address).

    Each address may fail *burst* times in a row on one target (the server password, the admin
    token, one nick's password; or register that many nicks); one more attempt is allowed every
    *refill* seconds. Targets are counted apart, so failures on one never hold up another.

    Secrets are checked through :meth:`turn`, which *delays* an attempt over the limit instead
    of refusing it: attempts on one key are checked one at a time, in order, each once a token
    is there. A guesser gets one guess per *refill* seconds however many connections it opens,
    and someone else at the same address with the right secret is let in once its turn comes
    (after the attempts queued before it, at most one per connection), never refused.

    Memory is bounded: at most 10 000 keys are remembered (the least recently used are
    forgotten), plus one small record per key while attempts on it are in progress. *clock* is
    a function returning seconds (the server passes ``trio.current_time``, so tests can use a
    fake clock; :meth:`turn` sleeps with trio, so it needs trio's clock).
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
        self._buckets: OrderedDict[ThrottleKey, tuple[float, float]] = OrderedDict()
        self._turns: dict[ThrottleKey, _Turns] = {}

    def _tokens(self, key: ThrottleKey) -> float:
        now = self.clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) / self.refill)

    def allowed(self, key: ThrottleKey) -> bool:
        """Whether an attempt on *key* may be made now."""
        return self._tokens(key) >= 1

    def count(self, key: ThrottleKey) -> None:
        """Count one attempt on *key* (a failed one, or a registration)."""
        tokens = max(0.0, self._tokens(key) - 1)
        self._buckets[key] = (tokens, self.clock())
        self._buckets.move_to_end(key)
        while len(self._buckets) > _THROTTLE_MAX_KEYS:
            self._buckets.popitem(last=False)

    def delay(self, key: ThrottleKey) -> float:
        """Seconds until an attempt on *key* made now is checked, at most: 0 if at once.

        An upper bound when other attempts wait before it: those that succeed cost no token.
        """
        turns = self._turns.get(key)
        ahead = turns.users if turns is not None else 0
        return max(0.0, (ahead + 1 - self._tokens(key)) * self.refill)

    @asynccontextmanager
    async def turn(self, key: ThrottleKey) -> AsyncIterator[None]:
        """Wait for the turn of an attempt on *key*; check the secret inside, and :meth:`count`
        it there if it was wrong."""
        turns = self._turns.get(key)
        if turns is None:
            turns = self._turns[key] = _Turns()
        turns.users += 1
        try:
            async with turns.lock:  # trio.Lock is fair: first come, first checked
                # Only attempts holding this lock spend this key's tokens: one sleep is enough
                # (and a microsecond more, so that rounding cannot leave it a hair short).
                missing = 1 - self._tokens(key)
                if missing > 0:
                    await trio.sleep(missing * self.refill + 1e-6)
                yield
        finally:
            turns.users -= 1
            if not turns.users:
                del self._turns[key]


def hash_password(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt of *password* (blocking, and deliberately slow: run it in a thread)."""
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=64 * 1024 * 1024,
        dklen=_HASH_BYTES,
    )


class PasswordHasher:
    """scrypt in worker threads, bounded (each hash takes about 16 MiB and 50 ms of a CPU).

    Two lanes of one hash at a time each: one for new registrations, one for checking the
    password of a registered nick. So the whole server hashes at most two passwords at once, and
    a crowd registering never delays a registered user's login by more than one hash. In each
    lane an address has at most one hash waiting or running, so no address can queue several
    hashes before another address's one.
    """

    def __init__(self) -> None:
        self._registering = trio.CapacityLimiter(1)
        self._checking = trio.CapacityLimiter(1)
        self._per_address: dict[tuple[trio.CapacityLimiter, str], _Turns] = {}

    async def new(self, password: str, *, address: str) -> Registration:
        """A registration for *password*: a new random salt and its hash."""
        salt = secrets.token_bytes(_SALT_BYTES)
        n, r, p = _SCRYPT_N, _SCRYPT_R, _SCRYPT_P
        digest = await self._hash(self._registering, address, password, salt, n, r, p)
        return Registration(salt, digest, n, r, p)

    async def matches(self, registration: Registration, password: str, *, address: str) -> bool:
        """Whether *password* is the one *registration* was made with (in constant time)."""
        salt, n, r, p = registration.salt, registration.n, registration.r, registration.p
        digest = await self._hash(self._checking, address, password, salt, n, r, p)
        return hmac.compare_digest(digest, registration.digest)

    async def _hash(
        self,
        lane: trio.CapacityLimiter,
        address: str,
        password: str,
        salt: bytes,
        n: int,
        r: int,
        p: int,
    ) -> bytes:
        key = (lane, address)
        turns = self._per_address.get(key)
        if turns is None:
            turns = self._per_address[key] = _Turns()
        turns.users += 1
        try:
            async with turns.lock:
                # Abandoned on cancellation (the client left): the thread finishes its 50 ms
                # holding its place in the lane, so the bound holds.
                return await trio.to_thread.run_sync(
                    hash_password, password, salt, n, r, p, limiter=lane, abandon_on_cancel=True
                )
        finally:
            turns.users -= 1
            if not turns.users:
                del self._per_address[key]


@attrs.define(eq=False, kw_only=True)
class Guard:
    """What a server checks people against: its password, the admin token, registered nicks.

    One guard per server, shared by its connections (so the throttle sees every attempt from an
    address, whichever connection it comes on, and the hasher bounds the whole server).
    """

    password: Secret | None = None
    admin_token: Secret | None = None
    nick_store: NickStore | None = None
    throttle: FailureThrottle = attrs.field(factory=FailureThrottle)
    hasher: PasswordHasher = attrs.field(factory=PasswordHasher)
