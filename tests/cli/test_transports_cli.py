"""`triochat serve --listen ...` and its TLS flags as a user runs them: real processes, loopback."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.adversarial.helpers import serve_process
from tests.cli.test_cli import run
from tests.conftest import LineClient
from tests.transport_helpers import CertFiles, open_tls_stream


async def test_one_process_serves_tls_ipv6_unix_and_ipv4_in_one_room(
    certs: CertFiles, short_tmp: Path
) -> None:
    path = short_tmp / "chat.sock"
    async with serve_process(
        "--listen",
        "tls://127.0.0.1:0",
        "--listen",
        "tcp://[::1]:0",
        "--listen",
        f"unix:{path}",
        "--listen",
        "tcp://127.0.0.1:0",
        "--tls-cert",
        str(certs.cert),
        "--tls-key",
        str(certs.key),
        any_port=False,
    ) as server:
        tls, v6, unix, v4 = server.endpoints
        assert (tls.scheme, tls.host, v6.host, unix.path, v4.host) == (
            "tls",
            "127.0.0.1",
            "::1",
            str(path),
            "127.0.0.1",
        )
        assert path.stat().st_mode & 0o777 == 0o600
        clients = [
            await LineClient(await open_tls_stream(tls.port, certs)).registered("secure"),
            await (await LineClient.open(v6.port, "::1")).registered("six"),
            await (await LineClient.open_unix(path)).registered("local"),
            await (await LineClient.open(v4.port)).registered("four"),
        ]
        for speaker in clients:
            await speaker.send("/me waves")
        for client in clients:
            # Four connections: their lines may reach the room in any order, but all arrive.
            waved: set[str] = set()
            while len(waved) < len(clients):
                if match := re.search(r"\* (\w+) waves$", await client.line()):
                    waved.add(match[1])
            assert waved == {"secure", "six", "local", "four"}
        for client in clients:
            await client.aclose()
    assert server.process.returncode == 0  # stopped by SIGTERM, cleanly
    assert not path.exists()
    log = server.log
    assert "Traceback" not in log
    assert "connect unix:" + str(path) + " as guest-" in log
    assert re.search(r"connect \[::1\]:\d+ as guest-", log)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--listen", "127.0.0.1:9999"],
            "argument --listen: '127.0.0.1:9999' is not an endpoint URL",
        ),
        (["--listen", "tcp://::1:9999"], "an IPv6 address needs brackets: tcp://[::1]:9999"),
        (["--listen", "tcp://h:70000"], "port must be between 0 and 65535"),
        (["--listen", "udp://h:1"], "unknown scheme 'udp'"),
        (["--listen", "unix:"], "needs a socket path"),
        (["--listen", "tcp://127.0.0.1:0", "--port", "1"], "--listen replaces --host/--port"),
        (["--listen", "tcp://127.0.0.1:0", "--host", "::1"], "--listen replaces --host/--port"),
        (
            ["--listen", "tls://127.0.0.1:0"],
            "a tls:// endpoint needs --tls-cert FILE and --tls-key",
        ),
        (
            ["--listen", "ircs://127.0.0.1:0"],
            "an ircs:// endpoint needs --tls-cert FILE and --tls-key",
        ),
        (
            ["--tls-cert", "c.pem", "--tls-key", "k.pem"],
            "used by tls://, ircs:// and wss:// endpoints only",
        ),
        (["--listen", "tls://127.0.0.1:0", "--tls-cert", "c.pem"], "go together: give both"),
        (["--tls-handshake-timeout", "0"], "too small"),
    ],
)
def test_bad_listen_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run("serve", *args)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert lines[0].endswith("(see triochat serve --help)")


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "triochat serve: cannot read the TLS certificate {cert}: no such file"),
        ("mismatched", "triochat serve: the TLS certificate {cert} and the key {key} do not"),
    ],
)
def test_unusable_certificate_is_one_line_and_exit_1(
    certs: CertFiles, short_tmp: Path, problem: str, message: str
) -> None:
    cert, key = short_tmp / "cert.pem", short_tmp / "key.pem"
    if problem == "mismatched":
        cert.write_bytes(certs.cert.read_bytes())
        certs.ca.issue_cert("localhost").private_key_pem.write_to_path(str(key))
    path = short_tmp / "chat.sock"
    result = run(
        "serve",
        *("--listen", f"unix:{path}", "--listen", "tls://127.0.0.1:0"),
        *("--tls-cert", str(cert), "--tls-key", str(key)),
    )
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(message.format(cert=cert, key=key))
    assert not path.exists()


def test_second_endpoint_in_use_is_one_line_and_exit_1(short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    with socket.socket(socket.AF_INET6) as taken:
        taken.bind(("::1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--listen", f"unix:{path}", "--listen", f"tcp://[::1]:{port}")
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"triochat serve: cannot listen on [::1]:{port}: address already in use "
        "(is another server running?)"
    ]
    assert not path.exists()  # the first endpoint was closed again


def test_help_lists_the_transport_flags() -> None:
    text = run("serve", "--help").stdout.decode()
    for flag in ("--listen URL", "--tls-cert FILE", "--tls-key FILE", "--tls-handshake-timeout"):
        assert flag in text
    assert "(default: 127.0.0.1)" in text
    assert "(default: 10.0)" in text
