"""``RPL_ISUPPORT`` (005): the feature tokens the server advertises after registration.

:class:`Features` holds what the server really does (every value is a parameter, so the IRC front
end advertises the core's limits rather than numbers of its own); :meth:`Features.tokens` turns
it into tokens and :func:`isupport_messages` puts them into 005 lines of at most 13 tokens that
fit in 512 bytes (Modern IRC, "RPL_ISUPPORT" and "RPL_ISUPPORT Parameters").

The defaults match the core at the time of writing: nicks of 24 characters, room names of ``#``
and 32 characters, topics of 300 characters, 20 rooms a member, 100 bans a room, operators as
the only membership prefix, and no channel modes but bans and the always-on ``n`` (a member must
be in a room to speak in it). The CASEMAPPING has no default: whoever builds the features must
say which comparison the core uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ._casemap import CaseMapping
from ._message import MAX_LINE, Message
from ._numerics import RPL_ISUPPORT

__all__ = ["MAX_TOKENS_PER_LINE", "Features", "escape_isupport_value", "isupport_messages"]

#: Tokens in one 005 line: 15 parameters at most, less ``<client>`` and the closing sentence.
MAX_TOKENS_PER_LINE: Final = 13
# A parameter name: 1 to 20 letters or digits, sent in upper case (Modern IRC ABNF).
_PARAMETER: Final = re.compile(r"[A-Z0-9]{1,20}")
# Value characters that go as they are: printable ASCII but space, backslash and "=".
_PLAIN: Final = re.compile(r"[!-<>-\[\]-~]")


def escape_isupport_value(value: str) -> str:
    r"""Escape *value* for a token: ``\x20`` for a space, ``\x5C``, ``\x3D``, and so on.

    Modern IRC names the three escapes; anything else that is not printable ASCII is written the
    same way, one ``\xHH`` per UTF-8 byte, so a token never holds a byte a client cannot read.
    """
    return "".join(
        char if _PLAIN.fullmatch(char) else "".join(f"\\x{byte:02X}" for byte in char.encode())
        for char in value
    )


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer or None")


@attrs.frozen(kw_only=True)
class Features:
    """What the server advertises in 005. A None value leaves its token out.

    Attributes:
        casemapping: how nicks and channel names are compared (``CASEMAPPING``); required.
        network: the network's name (``NETWORK``), shown by clients.
        nick_length: ``NICKLEN``, in characters.
        channel_length: ``CHANNELLEN``, the ``#`` included.
        topic_length: ``TOPICLEN``.
        channel_limit: how many ``#`` rooms one client may be in (``CHANLIMIT=#:N``).
        max_bans: how many bans one room may hold (``MAXLIST=b:N``).
        channel_modes: the four ``CHANMODES`` groups: list modes, modes that always take a
            parameter, modes that take one when set, flags.
        prefix: ``PREFIX``, membership modes and their prefixes, most powerful first.
        targets: ``TARGMAX``: command to the most targets it takes (None: no limit).
        modes_per_command: ``MODES``: parameter modes one MODE command may change.
        line_length: ``LINELEN`` (not in Modern IRC; InspIRCd sends it): bytes a line may take.
        chathistory: ``CHATHISTORY``: the most messages one CHATHISTORY request returns (IRCv3
            chathistory; send it only with the ``draft/chathistory`` capability).
        message_reference_types: ``MSGREFTYPES`` (IRCv3 chathistory): how CHATHISTORY refers to
            a message, by preference.
        away_length, kick_length, user_length: ``AWAYLEN``, ``KICKLEN``, ``USERLEN``.
        utf8_only: ``UTF8ONLY`` (IRCv3): the server takes and sends UTF-8 only.
        extra: more tokens, name to value (None for a token without a value), sent last.
    """

    casemapping: CaseMapping
    network: str = "triochat"
    nick_length: int | None = attrs.field(default=24, validator=_positive)
    channel_length: int | None = attrs.field(default=33, validator=_positive)
    topic_length: int | None = attrs.field(default=300, validator=_positive)
    channel_limit: int | None = attrs.field(default=20, validator=_positive)
    max_bans: int | None = attrs.field(default=100, validator=_positive)
    channel_modes: tuple[str, str, str, str] = ("b", "", "", "n")
    prefix: str = "(o)@"
    targets: Mapping[str, int | None] = attrs.field(
        factory=lambda: {"PRIVMSG": 1, "NOTICE": 1, "TAGMSG": 1, "NAMES": 1, "WHOIS": 1, "KICK": 1}
    )
    modes_per_command: int | None = attrs.field(default=1, validator=_positive)
    line_length: int | None = attrs.field(default=MAX_LINE, validator=_positive)
    chathistory: int | None = attrs.field(default=None, validator=_positive)
    message_reference_types: tuple[str, ...] = ("timestamp",)
    away_length: int | None = attrs.field(default=None, validator=_positive)
    kick_length: int | None = attrs.field(default=None, validator=_positive)
    user_length: int | None = attrs.field(default=None, validator=_positive)
    utf8_only: bool = True
    extra: Mapping[str, str | None] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        prefix_modes = self.prefix[1 : self.prefix.find(")")] if self.prefix else ""
        clash = set(prefix_modes) & set("".join(self.channel_modes))
        if clash:
            # Modern IRC: a server MUST NOT list PREFIX modes in CHANMODES.
            raise ValueError(f"modes {''.join(sorted(clash))} are in both PREFIX and CHANMODES")

    def tokens(self) -> list[str]:
        """The tokens, in a stable order: ``NAME`` or ``NAME=escaped value``."""
        values: dict[str, str | None] = {"CASEMAPPING": self.casemapping.token}
        if self.channel_limit is not None:
            values["CHANLIMIT"] = f"#:{self.channel_limit}"
        values["CHANMODES"] = ",".join(self.channel_modes)
        if self.channel_length is not None:
            values["CHANNELLEN"] = str(self.channel_length)
        values["CHANTYPES"] = "#"
        if self.chathistory is not None:
            values["CHATHISTORY"] = str(self.chathistory)
            if self.message_reference_types:
                values["MSGREFTYPES"] = ",".join(self.message_reference_types)
        optional = {
            "AWAYLEN": self.away_length,
            "KICKLEN": self.kick_length,
            "LINELEN": self.line_length,
            "MODES": self.modes_per_command,
            "NICKLEN": self.nick_length,
            "TOPICLEN": self.topic_length,
            "USERLEN": self.user_length,
        }
        values.update({name: str(value) for name, value in optional.items() if value is not None})
        if self.max_bans is not None and "b" in self.channel_modes[0]:
            values["MAXLIST"] = f"b:{self.max_bans}"
        values["NETWORK"] = self.network
        values["PREFIX"] = self.prefix
        if self.targets:
            values["TARGMAX"] = ",".join(
                f"{command.upper()}:{'' if limit is None else limit}"
                for command, limit in self.targets.items()
            )
        if self.utf8_only:
            values["UTF8ONLY"] = None
        values.update(self.extra)
        tokens = []
        for name, value in sorted(values.items()):
            if not _PARAMETER.fullmatch(name):
                raise ValueError(f"an ISUPPORT parameter is 1 to 20 upper-case letters, not {name}")
            tokens.append(name if value is None else f"{name}={escape_isupport_value(value)}")
        return tokens


def isupport_messages(
    server: str,
    client: str,
    tokens: Sequence[str],
    *,
    per_line: int = MAX_TOKENS_PER_LINE,
    max_line: int = MAX_LINE,
) -> list[Message]:
    """The 005 lines carrying *tokens*: at most *per_line* tokens and *max_line* bytes each."""
    if not 1 <= per_line <= MAX_TOKENS_PER_LINE:
        raise ValueError(f"per_line must be from 1 to {MAX_TOKENS_PER_LINE}")
    messages: list[Message] = []
    line: list[str] = []
    for token in tokens:
        candidate = [*line, token]
        if line and (
            len(candidate) > per_line
            or len(RPL_ISUPPORT.message(server, client, *candidate).encode()) > max_line
        ):
            messages.append(RPL_ISUPPORT.message(server, client, *line))
            candidate = [token]
        line = candidate
    if line:
        messages.append(RPL_ISUPPORT.message(server, client, *line))
    return messages
