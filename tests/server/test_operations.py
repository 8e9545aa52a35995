"""Operating a real ``triochat serve`` process: config file, admin console, metrics, SIGHUP,
JSON logs, systemd readiness. Loopback and a private temporary directory only."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.adversarial.helpers import TRIOCHAT, ServerProcess, json_server
from tests.conftest import LineClient


def _config(directory: Path, **extra: str) -> Path:
    path = directory / "triochat.toml"
    lines = [
        'listen = ["tcp://127.0.0.1:0"]',
        f'control = "unix:{directory / "control.sock"}"',
        'metrics = "tcp://127.0.0.1:0"',
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def _admin(directory: Path, *words: str) -> tuple[int, str]:
    result = await trio.run_process(
        [*TRIOCHAT, "admin", "--control", str(directory / "control.sock"), *words],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.stderr == b""
    return result.returncode, result.stdout.decode()


async def _http_get(server: ServerProcess, path: str) -> tuple[str, str]:
    record = await server.record("metrics on http://")
    address = record["event"].split("http://", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = b""
        while data := await stream.receive_some():
            response += data
    head, _, body = response.decode().partition("\r\n\r\n")
    return head.split("\r\n", 1)[0], body


async def test_inspect_kick_and_scrape_a_server_started_from_a_config_file(
    short_tmp: Path,
) -> None:
    async with json_server(_config(short_tmp, rate="inf")) as server:
        alice = await (await LineClient.open(server.port)).registered("alice")
        bob = await (await LineClient.open(server.port)).registered("bob")
        for i in range(5):
            await alice.send(f"line {i}")
        await bob.until("line 4")

        code, who = await _admin(short_tmp, "who")
        assert code == 0
        assert [row.split()[1] for row in who.splitlines()[1:]] == ["alice", "bob"]
        code, stats = await _admin(short_tmp, "stats")
        assert "connections: 2" in stats.splitlines()
        code, tasks = await _admin(short_tmp, "tasks")
        assert "Flusher.run" in tasks
        assert sum(" alice 127.0.0.1:" in line for line in tasks.splitlines()) == 1
        conn_of_alice = (await server.record("connect "))["conn"]  # alice came first
        assert f"conn {conn_of_alice} alice" in tasks  # the logs' connection id

        status, body = await _http_get(server, "/metrics")
        assert status == "HTTP/1.1 200 OK"
        families = {f.name: f for f in text_string_to_metric_families(body)}
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families.values()
            for s in f.samples
        }
        assert samples[("triochat_connections", (("frontend", "text"),))] == 2
        assert samples[("triochat_lines_in_total", ())] >= 7  # two nicks and five lines
        assert samples[("triochat_deliveries_total", ())] > 0
        assert samples[("triochat_bytes_out_total", ())] > 0
        assert samples[("triochat_line_latency_seconds_count", ())] >= 1
        assert families["triochat_line_latency_seconds"].type == "histogram"
        assert ("triochat_timeouts_total", (("kind", "idle"),)) in samples
        assert ("triochat_refused_connections_total", (("reason", "server_full"),)) in samples
        assert ("triochat_auth_failures_total", (("target", "password"),)) in samples
        assert await _http_get(server, "/healthz") == ("HTTP/1.1 200 OK", "ok\n")

        code, answer = await _admin(short_tmp, "kick", "alice", "flooding")
        assert (code, answer) == (0, "kicked alice\n")
        assert "flooding" in (await alice.rest())[-1]
        await alice.aclose()
        assert (
            "alice left #lobby (kicked by the server: flooding)" in (await bob.until("alice"))[-1]
        )
        code, answer = await _admin(short_tmp, "kick", "alice")
        assert (code, answer) == (1, "error: nobody is called alice\n")
        await bob.aclose()
        _, body = await _http_get(server, "/metrics")
        assert 'triochat_disconnects_total{reason="removed"} 1.0' in body


async def test_sighup_changes_the_rate_limit_live(short_tmp: Path) -> None:
    config = _config(short_tmp, rate="1000", burst="1000")
    async with json_server(config) as server:
        client = await (await LineClient.open(server.port)).registered("alice")
        for i in range(3):
            await client.send(f"fast {i}")
        assert "fast 2" in (await client.until("fast 2"))[-1]  # no "slow down" before it

        config.write_text(
            config.read_text()
            .replace("rate = 1000", "rate = 0.01")
            .replace("burst = 1000", "burst = 1")
            .replace('metrics = "tcp://127.0.0.1:0"', 'metrics = "tcp://127.0.0.1:1"')
        )
        count = len(server.records)
        server.process.send_signal(signal.SIGHUP)
        reloaded = await server.record("reloaded", after=count)
        assert "rate 0.01, burst 1;" in reloaded["event"]
        assert "needs a restart: metrics tcp://127.0.0.1:1" in reloaded["event"]

        # The same connection, now over its one-line burst at 0.01 lines a second.
        await client.send("one")
        await client.send("two")
        assert "slow down" in (await client.until("slow down"))[-1]
        await client.aclose()
    assert "Traceback" not in server.log


async def test_a_bad_reload_changes_nothing(short_tmp: Path) -> None:
    config = _config(short_tmp)
    async with json_server(config) as server:
        config.write_text(config.read_text() + "rate = -3\n")
        server.process.send_signal(signal.SIGHUP)
        failed = await server.record("reload failed")
        assert failed["level"] == "error"
        assert "bad value for 'rate'" in failed["event"]
        code, answer = await _admin(short_tmp, "reload")
        assert code == 1
        assert answer.startswith("error: reload failed, nothing changed")
        code, _ = await _admin(short_tmp, "who")
        assert code == 0


async def test_admin_shutdown_stops_gracefully(short_tmp: Path) -> None:
    async with json_server(_config(short_tmp)) as server:
        client = await (await LineClient.open(server.port)).registered()
        assert await _admin(short_tmp, "shutdown", "1") == (0, "shutting down\n")
        assert (await client.rest())[-1] == "*** goodbye (server shutting down)"
        await client.aclose()
        with trio.fail_after(5):
            assert await server.process.wait() == 0
    assert not (short_tmp / "control.sock").exists()  # removed on the way out


async def test_admin_without_a_server_is_one_line_and_exit_1(short_tmp: Path) -> None:
    result = await trio.run_process(
        [*TRIOCHAT, "admin", "--control", str(short_tmp / "none.sock"), "who"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.decode().count("\n") == 1
    assert "cannot reach unix:" in result.stderr.decode()


def test_readiness_is_sent_to_systemd_once_listening(short_tmp: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(short_tmp / "notify"))
        notify.settimeout(10)
        config = short_tmp / "plain.toml"
        config.write_text('listen = ["tcp://127.0.0.1:0"]\n')
        env = {**os.environ, "NOTIFY_SOCKET": str(short_tmp / "notify")}
        with subprocess.Popen(
            [*TRIOCHAT, "serve", "--config", str(config)],
            env=env,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        ) as process:
            try:
                assert notify.recv(100) == b"READY=1"
                assert process.stderr is not None
                # "serving on" is printed before READY=1 is sent (after the "listening" line).
                assert any(b"serving on" in process.stderr.readline() for _ in range(3))
                process.send_signal(signal.SIGHUP)
                assert notify.recv(100) == b"RELOADING=1"
                assert notify.recv(100) == b"READY=1"
                process.send_signal(signal.SIGTERM)
                assert notify.recv(100) == b"STOPPING=1"
                assert process.wait(10) == 0
            finally:
                if process.poll() is None:
                    process.kill()  # our own child, by its PID


def test_commands_typed_at_the_servers_own_terminal(short_tmp: Path) -> None:
    config = short_tmp / "plain.toml"
    config.write_text('listen = ["tcp://127.0.0.1:0"]\n')
    main, terminal = pty.openpty()
    with subprocess.Popen(
        [*TRIOCHAT, "serve", "--config", str(config)],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
    ) as process:
        os.close(terminal)
        try:
            assert _read_until(main, b">> ").endswith(b">> ")
            os.write(main, b"stats\n")
            assert b"connections: 0" in _read_until(main, b">> ")
            os.write(main, b"fly\n")
            assert b"error: unknown command 'fly'" in _read_until(main, b">> ")
            os.write(main, b"quit\n")
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()  # our own child, by its PID
            os.close(main)


def _read_until(fd: int, end: bytes, timeout: float = 10) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(end):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {end!r} in {seen!r}"
        seen += os.read(fd, 4096)
    return seen
