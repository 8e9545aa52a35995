"""Ban masks: ``NICK``, ``@ADDRESS`` or ``NICK@ADDRESS`` with ``*`` and ``?`` wildcards."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from typing import TYPE_CHECKING, Final

from ._errors import ChatError, ErrorCode
from ._nicks import nick_key

if TYPE_CHECKING:
    from ._member import Member

__all__ = ["matches", "validate_mask"]

_MASK: Final = re.compile(r"[^\s@]{0,40}(?:@[^\s@]{1,64})?")


def validate_mask(mask: str) -> str:
    # Stored folded, so that /unban SPAM* lifts /ban spam* and /bans shows one spelling.
    mask = unicodedata.normalize("NFKC", mask.strip()).casefold()
    if not mask or mask == "@" or not _MASK.fullmatch(mask):
        raise ChatError(
            "a ban mask is NICK, @ADDRESS or NICK@ADDRESS, with * and ? wildcards",
            code=ErrorCode.INVALID_MASK,
            mask=mask,
        )
    return mask


def _fits(text: str, pattern: str) -> bool:
    # Only * and ? are wildcards: nicks may contain "[", which fnmatch would read as a set, so it
    # is spelled "[[]". fnmatch is used for its matcher that does not backtrack exponentially.
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def matches(mask: str, member: Member) -> bool:
    nick_pattern, _, address_pattern = mask.partition("@")
    if nick_pattern:
        nick = member.nick.casefold()
        # A look-alike of a banned nick is banned too (nick_key keeps * and ? as they are).
        if not _fits(nick, nick_pattern) and not _fits(nick_key(nick), nick_key(nick_pattern)):
            return False
    return not address_pattern or _fits(member.address.casefold(), address_pattern)
