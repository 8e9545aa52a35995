"""Tests for the bot of dice_bot.py, written the way you would test your own bot.

pytest runs this file, with pytest-trio in trio mode:
python -m pytest docs/examples/test_dice_bot.py
"""

from __future__ import annotations

import functools
import random

import trio
import trio.testing
from dice_bot import dice_bot

from triochat import ChatServer, ServerConfig
from triochat.testing import (
    connect_to,
    open_chat_server,
    open_memory_client,
    read_until,
)


async def test_bot_answers_a_roll_over_tcp() -> None:
    async with (
        open_chat_server() as server,
        connect_to(server) as bot,
        connect_to(server, nick="alice") as alice,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(functools.partial(dice_bot, bot, rng=random.Random(6)))
        await alice.send("!roll 3d6")
        lines = await read_until(alice, "<dicebot>")
        assert lines[-1].endswith("<dicebot> alice rolled 3d6: 5 + 1 + 4 = 10")
        nursery.cancel_scope.cancel()


async def test_bot_ignores_everything_else(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer()  # in memory: the server need not listen anywhere
    async with (
        open_memory_client(server) as bot,
        open_memory_client(server, nick="alice") as alice,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(dice_bot, bot)
        ignored = [
            "roll 3d6",
            "!roll",
            "!roll 0d6",
            "!roll 3d6 please",
            "/me rolls 3d6",
        ]
        for text in ignored:
            await alice.send(text)
        # The one line it answers, and so the last one it reads:
        await alice.send("!roll 1d1")
        lines = await read_until(alice, "<dicebot>")
        assert [line for line in lines if "<dicebot>" in line] == [lines[-1]], (
            "the bot answered a line it should have ignored"
        )
        assert lines[-1].endswith("alice rolled 1d1: 1 = 1")
        nursery.cancel_scope.cancel()


async def test_bot_answers_in_its_rooms_but_not_their_history(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer()
    async with open_memory_client(server, nick="alice") as alice:
        await alice.send("/join #dice")
        await alice.send("!roll 1d1")  # said before the bot comes: kept in history
        await read_until(alice, "!roll 1d1")
        async with open_memory_client(server) as bot, trio.open_nursery() as nursery:
            # Joining #dice, the bot receives that line again, marked as history.
            await nursery.start(functools.partial(dice_bot, bot, rooms=["#dice"]))
            await alice.send("!roll 2d1")
            lines = await read_until(alice, "<dicebot>")
            assert lines[-1].endswith("#dice <dicebot> alice rolled 2d1: 1 + 1 = 2")
            nursery.cancel_scope.cancel()


async def test_bot_survives_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A bot that only listens is silent for hours; the server disconnects silent
    # clients after idle_timeout unless they answer its ping. On the virtual clock,
    # an hour takes no time.
    server = ChatServer(config=ServerConfig(idle_timeout=300))
    async with open_memory_client(server) as bot, trio.open_nursery() as nursery:
        await nursery.start(dice_bot, bot)
        await trio.sleep(3600)
        async with open_memory_client(server, nick="alice") as alice:
            await alice.send("!roll 1d1")
            lines = await read_until(alice, "<dicebot>")
        assert lines[-1].endswith("alice rolled 1d1: 1 = 1")
        nursery.cancel_scope.cancel()
