"""The input line's memory and its Tab completion (sans-IO: plain strings in, plain strings out).

:class:`InputHistory` is what Up and Down walk through: the lines sent, newest last, with the
line being typed kept aside while you look. :class:`Completer` completes the word before the
cursor: a command at the start of the line (``/jo`` → ``/join``), a room after ``#``, otherwise
a nick (``al`` → ``alice: `` at the start of the line, ``alice`` elsewhere); Tab again cycles
through the other candidates.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Final

import attrs

__all__ = ["COMMANDS", "Completer", "InputHistory"]

#: The commands Tab completes (the server's, and the client's own /switch).
COMMANDS: Final = (
    "/admin",
    "/ban",
    "/bans",
    "/deop",
    "/format",
    "/help",
    "/history",
    "/join",
    "/kick",
    "/me",
    "/msg",
    "/nick",
    "/op",
    "/part",
    "/pass",
    "/quit",
    "/register",
    "/rooms",
    "/switch",
    "/topic",
    "/unban",
    "/unregister",
    "/who",
)
#: Lines Up can bring back.
_REMEMBERED: Final = 500


@attrs.define
class InputHistory:
    """The lines sent, for Up and Down."""

    _lines: collections.deque[str] = attrs.field(
        factory=lambda: collections.deque(maxlen=_REMEMBERED)
    )
    #: Where Up and Down are: ``len(lines)`` means the line being typed.
    _position: int = 0
    _typing: str = ""

    def add(self, line: str) -> None:
        """Remember *line* (sent), unless it repeats the last one; back to a fresh line."""
        if line and (not self._lines or self._lines[-1] != line):
            self._lines.append(line)
        self._position = len(self._lines)
        self._typing = ""

    def older(self, current: str) -> str | None:
        """The line before (Up), given the *current* text; ``None`` at the oldest."""
        if self._position == 0:
            return None
        if self._position == len(self._lines):
            self._typing = current
        self._position -= 1
        return self._lines[self._position]

    def newer(self) -> str | None:
        """The line after (Down); the line that was being typed after the newest; ``None`` if
        already there."""
        if self._position >= len(self._lines):
            return None
        self._position += 1
        return self._typing if self._position == len(self._lines) else self._lines[self._position]


@attrs.define
class Completer:
    """Tab completion of commands, rooms and nicks (see the module's documentation)."""

    #: The last completion: the text and cursor it left, the candidates, which one, and where
    #: the completed word starts. Tab with that same text and cursor takes the next candidate.
    _last: tuple[str, int, list[str], int, int] | None = None

    def complete(self, text: str, cursor: int, words: Iterable[str]) -> tuple[str, int] | None:
        """Complete the word before *cursor* in *text*, from the nicks and rooms in *words*.

        Returns the new text and cursor, or ``None`` when nothing matches.
        """
        if self._last is not None and self._last[:2] == (text, cursor):
            _, _, candidates, index, start = self._last
            index = (index + 1) % len(candidates)
        else:
            start = text.rfind(" ", 0, cursor) + 1
            word = text[start:cursor]
            candidates = self._candidates(word, start == 0, words)
            if not candidates:
                self._last = None
                return None
            index = 0
        choice = candidates[index]
        rest = text[cursor:]
        # Suffixes: "alice: " to address someone at the start of a line, a space otherwise
        # (unless one follows already).
        suffix = ": " if start == 0 and choice[:1] not in "/#" else " "
        if rest.startswith(" "):
            suffix = suffix.rstrip()
        new = text[:start] + choice + suffix + rest
        new_cursor = start + len(choice) + len(suffix)
        self._last = (new, new_cursor, candidates, index, start)
        return new, new_cursor

    def reset(self) -> None:
        """Another key than Tab was pressed: the next Tab starts afresh."""
        self._last = None

    @staticmethod
    def _candidates(word: str, first: bool, words: Iterable[str]) -> list[str]:
        if first and word.startswith("/"):
            return [command for command in COMMANDS if command.startswith(word.lower())]
        folded = word.casefold()
        found: dict[str, str] = {}
        for candidate in words:
            if candidate.startswith("#") != word.startswith("#"):
                continue
            if candidate.casefold().startswith(folded):
                found.setdefault(candidate.casefold(), candidate)
        return list(found.values())
