"""docs/examples/bot.py: the bot answers "!time" in the room it was asked in, and only there.

The bot runs against the real server of the ``port`` fixture: first in this process (its
``run_bot`` loaded with runpy), then as the program a user would start, with HOST PORT SECONDS.
The people talking to it are raw text clients, so what they see is what ``nc`` would show.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
import trio

from tests.conftest import WAIT, LineClient

BOT: Final = Path(__file__).resolve().parents[2] / "docs" / "examples" / "bot.py"
# What the text format shows for a bot's answer: "[12:00:01] <timebot> alice: it is ...";
# a room other than the default one is named after the time.
ANSWER: Final = re.compile(
    r"^\[\d\d:\d\d:\d\d\] (?:(?P<room>#\S+) )?<timebot> (?P<asker>\S+): "
    r"it is (?P<time>\d\d:\d\d:\d\d) UTC on (?P<date>\d{4}-\d\d-\d\d)$"
)

RunBot = Callable[..., Awaitable[None]]


def environment() -> dict[str, str]:
    """The environment for the bot as a program: this checkout's triochat first."""
    env = dict(os.environ)
    root = str(BOT.parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def run_bot() -> RunBot:
    namespace: dict[str, Any] = runpy.run_path(str(BOT), run_name="bot_example")
    function: RunBot = namespace["run_bot"]
    return function


async def answers(client: LineClient, count: int) -> list[re.Match[str]]:
    """The next *count* answers of the bot that *client* sees (other lines are skipped)."""
    found: list[re.Match[str]] = []
    while len(found) < count:
        match = ANSWER.match(await client.line())
        if match:
            found.append(match)
    return found


def assert_is_now(match: re.Match[str]) -> None:
    said = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}+00:00")
    assert abs(dt.datetime.now(dt.UTC) - said) < dt.timedelta(seconds=WAIT + 5)


async def people(port: int) -> tuple[LineClient, LineClient, LineClient]:
    """alice in #lobby, bob in #bots, carol in both (with #bots her current room)."""
    alice = await (await LineClient.open(port)).registered("alice")
    bob = await (await LineClient.open(port)).registered("bob")
    await bob.send("/part #lobby")
    await bob.send("/join #bots")
    await bob.until("bob joined #bots")
    carol = await (await LineClient.open(port)).registered("carol")
    await carol.send("/join #bots")
    await carol.until("carol joined #bots")
    return alice, bob, carol


async def test_bot_answers_in_the_room_it_was_asked_in(
    port: int, nursery: trio.Nursery, run_bot: RunBot
) -> None:
    with trio.fail_after(WAIT * 2):
        alice, bob, carol = await people(port)
        # A question from before the bot came: it is replayed to the bot as history, and a
        # bot must not answer history.
        await alice.send("!time")
        await alice.until("<alice> !time")

        done = trio.Event()

        async def bot(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await run_bot("127.0.0.1", port, seconds=WAIT * 2, task_status=task_status)
            done.set()

        # Returns once the bot is in both of its rooms.
        await nursery.start(bot)
        await carol.until("timebot joined #bots")

        # In #bots first: the first answer anyone sees is this one, not one to the old question.
        await bob.send("!time")
        (in_bots,) = await answers(carol, 1)
        assert (in_bots["room"], in_bots["asker"]) == ("#bots", "bob")
        assert_is_now(in_bots)
        (for_bob,) = await answers(bob, 1)
        assert for_bob["asker"] == "bob"

        # Then in #lobby (the default room: named for carol, who is in two rooms, and not for
        # alice, who is in #lobby alone).
        await alice.send("!time")
        (in_lobby,) = await answers(carol, 1)
        assert (in_lobby["room"], in_lobby["asker"]) == ("#lobby", "alice")
        assert_is_now(in_lobby)
        (for_alice,) = await answers(alice, 1)
        assert (for_alice["room"], for_alice["asker"]) == (None, "alice")

        # "!quit" stops the bot; everyone in its rooms sees it leave.
        await bob.send("!quit")
        await done.wait()
        rest_bob = await bob.until("timebot left #bots")
        rest_alice = await alice.until("timebot left #lobby")
        # Neither heard an answer meant for the other room.
        assert not any(ANSWER.match(line) for line in rest_bob + rest_alice)
        for client in (alice, bob, carol):
            await client.aclose()


async def test_bot_stops_after_its_time(port: int, run_bot: RunBot) -> None:
    with trio.fail_after(WAIT):
        await run_bot("127.0.0.1", port, seconds=0.5)


async def test_bot_as_a_program(port: int) -> None:
    with trio.fail_after(WAIT * 2):
        alice, bob, carol = await people(port)
        async with trio.open_nursery() as inner:
            process: trio.Process = await inner.start(
                partial(
                    trio.run_process,
                    [sys.executable, str(BOT), "127.0.0.1", str(port), str(WAIT * 2)],
                    stdin=subprocess.DEVNULL,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    env=environment(),
                )
            )
            await carol.until("timebot joined #bots")
            await alice.send("!TIME")
            (answer,) = await answers(carol, 1)
            assert (answer["room"], answer["asker"]) == ("#lobby", "alice")  # carol: 2 rooms
            await bob.send("!quit")
            await process.wait()
        assert process.returncode == 0
        for client in (alice, bob, carol):
            await client.aclose()


async def test_bot_demo_without_arguments() -> None:
    with trio.fail_after(WAIT * 2):
        result = await trio.run_process(
            [sys.executable, str(BOT)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=environment(),
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line.split(" <")[0].strip() for line in lines[:4]] == ["#lobby"] * 2 + ["#bots"] * 2
    assert "<timebot> alice: it is " in lines[1]
    assert "<timebot> alice: it is " in lines[3]
    assert "timebot left" in lines[4]


async def test_bot_usage() -> None:
    with trio.fail_after(WAIT):
        result = await trio.run_process(
            [sys.executable, str(BOT), "just-a-host"],
            capture_stderr=True,
            check=False,
            env=environment(),
        )
    assert result.returncode == 2
    assert b"usage:" in result.stderr
