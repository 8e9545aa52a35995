"""The sans-IO codecs at their edges: text rendering of moderation events, surrogates,
refusals of bad settings (exact messages), and a clock that goes backwards."""

from __future__ import annotations

import datetime as dt

import pytest

from triochat import BanChanged, Event, Kicked, OperatorChanged
from triochat.core._text import sanitize
from triochat.protocols._lines import LineSplitter, LineTooLong
from triochat.protocols.text._codec import LineCodec
from triochat.protocols.text._render import render_text
from triochat.session._flood import FloodControl, TokenBucket, Verdict

AT = dt.datetime(2026, 11, 27, 7, 8, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            Kicked(room="#ops", time=AT, sender="op", target="eve"),
            "[07:08:09] *** eve was kicked from #ops by op",
        ),
        (
            Kicked(room="#ops", time=AT, sender="op", target="eve", reason="spam"),
            "[07:08:09] *** eve was kicked from #ops by op (spam)",
        ),
        (
            OperatorChanged(room="#ops", time=AT, sender="op", target="bob", operator=True),
            "[07:08:09] *** op made bob an operator of #ops",
        ),
        (
            OperatorChanged(room="#ops", time=AT, sender="op", target="bob", operator=False),
            "[07:08:09] *** op took operator status in #ops from bob",
        ),
        (
            BanChanged(room="#ops", time=AT, sender="op", mask="eve*", banned=True),
            "[07:08:09] *** op banned eve* in #ops",
        ),
        (
            BanChanged(room="#ops", time=AT, sender="op", mask="eve*", banned=False),
            "[07:08:09] *** op lifted the ban on eve* in #ops",
        ),
    ],
)
def test_render_text_of_moderation_events(event: Event, line: str) -> None:
    assert render_text(event) == (line + "\n").encode()


def test_an_event_of_no_known_kind_is_not_rendered() -> None:
    with pytest.raises(TypeError, match=r"^no text rendering for Event"):
        render_text(Event(room="#ops", time=AT))


def test_sanitize_removes_lone_surrogates() -> None:
    # What a JSON "\ud800" escape decodes to: not a character a terminal can show.
    assert sanitize("a\ud800b\udfffc") == "abc"


def test_bad_settings_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"^max_line must be at least 1$"):
        LineSplitter(0)
    with pytest.raises(ValueError, match=r"^a token bucket needs rate > 0 and burst >= 1$"):
        TokenBucket(rate=1, burst=0)
    with pytest.raises(ValueError, match=r"^flood control needs limit >= 0 and window > 0$"):
        FloodControl(rate=1, burst=1, limit=1, window=0)
    assert FloodControl(rate=1, burst=1, limit=0, window=1e-9).limit == 0


def test_a_clock_that_goes_back_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)  # earlier than the last time seen: no refill, no credit
    assert not bucket.take(6.0)  # still before 10 s: nothing has refilled yet
    assert bucket.take(11.0)


def test_a_limit_of_zero_disconnects_at_the_first_refusal() -> None:
    flood = FloodControl(rate=1, burst=1, limit=0, window=10)
    assert [flood.check(0.0), flood.check(0.0)] == [Verdict.ACCEPT, Verdict.DISCONNECT]


def test_the_line_codec_makes_its_splitter_at_the_first_bytes() -> None:
    # An idle connection's codec holds no splitter; the first bytes make one, with the limit.
    codec = LineCodec(8)
    assert codec._splitter is None
    assert codec.pending == 0
    assert codec.receive(b"hel") == []
    assert codec.pending == 3  # held by the splitter just made
    frames = codec.receive(b"lo\nmuch too long\nok\n")
    assert frames[0] == b"hello"
    assert isinstance(frames[1], LineTooLong)
    assert frames[1].limit == 8
    assert frames[2] == b"ok"
    with pytest.raises(ValueError, match="at least 1"):
        LineCodec(0)
