"""Where a client came into each room (Session.arrivals, kept as pairs for idle memory): the
auto-joined room is noted at start, a room left is forgotten at the next join, and joining a
room again does not move its arrival."""

from __future__ import annotations

from triochat.core._hub import Hub
from triochat.session._commands import Join, Part
from triochat.session._policy import SessionPolicy
from triochat.session._session import Session


async def test_arrivals_follow_the_rooms_a_client_is_in() -> None:
    hub = Hub()
    lobby = hub.room("#lobby")
    hub.join(hub.connect("early"), "#lobby")  # so that the lobby's seq is not 0
    session = Session(hub, hub.connect("alice"), policy=SessionPolicy(auto_join="#lobby"))
    assert session.arrived("#lobby") is None
    session.start()
    at_lobby = lobby.seq
    assert session.arrived("#lobby") == at_lobby
    assert await session.execute(Join("#rust")) is None
    assert session.arrived("#rust") == hub.room("#rust").seq
    assert await session.execute(Join("#lobby")) is None  # again: its arrival stays
    assert session.arrived("#lobby") == at_lobby
    assert await session.execute(Part("#rust")) is None
    assert await session.execute(Join("#go")) is None  # forgets #rust, which it left
    assert [name for name, _ in session.arrivals] == ["#lobby", "#go"]
    assert session.arrived("#rust") is None
