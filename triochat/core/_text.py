"""Line framing, decoding and sanitizing, without any I/O (sans-IO, like h11 and wsproto).

Everything here is a pure function or a small state machine over ``bytes`` and ``str``; nothing
imports trio. The server feeds received bytes into a :class:`LineSplitter`, decodes and sanitizes
each line, then parses it into a command (:mod:`._commands`) and renders events back into bytes
(:mod:`._render`). Because nothing here waits or touches a socket, it is trivial to test and fuzz.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import attrs

__all__ = [
    "DEFAULT_MAX_LINE",
    "DecodeError",
    "LineSplitter",
    "LineTooLong",
    "decode_line",
    "sanitize",
]

#: Longest line, in bytes and without its newline, that a client may send by default.
DEFAULT_MAX_LINE: Final = 4096


@attrs.frozen
class LineTooLong:
    """A line was longer than the limit; its bytes were discarded, not buffered.

    It is reported as soon as the limit is passed, so the client hears about it even if the
    newline never comes; the rest of that line, up to and including its newline, is skipped.
    """

    limit: int


class LineSplitter:
    """Split a byte stream into lines ending in ``\\n`` (a ``\\r`` before it is dropped).

    Memory is bounded: at most *max_line* bytes of an unfinished line are kept, plus whatever the
    current :meth:`feed` call brought. A line that passes the limit is reported once as
    :class:`LineTooLong` and the rest of it is thrown away as it arrives.
    """

    __slots__ = ("_buffer", "_discarding", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self.max_line = max_line
        self._buffer = b""
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes held for a line whose newline has not arrived yet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> list[bytes | LineTooLong]:
        """Take *data* and return every line it completes, in order."""
        out: list[bytes | LineTooLong] = []
        if not isinstance(data, bytes):
            data = bytes(data)
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return out
            self._discarding = False
            data = data[newline + 1 :]
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        limit = self.max_line
        *complete, rest = data.split(b"\n")
        for line in complete:
            if line.endswith(b"\r"):
                line = line[:-1]
            out.append(line if len(line) <= limit else LineTooLong(limit))
        # A trailing "\r" may belong to a "\r\n" still on its way, so it may take one byte more.
        if len(rest) > limit + (1 if rest.endswith(b"\r") else 0):
            out.append(LineTooLong(limit))
            self._discarding = True
        else:
            self._buffer = rest
        return out


class DecodeError(ValueError):
    """A line was not valid UTF-8."""


def decode_line(line: bytes) -> str:
    """Decode one line as UTF-8, raising :class:`DecodeError` with a readable message."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"line is not valid UTF-8 (bad byte at offset {exc.start})") from None


# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings up to BEL or ST, and
# two-character escapes. Anything left over that is a control character is removed afterwards.
_ESCAPES: Final = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?                    # CSI
    | \x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?  # OSC, DCS, SOS, PM, APC
    | \x9b[0-?]*[ -/]*[@-~]?                      # 8-bit CSI
    | \x1b[ -~]?                                  # any other escape
    """,
    re.VERBOSE,
)
# Characters that can reorder or hide text on a terminal: bidirectional overrides and isolates.
_INVISIBLE_TRICKS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def sanitize(text: str) -> str:
    """Remove terminal escape sequences, control characters and bidi overrides from *text*.

    Tabs become single spaces. The result is safe to show on another user's terminal and cannot
    start a new line, so one client cannot forge a line that looks like the server's.
    """
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text).replace("\t", " ")
    return "".join(
        ch
        for ch in text
        if ch not in _INVISIBLE_TRICKS and unicodedata.category(ch) not in ("Cc", "Cs")
    )
