"""A new protocol is a new codec: this one is written here, in the tests, and served next to the
line protocol without any change to the core, the session or the connection driver."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
import trio.testing

from tests.conftest import LineClient
from tests.memory_client import FakeClient
from triochat import ChatServer, ServerConfig
from triochat.protocols import Codec


def _codec_from_the_docs() -> type:
    """The ShoutCodec shown in docs/architecture.md: the page's code is what is tested."""
    page = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "ShoutCodec" in b)
    namespace: dict[str, Any] = {"__name__": "shout_codec"}
    exec(compile(block, "docs/architecture.md", "exec"), namespace)
    codec: type = namespace["ShoutCodec"]
    return codec


ShoutCodec = _codec_from_the_docs()


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
