"""Garbage input over real loopback sockets: every kind gets error lines or a disconnect, never a
crash, and the healthy clients chatting meanwhile receive every one of their lines."""

from __future__ import annotations

import math
import random

import attrs
import pytest
import trio

from tests.adversarial.helpers import Healthy, Reader, held, open_raw, settles_back_to, size
from triochat import ChatServer, ServerConfig

MILLION: int = size(100_000, 1_000_000)


@attrs.frozen
class Outcome:
    garbage: Reader  # everything the garbage client was sent
    healthy: Healthy
    server: ChatServer


async def attack(
    nursery: trio.Nursery, payload: bytes, config: ServerConfig | None = None
) -> Outcome:
    """Serve a healthy room while one client named ``mallory`` sends *payload* and leaves."""
    config = config or ServerConfig(port=0)
    server: ChatServer = await nursery.start(ChatServer(config=config).serve)
    port = server.addresses[0][1]
    healthy = await Healthy.join(nursery, port)
    before = held(server)
    stream = await open_raw(port)
    garbage = Reader(stream)
    nursery.start_soon(garbage.run)
    await garbage.wait_for_line("joined #lobby")
    await stream.send_all(b"/nick mallory\n")
    await garbage.wait_for_line("now known as mallory")

    async def send_garbage() -> None:
        view = memoryview(payload)
        try:
            for start in range(0, len(view), 65536):
                await stream.send_all(view[start : start + 65536])
            await stream.send_all(b"\n/quit\n")
        except trio.BrokenResourceError:
            pass  # the server cut it off: that is one of the allowed outcomes
        await garbage.wait(lambda r: r.eof, timeout=30)

    async with trio.open_nursery() as both:
        both.start_soon(send_garbage)
        both.start_soon(lambda: healthy.chat(20, interval=0.005))
    await healthy.everyone_got_everything()
    await stream.aclose()
    await settles_back_to(server, before)
    await healthy.aclose()
    return Outcome(garbage, healthy, server)


def _errors(reader: Reader) -> list[str]:
    return [line for line in reader.lines if line.startswith("*** error")]


async def test_random_bytes(nursery: trio.Nursery) -> None:
    payload = random.Random(4).randbytes(size(256 * 1024, 16 * 1024 * 1024))
    outcome = await attack(nursery, payload)
    # About one line in 256 bytes: far more lines than the rate allows, so it was cut off.
    assert outcome.garbage.lines[-1].startswith("*** error: excess flood")
    assert outcome.server.statistics().refused_lines > 200


async def test_invalid_utf8(nursery: trio.Nursery) -> None:
    bad = [b"\xff", b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x90\x28\xbc", b"\xed\xa0\x80", b"\xc0\xaf"]
    payload = b"".join(b"ok " + sequence + b" tail\n" for sequence in bad * 10)
    outcome = await attack(nursery, payload)
    errors = _errors(outcome.garbage)
    assert len(errors) == 60
    assert all("line is not valid UTF-8 (bad byte at offset 3); discarded" in e for e in errors)
    for reader in outcome.healthy.readers:
        assert reader.said("mallory") == []


async def test_overlong_lines(nursery: trio.Nursery) -> None:
    payload = b"".join(b"%d " % n + b"x" * 10_000 + b"\n" for n in range(30))
    outcome = await attack(nursery, payload, ServerConfig(port=0, max_line=4096))
    assert (
        _errors(outcome.garbage)
        == ["*** error: line too long (the limit is 4096 bytes); discarded"] * 30
    )


async def test_nul_bytes_and_escape_sequences_never_reach_anyone(nursery: trio.Nursery) -> None:
    payload = (
        b"nul\x00in\x00the\x00middle\n"
        b"\x1b[2J\x1b[Hclear screen\n"
        b"\x1b]0;title\x07osc title\n"
        b"\x1bP1$r0m\x1b\\dcs string\n"
        b"\xc2\x9b31mC1 CSI\n"  # U+009B, the 8-bit CSI, in UTF-8
        b"bell\x07 backspace\x08 cr\r forged\n"
        b"\xe2\x80\xaereversed\xe2\x81\xa6isolate\n"
    )
    outcome = await attack(nursery, payload)
    expected = [
        "nulinthemiddle",
        "clear screen",
        "osc title",
        "dcs string",
        "C1 CSI",
        "bell backspace cr forged",
        "reversedisolate",
    ]
    for reader in outcome.healthy.readers:
        said = reader.said("mallory")
        assert said == expected
        joined = "\n".join(reader.lines)
        assert not any(ch in joined for ch in "\x00\x1b\x07\x08\x9b\u202e\u2066")
    assert _errors(outcome.garbage) == []


async def test_one_megabyte_line(nursery: trio.Nursery) -> None:
    payload = b"m" * (1024 * 1024) + b"\nafter the big one\n"
    outcome = await attack(nursery, payload)
    assert _errors(outcome.garbage) == [
        "*** error: line too long (the limit is 4096 bytes); discarded"
    ]
    for reader in outcome.healthy.readers:
        assert reader.said("mallory") == ["after the big one"]


async def test_million_empty_lines_are_a_flood(nursery: trio.Nursery) -> None:
    outcome = await attack(nursery, b"\n" * MILLION)
    assert outcome.garbage.lines[-1] == (
        "*** error: excess flood: more than 200 lines refused within 10 s; disconnecting"
    )


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
async def test_million_empty_lines_without_flood_control(
    nursery: trio.Nursery, ending: bytes
) -> None:
    # With flood control off the server reads them all, ignores them, and stays responsive.
    payload = ending * MILLION + b"still connected\n"
    outcome = await attack(nursery, payload, ServerConfig(port=0, message_rate=math.inf))
    for reader in outcome.healthy.readers:
        assert reader.said("mallory") == ["still connected"]
    assert outcome.garbage.lines[-1] == "*** goodbye (quit)"
