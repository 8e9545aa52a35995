"""The web chat's I/O: read one HTTP request, answer it, and hand a WebSocket on as a chat stream.

The decisions (which page, which origin, the handshake) are sans-IO, in
:mod:`triochat.protocols.web`; here are only the reads and writes, each under a deadline. A
WebSocket that comes out of it is served by the same :class:`~triochat.drivers._connection.
Connection` as every TCP client, with the WebSocket codec: a plain socket stays a plain socket,
so browsers get the flusher's eager writes and the same idle cost as ``nc`` users.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
from typing import TYPE_CHECKING, Final

import trio

from ..protocols.web import BadRequest, Page, RequestReader, WebSocketCodec, answer, response
from ..protocols.web._http import MAX_REQUEST_HEAD, WebRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["load_page", "refuse_web", "web_front_door"]

log = logging.getLogger("triochat.web")

#: Seconds to spend sending a response (the page is small; a client that takes longer is gone).
_SEND_TIMEOUT: Final = 10.0
#: Seconds a refused client gets to finish sending its request before it is told why.
_REFUSAL_READ_TIMEOUT: Final = 1.0


def load_page() -> Page:
    """The web chat page from the package data (blocking: call it in a worker thread)."""
    html = importlib.resources.files("triochat.web").joinpath("index.html").read_bytes()
    return Page.from_html(html)


async def _read_request(
    stream: trio.abc.Stream, reader: RequestReader
) -> WebRequest | BadRequest | None:
    """The request, a :exc:`BadRequest`, or ``None`` if the client went away."""
    try:
        while True:
            request = reader.feed(bytes(await stream.receive_some(MAX_REQUEST_HEAD)))
            if request is not None:
                return request
    except BadRequest as exc:
        return exc
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return None


async def _send_and_close(stream: trio.abc.Stream, data: bytes) -> None:
    with trio.move_on_after(_SEND_TIMEOUT):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(data)
            await stream.aclose()
    await trio.aclose_forcefully(stream)


async def web_front_door(
    stream: trio.abc.Stream,
    *,
    page: Page,
    origins: Sequence[str],
    max_message: int,
    timeout: float,
    peer: str,
) -> WebSocketCodec | None:
    """Read one HTTP request from *stream* within *timeout* seconds and answer it.

    Returns the codec of the chat connection when the request was a WebSocket handshake that
    was accepted (the ``101`` response is sent by then, and *stream* is the client's); otherwise
    the page or an error response was sent, *stream* is closed, and the result is ``None``.

    Error handling: a client that goes away, sends garbage or takes too long is closed (with
    ``400`` for garbage); nothing is raised for it.
    """
    result: WebRequest | BadRequest | None = None
    with trio.move_on_after(timeout):
        result = await _read_request(stream, RequestReader())
    if isinstance(result, BadRequest):
        log.debug("%s: bad request: %s", peer, result)
        await _send_and_close(stream, response(result.status, f"{result}\n".encode()))
        return None
    if result is None:
        await trio.aclose_forcefully(stream)
        return None
    outcome = answer(result, page=page, origins=origins, max_message=max_message)
    if outcome.codec is None:
        (log.info if outcome.summary.startswith("403") else log.debug)(
            "%s: %s", peer, outcome.summary
        )
        await _send_and_close(stream, outcome.data)
        return None
    with trio.move_on_after(_SEND_TIMEOUT) as scope:
        try:
            await stream.send_all(outcome.data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            scope.cancel()
    if scope.cancelled_caught:
        await trio.aclose_forcefully(stream)
        return None
    return outcome.codec


async def refuse_web(stream: trio.abc.Stream, text: bytes) -> None:
    """Turn a web client away before it has a session: ``503`` with *text*, then close.

    The request is read first (briefly), so that closing does not reset the connection under a
    response the client has not read yet.
    """
    with trio.move_on_after(_REFUSAL_READ_TIMEOUT):
        await _read_request(stream, RequestReader())
    await _send_and_close(stream, response(503, text, headers=[("Retry-After", "10")]))
