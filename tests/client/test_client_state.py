"""The full-screen client's model (triochat.cli._state) and input line (_client_editing), with
no terminal and no network: the server's JSON events in, windows and lines out.

Events are made by the server's own renderer, so these tests read exactly what a server sends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from triochat import Joined, Kicked, Left, Message, NickChanged, Notice, Private
from triochat.cli._editing import Completer, InputHistory
from triochat.cli._state import ChatState
from triochat.protocols.jsonl import render_json

NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def line(event: Any) -> str:
    return render_json(event).decode().rstrip("\n")


def notice(kind: str, text: str = "", **data: Any) -> str:
    event = Notice(text=text, kind=kind, time=NOON)
    event.data.update(data)
    return line(event)


def said(room: str, sender: str, text: str, seq: int = 0, *, history: bool = False) -> str:
    event = Message(room=room, seq=seq, time=NOON, sender=sender, text=text)
    return line(event.as_history() if history else event)


def texts(state: ChatState, room: str) -> list[str]:
    return [rendered.text for rendered in state.windows[room].lines]


def started(nick: str = "ann", history: int | None = None) -> ChatState:
    """A state connected as *nick* in #lobby, as after the switch to JSON."""
    state = ChatState(history=history, tz=dt.UTC)
    state.connected(again=False)
    state.feed_line("*** welcome to triochat, guest-1! (text: held, then dropped)")
    state.feed_line(notice("format", "format is now json", format="json", nick=nick, room="#lobby"))
    return state


def test_the_switch_opens_the_room_and_asks_for_the_lists_quietly() -> None:
    state = started()
    assert state.json
    assert list(state.windows) == ["#lobby"]
    assert state.current.name == "#lobby"
    assert state.requests == ["/rooms", "/who"]
    # The text lines before the switch are not shown; a greeting is.
    assert texts(state, "#lobby") == [
        "*** you are ann, talking in #lobby. /help lists the commands, /quit leaves, "
        "Alt-1...9 switch rooms."
    ]
    # The answers asked for fill the lists without a line.
    state.feed_line(notice("who", "2 in #lobby: ann, bob", room="#lobby", members=["ann", "bob"]))
    state.feed_line(notice("rooms", "1 room", rooms=[{"name": "#lobby", "members": 2}]))
    assert len(texts(state, "#lobby")) == 1
    assert sorted(state.current.nicks.values()) == ["ann", "bob"]
    assert state.rooms_known == {"#lobby"}
    # The same answers asked for by you are shown.
    state.feed_line(notice("who", "2 in #lobby: ann, bob", room="#lobby", members=["ann", "bob"]))
    assert texts(state, "#lobby")[-1] == "*** 2 in #lobby: ann, bob"


def test_rooms_windows_unread_counts_and_mentions() -> None:
    state = started()
    state.feed_line(said("#bots", "ann", "history", 1, history=True))
    state.feed_line(line(Joined(room="#bots", seq=2, time=NOON, sender="ann")))
    # Your join opens the window, puts it on view and asks for its nick list.
    assert state.current.name == "#bots"
    assert state.requests[-1] == "/who #bots"
    assert texts(state, "#bots") == [
        "12:00 <ann> history",
        "*** end of history of #bots",
        "12:00 --> ann joined #bots",
    ]
    state.feed_line(said("#lobby", "bob", "psst"))
    state.feed_line(said("#lobby", "bob", "ANN, look"))
    state.feed_line(said("#bots", "bob", "here"))
    lobby = state.windows["#lobby"]
    assert (lobby.unread, lobby.mentioned) == (2, True)
    assert state.windows["#bots"].unread == 0  # on view
    assert lobby.lines[-1].kind == "mention"
    assert state.switch(0) == "/switch #lobby"
    assert state.current is lobby
    assert (lobby.unread, lobby.mentioned) == (0, False)
    # The server's "now talking in" for that switch is not news.
    state.feed_line(notice("switch", "now talking in #lobby", room="#lobby"))
    assert texts(state, "#lobby")[-1] == "12:00 <bob> ANN, look"
    # Private messages go to the window on view.
    state.feed_line(line(Private(time=NOON, sender="bob", target="ann", text="hi")))
    assert texts(state, "#lobby")[-1] == "12:00 [private] <bob -> ann> hi"


