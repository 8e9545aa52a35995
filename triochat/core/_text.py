"""Sanitizing text, without any I/O: what no client may put on another client's terminal.

Pure functions over ``str``; nothing imports trio. Every chat line, topic and reason goes
through :func:`sanitize` before a room publishes it, whatever protocol it came in by; the
parsers use :func:`strip_leading_blanks` to find a command behind invisible characters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["IRC_FORMATTING", "is_blank", "sanitize", "strip_formatting", "strip_leading_blanks"]


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
#: IRC's formatting codes: bold, colour, reset, reverse, italics, underline. They change how an
#: IRC client draws the text that follows, and no terminal does anything with them, so
#: ``sanitize(text, keep_formatting=True)`` keeps them for IRC clients; the text and JSON formats
#: take them out (:func:`strip_formatting`).
IRC_FORMATTING: Final = frozenset("\x02\x03\x0f\x16\x1d\x1f")
# The codes with what they use up: a colour code takes up to two digits of foreground and, after a
# comma, two of background (a comma with no digit after it is text).
_FORMATTING: Final = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x02\x0f\x16\x1d\x1f]")
# Characters that can reorder or hide text on a terminal: bidirectional overrides and isolates.
_INVISIBLE_TRICKS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Format characters that show nothing and have no use in chat text, only in hiding it: the zero
# width space, the byte order mark (U+FEFF), the word joiner and invisible operators, the
# deprecated format controls, the Mongolian vowel separator and the interlinear annotation marks.
# (Joiners, variation selectors and emoji tags stay: emoji sequences and scripts need them.)
_REMOVED: Final = _INVISIBLE_TRICKS | frozenset(
    "\u200b\ufeff\u2060\u2061\u2062\u2063\u2064\u2065\u206a\u206b\u206c\u206d\u206e\u206f"
    "\u180e\ufff9\ufffa\ufffb"
)
# Tag characters (U+E0000 to U+E0FFF) draw nothing; their one use is to spell a subdivision flag
# after U+1F3F4 (the flag of England, of Scotland...). Elsewhere they smuggle invisible text.
_TAGS: Final = re.compile(r"(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)|[\U000e0000-\U000e0fff]")
# What a line may start with and still be empty in effect: white space (str.isspace, which
# includes the no-break and ideographic spaces and U+2028/U+2029) and Unicode's
# Default_Ignorable_Code_Point characters (DerivedCoreProperties.txt), which render as nothing.
_IGNORABLE: Final = (
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_LEADING_BLANKS: Final = re.compile(rf"[\s{_IGNORABLE}]+")
_ANY_IGNORABLE: Final = re.compile(rf"[{_IGNORABLE}]")


def sanitize(text: str, *, keep_formatting: bool = False) -> str:
    """Remove terminal escape sequences, control characters, bidi overrides and invisible
    format characters from *text*.

    With *keep_formatting*, IRC's formatting codes (:data:`IRC_FORMATTING`) stay: the core keeps
    them in what it publishes, for IRC clients, and every other renderer strips them.

    Tabs and the Unicode line and paragraph separators become single spaces. The result is safe
    to show on another user's terminal and cannot start a new line, so one client cannot forge a
    line that looks like the server's. Lone surrogates are removed; input that may hold them
    (JSON strings) should be refused before it gets here.
    """
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text).replace("\t", " ")
    kept = []
    for ch in text:
        if ch in _REMOVED:
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") and not (keep_formatting and ch in IRC_FORMATTING):
            continue
        kept.append(" " if category in ("Zl", "Zp") else ch)
    text = "".join(kept)
    if _TAGS.search(text):
        text = _TAGS.sub(lambda match: match[1] or "", text)
    return text


def strip_formatting(text: str) -> str:
    """*text* without IRC's formatting codes (and the colour numbers that follow ``\\x03``).

    What a client that does not speak IRC sees of bold or coloured text: the text alone.
    """
    if text.isprintable():
        return text
    return _FORMATTING.sub("", text)


def strip_leading_blanks(text: str) -> str:
    """*text* without the white space and invisible characters it starts with.

    Used before deciding whether a line is a command: a byte order mark, a zero-width or a
    no-break space in front of ``/pass SECRET`` must not turn it into a chat line.
    """
    match = _LEADING_BLANKS.match(text)
    return text[match.end() :] if match else text


def has_ignorable(text: str) -> bool:
    """Whether *text* holds a default-ignorable code point (a character that renders as nothing).

    Nick and room names refuse them: see ``triochat/core/_nicks.py``.
    """
    return _ANY_IGNORABLE.search(text) is not None


def is_blank(text: str) -> bool:
    """Whether *text* holds nothing but white space and invisible characters."""
    return not strip_leading_blanks(text)
