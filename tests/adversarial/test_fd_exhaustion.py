"""File-descriptor exhaustion: a server process with a low ``ulimit -n`` runs out of descriptors.

Its accept loop must survive EMFILE, the clients it has must keep chatting, the clients waiting in
the listen backlog must be served once descriptors free up, and the log must say so in one line
each way, not in a traceback every 100 ms.
"""

from __future__ import annotations

import trio

from tests.adversarial.helpers import Healthy, Reader, open_fds, open_raw, serve_process
from tests.conftest import eventually

#: The server's ``ulimit -n``: about a dozen descriptors for the interpreter, trio, the listener
#: and the readers' epoll set, the rest for clients. The clients served before it runs out must
#: be at least half of WAITING, or those left in the backlog cannot all be served once they go.
MAX_OPEN_FILES = 34
WAITING = 40  # connections opened beyond what the server can hold


def _welcomed(reader: Reader) -> bool:
    return any("joined #lobby" in line for line in reader.lines)


async def test_accept_loop_survives_emfile_and_recovers() -> None:
    async with (
        serve_process("--rate", "inf", max_open_files=MAX_OPEN_FILES) as server,
        trio.open_nursery() as nursery,
    ):
        healthy = await Healthy.join(nursery, server.port)
        fds_before = open_fds(server.pid)
        streams, readers = [], []
        for _ in range(WAITING):
            stream = await open_raw(server.port)  # the kernel completes the handshake
            reader = Reader(stream)
            nursery.start_soon(reader.run)
            streams.append(stream)
            readers.append(reader)
        # The server takes what it can, then runs out of descriptors.
        await eventually(lambda: "Too many open files" in server.log)
        await eventually(lambda: open_fds(server.pid) == MAX_OPEN_FILES)
        served = [reader for reader in readers if _welcomed(reader)]
        assert 0 < len(served) < WAITING
        # Out of descriptors, it keeps serving the clients it has.
        await healthy.chat(10)
        await healthy.everyone_got_everything()
        # Free descriptors: the clients waiting in the backlog are served, in turn.
        for index, reader in enumerate(readers):
            if _welcomed(reader):
                await streams[index].aclose()
        await eventually(lambda: all(_welcomed(reader) for reader in readers))
        assert "accepting connections again after" in server.log
        await healthy.chat(10)
        await healthy.everyone_got_everything()
        for stream in streams:
            await stream.aclose()
        await eventually(lambda: open_fds(server.pid) == fds_before)
        await healthy.aclose()
        nursery.cancel_scope.cancel()
    warnings = [line for line in server.log.splitlines() if "cannot accept connections" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].endswith(
        "cannot accept connections: Too many open files; retrying every 0.1 s"
    )
    assert "Traceback" not in server.log
    assert server.process.returncode == 0
