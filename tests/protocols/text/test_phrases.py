"""Structured replies: the session and the core answer with codes and values, the text
protocol's phrasebook words them, and nothing is left without a sentence."""

from __future__ import annotations

import json
import logging

import attrs
import pytest
import trio
import trio.testing

from tests.memory_client import FakeClient
from triochat import (
    ChatError,
    ChatServer,
    ErrorCode,
    Hub,
    Notice,
    NotInRoom,
    ServerConfig,
    TooManyRooms,
)
from triochat.core._member import Member
from triochat.protocols.jsonl import render_json
from triochat.protocols.text._parse import parse_command
from triochat.protocols.text._phrases import ERRORS, REPLIES, notice_text
from triochat.session import (
    Ban,
    Command,
    Format,
    Help,
    History,
    Join,
    Nick,
    Part,
    Quit,
    ReplyKind,
    Rooms,
    SessionPolicy,
    Switch,
    Topic,
    Unknown,
    Who,
)
from triochat.session._auth import Guard, Secret
from triochat.session._session import Session


def test_every_error_code_has_a_phrase() -> None:
    assert [code for code in ErrorCode if code not in ERRORS] == []


def test_every_reply_kind_has_a_phrase() -> None:
    assert [kind for kind in ReplyKind if kind not in REPLIES] == []


def _notices(member: Member) -> list[Notice]:
    # The replies, without the room events (joins, topics...) between them.
    return [event for event in member.take_all() if isinstance(event, Notice)]


