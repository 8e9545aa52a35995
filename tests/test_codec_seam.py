"""A new protocol is a new codec: this one is written here, in the tests, and served next to the
line protocol without any change to the core, the session or the connection driver."""

from __future__ import annotations

from typing import ClassVar

import trio
import trio.testing

from triochat import ChatServer, Event, Message, ServerConfig
from triochat.protocols import Codec, Input
from triochat.session import CloseReason, Say

from .conftest import LineClient
from .memory_client import FakeClient


class ShoutCodec:
    """Lines in, said in capitals; other people's messages out, as ``NICK: TEXT``."""

    name: ClassVar[str] = "shout"

    def __init__(self) -> None:
        self._buffer = b""

    pending = property(lambda self: len(self._buffer))

    def receive(self, data: bytes | bytearray) -> list[object]:
        *lines, self._buffer = (self._buffer + bytes(data)).split(b"\n")
        return list(lines)

    def decode(self, frame: object) -> Input:
        assert isinstance(frame, bytes)
        text = frame.decode(errors="replace").strip()
        return Say(text.upper()) if text else None

    def encode(self, events: list[Event]) -> bytes:
        said = [e for e in events if isinstance(e, Message)]
        return b"".join(f"{e.sender}: {e.text}\n".encode() for e in said)

    def goodbye(self, reason: CloseReason, detail: str = "") -> bytes:
        return b"BYE\n"


async def test_a_codec_written_outside_the_package_chats_with_nc_users(
    nursery: trio.Nursery,
) -> None:
    codec: Codec = ShoutCodec()
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    nc_user = await (await LineClient.open(server.addresses[0][1])).registered("alice")
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(lambda: server.handle_stream(server_end, "shout:1", codec=codec))
    shouter = FakeClient(client_end, timeout=10)
    await nc_user.until("joined #lobby")  # the shouter (a guest) joined
    await shouter.send("hello there")
    assert (await nc_user.until("HELLO THERE"))[-1].endswith("> HELLO THERE")
    await nc_user.send("hi, whoever you are")
    assert await shouter.until("alice") == "alice: hi, whoever you are"
    await nc_user.aclose()
