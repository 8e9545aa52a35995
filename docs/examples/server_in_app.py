"""Run the chat server inside a larger Trio program, and stop it from outside.

The program has three parts: the chat server, a greeter that lives in the server's hub
as an ordinary member (no socket), and a "control" part that decides when to stop.
Run it: python docs/examples/server_in_app.py
"""

from __future__ import annotations

import trio

import triochat


async def greeter(hub: triochat.Hub) -> None:
    """Welcome everyone who joins the lobby. Runs until cancelled."""
    with hub.connect("greeter") as me:
        hub.room().join(me)
        async for event in me:
            if isinstance(event, triochat.Joined) and event.sender != me.nick:
                await me.say(f"welcome, {event.sender}!")


async def run_chat(
    config: triochat.ServerConfig,
    stop: trio.Event,
    *,
    task_status: trio.TaskStatus[triochat.ChatServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve chat until *stop* is set, then shut down gracefully and return.

    Reports the server through *task_status* once it is listening and the greeter is in.
    """
    async with trio.open_nursery() as nursery:
        server = await nursery.start(triochat.serve_tcp, config)
        nursery.start_soon(greeter, server.hub)
        task_status.started(server)

        await stop.wait()
        # Graceful: stop accepting, let every client receive what was queued for it
        # and a goodbye (at most config.shutdown_grace seconds), then close.
        # serve_tcp returns.
        await server.shutdown()
        nursery.cancel_scope.cancel()  # the greeter is the only task left: stop it too


async def main() -> None:
    # Whoever holds it can stop the chat: an admin API, a signal handler...
    stop = trio.Event()
    async with trio.open_nursery() as app:
        config = triochat.ServerConfig(port=0, shutdown_grace=2)
        server = await app.start(run_chat, config, stop)
        host, port = server.addresses[0][:2]

        async with triochat.connect(host, port, nick="alice") as alice:
            async for line in alice:
                if "<greeter>" in line:
                    print("alice sees:", line[11:])  # without the time
                    break
            stop.set()  # from outside the chat: the server says goodbye and stops
            async for line in alice:
                if line.startswith("***"):
                    print("alice sees:", line)
    # The app's nursery is done: the server, the greeter and every socket are closed.
    print("chat stopped; the rest of the program goes on")


if __name__ == "__main__":
    trio.run(main)
