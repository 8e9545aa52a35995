"""The accept loop of one listener, which outlives running out of file descriptors.

``trio.serve_listeners`` logs EMFILE with a traceback and retries every 100 ms; an operator
should rather see one warning line every few seconds, and one when accepting works again.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Final

import trio

from ..drivers._addresses import address_key, format_address
from ..drivers._listeners import Listening

__all__ = ["accept_forever", "peer_of"]

log = logging.getLogger("triochat.server")

# accept() errors that mean "out of some resource for now": wait and try again, the way
# trio.serve_listeners does, but with one warning line instead of a traceback every 100 ms.
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_DELAY: Final = 0.1
_RESOURCE_WARNING_INTERVAL: Final = 10.0


async def accept_forever(
    listening: Listening, admit: Callable[[trio.SocketStream, Listening], None]
) -> None:
    """Accept clients of *listening* and hand each to *admit* (which must not block), until
    cancelled; the listener is closed when this ends.

    Error handling: running out of file descriptors, buffers or memory is waited out (with a
    warning line at most every 10 seconds); any other :exc:`OSError` of ``accept`` is raised.
    """
    last_warning = -_RESOURCE_WARNING_INTERVAL
    failing_since: float | None = None
    failures = 0
    listener = listening.listener
    try:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                now = trio.current_time()
                failures += 1
                if failing_since is None:
                    failing_since = now
                if now - last_warning >= _RESOURCE_WARNING_INTERVAL:
                    last_warning = now
                    log.warning(
                        "cannot accept connections: %s; retrying every %g s",
                        exc.strerror,
                        _ACCEPT_RETRY_DELAY,
                    )
                await trio.sleep(_ACCEPT_RETRY_DELAY)
                continue
            if failing_since is not None:
                log.warning(
                    "accepting connections again after %.1f s (%d failed attempts)",
                    trio.current_time() - failing_since,
                    failures,
                )
                failing_since, failures = None, 0
            admit(stream, listening)
    finally:
        # Stop listening now, not when the last client is gone: the port is free again
        # and the Unix socket file disappears as soon as we stop accepting.
        listening.close()


def peer_of(stream: trio.SocketStream, listening: Listening) -> tuple[str, str | None] | None:
    """How to name a client in logs, and the IP address it is counted under (``None`` for a
    Unix socket client: local, not counted); ``None`` if it was reset before we could ask."""
    if listening.endpoint.is_unix:
        return listening.unix_peer, None
    try:
        address = stream.socket.getpeername()
    except OSError:
        return None
    return format_address(address), address_key(address)
