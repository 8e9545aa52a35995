"""A bot that chats over the network: it answers "!roll 2d6" with a dice roll.

Run it against a running server:  python docs/examples/bot.py 127.0.0.1 9999
Run it alone (it starts its own server and a user):  python docs/examples/bot.py
"""

from __future__ import annotations

import functools
import random
import re
import sys
from typing import Final

import trio

import triochat

#: A chat line as the server's text format shows it: "[12:00:06] <alice> hello".
CHAT_LINE: Final = re.compile(r"\[\d\d:\d\d:\d\d\] <(?P<nick>[^>]+)> (?P<text>.*)")
ROLL: Final = re.compile(r"!roll (?P<count>[1-9]\d?)d(?P<sides>[1-9]\d{0,2})")


def answer(nick: str, text: str, rng: random.Random) -> str | None:
    """The bot's reply to *text* said by *nick*, or ``None`` for no reply."""
    match = ROLL.fullmatch(text.strip())
    if match is None:
        return None
    count, sides = int(match["count"]), int(match["sides"])
    dice = [rng.randint(1, sides) for _ in range(count)]
    return f"{nick} rolled {count}d{sides}: {' + '.join(map(str, dice))} = {sum(dice)}"


async def dice_bot(
    chat: triochat.ChatConnection,
    *,
    nick: str = "dicebot",
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take *nick*, report readiness through *task_status*, then answer until the
    server closes the connection.

    The bot takes a connection rather than a host and port, so that a test can hand
    it an in-memory one (see test_bot.py).
    """
    rng = rng or random.Random()
    await chat.send(f"/nick {nick}")
    async for line in chat:
        if line.endswith(f"is now known as {nick}"):
            break
        if line.startswith("*** error:"):
            raise RuntimeError(f"cannot take the nick {nick}: {line}")
    task_status.started()
    async for line in chat:
        if line.startswith("*** ping:"):
            # Any line resets the server's idle timer; an empty one says nothing.
            await chat.send("")
            continue
        said = CHAT_LINE.fullmatch(line)
        if said is None or said["nick"] == nick:
            continue
        reply = answer(said["nick"], said["text"], rng)
        if reply is not None:
            await chat.send(reply)


async def run_bot(host: str, port: int) -> None:
    """Connect to a server and run the bot until the server closes the connection."""
    async with triochat.connect(host, port) as chat:
        await dice_bot(chat)


async def demo() -> None:
    """Start a server, the bot and a user in this process; show what the user sees."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(triochat.serve_tcp, triochat.ServerConfig(port=0))
        host, port = server.addresses[0][:2]
        async with (
            triochat.connect(host, port) as bot,
            triochat.connect(host, port, nick="alice") as alice,
        ):
            # nursery.start returns once the bot has its nick: alice speaks only once
            # it listens.
            await nursery.start(functools.partial(dice_bot, bot, rng=random.Random(6)))
            await alice.send("!roll 3d6")
            async for line in alice:
                if "<dicebot>" in line:
                    print(line[11:])  # without the time, which changes from run to run
                    break
            nursery.cancel_scope.cancel()  # stop the server and the bot


if __name__ == "__main__":
    if len(sys.argv) == 3:
        trio.run(run_bot, sys.argv[1], int(sys.argv[2]))
    else:
        trio.run(demo)
