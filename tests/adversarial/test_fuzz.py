"""Property tests (hypothesis) over the sans-IO code, as an attacker would feed it.

``tests/protocols/text/test_wire.py`` checks each wire function on its own (the splitter on
structured lines, decoding, sanitizing, text commands, examples of rendering). These properties
cover what it does not: the whole per-line pipeline of the server over arbitrary bytes cut anywhere,
JSON commands, rendering of arbitrary events in both formats, the no-forgery guarantee end to end,
and the flood control policy. ``nox -s fuzz`` runs them with a large example budget
(``TRIOCHAT_HYPOTHESIS_PROFILE=fuzz``, see ``conftest.py``)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import unicodedata
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from triochat import Action, Event, Joined, Left, Message, NickChanged, Notice
from triochat.core._events import Private, TopicChanged
from triochat.core._text import sanitize, strip_formatting
from triochat.protocols._lines import DecodeError, LineSplitter, LineTooLong, decode_line
from triochat.protocols.jsonl import render_json
from triochat.protocols.text._parse import parse_command
from triochat.protocols.text._render import render_text
from triochat.session._commands import Command, Me, Say, Unknown
from triochat.session._flood import FloodControl, Verdict

# --------------------------------------------------------------------------- the pipeline

#: Byte strings that mean something to some layer: line ends, escapes, partial UTF-8,
#: commands, JSON with escapes that decode to control characters.
_TOKENS = [
    b"\n",
    b"\r\n",
    b"\r",
    b"\x00",
    b"\xff",
    b"\x1b[2J",
    b"\x1b]0;x\x07",
    b"\xc2\x9b",
    b"\xe2\x82",
    b"\xac",
    b"\xe2\x80\xae",
    b"/nick ",
    b"/me ",
    b"/join #",
    b"/msg ",
    b"//",
    b"quit",
    b"{",
    b'{"cmd":"say","text":"\\u001b[31mred\\n*** forged"}',
    b'{"cmd":"nick","nick":7}',
    b'{"cmd":',
    b"[" * 50,
    # Counts past Python's 4 300-digit limit on int(), reachable with a large --max-line.
    b"/history ",
    b"/rooms ",
    b"/who #lobby ",
    b'{"cmd":"history","count":',
    b"9" * 4400,
    # Invisible characters: before a command, and inside text.
    b"\xef\xbb\xbf",  # U+FEFF
    b"\xe2\x80\x8b",  # U+200B
    b"\xc2\xa0",  # U+00A0
    b"\xe2\x80\xa8",  # U+2028
    b"/pass ",
    b'{"cmd":"say","text":"\\ud800"}',
]
_stream = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(_TOKENS)), max_size=40).map(
    b"".join
)

Outcome = Command | LineTooLong | tuple[str, object] | None


def serve_lines(chunks: list[bytes], max_line: int, *, json_commands: bool) -> list[Outcome]:
    """What the server's reader makes of *chunks*: the documented outcome of every line.

    Only :class:`DecodeError` may be raised by the wire layer, and only for bad UTF-8; it is
    turned into an outcome here exactly as the server turns it into an error line.
    """
    splitter = LineSplitter(max_line)
    outcomes: list[Outcome] = []
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if isinstance(item, LineTooLong):
                outcomes.append(item)
                continue
            try:
                text = sanitize(decode_line(item))
            except DecodeError as exc:
                outcomes.append(("decode error", str(exc)))
                continue
            outcomes.append(parse_command(text, json_commands=json_commands))
    outcomes.append(("pending", splitter.pending))
    return outcomes


def _cut(data: bytes, cuts: set[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(
    data=_stream,
    max_line=st.one_of(st.integers(1, 64), st.just(4096), st.just(10_000)),
    json_commands=st.booleans(),
    cuts=st.sets(st.integers(0, 2000), max_size=30),
)
def test_any_chunking_gives_what_one_chunk_gives(
    data: bytes, max_line: int, json_commands: bool, cuts: set[int]
) -> None:
    chunks = _cut(data, {cut for cut in cuts if cut <= len(data)})
    whole = serve_lines([data], max_line, json_commands=json_commands)
    assert serve_lines(chunks, max_line, json_commands=json_commands) == whole


@given(data=_stream, max_line=st.integers(1, 64), json_commands=st.booleans())
def test_one_byte_at_a_time_gives_what_one_chunk_gives(
    data: bytes, max_line: int, json_commands: bool
) -> None:
    bytewise = [data[i : i + 1] for i in range(len(data))]
    assert serve_lines(bytewise, max_line, json_commands=json_commands) == serve_lines(
        [data], max_line, json_commands=json_commands
    )


_digits = st.one_of(
    st.text(alphabet="0123456789", max_size=12),
    st.integers(1, 9000).map(lambda length: "9" * length),
)


@given(
    command=st.sampled_from(["/history ", "/rooms ", "/list ", "/who #lobby ", "/who "]),
    digits=_digits,
    json_count=st.sampled_from(['{"cmd":"history","count":', '{"cmd":"rooms","page":']),
)
def test_counts_of_any_length_are_answered_with_a_large_max_line(
    command: str, digits: str, json_count: str
) -> None:
    # Lines up to 10 000 bytes (--max-line 10000) can carry more digits than int() takes.
    lines = f"{command}{digits}\n{json_count}{digits or 0}}}\n".encode()
    outcomes = serve_lines([lines], 10_000, json_commands=True)
    assert all(isinstance(outcome, Command) for outcome in outcomes[:-1]), outcomes


def _strings(value: Any) -> list[str]:
    """Every string inside a command (its fields, recursively)."""
    if isinstance(value, str):
        return [value]
    if attrs.has(type(value)):
        return [s for field in attrs.astuple(value, recurse=False) for s in _strings(field)]
    return []


_NEVER_RELAYED = frozenset("\u2028\u2029\u200b\ufeff\u2060")


def _is_clean(text: str) -> bool:
    return (
        all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in text)
        and "\x1b" not in text
        and not _NEVER_RELAYED.intersection(text)
    )


@given(
    data=_stream,
    max_line=st.one_of(st.just(4096), st.just(10_000)),
    json_commands=st.booleans(),
)
def test_every_string_a_command_carries_is_clean(
    data: bytes, max_line: int, json_commands: bool
) -> None:
    for outcome in serve_lines([data], max_line, json_commands=json_commands):
        if isinstance(outcome, Command):
            assert all(_is_clean(text) for text in _strings(outcome)), outcome


_blanks = st.lists(
    st.sampled_from([" ", "\t", "\ufeff", "\u200b", "\u00a0", "\u3000", "\u2060", "\u200d"]),
    max_size=5,
).map("".join)


@given(
    prefix=_blanks,
    command=st.sampled_from(["/pass", "/register", "/unregister", "/admin", "/oper", "/nick x"]),
    secret=st.text(min_size=1).filter(lambda text: " " not in text),
    json_commands=st.booleans(),
)
def test_a_secret_after_invisible_characters_is_never_a_chat_line(
    prefix: str, command: str, secret: str, json_commands: bool
) -> None:
    line = sanitize(f"{prefix}{command} {secret}")
    outcome = parse_command(line, json_commands=json_commands)
    assert not isinstance(outcome, Say | Me), outcome


# ----------------------------------------------------------------------------- JSON input

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_COMMAND_NAMES = ["say", "me", "nick", "quit", "help", "who", "join", "part", "rooms", "topic"]
_command_names = st.sampled_from(
    [*_COMMAND_NAMES, "switch", "msg", "history", "format", "SAY", "Join", "", "nope"]
)
_members = st.sampled_from(["text", "room", "nick", "reason", "to", "count", "format", "cmd"])
_json_commands = st.builds(
    lambda cmd, extra: {"cmd": cmd, **extra},
    st.one_of(_command_names, _json_values),
    st.dictionaries(_members, _json_values, max_size=4),
)


@given(_json_commands)
def test_json_commands_never_raise_and_carry_only_clean_strings(obj: dict[str, Any]) -> None:
    line = sanitize(json.dumps(obj))  # what the server would have after decoding the line
    command = parse_command(line, json_commands=True)
    assert isinstance(command, Command)
    assert all(_is_clean(text) for text in _strings(command))


@given(st.integers(1, 100_000), st.sampled_from(["[", "{", '{"a":[']))
def test_deeply_nested_json_is_an_error_not_a_crash(depth: int, opener: str) -> None:
    command = parse_command("{" + opener * depth, json_commands=True)
    assert isinstance(command, Unknown)
    assert command.message.startswith("invalid JSON command")


# ------------------------------------------------------------------------------ rendering

_nicks = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-\[\]{}|^`]{0,23}", fullmatch=True)
_rooms = st.from_regex(r"#[A-Za-z0-9_\-]{1,32}", fullmatch=True)
_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


def _events(text: st.SearchStrategy[str]) -> st.SearchStrategy[Event]:
    """Every kind of event, with *text* wherever a client's words go."""
    stamp: dict[str, st.SearchStrategy[Any]] = {
        "room": _rooms,
        "seq": st.integers(0, 2**40),
        "time": _times,
        "sender": _nicks,
        "history": st.booleans(),
    }
    return st.one_of(
        st.builds(Message, text=text, **stamp),
        st.builds(Action, text=text, **stamp),
        st.builds(Joined, **stamp),
        st.builds(Left, reason=text, **stamp),
        st.builds(NickChanged, new=_nicks, **stamp),
        st.builds(TopicChanged, text=text, **stamp),
        st.builds(Private, target=_nicks, text=text, **stamp),
        st.builds(
            Notice,
            text=text,
            error=st.booleans(),
            kind=st.text(max_size=10),
            data=st.dictionaries(st.text(max_size=5), _json_scalars, max_size=3),
        ),
    )


