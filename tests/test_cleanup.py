"""The test suite's own hygiene: a failing test's client sockets are closed by the fixture."""

from __future__ import annotations

import pytest
import trio

from tests.adversarial.helpers import open_raw
from tests.cleanup import sockets_closed_at_exit
from tests.conftest import LineClient, _open_fds
from triochat import ChatServer, ServerConfig


def test_sockets_of_a_failed_test_are_closed_when_it_ends() -> None:
    opened: list[trio.socket.SocketType] = []

    async def a_test_that_fails() -> None:
        async with trio.open_nursery() as nursery:
            server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
            port = server.addresses[0][1]
            opened.append((await LineClient.open(port)).socket)
            opened.append((await open_raw(port)).socket)
            raise RuntimeError("the test failed before closing its clients")

    before = _open_fds()
    with sockets_closed_at_exit():
        with pytest.RaisesGroup(RuntimeError):
            trio.run(a_test_that_fails)
        # The server has stopped, but nothing closed the clients: they are still open here...
        assert len(_open_fds() - before) == 2
    # ... and closed once the test is over, before the next one starts.
    assert _open_fds() - before == set()
    assert [sock.fileno() for sock in opened] == [-1, -1]
