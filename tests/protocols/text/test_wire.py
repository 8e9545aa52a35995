"""Tests of the sans-IO line protocol: splitting, decoding, sanitizing, parsing and rendering."""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat import DEFAULT_ROOM, Action, Event, Joined, Left, Message, NickChanged, Notice
from triochat.core._text import (
    IRC_FORMATTING,
    is_blank,
    sanitize,
    strip_formatting,
    strip_leading_blanks,
)
from triochat.protocols._lines import DecodeError, LineSplitter, LineTooLong, decode_line
from triochat.protocols.text._parse import parse_command
from triochat.protocols.text._render import render_text
from triochat.session._commands import Command, Help, Me, Nick, Quit, Say, Unknown, Who

Item = bytes | LineTooLong

# ------------------------------------------------------------------------------ LineSplitter


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[Item]:
    out: list[Item] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_one_line_in_one_chunk() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"hello world\n") == [b"hello world"]
    assert splitter.pending == 0


def test_several_lines_in_one_chunk_keep_their_order() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntwo\n\nthree\nfour") == [b"one", b"two", b"", b"three"]
    assert splitter.pending == len(b"four")
    assert splitter.feed(b"\n") == [b"four"]
    assert splitter.pending == 0


def test_crlf_endings_lose_the_cr_but_inner_cr_stays() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\r\nb\r\nc\rd\n") == [b"a", b"b", b"c\rd"]
    # Only one \r is removed.
    assert splitter.feed(b"e\r\r\n") == [b"e\r"]


def test_line_split_across_many_feeds() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"hel") == []
    assert splitter.pending == 3
    assert splitter.feed(b"lo wo") == []
    assert splitter.pending == 8
    assert splitter.feed(b"rld\nne") == [b"hello world"]
    assert splitter.pending == 2
    assert splitter.feed(b"xt\r") == []
    assert splitter.feed(b"\n") == [b"next"]
    assert splitter.pending == 0


def test_empty_feed_returns_nothing() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"") == []
    splitter.feed(b"abc")
    assert splitter.feed(b"") == []
    assert splitter.pending == 3


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_of_exactly_max_line_is_accepted(ending: bytes) -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"x" * 8 + ending) == [b"x" * 8]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_of_exactly_max_line_is_accepted_byte_by_byte(ending: bytes) -> None:
    splitter = LineSplitter(max_line=8)
    data = b"x" * 8 + ending
    assert feed_all(splitter, [data[i : i + 1] for i in range(len(data))]) == [b"x" * 8]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_of_max_line_plus_one_is_rejected_and_next_line_is_intact(ending: bytes) -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"x" * 9 + ending + b"ok" + ending) == [LineTooLong(8), b"ok"]
    assert splitter.pending == 0


def test_overlong_line_reported_as_soon_as_the_limit_is_passed() -> None:
    splitter = LineSplitter(max_line=8)
    for _ in range(8):
        assert splitter.feed(b"x") == []
    # The ninth byte passes the limit: reported now, with no newline in sight.
    assert splitter.feed(b"x") == [LineTooLong(8)]
    assert splitter.pending == 0
    # The rest of that line is thrown away as it arrives, without another report.
    assert splitter.feed(b"y" * 1000) == []
    assert splitter.pending == 0
    assert splitter.feed(b"z" * 50 + b"\r\nok\nnext") == [b"ok"]
    assert splitter.pending == len(b"next")


def test_overlong_line_in_one_big_chunk_is_reported_once() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"q" * 10_000) == [LineTooLong(8)]
    assert splitter.pending == 0
    assert splitter.feed(b"q" * 10_000) == []
    assert splitter.feed(b"\n\nafter\n") == [b"", b"after"]


def test_trailing_cr_may_take_one_byte_over_the_limit_while_waiting() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"x" * 8 + b"\r") == []
    assert splitter.pending == 9
    assert splitter.feed(b"\n") == [b"x" * 8]


def test_trailing_cr_not_followed_by_newline_makes_the_line_too_long() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"x" * 8 + b"\r") == []
    assert splitter.feed(b"y") == [LineTooLong(8)]
    assert splitter.feed(b"\nfine\n") == [b"fine"]


def test_too_long_reports_the_limit() -> None:
    assert LineSplitter(max_line=3).feed(b"abcd\n") == [LineTooLong(limit=3)]
    assert LineTooLong(3) != LineTooLong(4)


def test_bytearray_and_memory_safe_input() -> None:
    splitter = LineSplitter()
    data = bytearray(b"first\nsec")
    lines = splitter.feed(data)
    assert lines == [b"first"]
    assert all(type(line) is bytes for line in lines)
    # Mutating the caller's buffer afterwards must not change what the splitter kept.
    data[:] = b"XXXXXXXXX"
    assert splitter.feed(bytearray(b"ond\n")) == [b"second"]


