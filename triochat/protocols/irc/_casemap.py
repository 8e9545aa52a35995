"""Casemapping: which nicks and channel names IRC considers the same, and what the server says.

A server announces how it compares names in ``RPL_ISUPPORT`` (``CASEMAPPING=...``, Modern IRC,
"CASEMAPPING Parameter"), and clients key their state (queries, nick lists) with it. The value has
to tell the truth, so the IRC front end never decides it: the comparison the core really uses is
*injected* as a :class:`CaseMapping`, a fold function together with the token that names it.

The three mappings the Modern IRC document defines are here for clients, tests and servers that
really use them; triochat's own nicks are compared by a different rule (see docs/irc.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import attrs

__all__ = [
    "ASCII",
    "RFC1459",
    "RFC1459_STRICT",
    "CaseMapping",
    "nick_protocol_problem",
]

# An ISUPPORT value: printable ASCII, no space (Modern IRC, "RPL_ISUPPORT" ABNF: letpun).
_TOKEN: Final = re.compile(r"[!-~]+")


def _check_token(_instance: object, _attribute: object, token: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"a CASEMAPPING value is printable ASCII without spaces, not {token!r}")


@attrs.frozen
class CaseMapping:
    """How names are compared, and the ``CASEMAPPING`` token that says so.

    Attributes:
        token: the value advertised as ``CASEMAPPING=<token>``.
        fold: maps a name to its comparison key; two names are the same exactly when their keys
            are equal. It must be idempotent (``fold(fold(x)) == fold(x)``).
    """

    token: str = attrs.field(validator=_check_token)
    fold: Callable[[str], str]

    def equal(self, first: str, second: str) -> bool:
        """Whether *first* and *second* name the same nick or channel."""
        return self.fold(first) == self.fold(second)


_UPPER: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_TABLE: Final = str.maketrans(_UPPER, _UPPER.lower())
_RFC1459_TABLE: Final = str.maketrans(_UPPER + "[]\\~", _UPPER.lower() + "{}|^")
_STRICT_TABLE: Final = str.maketrans(_UPPER + "[]\\", _UPPER.lower() + "{}|")


def _ascii(name: str) -> str:
    return name.translate(_ASCII_TABLE)


def _rfc1459(name: str) -> str:
    return name.translate(_RFC1459_TABLE)


def _rfc1459_strict(name: str) -> str:
    return name.translate(_STRICT_TABLE)


#: ``A``-``Z`` fold to ``a``-``z`` and nothing else.
ASCII: Final = CaseMapping("ascii", _ascii)
#: ASCII, and ``[]\\~`` fold to ``{}|^``.
RFC1459: Final = CaseMapping("rfc1459", _rfc1459)
#: ASCII, and ``[]\\`` fold to ``{}|`` (``~`` and ``^`` stay apart).
RFC1459_STRICT: Final = CaseMapping("rfc1459-strict", _rfc1459_strict)

# Characters a nick cannot hold anywhere, or IRC messages and masks would be ambiguous
# (Modern IRC, "Clients": space, comma, asterisk, question mark, exclamation mark, at sign).
_NICK_FORBIDDEN: Final = frozenset(" ,*?!@")


def nick_protocol_problem(
    nick: str,
    *,
    max_length: int | None = None,
    channel_types: str = "#&",
    membership_prefixes: str = "@",
) -> str | None:
    """Why *nick* cannot be a nick on the IRC wire, or None if it can.

    These are the protocol's rules only (Modern IRC, "Clients"): no space, comma, ``*``, ``?``,
    ``!`` or ``@``; not starting with ``$``, ``:``, a channel type or a membership prefix; no
    control characters. The core's own rule (which letters, which length) is the core's.
    """
    if not nick:
        return "a nick cannot be empty"
    if max_length is not None and len(nick) > max_length:
        return f"a nick has at most {max_length} characters"
    if nick[0] in "$:" or nick[0] in channel_types or nick[0] in membership_prefixes:
        return f"a nick cannot start with {nick[0]!r}"
    bad = next((char for char in nick if char in _NICK_FORBIDDEN or not char.isprintable()), None)
    if bad is not None:
        return f"a nick cannot hold {bad!r}"
    return None
