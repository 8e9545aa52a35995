"""A bot on the network: it sits in #lobby and #bots and answers "!time" with the time in UTC.

It uses the client library with the JSON wire format, so it receives typed events
(triochat.Message, triochat.Joined, ...) instead of lines of text, and answers with JSON commands
that name the room, so an answer always goes to the room the question was asked in.

Run it against a server:

    python docs/examples/bot.py HOST PORT [SECONDS]

It stops after SECONDS (if given), when someone says "!quit" in one of its rooms, or on Ctrl-C.

Run with no arguments, it shows what it does: it starts a server of its own on a free loopback
port, runs the bot against it, lets a user ask for the time in both rooms, prints what the user
sees, and exits.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import trio

import triochat

BOT_NICK = "timebot"
ROOMS = ("#lobby", "#bots")


def answer(question: triochat.Message) -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{question.sender}: it is {now:%H:%M:%S} UTC on {now:%Y-%m-%d}"


async def run_bot(
    host: str,
    port: int,
    *,
    seconds: float = math.inf,
    nick: str = BOT_NICK,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer "!time" in every room of ROOMS until "!quit" or *seconds* have passed.

    With ``nursery.start(run_bot, ...)``, the start returns once the bot is in all its rooms.
    """
    with trio.move_on_after(seconds):
        async with triochat.connect(host, port, nick=nick, wire_format="json") as chat:
            # The server puts every newcomer in #lobby; join the others.
            present = {chat.room}
            for room in ROOMS:
                if room not in present:
                    await chat.send_command("join", room=room)
            ready = False
            async for event in chat.events():
                if isinstance(event, triochat.Joined) and event.sender == chat.nick:
                    present.add(event.room)
                if not ready and present.issuperset(ROOMS):
                    ready = True
                    task_status.started()
                # Skip replayed history (questions asked before the bot came) and its own lines.
                if not isinstance(event, triochat.Message) or event.history:
                    continue
                if event.sender == chat.nick:
                    continue
                command = event.text.strip().lower()
                if command == "!time":
                    await chat.send_command("say", room=event.room, text=answer(event))
                elif command == "!quit":
                    # The server says goodbye and closes the connection; the loop then ends.
                    await chat.quit(f"asked to by {event.sender}")


async def demo() -> None:
    """Run a server and the bot in this process, and ask for the time in both rooms."""
    config = triochat.ServerConfig(host="127.0.0.1", port=0)
    async with trio.open_nursery() as nursery:
        server: triochat.ChatServer = await nursery.start(triochat.ChatServer(config=config).serve)
        host, port = server.addresses[0][:2]
        with trio.fail_after(10):  # a demo must not hang, whatever happens
            async with triochat.connect(host, port, nick="alice", wire_format="json") as alice:
                await alice.send_command("join", room="#bots")
                await nursery.start(run_bot, host, port)
                events = alice.events()
                for room in ROOMS:
                    await alice.send_command("say", room=room, text="!time")
                    async for event in events:
                        if isinstance(event, triochat.Message):
                            print(f"{event.room:7} <{event.sender}> {event.text}")
                            if event.sender == BOT_NICK:
                                break
                await alice.send_command("say", room="#bots", text="!quit")
                async for event in events:
                    if isinstance(event, triochat.Left) and event.sender == BOT_NICK:
                        print(f"{event.room:7} {event.sender} left ({event.reason})")
                        break
        nursery.cancel_scope.cancel()  # stop the server


def main(argv: list[str]) -> int:
    if not argv:
        trio.run(demo)
        return 0
    if len(argv) not in (2, 3) or not argv[1].isdecimal():
        print("usage: python docs/examples/bot.py [HOST PORT [SECONDS]]", file=sys.stderr)
        return 2
    seconds = float(argv[2]) if len(argv) == 3 else math.inf
    try:
        trio.run(lambda: run_bot(argv[0], int(argv[1]), seconds=seconds))
    except triochat.ChatClientError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def arguments() -> list[str]:
    """The command-line arguments, if this file is the program being run.

    Run from another program (the docs tests use runpy), ``sys.argv[1:]`` holds that program's
    arguments; ``sys.orig_argv``, the interpreter's own command line, tells which file it runs.
    """
    here = Path(__file__).resolve()
    scripts = [Path(arg).resolve() for arg in sys.orig_argv[1:] if arg.endswith(".py")]
    return sys.argv[1:] if here in scripts else []


if __name__ == "__main__":
    status = main(arguments())
    if status:  # (not for 0: SystemExit would also end a program that runs this file by runpy)
        sys.exit(status)
