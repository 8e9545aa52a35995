"""Endpoint URLs: the sans-IO parser and formatter behind --listen and --server."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat import Endpoint, parse_endpoint
from triochat.drivers._endpoints import DEFAULT_PORT, MAX_UNIX_PATH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tcp://127.0.0.1:9999", Endpoint(scheme="tcp", host="127.0.0.1", port=9999)),
        ("tcp://[::1]:9999", Endpoint(scheme="tcp", host="::1", port=9999)),
        ("tcp://0.0.0.0:9999", Endpoint(scheme="tcp", host="0.0.0.0", port=9999)),
        ("tcp://[::]:9999", Endpoint(scheme="tcp", host="::", port=9999)),
        ("tcp://:0", Endpoint(scheme="tcp", host="", port=0)),
        ("tls://chat.example.org:6697", Endpoint.tcp("chat.example.org", 6697, tls=True)),
        ("TLS://[fe80::1%eth0]:1", Endpoint(scheme="tls", host="fe80::1%eth0", port=1)),
        ("tcp://localhost", Endpoint(scheme="tcp", host="localhost", port=DEFAULT_PORT)),
        ("tcp://chat_server:1", Endpoint(scheme="tcp", host="chat_server", port=1)),
        ("tcp://[::1]", Endpoint(scheme="tcp", host="::1", port=DEFAULT_PORT)),
        ("unix:/run/triochat.sock", Endpoint.unix("/run/triochat.sock")),
        ("unix:///run/triochat.sock", Endpoint.unix("/run/triochat.sock")),
        ("unix:chat.sock", Endpoint.unix("chat.sock")),
        ("unix:/tmp/with space.sock", Endpoint.unix("/tmp/with space.sock")),
    ],
)
def test_parse_valid(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:9999", "is not an endpoint URL: expected tcp://HOST:PORT"),
        ("localhost", "is not an endpoint URL"),
        ("", "is not an endpoint URL"),
        ("tcp:127.0.0.1:1", "is not an endpoint URL"),
        ("udp://127.0.0.1:1", "unknown scheme 'udp'"),
        ("tcp://::1:9999", "an IPv6 address needs brackets: tcp://[::1]:9999"),
        ("tcp://[::1:9999", "missing ']'"),
        ("tcp://[127.0.0.1]:1", "brackets are only for IPv6"),
        ("tcp://[::1]9999", "expected ':PORT' after ']'"),
        ("tcp://[::g]:1", "'::g' is not a valid IPv6 address"),
        ("tcp://256.0.0.1:1", "'256.0.0.1' is not a valid IPv4 address"),
        ("tcp://1.2.3:1", "'1.2.3' is not a valid IPv4 address"),
        ("tcp://two words:1", "is not a valid host name"),
        ("tcp://caf\u00e9:1", "is not a valid host name"),
        ("tcp://-dash:1", "is not a valid host name"),
        ("tcp://a..b:1", "is not a valid host name"),
        ("tcp://h:", "'' is not a port number"),
        ("tcp://h:+1", "'+1' is not a port number"),
        ("tcp://h: 1", "' 1' is not a port number"),
        ("tcp://h:65536", "port must be between 0 and 65535, not 65536"),
        ("tcp://h:1/", "only HOST:PORT, with nothing after it"),
        ("tcp://user@h:1", "only HOST:PORT"),
        ("unix:", "needs a socket path"),
        ("unix://relative.sock", "write unix:PATH"),
        ("unix:/tmp/a\nb", "contains a control character"),
        ("unix:/" + "x" * MAX_UNIX_PATH, "the socket path is too long"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_endpoint(text)
    assert "\n" not in str(caught.value)  # one line, fit for a CLI error (repr escapes newlines)


def test_endpoint_checks_its_own_consistency() -> None:
    with pytest.raises(ValueError, match="has a path, not a host"):
        Endpoint(scheme="unix", host="h", path="/x")
    with pytest.raises(ValueError, match="not a path"):
        Endpoint(scheme="tcp", host="h", path="/x")
    with pytest.raises(ValueError, match="unknown scheme"):
        Endpoint(scheme="udp", host="h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port must be between"):
        Endpoint.tcp("h", -1)


@pytest.mark.parametrize(
    ("endpoint", "address"),
    [
        (Endpoint.tcp("127.0.0.1", 9999), "127.0.0.1:9999"),
        (Endpoint.tcp("::1", 9999), "[::1]:9999"),
        (Endpoint.tcp("", 9999), "*:9999"),
        (Endpoint.tcp("0.0.0.0", 6697, tls=True), "tls://0.0.0.0:6697"),
        (Endpoint.unix("/run/x.sock"), "unix:/run/x.sock"),
    ],
)
def test_address_is_how_logs_show_it(endpoint: Endpoint, address: str) -> None:
    assert endpoint.address == address


_labels = st.from_regex(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,10}[A-Za-z0-9_])?", fullmatch=True)
_host_names = (
    st.lists(_labels, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda name: not all(c in string.digits + "." for c in name))
)
_hosts = st.one_of(
    st.just(""),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    _host_names,
)
_path_characters = st.characters(
    blacklist_categories=("Cs", "Cc"),
    blacklist_characters="\x7f",
)
_paths = (
    st.text(_path_characters, min_size=1, max_size=40)
    .filter(lambda path: not path.startswith("//"))
    .filter(lambda path: len(path.encode()) <= MAX_UNIX_PATH)
)
_endpoints = st.one_of(
    st.builds(
        Endpoint.tcp,
        _hosts,
        st.integers(min_value=0, max_value=65535),
        tls=st.booleans(),
    ),
    st.builds(Endpoint.unix, _paths),
)


@given(_endpoints)
def test_format_then_parse_round_trips(endpoint: Endpoint) -> None:
    assert parse_endpoint(str(endpoint)) == endpoint


@given(st.text(max_size=60))
def test_parse_either_returns_an_endpoint_or_raises_value_error(text: str) -> None:
    try:
        endpoint = parse_endpoint(text)
    except ValueError:
        return
    assert parse_endpoint(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    ("url", "scheme", "port", "tls"),
    [
        ("irc://127.0.0.1", "irc", 6667, False),
        ("ircs://127.0.0.1", "ircs", 6697, True),
        ("IRC://[::1]:7000", "irc", 7000, False),
    ],
)
def test_irc_endpoints_have_their_own_default_ports(
    url: str, scheme: str, port: int, tls: bool
) -> None:
    endpoint = parse_endpoint(url)
    assert (endpoint.scheme, endpoint.port, endpoint.is_tls) == (scheme, port, tls)
    assert endpoint.protocol == "irc"
    assert parse_endpoint(str(endpoint)) == endpoint
    assert endpoint.address.startswith(f"{scheme}://")
