"""Embed a chat room in your own Trio program: no sockets, just objects.

Run it: python docs/examples/embed_room.py
"""

import trio

import triochat


async def bot(member: triochat.Member) -> None:
    """Answer every "!ping" in the room with "pong"; stop when the member is removed."""
    async for event in member:
        if isinstance(event, triochat.Message) and event.text == "!ping":
            await member.say(f"pong, {event.sender}")


async def main() -> None:
    hub = triochat.Hub()
    lobby = hub.room("#lobby")
    async with trio.open_nursery() as nursery:
        pingbot = hub.connect("pingbot")
        lobby.join(pingbot)
        nursery.start_soon(bot, pingbot)

        with hub.connect("alice") as alice:  # leaves the hub when the block ends
            lobby.join(alice)
            await alice.say("!ping")
            async for event in alice:
                what = event.text if isinstance(event, triochat.Message) else type(event).__name__
                print(f"#{event.seq} {event.sender}: {what}")
                if isinstance(event, triochat.Message) and event.sender == "pingbot":
                    break

        hub.disconnect(pingbot, "done")  # the bot's loop ends; so does the nursery


if __name__ == "__main__":
    trio.run(main)
