"""The widgets of the full-screen client, on urwid: scrollback, nick list, status line, input.

::

    12:00 <alice> hello                             │ 3 in #lobby
    12:01 * bob waves                               │ alice
                                                    │ bob
                                                    │ carol
     connected  1:#lobby  2:#bots(3)  3:#dev(1!)   you are carol
    #lobby> half-typed text_

:class:`ChatScreen` draws a :class:`~triochat._client_state.ChatState` (call
:meth:`ChatScreen.refresh` after changing it); keys go to a :class:`Keys` handler. Nothing here
touches the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

import urwid

from ._client_editing import Completer, InputHistory
from ._client_render import NICK_PALETTE, Rendered, nick_index
from ._client_state import SCROLLBACK, ChatState, Window

__all__ = ["ChatScreen", "InputLine", "Keys", "palette"]

#: Columns of the nick list, and the narrowest screen that still shows it.
NICKS_WIDTH: Final = 16
NICKS_FROM: Final = 60


def palette() -> list[tuple[str, str, str, str, str, str]]:
    """Display attributes: (name, 16-colour foreground, background, monochrome, 256-colour fg)."""
    entries = [
        ("time", "dark gray", "", "", "g50", ""),
        ("history", "dark gray", "", "", "g50", ""),
        ("error", "light red,bold", "", "bold", "#f44,bold", ""),
        ("mention", "yellow,bold", "", "bold", "#fd0,bold", ""),
        ("notice", "", "", "", "", ""),
        ("status", "black", "light gray", "standout", "g11", "g78"),
        ("status current", "white,bold", "dark blue", "standout,bold", "#fff,bold", "#008"),
        ("status unread", "black,bold", "light gray", "standout,bold", "g0,bold", "g78"),
        ("status mention", "dark red,bold", "light gray", "standout,bold", "#a00,bold", "g78"),
        ("nicks title", "bold", "", "bold", "bold", ""),
        ("prompt", "bold", "", "bold", "bold", ""),
    ]
    entries += [
        (f"nick{n}", basic, "", "", f"h{index}", "")
        for n, (index, basic) in enumerate(NICK_PALETTE)
    ]
    return entries


def markup(line: Rendered) -> list[tuple[str, str]]:
    """*line* as urwid text markup: nicks in their colours, the line in its kind's style."""
    if line.kind in ("history", "error"):
        return [(line.kind, line.text)]
    base = line.kind if line.kind in ("mention", "notice") else ""
    return [(style or base, text) for style, text in line.spans]


class Keys(Protocol):
    """What the input line asks of the application."""

    def submit(self, text: str) -> None: ...
    def quit(self) -> None: ...
    def switch(self, index: int) -> None: ...
    def scroll(self, key: str) -> None: ...
    def completions(self) -> list[str]: ...


class InputLine(urwid.Edit):
    """The input line: readline keys, history on Up and Down, Tab completion, Enter to send."""

    def __init__(self, keys: Keys) -> None:
        super().__init__(caption=("prompt", "> "), wrap="any")
        self.keys = keys
        self.history = InputHistory()
        self.completer = Completer()
        commands = urwid.command_map.copy()
        commands.bind_readline()
        self._command_map = commands

    def keypress(self, size: tuple[int], key: str) -> str | None:  # type: ignore[override]
        if key != "tab":
            self.completer.reset()
        if key == "enter":
            text = self.edit_text
            if text.strip():
                self.history.add(text)
                self.set_edit_text("")
                self.keys.submit(text)
            return None
        if key == "ctrl d" and not self.edit_text:
            self.keys.quit()
            return None
        if key in ("up", "down"):
            line = self.history.older(self.edit_text) if key == "up" else self.history.newer()
            if line is not None:
                self.set_edit_text(line)
                self.set_edit_pos(len(line))
            return None
        if key == "tab":
            completed = self.completer.complete(
                self.edit_text, self.edit_pos, self.keys.completions()
            )
            if completed is not None:
                self.set_edit_text(completed[0])
                self.set_edit_pos(completed[1])
            return None
        if key.startswith("meta ") and key[5:].isdigit() and key[5:] != "0":
            self.keys.switch(int(key[5:]) - 1)
            return None
        if key in ("page up", "page down"):
            self.keys.scroll(key)
            return None
        handled: str | None = super().keypress(size, key)
        return handled


class _Scrollback(urwid.ListBox[int]):
    """The conversation of one window at a time; each window keeps its own lines."""

    def __init__(self) -> None:
        self.walker: urwid.SimpleFocusListWalker[urwid.Text] = urwid.SimpleFocusListWalker([])
        super().__init__(self.walker)
        self.walkers: dict[str, tuple[urwid.SimpleFocusListWalker[urwid.Text], Window]] = {}

    def show(self, walker: urwid.SimpleFocusListWalker[urwid.Text]) -> None:
        if walker is not self.walker:
            self.walker = walker
            self.body = walker

    def following(self) -> bool:
        walker = self.walker
        return len(walker) == 0 or walker.focus == len(walker) - 1


