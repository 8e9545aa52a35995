"""The server's transports: several endpoints at once, TLS, IPv6 (dual-stack) and Unix sockets."""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import stat
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.conftest import LineClient, eventually
from tests.transport_helpers import CertFiles, open_tls_stream
from triochat import ChatServer, ListenFailed, ServerConfig, TLSConfigError
from triochat.drivers._addresses import format_address
from triochat.drivers._listeners import UNIX_SOCKET_MODE, _needs_dual_stack
from triochat.drivers._tls import server_ssl_context


def tls_config(certs: CertFiles, *listen: str, **options: object) -> ServerConfig:
    return ServerConfig(
        listen=listen,
        tls_cert=str(certs.cert),
        tls_key=str(certs.key),
        **options,  # type: ignore[arg-type]
    )


async def test_four_transports_chat_in_one_room_of_one_server(
    nursery: trio.Nursery, certs: CertFiles, short_tmp: Path
) -> None:
    path = short_tmp / "chat.sock"
    config = tls_config(
        certs, "tcp://127.0.0.1:0", "tcp://[::1]:0", "tls://127.0.0.1:0", f"unix:{path}"
    )
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    v4, v6, tls, unix = server.endpoints
    assert [e.scheme for e in server.endpoints] == ["tcp", "tcp", "tls", "unix"]
    assert (v4.host, v6.host, tls.host, unix.path) == ("127.0.0.1", "::1", "127.0.0.1", str(path))
    assert server.addresses[3] == str(path)
    clients = {
        "four": await LineClient.open(v4.port, "127.0.0.1"),
        "six": await LineClient.open(v6.port, "::1"),
        "secure": LineClient(await open_tls_stream(tls.port, certs)),
        "local": await LineClient.open_unix(path),
    }
    for nick, client in clients.items():
        await client.registered(nick)
    for nick, client in clients.items():
        await client.send(f"hello from {nick}")
        for other in clients.values():
            assert (await other.until(f"hello from {nick}"))[-1].endswith(
                f"<{nick}> hello from {nick}"
            )
    await clients["local"].send("/who")
    who = (await clients["local"].until(" in #lobby:"))[-1]
    assert who.startswith("*** 4 in #lobby: ")
    assert sorted(who.split(": ", 1)[1].split(", ")) == ["four", "local", "secure", "six"]
    for client in clients.values():
        await client.aclose()


async def test_tls_client_gets_goodbye_and_a_clean_close(
    nursery: trio.Nursery, certs: CertFiles
) -> None:
    server: ChatServer = await nursery.start(
        ChatServer(config=tls_config(certs, "tls://127.0.0.1:0")).serve
    )
    stream = await open_tls_stream(server.endpoints[0].port, certs)
    client = await LineClient(stream).registered("polite")
    await client.send("/quit")
    # rest() reads to EOF: a close without close_notify would raise BrokenResourceError here.
    assert (await client.rest())[-1] == "*** goodbye (quit)"
    await client.aclose()
    assert server.tls_context().minimum_version == ssl.TLSVersion.TLSv1_2


async def test_plain_text_to_a_tls_port_is_told_and_disconnected(
    nursery: trio.Nursery, certs: CertFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    server: ChatServer = await nursery.start(
        ChatServer(config=tls_config(certs, "tls://127.0.0.1:0")).serve
    )
    port = server.endpoints[0].port
    plain = await LineClient.open(port)
    await plain.send("/nick mallory")
    assert await plain.rest() == [
        "*** error: this port speaks TLS; connect with TLS (triochat connect --tls)"
    ]
    await plain.aclose()
    # The server goes on serving TLS clients.
    good = await LineClient(await open_tls_stream(port, certs)).registered("after")
    await good.send("still here")
    await good.until("still here")
    await good.aclose()
    assert server.statistics().handshake_failures == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "triochat.server"]
    assert any(
        m.startswith("TLS handshake with 127.0.0.1:")
        and m.endswith("failed: not TLS (wrong version number); disconnected")
        for m in messages
    ), messages
    assert not any(r.exc_info for r in caplog.records)