def test_max_line_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line"):
        LineSplitter(max_line=0)
    assert LineSplitter(max_line=1).feed(b"a\nab\n") == [b"a", LineTooLong(1)]


# Hypothesis: lines (some with \r, some over the limit), joined, then cut at arbitrary places.

_line_bytes = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))
_line = st.tuples(_line_bytes, st.booleans()).map(lambda t: t[0] + b"\r" if t[1] else t[0])


def expected_lines(lines: list[bytes], tail: bytes, limit: int) -> tuple[list[Item], int]:
    """What a splitter must produce for complete *lines* then an unfinished *tail*."""
    out: list[Item] = []
    for line in lines:
        content = line[:-1] if line.endswith(b"\r") else line
        out.append(content if len(content) <= limit else LineTooLong(limit))
    allowance = 1 if tail.endswith(b"\r") else 0
    if len(tail) > limit + allowance:
        out.append(LineTooLong(limit))
        return out, 0
    return out, len(tail)


@given(
    lines=st.lists(_line, max_size=12),
    tail=_line,
    limit=st.integers(min_value=1, max_value=16),
    data=st.data(),
)
def test_chunked_feeding_matches_feeding_at_once(
    lines: list[bytes], tail: bytes, limit: int, data: st.DataObject
) -> None:
    stream = b"".join(line + b"\n" for line in lines) + tail
    cuts = sorted(data.draw(st.sets(st.integers(min_value=0, max_value=len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]

    whole = LineSplitter(limit)
    at_once = whole.feed(stream)
    pieces = LineSplitter(limit)
    chunked = feed_all(pieces, chunks)

    assert chunked == at_once
    assert pieces.pending == whole.pending
    assert (at_once, whole.pending) == expected_lines(lines, tail, limit)


@given(
    chunks=st.lists(st.binary(max_size=40), max_size=30),
    limit=st.integers(min_value=1, max_value=16),
)
def test_pending_never_exceeds_the_limit(chunks: list[bytes], limit: int) -> None:
    splitter = LineSplitter(limit)
    fed: list[bytes] = []
    for chunk in chunks:
        fed.append(chunk)
        for item in splitter.feed(chunk):
            if isinstance(item, bytes):
                assert len(item) <= limit
        assert splitter.pending <= limit + 1
        if splitter.pending == limit + 1:
            # Only a trailing \r (perhaps the start of \r\n) earns the extra byte: replayed
            # into a fresh splitter and completed, it must give a line of exactly the limit.
            replay = LineSplitter(limit)
            feed_all(replay, fed)
            completed = replay.feed(b"\n")
            assert len(completed) == 1
            assert isinstance(completed[0], bytes)
            assert len(completed[0]) == limit


# -------------------------------------------------------------------------------- decode_line


def test_decode_line_decodes_utf8() -> None:
    assert decode_line("héllo 😀".encode()) == "héllo 😀"
    assert decode_line(b"") == ""


@pytest.mark.parametrize(
    ("data", "offset"),
    [(b"abc\xffdef", 3), (b"\x80", 0), ("é".encode()[:1], 0), (b"ok " + "€".encode()[:2], 3)],
)
def test_decode_error_names_utf8_and_the_offset(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_line(data)
    message = str(info.value)
    assert "UTF-8" in message
    assert f"offset {offset}" in message
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@given(st.binary(max_size=64))
def test_decode_line_raises_only_decode_error(data: bytes) -> None:
    try:
        text = decode_line(data)
    except DecodeError:
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    else:
        assert text == data.decode("utf-8")


# ----------------------------------------------------------------------------------- sanitize


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("\x1b[1;38;5;196mbold\x1b[m", "bold"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b[?25lhidden cursor", "hidden cursor"),
        ("\x1b]0;evil title\x07after", "after"),
        ("\x1b]2;evil title\x1b\\after", "after"),
        ("before\x1b]8;;http://x\x07link\x1b]8;;\x07", "beforelink"),
        ("\x9b31mred\x9b0m", "red"),
        ("a\x00b", "ab"),
        ("abc\x08\x08\x08xyz", "abcxyz"),
        ("fake\rreal", "fakereal"),
        ("two\nlines", "twolines"),
        ("bell\x07", "bell"),
        ("del\x7f", "del"),
        ("c1\x85next", "c1next"),
        ("plain\x1b", "plain"),
        ("\x1bcreset", "reset"),
        ("a\tb\t\tc", "a b  c"),
        ("abc\u202edcba\u202c", "abcdcba"),
        ("\u2066isolated\u2069 \u202a\u202b\u202d\u2067\u2068x", "isolated x"),
    ],
)
def test_sanitize_removes_escapes_and_controls(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


@pytest.mark.parametrize(
    "text",
    ["hello", "héllo wörld ñ ç", "😀👍🏽 party 🎉", "中文 日本語 한국어", "Ωμέγα", "", " spaced "],
)
def test_sanitize_keeps_ordinary_unicode(text: str) -> None:
    assert sanitize(text) == text
    assert sanitize(f"\x1b[1m{text}\x1b[0m") == text


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_nasty = st.sampled_from(
    [
        "\x1b",
        "\x1b[",
        "\x1b]",
        "\x1b\\",
        "\x9b",
        "\x9c",
        "\x07",
        "\x00",
        "\t",
        "\r",
        "\n",
        "\x7f",
        "\x85",
        "[31m",
        "0;title",
        *_BIDI,
    ]
)
_hostile_text = st.lists(st.one_of(st.text(max_size=8), _nasty), max_size=20).map("".join)


@given(st.one_of(st.text(), _hostile_text))
def test_sanitize_output_has_no_controls_escapes_or_bidi(text: str) -> None:
    clean = sanitize(text)
    for ch in clean:
        assert unicodedata.category(ch) != "Cc", repr(clean)
        assert ch not in _BIDI, repr(clean)
    assert "\x1b" not in clean
    assert "\n" not in clean
    assert "\r" not in clean


@given(st.one_of(st.text(), _hostile_text))
def test_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once


@given(st.text())
def test_sanitize_leaves_printable_text_alone(text: str) -> None:
    if text.isprintable():
        assert sanitize(text) == text


# ------------------------------------------------------------------------------ parse_command


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("", None),
        ("   ", None),
        ("hello there", Say("hello there")),
        ("quit", Quit()),
        ("Quit", Say("Quit")),
        ("quit now", Say("quit now")),
        ("/quit", Quit()),
        ("/quit bye", Quit("bye")),
        ("/quit   see you all  ", Quit("see you all")),
        ("/QUIT bye", Quit("bye")),
        ("/nick alice", Nick("alice")),
        ("/NiCk alice", Nick("alice")),
        ("/nick   alice  ", Nick("alice")),
        ("/nick", Unknown("usage: /nick NAME [PASSWORD]")),
        ("/nick   ", Unknown("usage: /nick NAME [PASSWORD]")),
        ("/nick a b", Nick("a", "b")),
        ("/nick a b c", Unknown("usage: /nick NAME [PASSWORD]")),
        ("/me waves", Me("waves")),
        ("/ME waves at everyone", Me("waves at everyone")),
        ("/me", Unknown("usage: /me TEXT")),
        ("/me   ", Unknown("usage: /me TEXT")),
        ("/help", Help()),
        ("/HELP", Help()),
        ("/who", Who()),
        ("/names", Who()),
        ("/Names", Who()),
        ("//x", Say("/x")),
        ("//quit", Say("/quit")),
        ("//", Say("/")),
    ],
)
def test_parse_command(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize("line", ["/frobnicate", "/frobnicate now", "/", "/nickname x"])
def test_unknown_command_names_it_and_points_to_help(line: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Unknown)
    name = line[1:].split(" ")[0]
    assert f"/{name}" in command.message
    assert "unknown command" in command.message
    assert "/help" in command.message


_commandish = st.tuples(
    st.sampled_from(
        [
            *("", "/", "//", "/nick", "/nick ", "/me ", "/quit", "/QUIT ", "quit", " "),
            *(" //", "\ufeff/pass ", "\u200b\u00a0/nick ", "\u3000quit", "\u200d"),
        ]
    ),
    st.text(),
).map("".join)


@given(st.one_of(st.text(), _commandish))
def test_parse_command_never_raises(line: str) -> None:
    command = parse_command(line)
    # Blank: white space and invisible characters only (a zero-width space is no message).
    if is_blank(line):
        assert command is None
    else:
        assert isinstance(command, Command)
    if isinstance(command, Say):
        # The line itself, or "//..." without its first "/" (after any leading blanks).
        head = strip_leading_blanks(line)
        assert command.text == line or (head.startswith("//") and command.text == head[1:])
    if isinstance(command, Nick):
        assert command.name
        assert " " not in command.name


# -------------------------------------------------------------------------------- render_text

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)


LOBBY = DEFAULT_ROOM


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            Message(room=LOBBY, seq=3, time=WHEN, sender="alice", text="hello"),
            "[07:08:09] <alice> hello",
        ),
        (
            Message(room="#dev", seq=3, time=WHEN, sender="alice", text="hello"),
            "[07:08:09] #dev <alice> hello",
        ),
        (
            Action(room=LOBBY, seq=4, time=WHEN, sender="alice", text="waves"),
            "[07:08:09] * alice waves",
        ),
        (
            Action(room="#dev", seq=4, time=WHEN, sender="alice", text="waves"),
            "[07:08:09] #dev * alice waves",
        ),
        (
            Joined(room=LOBBY, seq=1, time=WHEN, sender="bob"),
            f"[07:08:09] *** bob joined {LOBBY}",
        ),
        (Left(room="#dev", seq=9, time=WHEN, sender="bob"), "[07:08:09] *** bob left #dev"),
        (
            Left(room="#dev", seq=9, time=WHEN, sender="bob", reason="quit: bye"),
            "[07:08:09] *** bob left #dev (quit: bye)",
        ),
        (
            NickChanged(room=LOBBY, seq=5, time=WHEN, sender="bob", new="robert"),
            "[07:08:09] *** bob is now known as robert",
        ),
        (Notice(time=WHEN, text="welcome to triochat"), "*** welcome to triochat"),
        (Notice(time=WHEN, text="error: nope", error=True), "*** error: nope"),
        (
            Message(room=LOBBY, seq=1, time=WHEN, sender="zoë", text="中文 😀"),
            "[07:08:09] <zoë> 中文 😀",
        ),
    ],
)
def test_render_text(event: Event, line: str) -> None:
    rendered = render_text(event)
    assert type(rendered) is bytes
    assert rendered == (line + "\n").encode("utf-8")
    assert rendered.endswith(b"\n")
    assert not rendered.endswith(b"\n\n")
    assert rendered.count(b"\n") == 1


