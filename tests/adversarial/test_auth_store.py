"""A broken registered-nick store costs one error line, never the server.

The store (``DATA_DIR/nicks.sqlite3``) is broken from outside while the server runs: another
process holds an exclusive lock, the file is overwritten with garbage, the file is replaced by a
directory (which fails for root too, unlike a read-only directory). Each time the client that
needed the store gets ``*** error: registration store unavailable...``, the log says why once,
the other clients keep chatting and the server keeps serving. A shutdown does not wait for a
worker thread stuck on the lock.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.adversarial.helpers import TRIOCHAT, Healthy, Reader, open_raw, serve_process
from tests.conftest import WAIT, LineClient, eventually
from tests.transport_helpers import CertFiles
from triochat import ChatServer, ServerConfig, parse_endpoint
from triochat.session._nick_store import NickStore

UNAVAILABLE = "*** error: registration store unavailable"


@contextmanager
def exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold ``BEGIN EXCLUSIVE`` on the database at *path*, as another process could."""
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        yield blocker
    finally:
        blocker.close()


async def start(
    nursery: trio.Nursery, data_dir: Path, *, busy_timeout: float = 0.05, **options: float
) -> tuple[ChatServer, NickStore]:
    """A server on a loopback port whose store gives up on a lock after *busy_timeout*."""
    server = ChatServer(config=ServerConfig(port=0, data_dir=str(data_dir), **options))  # type: ignore[arg-type]
    store = server.guard.nick_store = NickStore(data_dir, busy_timeout=busy_timeout)
    await nursery.start(server.serve)
    return server, store


async def client(server: ChatServer, nick: str | None = None) -> LineClient:
    return await LineClient(await open_raw(server.addresses[0][1])).registered(nick)


def store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if "registration store" in record.getMessage()
    ]