class ChatScreen:
    """The whole screen, drawing a :class:`ChatState`."""

    def __init__(self, state: ChatState, keys: Keys) -> None:
        self.state = state
        self.scrollback = _Scrollback()
        self.nicks: urwid.SimpleListWalker[urwid.Text] = urwid.SimpleListWalker([])
        self.nick_list = urwid.ListBox(self.nicks)
        self.status = urwid.Text("", wrap="clip")
        self.input = InputLine(keys)
        self.body = urwid.Columns(
            [self.scrollback, (NICKS_WIDTH, urwid.Padding(self.nick_list, left=1))]
        )
        footer = urwid.Pile([urwid.AttrMap(self.status, "status"), self.input], focus_item=1)
        self.top = _Frame(self.body, footer=footer, focus_part="footer")
        #: Extra text for the status line (such as lines waiting to be sent), set by the app.
        self.waiting: Callable[[], str] = lambda: ""

    def refresh(self) -> None:
        """Bring the screen up to date with the state."""
        state = self.state
        shown = state.current
        self._sync(shown)
        for key in list(self.scrollback.walkers):
            if key not in state.windows:
                del self.scrollback.walkers[key]
        self.scrollback.show(self.scrollback.walkers[state.view][0])
        title = f"{len(shown.nicks)} in {shown.name}" if shown.name != "*" else ""
        people = sorted(shown.nicks.values(), key=str.casefold)
        self.nicks[:] = [urwid.Text(("nicks title", title), wrap="clip")] + [
            urwid.Text((f"nick{nick_index(nick)}", nick), wrap="clip") for nick in people
        ]
        prompt = f"{shown.name}> " if shown.name != "*" else "> "
        self.input.set_caption(("prompt", prompt))
        self.status.set_text(self._status_markup())

    def scroll(self, key: str, size: tuple[int, int]) -> None:
        """Page the scrollback up or down (*size*: the screen's columns and rows)."""
        columns, rows = size
        body_rows = max(1, rows - 1 - self.input.rows((columns,)))
        body_columns = columns - (NICKS_WIDTH if columns >= NICKS_FROM else 0)
        self.scrollback.keypress((body_columns, body_rows), key)
        if key == "page down" and not self.scrollback.following():
            return
        self.status.set_text(self._status_markup())

    def _sync(self, shown: Window) -> None:
        """Add each window's new lines to its walker (all windows: unread ones too)."""
        for key, window in self.state.windows.items():
            walker, seen = self.scrollback.walkers.get(key, (None, None))
            if walker is None or seen is not window:
                walker = urwid.SimpleFocusListWalker([])
                self.scrollback.walkers[key] = (walker, window)
                drawn = 0
            else:
                drawn = getattr(walker, "drawn", 0)
            new = min(window.added - drawn, len(window.lines))
            if new <= 0:
                continue
            following = len(walker) == 0 or walker.focus == len(walker) - 1
            walker.extend(urwid.Text(markup(line)) for line in list(window.lines)[-new:])
            if len(walker) > SCROLLBACK:
                del walker[: len(walker) - SCROLLBACK]
            walker.drawn = window.added  # type: ignore[attr-defined]
            if following:
                walker.set_focus(len(walker) - 1)

    def _status_markup(self) -> list[tuple[str, str] | str]:
        state = self.state
        parts: list[tuple[str, str] | str] = [f" {state.connection} "]
        rooms = [window for window in state.windows.values() if window.name != "*"]
        for number, window in enumerate(rooms, 1):
            label = f"{number}:{window.name}"
            if window is state.current:
                parts += [" ", ("status current", label)]
            elif window.unread or window.mentioned:
                style = "status mention" if window.mentioned else "status unread"
                parts += [
                    " ",
                    (style, f"{label}({window.unread}{'!' if window.mentioned else ''})"),
                ]
            else:
                parts += [" ", label]
        if state.nick:
            parts.append(f"  you are {state.nick}")
        if waiting := self.waiting():
            parts.append(f"  {waiting}")
        if not self.scrollback.following():
            parts.append("  -- more below: PgDn --")
        return parts


class _Frame(urwid.Frame[urwid.Columns, None, urwid.Pile]):
    """The frame, showing the nick list only when the screen is wide enough for it."""

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:  # type: ignore[override]
        body = self.body
        assert isinstance(body, urwid.Columns)
        wide = size[0] >= NICKS_FROM
        if wide != (len(body.contents) == 2):
            scrollback = body.contents[0]
            if wide:
                nick_list = self._nicks  # type: ignore[has-type]
                body.contents = [scrollback, nick_list]
            else:
                self._nicks = body.contents[1]
                body.contents = [scrollback]
            body.focus_position = 0
        canvas: urwid.Canvas = super().render(size, focus)
        return canvas
