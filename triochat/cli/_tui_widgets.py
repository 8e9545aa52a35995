"""The widgets of the full-screen client, on urwid: scrollback, nick list, status line, input.

::

    12:00 <alice> hello                             │ 3 in #lobby
    12:01 * bob waves                               │ alice
                                                    │ bob
                                                    │ carol
     connected  1:#lobby  2:#bots(3)  3:#dev(1!)   you are carol
    #lobby> half-typed text_

:class:`ChatScreen` draws a :class:`~triochat.cli._state.ChatState` (call
:meth:`ChatScreen.refresh` after changing it); keys go to a :class:`Keys` handler. Nothing here
touches the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

import attrs
import urwid

from ..client._render import NICK_PALETTE, Rendered, nick_index
from ._editing import Completer, InputHistory
from ._state import SCROLLBACK, ChatState, Window

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


@attrs.define(eq=False)
class _Drawn:
    """One window's lines as widgets, and how many of the window's lines they have taken."""

    window: Window
    walker: urwid.SimpleFocusListWalker[urwid.Text] = attrs.field(
        factory=lambda: urwid.SimpleFocusListWalker([])
    )
    taken: int = 0

    def following(self) -> bool:
        """Whether the view is at the last line (and so moves on with new ones)."""
        return len(self.walker) == 0 or self.walker.focus == len(self.walker) - 1

    def take(self) -> None:
        """Add the window's new lines, and follow them unless scrolled back."""
        window = self.window
        new = min(window.added - self.taken, len(window.lines))
        self.taken = window.added
        if new <= 0:
            return
        following = self.following()
        walker = self.walker
        walker.extend(urwid.Text(markup(line)) for line in list(window.lines)[-new:])
        if len(walker) > SCROLLBACK:
            del walker[: len(walker) - SCROLLBACK]
        if following:
            walker.set_focus(len(walker) - 1)


class ChatScreen:
    """The whole screen, drawing a :class:`ChatState`."""

    def __init__(self, state: ChatState, keys: Keys) -> None:
        self.state = state
        self.drawn: dict[str, _Drawn] = {}
        self.shown = _Drawn(Window("*"))
        self.scrollback = urwid.ListBox(self.shown.walker)
        self.nicks: urwid.SimpleListWalker[urwid.Text] = urwid.SimpleListWalker([])
        self._people: tuple[str, ...] = ()
        self.status = urwid.Text("", wrap="clip")
        self.input = InputLine(keys)
        nick_list = (NICKS_WIDTH, urwid.Padding(urwid.ListBox(self.nicks), left=1))
        self.body = urwid.Columns([self.scrollback, nick_list])
        footer = urwid.Pile([urwid.AttrMap(self.status, "status"), self.input], focus_item=1)
        self.top = _Frame(self.body, footer=footer, focus_part="footer")
        self.top.nick_list = self.body.contents[1]
        #: Extra text for the status line (such as lines waiting to be sent), set by the app.
        self.waiting: Callable[[], str] = lambda: ""

    def refresh(self) -> None:
        """Bring the screen up to date with the state."""
        state = self.state
        shown = state.current
        for key, window in state.windows.items():
            drawn = self.drawn.get(key)
            if drawn is None or drawn.window is not window:
                drawn = self.drawn[key] = _Drawn(window)
            drawn.take()  # every window: unread lines are there when you switch to it
        for key in [key for key in self.drawn if key not in state.windows]:
            del self.drawn[key]
        if self.drawn[state.view] is not self.shown:
            self.shown = self.drawn[state.view]
            self.scrollback.body = self.shown.walker
        people = (shown.name, *sorted(shown.nicks.values(), key=str.casefold))
        if people != self._people:  # rebuilt only when it changed: a room can be big
            self._people = people
            title = f"{len(people) - 1} in {shown.name}" if shown.name != "*" else ""
            self.nicks[:] = [urwid.Text(("nicks title", title), wrap="clip")] + [
                urwid.Text((f"nick{nick_index(nick)}", nick), wrap="clip") for nick in people[1:]
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
        self.status.set_text(self._status_markup())

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
        if not self.shown.following():
            parts.append("  -- more below: PgDn --")
        return parts


class _Frame(urwid.Frame[urwid.Columns, None, urwid.Pile]):
    """The frame, showing the nick list only when the screen is wide enough for it."""

    #: The nick list's entry in the body's columns, kept while it is hidden.
    nick_list: Any = None

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:  # type: ignore[override]
        body = self.body
        wide = size[0] >= NICKS_FROM
        if self.nick_list is not None and wide != (len(body.contents) == 2):
            body.contents = [body.contents[0], self.nick_list] if wide else [body.contents[0]]
            body.focus_position = 0
        canvas: urwid.Canvas = super().render(size, focus)
        return canvas
