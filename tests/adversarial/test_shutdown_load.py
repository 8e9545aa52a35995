"""SIGTERM while 200 clients chat: everyone gets everything the server accepted, then goodbye.

"Accepted" is observable: the room publishes a line to every member at once, and after the signal
nothing more is published. So every client must end up with the very same sequence of chat
lines, each sender's lines in the order sent with none missing in between, followed by
``*** goodbye (server shutting down)``; and the process must exit 0 within the grace period.
"""

from __future__ import annotations

import random
import signal

import trio

from tests.adversarial.helpers import CHAT, Reader, open_raw, serve_process, size

CLIENTS = size(200, 500)
GRACE = 3.0
#: Seconds from the signal to the exit of the process, beyond the grace period, that we allow
#: for the interpreter to stop (measured well under 0.5 s on this machine).
EXIT_SLACK = 1.5


async def test_sigterm_while_two_hundred_clients_chat() -> None:
    args = ["--shutdown-grace", str(GRACE), "--max-clients-per-ip", str(CLIENTS + 10)]
    async with serve_process(*args, "--log-level", "warning") as server:
        readers: list[Reader] = []
        sent: list[list[str]] = [[] for _ in range(CLIENTS)]
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                reader = Reader(await open_raw(server.port))
                nursery.start_soon(reader.run)
                readers.append(reader)
            for reader in readers:
                await reader.wait_for_line("joined #lobby")
            # Everybody is in before anybody talks: all views start at the same line.
            await readers[0].wait(
                lambda r: sum("joined #lobby" in line for line in r.lines) == CLIENTS
            )
            for index in range(CLIENTS):
                nursery.start_soon(_chat, readers[index], index, sent[index])
            await trio.sleep(2)
            signalled = trio.current_time()
            server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(GRACE + EXIT_SLACK):
                returncode = await server.process.wait()
            elapsed = trio.current_time() - signalled
            for reader in readers:
                await reader.wait(lambda r: r.eof)
                await reader.stream.aclose()
        assert returncode == 0
        assert elapsed <= GRACE + EXIT_SLACK

    views = [_chat_lines(reader) for reader in readers]
    assert len(views[0]) > CLIENTS  # the clients did chat
    for reader, view in zip(readers, views, strict=True):
        assert reader.lines[-1] == "*** goodbye (server shutting down)"
        assert view == views[0]
    # Each sender's accepted lines are the first ones it sent, in order: no gaps.
    for index, texts in enumerate(sent):
        mine = [text for _, text in views[0] if text.startswith(f"c{index} ")]
        assert mine == texts[: len(mine)]


async def _chat(reader: Reader, index: int, sent: list[str]) -> None:
    # About one line a second each, at random moments: 200 lines a second into the room.
    rng = random.Random(index)
    await trio.sleep(rng.random())
    number = 0
    try:
        while not reader.eof:
            text = f"c{index} m{number}"
            await reader.stream.send_all(text.encode() + b"\n")
            sent.append(text)
            number += 1
            await trio.sleep(0.5 + rng.random())
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


def _chat_lines(reader: Reader) -> list[tuple[str, str]]:
    return [(m["nick"], m["text"]) for line in reader.lines if (m := CHAT.match(line))]
