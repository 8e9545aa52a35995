"""Abrupt disconnects over real loopback sockets: resets in the middle of a broadcast,
half-closed connections, and end of stream in the middle of a line."""

from __future__ import annotations

import math

import trio
import trio.lowlevel

from tests.adversarial.helpers import (
    Healthy,
    Reader,
    held,
    open_raw,
    reset_on_close,
    settles_back_to,
    size,
)
from tests.conftest import eventually
from triochat import ChatServer, ServerConfig


async def test_resets_in_the_middle_of_a_broadcast(nursery: trio.Nursery) -> None:
    victims = size(50, 500)
    lines = size(300, 3000)
    config = ServerConfig(port=0, max_clients_per_ip=victims + 10, message_rate=math.inf)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    before = held(server)
    streams = []
    for _ in range(victims):
        stream = await open_raw(port)
        reader = Reader(stream)
        nursery.start_soon(reader.run)  # reading, so each is cut while data is flowing to it
        await reader.wait_for_line("joined #lobby")
        streams.append(stream)

    async def reset_all() -> None:
        # Wait until the broadcast is flowing, then reset every victim while it goes on.
        await healthy.readers[0].wait(lambda r: len(r.said("healthy0")) >= 10)
        for stream in streams:
            reset_on_close(stream)
            await stream.aclose()  # RST, not FIN
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as attack:
        attack.start_soon(reset_all)
        await healthy.chat(lines, tag="broadcast")
    await healthy.everyone_got_everything(timeout=30)
    await eventually(lambda: server.statistics().connections == 3)
    for reader in healthy.readers:
        await reader.wait(lambda r: sum("left #lobby" in line for line in r.lines) == victims)
        left = [line for line in reader.lines if "left #lobby" in line]
        reasons = {line.rsplit("(", 1)[1] for line in left}
        assert reasons <= {"connection lost)", "client closed the connection)"}, reasons
    await settles_back_to(server, before)
    await healthy.aclose()


async def test_half_close_still_gets_its_echo_and_goodbye(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    before = held(server)
    stream = await open_raw(port)
    reader = Reader(stream)
    nursery.start_soon(reader.run)
    await reader.wait_for_line("joined #lobby")
    await stream.send_all(b"/nick halfway\nlast words\n")
    await stream.send_eof()  # shutdown(SHUT_WR): we will say no more, but still listen
    await reader.wait(lambda r: r.eof)
    assert reader.said("halfway") == ["last words"]
    assert reader.lines[-1] == "*** goodbye (client closed the connection)"
    await healthy.chat(3)
    await healthy.everyone_got_everything()
    for healthy_reader in healthy.readers:
        assert healthy_reader.said("halfway") == ["last words"]
        await healthy_reader.wait_for_line("halfway left #lobby (client closed the connection)")
    await stream.aclose()
    await settles_back_to(server, before)
    await healthy.aclose()


async def test_end_of_stream_in_the_middle_of_a_line(nursery: trio.Nursery) -> None:
    server: ChatServer = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    before = held(server)
    for unfinished in (b"partial line", b"half a character \xe2\x82", b"\x1b[31"):
        stream = await open_raw(port)
        await stream.send_all(b"/nick cutoff\ncomplete line\n" + unfinished)
        await stream.aclose()
        for reader in healthy.readers:
            await reader.wait_for_line("cutoff left #lobby")
            # The complete line was served; the unfinished one was dropped, not published.
            assert reader.said("cutoff") == ["complete line"]
            reader.lines.clear()
        await eventually(lambda: server.statistics().connections == 3)
    await healthy.chat(3)
    await healthy.everyone_got_everything()
    await settles_back_to(server, before)
    await healthy.aclose()
