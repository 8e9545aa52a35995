"""Guessing, registering and hashing in bulk from one address.

Attempts are throttled per (target, address): failures on one target never hold up another, and
over the limit an attempt is delayed, not refused, so that a right secret from someone else at
the same address still gets in. Registrations are throttled per address and checked against the
store before anything is hashed; scrypt runs at most two at a time, one per address.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.session.test_security import connect, password_server
from triochat import ChatServer, ServerConfig
from triochat.session import _auth as auth
from triochat.session._auth import FailureThrottle, Secret


async def test_wrong_passwords_do_not_lock_out_the_right_one_at_the_same_address(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = password_server(auth_timeout=10_000, idle_timeout=10_000)
    attacker = await connect(nursery, server, "10.6.6.6:1")
    for attempt in range(5):
        await attacker.send(f"/pass guess{attempt}")
        assert await attacker.until("error") == "*** error: wrong password"
    # The attacker keeps one wrong attempt waiting, as it would to keep the address locked.
    start = trio.current_time()
    await attacker.send("/pass guess5")
    assert await attacker.until("too many") == (
        "*** too many failed attempts from your address: yours is checked in at most 10 s"
    )
    honest = await connect(nursery, server, "10.6.6.6:2")
    await honest.send("/pass open sesame")
    assert "checked in at most 20 s" in await honest.until("too many")
    await honest.until("joined #lobby")  # let in, not refused
    assert trio.current_time() - start < 21
    assert await attacker.until("error") == "*** error: wrong password"
    # Guessing goes on at one attempt per 10 s, however many connections guess.
    guessers = [attacker, *[await connect(nursery, server, f"10.6.6.6:{n}") for n in (3, 4)]]
    start = trio.current_time()
    for number, guesser in enumerate(guessers):
        await guesser.send(f"/pass again{number}")
    for guesser in guessers:
        assert await guesser.until("error") == "*** error: wrong password"
    # The first came with the token that refilled while the honest client's was checked.
    assert trio.current_time() - start == pytest.approx(2 * 10, abs=0.01)
    nursery.cancel_scope.cancel()


async def test_failures_on_one_target_do_not_hold_up_another(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = ChatServer(
        config=ServerConfig(data_dir=str(tmp_path), admin_token=Secret.from_text("t0ken"))
    )
    owner = await connect(nursery, server, "10.0.0.7:1", nick="owner")
    await owner.send("/register hunter22")
    await owner.until("now registered")
    await owner.send("/nick away")
    await owner.until("now known as away")
    attacker = await connect(nursery, server, "10.0.0.7:2")
    for attempt in range(5):  # all the admin token attempts the address has
        await attacker.send(f"/admin guess{attempt}")
        assert await attacker.until("error") == "*** error: wrong admin token"
    await attacker.send("/nick owner guess")
    assert await attacker.until("error") == "*** error: wrong password for owner"
    # The same address, another target: no waiting, no refusal.
    await owner.send("/nick owner hunter22")
    while "away is now known as owner" not in (line := await owner.line() or ""):
        assert line
        assert "too many" not in line
    nursery.cancel_scope.cancel()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls of scrypt, counted; and the most ever running at once, in ``hashes[1]``."""
    counts = [0, 0]
    running = [0]
    lock = threading.Lock()
    original = auth.hash_password

    def counting(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        with lock:
            counts[0] += 1
            running[0] += 1
            counts[1] = max(counts[1], running[0])
        try:
            return original(password, salt, n, r, p)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(auth, "hash_password", counting)
    return counts


async def test_register_checks_the_store_before_hashing(
    nursery: trio.Nursery, tmp_path: Path, hashes: list[int]
) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    owner = await connect(nursery, server, "10.0.0.1:1", nick="owner")
    await owner.send("/register hunter22")
    await owner.until("now registered")
    assert hashes[0] == 1
    for _ in range(3):
        await owner.send("/register another1")
        assert "registered already" in await owner.until("error")
    assert hashes[0] == 1
    nursery.cancel_scope.cancel()


async def test_registrations_are_throttled_per_address(
    nursery: trio.Nursery, tmp_path: Path, hashes: list[int]
) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    now = [0.0]
    server.guard.throttle = FailureThrottle(clock=lambda: now[0])
    clients = [await connect(nursery, server, f"10.0.0.5:{n}", nick=f"r{n}") for n in range(7)]
    for client in clients[:5]:
        await client.send("/register password")
        await client.until("now registered")
    await clients[5].send("/register password")
    assert await clients[5].until("error") == (
        "*** error: too many registrations from your address; try again in 10 s"
    )
    assert hashes[0] == 5
    other = await connect(nursery, server, "10.0.0.6:1", nick="elsewhere")
    await other.send("/register password")
    await other.until("now registered")
    now[0] += 10  # one more registration every 10 s
    await clients[5].send("/register password")
    await clients[5].until("now registered")
    await clients[6].send("/register password")
    assert "too many registrations" in await clients[6].until("error")
    assert hashes[0] == 7
    nursery.cancel_scope.cancel()


async def test_hashing_is_bounded_server_wide(
    nursery: trio.Nursery, tmp_path: Path, hashes: list[int]
) -> None:
    """A crowd registering at once, from many addresses, while others log in: two hashes at a
    time, no more (one lane for registrations, one for password checks)."""
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    owners = [await connect(nursery, server, f"10.2.0.{n}:1", nick=f"owner{n}") for n in range(3)]
    for number, owner in enumerate(owners):
        await owner.send("/register hunter22")
        await owner.until("now registered")
        await owner.send(f"/nick away{number}")
        await owner.until(f"now known as away{number}")
    crowd = [await connect(nursery, server, f"10.1.0.{n}:1", nick=f"crowd{n}") for n in range(12)]
    async with trio.open_nursery() as sending:
        for client in crowd:
            sending.start_soon(client.send, "/register password")
        for number, owner in enumerate(owners):
            sending.start_soon(owner.send, f"/nick owner{number} hunter22")
    for client in crowd:
        await client.until("now registered")
    for number, owner in enumerate(owners):
        await owner.until(f"now known as owner{number}")
    assert hashes == [3 + 12 + 3, 2]
    nursery.cancel_scope.cancel()
