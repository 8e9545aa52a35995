"""IRC messages: the public irc-parser-tests vectors, the edge cases, the limits, and properties."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parser_tests.data import msg_join, msg_split, userhost_split

from triochat.protocols.irc import (
    MAX_CLIENT_TAG_DATA,
    InputTooLong,
    Message,
    MessageError,
    NotUtf8,
    client_only_tags,
    escape_tag_value,
    parse_client_line,
    parse_message,
    split_userhost,
    unescape_tag_value,
)


def _atoms_of(message: Message) -> dict[str, Any]:
    return {
        "tags": dict(message.tags),
        "source": message.source,
        "verb": message.command,
        "params": list(message.params),
    }


def _expected(atoms: dict[str, Any]) -> dict[str, Any]:
    # The vectors leave out what is empty or missing.
    return {
        "tags": atoms.get("tags") or {},
        "source": atoms.get("source"),
        "verb": atoms["verb"],
        "params": atoms.get("params") or [],
    }


@pytest.mark.parametrize("case", msg_split["tests"], ids=lambda case: repr(case["input"]))
def test_msg_split_vectors(case: dict[str, Any]) -> None:
    assert _atoms_of(parse_message(case["input"])) == _expected(case["atoms"])


@pytest.mark.parametrize("case", msg_join["tests"], ids=lambda case: case.get("desc", "?"))
def test_msg_join_vectors(case: dict[str, Any]) -> None:
    atoms = _expected(case["atoms"])
    message = Message(atoms["verb"], atoms["params"], source=atoms["source"], tags=atoms["tags"])
    line = message.serialize()
    assert line in case["matches"]
    # Every accepted spelling parses back to the same message.
    for spelling in case["matches"]:
        assert parse_message(spelling) == message


@pytest.mark.parametrize("case", userhost_split["tests"], ids=lambda case: repr(case["source"]))
def test_userhost_split_vectors(case: dict[str, Any]) -> None:
    parts = split_userhost(case["source"])
    atoms = case["atoms"]
    assert (parts.nick, parts.user, parts.host) == (
        atoms.get("nick", ""),
        atoms.get("user", ""),
        atoms.get("host", ""),
    )


def test_the_vectors_are_all_there() -> None:
    # If the package ever shrinks, the parametrized tests above would pass on less.
    assert (len(msg_split["tests"]), len(msg_join["tests"]), len(userhost_split["tests"])) == (
        35,
        17,
        9,
    )


@pytest.mark.parametrize(
    ("params", "line"),
    [
        (("#chan", "hello"), "PRIVMSG #chan hello"),
        (("#chan", "hello world"), "PRIVMSG #chan :hello world"),
        (("#chan", ":)"), "PRIVMSG #chan ::)"),
        (("#chan", ""), "PRIVMSG #chan :"),
        (("#chan", "a:b"), "PRIVMSG #chan a:b"),
    ],
)
def test_the_last_parameter_gets_a_colon_only_when_it_needs_one(
    params: tuple[str, str], line: str
) -> None:
    assert Message("PRIVMSG", params).serialize() == line


def test_encode_ends_in_crlf_and_is_utf8() -> None:
    message = Message("PRIVMSG", ("#café", "héllo wörld"), source="élan!u@h")
    assert message.encode() == ":élan!u@h PRIVMSG #café :héllo wörld\r\n".encode()
    assert str(message) == message.serialize()


def test_verb_is_the_command_in_upper_case() -> None:
    assert parse_message("privmsg #a b").verb == "PRIVMSG"
    assert parse_message("privmsg #a b").command == "privmsg"


@pytest.mark.parametrize(
    "params",
    [
        ("has space", "x"),
        (":colon", "x"),
        ("", "x"),
        ("line\nbreak",),
        ("carriage\rreturn",),
        ("nul\x00",),
    ],
)
def test_parameters_that_would_change_the_line_are_refused(params: tuple[str, ...]) -> None:
    with pytest.raises(MessageError):
        Message("PRIVMSG", params)


@pytest.mark.parametrize("command", ["", "PRIV MSG", "12", "1234", "PRIV_MSG", ":x", "ÉTÉ"])
def test_invalid_commands_are_refused(command: str) -> None:
    with pytest.raises(MessageError):
        Message(command)


@pytest.mark.parametrize("source", ["", "a b", "a\nb", "a\x00"])
def test_invalid_sources_are_refused(source: str) -> None:
    with pytest.raises(MessageError):
        Message("PING", ("x",), source=source)


@pytest.mark.parametrize("key", ["", "a b", "a;b", "a=b", "a\rb"])
def test_invalid_tag_keys_are_refused(key: str) -> None:
    with pytest.raises(MessageError):
        Message("TAGMSG", ("#a",), tags={key: "v"})


def test_a_tag_value_cannot_hold_nul() -> None:
    with pytest.raises(MessageError):
        Message("TAGMSG", ("#a",), tags={"+x": "a\x00b"})


def test_tags_are_read_only_and_compare_as_a_dict() -> None:
    message = Message("TAGMSG", ("#a",), tags={"+typing": "active"})
    assert message.tags == {"+typing": "active"}
    with pytest.raises(TypeError):
        message.tags["+typing"] = "paused"  # type: ignore[index]


@pytest.mark.parametrize(
    "line", ["", "   ", ":src", ":src   ", "@a=b", "@a=b :src", ": PING", "a\rb", "PING \x00"]
)
def test_lines_that_are_not_messages(line: str) -> None:
    with pytest.raises(MessageError):
        parse_message(line)


def test_leading_spaces_and_space_runs_are_separators() -> None:
    assert parse_message("  PING   a  b ") == Message("PING", ("a", "b"))


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\:b", "a;b"),
        ("a\\sb", "a b"),
        ("a\\\\b", "a\\b"),
        ("\\r\\n", "\r\n"),
        ("a\\b", "ab"),
        ("end\\", "end"),
        ("\\\\n", "\\n"),
    ],
)
def test_tag_value_unescaping(raw: str, value: str) -> None:
    assert unescape_tag_value(raw) == value


def test_tag_value_escaping() -> None:
    assert escape_tag_value("a;b c\\d\r\n") == "a\\:b\\sc\\\\d\\r\\n"


def test_client_only_tags_drop_what_only_the_server_may_set() -> None:
    tags = {"+draft/reply": "1", "time": "2020-01-01T00:00:00.000Z", "msgid": "x", "+typing": ""}
    assert client_only_tags(tags) == {"+draft/reply": "1", "+typing": ""}


class TestClientLimits:
    def test_a_full_size_line_is_accepted(self) -> None:
        tags = "@+a=" + "x" * (MAX_CLIENT_TAG_DATA - 3)
        rest = "PRIVMSG #a :" + "y" * (510 - len("PRIVMSG #a :"))
        message = parse_client_line(f"{tags} {rest}".encode())
        assert len(message.params[1]) == 510 - len("PRIVMSG #a :")

    def test_tag_data_over_4094_bytes_is_too_long(self) -> None:
        tags = "@+a=" + "x" * (MAX_CLIENT_TAG_DATA - 2)
        with pytest.raises(InputTooLong):
            parse_client_line(f"{tags} PING x".encode())

    def test_a_message_over_512_bytes_with_crlf_is_too_long(self) -> None:
        rest = "PRIVMSG #a :" + "y" * (511 - len("PRIVMSG #a :"))
        with pytest.raises(InputTooLong):
            parse_client_line(rest.encode())
        with pytest.raises(InputTooLong):
            parse_client_line(("@a=b " + rest).encode())

    def test_the_limit_counts_bytes_not_characters(self) -> None:
        rest = "PRIVMSG #a :" + "é" * 250  # 12 + 500 bytes
        with pytest.raises(InputTooLong):
            parse_client_line(rest.encode())

    def test_invalid_utf8(self) -> None:
        with pytest.raises(NotUtf8, match="offset 11"):
            parse_client_line(b"PRIVMSG #a \xff")

    def test_an_error_is_a_message_error(self) -> None:
        assert issubclass(InputTooLong, MessageError)
        assert issubclass(NotUtf8, MessageError)
        assert issubclass(MessageError, ValueError)


# -- properties ---------------------------------------------------------------------------------

_SAFE_TEXT = st.text(st.characters(blacklist_characters="\x00\r\n", codec="utf-8"), max_size=30)
_WORD = _SAFE_TEXT.map(lambda text: text.replace(" ", "")).filter(lambda text: text != "")
_MIDDLE = _WORD.filter(lambda text: not text.startswith(":"))
_KEY_NAME = st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True)
_KEY = st.builds(
    lambda plus, vendor, name: plus + (vendor + "/" if vendor else "") + name,
    st.sampled_from(["", "+"]),
    st.one_of(st.just(""), st.from_regex(r"[a-z0-9]{1,8}(\.[a-z]{2,4})?", fullmatch=True)),
    _KEY_NAME,
)
_COMMAND = st.one_of(
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True), st.from_regex(r"[0-9]{3}", fullmatch=True)
)
_TAG_VALUE = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    middle = draw(st.lists(_MIDDLE, max_size=5))
    last = draw(st.one_of(st.none(), _SAFE_TEXT))
    params = middle if last is None else [*middle, last]
    return Message(
        draw(_COMMAND),
        params,
        source=draw(st.one_of(st.none(), _WORD)),
        tags=draw(st.dictionaries(_KEY, _TAG_VALUE, max_size=4)),
    )


@given(messages())
def test_parse_undoes_serialize(message: Message) -> None:
    assert parse_message(message.serialize()) == message


@given(messages())
def test_serialize_undoes_parse_on_a_serialized_line(message: Message) -> None:
    line = message.serialize()
    assert parse_message(line).serialize() == line


@given(messages())
def test_encode_is_one_line(message: Message) -> None:
    data = message.encode()
    assert data.endswith(b"\r\n")
    assert b"\r" not in data[:-2]
    assert b"\n" not in data[:-2]


@given(st.text(max_size=60))
def test_parse_raises_only_message_error_on_any_text(text: str) -> None:
    try:
        message = parse_message(text)
    except MessageError:
        return
    # Whatever parses serializes again, and means the same.
    assert parse_message(message.serialize()) == message


@given(st.binary(max_size=80))
def test_parse_client_line_raises_only_message_error_on_any_bytes(data: bytes) -> None:
    with contextlib.suppress(MessageError):
        parse_client_line(data)


@given(st.text(alphabet="ab\\:;srn \r\n", max_size=30))
def test_tag_values_round_trip(value: str) -> None:
    assert unescape_tag_value(escape_tag_value(value)) == value
