"""RPL_ISUPPORT: tokens from the server's real features, at most 13 a line, 512 bytes a line."""

from __future__ import annotations

import pytest

from triochat.protocols.irc import (
    ASCII,
    MAX_TOKENS_PER_LINE,
    Features,
    escape_isupport_value,
    isupport_messages,
    parse_message,
)


def test_default_tokens() -> None:
    assert Features(casemapping=ASCII, chathistory=100).tokens() == [
        "CASEMAPPING=ascii",
        "CHANLIMIT=#:20",
        "CHANMODES=b,,,n",
        "CHANNELLEN=33",
        "CHANTYPES=#",
        "CHATHISTORY=100",
        "LINELEN=512",
        "MAXLIST=b:100",
        "MODES=1",
        "MSGREFTYPES=timestamp",
        "NETWORK=triochat",
        "NICKLEN=24",
        "PREFIX=(o)@",
        "TARGMAX=PRIVMSG:1,NOTICE:1,TAGMSG:1,NAMES:1,WHOIS:1,KICK:1",
        "TOPICLEN=300",
        "UTF8ONLY",
    ]


def test_chathistory_tokens_only_with_chathistory() -> None:
    tokens = Features(casemapping=ASCII).tokens()
    assert not [token for token in tokens if token.startswith(("CHATHISTORY", "MSGREFTYPES"))]


def test_none_leaves_a_token_out_and_extra_adds_some() -> None:
    tokens = Features(
        casemapping=ASCII,
        nick_length=None,
        line_length=None,
        utf8_only=False,
        away_length=200,
        targets={"privmsg": 4, "JOIN": None},
        extra={"SAFELIST": None, "BOT": "B"},
    ).tokens()
    assert "AWAYLEN=200" in tokens
    assert "TARGMAX=PRIVMSG:4,JOIN:" in tokens
    assert {"SAFELIST", "BOT=B"} <= set(tokens)
    assert not [token for token in tokens if token.startswith(("NICKLEN", "LINELEN", "UTF8"))]


def test_values_are_escaped() -> None:
    assert escape_isupport_value("My Net=1\\2") == "My\\x20Net\\x3D1\\x5C2"
    assert escape_isupport_value("Réseau") == "R\\xC3\\xA9seau"
    tokens = Features(casemapping=ASCII, network="Trio Chat").tokens()
    assert "NETWORK=Trio\\x20Chat" in tokens


def test_prefix_modes_cannot_be_channel_modes() -> None:
    with pytest.raises(ValueError, match="both PREFIX and CHANMODES"):
        Features(casemapping=ASCII, channel_modes=("bo", "", "", "n"))


def test_numbers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="nick_length must be a positive"):
        Features(casemapping=ASCII, nick_length=0)
    with pytest.raises(ValueError, match="chathistory must be a positive"):
        Features(casemapping=ASCII, chathistory=-1)


def test_parameter_names_are_checked() -> None:
    with pytest.raises(ValueError, match="upper-case"):
        Features(casemapping=ASCII, extra={"lower": None}).tokens()


def test_lines_of_at_most_13_tokens() -> None:
    tokens = Features(casemapping=ASCII, chathistory=100).tokens()
    messages = isupport_messages("irc.test", "alice", tokens)
    assert [len(message.params) - 2 for message in messages] == [13, len(tokens) - 13]
    for message in messages:
        assert message.command == "005"
        assert message.params[0] == "alice"
        assert message.params[-1] == "are supported by this server"
    assert [token for message in messages for token in message.params[1:-1]] == tokens
    assert parse_message(messages[0].serialize()) == messages[0]


def test_lines_fit_in_512_bytes() -> None:
    tokens = [f"X{n:02}={'v' * 60}" for n in range(20)]
    messages = isupport_messages("irc.test", "alice", tokens)
    assert all(len(message.encode()) <= 512 for message in messages)
    assert all(len(message.params) - 2 <= MAX_TOKENS_PER_LINE for message in messages)
    assert [token for message in messages for token in message.params[1:-1]] == tokens


def test_per_line_is_bounded() -> None:
    with pytest.raises(ValueError, match="per_line"):
        isupport_messages("s", "c", ["A"], per_line=14)