def test_render_uses_the_event_time_not_the_clock() -> None:
    midnight = dt.datetime(1999, 12, 31, 23, 59, 58, tzinfo=dt.UTC)
    event = Message(room=LOBBY, seq=1, time=midnight, sender="a", text="x")
    assert render_text(event).startswith(b"[23:59:58] ")
    event2 = Message(
        room=LOBBY, seq=1, time=midnight + dt.timedelta(seconds=3), sender="a", text="x"
    )
    assert render_text(event2).startswith(b"[00:00:01] ")


def test_encode_renders_once_per_format_and_returns_the_same_bytes() -> None:
    event = Message(room=LOBBY, seq=1, time=WHEN, sender="alice", text="hi")
    calls: list[Event] = []

    def counting(ev: Event) -> bytes:
        calls.append(ev)
        return render_text(ev)

    first = event.encode("text", counting)
    second = event.encode("text", counting)
    assert first == b"[07:08:09] <alice> hi\n"
    assert second is first
    assert len(calls) == 1
    assert calls[0] is event

    other_calls: list[Event] = []

    def other(ev: Event) -> bytes:
        other_calls.append(ev)
        return b"other\n"

    assert event.encode("json", other) == b"other\n"
    assert event.encode("json", other) is event.encode("json", other)
    assert len(other_calls) == 1
    # The first format's cache is untouched by the second.
    assert event.encode("text", counting) is first
    assert len(calls) == 1


