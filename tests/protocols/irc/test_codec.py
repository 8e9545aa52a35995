"""The IRC codec alone, sans-IO: frames, registration, the mapping to session commands, rendering,
and hypothesis fuzzing of all of it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from triochat.core._events import Joined, Left, Message, NickChanged, Notice, Private
from triochat.protocols.irc import IrcCodec, MessageError, parse_message
from triochat.session import Quit
from triochat.session._front_commands import (
    ChannelMode,
    ChatHistory,
    Echo,
    JoinRoom,
    ModeQuery,
    PartAll,
    SayTo,
    SignOn,
)
from triochat.session._input import InputError, InputProblem

TIME = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def decode_all(codec: IrcCodec, data: bytes) -> list[object]:
    return [codec.decode(frame) for frame in codec.receive(data)]


def echoes(codec: IrcCodec, count: int = 1) -> bytes:
    """What the codec sends where the session put *count* Echo notices."""
    return codec.encode([Notice(text="", kind="echo") for _ in range(count)])


def registered(*caps: str, nick: str = "alice") -> IrcCodec:
    codec = IrcCodec()
    wanted = f"CAP REQ :{' '.join(caps)}\r\n" if caps else ""
    inputs = decode_all(codec, f"CAP LS 302\r\nNICK {nick}\r\nUSER u 0 * :U\r\n{wanted}".encode())
    assert set(inputs) <= {Echo(), None}
    (sign_on,) = decode_all(codec, b"CAP END\r\n")
    assert isinstance(sign_on, SignOn)
    assert sign_on.nick == nick
    assert sign_on.then(None) == Echo()
    echoes(codec, inputs.count(Echo()) + 1)
    return codec


def test_registration_ends_in_a_sign_on_and_the_welcome() -> None:
    codec = IrcCodec()
    decode_all(codec, b"NICK alice\r\n")
    (sign_on,) = decode_all(codec, b"USER alice 0 * :Alice\r\n")
    assert isinstance(sign_on, SignOn)
    assert (sign_on.nick, sign_on.password, sign_on.account) == ("alice", None, None)
    assert sign_on.then(None) == Echo()
    lines = [parse_message(line) for line in echoes(codec).decode().split("\r\n") if line]
    assert [m.command for m in lines][:5] == ["001", "002", "003", "004", "005"]
    assert lines[-1].command == "376"
    assert codec.nick == "alice"


def test_a_refused_nick_reopens_registration() -> None:
    codec = IrcCodec()
    decode_all(codec, b"NICK bob\r\n")
    (sign_on,) = decode_all(codec, b"USER bob 0 * :Bob\r\n")
    assert isinstance(sign_on, SignOn)
    assert sign_on.then("nick_in_use") == Echo()
    (refusal,) = [parse_message(line) for line in echoes(codec).decode().split("\r\n") if line]
    assert (refusal.command, refusal.params[:2]) == ("433", ("*", "bob"))
    # Until a new nick, nothing but registration.
    assert decode_all(codec, b"JOIN #x\r\n") == [Echo()]
    assert b" 451 " in echoes(codec)
    (again,) = decode_all(codec, b"NICK bob_\r\n")
    assert isinstance(again, SignOn)
    assert again.nick == "bob_"


def test_commands_map_to_session_commands() -> None:
    codec = registered()
    assert decode_all(codec, b"JOIN #a,#b\r\nJOIN 0\r\n") == [
        JoinRoom("#a"),
        JoinRoom("#b"),
        PartAll(),
    ]
    assert decode_all(codec, b"PRIVMSG #a :\x01ACTION waves\x01\r\nNOTICE bob :hi\r\n") == [
        SayTo("#a", "waves", action=True),
        SayTo("bob", "hi", quiet=True),
    ]
    assert decode_all(codec, b"MODE #a +ob carol x!*@*\r\nMODE #a b\r\nQUIT :bye\r\n") == [
        ChannelMode("#a", (("+", "o", "carol"), ("+", "b", "x"))),
        ModeQuery("#a", bans=True),
        Quit("bye"),
    ]
    (history,) = decode_all(
        codec, b"CHATHISTORY BEFORE #a timestamp=2026-01-02T03:04:05.678Z 500\r\n"
    )
    assert history == ChatHistory("#a", 100, TIME, subcommand="BEFORE")


def test_ping_is_answered_in_order_with_everything_else() -> None:
    codec = registered()
    assert decode_all(codec, b"PING :one\r\nPING two\r\n") == [Echo(), Echo()]
    said = Message(room="#a", seq=1, time=TIME, sender="bob", text="between")
    data = codec.encode([Notice(text="", kind="echo"), said, Notice(text="", kind="echo")])
    assert data == (
        b":triochat PONG triochat one\r\n"
        b":bob!~bob@triochat PRIVMSG #a between\r\n"
        b":triochat PONG triochat two\r\n"
    )


def test_bad_lines_are_input_errors() -> None:
    codec = registered()
    assert decode_all(codec, b"PRIVMSG #a :\xff\r\n") == [InputError(InputProblem.NOT_UTF8)]
    (too_long,) = decode_all(codec, b"PRIVMSG #a :" + b"x" * 600 + b"\r\n")
    assert isinstance(too_long, InputError)
    assert too_long.problem is InputProblem.LINE_TOO_LONG
    assert decode_all(codec, b"   \r\n\r\n") == []


def test_events_are_rendered_once_per_capability_set_and_shared() -> None:
    plain, timed, timed_too = registered(), registered("server-time"), registered("server-time")
    event = Message(room="#a", seq=1, time=TIME, sender="bob", text="hi there")
    assert plain.encode([event]) == b":bob!~bob@triochat PRIVMSG #a :hi there\r\n"
    tagged = timed.encode([event])
    assert tagged == b"@time=2026-01-02T03:04:05.678Z :bob!~bob@triochat PRIVMSG #a :hi there\r\n"
    assert timed_too.encode([event]) is tagged  # the same bytes object


def test_own_messages_come_back_only_with_echo_message() -> None:
    without, with_echo = registered(), registered("echo-message")
    mine = Message(room="#a", seq=1, time=TIME, sender="alice", text="mine")
    private = Private(time=TIME, sender="alice", target="bob", text="psst")
    assert without.encode([mine, private]) == b""
    assert with_echo.encode([mine, private]).count(b"PRIVMSG") == 2


def test_a_quit_or_rename_seen_in_several_rooms_is_sent_once() -> None:
    codec = registered()
    quits = [
        Left(room=room, seq=1, sender="bob", reason="quit", quit=True) for room in ("#a", "#b")
    ]
    renames = [NickChanged(room=room, seq=2, sender="alice", new="alicia") for room in ("#a", "#b")]
    data = codec.encode([*quits, *renames])
    assert data.count(b"QUIT") == 1
    assert data.count(b"NICK") == 1
    assert codec.nick == "alicia"
    parted = Left(room="#a", seq=3, sender="carol", reason="bye")
    assert codec.encode([parted]) == b":carol!~carol@triochat PART #a bye\r\n"


def test_history_waits_for_the_names_and_comes_in_a_batch() -> None:
    codec = registered("batch", "server-time")
    old = Message(room="#a", seq=1, time=TIME, sender="bob", text="old").as_history()
    joined = Joined(room="#a", seq=2, time=TIME, sender="alice")
    names = Notice(text="", kind="joined", data={"room": "#a", "topic": "", "members": []})
    lines = codec.encode([old, joined, names]).decode().split("\r\n")
    commands = [parse_message(line).command for line in lines if line]
    assert commands == ["JOIN", "366", "BATCH", "PRIVMSG", "BATCH"]


def test_long_text_is_split_into_lines_that_fit() -> None:
    codec = registered()
    text = "é" * 700 + " end"
    event = Message(room="#a", seq=1, time=TIME, sender="bob", text=text)
    lines = [line for line in codec.encode([event]).split(b"\r\n") if line]
    assert len(lines) > 1
    assert all(len(line) + 2 <= 512 for line in lines)
    assert "".join(parse_message(line.decode()).params[1] for line in lines) == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_decode_without_raising(data: bytes) -> None:
    codec = registered()
    for frame in codec.receive(data):
        codec.decode(frame)  # a command, an input error or nothing, never an exception
    echoes(codec, 3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["NICK", "USER", "CAP", "PING", "JOIN", "PRIVMSG", "MODE", "AUTHENTICATE", "PASS"]
        )
        | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
        max_size=12,
    ),
    st.lists(st.text(max_size=30), max_size=4),
)
def test_any_commands_before_and_after_registration(verbs: list[str], params: list[str]) -> None:
    codec = IrcCodec()
    tail = " ".join(p.replace(" ", "") or "x" for p in params[:-1])
    last = params[-1] if params else ""
    lines = [f"{verb} {tail} :{last}" for verb in verbs]
    data = "\r\n".join(lines).encode("utf-8", "replace") + b"\r\n"
    for frame in codec.receive(data):
        result = codec.decode(frame)
        then = getattr(result, "then", None)
        if then is not None:
            then(None)
    out = echoes(codec, len(lines) + 2)
    for line in out.split(b"\r\n"):
        if line:
            try:
                parse_message(line.decode())
            except MessageError as exc:  # pragma: no cover - the assertion is the test
                raise AssertionError(f"the codec sent a line that is not IRC: {line!r}") from exc


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1, max_size=1500).filter(
        lambda t: "\r" not in t and "\n" not in t and "\x00" not in t
    )
)
def test_any_message_text_renders_as_lines_that_fit_and_parse_back(text: str) -> None:
    codec = registered()
    event = Message(room="#a", seq=1, time=TIME, sender="bob", text=text)
    lines = [line for line in codec.encode([event]).split(b"\r\n") if line]
    assert all(len(line) + 2 <= 512 for line in lines)
    assert "".join(parse_message(line.decode()).params[1] for line in lines) == text


def test_a_busy_room_batch_is_shared_but_never_what_was_left_out_for_someone() -> None:
    """Members of a busy room hold the same batch: its bytes are joined once and shared, except
    by a member who sent some of it (and does not take its own echoes)."""
    bob, alice, carol = registered(nick="bob"), registered(), registered(nick="carol")
    batch = [
        Message(room="#a", seq=n, time=TIME, sender=sender, text=f"line {n}")
        for n, sender in enumerate(["bob", "dave", "bob"], 1)
    ]
    # bob encodes first: his own lines are left out, and that must not be shared.
    assert bob.encode(list(batch)).count(b"PRIVMSG") == 1
    for_alice = alice.encode(list(batch))
    assert for_alice.count(b"PRIVMSG") == 3
    assert carol.encode(list(batch)) is for_alice
    assert bob.encode(list(batch)).count(b"PRIVMSG") == 1