_any_text = st.text()
# What the core publishes: sanitized text that keeps IRC's formatting codes (for IRC clients),
# with plenty of those codes and colour numbers in it.
_formatted = st.lists(
    st.one_of(
        st.text(max_size=6),
        st.sampled_from(["\x02", "\x03", "\x0304,12", "\x0f", "\x16", "\x1d", "\x1f", "\x1b[1m"]),
    ),
    max_size=12,
).map("".join)
_clean_text = st.one_of(st.text(), _formatted).map(
    lambda text: sanitize(text, keep_formatting=True)
)


@given(_events(_any_text))
def test_json_rendering_is_one_line_that_decodes_to_the_event(event: Event) -> None:
    # Whatever the strings hold (newlines, escapes, U+2028), one event is one line.
    data = render_json(event)
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert b"\r" not in data
    obj = json.loads(data)
    assert obj["seq"] == event.seq
    assert obj["sender"] == event.sender
    assert obj["history"] == event.history
    for field in ("text", "reason"):
        if hasattr(event, field):
            # IRC's formatting codes are for IRC clients: JSON has the text without them.
            assert obj[field] == strip_formatting(getattr(event, field))


@given(_events(_clean_text))
def test_json_rendering_of_published_text_has_no_control_character(event: Event) -> None:
    obj = json.loads(render_json(event))
    for field in ("text", "reason"):
        if field in obj:
            assert _is_clean(obj[field]), obj