async def test_stalled_handshake_times_out_and_holds_no_slot(
    certs: CertFiles, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    config = tls_config(certs, "tls://127.0.0.1:0", tls_handshake_timeout=7, max_clients=1)
    server = ChatServer(config=config)
    silent, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: server.handle_stream(server_end, "silent-peer", tls=True))
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().handshaking == 1
        # While it stalls it counts towards max_clients: one more is refused.
        other, other_server_end = trio.testing.memory_stream_pair()
        await server.handle_stream(other_server_end, "second", tls=False)
        assert b"server full" in await other.receive_some()
        start = trio.current_time()
        with trio.fail_after(60):
            # The server sends nothing and closes after the timeout: EOF for the silent client.
            assert await silent.receive_some() == b""
        assert trio.current_time() - start == pytest.approx(7, abs=0.01)
    stats = server.statistics()
    assert (stats.handshaking, stats.handshake_failures, stats.members) == (0, 1, 0)
    assert "TLS handshake with silent-peer timed out after 7 s; disconnected" in caplog.messages
    await silent.aclose()
    await other.aclose()


async def test_stalled_handshake_on_a_real_socket(nursery: trio.Nursery, certs: CertFiles) -> None:
    config = tls_config(certs, "tls://127.0.0.1:0", tls_handshake_timeout=0.2)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    silent = await LineClient.open(server.endpoints[0].port)
    assert await silent.rest() == []  # closed by the server, well within WAIT
    await silent.aclose()
    await eventually(lambda: server.statistics().handshake_failures == 1)


