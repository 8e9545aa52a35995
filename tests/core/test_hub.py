"""The hub and its rooms through the library API: bounds, names, history and membership edges."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.core.test_core import drain
from triochat import (
    SLOW_CONSUMER,
    Hub,
    InvalidNick,
    InvalidRoom,
    Joined,
    Left,
    NotOperator,
)
from triochat.core._hub import normalize_room_name, validate_nick


def test_hub_history_bounds_are_checked_with_their_reasons() -> None:
    for options in ({"history_events": -1}, {"history_bytes": -1}):
        with pytest.raises(ValueError, match=r"^history bounds cannot be negative$"):
            Hub(**options)  # type: ignore[arg-type]
    assert Hub(history_bytes=0).history_bytes == 0
    assert Hub(history_events=512, outbox_events=1024).history_events == 512
    with pytest.raises(
        ValueError, match=r"^history_events \(10\) must be at most half of outbox_events \(19\)$"
    ):
        Hub(history_events=10, outbox_events=19)


def test_rooms_keep_the_history_their_hub_was_given() -> None:
    hub = Hub(history_events=2, history_bytes=10_000)
    room = hub.room("#small")
    assert (room.log.max_events, room.log.max_bytes) == (2, 10_000)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("nick", "valid"), [("a", True), ("x" * 24, True), ("x" * 25, False)])
def test_nick_lengths(nick: str, valid: bool) -> None:
    if valid:
        assert validate_nick(nick) == nick
    else:
        with pytest.raises(InvalidNick, match=r"^a nick has 1 to 24 characters$"):
            validate_nick(nick)


def test_bad_nick_characters_are_explained() -> None:
    with pytest.raises(InvalidNick) as refused:
        validate_nick("1abc")
    assert str(refused.value) == (
        "a nick starts with a letter or '_' and has only letters, digits and _-[]{}|^`; "
        "this one does not start with a letter or '_'"
    )


def test_room_name_lengths() -> None:
    assert normalize_room_name("x" * 32) == "#" + "x" * 32
    with pytest.raises(InvalidRoom, match=r"1 to 32 letters"):
        normalize_room_name("x" * 33)


def test_members_have_no_address_unless_given() -> None:
    hub = Hub()
    assert hub.connect("local").address == ""
    assert hub.connect("remote", address="192.0.2.1").address == "192.0.2.1"


def test_joining_makes_the_room_current_even_when_already_in_it() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    first = hub.room("#first")
    assert first.join(alice).sender == "alice"
    assert alice.current_room is first
    second = hub.join(alice, "#second")
    assert alice.current_room is second
    assert hub.join(alice, "#FIRST") is first
    assert alice.current_room is first


def test_parting_with_no_reason_and_losing_operator_status() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    club = hub.join(alice, "#club")  # its creator, so its operator
    hub.join(bob, "#club")
    drain(bob)
    club.part(alice)
    assert [(e.sender, e.reason) for e in drain(bob) if isinstance(e, Left)] == [("alice", "")]
    hub.join(alice, "#club")  # back, but the room was not new: no operator any more
    assert not club.is_operator(alice)
    with pytest.raises(NotOperator):
        club.kick(alice, "bob")


def test_forgetting_an_empty_room_twice_is_harmless() -> None:
    hub = Hub()
    room = hub.room("#gone")
    hub.forget_if_empty(room)
    hub.forget_if_empty(room)
    assert hub.find_room("#gone") is None


def test_a_disconnected_member_does_not_hear_its_own_departure() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#lobby")
    hub.join(bob, "#lobby")
    drain(alice)
    drain(bob)
    hub.disconnect(alice, "quit")
    assert drain(alice) == []
    assert [(e.sender, e.reason) for e in drain(bob) if isinstance(e, Left)] == [("alice", "quit")]


async def test_a_newcomer_whose_outbox_cannot_hold_the_history_is_cut_off_by_its_join() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    room = hub.join(alice, "#lobby")
    for number in range(3):
        await alice.say(f"line {number}")
    small = hub.connect("small", max_events=2)
    hub.join(small, "#lobby")
    assert small.removed_reason == SLOW_CONSUMER
    assert "small" not in room.nicks


def test_in_a_quiet_room_the_newcomer_alone_hears_of_its_join() -> None:
    hub = Hub(announce_limit=1)
    alice, bob = hub.connect("alice"), hub.connect("bob")
    hub.join(alice, "#lobby")
    drain(alice)
    hub.join(bob, "#lobby")
    (joined,) = drain(bob)
    assert isinstance(joined, Joined)
    assert (joined.room, joined.sender, joined.seq) == ("#lobby", "bob", 0)
    assert abs(joined.time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert drain(alice) == []


def test_joining_a_room_again_is_refused_but_makes_it_current() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    first = hub.join(alice, "#first")
    hub.join(alice, "#second")
    with pytest.raises(ValueError, match=r"^alice is already in #first$"):
        first.join(alice)
    assert alice.current_room is first
