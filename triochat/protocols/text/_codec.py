"""The line codec: newline-framed UTF-8, rendered as text for people or as JSON lines."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final

from ...core._events import DEFAULT_ROOM, Event, Notice
from ...core._text import sanitize
from ...session._commands import Format
from ...session._reasons import CloseReason
from .._codec import Input, InputError, InputProblem, Refusal
from .._lines import LineSplitter, LineTooLong
from ..jsonl._render import render_json
from ._parse import parse_command
from ._phrases import refusal_text
from ._render import LABELLED_TEXT, TAGGED, render_text, render_text_labelled

if TYPE_CHECKING:
    from ...core._member import Member

__all__ = ["RENDERERS", "LineCodec", "goodbye_notice"]

#: Renderer of each wire format of the line codec, by name.
RENDERERS: Final[dict[str, Callable[[Event], bytes]]] = {
    "text": render_text,
    "json": render_json,
}


class LineCodec:
    """One client's line protocol: frames are lines of at most *max_line* bytes; output is in
    the connection's current format, ``"text"`` or ``"json"``, which ``/format`` switches
    exactly at the notice that confirms it (what was queued before keeps the old format)."""

    name: ClassVar[str] = "text"
    __slots__ = ("_json_input", "_max_line", "_member", "_splitter", "_switches", "format")

    def __init__(self, max_line: int) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        # The splitter is made at the first bytes received: a connection that stays idle
        # (most of ten thousand) does without one.
        self._max_line = max_line
        self._splitter: LineSplitter | None = None
        #: The output format now: ``"text"`` until the client asks for ``"json"``.
        self.format = "text"
        # JSON command objects are read from the line after the client asked for JSON.
        self._json_input = False
        # Format switches asked for but not yet met in the output (encode only looks when > 0).
        self._switches = 0
        # The member whose events this codec writes (see bind_member); None: unknown.
        self._member: Member | None = None

    def bind_member(self, member: Member) -> None:
        """Write for *member*: text lines of the default room name it while *member* is in
        more than one room (so that every line says where it was said)."""
        self._member = member

    def _labelled(self) -> bool:
        member = self._member
        return self.format == "text" and member is not None and len(member.rooms) > 1

    @property
    def pending(self) -> int:
        splitter = self._splitter
        return 0 if splitter is None else splitter.pending

    def receive(self, data: bytes | bytearray) -> list[object]:
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = LineSplitter(self._max_line)
        return splitter.feed(data)  # type: ignore[return-value]  # frames are opaque

    def decode(self, frame: object) -> Input:
        if isinstance(frame, LineTooLong):
            return InputError(InputProblem.LINE_TOO_LONG, limit=frame.limit)
        assert isinstance(frame, bytes)
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InputError(InputProblem.NOT_UTF8, offset=exc.start)
        command = parse_command(sanitize(text), json_commands=self._json_input)
        if isinstance(command, Format):
            self._json_input = command.name == "json"
            self._switches += 1
        return command

    def encode(self, events: list[Event]) -> bytes:
        # Once per member per write: the common case (one event, one room) comes first.
        if self._switches:
            return self._encode_switching(events)
        wire_format = self.format
        member = self._member
        if wire_format != "text" or member is None or len(member.rooms) <= 1:  # not _labelled()
            if len(events) == 1:
                return events[0].encode(wire_format, RENDERERS[wire_format])
            return _encode_batch(events, wire_format)
        if len(events) == 1:
            return _encode_labelled(events[0])
        return _encode_batch(events, LABELLED_TEXT)

    def _encode_switching(self, events: list[Event]) -> bytes:
        parts = []
        for event in events:
            if isinstance(event, Notice) and event.kind == "format":
                self.format = event.data["format"]
                self._switches -= 1
            if self._labelled():
                parts.append(_encode_labelled(event))
            else:
                parts.append(event.encode(self.format, RENDERERS[self.format]))
        return b"".join(parts)

    def goodbye(self, reason: CloseReason, detail: str = "") -> bytes:
        return RENDERERS[self.format](goodbye_notice(reason, detail))

    @staticmethod
    def refusal(refusal: Refusal, *, limit: int = 0) -> bytes:
        """The line that turns a client away before it has a session (always text: a client
        that has said nothing yet has not asked for JSON)."""
        return f"*** {refusal_text(refusal, limit=limit)}\n".encode()


def goodbye_notice(reason: CloseReason, detail: str = "") -> Notice:
    """The last notice before the server closes a connection, saying why (the phrasebook words
    it; the JSON format and the web chat carry it as it is)."""
    return Notice(
        error=reason.is_error,
        kind="goodbye",
        data={"reason": reason.describe(detail)},
        params={"error": reason.is_error},
    )


class _LastBatch:
    """The last batch of events encoded, its format and its bytes.

    Under load the members of a room hold the same batch (every event of the room since their
    last write), so the flusher and the writers meet the same list again and again: comparing
    it with the last one, by identity and in C, is far cheaper than looking up each event's
    encoding and joining them again for every member.
    """

    events: ClassVar[list[Event]] = []
    wire_format: ClassVar[str] = ""
    data: ClassVar[bytes] = b""


def _encode_labelled(event: Event) -> bytes:
    """*event* as a member in several rooms reads it. Only lines of the default room that the
    plain text format leaves unlabelled differ: every other event shares the plain rendering,
    so it is still rendered once for everyone."""
    if event.room == DEFAULT_ROOM and isinstance(event, TAGGED):
        return event.encode(LABELLED_TEXT, render_text_labelled)
    return event.encode("text", RENDERERS["text"])


def _encode_batch(
    events: list[Event], wire_format: str, render: Callable[[Event], bytes] | None = None
) -> bytes:
    """*events* in *wire_format*, each rendered once (by *render*, by default the format's
    renderer) and the batch joined once for every member holding the same batch."""
    if not events:
        return b""
    last = _LastBatch.events
    # The same events, by identity: events that merely compare equal can render differently
    # (a notice's data takes no part in equality), and one member must never get another's.
    if (
        wire_format == _LastBatch.wire_format
        and len(events) == len(last)
        and all(map(operator.is_, events, last))
    ):
        return _LastBatch.data
    if wire_format == LABELLED_TEXT:
        data = b"".join([_encode_labelled(event) for event in events])
    else:
        if render is None:
            render = RENDERERS[wire_format]
        data = b"".join([event.encode(wire_format, render) for event in events])
    _LastBatch.events, _LastBatch.wire_format, _LastBatch.data = events, wire_format, data
    return data
