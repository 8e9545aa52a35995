"""The client over every transport: the library's connect() and `triochat connect --server`."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
import trio
import trustme

from tests.adversarial.helpers import TRIOCHAT
from tests.conftest import WAIT, eventually
from tests.transport_helpers import CertFiles
from triochat import (
    CertificateVerificationFailed,
    ChatConnection,
    ChatServer,
    ConnectionFailed,
    ServerConfig,
    TLSConfigError,
    connect,
)
from triochat.cli._connect import INSECURE_WARNING


async def until(chat: ChatConnection, needle: str) -> list[str]:
    """Lines from *chat* up to and including the first that contains *needle*."""
    seen: list[str] = []
    with trio.fail_after(WAIT):
        async for line in chat:
            seen.append(line)
            if needle in line:
                return seen
    raise AssertionError(f"connection ended before {needle!r}: {seen}")


async def start_server(nursery: trio.Nursery, certs: CertFiles, *listen: str) -> ChatServer:
    config = ServerConfig(listen=listen, tls_cert=str(certs.cert), tls_key=str(certs.key))
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    return server


async def test_tls_ipv6_unix_and_ipv4_clients_chat_in_one_room_of_one_server(
    nursery: trio.Nursery, certs: CertFiles, short_tmp: Path
) -> None:
    """The issue's "done when": four transports, one server, one room, the real client."""
    path = short_tmp / "chat.sock"
    server = await start_server(
        nursery, certs, "tls://127.0.0.1:0", "tcp://[::1]:0", f"unix:{path}", "tcp://127.0.0.1:0"
    )
    tls, v6, unix, v4 = server.endpoints
    async with (
        # Verified: the certificate chains to the CA given, and names 127.0.0.1.
        connect(url=str(tls), cafile=certs.cafile, nick="secure") as secure,
        connect(url=f"tcp://[::1]:{v6.port}", nick="six") as six,
        connect(url=str(unix), nick="local") as local,
        connect("127.0.0.1", v4.port, nick="four") as four,  # the original signature
    ):
        chats = {"secure": secure, "six": six, "local": local, "four": four}
        for nick, chat in chats.items():
            await until(chat, f"is now known as {nick}")
        for nick, chat in chats.items():
            await chat.send(f"hello from {nick}")
            for other in chats.values():
                line = (await until(other, f"hello from {nick}"))[-1]
                assert line.endswith(f"<{nick}> hello from {nick}")
        await four.send("/who")
        who = (await until(four, " in #lobby:"))[-1]
        assert sorted(who.split(": ", 1)[1].split(", ")) == ["four", "local", "secure", "six"]
        assert server.statistics().members == 4


