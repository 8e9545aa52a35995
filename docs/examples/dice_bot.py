"""A bot that chats over the network: it answers "!roll 2d6" with a dice roll.

Run it against a running server:  python docs/examples/dice_bot.py 127.0.0.1 9999
Run it alone (it starts its own server and a user):  python docs/examples/dice_bot.py
"""

from __future__ import annotations

import functools
import random
import re
import sys
from collections.abc import Sequence
from typing import Final

import trio

import triochat

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
    rooms: Sequence[str] = (),
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take *nick*, join *rooms* ("#name", besides #lobby), report readiness through
    *task_status*, then answer in every room until the server closes the connection.

    The bot takes a connection rather than a host and port, so that a test can hand
    it an in-memory one (see test_dice_bot.py).
    """
    rng = rng or random.Random()
    await chat.switch_to_json()  # typed events, and commands that name their room
    await chat.send_command("nick", nick=nick)
    for room in rooms:
        await chat.send_command("join", room=room)
    unconfirmed = {"nick", *rooms}  # what the server has not confirmed yet

    def confirmed(what: str) -> None:
        if what in unconfirmed:
            unconfirmed.remove(what)
            if not unconfirmed:
                task_status.started()

    async for event in chat.events():
        match event:
            case triochat.NickChanged(new=new) if new == nick:
                confirmed("nick")
            case triochat.Joined(sender=sender, room=room) if sender == nick:
                confirmed(room)
            case triochat.Notice(kind="ping"):
                # Any line resets the server's idle timer; an empty one says nothing.
                await chat.send("")
            case triochat.Notice(error=True, text=text):
                raise RuntimeError(f"the server says: {text}")
            case triochat.Message(history=False, sender=sender, text=text, room=room):
                # (history=True: replayed as the bot joined, said before it came.)
                reply = answer(sender, text, rng) if sender != nick else None
                if reply is not None:
                    await chat.send_command("say", room=room, text=reply)


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
