"""Rendering the JSON wire format for people (triochat.client._render), with no I/O at all.

Events are built by the server's own renderer (``render_json``), so these tests read exactly what
a server sends. Times are shown in UTC here (``tz=dt.UTC``) so the tests do not depend on the
machine's time zone.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any, Final

import pytest

from triochat import (
    Action,
    Event,
    Joined,
    Left,
    Message,
    NickChanged,
    Notice,
    Private,
    TopicChanged,
)
from triochat.client._render import (
    NICK_COLORS,
    NICK_PALETTE,
    Display,
    color_enabled,
    nick_color,
    nick_index,
    render_event,
    render_spans,
)
from triochat.protocols.jsonl import render_json

NOON: Final = dt.datetime(2026, 11, 27, 12, 0, 5, 123000, tzinfo=dt.UTC)
ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


def wire(event: Event) -> dict[str, Any]:
    """*event* as a client receives it: one JSON line from the server, decoded."""
    obj: dict[str, Any] = json.loads(render_json(event))
    return obj


def line(event: Event, **options: Any) -> str:
    options.setdefault("tz", dt.UTC)
    return render_event(wire(event), **options)


def plain(text: str) -> str:
    return ANSI.sub("", text)


# ---------------------------------------------------------------------------------------------
# One event, one line


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Message(room="#lobby", time=NOON, sender="alice", text="hello"), "12:00 <alice> hello"),
        (Action(room="#lobby", time=NOON, sender="alice", text="waves"), "12:00 * alice waves"),
        (Joined(room="#lobby", time=NOON, sender="carol"), "12:00 --> carol joined #lobby"),
        (
            Left(room="#lobby", time=NOON, sender="bob", reason="quit: bye"),
            "12:00 <-- bob left #lobby (quit: bye)",
        ),
        (Left(room="#lobby", time=NOON, sender="bob"), "12:00 <-- bob left #lobby"),
        (
            NickChanged(room="#lobby", time=NOON, sender="guest-1", new="alice"),
            "12:00 --- guest-1 is now known as alice",
        ),
        (
            TopicChanged(room="#lobby", time=NOON, sender="alice", text="release day"),
            "12:00 --- alice set the topic of #lobby: release day",
        ),
        (
            TopicChanged(room="#lobby", time=NOON, sender="alice", text=""),
            "12:00 --- alice cleared the topic of #lobby",
        ),
        (
            Private(time=NOON, sender="alice", target="bob", text="psst"),
            "12:00 [private] <alice -> bob> psst",
        ),
        (Notice(time=NOON, text="goodbye (quit)", kind="goodbye"), "*** goodbye (quit)"),
        (
            Notice(time=NOON, text="error: nobody is called dave", error=True, kind="error"),
            "*** error: nobody is called dave",
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Event) else "",
)
def test_each_event_type(event: Event, expected: str) -> None:
    assert line(event, room="#lobby") == expected
    # Without colour there is nothing but printable text.
    assert "\x1b" not in line(event, room="#lobby")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"type": "kick", "sender": "op", "target": "eve", "reason": "spam"},
            "12:00 <-- eve was kicked from #lobby by op (spam)",
        ),
        (
            {"type": "op", "sender": "op", "target": "ann", "operator": True},
            "12:00 --- op made ann an operator of #lobby",
        ),
        (
            {"type": "op", "sender": "op", "target": "ann", "operator": False},
            "12:00 --- op took operator status in #lobby from ann",
        ),
        (
            {"type": "ban", "sender": "op", "mask": "eve*", "banned": True},
            "12:00 --- op banned eve* in #lobby",
        ),
    ],
)
def test_moderation_events(fields: dict[str, Any], expected: str) -> None:
    obj = {"room": "#lobby", "time": "2026-11-27T12:00:05.123Z", **fields}
    assert render_event(obj, room="#lobby", tz=dt.UTC) == expected


def test_events_of_another_room_name_it() -> None:
    event = Message(room="#bots", time=NOON, sender="bob", text="hi")
    assert line(event, room="#lobby") == "12:00 #bots <bob> hi"
    assert line(event, room="#bots") == "12:00 <bob> hi"
    # When the current room is not known, every room is named.
    assert line(event) == "12:00 #bots <bob> hi"
    act = Action(room="#bots", time=NOON, sender="bob", text="waves")
    assert line(act, room="#lobby") == "12:00 #bots * bob waves"


def test_an_error_is_marked_even_if_its_text_is_not() -> None:
    obj = wire(Notice(text="no such thing", error=True, kind="error"))
    assert render_event(obj) == "*** error: no such thing"


def test_time_is_local_hours_and_minutes() -> None:
    obj = wire(Message(room="#lobby", time=NOON, sender="a", text="x"))
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert render_event(obj, room="#lobby", tz=tokyo) == "21:00 <a> x"
    # By default, this machine's local time.
    local = NOON.astimezone().strftime("%H:%M")
    assert render_event(obj, room="#lobby") == f"{local} <a> x"


def test_malformed_objects_do_not_raise() -> None:
    assert render_event({}) == "*** [event]"
    assert render_event({"type": "message", "time": "yesterday"}) == "--:-- <> "
    assert render_event({"type": "sparkle", "text": "new in v9"}) == "*** [sparkle] new in v9"
    assert render_event({"type": "notice", "text": 42, "data": "not a dict"}) == "*** 42"


def test_control_characters_from_the_server_cannot_reach_the_terminal() -> None:
    obj = {
        "type": "message",
        "room": "#lobby",
        "time": "2026-11-27T12:00:05.123Z",
        "sender": "eve\x1b[2J",
        "text": "\x1b]0;owned\x07hi\u202eevil\r",
    }
    rendered = render_event(obj, room="#lobby", tz=dt.UTC)
    assert "\x1b" not in rendered
    assert "\x07" not in rendered
    assert "\r" not in rendered
    assert "\u202e" not in rendered
    assert rendered == "12:00 <eve\ufffd[2J> \ufffd]0;owned\ufffdhievil\ufffd"
    # With colour, the only escapes are ours.
    coloured = render_event(obj, room="#lobby", tz=dt.UTC, color=True)
    assert plain(coloured) == rendered


# ---------------------------------------------------------------------------------------------
# Colour


def test_nick_colours_are_stable_and_case_blind() -> None:
    assert nick_color("alice") in NICK_COLORS
    assert nick_color("alice") == nick_color("ALICE") == nick_color("Alice")
    # Known values: a change would recolour everyone's nick between versions.
    # (CRC-32, not hash(): the same in every process, whatever PYTHONHASHSEED says.)
    assert [nick_color(n) for n in ("alice", "bob")] == ["\x1b[38;5;37m", "\x1b[38;5;160m"]
    # Spread over a palette of sixteen rather than all one colour.
    assert len(NICK_COLORS) == len(NICK_PALETTE) >= 16
    assert len({nick_color(f"user{i}") for i in range(200)}) == len(NICK_COLORS)
    # The pair from the bug report, both cyan with the old palette of six, now differ.
    assert nick_index("alice") != nick_index("carol")


def test_spans_carry_the_styles_the_ansi_line_shows() -> None:
    event = Private(time=NOON, sender="alice", target="bob", text="psst")
    rendered = render_spans(wire(event), tz=dt.UTC)
    assert rendered.text == "12:00 [private] <alice -> bob> psst"
    assert ("time", "12:00") in rendered.spans
    assert (f"nick{nick_index('alice')}", "alice") in rendered.spans
    assert (f"nick{nick_index('bob')}", "bob") in rendered.spans
    assert rendered.kind == ""
    assert render_spans(wire(event.as_history())).kind == "history"
    error = Notice(text="error: no", error=True, kind="error")
    assert render_spans(wire(error)).kind == "error"


def test_colour_marks_nicks_errors_and_history() -> None:
    message = Message(room="#lobby", time=NOON, sender="alice", text="hi")
    coloured = line(message, room="#lobby", color=True)
    assert coloured == f"12:00 <{nick_color('alice')}alice\x1b[39m> hi"
    assert plain(coloured) == "12:00 <alice> hi"

    error = Notice(text="error: the nick bob is taken", error=True, kind="error")
    assert line(error, color=True) == "\x1b[1;31m*** error: the nick bob is taken\x1b[0m"

    old = message.as_history()
    dimmed = line(old, room="#lobby", color=True)
    assert dimmed.startswith("\x1b[2m")
    assert dimmed.endswith("\x1b[0m")
    # The nick's colour ends with "default colour", not a full reset, so the line stays dim.
    assert "\x1b[0m" not in dimmed[:-4]
    assert plain(dimmed) == "12:00 <alice> hi"
    # Without colour, history looks like any other line.
    assert line(old, room="#lobby") == "12:00 <alice> hi"


def test_private_messages_colour_both_nicks() -> None:
    event = Private(time=NOON, sender="alice", target="bob", text="psst")
    coloured = line(event, color=True)
    assert nick_color("alice") + "alice" in coloured
    assert nick_color("bob") + "bob" in coloured
    assert plain(coloured) == "12:00 [private] <alice -> bob> psst"


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (False, {}, False),  # piped: never
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": "anything at all"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (False, {"NO_COLOR": ""}, False),
    ],
)
def test_color_enabled(tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert color_enabled(FakeStream(tty), environ) is expected


def test_color_enabled_for_odd_streams() -> None:
    assert color_enabled(None, {}) is False
    assert color_enabled(io.StringIO(), {}) is False
    closed = io.StringIO()
    closed.close()
    assert color_enabled(closed, {}) is False


# ---------------------------------------------------------------------------------------------
# The display: a session's lines


def json_line(event: Event) -> str:
    return render_json(event).decode().rstrip("\n")


def format_notice(nick: str = "guest-1", room: str | None = "#lobby") -> str:
    notice = Notice(text="format is now json", kind="format")
    notice.data.update(format="json", nick=nick, room=room)
    return json_line(notice)


def started(color: bool = False) -> Display:
    display = Display(color=color, tz=dt.UTC)
    display.asked_for_json(history=True)
    assert display.feed("*** welcome to triochat, guest-1! You are in #lobby ...") == []
    assert display.feed("[12:00:00] *** guest-1 joined #lobby") == []
    assert display.feed(format_notice()) == [
        "*** you are guest-1, talking in #lobby. /help lists the commands, /quit leaves."
    ]
    return display


def test_text_lines_before_the_switch_are_replaced_by_a_welcome() -> None:
    display = started()
    assert display.confirmed
    assert (display.nick, display.room, display.prompt) == ("guest-1", "#lobby", "#lobby> ")
    assert display.finish() == []


def test_an_empty_history_asked_for_at_the_start_is_not_shown() -> None:
    display = started()
    empty = Notice(text="history of #lobby: 0 events", kind="history")
    empty.data.update(room="#lobby", count=0)
    end = Notice(text="end of history of #lobby", kind="history-end")
    assert display.feed(json_line(empty)) == []
    assert display.feed(json_line(end)) == []
    # Asked for by the user, it is shown.
    assert display.feed(json_line(empty)) == ["*** history of #lobby: 0 events"]
    assert display.feed(json_line(end)) == ["*** end of history of #lobby"]


def test_history_is_dimmed_and_its_end_is_shown() -> None:
    display = started(color=True)
    some = Notice(text="history of #lobby: 1 event", kind="history")
    some.data.update(room="#lobby", count=1)
    old = Message(room="#lobby", time=NOON, sender="bob", text="earlier").as_history()
    end = Notice(text="end of history of #lobby", kind="history-end")
    shown = [
        *display.feed(json_line(some)),
        *display.feed(json_line(old)),
        *display.feed(json_line(end)),
    ]
    assert all(text.startswith("\x1b[2m") for text in shown)
    assert [plain(text) for text in shown] == [
        "*** history of #lobby: 1 event",
        "12:00 <bob> earlier",
        "*** end of history of #lobby",
    ]


def test_joining_a_room_shows_where_its_history_ends() -> None:
    display = started()
    old = Message(room="#bots", time=NOON, sender="bot", text="beep").as_history()
    joined = Joined(room="#bots", time=NOON, sender="guest-1")
    switch = Notice(text="now talking in #bots", kind="switch")
    switch.data["room"] = "#bots"
    assert display.feed(json_line(old)) == ["12:00 #bots <bot> beep"]
    assert display.feed(json_line(joined)) == [
        "*** end of history of #bots",
        "12:00 --> guest-1 joined #bots",
    ]
    assert display.room == "#bots"
    assert display.feed(json_line(switch)) == ["*** now talking in #bots"]
    assert display.prompt == "#bots> "
    # Now #lobby is the other room.
    said = Message(room="#lobby", time=NOON, sender="ann", text="hi")
    assert display.feed(json_line(said)) == ["12:00 #lobby <ann> hi"]


def test_the_prompt_follows_switch_notices_and_nick_changes() -> None:
    display = started()
    left = Notice(text="you left #lobby; you are in no room now; /join #ROOM", kind="switch")
    left.data["room"] = None
    display.feed(json_line(left))
    assert display.room is None
    assert display.prompt == "> "
    display.feed(json_line(NickChanged(room="#x", time=NOON, sender="guest-1", new="ann")))
    assert display.nick == "ann"
    # Someone else's change is not ours.
    display.feed(json_line(NickChanged(room="#x", time=NOON, sender="bob", new="rob")))
    assert display.nick == "ann"
    renamed = Notice(text="you are now known as zed", kind="nick")
    renamed.data["nick"] = "zed"
    display.feed(json_line(renamed))
    assert display.nick == "zed"
    # Someone else joining does not move us.
    display.feed(json_line(Joined(room="#elsewhere", time=NOON, sender="bob")))
    assert display.room is None


def test_held_lines_are_shown_if_the_switch_never_comes() -> None:
    display = Display(tz=dt.UTC)
    display.asked_for_json()
    assert display.feed("*** error: server full, try again later") == []
    assert display.finish() == ["*** error: server full, try again later"]
    assert display.finish() == []


def test_pass_through_shows_text_lines_as_they_are() -> None:
    display = Display(tz=dt.UTC)
    assert display.feed("*** you have been kicked\x1b[31m") == []
    assert display.pass_through() == ["*** you have been kicked\ufffd[31m"]
    assert display.wire_format == "text"
    assert display.feed("[00:00:00] <guest-1> hi") == ["[00:00:00] <guest-1> hi"]
    assert display.finish() == []


def test_text_lines_after_switching_back_are_shown() -> None:
    display = started()
    back = Notice(text="format is now text", kind="format")
    back.data.update(format="text", nick="guest-1", room="#lobby")
    assert display.feed(json_line(back)) == ["*** format is now text"]
    assert display.wire_format == "text"
    assert display.feed("[12:00:09] <guest-1> hi") == ["[12:00:09] <guest-1> hi"]
