"""Casemapping: the standard mappings, an injected one, and the protocol's nick rules."""

from __future__ import annotations

import unicodedata

import pytest

from triochat.protocols.irc import (
    ASCII,
    RFC1459,
    RFC1459_STRICT,
    CaseMapping,
    Features,
    nick_protocol_problem,
)


@pytest.mark.parametrize(
    ("mapping", "first", "second", "same"),
    [
        (ASCII, "Alice", "aLICE", True),
        (ASCII, "a[b]\\~", "a{b}|^", False),
        (ASCII, "Élan", "élan", False),
        (RFC1459, "a[b]\\~", "A{B}|^", True),
        (RFC1459_STRICT, "a[b]\\", "A{B}|", True),
        (RFC1459_STRICT, "a~", "a^", False),
    ],
)
def test_standard_mappings(mapping: CaseMapping, first: str, second: str, same: bool) -> None:
    assert mapping.equal(first, second) is same


def test_tokens_are_the_modern_irc_names() -> None:
    assert (ASCII.token, RFC1459.token, RFC1459_STRICT.token) == (
        "ascii",
        "rfc1459",
        "rfc1459-strict",
    )


def test_an_injected_mapping_is_what_isupport_says() -> None:
    def fold(name: str) -> str:
        return unicodedata.normalize("NFKC", name).casefold()

    unicode_names = CaseMapping("x-example-nfkc-casefold", fold)
    assert unicode_names.equal("ＡＬＩＣＥ", "alice")
    assert unicode_names.equal("STRASSE", "straße")
    features = Features(casemapping=unicode_names)
    assert "CASEMAPPING=x-example-nfkc-casefold" in features.tokens()


@pytest.mark.parametrize("token", ["", "has space", "ünïcode", "tab\t"])
def test_a_token_must_be_printable_ascii(token: str) -> None:
    with pytest.raises(ValueError, match="CASEMAPPING"):
        CaseMapping(token, str.lower)


@pytest.mark.parametrize(
    ("nick", "problem"),
    [
        ("alice", None),
        ("[away]|x^", None),
        ("Élan", None),
        ("", "empty"),
        ("a b", "' '"),
        ("a,b", "','"),
        ("a*", "'*'"),
        ("a?", "'?'"),
        ("a!b", "'!'"),
        ("a@b", "'@'"),
        ("#a", "start with '#'"),
        ("&a", "start with '&'"),
        ("$a", "start with '$'"),
        (":a", "start with ':'"),
        ("@a", "start with '@'"),
        ("a\x07", "'\\x07'"),
    ],
)
def test_nick_protocol_problem(nick: str, problem: str | None) -> None:
    found = nick_protocol_problem(nick)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_nick_protocol_problem_options() -> None:
    assert nick_protocol_problem("abcdef", max_length=5) == "a nick has at most 5 characters"
    assert nick_protocol_problem("&a", channel_types="#") is None
    assert nick_protocol_problem("+v", membership_prefixes="@+") is not None