async def test_session_replies_carry_no_text_and_every_one_is_worded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tour of the commands: every reply is structured, of a known kind, and its phrase
    words it from the values it carries (no fallback, which would log a warning)."""
    hub = Hub()
    member = hub.connect("alice")
    session = Session(hub, member)
    session.start()
    commands: list[Command] = [
        Help(),
        Join("#rust"),
        Who(),
        Who("#rust", 7),
        Rooms(),
        Topic(),
        Topic("crabs"),
        Topic(),
        Ban(None),
        Ban("mallory"),
        Ban("mallory", add=False),
        Ban("nobody", add=False),
        Switch("#lobby"),
        Switch("#nowhere"),
        History(3),
        Part("#rust"),
        Part("#rust"),
        Part(None),
        Part(None),
        Topic(),
        Nick("bob", "secret"),
        Nick("1bad"),
        Format("json"),
        Unknown("no such thing"),
    ]
    for command in commands:
        assert await session.execute(command) is None
    session.ping(150)
    session.slow_down(5, 10)
    notices = _notices(member)
    kinds = {str(kind) for kind in ReplyKind} | {"error"}
    assert [n for n in notices if n.text or n.kind not in kinds] == []
    with caplog.at_level(logging.WARNING, logger="triochat.protocols"):
        worded = [notice_text(notice) for notice in notices]
    assert caplog.records == []
    assert "error: you are not in any room; /join #ROOM" in worded
    assert "error: usage: /nick NAME (a nick has no spaces)" in worded
    assert "topic of #rust: crabs" in worded
    assert await session.execute(Quit("bye")) is not None


def test_a_missing_phrase_falls_back_to_the_description(caplog: pytest.LogCaptureFixture) -> None:
    # The params do not fit the phrase (no "nick"): the error's own description stands in.
    notice = Notice(error=True, code=ErrorCode.NICK_IN_USE, params={"description": "taken"})
    unworded = Notice(kind=ReplyKind.WHO, data={"room": "#a"})
    with caplog.at_level(logging.WARNING, logger="triochat.protocols"):
        assert notice_text(notice) == "error: taken"
        assert notice_text(unworded) == "who"
        assert notice_text(Notice(error=True, code=ErrorCode.NICK_IN_USE)) == "error: nick in use"
    assert len(caplog.records) == 3
    # A library user's notice of a kind of its own, with no text, stays without words.
    assert notice_text(Notice(kind="mystery")) == ""


def test_a_notice_with_text_keeps_it() -> None:
    notice = Notice(text="hello from a bot", kind="welcome", data={"nick": "x", "room": "#a"})
    assert notice_text(notice) == "hello from a bot"
    assert json.loads(render_json(notice))["text"] == "hello from a bot"


def test_params_are_worded_but_never_sent_as_data() -> None:
    notice = Notice(kind="welcome", data={"nick": "ann", "room": "#lobby"}, params={"others": 2})
    obj = json.loads(render_json(notice))
    assert obj["data"] == {"nick": "ann", "room": "#lobby"}
    assert obj["text"].startswith("welcome to triochat, ann! You are in #lobby with 2 others.")


async def test_core_errors_describe_without_slash_syntax() -> None:
    hub = Hub(rooms_per_member=1)
    alice = hub.connect("alice")
    with pytest.raises(NotInRoom) as no_room:
        await alice.say("hi")
    hub.join(alice, "#one")
    with pytest.raises(TooManyRooms) as too_many:
        hub.join(alice, "#two")
    cases = [
        (no_room.value, ErrorCode.NO_ROOM, "you are not in any room", "; /join #ROOM"),
        (too_many.value, ErrorCode.TOO_MANY_ROOMS, "you are already in 1 rooms", "; /part one"),
    ]
    for exc, code, description, hint in cases:
        assert (exc.code, str(exc)) == (code, description)
        # The wire says what to type: the phrasebook's sentence, from the code and params.
        wired = Notice(error=True, code=exc.code, params=exc.params)
        assert notice_text(wired) == f"error: {description}{hint}"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("/nick", ErrorCode.USAGE),
        ("/frobnicate", ErrorCode.UNKNOWN_COMMAND),
        ("{]", ErrorCode.INVALID_COMMAND),
        ('{"cmd": "frobnicate"}', ErrorCode.UNKNOWN_COMMAND),
    ],
)
def test_what_the_parsers_cannot_read_has_a_code(line: str, code: ErrorCode) -> None:
    command = parse_command(line, json_commands=True)
    assert isinstance(command, Unknown)
    assert command.code is code


# ------------------------------------------------------------------------------ the policy


async def test_policy_without_auto_join_starts_in_no_room() -> None:
    hub = Hub()
    member = hub.connect("alice")
    Session(hub, member, policy=SessionPolicy(auto_join=None)).start()
    (welcome,) = _notices(member)
    assert member.rooms == {}
    assert (welcome.kind, welcome.data) == ("welcome", {"nick": "alice", "room": None})
    assert notice_text(welcome).startswith("welcome to triochat, alice! You are in no room. ")


async def test_policy_names_the_room_to_start_in() -> None:
    hub = Hub()
    member = hub.connect("alice")
    Session(hub, member, policy=SessionPolicy(auto_join="#rust")).start()
    assert list(member.rooms) == ["#rust"]
    assert "You are in #rust with 0 others." in notice_text(_notices(member)[0])


def test_policy_and_guard_must_agree_on_the_password() -> None:
    hub = Hub()
    guarded = Guard(password=Secret.from_text("hunter22"))
    with pytest.raises(ValueError, match="password"):
        Session(hub, hub.connect("a"), guarded, SessionPolicy())
    with pytest.raises(ValueError, match="password"):
        Session(hub, hub.connect("b"), Guard(), SessionPolicy(password_required=True))
    session = Session(hub, hub.connect("c"), guarded)
    assert session.policy.password_required
    assert not session.authenticated


async def test_server_passes_its_policy_to_every_session(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig(port=0))
    # The default policy, telling the server's limits in the welcome.
    assert attrs.evolve(server.policy, limits=None) == SessionPolicy()
    assert server.policy.limits is not None
    server.policy = SessionPolicy(auto_join=None)
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(lambda: server.handle_stream(server_end, "fake:1"))
    client = FakeClient(client_end)
    assert "You are in no room." in await client.until("welcome")
    assert server.hub.rooms == []
    await client.stream.send_all(b"hello\n")
    assert await client.until("error") == "*** error: you are not in any room; /join #ROOM"


def test_chat_error_keeps_its_params() -> None:
    exc = ChatError("plain words", code=ErrorCode.BANNED, room="#x")
    assert (str(exc), exc.code, exc.params) == ("plain words", ErrorCode.BANNED, {"room": "#x"})
