"""What the baseline servers share: the parts of the wire protocol the benchmark exercises.

Same lines as triochat (docs/protocol.md): a welcome notice, ``[HH:MM:SS] *** NICK joined #lobby``
to everyone, ``[HH:MM:SS] <NICK> text`` for chat, ``/nick``, ``/quit``, leave lines, and a
``SendQ exceeded`` cut-off for clients whose output backlog passes 1 MiB (where the server can
see its backlog). Each line is encoded once and the same bytes go to every client.
"""

from __future__ import annotations

import re
import time
from typing import Final

MAX_LINE: Final = 4096
#: A client whose unsent output passes this is cut off (triochat's default byte bound).
MAX_BACKLOG: Final = 1024 * 1024
SLOW_CONSUMER: Final = "SendQ exceeded: too slow reading messages"
_NICK: Final = re.compile(r"[^\W\d][\w\-\[\]{}|^`]{0,23}")

_clock_second = -1
_clock_text = ""


def clock() -> str:
    """``[HH:MM:SS]`` in UTC, formatted once per second."""
    global _clock_second, _clock_text
    now = int(time.time())
    if now != _clock_second:
        _clock_second = now
        _clock_text = time.strftime("[%H:%M:%S]", time.gmtime(now))
    return _clock_text


def clean(text: str) -> str:
    """Drop control characters, as triochat does (the common case costs one check)."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch.isprintable() or ch == " ")


def valid_nick(name: str) -> bool:
    return _NICK.fullmatch(name) is not None


def welcome(nick: str, others: int) -> bytes:
    return (
        f"*** welcome to triochat, {nick}! You are in #lobby with {others} "
        f"other{'' if others == 1 else 's'}.\n"
    ).encode()


def chat_line(nick: str, text: str) -> bytes:
    return f"{clock()} <{nick}> {text}\n".encode()


def action_line(nick: str, text: str) -> bytes:
    return f"{clock()} * {nick} {text}\n".encode()


def joined_line(nick: str) -> bytes:
    return f"{clock()} *** {nick} joined #lobby\n".encode()


def left_line(nick: str, reason: str) -> bytes:
    return f"{clock()} *** {nick} left #lobby ({reason})\n".encode()


def nick_line(old: str, new: str) -> bytes:
    return f"{clock()} *** {old} is now known as {new}\n".encode()
