"""Sockets that the shared helpers open are closed when the test ends, whether it passed or not.

A test that fails half-way never reaches its ``aclose()`` calls, and the traceback pytest keeps
holds its clients alive: their sockets would be closed by the garbage collector during some
later test, which the fd-leak fixture (``no_leaked_sockets`` in conftest.py) or a
``ResourceWarning`` would then blame. So every helper that opens a socket (``LineClient.open``,
``open_raw``, ``open_tls_stream``) registers it here, and the fixture closes what is still open
once it has checked for leaks: the test that leaked is the one blamed, and only it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import trio

# Where the sockets opened during the current test are registered; None outside a test.
_open_during_test: contextlib.ExitStack | None = None


def close_at_test_end(sock: trio.socket.SocketType) -> None:
    """Have *sock* closed when the current test ends (if it is still open by then)."""
    if _open_during_test is not None:
        _open_during_test.callback(_close_outside_trio, sock)


def _close_outside_trio(sock: trio.socket.SocketType) -> None:
    # The fixture runs after trio.run has returned, where a trio socket's close() cannot
    # notify the (finished) run. detach() hands over the descriptor without that, and gives -1
    # for a socket closed already, whose number may belong to somebody else by now.
    fd = sock.detach()
    if fd >= 0:
        os.close(fd)


@contextlib.contextmanager
def sockets_closed_at_exit() -> Iterator[None]:
    """Collect the sockets that helpers open inside the block; close them on the way out."""
    global _open_during_test
    outer = _open_during_test
    with contextlib.ExitStack() as stack:
        _open_during_test = stack
        try:
            yield
        finally:
            _open_during_test = outer
