"""Tests for the bot of hub_bot.py: one in the hub alone, one over the network.

pytest runs this file, with pytest-trio in trio mode:
python -m pytest docs/examples/test_hub_bot.py
"""

from __future__ import annotations

import functools

import trio
from hub_bot import ping_bot

import triochat
from triochat.testing import connect_to, open_chat_server, read_until


async def test_bot_answers_in_the_room_it_was_asked_in() -> None:
    hub = triochat.Hub()  # no server, no socket: the bot and alice share a hub
    async with trio.open_nursery() as nursery:
        rooms = ["#lobby", "#games"]
        await nursery.start(functools.partial(ping_bot, hub, rooms=rooms))
        with hub.connect("alice") as alice, trio.fail_after(5):
            hub.join(alice, "#games")
            await alice.say("!ping")
            async for event in alice:
                if isinstance(event, triochat.Message) and event.sender == "pingbot":
                    answer = event
                    break
            assert (answer.room, answer.text) == ("#games", "alice: pong")
        nursery.cancel_scope.cancel()
    assert hub.member("pingbot") is None  # cancelled, the bot left the hub


async def test_bot_answers_a_network_client() -> None:
    hub = triochat.Hub()
    async with open_chat_server(hub=hub) as server, trio.open_nursery() as nursery:
        await nursery.start(ping_bot, hub)
        async with connect_to(server, nick="alice") as alice:
            await alice.send("!ping")
            lines = await read_until(alice, "<pingbot>")
            assert lines[-1].endswith("<pingbot> alice: pong")
            await alice.send("/msg pingbot !ping")
            lines = await read_until(alice, "<pingbot -> alice>")
            assert lines[-1].endswith("<pingbot -> alice> pong")
        nursery.cancel_scope.cancel()
