"""Text-format lines name their room whenever the reader is in more than one room."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import ChatServer, Event
from triochat.protocols.text import _codec, _render


async def test_lobby_lines_are_labelled_for_a_member_in_several_rooms(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[tuple[str, str]] = Counter()

    def counting(name: str, real: Callable[[Event], bytes]) -> Callable[[Event], bytes]:
        def render(event: Event) -> bytes:
            calls[name, getattr(event, "text", "")] += 1
            return real(event)

        return render

    monkeypatch.setitem(_codec.RENDERERS, "text", counting("text", _codec.RENDERERS["text"]))
    monkeypatch.setattr(
        _codec, "render_text_labelled", counting("labelled", _render.render_text_labelled)
    )
    server = ChatServer()
    async with trio.open_nursery() as nursery:
        # alice and carol are in #lobby and #games; bob and dave only in #lobby.
        alice, bob, carol, dave = [
            await FakeClient.connect(nursery, server, f"fake:{i}") for i in range(4)
        ]
        for client in (alice, carol):
            await client.send("/join #games")
            await client.until("joined #games")
        await bob.send("hello lobby")
        await carol.send("hello games")
        for client in (alice, carol):
            line = await client.until("hello lobby")
            assert line[11:] == "#lobby <guest-2> hello lobby"
            line = await client.until("hello games")
            assert line[11:] == "#games <guest-3> hello games"
        for client in (bob, dave):
            line = await client.until("hello lobby")
            assert line[11:] == "<guest-2> hello lobby"
        # Encode-once still holds: each variant of a lobby line is rendered once for all who
        # read it; a line of another room reads the same in both, and is rendered once.
        assert calls["text", "hello lobby"] == 1
        assert calls["labelled", "hello lobby"] == 1
        assert calls["text", "hello games"] == 1
        assert calls["labelled", "hello games"] == 0
        nursery.cancel_scope.cancel()


async def test_labels_follow_the_rooms_a_member_is_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ChatServer()
    async with trio.open_nursery() as nursery:
        alice = await FakeClient.connect(nursery, server, "fake:1")
        bob = await FakeClient.connect(nursery, server, "fake:2")
        await alice.send("/join #games")
        await alice.until("joined #games")
        await bob.send("one")
        assert (await alice.until("one"))[11:] == "#lobby <guest-2> one"
        await alice.send("/part #games")
        await alice.until("left #games")
        await bob.send("two")
        assert (await alice.until("two"))[11:] == "<guest-2> two"
        nursery.cancel_scope.cancel()