async def test_tls_connection_says_goodbye_with_close_notify_both_ways(
    nursery: trio.Nursery, certs: CertFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    server = await start_server(nursery, certs, "tls://127.0.0.1:0")
    async with connect(url=str(server.endpoints[0]), cafile=certs.cafile, nick="leaver") as chat:
        await chat.quit()
        lines = [line async for line in chat]
        assert lines[-1] == "*** goodbye (quit)"
        assert chat.closed_reason is None  # the server's close_notify: a clean end, not a cut
    async with connect(url=str(server.endpoints[0]), cafile=certs.cafile, nick="silent") as chat:
        await until(chat, "is now known as silent")
    # Leaving the block without /quit: our close_notify tells the server we left on purpose.
    await eventually(
        lambda: any("(silent): client closed the connection" in m for m in caplog.messages)
    )


async def test_untrusted_certificate_is_refused_with_a_clear_error(
    nursery: trio.Nursery, certs: CertFiles, short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    server = await start_server(nursery, certs, "tls://127.0.0.1:0")
    url = str(server.endpoints[0])
    stranger = short_tmp / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    for cafile in (None, stranger):  # the system's store, and a CA that did not sign it
        with pytest.raises(CertificateVerificationFailed) as caught:
            async with connect(url=url, cafile=cafile):
                pytest.fail("connected to an unverified server")
        assert str(caught.value) == (
            f"cannot connect to {server.endpoints[0].address}: TLS certificate verification "
            "failed: unable to get local issuer certificate"
        )
        assert isinstance(caught.value, ConnectionFailed)
    # The server cannot know why the client hung up, but it says what is most likely.
    await eventually(lambda: server.statistics().handshake_failures == 2)
    assert any(
        m.endswith(
            "failed: the client closed the connection (does it trust the certificate?); "
            "disconnected"
        )
        for m in caplog.messages
    ), caplog.messages
    # insecure=True does connect (and is for testing only).
    async with connect(url=url, insecure=True, nick="tester") as chat:
        await until(chat, "is now known as tester")


async def test_certificate_must_name_the_host(nursery: trio.Nursery, short_tmp: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("chat.example.org")
    cert, key, cafile = short_tmp / "cert.pem", short_tmp / "key.pem", short_tmp / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(cafile))
    config = ServerConfig(listen=["tls://127.0.0.1:0"], tls_cert=cert, tls_key=key)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    with pytest.raises(CertificateVerificationFailed, match="IP address mismatch"):
        async with connect("127.0.0.1", server.endpoints[0].port, tls=True, cafile=cafile):
            pytest.fail("connected to a server whose certificate names another host")


async def test_tls_client_to_a_plain_port_fails_cleanly(
    nursery: trio.Nursery, certs: CertFiles
) -> None:
    server = await start_server(nursery, certs, "tcp://127.0.0.1:0")
    port = server.endpoints[0].port
    with pytest.raises(ConnectionFailed, match=r"TLS handshake failed: ") as caught:
        async with connect("127.0.0.1", port, tls=True, cafile=certs.cafile):
            pytest.fail("a plain server cannot do TLS")
    assert not isinstance(caught.value, CertificateVerificationFailed)
    assert str(caught.value).startswith(f"cannot connect to tls://127.0.0.1:{port}: ")


async def test_unix_socket_that_is_not_there(short_tmp: Path) -> None:
    path = short_tmp / "nobody.sock"
    with pytest.raises(ConnectionFailed) as caught:
        async with connect(url=f"unix:{path}"):
            pytest.fail("connected to nothing")
    assert str(caught.value) == f"cannot connect to unix:{path}: no such file or directory"
    assert (caught.value.host, caught.value.port) == (str(path), 0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"url": "tcp://127.0.0.1:1", "host": "127.0.0.1"}, "either url or host and port"),
        ({"url": "tcp://127.0.0.1:1", "tls": True}, "write tls://HOST:PORT"),
        ({"url": "unix:/tmp/x.sock", "tls": True}, "write tls://HOST:PORT"),
        (
            {"url": "tcp://127.0.0.1:1", "cafile": "ca.pem"},
            "cafile, insecure and ssl_context are for TLS",
        ),
        ({"port": 1, "insecure": True}, "are for TLS"),
        ({"port": 1, "tls": True, "insecure": True, "cafile": "x"}, "contradict each other"),
        ({"url": "tcp://:1"}, "needs a host"),
        ({"url": "tcp://127.0.0.1:0"}, "port cannot be 0"),
        ({"url": "tcp://::1:9999"}, "an IPv6 address needs brackets"),
    ],
)
async def test_contradictory_arguments_are_refused_before_connecting(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        async with connect(**arguments):  # type: ignore[arg-type]
            pytest.fail("should not connect")


async def test_unusable_ca_file_is_a_tls_config_error(short_tmp: Path) -> None:
    with pytest.raises(TLSConfigError, match=r"cannot read the CA file .*: no such file"):
        async with connect(port=1, tls=True, cafile=short_tmp / "missing.pem"):
            pytest.fail("should not connect")
    (short_tmp / "empty.pem").write_text("")
    with pytest.raises(TLSConfigError, match="holds no PEM certificate"):
        async with connect(port=1, tls=True, cafile=short_tmp / "empty.pem"):
            pytest.fail("should not connect")


# ------------------------------------------------------------------- triochat connect --server


async def run_connect(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(20):
        return await trio.run_process(
            [*TRIOCHAT, "connect", *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_cli_over_verified_tls_and_over_a_unix_socket(
    nursery: trio.Nursery, certs: CertFiles, short_tmp: Path
) -> None:
    path = short_tmp / "chat.sock"
    server = await start_server(nursery, certs, "tls://127.0.0.1:0", f"unix:{path}")
    for args in (
        ["--server", str(server.endpoints[0]), "--cafile", str(certs.cafile)],
        [
            "--host",
            "127.0.0.1",
            "--port",
            str(server.endpoints[0].port),
            "--tls",
            "--cafile",
            str(certs.cafile),
        ],
        ["--server", f"unix:{path}"],
    ):
        result = await run_connect(*args, "--nick", "piper", stdin=b"hi there\n")
        assert result.returncode == 0, result.stderr
        assert result.stderr == b""
        out = result.stdout.decode()
        assert "<piper> hi there" in out
        assert out.rstrip("\n").endswith("*** goodbye (quit)")


async def test_cli_untrusted_certificate_is_one_line_and_exit_1(
    nursery: trio.Nursery, certs: CertFiles
) -> None:
    server = await start_server(nursery, certs, "tls://127.0.0.1:0")
    result = await run_connect("--server", str(server.endpoints[0]), stdin=b"hi\n")
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"triochat: cannot connect to {server.endpoints[0].address}: TLS certificate "
        "verification failed: unable to get local issuer certificate "
        "(use --cafile FILE for a private CA)"
    ]


async def test_cli_insecure_warns_every_time(nursery: trio.Nursery, certs: CertFiles) -> None:
    server = await start_server(nursery, certs, "tls://127.0.0.1:0")
    for _ in range(2):
        result = await run_connect(
            "--server", str(server.endpoints[0]), "--insecure", stdin=b"unverified\n"
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.decode().splitlines() == [f"triochat: {INSECURE_WARNING}"]
        assert "unverified" in result.stdout.decode()
    assert INSECURE_WARNING == (
        "WARNING: --insecure: the server's certificate is not verified; anyone on the network "
        "path can read and change this conversation"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "tcp://127.0.0.1:1", "--port", "2"], "--server replaces --host and --port"),
        (["--server", "tcp://127.0.0.1:1", "--tls"], "with --server, write tls://HOST:PORT"),
        (["--cafile", "ca.pem"], "--cafile and --insecure are for TLS"),
        (["--server", "unix:/tmp/x.sock", "--insecure"], "are for TLS"),
        (["--tls", "--cafile", "ca.pem", "--insecure"], "contradict each other"),
        (["--server", "tcp://127.0.0.1:0"], "a server's port cannot be 0"),
        (["--server", "127.0.0.1:9999"], "argument --server: '127.0.0.1:9999' is not an endpoint"),
    ],
)
async def test_cli_bad_transport_flags_are_one_line_and_exit_2(
    args: list[str], message: str
) -> None:
    result = await run_connect(*args)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]
