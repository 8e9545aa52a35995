"""Certificates and raw clients for the transport tests: trustme CAs, TLS, IPv6, Unix sockets."""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs
import trio
import trustme

from tests.cleanup import close_at_test_end


@attrs.frozen
class CertFiles:
    """A CA and a server certificate for 127.0.0.1, ::1 and localhost, as PEM files."""

    ca: trustme.CA
    cafile: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


def make_cert_files(directory: Path) -> CertFiles:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "::1", "localhost")
    files = CertFiles(ca, directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.cafile))
    leaf.cert_chain_pems[0].write_to_path(str(files.cert))
    leaf.private_key_pem.write_to_path(str(files.key))
    return files


async def open_tls_stream(
    port: int, certs: CertFiles, host: str = "127.0.0.1"
) -> trio.SSLStream[trio.SocketStream]:
    stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=certs.client_context())
    close_at_test_end(stream.transport_stream.socket)
    await stream.do_handshake()
    return stream
