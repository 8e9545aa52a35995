"""The ``triochat`` command as a user runs it: real processes, real signals, loopback only."""

from __future__ import annotations

import re
import signal
import socket
import subprocess

import pytest
import trio

from tests.adversarial.helpers import TRIOCHAT, serve_process
from tests.conftest import LineClient


def run(*args: str, stdin: bytes = b"", timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*TRIOCHAT, *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


def test_help_teaches_every_flag() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for flag in (
        "--host",
        "--port",
        "--max-line",
        "--outbox",
        "--idle-timeout",
        "--write-timeout",
        "--max-clients",
        "--log-level",
        "--shutdown-grace",
    ):
        assert flag in text
    assert "(default: 9999)" in text
    top = run("--help").stdout.decode()
    assert "serve" in top
    assert "connect" in top
    assert "nc 127.0.0.1 9999" in top


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(b"triochat ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "abc"], "is not a port number"),
        (["serve", "--port", "70000"], "is not a port number"),
        (["serve", "--idle-timeout", "0"], "too small"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert "--help" in lines[0]


def test_address_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert lines == [
        f"triochat serve: cannot listen on 127.0.0.1:{port}: address already in use "
        "(is another server running?)"
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signal_stops_server_cleanly_and_promptly(signum: signal.Signals) -> None:
    async with serve_process() as server:
        clients = [await (await LineClient.open(server.port)).registered() for _ in range(3)]
        await clients[0].send("before the signal")
        await clients[2].until("before the signal")
        start = trio.current_time()
        server.process.send_signal(signum)
        with trio.fail_after(5):
            returncode = await server.process.wait()
        elapsed = trio.current_time() - start
        for client in clients:
            rest = await client.rest()
            assert rest[-1] == "*** goodbye (server shutting down)"
            await client.aclose()
    assert returncode == 0
    assert elapsed < 2
    log = bytes(server.stderr).decode()
    assert "Traceback" not in log
    assert f"{signum.name} received: shutting down" in log
    assert "stopped" in log


async def test_log_has_one_line_per_connect_and_disconnect() -> None:
    async with serve_process() as server:
        client = await (await LineClient.open(server.port)).registered("logged")
        await client.send("/quit")
        await client.rest()
        await client.aclose()
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            await server.process.wait()
    log = bytes(server.stderr).decode()
    assert re.search(r"connect 127\.0\.0\.1:\d+ as guest-1\n", log)
    assert re.search(r"disconnect 127\.0\.0\.1:\d+ \(logged\): quit\n", log)


async def test_piped_client_delivers_and_exits_zero() -> None:
    async with serve_process() as server:
        watcher = await (await LineClient.open(server.port)).registered("watcher")
        result = await trio.run_process(
            [*TRIOCHAT, "connect", "--port", str(server.port), "--nick", "piper"],
            stdin=b"hi\nsecond line\n",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        out = result.stdout.decode()
        assert "<piper> hi" in out  # the server echoed it before the client left
        assert "<piper> second line" in out
        assert (await watcher.until("<piper> second line"))[-1].endswith("second line")
        await watcher.aclose()
        server.process.send_signal(signal.SIGINT)
        with trio.fail_after(5):
            await server.process.wait()


def test_client_connection_refused_is_one_line_and_exit_1() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run("connect", "--port", str(port), stdin=b"hi\n")
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "cannot connect" in lines[0]
    assert "Traceback" not in result.stderr.decode()


def test_python_dash_m_and_console_script_agree() -> None:
    result = subprocess.run(["triochat", "--version"], capture_output=True, timeout=20, check=False)
    assert result.returncode == 0
    assert result.stdout == run("--version").stdout
