"""Rooms' moderation, history and quiet rooms through the library API (no network).

These pin down what the server tests only skim: who is kicked by a ban and who is not, the
exact messages of refusals, the bounds (bans per room, topic length), which events a kick
publishes, and what a large ("quiet") room tells whom.
"""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing

from tests.core.test_core import drain
from triochat import (
    SLOW_CONSUMER,
    BanChanged,
    ChatError,
    Event,
    Hub,
    Joined,
    Kicked,
    Left,
    Member,
    Message,
    NickChanged,
    Notice,
    NotInRoom,
    NotOperator,
    Private,
    Room,
)


def club(*nicks: str, addresses: tuple[str, ...] = ()) -> tuple[Hub, Room, list[Member]]:
    """A hub with a room #club made by the first of *nicks* (its operator), all of them in it,
    and every outbox emptied."""
    hub = Hub()
    members = []
    for index, nick in enumerate(nicks):
        address = addresses[index] if index < len(addresses) else ""
        member = hub.connect(nick, address=address)
        hub.join(member, "#club")
        members.append(member)
    for member in members:
        drain(member)
    return hub, hub.room("#club"), members


# ---------------------------------------------------------------------------------- kick


def test_kick_tells_everyone_once_and_publishes_no_leave() -> None:
    _, room, (alice, bob, carol) = club("alice", "bob", "carol")
    event = room.kick(alice, "BOB")  # any case
    assert (event.sender, event.target, event.reason) == ("alice", "bob", "")
    for member in (alice, bob, carol):
        assert drain(member) == [event]  # the Kicked event, and no Left after it
    assert room.nicks == ["alice", "carol"]
    assert bob.rooms == {}


def test_kick_refusals_say_why() -> None:
    _, room, (alice, bob) = club("alice", "bob")
    with pytest.raises(NotInRoom, match=r"^zed is not in #club$"):
        room.kick(alice, "zed")
    with pytest.raises(NotOperator, match=r"^you are not an operator of #club$"):
        room.kick(bob, "alice")
    bob.is_admin = True
    with pytest.raises(NotOperator, match=r"^bob is a server admin$"):
        room.kick(alice, "bob")
    assert room.nicks == ["alice", "bob"]


# ---------------------------------------------------------------------------------- bans


def test_ban_removes_only_those_it_matches_and_never_the_operator() -> None:
    _, room, (op, eve, bob) = club(
        "op", "eve", "bob", addresses=("10.0.0.1", "10.6.6.6", "10.0.0.2")
    )
    event = room.ban(op, "  EVE ")
    assert isinstance(event, BanChanged)
    assert (event.sender, event.mask, event.banned) == ("op", "eve", True)
    assert room.nicks == ["op", "bob"]
    assert room.bans == ["eve"]
    assert eve.rooms == {}
    # An address ban matches the address only; the operator's own match does not remove it.
    room.ban(op, "@10.0.0.*")
    assert room.nicks == ["op"]
    assert bob.rooms == {}
    kicks = [e for e in drain(op) if isinstance(e, Kicked)]
    assert [(k.target, k.reason) for k in kicks] == [("eve", "banned"), ("bob", "banned")]


@pytest.mark.parametrize(
    ("mask", "nick", "address", "matches"),
    [
        ("eve", "Eve", "10.0.0.1", True),
        ("eve", "eve2", "10.0.0.1", False),
        ("eve*", "eve2", "", True),
        ("@10.6.6.*", "anyone", "10.6.6.6", True),
        ("@10.6.6.*", "anyone", "10.7.6.6", False),
        ("@10.6.6.*", "anyone", "", False),
        ("eve@10.6.6.6", "eve", "10.6.6.6", True),
        ("eve@10.6.6.6", "eve", "10.6.6.7", False),
        ("eve@10.6.6.6", "bob", "10.6.6.6", False),
        ("@unix:/run/chat.sock", "local", "unix:/run/chat.sock", True),
    ],
)
def test_ban_masks(mask: str, nick: str, address: str, matches: bool) -> None:
    hub, room, (op,) = club("op")
    room.ban(op, mask)
    member = hub.connect(nick, address=address)
    assert room.is_banned(member) is matches


@pytest.mark.parametrize("mask", ["", "   ", "@", "a b", "eve@", "a@b@c", "x" * 41])
def test_bad_ban_masks_are_refused_with_the_syntax(mask: str) -> None:
    _, room, (op,) = club("op")
    with pytest.raises(ChatError) as refused:
        room.ban(op, mask)
    assert str(refused.value) == (
        "a ban mask is NICK, @ADDRESS or NICK@ADDRESS, with * and ? wildcards"
    )
    assert room.bans == []


def test_a_room_holds_at_most_a_hundred_bans() -> None:
    _, room, (op,) = club("op")
    for number in range(100):
        room.ban(op, f"spammer{number}")
    room.ban(op, "spammer7")  # banning again what is banned needs no room
    with pytest.raises(ChatError, match=r"^#club already has 100 bans$"):
        room.ban(op, "one-too-many")
    assert len(room.bans) == 100


def test_unban_announces_and_refuses_what_is_not_banned() -> None:
    _, room, (op, bob) = club("op", "bob")
    room.ban(op, "eve")
    drain(bob)
    event = room.unban(op, "EVE")
    assert (event.sender, event.mask, event.banned) == ("op", "eve", False)
    assert drain(bob) == [event]
    assert room.bans == []
    with pytest.raises(ChatError, match=r"^eve is not banned in #club$"):
        room.unban(op, "eve")


