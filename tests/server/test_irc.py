"""The IRC front end over loopback: raw IRC, text and JSON clients in the same rooms."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trio

from tests.conftest import LineClient
from tests.irc_client import IrcClient
from tests.transport_helpers import CertFiles, open_tls_stream
from triochat import ChatServer, ServerConfig
from triochat.protocols.irc import Message
from triochat.session._auth import Secret


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(listen=["irc://127.0.0.1:0", "tcp://127.0.0.1:0"])


@pytest.fixture
def irc_port(server: ChatServer) -> int:
    return server.endpoints[0].port


@pytest.fixture
def text_port(server: ChatServer) -> int:
    return server.endpoints[1].port


async def irc(port: int, nick: str, *caps: str) -> IrcClient:
    client = await IrcClient.open(port)
    await client.register(nick, *caps)
    return client


async def text(port: int, nick: str, room: str | None = None) -> LineClient:
    client = await LineClient.open(port)
    await client.registered(nick)
    if room is not None:
        await client.send(f"/join {room}")
        await client.until(f"now talking in {room}")
    return client


def commands(messages: list[Message]) -> list[str]:
    return [message.command for message in messages]


async def test_registration_greets_with_001_to_005_and_the_motd(irc_port: int) -> None:
    client = await IrcClient.open(irc_port)
    greeting = await client.register("alice")
    numerics = [m.command for m in greeting if m.command.isdigit()]
    assert numerics[:4] == ["001", "002", "003", "004"]
    assert "005" in numerics
    assert numerics[-3:] == ["375", "372", "376"]
    assert greeting[-1].params[0] == "alice"
    tokens = {
        token.partition("=")[0]: token.partition("=")[2]
        for m in greeting
        if m.command == "005"
        for token in m.params[1:-1]
    }
    assert tokens["CHANTYPES"] == "#"
    assert tokens["PREFIX"] == "(o)@"
    assert tokens["CHANMODES"] == "b,,,n"
    assert tokens["NICKLEN"] == "24"
    assert tokens["CHANNELLEN"] == "33"
    assert tokens["TOPICLEN"] == "300"
    assert tokens["LINELEN"] == "512"
    assert tokens["CASEMAPPING"] == "rfc7613"
    assert "PRIVMSG:1" in tokens["TARGMAX"]
    # Nobody put the IRC client in #lobby.
    await client.send("WHOIS alice")
    whois = await client.until("318")
    assert "319" not in commands(whois)
    await client.aclose()


async def test_nothing_but_registration_before_registering(irc_port: int) -> None:
    client = await IrcClient.open(irc_port)
    await client.send("JOIN #early", "PRIVMSG #early :hi")
    assert (await client.message()).command == "451"
    assert (await client.message()).command == "451"
    await client.register("bob")
    await client.aclose()


async def test_ping_pong_and_unknown_commands(irc_port: int) -> None:
    client = await irc(irc_port, "alice")
    await client.send("PING :token-1")
    (pong,) = await client.until("PONG")
    assert pong.params == ("triochat", "token-1")
    await client.send("FROBNICATE x", "KICK #x")
    unknown, more = await client.message(), await client.message()
    assert (unknown.command, unknown.params[1]) == ("421", "FROBNICATE")
    assert (more.command, more.params[1]) == ("461", "KICK")
    await client.aclose()


async def test_a_room_is_shared_by_irc_text_and_json(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#trio")
    dave = await text(text_port, "dave", "#trio")
    await dave.send("/format json")
    await dave.until('"kind":"format"')
    alice = await irc(irc_port, "alice")
    joined = await alice.join("#trio")
    assert joined[0].command == "JOIN"
    assert joined[0].source == "alice!~alice@triochat"
    names = next(m for m in joined if m.command == "353")
    assert set(names.params[-1].split()) == {"@carol", "dave", "alice"}
    await carol.until("alice joined #trio")

    await alice.send("PRIVMSG #trio :hello from IRC")
    assert (await carol.until("hello from IRC"))[-1].endswith("#trio <alice> hello from IRC")
    said = json.loads((await dave.until("hello from IRC"))[-1])
    assert (said["type"], said["sender"], said["room"]) == ("message", "alice", "#trio")

    await carol.send("hello from nc")
    (line,) = (await alice.until("PRIVMSG"))[-1:]
    assert line.source == "carol!~carol@triochat"
    assert line.params == ("#trio", "hello from nc")
    await carol.send("/me waves")
    action = (await alice.until("PRIVMSG"))[-1]
    assert action.params == ("#trio", "\x01ACTION waves\x01")

    # Privately, both ways.
    await alice.send("PRIVMSG carol :psst")
    assert (await carol.until("psst"))[-1].endswith("<alice -> carol> psst")
    await carol.send("/msg alice back")
    private = (await alice.until("PRIVMSG"))[-1]
    assert (private.source, private.params) == ("carol!~carol@triochat", ("alice", "back"))
    # Without echo-message, IRC does not send you what you said.
    assert all(m.source != "alice!~alice@triochat" for m in await alice.sync())
    for client in (alice, carol, dave):
        await client.aclose()


async def test_errors_have_the_numerics_clients_expect(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#ops")
    alice = await irc(irc_port, "alice")
    await alice.send(
        "PRIVMSG nobody :hi",
        "PRIVMSG #ops :not in it",
        "PART #ops",
        "TOPIC #nowhere",
        "NICK carol",
        "NICK 9lives",
        "PRIVMSG",
        "PRIVMSG carol",
    )
    got = await alice.sync()
    assert commands(got) == ["401", "404", "442", "403", "433", "432", "411", "412"]
    await alice.join("#ops")
    await alice.send("KICK #ops carol", "MODE #ops +o alice", "MODE carol", "MODE alice +x")
    got = await alice.sync()
    assert commands(got) == ["482", "482", "502", "501"]
    await alice.send("NOTICE nobody :notices are never answered")
    assert await alice.sync() == []
    await alice.aclose()
    await carol.aclose()


async def test_nick_changes_are_seen_everywhere(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#trio")
    alice = await irc(irc_port, "alice")
    await alice.join("#trio")
    await alice.join("#other")
    await carol.send("/join #other")
    await alice.until("JOIN", "#other")
    await alice.send("NICK alicia")
    nick = (await alice.until("NICK"))[-1]
    assert (nick.source, nick.params) == ("alice!~alice@triochat", ("alicia",))
    await carol.until("alice is now known as alicia")
    # carol shares two rooms with alice: her rename reaches IRC once.
    await carol.send("/nick caroline")
    got = await alice.until("NICK", "caroline")
    assert commands(await alice.sync()).count("NICK") == 0
    assert got[-1].source == "carol!~carol@triochat"
    await alice.send("PRIVMSG #trio :from alicia")
    assert (await carol.until("from alicia"))[-1].endswith("<alicia> from alicia")
    await alice.aclose()
    await carol.aclose()


async def test_join_several_topic_names_and_join_0(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#a")
    await carol.send("/topic about a")
    await carol.until("set the topic")
    alice = await irc(irc_port, "alice")
    await alice.send("JOIN #a,#b,#c")
    got = await alice.until("366", "#c")
    assert [m.params[0] for m in got if m.command == "JOIN"] == ["#a", "#b", "#c"]
    topic = next(m for m in got if m.command == "332")
    assert topic.params[1:] == ("#a", "about a")
    await alice.send("TOPIC #a", "TOPIC #b")
    got = await alice.sync()
    assert [(m.command, m.params[1:]) for m in got] == [
        ("332", ("#a", "about a")),
        ("331", ("#b", "No topic is set")),
    ]
    await alice.send("TOPIC #a :new topic")
    assert (await alice.until("TOPIC"))[-1].params == ("#a", "new topic")
    await carol.until("set the topic of #a: new topic")
    await alice.send("JOIN 0")
    parts = await alice.until("PART", "#c")
    assert [m.params[0] for m in parts if m.command == "PART"] == ["#a", "#b", "#c"]
    await carol.until("alice left #a")
    await alice.aclose()
    await carol.aclose()


async def test_names_who_whois_list_and_away(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#trio")
    alice = await irc(irc_port, "alice")
    bob = await irc(irc_port, "bob")
    await alice.join("#trio")
    await bob.send("AWAY :lunch")
    assert (await bob.until("306"))[-1].command == "306"
    await alice.send("NAMES #trio", "WHO #trio", "WHOIS carol", "WHOIS bob", "LIST")
    got = await alice.sync()
    names = next(m for m in got if m.command == "353")
    assert set(names.params[-1].split()) == {"@carol", "alice"}
    who = [m for m in got if m.command == "352"]
    assert {(m.params[5], m.params[6]) for m in who} == {("carol", "H@"), ("alice", "H")}
    whois_carol = [m for m in got if m.command in ("311", "319") and m.params[1] == "carol"]
    assert whois_carol[0].params[2:4] == ("~carol", "triochat")
    assert whois_carol[1].params[-1] == "#lobby @#trio"
    assert any(m.command == "301" and m.params[1:] == ("bob", "lunch") for m in got)
    listed = {m.params[1]: m.params[2] for m in got if m.command == "322"}
    assert listed["#trio"] == "2"
    assert commands(got)[-1] == "323"
    # Messaging someone who is away says so.
    await alice.send("PRIVMSG bob :there?")
    assert (await alice.until("301"))[-1].params[1:] == ("bob", "lunch")
    await bob.send("AWAY")
    assert (await bob.until("PRIVMSG"))[-1].params == ("bob", "there?")
    assert (await bob.until("305"))[-1].command == "305"
    for client in (alice, bob, carol):
        await client.aclose()


async def test_away_notify_tells_irc_clients_sharing_a_room_once(
    irc_port: int, text_port: int
) -> None:
    json_client = await text(text_port, "jay", "#a")
    await json_client.send("/format json")
    await json_client.until('"format"')
    carol = await text(text_port, "carol", "#a")
    alice = await irc(irc_port, "alice", "away-notify", "server-time")
    dave = await irc(irc_port, "dave")  # did not ask for away-notify
    bob = await irc(irc_port, "bob")
    for client, rooms in ((alice, ("#a", "#b")), (dave, ("#a",)), (bob, ("#a", "#b"))):
        for room in rooms:
            await client.join(room)
    await bob.send("AWAY :lunch")
    await bob.until("306")
    got = await alice.until("AWAY")
    assert (got[-1].source, got[-1].params) == ("bob!~bob@triochat", ("lunch",))
    assert "time" in got[-1].tags
    await bob.send("AWAY :lunch", "AWAY")  # the same text again is no change
    await bob.until("305")
    got = await alice.until("AWAY")
    assert (got[-1].source, got[-1].params) == ("bob!~bob@triochat", ())
    # One AWAY per change, although bob and alice share two rooms.
    assert "AWAY" not in commands(await alice.sync())
    # The others see nothing of it: an IRC client that did not ask, the text and JSON formats.
    await carol.send("after")
    assert "AWAY" not in commands(await dave.until("PRIVMSG", "#a", "after"))
    said = await json_client.until("after")
    assert all("away" not in line for line in said), said
    said = await carol.until("after")
    assert all("away" not in line and line.strip() != "***" for line in said), said
    for client in (alice, bob, dave):
        await client.aclose()
    for line_client in (carol, json_client):
        await line_client.aclose()


async def test_formatting_codes_reach_irc_clients_and_are_stripped_for_text_and_json(
    irc_port: int, text_port: int
) -> None:
    carol = await text(text_port, "carol", "#fmt")
    jay = await text(text_port, "jay", "#fmt")
    await jay.send("/format json")
    await jay.until('"format"')
    alice = await irc(irc_port, "alice")
    bob = await irc(irc_port, "bob")
    await alice.join("#fmt")
    await bob.join("#fmt")
    said = "\x02bold\x02 \x0304,12red on blue\x03 \x1ditalic\x1d \x1funder\x1f \x16rev\x0f end"
    await alice.send(f"PRIVMSG #fmt :{said}", "TOPIC #fmt :\x02Bold\x0f topic")
    got = await bob.until("PRIVMSG", "#fmt")
    assert got[-1].params == ("#fmt", said)
    assert (await bob.until("TOPIC"))[-1].params == ("#fmt", "\x02Bold\x0f topic")
    plain = "bold red on blue italic under rev end"
    assert (await carol.until(plain))[-1].endswith(f"#fmt <alice> {plain}")
    assert (await carol.until("topic"))[-1].endswith("alice set the topic of #fmt: Bold topic")
    message = json.loads((await jay.until(plain))[-1])
    assert message["text"] == plain
    topic = json.loads((await jay.until("topic"))[-1])
    assert topic["text"] == "Bold topic"
    # Other control characters are still removed for everyone, IRC clients too.
    await alice.send("PRIVMSG #fmt :\x1b[31mred\x07\x02b")
    assert (await bob.until("PRIVMSG", "#fmt"))[-1].params == ("#fmt", "red\x02b")
    assert (await carol.until("redb"))[-1].endswith("<alice> redb")
    for client in (alice, bob):
        await client.aclose()
    for line_client in (carol, jay):
        await line_client.aclose()


async def test_part_quit_and_away_texts_from_irc_carry_no_escapes(
    irc_port: int, text_port: int
) -> None:
    carol = await text(text_port, "carol", "#esc")
    alice = await irc(irc_port, "alice")
    bob = await irc(irc_port, "bob", "away-notify")
    await alice.join("#esc")
    await bob.join("#esc")
    await alice.send("AWAY :\x1b[2Jgone\x07 \x02out")
    assert (await bob.until("AWAY"))[-1].params == ("gone \x02out",)
    await alice.send("PART #esc :\x1b]0;title\x07bye\x1b[31m \x1fnow")
    assert (await bob.until("PART"))[-1].params == ("#esc", "bye \x1fnow")
    assert (await carol.until("alice left #esc"))[-1].endswith("(bye now)")
    await alice.join("#esc")
    await alice.send("QUIT :\x1b[2Jgone\x07 \x02now")
    assert (await bob.until("QUIT"))[-1].params == ("quit: gone \x02now",)
    assert (await carol.until("alice left #esc"))[-1].endswith("(quit: gone now)")
    await bob.aclose()
    await alice.aclose()
    await carol.aclose()


async def test_modes_ops_bans_and_kicks(irc_port: int, text_port: int) -> None:
    alice = await irc(irc_port, "alice")
    await alice.join("#mod")  # alice made it: she is its operator
    carol = await text(text_port, "carol", "#mod")
    await alice.until("JOIN", "#mod")
    await alice.send("MODE #mod", "MODE alice")
    got = await alice.sync()
    assert [(m.command, m.params[1:]) for m in got] == [("324", ("#mod", "+n")), ("221", ("+",))]
    await alice.send("MODE #mod +o carol")
    mode = (await alice.until("MODE"))[-1]
    assert (mode.source, mode.params) == ("alice!~alice@triochat", ("#mod", "+o", "carol"))
    await carol.until("made carol an operator of #mod")
    await alice.send("MODE #mod -o carol", "MODE #mod +b spammer", "MODE #mod +b")
    got = await alice.until("368")
    assert [m.params for m in got if m.command == "MODE"] == [
        ("#mod", "-o", "carol"),
        ("#mod", "+b", "spammer!*@*"),
    ]
    assert [m.params[2] for m in got if m.command == "367"] == ["spammer!*@*"]
    await alice.send("MODE #mod -b spammer!*@*", "KICK #mod carol :behave")
    kick = (await alice.until("KICK"))[-1]
    assert kick.params == ("#mod", "carol", "behave")
    await carol.until("carol was kicked from #mod by alice (behave)")
    await alice.send("KICK #mod carol")
    assert (await alice.until("441"))[-1].params[1:3] == ("carol", "#mod")
    await alice.aclose()
    await carol.aclose()


async def test_quit_reaches_every_front_end_once(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#a")
    bob = await irc(irc_port, "bob")
    alice = await irc(irc_port, "alice")
    for room in ("#a", "#b"):
        await bob.join(room)
        await alice.join(room)
    await alice.send("QUIT :see you")
    goodbye = await alice.closed()
    assert goodbye[-1].command == "ERROR"
    await alice.aclose()
    quits = await bob.until("QUIT")
    assert quits[-1].params == ("quit: see you",)
    assert "QUIT" not in commands(await bob.sync())
    await carol.until("alice left #a (quit: see you)")
    await bob.aclose()
    await carol.aclose()


async def test_capabilities_server_time_echo_and_chathistory(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#h")
    for number in range(3):
        await carol.send(f"line {number}")
        await carol.until(f"line {number}")
    alice = await irc(
        irc_port, "alice", "server-time", "echo-message", "batch", "draft/chathistory"
    )
    got = await alice.join("#h")
    assert got[0].command == "JOIN"
    assert "time" in got[0].tags
    # With draft/chathistory the client asks for the history (none is played back on joining).
    assert "BATCH" not in commands(await alice.sync())
    await alice.send("CHATHISTORY LATEST #h * 3")
    after = await alice.until("BATCH")
    after += await alice.until("BATCH")
    assert after[-1].params[0].startswith("-")
    replayed = [m for m in after if m.command == "PRIVMSG"]
    assert [m.params[1] for m in replayed] == ["line 0", "line 1", "line 2"]
    assert all("batch" in m.tags and "time" in m.tags for m in replayed)
    await alice.send("PRIVMSG #h :echoed")
    echo = (await alice.until("PRIVMSG"))[-1]
    assert echo.source == "alice!~alice@triochat"
    assert echo.params == ("#h", "echoed")
    await alice.send("CHATHISTORY LATEST #h * 2")
    batch = await alice.until(
        "BATCH",
    )
    batch += await alice.until("BATCH")
    texts = [m.params[1] for m in batch if m.command == "PRIVMSG"]
    assert texts == ["line 2", "echoed"]
    assert batch[0].params[1:] == ("chathistory", "#h")
    await alice.send("CHATHISTORY AROUND #h * 2")
    assert (await alice.until("FAIL"))[-1].params[:2] == ("CHATHISTORY", "INVALID_PARAMS")
    await alice.aclose()
    await carol.aclose()


async def test_a_normal_start_up_is_not_cut_by_flood_control(
    server: ChatServer, irc_port: int
) -> None:
    """Twenty channels with a hundred lines each, joined at once, then WHO and MODE for each:
    what an IRC client does when it connects, which must fit the defaults."""
    rooms = [f"#r{index}" for index in range(20)]
    # The history, said by a library member (over the network it would take a while: flood
    # control lets a client say 10 lines a second).
    carol = server.hub.connect("carol", max_events=10_000, max_bytes=1 << 30)
    for room in rooms:
        server.hub.join(carol, room)
        for number in range(100):
            await carol.say(f"{room} line {number}", server.hub.room(room))
    alice = await IrcClient.open(irc_port)
    await alice.send(
        "CAP LS 302", "NICK alice", "USER alice 0 * :Alice", "CAP END", "JOIN " + ",".join(rooms)
    )
    await alice.send(*[f"MODE {room}" for room in rooms], *[f"WHO {room}" for room in rooms])
    got = await alice.until("315", "#r19")
    privmsgs = [m for m in got if m.command == "PRIVMSG"]
    assert len(privmsgs) == 20 * 100
    assert sum(m.command == "324" for m in got) == 20
    assert "ERROR" not in commands(got)
    await alice.aclose()
    server.hub.disconnect(carol, "done")


async def test_long_lines_and_bad_bytes(irc_port: int, text_port: int) -> None:
    carol = await text(text_port, "carol", "#long")
    alice = await irc(irc_port, "alice")
    await alice.join("#long")
    await alice.send("PRIVMSG #long :" + "x" * 600)
    assert (await alice.message()).command == "417"
    await alice.lines.send(b"PRIVMSG #long :\xff\xfe\r\n")
    fail = await alice.message()
    assert fail.command == "FAIL"
    assert fail.params[1] == "INVALID_UTF8"
    # A long line from nc reaches IRC in pieces that each fit in 512 bytes.
    await carol.send("y" * 1000)
    got: list[Message] = []
    while sum(len(m.params[1]) for m in got) < 1000:
        message = await alice.message()
        if message.command == "PRIVMSG":
            assert len(message.encode()) <= 512
            got.append(message)
    assert "".join(m.params[1] for m in got) == "y" * 1000
    await alice.aclose()
    await carol.aclose()


async def test_lines_end_in_cr_lf_or_crlf(irc_port: int) -> None:
    client = await IrcClient.open(irc_port)
    await client.lines.send(b"NICK alice\rUSER alice 0 * :A\nPING :a\r\nPING :b\n")
    got = await client.until("PONG", "triochat", "b")
    assert "001" in commands(got)
    await client.aclose()


@pytest.mark.parametrize("config", [ServerConfig(listen=["irc://127.0.0.1:0"], max_clients=1)])
async def test_a_full_server_refuses_with_an_error_line(server: ChatServer) -> None:
    port = server.endpoints[0].port
    first = await irc(port, "alice")
    second = await IrcClient.open(port)
    (error,) = await second.closed()
    assert error.command == "ERROR"
    assert "server full" in error.params[0]
    await first.aclose()
    await second.aclose()


async def test_ircs_over_tls(nursery: trio.Nursery, certs: CertFiles) -> None:
    config = ServerConfig(listen=["ircs://127.0.0.1:0"], tls_cert=certs.cert, tls_key=certs.key)
    server = await nursery.start(ChatServer(config=config).serve)
    assert str(server.endpoints[0]).startswith("ircs://")
    stream = await open_tls_stream(server.endpoints[0].port, certs)
    client = IrcClient(LineClient(stream))
    greeting = await client.register("alice")
    assert "001" in commands(greeting)
    await client.aclose()


async def test_sasl_plain_against_registered_nicks(nursery: trio.Nursery, tmp_path: Path) -> None:
    config = ServerConfig(listen=["irc://127.0.0.1:0", "tcp://127.0.0.1:0"], data_dir=str(tmp_path))
    server = await nursery.start(ChatServer(config=config).serve)
    irc_port, text_port = server.endpoints[0].port, server.endpoints[1].port
    owner = await text(text_port, "alice")
    await owner.send("/register correct horse")
    await owner.until("now registered")
    await owner.send("/quit")
    await owner.rest()
    await owner.aclose()

    def plain(user: str, password: str) -> str:
        return base64.b64encode(f"\0{user}\0{password}".encode()).decode()

    # Without SASL, a registered nick is refused like a taken one (the client tries another).
    thief = await IrcClient.open(irc_port)
    await thief.send("NICK alice", "USER a 0 * :A")
    assert (await thief.until("433"))[-1].params[:2] == ("*", "alice")
    await thief.send("NICK alice_")
    await thief.until("376")
    await thief.aclose()
    # A wrong password: 904; the right one: 900 and 903, and the nick.
    client = await IrcClient.open(irc_port)
    await client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :A")
    await client.until("CAP", "*", "ACK")
    await client.send("AUTHENTICATE PLAIN")
    await client.until("AUTHENTICATE", "+")
    await client.send("AUTHENTICATE " + plain("alice", "wrong"))
    await client.until("904")
    await client.send("AUTHENTICATE PLAIN")
    await client.until("AUTHENTICATE", "+")
    await client.send("AUTHENTICATE " + plain("alice", "correct horse"))
    logged_in = await client.until("903")
    assert [m.command for m in logged_in][-2:] == ["900", "903"]
    await client.send("CAP END")
    welcome = await client.until("376")
    assert welcome[0].command == "001"
    assert welcome[0].params[0] == "alice"
    await client.aclose()


@pytest.mark.parametrize(
    "config",
    [ServerConfig(listen=["irc://127.0.0.1:0"], password=Secret.from_text("open sesame"))],
)
async def test_the_server_password_is_pass(server: ChatServer) -> None:
    port = server.endpoints[0].port
    wrong = await IrcClient.open(port)
    await wrong.send("PASS guess", "NICK alice", "USER a 0 * :A")
    closing = await wrong.closed()
    assert [m.command for m in closing] == ["464", "ERROR"]
    await wrong.aclose()
    right = await IrcClient.open(port)
    await right.register("alice", password="open sesame")
    await right.join("#in")
    await right.aclose()
