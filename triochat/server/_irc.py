"""What the server tells IRC clients about itself: its real limits, as ``RPL_ISUPPORT`` tokens."""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from typing import Final

from ..core._hub import MAX_NICK_LENGTH, MAX_ROOM_NAME_LENGTH, Hub
from ..core._nicks import IRC_CASEMAPPING, fold_case
from ..core._room import MAX_BANS, MAX_TOPIC_LENGTH
from ..protocols.irc import IRC_CAPABILITIES, CaseMapping, Features, IrcSettings
from ..session._front import MAX_AWAY_LENGTH
from ._config import ServerConfig

__all__ = ["NICK_CASEMAPPING", "irc_settings"]


#: How IRC clients are told nicks and room names compare: ``CASEMAPPING=rfc7613`` with the fold
#: the hub uses for room names (NFKC, then Unicode case folding). Any two names a client folds
#: alike, the server folds alike too; the server also refuses look-alike nicks, which no
#: casemapping can describe (docs/irc-clients.md).
NICK_CASEMAPPING = CaseMapping(IRC_CASEMAPPING, fold_case)


def _version() -> str:
    try:
        return "triochat-" + metadata.version("triochat")
    except metadata.PackageNotFoundError:
        return "triochat"


#: The most messages one CHATHISTORY request returns from durable rooms (``data_dir``), whose
#: history goes beyond what memory keeps; memory-only rooms offer what memory keeps.
DURABLE_CHATHISTORY: Final = 100


def irc_settings(config: ServerConfig, hub: Hub) -> IrcSettings:
    """The settings shared by every IRC client of a server with *config* serving *hub*."""
    features = Features(
        casemapping=NICK_CASEMAPPING,
        nick_length=MAX_NICK_LENGTH,
        channel_length=MAX_ROOM_NAME_LENGTH + 1,
        topic_length=MAX_TOPIC_LENGTH,
        channel_limit=hub.rooms_per_member,
        max_bans=MAX_BANS,
        chathistory=(
            max(hub.history_events, DURABLE_CHATHISTORY)
            if config.data_dir is not None
            else hub.history_events or None
        ),
        message_reference_types=("msgid", "timestamp"),
        away_length=MAX_AWAY_LENGTH,
        targets={"PRIVMSG": 1, "NOTICE": 1, "NAMES": None, "WHOIS": 1, "KICK": 1, "JOIN": None},
        # Client-only tags (+typing...) are accepted and dropped, never relayed (IRCv3
        # message-tags: clients then need not send them).
        extra={"CLIENTTAGDENY": "*"},
    )
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def epoch_of(room: str) -> str | None:
        found = hub.find_room(room)
        return None if found is None else found.log.epoch

    capabilities = dict(IRC_CAPABILITIES)
    if features.chathistory is None:
        # No history kept, so no CHATHISTORY= maximum, which the spec requires with the cap.
        del capabilities["draft/chathistory"]
    return IrcSettings(
        features=features,
        version=_version(),
        created=started,
        epoch_of=epoch_of,
        capabilities=capabilities,
    )
