"""A bot inside the hub: it answers "!ping" in the room it was asked in, or privately.

Run it:  python docs/examples/hub_bot.py
(It serves its hub over TCP and connects a user to show the bot answering over the network.)
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

import triochat


async def ping_bot(
    hub: triochat.Hub,
    *,
    nick: str = "pingbot",
    rooms: Sequence[str] = ("#lobby",),
    task_status: trio.TaskStatus[triochat.Member] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Join *rooms*, report the bot's member through *task_status*, then answer until
    cancelled. Cancelling it (its nursery, say) ends the loop, and the ``with`` block
    takes the bot out of the hub."""
    with hub.connect(nick) as bot:
        for room in rooms:
            hub.join(bot, room)
        task_status.started(bot)
        async for event in bot:
            match event:
                # history=True: replayed as the bot joined, said before it came.
                case triochat.Message(history=False, sender=sender, text="!ping"):
                    await bot.reply(event, f"{sender}: pong")  # in the room it came from
                case triochat.Private(sender=sender, text="!ping") if sender != bot.nick:
                    await bot.reply(event, "pong")  # privately


async def main() -> None:
    hub = triochat.Hub()
    async with trio.open_nursery() as nursery:
        config = triochat.ServerConfig(host="127.0.0.1", port=0)
        server = await nursery.start(triochat.serve_tcp, config, hub)
        await nursery.start(ping_bot, hub)
        host, port = server.addresses[0][:2]
        async with triochat.connect(host, port, nick="alice") as alice:
            await alice.send("!ping")
            async for line in alice:
                if "<pingbot>" in line:
                    print(line[11:])  # without the time, which changes from run to run
                    break
        nursery.cancel_scope.cancel()  # stops the server and the bot, which leaves the hub


if __name__ == "__main__":
    trio.run(main)
