"""The registration state machine, scenario by scenario, as a client would drive it."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat.protocols.irc import (
    CapabilitiesChanged,
    CheckSasl,
    Forward,
    Message,
    MessageError,
    Output,
    Quit,
    Registered,
    Registration,
    parse_message,
)
from triochat.protocols.irc._numerics import ERR_NICKLOCKED, ERR_NICKNAMEINUSE
from triochat.protocols.irc._registration import MAX_SASL_ATTEMPTS, SASL_CHUNK

SERVER = "irc.test"


def send(registration: Registration, line: str) -> list[Output]:
    return registration.receive(parse_message(line))


def lines(outputs: list[Output]) -> list[str]:
    """The replies among *outputs*, as the lines that go on the wire."""
    return [output.serialize() for output in outputs if isinstance(output, Message)]


def registered(outputs: list[Output]) -> Registered:
    (done,) = [output for output in outputs if isinstance(output, Registered)]
    return done


def plain(authzid: str, authcid: str, password: str) -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


@pytest.fixture
def machine() -> Registration:
    return Registration(server=SERVER, host="127.0.0.1")


def test_nick_and_user_register_without_cap(machine: Registration) -> None:
    assert send(machine, "NICK alice") == []
    done = registered(send(machine, "USER al 0 * :Alice Liddell"))
    assert done == Registered(
        nick="alice",
        user="al",
        realname="Alice Liddell",
        password=None,
        account=None,
        capabilities=frozenset(),
        cap_version=301,
    )
    assert machine.registered


def test_user_then_nick_registers_too(machine: Registration) -> None:
    assert send(machine, "USER al 0 * :Alice") == []
    assert registered(send(machine, "NICK alice")).nick == "alice"


def test_cap_ls_302_req_ack_nick_user_end(machine: Registration) -> None:
    ls = lines(send(machine, "CAP LS 302"))
    assert len(ls) == 1
    assert ls[0].startswith(":irc.test CAP * LS :")
    offered = ls[0].split(" :", 1)[1].split()
    assert "sasl=PLAIN" in offered
    assert "draft/chathistory" in offered
    assert {"server-time", "message-tags", "echo-message", "batch"} <= set(offered)
    assert lines(send(machine, "CAP REQ :server-time message-tags echo-message")) == [
        ":irc.test CAP * ACK :server-time message-tags echo-message"
    ]
    assert send(machine, "NICK alice") == []
    # Negotiation is still open: NICK and USER are not enough.
    assert send(machine, "USER al 0 * :Alice") == []
    assert not machine.registered
    assert lines(send(machine, "CAP LIST")) == [
        ":irc.test CAP alice LIST :echo-message message-tags server-time"
    ]
    done = registered(send(machine, "CAP END"))
    assert done.capabilities == {"server-time", "message-tags", "echo-message"}
    assert done.cap_version == 302


def test_cap_ls_without_302_shows_no_values(machine: Registration) -> None:
    (line,) = lines(send(machine, "CAP LS"))
    assert "sasl" in line.split(" :", 1)[1].split()
    assert "=" not in line


def test_cap_req_is_all_or_nothing(machine: Registration) -> None:
    assert lines(send(machine, "CAP REQ :server-time nonsense")) == [
        ":irc.test CAP * NAK :server-time nonsense"
    ]
    assert machine.enabled == frozenset()


def test_cap_req_alone_suspends_registration(machine: Registration) -> None:
    send(machine, "CAP REQ batch")
    send(machine, "NICK alice")
    assert send(machine, "USER al 0 * :Alice") == []
    assert registered(send(machine, "CAP END")).capabilities == {"batch"}


def test_a_minus_prefix_disables(machine: Registration) -> None:
    send(machine, "CAP REQ :batch server-time")
    assert lines(send(machine, "CAP REQ -batch")) == [":irc.test CAP * ACK -batch"]
    assert machine.enabled == {"server-time"}


def test_unknown_cap_subcommand(machine: Registration) -> None:
    assert lines(send(machine, "CAP FROB")) == [":irc.test 410 * FROB :Invalid CAP command"]


def test_cap_without_subcommand_needs_more_params(machine: Registration) -> None:
    assert lines(send(machine, "CAP")) == [":irc.test 461 * CAP :Not enough parameters"]


def test_cap_after_registration_changes_caps_and_says_so(machine: Registration) -> None:
    send(machine, "NICK alice")
    send(machine, "USER al 0 * :Alice")
    outputs = send(machine, "CAP REQ :away-notify")
    assert lines(outputs) == [":irc.test CAP alice ACK away-notify"]
    assert CapabilitiesChanged(frozenset({"away-notify"})) in outputs
    assert send(machine, "CAP END") == []


def test_a_long_cap_ls_302_list_is_split_with_a_star() -> None:
    offered = {f"vendor.example/capability-{n:03}": "" for n in range(40)}
    machine = Registration(server=SERVER, capabilities=offered)
    replies = [m for m in send(machine, "CAP LS 302") if isinstance(m, Message)]
    assert len(replies) > 1
    assert all(reply.params[:3] == ("*", "LS", "*") for reply in replies[:-1])
    assert replies[-1].params[:2] == ("*", "LS")
    assert len(replies[-1].params) == 3
    assert all(len(reply.encode()) <= 512 for reply in replies)
    names = [name for reply in replies for name in reply.params[-1].split()]
    assert names == list(offered)


def test_ping_before_registration_is_answered(machine: Registration) -> None:
    assert lines(send(machine, "PING :abc 123")) == [":irc.test PONG irc.test :abc 123"]
    assert lines(send(machine, "PING")) == [":irc.test 461 * PING :Not enough parameters"]
    assert send(machine, "PONG :whatever") == []
    assert not machine.registered


@pytest.mark.parametrize("line", ["JOIN #lobby", "PRIVMSG #lobby :hi", "WHOIS x", "FROB"])
def test_other_commands_before_registration_get_451(machine: Registration, line: str) -> None:
    assert lines(send(machine, line)) == [":irc.test 451 * :You have not registered"]
    send(machine, "NICK alice")
    assert lines(send(machine, line)) == [":irc.test 451 alice :You have not registered"]


def test_after_registration_other_commands_are_forwarded(machine: Registration) -> None:
    send(machine, "NICK alice")
    send(machine, "USER al 0 * :Alice")
    for line in ["JOIN #lobby", "NICK bob", "PONG x", "QUIT :bye", "FROB"]:
        message = parse_message(line)
        assert machine.receive(message) == [Forward(message)]
    assert lines(send(machine, "PING x")) == [":irc.test PONG irc.test x"]


@pytest.mark.parametrize("line", ["PASS secret", "USER a 0 * :b", "PASS"])
def test_pass_and_user_after_registration_get_462(machine: Registration, line: str) -> None:
    send(machine, "NICK alice")
    send(machine, "USER al 0 * :Alice")
    assert lines(send(machine, line)) == [":irc.test 462 alice :You may not reregister"]


def test_pass_is_kept_for_the_session(machine: Registration) -> None:
    assert send(machine, "PASS :open sesame") == []
    send(machine, "NICK alice")
    assert registered(send(machine, "USER al 0 * :Alice")).password == "open sesame"


def test_missing_parameters(machine: Registration) -> None:
    assert lines(send(machine, "NICK")) == [":irc.test 431 * :No nickname given"]
    assert lines(send(machine, "NICK :")) == [":irc.test 431 * :No nickname given"]
    assert lines(send(machine, "USER al 0 *")) == [":irc.test 461 * USER :Not enough parameters"]
    assert lines(send(machine, "PASS")) == [":irc.test 461 * PASS :Not enough parameters"]


def test_a_second_user_is_refused(machine: Registration) -> None:
    send(machine, "CAP LS")
    send(machine, "USER al 0 * :Alice")
    assert lines(send(machine, "USER bo 0 * :Bob")) == [":irc.test 462 * :You may not reregister"]


def test_a_bad_username_is_refused_and_a_long_one_cut(machine: Registration) -> None:
    assert lines(send(machine, "USER a@b 0 * :x")) == [
        ":irc.test 468 * :Your username is not valid"
    ]
    send(machine, "NICK alice")
    assert registered(send(machine, f"USER {'u' * 50} 0 * :x")).user == "u" * 32


@pytest.mark.parametrize("nick", ["#chan", "a,b", "a!b", "a@b", "$x", "@op", "a\x01"])
def test_the_protocols_nick_rules(machine: Registration, nick: str) -> None:
    outputs = machine.receive(Message("NICK", (nick,)))
    assert [(m.command, m.params[1]) for m in outputs if isinstance(m, Message)] == [("432", nick)]
    assert machine.nick is None


@pytest.mark.parametrize("nick", ["a b", ":x"])
def test_a_refused_nick_that_cannot_be_echoed_shows_as_a_star(
    machine: Registration, nick: str
) -> None:
    assert lines(machine.receive(Message("NICK", (nick,)))) == [
        ":irc.test 432 * * :Erroneus nickname"
    ]


def test_an_unknown_cap_subcommand_with_a_space(machine: Registration) -> None:
    assert lines(send(machine, "CAP :no such")) == [":irc.test 410 * * :Invalid CAP command"]


def test_the_nick_check_is_injected() -> None:
    taken = {"bob"}
    machine = Registration(
        server=SERVER, check_nick=lambda nick: ERR_NICKNAMEINUSE if nick in taken else None
    )
    assert lines(send(machine, "NICK bob")) == [":irc.test 433 * bob :Nickname is already in use"]
    send(machine, "NICK alice")
    assert registered(send(machine, "USER al 0 * :Alice")).nick == "alice"


def test_a_nick_refused_at_registration_reopens_it(machine: Registration) -> None:
    send(machine, "CAP REQ batch")
    send(machine, "NICK alice")
    send(machine, "USER al 0 * :Alice")
    assert registered(send(machine, "CAP END")).nick == "alice"
    # The session finds the nick taken after all (someone took it meanwhile).
    assert lines(machine.refuse_nick()) == [":irc.test 433 * alice :Nickname is already in use"]
    assert not machine.registered
    assert lines(send(machine, "JOIN #a")) == [":irc.test 451 * :You have not registered"]
    done = registered(send(machine, "NICK alice_"))
    assert (done.nick, done.user, done.capabilities) == ("alice_", "al", frozenset({"batch"}))


def test_refuse_nick_needs_a_registration(machine: Registration) -> None:
    with pytest.raises(RuntimeError):
        machine.refuse_nick()


def test_renamed_changes_the_client_in_replies(machine: Registration) -> None:
    send(machine, "NICK alice")
    send(machine, "USER al 0 * :Alice")
    machine.renamed("alicia")
    assert lines(send(machine, "CAP LIST")) == [":irc.test CAP alicia LIST :"]


def test_quit_before_registration(machine: Registration) -> None:
    outputs = send(machine, "QUIT :changed my mind")
    assert lines(outputs) == ["ERROR :Closing link: client quit"]
    assert Quit("changed my mind") in outputs


class TestSasl:
    def test_success(self, machine: Registration) -> None:
        send(machine, "CAP LS 302")
        send(machine, "CAP REQ sasl")
        send(machine, "NICK alice")
        send(machine, "USER al 0 * :Alice")
        assert lines(send(machine, "AUTHENTICATE plain")) == [":irc.test AUTHENTICATE +"]
        outputs = send(machine, f"AUTHENTICATE {plain('', 'alice', 's3cret!')}")
        assert outputs == [CheckSasl(authorization="", authentication="alice", password="s3cret!")]
        assert "s3cret" not in repr(outputs[0])
        # CAP END while the check is in flight waits for its verdict.
        assert send(machine, "CAP END") == []
        outputs = machine.sasl_succeeded("alice")
        assert lines(outputs) == [
            ":irc.test 900 alice alice!al@127.0.0.1 alice :You are now logged in as alice",
            ":irc.test 903 alice :SASL authentication successful",
        ]
        assert registered(outputs).account == "alice"

    def test_failure_then_registration_without_an_account(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        assert isinstance(
            send(machine, f"AUTHENTICATE {plain('', 'alice', 'wrong')}")[0], CheckSasl
        )
        assert lines(machine.sasl_failed()) == [":irc.test 904 * :SASL authentication failed"]
        send(machine, "NICK alice")
        send(machine, "USER al 0 * :Alice")
        assert registered(send(machine, "CAP END")).account is None

    def test_a_locked_account(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        send(machine, f"AUTHENTICATE {plain('', 'alice', 'pw')}")
        assert lines(machine.sasl_failed(ERR_NICKLOCKED)) == [
            ":irc.test 902 * :You must use a nick assigned to you"
        ]

    def test_payload_in_400_byte_chunks(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        password = "p" * 500
        payload = plain("", "alice", password)
        chunks = [payload[i : i + SASL_CHUNK] for i in range(0, len(payload), SASL_CHUNK)]
        assert len(chunks[0]) == SASL_CHUNK
        for chunk in chunks[:-1]:
            assert send(machine, f"AUTHENTICATE {chunk}") == []
        (check,) = send(machine, f"AUTHENTICATE {chunks[-1]}")
        assert isinstance(check, CheckSasl)
        assert check.password == password

    def test_a_payload_of_exactly_400_bytes_ends_with_plus(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        # 300 bytes of PLAIN are 400 of base64: one full chunk, then "+".
        payload = plain("", "alice", "p" * (300 - len("\0alice\0")))
        assert len(payload) == SASL_CHUNK
        assert send(machine, f"AUTHENTICATE {payload}") == []
        (check,) = send(machine, "AUTHENTICATE +")
        assert isinstance(check, CheckSasl)

    def test_a_chunk_over_400_bytes(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        assert lines(send(machine, f"AUTHENTICATE {'A' * 401}")) == [
            ":irc.test 905 * :SASL message too long"
        ]

    def test_a_payload_too_long_in_total(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        replies: list[str] = []
        for _ in range(20):
            replies += lines(send(machine, f"AUTHENTICATE {'A' * SASL_CHUNK}"))
        assert replies[0] == ":irc.test 905 * :SASL message too long"

    def test_abort(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        assert lines(send(machine, "AUTHENTICATE *")) == [
            ":irc.test 906 * :SASL authentication aborted"
        ]

    def test_an_unknown_mechanism(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        assert lines(send(machine, "AUTHENTICATE EXTERNAL")) == [
            ":irc.test 908 * PLAIN :are available SASL mechanisms",
            ":irc.test 904 * :SASL authentication failed",
        ]

    @pytest.mark.parametrize(
        "payload",
        [
            "!!!notbase64",
            "+",
            base64.b64encode(b"just-one-field").decode(),
            base64.b64encode(b"\0\0password").decode(),
            base64.b64encode(b"\0alice\0").decode(),
            base64.b64encode(b"\0alice\xff\0pw").decode(),
        ],
    )
    def test_malformed_plain_fails(self, machine: Registration, payload: str) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        assert lines(send(machine, f"AUTHENTICATE {payload}")) == [
            ":irc.test 904 * :SASL authentication failed"
        ]

    def test_without_the_sasl_capability(self, machine: Registration) -> None:
        assert lines(send(machine, "AUTHENTICATE PLAIN")) == [
            ":irc.test 904 * :SASL authentication failed"
        ]

    def test_attempts_are_limited(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        for _ in range(MAX_SASL_ATTEMPTS):
            send(machine, "AUTHENTICATE PLAIN")
            send(machine, f"AUTHENTICATE {plain('', 'alice', 'guess')}")
            machine.sasl_failed()
        assert lines(send(machine, "AUTHENTICATE PLAIN")) == [
            ":irc.test 904 * :SASL authentication failed"
        ]

    def test_registering_mid_exchange_aborts_it(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "NICK alice")
        send(machine, "USER al 0 * :Alice")
        send(machine, "AUTHENTICATE PLAIN")
        outputs = send(machine, "CAP END")
        assert lines(outputs) == [":irc.test 906 alice :SASL authentication aborted"]
        assert registered(outputs).account is None

    def test_again_after_success(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        send(machine, f"AUTHENTICATE {plain('', 'alice', 'pw')}")
        machine.sasl_succeeded("alice")
        assert lines(send(machine, "AUTHENTICATE PLAIN")) == [
            ":irc.test 907 * :You have already authenticated using SASL"
        ]

    def test_lines_during_the_check_are_ignored(self, machine: Registration) -> None:
        send(machine, "CAP REQ sasl")
        send(machine, "AUTHENTICATE PLAIN")
        send(machine, f"AUTHENTICATE {plain('', 'alice', 'pw')}")
        assert send(machine, "AUTHENTICATE PLAIN") == []

    def test_a_verdict_needs_a_check(self, machine: Registration) -> None:
        with pytest.raises(RuntimeError):
            machine.sasl_succeeded("alice")
        with pytest.raises(RuntimeError):
            machine.sasl_failed()


_LINES = st.sampled_from(
    [
        "CAP LS 302",
        "CAP LS",
        "CAP REQ :sasl batch",
        "CAP REQ :-batch",
        "CAP REQ nonsense",
        "CAP LIST",
        "CAP END",
        "CAP",
        "NICK alice",
        "NICK :",
        "USER al 0 * :Alice",
        "PASS secret",
        "AUTHENTICATE PLAIN",
        "AUTHENTICATE *",
        "AUTHENTICATE +",
        f"AUTHENTICATE {'A' * SASL_CHUNK}",
        "AUTHENTICATE AGFsaWNlAHB3",
        "PING x",
        "PONG x",
        "JOIN #a",
    ]
)
_ANY_LINE = st.text(
    st.characters(blacklist_characters="\x00\r\n", codec="utf-8"), min_size=1, max_size=40
)


@given(st.lists(st.one_of(_LINES, _ANY_LINE), max_size=30), st.data())
def test_any_sequence_of_lines_is_handled(lines_in: list[str], data: st.DataObject) -> None:
    machine = Registration(server=SERVER)
    for line in lines_in:
        try:
            message = parse_message(line)
        except MessageError:
            continue
        outputs = machine.receive(message)
        if any(isinstance(output, CheckSasl) for output in outputs):
            verdict = data.draw(st.booleans())
            outputs += machine.sasl_succeeded("alice") if verdict else machine.sasl_failed()
        for output in outputs:
            if isinstance(output, Message):
                output.encode()
        # One registration at most, and the machine says so.
        assert sum(isinstance(output, Registered) for output in outputs) <= 1
        if any(isinstance(output, Registered) for output in outputs):
            assert machine.registered
