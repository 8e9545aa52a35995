"""IRC messages: the model, the parser, the serializer and the line splitter (sans-IO).

The grammar is the one of the Modern IRC Client Protocol (https://modern.ircdocs.horse, "Message
format") with the IRCv3 message-tags extension (https://ircv3.net/specs/extensions/message-tags):

    message  =  ["@" tags SPACE] [":" source SPACE] command *(SPACE middle) [SPACE ":" trailing]

- ``SPACE`` is one *or more* spaces (RFC 1459, and what the public irc-parser-tests expect).
- The trailing parameter is an ordinary parameter that may hold spaces; the model keeps one list
  of parameters and the serializer adds the ``:`` only where it is needed (a last parameter that is
  empty, holds a space or starts with ``:``).
- Tag values are escaped (``\\:`` ``;``, ``\\s`` space, ``\\\\`` backslash, ``\\r``, ``\\n``); an
  unknown escape stands for its character and a lone trailing backslash is dropped.
- Size limits: the tag section may take up to 8191 bytes (``@`` and its space included) and the
  rest of the line 512 bytes with its CR LF. A client's own tag data may not pass 4094 bytes.

Nothing here imports trio or any other part of triochat: this is pure data in, data out.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

__all__ = [
    "MAX_CLIENT_TAG_DATA",
    "MAX_INPUT_LINE",
    "MAX_LINE",
    "MAX_TAG_SECTION",
    "InputTooLong",
    "IrcLineSplitter",
    "LineTooLong",
    "Message",
    "MessageError",
    "NotUtf8",
    "UserHost",
    "client_only_tags",
    "escape_tag_value",
    "middle_param",
    "parse_client_line",
    "parse_message",
    "split_userhost",
    "unescape_tag_value",
]

#: Bytes of a message without its tags, CR LF included (Modern IRC, "Message format").
MAX_LINE: Final = 512
#: Bytes of the whole tag section, the leading ``@`` and the trailing space included (IRCv3).
MAX_TAG_SECTION: Final = 8191
#: Bytes of tag data (between ``@`` and the space) a client may send (IRCv3 message-tags).
MAX_CLIENT_TAG_DATA: Final = 4094
#: Longest line a server reads, without its line ending: every byte that either limit allows.
MAX_INPUT_LINE: Final = MAX_TAG_SECTION + MAX_LINE - 2

# A command is letters, or a three-digit numeric (Modern IRC, "Command").
_COMMAND: Final = re.compile(r"[A-Za-z]+|[0-9]{3}")
# Characters that no part of a message may hold: they would end or corrupt the line.
_FORBIDDEN: Final = re.compile(r"[\x00\r\n]")
# Characters a tag key cannot hold, or the tag section could not be split again.
_BAD_KEY: Final = re.compile(r"[\x00\r\n ;=]")
_ESCAPES: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE: Final = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})
_NO_TAGS: Final[Mapping[str, str]] = types.MappingProxyType({})


class MessageError(ValueError):
    """A line is not an IRC message, or the parts given cannot form one."""


class InputTooLong(MessageError):
    """A client's line passes the tag or the message size limit (numeric 417)."""


class NotUtf8(MessageError):
    """A client's line is not valid UTF-8."""


def _freeze_tags(tags: Mapping[str, str] | Iterable[tuple[str, str]]) -> Mapping[str, str]:
    frozen = dict(tags)
    return types.MappingProxyType(frozen) if frozen else _NO_TAGS


def _to_params(params: Iterable[str]) -> tuple[str, ...]:
    return tuple(params)


