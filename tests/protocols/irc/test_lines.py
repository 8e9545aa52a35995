"""The IRC line splitter: CR, LF and CR LF endings, and a bounded buffer for overlong lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat.protocols.irc import MAX_INPUT_LINE, IrcLineSplitter, LineTooLong


def test_every_line_ending_ends_a_line() -> None:
    splitter = IrcLineSplitter()
    assert splitter.feed(b"A\r\nB\nC\rD") == [b"A", b"B", b"C"]
    assert splitter.pending == 1
    assert splitter.feed(b"\r\n") == [b"D"]


def test_a_crlf_split_across_two_reads_is_one_ending() -> None:
    splitter = IrcLineSplitter()
    assert splitter.feed(b"PING x\r") == [b"PING x"]
    assert splitter.feed(b"\nPING y\r\n") == [b"PING y"]


def test_empty_lines_are_dropped() -> None:
    assert IrcLineSplitter().feed(b"\r\n\r\n\n\rA\r\n\r\n") == [b"A"]


def test_a_line_of_exactly_the_limit_passes() -> None:
    splitter = IrcLineSplitter(max_line=5)
    assert splitter.feed(b"12345\r\n") == [b"12345"]


def test_an_overlong_line_is_reported_once_as_soon_as_it_passes_the_limit() -> None:
    splitter = IrcLineSplitter(max_line=5)
    assert splitter.feed(b"1234") == []
    assert splitter.feed(b"56") == [LineTooLong(5)]
    # The rest of it is thrown away as it arrives, without being kept.
    assert splitter.feed(b"7" * 1000) == []
    assert splitter.pending == 0
    assert splitter.feed(b"89\r\nok\r\n") == [b"ok"]


def test_an_overlong_complete_line_in_one_read() -> None:
    splitter = IrcLineSplitter(max_line=3)
    assert splitter.feed(b"ab\nabcd\nabc\n") == [b"ab", LineTooLong(3), b"abc"]


def test_the_default_limit_is_a_full_tag_section_and_a_full_message() -> None:
    assert MAX_INPUT_LINE == 8191 + 512 - 2
    assert IrcLineSplitter().max_line == MAX_INPUT_LINE


def test_max_line_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        IrcLineSplitter(max_line=0)


@given(
    st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))),
    st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=1),
    st.data(),
)
def test_lines_come_out_whatever_the_reads(
    lines: list[bytes], endings: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    splitter = IrcLineSplitter(max_line=8)
    out: list[bytes | LineTooLong] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out.extend(splitter.feed(stream[start:end]))
        assert splitter.pending <= 8
    expected = [line if len(line) <= 8 else LineTooLong(8) for line in lines if line]
    assert out == expected
