"""Library ergonomics for bots (tracker issue 15): what a bot written from the docs relies on."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triochat
from triochat.testing import connect_to, read_until


async def test_say_and_act_take_a_room_name() -> None:
    hub = triochat.Hub()
    with hub.connect("alice") as alice, hub.connect("bot") as bot:
        for member in (alice, bot):
            hub.join(member, "#games")
            hub.join(member, "#lobby")
        await bot.say("hi games", room="#games")
        await bot.act("waves", room="GAMES")  # '#' optional, any case, as Hub.room takes it
        await bot.say("hi lobby")
        said = [
            (event.room, event.text)
            for event in alice.take_all()
            if isinstance(event, (triochat.Message, triochat.Action))
        ]
        assert said == [("#games", "hi games"), ("#games", "waves"), ("#lobby", "hi lobby")]


async def test_say_in_a_room_name_one_is_not_in_raises_not_in_room() -> None:
    hub = triochat.Hub()
    with hub.connect("bot") as bot:
        hub.join(bot, "#lobby")
        hub.room("#elsewhere")
        for name in ("#elsewhere", "#nowhere"):
            with pytest.raises(triochat.NotInRoom):
                await bot.say("hello", room=name)


async def test_reply_answers_in_the_room_the_event_came_from() -> None:
    hub = triochat.Hub()
    with hub.connect("alice") as alice, hub.connect("bot") as bot:
        for member in (alice, bot):
            hub.join(member, "#games")
            hub.join(member, "#lobby")  # the bot's current room is #lobby
        await alice.say("ping", room="#games")
        question = next(e for e in bot.take_all() if isinstance(e, triochat.Message))
        await bot.reply(question, "pong")
        answers = [e for e in alice.take_all() if isinstance(e, triochat.Message)]
        assert [(e.room, e.sender, e.text) for e in answers] == [
            ("#games", "alice", "ping"),
            ("#games", "bot", "pong"),
        ]


async def test_reply_to_a_private_message_answers_privately() -> None:
    hub = triochat.Hub()
    with hub.connect("alice") as alice, hub.connect("bot") as bot:
        hub.send_private(alice, "bot", "psst")
        question = bot.receive_nowait()
        await bot.reply(question, "hush")
        echoes = [e for e in alice.take_all() if isinstance(e, triochat.Private)]
        assert [(e.sender, e.target, e.text) for e in echoes] == [
            ("alice", "bot", "psst"),
            ("bot", "alice", "hush"),
        ]


async def test_an_in_hub_bot_ends_and_leaves_when_its_nursery_is_cancelled() -> None:
    hub = triochat.Hub()
    room = hub.room()

    async def bot() -> None:
        with hub.connect("bot") as me:
            room.join(me)
            async for event in me:
                if isinstance(event, triochat.Message) and event.sender != me.nick:
                    await me.reply(event, "seen")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot)
        await trio.testing.wait_all_tasks_blocked()
        assert hub.member("bot") is not None
        nursery.cancel_scope.cancel()
    assert hub.member("bot") is None
    assert [m.nick for m in room.members] == []


async def test_serve_tcp_takes_config_and_hub_positionally_for_nursery_start() -> None:
    hub = triochat.Hub()
    async with trio.open_nursery() as nursery:
        config = triochat.ServerConfig(host="127.0.0.1", port=0)
        server = await nursery.start(triochat.serve_tcp, config, hub)
        assert server.hub is hub
        with hub.connect("bot") as bot:
            hub.join(bot, "#lobby")
            async with connect_to(server, nick="alice") as alice:
                await bot.say("hello from inside", room="#lobby")
                lines = await read_until(alice, "<bot>")
                assert lines[-1].endswith("<bot> hello from inside")
        nursery.cancel_scope.cancel()
