"""Line framing and UTF-8 decoding for the line protocols (sans-IO, like h11 and wsproto).

A small state machine over ``bytes``; nothing here imports trio. The line codec
(:mod:`triochat.protocols.text`) feeds what a client sends into a :class:`LineSplitter` and
decodes each line it returns. Because nothing here waits or touches a socket, it is trivial
to test and fuzz.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["DEFAULT_MAX_LINE", "DecodeError", "LineSplitter", "LineTooLong", "decode_line"]

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

    def flush(self) -> bytes | None:
        """At the end of the stream: the unfinished last line (without a trailing ``\r``), or
        ``None`` if there is none (a client's last line from a server that closed without its
        newline is still a line)."""
        rest, self._buffer = self._buffer, b""
        if self._discarding or not rest:
            self._discarding = False
            return None
        return rest.removesuffix(b"\r")


class DecodeError(ValueError):
    """A line was not valid UTF-8."""


def decode_line(line: bytes) -> str:
    """Decode one line as UTF-8, raising :class:`DecodeError` with a readable message."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"line is not valid UTF-8 (bad byte at offset {exc.start})") from None