def test_encode_cache_does_not_affect_equality_or_repr() -> None:
    a = Message(room=LOBBY, seq=1, time=WHEN, sender="alice", text="hi")
    b = Message(room=LOBBY, seq=1, time=WHEN, sender="alice", text="hi")
    a.encode("text", render_text)
    assert a == b
    assert hash(a) == hash(b)
    assert "encoded" not in repr(a)


# ------------------------------------------------------------------------- IRC formatting


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("\x02bold\x02", "bold"),
        ("\x0304red\x03", "red"),
        ("\x034,12x", "x"),
        ("\x03123", "3"),  # two digits at most
        ("\x0312,", ","),  # a comma with no digit after it is text
        ("\x03,5x", ",5x"),  # no foreground: the comma is text
        ("\x1di\x1d \x1fu\x1f \x16r\x0f", "i u r"),
        ("plain", "plain"),
    ],
)
def test_strip_formatting_takes_out_codes_and_colour_numbers(raw: str, plain: str) -> None:
    assert strip_formatting(raw) == plain


def test_sanitize_keeps_irc_formatting_only_when_asked() -> None:
    text = "\x02b\x03" + "4c\x0f\x16\x1d\x1f\x1b[1m\x07\x00"
    assert sanitize(text) == "b4c"
    assert sanitize(text, keep_formatting=True) == "\x02b\x034c\x0f\x16\x1d\x1f"


@given(st.text())
def test_sanitize_with_formatting_keeps_no_other_control(text: str) -> None:
    kept = sanitize(text, keep_formatting=True)
    assert all(unicodedata.category(ch) != "Cc" or ch in IRC_FORMATTING for ch in kept), repr(kept)
    plain = strip_formatting(kept)
    assert all(unicodedata.category(ch) != "Cc" for ch in plain), repr(plain)
