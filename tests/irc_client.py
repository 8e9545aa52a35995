"""A raw IRC client for tests: sends lines with CR LF, reads and parses what the server says."""

from __future__ import annotations

import attrs

from tests.conftest import LineClient
from triochat.protocols.irc import Message, parse_message


@attrs.define
class IrcClient:
    """IRC over a :class:`LineClient` (which splits on LF; the CR is dropped here)."""

    lines: LineClient
    nick: str = "*"

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> IrcClient:
        return cls(await LineClient.open(port, host))

    async def send(self, *lines: str) -> None:
        await self.lines.send("".join(line + "\r\n" for line in lines).encode())

    async def message(self) -> Message:
        """The next message from the server (fails after the tests' WAIT)."""
        line = await self.lines.line()
        return parse_message(line.removesuffix("\r"))

    async def until(self, command: str, *params: str) -> list[Message]:
        """Messages up to and including the first *command* whose parameters start with *params*
        (after ``<client>`` for a numeric)."""
        seen: list[Message] = []
        while True:
            message = await self.message()
            seen.append(message)
            if message.command == command:
                rest = message.params[1:] if command.isdigit() else message.params
                if tuple(rest[: len(params)]) == params:
                    return seen

    async def register(self, nick: str, *caps: str, password: str | None = None) -> list[Message]:
        """Register as *nick* (with *caps*); the messages up to the end of the MOTD."""
        lines = ["CAP LS 302"]
        if password is not None:
            lines.append(f"PASS :{password}")
        lines += [f"NICK {nick}", f"USER {nick} 0 * :{nick} of the tests"]
        if caps:
            lines.append(f"CAP REQ :{' '.join(caps)}")
        lines.append("CAP END")
        await self.send(*lines)
        self.nick = nick
        return await self.until("376")

    async def join(self, room: str) -> list[Message]:
        """Join *room*; the messages up to its end of names."""
        await self.send(f"JOIN {room}")
        return await self.until("366", room)

    async def closed(self) -> list[Message]:
        """Every message until the server closes the connection."""
        return [parse_message(line.removesuffix("\r")) for line in await self.lines.rest()]

    async def sync(self) -> list[Message]:
        """Everything the server sends before it answers a PING sent now: what it had to say
        about what this client sent so far (no waiting for a time to pass)."""
        await self.send("PING :sync")
        seen = await self.until("PONG")
        return seen[:-1]

    async def aclose(self) -> None:
        await self.lines.aclose()