async def test_unix_socket_file_is_private_and_removed_on_exit(short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(
            ChatServer(config=ServerConfig(listen=[f"unix:{path}"])).serve
        )
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == UNIX_SOCKET_MODE == 0o600
        client = await (await LineClient.open_unix(path)).registered()
        nursery.cancel_scope.cancel()  # a hard stop, not a graceful one
    assert not path.exists()
    await client.rest()
    await client.aclose()
    assert server.addresses == [str(path)]


async def test_unix_socket_file_is_removed_on_graceful_shutdown(short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(
            ChatServer(config=ServerConfig(listen=[f"unix:{path}"])).serve
        )
        client = await (await LineClient.open_unix(path)).registered()
        await server.shutdown()
        assert not path.exists()
    assert (await client.rest())[-1] == "*** goodbye (server shutting down)"
    await client.aclose()


async def test_stale_unix_socket_file_is_replaced(
    nursery: trio.Nursery, short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    path = short_tmp / "chat.sock"
    with socket.socket(socket.AF_UNIX) as crashed:  # bound, then gone without unlinking
        crashed.bind(str(path))
    assert path.exists()
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(listen=[f"unix:{path}"])).serve
    )
    assert f"removed the stale socket file {path} (left by a server that stopped)" in (
        caplog.messages
    )
    client = await (await LineClient.open_unix(path)).registered("revived")
    await client.aclose()
    assert server.endpoints[0].path == str(path)


async def test_live_unix_socket_is_address_in_use(nursery: trio.Nursery, short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    config = ServerConfig(listen=[f"unix:{path}"])
    await nursery.start(ChatServer(config=config).serve)
    with pytest.raises(ListenFailed) as caught:
        await ChatServer(config=config).serve()
    assert caught.value.errno == errno.EADDRINUSE
    assert str(caught.value) == f"cannot listen on unix:{path}: Address already in use"
    # The first server's socket is untouched and still serves.
    client = await (await LineClient.open_unix(path)).registered("first")
    await client.aclose()


async def test_a_file_that_is_not_a_socket_is_never_removed(short_tmp: Path) -> None:
    path = short_tmp / "precious.txt"
    path.write_text("keep me")
    with pytest.raises(ListenFailed, match="exists and is not a socket"):
        await ChatServer(config=ServerConfig(listen=[f"unix:{path}"])).serve()
    assert path.read_text() == "keep me"


async def test_one_failing_endpoint_closes_the_others(short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listen = ["tcp://127.0.0.1:0", f"unix:{path}", f"tcp://127.0.0.1:{port}"]
        with pytest.raises(ListenFailed) as caught:
            await ChatServer(config=ServerConfig(listen=listen)).serve()
    assert caught.value.endpoint.port == port
    assert caught.value.errno == errno.EADDRINUSE
    assert not path.exists()  # the Unix listener opened before the failure was cleaned up
    # (and the autouse fixture checks that no socket was left open)


async def test_ipv4_client_of_a_dual_stack_socket_is_named_by_its_ipv4_address(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triochat")
    # The IPv6 wildcard gets IPV6_V6ONLY cleared; tests stay on loopback, so the same code path
    # is exercised with the IPv4-mapped loopback address, which needs it cleared too.
    config = ServerConfig(listen=["tcp://[::ffff:127.0.0.1]:0"])
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    client = await (await LineClient.open(server.endpoints[0].port, "127.0.0.1")).registered("v4")
    member = server.hub.member("v4")
    assert member is not None
    assert member.address == "127.0.0.1"  # the key of address bans and per-address limits
    await client.aclose()
    assert any(m.startswith("connect 127.0.0.1:") for m in caplog.messages), caplog.messages


async def test_unix_clients_share_one_address(nursery: trio.Nursery, short_tmp: Path) -> None:
    path = short_tmp / "chat.sock"
    server: ChatServer = await nursery.start(
        ChatServer(config=ServerConfig(listen=[f"unix:{path}"])).serve
    )
    clients = [await (await LineClient.open_unix(path)).registered(f"u{i}") for i in range(2)]
    addresses = {member.address for member in map(server.hub.member, ["u0", "u1"]) if member}
    assert addresses == {f"unix:{path}"}
    for client in clients:
        await client.aclose()


@pytest.mark.parametrize(
    ("host", "dual"),
    [
        ("::", True),
        ("0::0", True),
        ("::ffff:127.0.0.1", True),
        ("::1", False),
        ("0.0.0.0", False),
        ("", False),
        ("localhost", False),
    ],
)
def test_which_endpoints_are_dual_stack(host: str, dual: bool) -> None:
    assert _needs_dual_stack(host) is dual


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (("127.0.0.1", 5), "127.0.0.1:5"),
        (("::1", 5, 0, 0), "[::1]:5"),
        (("::ffff:10.1.2.3", 5, 0, 0), "10.1.2.3:5"),
        (("2001:db8::ffff:1", 5, 0, 0), "[2001:db8::ffff:1]:5"),
        ("/run/x.sock", "/run/x.sock"),
    ],
)
def test_format_address(address: object, text: str) -> None:
    assert format_address(address) == text


# ------------------------------------------------------------------------ TLS configuration


def test_config_refuses_a_tls_endpoint_without_a_certificate() -> None:
    with pytest.raises(ValueError, match=r"tls://127\.0\.0\.1:0 needs a certificate"):
        ServerConfig(listen=["tls://127.0.0.1:0"])
    with pytest.raises(ValueError, match="give both or neither"):
        ServerConfig(listen=["tls://127.0.0.1:0"], tls_cert="cert.pem")


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing cert", "cannot read the TLS certificate {cert}: no such file or directory"),
        ("directory key", "cannot read the TLS key {key}: is a directory"),
        ("garbage cert", "the TLS certificate {cert} is not a PEM certificate"),
        ("garbage key", "the TLS key {key} is not a PEM private key"),
        ("other key", "the TLS certificate {cert} and the key {key} do not belong together"),
        ("encrypted key", "the TLS key {key} is encrypted with a passphrase"),
    ],
)
async def test_unusable_certificate_files_fail_before_listening(
    certs: CertFiles, short_tmp: Path, problem: str, message: str
) -> None:
    cert, key = short_tmp / "cert.pem", short_tmp / "key.pem"
    cert.write_bytes(certs.cert.read_bytes())
    key.write_bytes(certs.key.read_bytes())
    if problem == "missing cert":
        cert.unlink()
    elif problem == "directory key":
        key.unlink()
        key.mkdir()
    elif problem == "garbage cert":
        cert.write_text("hello\n")
    elif problem == "garbage key":
        key.write_text("hello\n")
    elif problem == "other key":
        certs.ca.issue_cert("localhost").private_key_pem.write_to_path(str(key))
    elif problem == "encrypted key":
        key.write_text(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
    path = short_tmp / "chat.sock"
    config = ServerConfig(
        listen=[f"unix:{path}", "tls://127.0.0.1:0"], tls_cert=str(cert), tls_key=str(key)
    )
    with pytest.raises(TLSConfigError) as caught:
        await ChatServer(config=config).serve()
    assert str(caught.value).startswith(message.format(cert=cert, key=key))
    assert not path.exists()  # nothing was listening, not even for a moment


def test_server_context_is_tls_1_2_or_newer(certs: CertFiles) -> None:
    context = server_ssl_context(certs.cert, certs.key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