@given(_events(_clean_text))
def test_text_rendering_of_clean_text_is_one_clean_line(event: Event) -> None:
    data = render_text(event)
    line = data.decode("utf-8")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert _is_clean(line[:-1]), line


_STAMPED = re.compile(r"\[\d\d:\d\d:\d\d\] <(?P<nick>[^ >]+)> (?P<text>.*)\n")


@given(data=_stream, nick=_nicks, time=_times, seq=st.integers(1, 2**40))
def test_no_input_can_forge_a_line(data: bytes, nick: str, time: dt.datetime, seq: int) -> None:
    # End to end: whatever bytes a client sends, every chat line it causes is exactly one line
    # that starts with the server's stamp and the client's own nick.
    for outcome in serve_lines([data], 4096, json_commands=True):
        if isinstance(outcome, Command) and type(outcome).__name__ == "Say":
            text = _strings(outcome)[0]
            event = Message(room="#lobby", seq=seq, time=time, sender=nick, text=text)
            match = _STAMPED.fullmatch(render_text(event).decode("utf-8"))
            assert match is not None
            assert match["nick"] == nick
            assert match["text"] == text


# -------------------------------------------------------------------------- flood control

_gaps = st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=300)


@given(
    gaps=_gaps,
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    limit=st.integers(0, 50),
    window=st.floats(0.1, 20),
)
def test_flood_control_matches_its_definition(
    gaps: list[float], rate: float, burst: int, limit: int, window: float
) -> None:
    flood = FloodControl(rate=rate, burst=burst, limit=limit, window=window)
    times = list(itertools.accumulate(gaps))
    refused_at: list[float] = []
    accepted = 0
    previous_refused = False
    for now in times:
        verdict = flood.check(now)
        if verdict is Verdict.ACCEPT:
            accepted += 1
            previous_refused = False
            # The bucket: never more than the burst plus what the rate refilled since the start.
            assert accepted <= burst + rate * (now - times[0]) + 1e-6
            continue
        refused_at.append(now)
        in_window = [t for t in refused_at if t > now - window]
        if verdict is Verdict.DISCONNECT:
            assert len(in_window) > limit
            return
        assert len(in_window) <= limit
        # Warned once per run of refusals: the first of a run warns, the others do not.
        assert (verdict is Verdict.WARN) == (not previous_refused)
        previous_refused = True


@given(gaps=_gaps, burst=st.integers(1, 10))
def test_without_a_rate_limit_nothing_is_refused(gaps: list[float], burst: int) -> None:
    flood = FloodControl(rate=math.inf, burst=burst, limit=0, window=1)
    assert all(flood.check(now) is Verdict.ACCEPT for now in itertools.accumulate(gaps))
