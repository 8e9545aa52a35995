"""Running ``triochat serve`` for the operations tests: from a config file, logging JSON lines."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from .conftest import WAIT

TRIOCHAT = [sys.executable, "-m", "triochat"]


@attrs.define
class JsonServer:
    """A server process whose stderr is JSON lines, read all along into :attr:`records`."""

    process: trio.Process
    records: list[dict[str, Any]]
    raw: bytearray
    #: The address of the first endpoint, as the "serving on" line gives it.
    address: str = ""
    _changed: trio.Event = attrs.field(factory=trio.Event)

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    async def collect(self) -> None:
        assert self.process.stderr is not None
        pending = b""
        while chunk := await self.process.stderr.receive_some():
            self.raw.extend(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.records.append(json.loads(line))  # every line is one JSON object
            self._changed.set()
            self._changed = trio.Event()
        assert pending == b"", pending

    async def record(self, event: str, after: int = 0) -> dict[str, Any]:
        """The first record (from index *after* on) whose event contains *event*."""
        with trio.fail_after(WAIT):
            while True:
                for record in self.records[after:]:
                    if event in record["event"]:
                        return record
                await self._changed.wait()


@asynccontextmanager
async def json_server(config: Path, *args: str) -> AsyncIterator[JsonServer]:
    """``triochat serve --config CONFIG --log-format json ARGS``, stopped with SIGTERM at the end
    (killed by its PID if it will not stop)."""
    command = [*TRIOCHAT, "serve", "--config", str(config), "--log-format", "json", *args]
    process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE)
    try:
        async with trio.open_nursery() as nursery:
            server = JsonServer(process, [], bytearray())
            nursery.start_soon(server.collect)
            serving = await server.record("serving on")
            server.address = serving["event"].split("serving on ", 1)[1].split(",")[0].split(";")[0]
            yield server
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with trio.fail_after(WAIT):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()  # only our own child, by its PID
        with trio.CancelScope(shield=True), trio.move_on_after(WAIT):
            await process.wait()
            if process.stderr is not None:
                await process.stderr.aclose()