async def test_locked_store_costs_one_error_line(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    server, _ = await start(nursery, tmp_path)
    healthy = await Healthy.join(nursery, server.addresses[0][1], count=2)
    alice = await client(server)
    with exclusive_lock(tmp_path / "nicks.sqlite3"):
        await alice.send("/nick alice")
        assert (await alice.until("error"))[-1].startswith(UNAVAILABLE)
        await alice.send("/register hunter22")  # a guest nick: refused before the store
        await alice.send("/nick alice2")
        assert (await alice.until("error"))[-1].startswith("*** error: choose a nick")
        assert (await alice.until("error"))[-1].startswith(UNAVAILABLE)
        await healthy.chat(3)
        await healthy.everyone_got_everything()
        late = await client(server)  # still accepting
        await late.aclose()
    # The lock is gone: the store works again, for the same client.
    await alice.send("/nick alice")
    await alice.until("is now known as alice")
    # Why, said once (not once per failed operation); and it works again, said once.
    lines = store_lines(caplog)
    assert len(lines) == 2, lines
    assert "database is locked" in lines[0]
    assert "works again" in lines[1]
    assert not any(record.exc_info for record in caplog.records)
    await alice.aclose()
    await healthy.aclose()
    nursery.cancel_scope.cancel()


async def test_store_overwritten_with_garbage(nursery: trio.Nursery, tmp_path: Path) -> None:
    server, _ = await start(nursery, tmp_path)
    owner = await client(server, "owner")
    await owner.send("/register hunter22")
    await owner.until("now registered")
    healthy = await Healthy.join(nursery, server.addresses[0][1], count=2)
    (tmp_path / "nicks.sqlite3").write_bytes(b"not a database, " * 512)  # in place
    thief = await client(server)
    await thief.send("/nick owner hunter22")
    assert (await thief.until("error"))[-1].startswith(UNAVAILABLE)
    await owner.send("/unregister hunter22")
    assert (await owner.until("error"))[-1].startswith(UNAVAILABLE)
    await healthy.chat(3)
    await healthy.everyone_got_everything()
    for each in (owner, thief):
        await each.aclose()
    await healthy.aclose()
    nursery.cancel_scope.cancel()


async def test_store_path_replaced_by_a_directory(nursery: trio.Nursery, tmp_path: Path) -> None:
    server, _ = await start(nursery, tmp_path)
    alice = await client(server, "alice")
    database = tmp_path / "nicks.sqlite3"
    database.unlink()
    database.mkdir()  # unusable even by root (chmod would not stop root)
    await alice.send("/register hunter22")
    assert (await alice.until("error"))[-1].startswith(UNAVAILABLE)
    await alice.send("still here")
    await alice.until("<alice> still here")
    # Once repaired, the store is opened again: nothing to restart.
    database.rmdir()
    await alice.send("/register hunter22")
    await alice.until("now registered")
    await alice.aclose()
    nursery.cancel_scope.cancel()


async def test_shutdown_does_not_wait_for_a_thread_stuck_on_a_lock(tmp_path: Path) -> None:
    grace = 0.2
    async with trio.open_nursery() as nursery:
        # Far longer than the grace: a shutdown that waited for the thread would show.
        server, store = await start(nursery, tmp_path, busy_timeout=30, shutdown_grace=grace)
        waiting = await client(server)
        with exclusive_lock(tmp_path / "nicks.sqlite3") as blocker:
            await waiting.send("/nick alice")
            await eventually(lambda: store.busy)  # the worker thread is in sqlite's busy wait
            with trio.fail_after(grace + 1.5):
                await server.shutdown()
            assert (await waiting.rest())[-1] == "*** goodbye (server shutting down)"
            assert store.busy  # the thread still waits, abandoned
            blocker.rollback()
        # The abandoned thread ends once the lock is gone and closes the connection behind it.
        await eventually(lambda: not store.connected)
        await waiting.aclose()


async def test_sigterm_with_a_locked_store(tmp_path: Path) -> None:
    """The issue's scenario, end to end: the server process survives, then exits 0 on SIGTERM."""
    async with serve_process("--data-dir", str(tmp_path), "--shutdown-grace", "1") as server:
        stream = await open_raw(server.port)
        reader = Reader(stream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.run)
            await reader.wait_for_line("joined #lobby")
            healthy = await Healthy.join(nursery, server.port, count=2)
            with exclusive_lock(tmp_path / "nicks.sqlite3"):
                await stream.send_all(b"/nick alice\n")
                line = await reader.wait_for_line("error", timeout=WAIT)
                assert line.startswith(UNAVAILABLE)
                await healthy.chat(2)
                await healthy.everyone_got_everything()
                await stream.send_all(b"/nick alice\n")  # waiting on the lock now
                signalled = trio.current_time()
                server.process.send_signal(signal.SIGTERM)
                with trio.fail_after(WAIT):
                    returncode = await server.process.wait()
                elapsed = trio.current_time() - signalled
            await reader.wait(lambda r: r.eof)
            await stream.aclose()
            await healthy.aclose()
    assert returncode == 0
    assert elapsed < 1 + 1.5  # the grace, and time for the interpreter to stop
    assert "Traceback" not in server.log
    assert server.log.count("registration store") == 1, server.log


async def test_store_is_opened_off_the_event_loop(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocking file work (mkdir, connect, CREATE TABLE) runs in a worker thread, in serve."""
    in_main_thread: list[bool] = []
    connect = sqlite3.connect

    def spy_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        in_main_thread.append(threading.current_thread() is threading.main_thread())
        connection: sqlite3.Connection = connect(*args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", spy_connect)
    server = ChatServer(config=ServerConfig(port=0, data_dir=str(tmp_path / "data")))
    assert not (tmp_path / "data").exists()  # constructing a server touches no file
    await nursery.start(server.serve)
    assert (tmp_path / "data" / "nicks.sqlite3").exists()  # opened (and so checked) by serve
    assert (tmp_path / "data" / "rooms.sqlite3").exists()  # the durable rooms too
    # The nick store's connection, and the rooms' (writer, history reader, cold loader).
    assert in_main_thread == [False] * 4
    nursery.cancel_scope.cancel()


async def test_tls_files_are_read_off_the_event_loop(
    nursery: trio.Nursery, certs: CertFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triochat.drivers import _tls
    from triochat.server import _server

    in_main_thread: list[bool] = []
    ssl_context = _tls.server_ssl_context

    def spy_ssl_context(cert: str, key: str) -> ssl.SSLContext:
        in_main_thread.append(threading.current_thread() is threading.main_thread())
        return ssl_context(cert, key)

    monkeypatch.setattr(_server, "server_ssl_context", spy_ssl_context)
    config = ServerConfig(
        listen=[parse_endpoint("tls://127.0.0.1:0")],
        tls_cert=str(certs.cert),
        tls_key=str(certs.key),
    )
    await nursery.start(ChatServer(config=config).serve)
    assert in_main_thread == [False]
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize("broken", ["data dir is a file", "garbage store"])
def test_unusable_store_at_start_is_one_line_and_exit_1(tmp_path: Path, broken: str) -> None:
    data_dir = tmp_path / "data"
    if broken == "data dir is a file":
        data_dir.write_text("a file")
    else:
        data_dir.mkdir()
        (data_dir / "nicks.sqlite3").write_bytes(b"not a database, " * 512)
    result = subprocess.run(
        [*TRIOCHAT, "serve", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"triochat serve: cannot use --data-dir {data_dir}: ")