# -------------------------------------------------------------------------- topic, history


def test_topic_length_bound_and_who_may_set_it() -> None:
    hub, room, (alice,) = club("alice")
    room.set_topic(alice, "x" * 300)
    assert room.topic == "x" * 300
    with pytest.raises(ChatError, match=r"^a topic has at most 300 characters$"):
        room.set_topic(alice, "x" * 301)
    outsider = hub.connect("outsider")
    with pytest.raises(NotInRoom, match=r"^you are not in #club$"):
        room.set_topic(outsider, "mine")


async def test_recent_returns_the_last_events_kept() -> None:
    _, room, (alice,) = club("alice")
    for number in range(3):
        await alice.say(f"line {number}")
    said = [event.text for event in room.recent() if isinstance(event, Message)]
    assert said == ["line 0", "line 1", "line 2"]
    assert [event.text for event in room.recent(1) if isinstance(event, Message)] == ["line 2"]
    assert len(room.recent(2)) == 2
    assert room.recent(0) == []
    assert room.recent(-1) == []


# ----------------------------------------------------------------------------- nicks, privates


def test_renaming_a_member_of_another_hub_is_refused() -> None:
    hub, other = Hub(), Hub()
    stranger = other.connect("stranger")
    with pytest.raises(ChatError, match=r"^stranger is not connected$"):
        hub.rename(stranger, "local")
    assert stranger.nick == "stranger"
    assert hub.member("local") is None


def test_private_message_to_oneself_arrives_once() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    event = hub.send_private(alice, "ALICE", "note to self")
    assert drain(alice) == [event]


def test_private_message_to_a_full_outbox_cuts_off_the_recipient_only() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    slow = hub.connect("slow", max_events=1)
    hub.send_private(alice, "slow", "one")
    hub.send_private(alice, "slow", "two")  # no room for it
    assert slow.removed_reason == SLOW_CONSUMER
    assert alice.connected
    assert [e.text for e in drain(alice) if isinstance(e, Private)] == ["one", "two"]


# --------------------------------------------------------------------------------- quiet rooms


def quiet_lobby(*nicks: str, limit: int = 1) -> tuple[Hub, list[Member]]:
    """A hub that stops announcing in rooms of more than *limit* members, everyone joined."""
    hub = Hub(announce_limit=limit)
    members = [hub.connect(nick) for nick in nicks]
    for member in members:
        hub.join(member, "#lobby")
    for member in members:
        drain(member)
    return hub, members


def test_in_a_quiet_room_only_the_renamed_member_hears_of_it() -> None:
    hub, (alice, bob) = quiet_lobby("alice", "bob")
    hub.rename(bob, "robert")
    told = drain(bob)
    assert len(told) == 1
    change = told[0]
    assert isinstance(change, NickChanged)
    assert (change.room, change.sender, change.new, change.seq) == ("#lobby", "bob", "robert", 0)
    assert abs(change.time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert drain(alice) == []


def test_in_a_quiet_room_a_newcomer_with_no_room_for_its_join_is_cut_off() -> None:
    hub, _ = quiet_lobby("alice", "bob")
    newcomer = hub.connect("newcomer", max_events=1)
    newcomer.notify("fills the outbox")
    hub.join(newcomer, "#lobby")
    assert newcomer.removed_reason == SLOW_CONSUMER
    assert "newcomer" not in hub.room().nicks


def test_in_a_quiet_room_a_renamed_member_with_a_full_outbox_is_cut_off() -> None:
    hub, (alice, bob) = quiet_lobby("alice", "bob")
    full = hub.connect("full", max_events=2)
    hub.join(full, "#lobby")
    (joined,) = drain(full)
    assert isinstance(joined, Joined)
    full.notify("one")
    full.notify("two")
    hub.rename(full, "renamed")
    assert full.removed_reason == SLOW_CONSUMER
    assert hub.member("renamed") is None
    # Nobody else was told of the rename, nor of the departure (the room is quiet).
    assert [e for e in drain(alice) if isinstance(e, NickChanged | Left)] == []
    assert alice.connected
    assert bob.connected


async def test_member_waiting_for_an_event_gets_it() -> None:
    hub = Hub()
    alice = hub.connect("alice")
    received: list[Event] = []

    async def wait_for_one() -> None:
        received.append(await alice.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_one)
        await trio.testing.wait_all_tasks_blocked()
        alice.notify("wake up")
    assert [event.text for event in received if isinstance(event, Notice)] == ["wake up"]


def test_part_announces_the_reason_or_none_and_refuses_outsiders() -> None:
    hub, room, (alice, bob, carol) = club("alice", "bob", "carol")
    hub.part(bob)
    hub.part(carol, "#CLUB", "lunch")
    left = [event for event in drain(alice) if isinstance(event, Left)]
    assert [(event.sender, event.reason) for event in left] == [("bob", ""), ("carol", "lunch")]
    assert room.nicks == ["alice"]
    with pytest.raises(NotInRoom, match=r"^you are not in any room$"):
        hub.part(bob)
    with pytest.raises(NotInRoom, match=r"^you are not in #club$"):
        hub.part(bob, "#club")
