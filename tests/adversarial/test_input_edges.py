"""Input at the edges of the parser: huge numbers, invisible prefixes, invisible text, lone
surrogates, replies too large for one line, and what the reader does with a read's lines when
its own outbox holds it up (tracker issues 10 and 11).

In-process servers with in-memory clients where no socket is needed; real sockets where the
scenario depends on one (the eager flusher, a reader that does not read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.adversarial.helpers import open_raw, serve_process
from tests.conftest import WAIT, LineClient
from tests.memory_client import FakeClient
from triochat import ChatError, ChatServer, Hub, ServerConfig
from triochat.core._events import Notice
from triochat.protocols.text._parse import parse_command
from triochat.session._auth import Secret
from triochat.session._commands import Me, Msg, Say, Unknown

# ------------------------------------------------------------------------ huge numbers

_DIGITS = "9" * 4400  # past Python's 4 300-digit limit on int() of a string


async def test_history_with_thousands_of_digits_is_an_error_line(nursery: trio.Nursery) -> None:
    server = await nursery.start(ChatServer(config=ServerConfig(port=0, max_line=10_000)).serve)
    client = await (await LineClient.open(server.addresses[0][1])).registered("alice")
    for line in (f"/history {_DIGITS}", f"/rooms {_DIGITS}", f"/who #lobby {_DIGITS}"):
        await client.send(line)
        assert (await client.until("error"))[-1].startswith("*** error: usage: /")
    await client.send("/format json")
    await client.until('"kind":"format"')
    await client.send('{"cmd":"history","count":' + _DIGITS + "}")
    assert '"error":true' in (await client.until('"kind":"error"'))[-1]
    # Still serving, this client and a new one.
    await client.send('{"cmd":"help"}')
    await client.until('"kind":"help"')
    other = await (await LineClient.open(server.addresses[0][1])).registered("bob")
    for each in (client, other):
        await each.aclose()


def test_counts_are_parsed_with_a_length_bound() -> None:
    assert parse_command("/history 12") is not None
    for text in (f"/history {_DIGITS}", "/history 0", "/history -1", "/history 1e3"):
        command = parse_command(text)
        assert isinstance(command, Unknown), text


# ----------------------------------------------------------- secrets and invisible prefixes

_PREFIXES = [" ", "   ", "\t", "\ufeff", "\u200b", "\u00a0", "\u3000", "\u2060", "\ufeff \u200b"]


async def _json_mode(client: FakeClient) -> None:
    await client.send("/format json")
    await client.until('"kind":"format"')


async def _seen_until_marker(bob: FakeClient, alice: FakeClient, marker: str) -> list[str]:
    """Alice says *marker*; every line bob receives up to it."""
    await alice.send(marker)
    lines = []
    while True:
        line = await bob.line()
        assert line is not None
        lines.append(line)
        if marker in line:
            return lines


async def test_invisible_prefix_never_turns_a_secret_into_a_chat_line(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = ServerConfig(data_dir=str(tmp_path), admin_token=Secret.from_text("SECRET-token"))
    server = ChatServer(config=config)
    alice = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    bob = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    await alice.send("/nick alice")
    await bob.until("now known as alice")
    for index, prefix in enumerate(_PREFIXES):
        secrets = [
            "/register SECRET-password-1",
            f"/nick alice{index} SECRET-password-2",
            "/admin SECRET-token",
            "/pass SECRET-password-3",
            "/oper SECRET-token",
            "/unregister SECRET-password-4",
        ]
        for secret in secrets:
            await alice.send(prefix + secret)
        lines = await _seen_until_marker(bob, alice, f"marker {index}")
        assert not [line for line in lines if "SECRET" in line], (prefix, lines)
    # Alice got an answer to each, never her own words back.
    lines = await _seen_until_marker(alice, alice, "last marker")
    assert not [line for line in lines if "SECRET" in line]


def test_invisible_prefix_is_stripped_before_command_detection() -> None:
    for prefix in _PREFIXES:
        assert parse_command(prefix + "quit") is not None
        assert type(parse_command(prefix + "/me waves")) is Me
        assert parse_command(prefix + "//x") == Say("/x")
        assert parse_command(prefix + '{"cmd":"help"}', json_commands=True) == parse_command(
            '{"cmd":"help"}', json_commands=True
        )
    # An ordinary chat line keeps its leading spaces: indentation can matter.
    assert parse_command("    indented code") == Say("    indented code")


# ------------------------------------------------------------------------ invisible text

_INVISIBLE = ["\u2028", "\u2029", "\u200b", "\ufeff", "\u2060", "\U000e0041"]


async def test_line_separators_and_zero_width_characters_are_never_relayed(
    nursery: trio.Nursery,
) -> None:
    server = ChatServer()
    alice = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    bob = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    await bob.send("/nick bob")
    await alice.until("now known as bob")
    mixed = "a\u2028b\u2029c\u200bd\ufeffe\u2060f\U000e0041g"
    await alice.send(mixed)
    await alice.send(f"/me {mixed}")
    await alice.send(f"/msg bob {mixed}")
    await alice.send(f"/topic {mixed}")
    await _json_mode(alice)
    await alice.send(json.dumps({"cmd": "say", "text": mixed}))
    lines = await _seen_until_marker(bob, alice, "marker")
    relayed = [line for line in lines if "a" in line and "g" in line and "bob" not in line]
    assert len(relayed) >= 4, lines
    for line in lines:
        assert not any(ch in line for ch in _INVISIBLE), ascii(line)
    # Emoji sequences keep their joiners and selectors: 👨‍👩‍👧, ❤️, the flag of England.
    family, heart, england = (
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u2764\ufe0f",
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    )
    lines = await _seen_until_marker(bob, alice, f"{family} {heart} {england}")
    assert lines[-1].endswith(f"{family} {heart} {england}")


@pytest.mark.parametrize(
    "command",
    [
        {"cmd": "say", "text": ""},
        {"cmd": "say", "text": "   "},
        {"cmd": "say", "text": "\u200b\u00a0\ufeff"},
        {"cmd": "me", "text": ""},
        {"cmd": "me", "text": "\u2060 "},
        {"cmd": "msg", "to": "bob", "text": ""},
        {"cmd": "msg", "to": "bob", "text": "\u3000"},
    ],
)
def test_json_blank_chat_text_is_refused(command: dict[str, str]) -> None:
    parsed = parse_command(json.dumps(command), json_commands=True)
    assert isinstance(parsed, Unknown), parsed
    assert "empty" in parsed.message


def test_text_lines_of_only_invisible_characters_are_blank() -> None:
    for line in ("\u200b", "\u00a0 \u3000", "\ufeff", "\u2060\u200d", "\u115f"):
        assert parse_command(line) is None, ascii(line)
    assert isinstance(parse_command("/me \u200d"), Unknown)
    assert isinstance(parse_command("/msg bob \u00a0\u200b"), Unknown)
    assert parse_command("/msg bob hi") == Msg("bob", "hi")


async def test_blank_or_invisible_chat_is_never_relayed(nursery: trio.Nursery) -> None:
    server = ChatServer()
    alice = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    bob = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    await bob.send("/nick bob")
    await alice.until("now known as bob")
    await bob.until("now known as bob")
    await alice.send("\u200b\u00a0")
    await _json_mode(alice)
    for command in ({"cmd": "say", "text": ""}, {"cmd": "me", "text": "\u200b"}):
        await alice.send(json.dumps(command))
        assert '"error":true' in await alice.until('"kind":"error"')
    await alice.send(json.dumps({"cmd": "msg", "to": "bob", "text": ""}))
    await alice.until('"kind":"error"')
    lines = await _seen_until_marker(bob, alice, "marker")
    assert len(lines) == 1, lines


# ---------------------------------------------------------------------- lone surrogates


@pytest.mark.parametrize(
    "line",
    [
        '{"cmd":"nick","nick":"x\\udfff"}',
        '{"cmd":"say","text":"hi \\ud800 there"}',
        '{"cmd":"topic","text":"\\udc00"}',
        '{"cmd":"join","room":"#a\\ud83d"}',
    ],
)
def test_json_lone_surrogates_are_refused_not_altered(line: str) -> None:
    parsed = parse_command(line, json_commands=True)
    assert isinstance(parsed, Unknown), parsed
    assert "surrogate" in parsed.message
    # A surrogate pair is a real character and is fine.
    ok = parse_command('{"cmd":"say","text":"\\ud83d\\ude00"}', json_commands=True)
    assert ok == Say("\U0001f600")


async def test_json_nick_with_a_lone_surrogate_is_an_error_line(nursery: trio.Nursery) -> None:
    server = ChatServer()
    alice = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    await _json_mode(alice)
    await alice.send('{"cmd":"nick","nick":"x\\udfff"}')
    assert "surrogate" in await alice.until('"kind":"error"')
    assert server.hub.member("x") is None


# ------------------------------------------------------ a notice that disconnects, then a join


async def test_welcome_that_overflows_the_outbox_does_not_stop_the_server(
    tmp_path: Path,
) -> None:
    # A client that does not read fills its 99-event outbox with /help replies and then gives
    # the password: the welcome overflows and disconnects it, and nothing may then join it to
    # the lobby. Around 99 lines is where the overflow lands on the welcome; the exact count
    # depends on whether the flusher sent the first notice before the lines arrived.
    password = tmp_path / "password"
    password.write_text("PW\n")
    args = ("--outbox", "99", "--history", "10", "--password-file", str(password))
    async with serve_process(*args, "--rate", "inf") as server:
        with trio.fail_after(WAIT):
            for count in (96, 97, 98, 99, 100):
                stream = await open_raw(server.port)
                await stream.send_all(b"/help\n" * count + b"/pass PW\n")
                data = b""
                while b"joined #lobby" not in data:
                    chunk = await stream.receive_some(1 << 16)
                    if not chunk:
                        break
                    data += chunk
                # Either it overflowed (and was told so), or it got in: never a crash.
                assert b"SendQ exceeded" in data or b"joined #lobby" in data, data[-200:]
                await stream.aclose()
            assert server.process.returncode is None, server.log
            probe = LineClient(await open_raw(server.port))
            await probe.until("needs a password")
            await probe.send("/pass PW")
            await probe.until("joined #lobby")
            await probe.aclose()
        assert "Traceback" not in server.log, server.log


def test_joining_a_disconnected_member_is_a_chat_error() -> None:
    # What a session meets if a notice disconnected its member just before: an error it
    # reports like any other, never the ValueError that Room.join raises for library misuse.
    hub = Hub()
    member = hub.connect("late")
    hub.disconnect(member, "gone")
    with pytest.raises(ChatError, match="not connected"):
        hub.join(member, "#lobby")
    assert hub.room().nicks == []


# ---------------------------------------------------------------------- paged listings

_PLANE_15_TOPIC = "".join(chr(0xF0000 + n) for n in range(300))


def _fill_rooms(server: ChatServer, count: int) -> None:
    """*count* rooms, each with one library member and a 300-character plane-15 topic."""
    hub = server.hub
    for number in range(count):
        owner = hub.connect(f"owner{number}")
        room = hub.join(owner, f"#room{number:03d}")
        room.set_topic(owner, _PLANE_15_TOPIC)


async def _json_reply(client: LineClient, kind: str) -> dict[str, Any]:
    while True:
        line = await client.line()
        if line.startswith("{"):
            obj: dict[str, Any] = json.loads(line)
            assert obj.get("kind") != "goodbye", obj
            if obj.get("kind") == kind:
                return obj


@pytest.mark.parametrize("outbox_bytes", [1024 * 1024, 64 * 1024])
async def test_rooms_listing_is_paged_and_never_cuts_a_reader(
    nursery: trio.Nursery, outbox_bytes: int
) -> None:
    config = ServerConfig(port=0, outbox_bytes=outbox_bytes, outbox_soft_bytes=outbox_bytes // 2)
    server = await nursery.start(ChatServer(config=config).serve)
    _fill_rooms(server, 360)
    port = server.addresses[0][1]
    # In the text format: the first page, then each page the reply points to.
    text = await (await LineClient.open(port)).registered("reader")
    await text.send("/rooms")
    first = (await text.until("361 rooms"))[-1]
    assert "SendQ" not in first
    assert "page 1 of " in first
    pages = int(first.split("page 1 of ")[1].split(":")[0])
    assert pages > 1
    assert "/rooms 2" in first
    await text.send(f"/rooms {pages}")
    last = (await text.until(f"page {pages} of {pages}"))[-1]
    assert "#room359" in last
    await text.send(f"/rooms {pages + 1}")
    assert "error" in (await text.until("error"))[-1]
    # In the JSON format: data carries each page's rooms; together, every room once.
    client = await (await LineClient.open(port)).registered("bot")
    await client.send("/format json")
    seen: list[str] = []
    page = 1
    while True:
        await client.send(json.dumps({"cmd": "rooms", "page": page}))
        data = (await _json_reply(client, "rooms"))["data"]
        assert data["page"] == page
        assert data["total"] == 361
        seen += [room["name"] for room in data["rooms"]]
        assert all(room["topic"] == _PLANE_15_TOPIC for room in data["rooms"][1:])
        if page == data["pages"]:
            break
        page += 1
    assert page == pages
    assert seen == sorted({room.name for room in server.hub.rooms}, key=str.casefold)
    for each in (text, client):
        assert server.hub.member("reader" if each is text else "bot") is not None
        await each.aclose()


async def test_who_listing_is_paged(nursery: trio.Nursery) -> None:
    server = await nursery.start(ChatServer(config=ServerConfig(port=0)).serve)
    hub = server.hub
    for number in range(250):
        hub.join(hub.connect(f"member{number:03d}"), "#big")
    client = await (await LineClient.open(server.addresses[0][1])).registered("asker")
    await client.send("/who #big")
    first = (await client.until("250 in #big"))[-1]
    assert "page 1 of 3" in first
    assert "/who #big 2" in first
    await client.send("/who #big 3")
    last = (await client.until("page 3 of 3"))[-1]
    assert last.endswith("member249")
    await client.send("/format json")
    await client.send(json.dumps({"cmd": "who", "room": "#big", "page": 2}))
    data = (await _json_reply(client, "who"))["data"]
    assert (data["page"], data["pages"], data["total"]) == (2, 3, 250)
    assert data["members"] == [f"member{n:03d}" for n in range(100, 200)]
    await client.aclose()


async def test_history_replay_never_cuts_the_asker(nursery: trio.Nursery) -> None:
    # 64 KiB of history kept per room, but outboxes of 16 KiB: /history sends what fits.
    config = ServerConfig(outbox_bytes=16 * 1024, outbox_soft_bytes=8 * 1024)
    server = ChatServer(config=config)
    hub = server.hub
    speaker = hub.connect("speaker", max_bytes=1 << 20)
    hub.join(speaker, "#lobby")
    for number in range(100):
        await speaker.say(f"{number:03d} " + "x" * 400)
    speaker.take_all()
    asker = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    await asker.send("/history")
    heading = await asker.until("history of #lobby")
    assert "more would not fit in your outbox" in heading
    replayed: list[str] = []
    while "end of history" not in (line := await asker.until("")):
        replayed.append(line)
    assert replayed
    assert replayed[-1].endswith("099 " + "x" * 400)
    assert hub.member("guest-1") is not None


def test_notice_size_counts_utf8_bytes() -> None:
    topic = _PLANE_15_TOPIC
    notice = Notice(text="x", kind="rooms", data={"rooms": [{"topic": topic}]})
    encoded = len(json.dumps(notice.data, ensure_ascii=False).encode())
    # Honest: about the UTF-8 size of what is rendered, not the length of a repr() that
    # spells each of these characters as ten ASCII characters.
    assert encoded < notice.size < encoded + 200


# ------------------------------------------------ a deadline while parked on the outbox


async def test_lines_after_a_deadline_while_parked_are_still_handled(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # The client sends several lines in one write and does not read: its outbox passes the soft
    # limit and the reader parks. The idle deadline passes meanwhile; once the client reads,
    # every line of that write must still be acted on (or answered), none silently dropped.
    config = ServerConfig(idle_timeout=20, write_timeout=1000, outbox_soft_events=2)
    server = ChatServer(config=config)
    client_end, server_end = trio.testing.lockstep_stream_pair()
    nursery.start_soon(server.handle_stream, server_end, "fake:1")
    client = FakeClient(client_end)
    await client.until("joined #lobby")
    await client.send(b"/help\n" * 6 + b"/nick late\n")
    await trio.sleep(100)  # not reading, well past the idle deadline (10 s)
    assert server.hub.member("late") is None
    lines: list[str] = []
    while True:
        line = await client.line()
        assert line is not None, lines
        lines.append(line)
        if "now known as late" in line:
            break
    assert sum(line.startswith("*** commands:") for line in lines) == 6
    assert server.hub.member("late") is not None