def _check_tags(_instance: object, _attribute: object, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        if not key or _BAD_KEY.search(key):
            raise MessageError(f"invalid tag key {key!r}")
        if "\x00" in value:
            raise MessageError(f"the value of tag {key!r} holds a NUL")


def _check_source(_instance: object, _attribute: object, source: str | None) -> None:
    if source is not None and (not source or " " in source or _FORBIDDEN.search(source)):
        raise MessageError(f"invalid source {source!r}")


def _check_command(_instance: object, _attribute: object, command: str) -> None:
    if not _COMMAND.fullmatch(command):
        raise MessageError(f"invalid command {command!r}")


def _check_params(_instance: object, _attribute: object, params: tuple[str, ...]) -> None:
    for index, param in enumerate(params):
        if _FORBIDDEN.search(param):
            raise MessageError(f"parameter {index} holds a NUL, CR or LF")
        if index < len(params) - 1 and (not param or " " in param or param[0] == ":"):
            raise MessageError(
                f"parameter {index} is empty, holds a space or starts with ':', "
                "which only the last parameter may"
            )


@attrs.frozen
class Message:
    """One IRC message: tags, an optional source, a command and its parameters.

    Every part is checked when the message is made, so a :class:`Message` always serializes to
    exactly one line and :func:`parse_message` gives it back unchanged. Messages compare by value;
    they are not hashable (the tags are a mapping).

    Attributes:
        command: the command as sent (``"privmsg"`` stays lower case; compare with
            :attr:`verb`), letters or a three-digit numeric.
        params: every parameter, the trailing one included, in order.
        source: the prefix without its ``:`` (``nick!user@host`` or a server name), or None.
        tags: tag keys to unescaped values; a tag without a value maps to ``""``.
    """

    command: str = attrs.field(validator=_check_command)
    params: tuple[str, ...] = attrs.field(default=(), converter=_to_params, validator=_check_params)
    source: str | None = attrs.field(default=None, kw_only=True, validator=_check_source)
    tags: Mapping[str, str] = attrs.field(
        default=_NO_TAGS, kw_only=True, converter=_freeze_tags, validator=_check_tags
    )

    @property
    def verb(self) -> str:
        """The command in upper case: commands are case-insensitive."""
        return self.command.upper()

    def serialize(self) -> str:
        """The message as one line of text, without its line ending."""
        parts: list[str] = []
        if self.tags:
            parts.append(
                "@" + ";".join(_format_tag(key, value) for key, value in self.tags.items())
            )
        if self.source is not None:
            parts.append(":" + self.source)
        parts.append(self.command)
        if self.params:
            *middle, last = self.params
            parts.extend(middle)
            parts.append(":" + last if not last or " " in last or last[0] == ":" else last)
        return " ".join(parts)

    __str__ = serialize

    def encode(self) -> bytes:
        """The message as it goes on the wire: UTF-8 and CR LF."""
        return (self.serialize() + "\r\n").encode("utf-8")


def _format_tag(key: str, value: str) -> str:
    # A tag with an empty value and one without a value mean the same (IRCv3): send the short one.
    return f"{key}={value.translate(_TAG_ESCAPE)}" if value else key


def escape_tag_value(value: str) -> str:
    """Escape *value* for the tag section (``;`` space ``\\`` CR LF)."""
    return value.translate(_TAG_ESCAPE)


def unescape_tag_value(raw: str) -> str:
    """Undo :func:`escape_tag_value`, one character at a time as the IRCv3 spec asks.

    An unknown escape ``\\x`` stands for ``x``; a backslash at the very end is dropped.
    """
    if "\\" not in raw:
        return raw
    out: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_ESCAPES.get(following, following))
    return "".join(out)