def test_the_nick_list_follows_joins_parts_nicks_and_kicks() -> None:
    state = started()
    state.feed_line(notice("who", "", room="#lobby", members=["ann", "bob"]))
    state.feed_line(line(Joined(room="#lobby", seq=3, time=NOON, sender="cy")))
    state.feed_line(line(NickChanged(room="#lobby", seq=4, time=NOON, sender="bob", new="rob")))
    state.feed_line(line(Left(room="#lobby", seq=5, time=NOON, sender="cy", reason="quit")))
    assert sorted(state.current.nicks.values()) == ["ann", "rob"]
    state.feed_line(line(NickChanged(room="#lobby", seq=6, time=NOON, sender="ann", new="anna")))
    assert state.nick == "anna"
    # Kicked out: the room's window goes, and the kick is shown where you are now.
    state.feed_line(line(Joined(room="#b", seq=1, time=NOON, sender="anna")))
    state.feed_line(line(Kicked(room="#b", seq=2, time=NOON, sender="op", target="anna")))
    assert list(state.windows) == ["#lobby"]
    assert texts(state, "#lobby")[-1] == "12:00 <-- anna was kicked from #b by op"


def test_parting_closes_the_window() -> None:
    state = started()
    state.feed_line(line(Joined(room="#b", seq=1, time=NOON, sender="ann")))
    state.feed_line(notice("switch", "you left #b; now talking in #lobby", room="#lobby"))
    assert list(state.windows) == ["#lobby"]
    assert texts(state, "#lobby")[-1] == "*** you left #b; now talking in #lobby"


def test_history_is_trimmed_on_join_but_not_when_asked_for() -> None:
    state = started(history=2)
    for seq in range(1, 6):
        state.feed_line(said("#b", "bob", f"old {seq}", seq, history=True))
    state.feed_line(line(Joined(room="#b", seq=6, time=NOON, sender="ann")))
    assert texts(state, "#b")[:2] == ["12:00 <bob> old 4", "12:00 <bob> old 5"]
    state.feed_line(notice("history", "history of #b: 5 events", room="#b", count=5))
    for seq in range(1, 6):
        state.feed_line(said("#b", "bob", f"old {seq}", seq, history=True))
    state.feed_line(notice("history-end", "end of history of #b", room="#b"))
    assert texts(state, "#b")[-6:-1] == [f"12:00 <bob> old {seq}" for seq in range(1, 6)]


def reconnect(state: ChatState) -> None:
    """A new connection, as the client makes it: the format, then the nick it had."""
    state.connected(again=True)
    state.feed_line("*** welcome to triochat, guest-9!")
    # (The lobby's epoch now: a resumption still starts from the one of the last line seen.)
    state.feed_line(
        notice("format", "", format="json", nick="guest-9", room="#lobby", epoch="e-now")
    )
    state.feed_line(line(NickChanged(room="#lobby", seq=9, time=NOON, sender="guest-9", new="ann")))


def test_a_reconnection_rejoins_and_shows_only_what_was_missed() -> None:
    state = started()
    state.feed_line(said("#lobby", "bob", "one", 7))
    state.feed_line(line(Joined(room="#b", seq=1, time=NOON, sender="ann")))
    state.feed_line(said("#b", "bob", "b-one", 2))
    state.requests.clear()
    reconnect(state)
    assert state.requests == ["/rooms", "/history", "/who", "/join #b", "/switch #b"]
    # #lobby: the log goes on from the last line seen.
    state.feed_line(notice("history", "", room="#lobby", count=3))
    for seq, text in [(6, "zero"), (7, "one"), (8, "two")]:
        state.feed_line(said("#lobby", "bob", text, seq, history=True))
    state.feed_line(notice("history-end", "", room="#lobby"))
    assert texts(state, "#lobby")[-2:] == ["*** 1 line you missed:", "12:00 <bob> two"]
    assert state.windows["#lobby"].unread == 1
    # #b: a server that restarted without a durable log has another history: say so.
    state.feed_line(said("#b", "eve", "new log", 1, history=True))
    state.feed_line(line(Joined(room="#b", seq=2, time=NOON, sender="ann")))
    assert texts(state, "#b")[-3:] == [
        "*** the history of #b does not reach back to the last line you saw: some lines may "
        "be missing",
        "12:00 <eve> new log",
        "*** end of history of #b",
    ]
    state.feed_line(notice("switch", "now talking in #b", room="#b"))  # from /join: quiet
    state.feed_line(notice("switch", "now talking in #b", room="#b"))  # from /switch: quiet
    assert texts(state, "#b")[-1] == "*** end of history of #b"