def _parse_tags(section: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in section.split(";"):
        # Empty items (a trailing ";") carry nothing; a later duplicate wins (IRCv3).
        key, _, raw = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(raw)
    return tags


def parse_message(line: str) -> Message:
    """Parse one line (without its line ending) into a :class:`Message`.

    Raise :exc:`MessageError` if it is not a message: empty, without a command, or holding a NUL,
    CR or LF. Runs of spaces separate the parts; spaces around the line are not parameters.
    """
    if _FORBIDDEN.search(line):
        raise MessageError("a message cannot hold a NUL, CR or LF")
    rest = line.lstrip(" ")
    tags: Mapping[str, str] = _NO_TAGS
    source = None
    if rest.startswith("@"):
        section, _, rest = rest[1:].partition(" ")
        tags = _parse_tags(section)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            raise MessageError("empty source")
        rest = rest.lstrip(" ")
    body, colon, trailing = rest.partition(" :")
    # Only spaces separate parameters: a tab is part of one (irc-parser-tests).
    words = [word for word in body.split(" ") if word]
    if not words:
        raise MessageError("no command")
    command, *params = words
    if colon:
        params.append(trailing)
    return Message(command, params, source=source, tags=tags)


def parse_client_line(
    line: bytes,
    *,
    max_tag_data: int = MAX_CLIENT_TAG_DATA,
    max_line: int = MAX_LINE,
) -> Message:
    """Check a client's raw line against the IRC size limits, decode it and parse it.

    *line* comes without its line ending. Raise :exc:`InputTooLong` if its tag data passes
    *max_tag_data* bytes or the rest passes *max_line* bytes with a CR LF counted (the server
    answers numeric 417), :exc:`NotUtf8` if it is not UTF-8, :exc:`MessageError` if it is not a
    message.
    """
    body = line.lstrip(b" ")
    if body.startswith(b"@"):
        end = body.find(b" ")
        if end < 0:
            end = len(body)
        if end - 1 > max_tag_data:
            raise InputTooLong(f"tag data longer than {max_tag_data} bytes")
        body = body[end:].lstrip(b" ")
    if len(body) + 2 > max_line:
        raise InputTooLong(f"message longer than {max_line} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"line is not valid UTF-8 (bad byte at offset {exc.start})") from None
    return parse_message(text)


def middle_param(text: str, *, placeholder: str = "*") -> str:
    """*text* if it can be a parameter before the last one, else *placeholder*.

    For echoing what a client sent into a reply (a refused nick, an unknown subcommand): such a
    parameter cannot be empty, hold a space or start with ``:``, and a client's input can.
    """
    if not text or " " in text or text[0] == ":" or _FORBIDDEN.search(text):
        return placeholder
    return text


def client_only_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The client-only tags (keys starting with ``+``) of *tags*.

    A server relays only these from a client: any other tag a client sends (``time``, ``msgid``,
    ``account``) would be a forgery, because only the server may set them.
    """
    return {key: value for key, value in tags.items() if key.startswith("+")}


@attrs.frozen
class UserHost:
    """The parts of a ``nick!user@host`` source; a part that is missing is ``""``."""

    nick: str
    user: str = ""
    host: str = ""


def split_userhost(source: str) -> UserHost:
    """Split ``nick!user@host`` (any part may be missing) into its parts."""
    rest, _, host = source.partition("@")
    nick, _, user = rest.partition("!")
    return UserHost(nick, user, host)


@attrs.frozen
class LineTooLong:
    """A line passed the limit; its bytes were thrown away, not buffered.

    It is reported as soon as the limit is passed, so the client hears about it (numeric 417) even
    if the line ending never comes; the rest of that line is skipped as it arrives.
    """

    limit: int


class IrcLineSplitter:
    """Split a byte stream into IRC lines ending in CR LF, a lone LF or a lone CR.

    Empty lines are dropped (IRC ignores them), which is also why a CR LF pair split across two
    :meth:`feed` calls needs no special care. Memory is bounded: at most *max_line* bytes of an
    unfinished line are kept, plus whatever the current call brought. A line that passes the
    limit is reported once as :class:`LineTooLong` and the rest of it is discarded as it arrives.

    The default limit, :data:`MAX_INPUT_LINE`, is the most a valid line can hold (a full tag
    section and a full message); :func:`parse_client_line` then applies the finer limits.
    """

    __slots__ = ("_buffer", "_discarding", "max_line")

    def __init__(self, max_line: int = MAX_INPUT_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self.max_line = max_line
        self._buffer = b""
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes held for a line whose ending has not arrived yet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes | LineTooLong]:
        """Take *data* and return every line it completes, in order."""
        out: list[bytes | LineTooLong] = []
        pieces = bytes(data).replace(b"\r", b"\n").split(b"\n")
        *complete, rest = pieces
        limit = self.max_line
        for index, line in enumerate(complete):
            if index == 0:
                if self._discarding:
                    # The end of the line that was too long: nothing of it is kept.
                    self._discarding = False
                    continue
                line = self._buffer + line
                self._buffer = b""
            if len(line) > limit:
                out.append(LineTooLong(limit))
            elif line:
                out.append(line)
        if complete:
            self._buffer = rest
        elif self._discarding:
            return out
        else:
            self._buffer += rest
        if len(self._buffer) > limit:
            out.append(LineTooLong(limit))
            self._buffer = b""
            self._discarding = True
        return out