def test_a_reconnection_resumes_each_room_from_its_epoch_and_seq() -> None:
    state = started()
    state.feed_line(notice("switch", "", room="#lobby", epoch="e-lobby"))
    state.feed_line(said("#lobby", "bob", "one", 7))
    state.feed_line(line(Joined(room="#b", seq=1, time=NOON, sender="ann")))
    state.feed_line(notice("switch", "now talking in #b", room="#b", epoch="e-b"))
    state.feed_line(said("#b", "bob", "b-one", 2))
    state.requests.clear()
    reconnect(state)
    assert state.requests == [
        "/rooms",
        '{"cmd": "join", "room": "#lobby", "since": {"epoch": "e-lobby", "seq": 7}}',
        "/who",
        '{"cmd": "join", "room": "#b", "since": {"epoch": "e-b", "seq": 2}}',
        "/switch #b",
    ]
    # #lobby (joined on connecting): exactly the lines missed, shown as live lines.
    state.feed_line(notice("recovered", "", room="#lobby", count=2, epoch="e-lobby"))
    for seq, text in [(8, "two"), (9, "three")]:
        state.feed_line(said("#lobby", "bob", text, seq, history=True))
    assert texts(state, "#lobby")[-3:] == [
        "*** reconnected, 2 missed lines recovered",
        "12:00 <bob> two",
        "12:00 <bob> three",
    ]
    assert state.windows["#lobby"].last_seen == (9, "2026-11-27T12:00:00.000Z", "bob")
    # #b: the room started again; its latest history, after a line saying so.
    state.feed_line(
        notice("not-recovered", "", room="#b", count=1, epoch="e-b2", reason="restarted")
    )
    state.feed_line(said("#b", "eve", "new log", 1, history=True))
    state.feed_line(line(Joined(room="#b", seq=2, time=NOON, sender="ann")))  # quiet
    state.feed_line(notice("switch", "now talking in #b", room="#b", epoch="e-b2"))  # quiet
    assert texts(state, "#b")[-3:] == [
        "*** reconnected; could not recover missed lines, showing latest history",
        "12:00 <eve> new log",
        "*** end of history of #b",
    ]
    assert state.windows["#b"].epoch == "e-b2"
    assert state.windows["#b"].last_seen is not None
    assert state.windows["#b"].last_seen[0] == 2


def test_a_resumption_with_nothing_missed_says_so_at_once() -> None:
    state = started()
    state.feed_line(notice("format", "", format="json", nick="ann", room="#lobby", epoch="e"))
    state.feed_line(said("#lobby", "bob", "one", 7))
    reconnect(state)
    state.feed_line(notice("recovered", "", room="#lobby", count=0, epoch="e"))
    assert texts(state, "#lobby")[-1] == "*** reconnected, 0 missed lines recovered"


def test_a_ping_is_answered_and_not_shown() -> None:
    state = started()
    state.requests.clear()
    state.feed_line(notice("ping", "ping: send any line"))
    assert state.requests == [""]
    assert len(texts(state, "#lobby")) == 1


def test_a_server_that_never_switches_is_shown_as_text() -> None:
    state = ChatState()
    state.connected(again=False)
    state.feed_line("hello from some other server")
    assert state.current.added == 0
    state.pass_through()
    state.feed_line("\x1b[2Jsecond")
    assert texts(state, "*") == ["*** hello from some other server", "*** \ufffd[2Jsecond"]


# ---------------------------------------------------------------------------------------------
# The input line


def test_input_history_walks_back_and_keeps_the_line_being_typed() -> None:
    history = InputHistory()
    for text in ["one", "two", "two", "three"]:
        history.add(text)
    assert history.older("draft") == "three"
    assert history.older("three") == "two"
    assert history.older("two") == "one"
    assert history.older("one") is None
    assert history.newer() == "two"
    assert history.newer() == "three"
    assert history.newer() == "draft"
    assert history.newer() is None


def test_tab_completes_commands_rooms_and_nicks_and_cycles() -> None:
    completer = Completer()
    words = ["alice", "Alfred", "bob", "#lobby", "#lounge"]
    assert completer.complete("/jo", 3, words) == ("/join ", 6)
    completer.reset()
    assert completer.complete("al", 2, words) == ("alice: ", 7)
    assert completer.complete("alice: ", 7, words) == ("Alfred: ", 8)  # Tab again: the next
    assert completer.complete("Alfred: ", 8, words) == ("alice: ", 7)
    completer.reset()
    assert completer.complete("hi BO", 5, words) == ("hi bob ", 7)
    completer.reset()
    assert completer.complete("/join #lo", 9, words) == ("/join #lobby ", 13)
    completer.reset()
    assert completer.complete("zz", 2, words) is None
    # In the middle of a line, before a space already there.
    completer.reset()
    assert completer.complete("hi b there", 4, words) == ("hi bob there", 6)
