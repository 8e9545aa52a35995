"""Presence through Redis: which process holds which nick, and which processes are alive.

- **Liveness.** Every process keeps a key ``P:proc:ID`` that expires after
  :data:`~._redis_scripts.PRESENCE_SECONDS` and renews it (and its nick keys) every
  :data:`HEARTBEAT` seconds; a process that stops renewing (``kill -9``) is dead for the others
  once its key expires, and so are its nicks and its members in rooms.
- **Nicks.** ``P:nick:KEY`` holds ``"PROCESS NICK"`` for every connected member (``KEY`` the
  hub's case-blind key of the nick), set and deleted by the ``NICK`` script, which also tells
  every process through the stream of all rooms; each process keeps a mirror of the others'
  nicks, loaded at start with ``SCAN``, so that the hub asks it without waiting
  (:class:`~triochat.core._directory.Directory`). Two processes taking one nick at the same
  instant both get it (the mirror had not heard of the other yet): rare, and logged.
- **Private messages** to a member of another process go into the stream of all rooms,
  addressed to that process, which delivers them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ..core._events import SLOW_CONSUMER, Private
from ..core._nicks import look_key, nick_key
from ..core._text import sanitize

if TYPE_CHECKING:
    from ..core._member import Member
    from ._redis import RedisEngine

__all__ = ["HEARTBEAT", "RedisDirectory"]

_log = logging.getLogger("triochat.engines.redis")

#: Seconds between two renewals of a process's liveness and nick keys.
HEARTBEAT: Final = 10.0


@attrs.define(eq=False)
class RedisDirectory:
    """The nicks of the other processes, as heard so far; the hub's ``directory``."""

    engine: RedisEngine
    #: Processes whose liveness key existed at the last heartbeat (this one always counts).
    alive: set[str] = attrs.field(factory=set)
    # Other processes' nicks: nick_key -> (nick, process) and look_key -> (nick, process).
    _by_key: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    _by_look: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    #: This process's nicks (renewed by the heartbeat).
    mine: set[str] = attrs.field(factory=set)

    def is_alive(self, process: str) -> bool:
        return process == self.engine.process or process in self.alive

    # ------------------------------------------------------------------ the Directory seam

    def holder(self, nick: str) -> str | None:
        """The nick of a live member of another process that is *nick* or looks like it."""
        for table, key in ((self._by_key, nick_key(nick)), (self._by_look, look_key(nick))):
            found = table.get(key)
            if found is not None and found[1] != self.engine.process and self.is_alive(found[1]):
                return found[0]
        return None

    def held(self, nick: str) -> None:
        self.mine.add(nick)
        self.engine._send_nick(nick, "+")

    def released(self, nick: str) -> None:
        self.mine.discard(nick)
        self.engine._send_nick(nick, "-")

    def send_private(self, sender: Member, nick: str, text: str) -> Private | None:
        found = self._by_key.get(nick_key(nick))
        if found is None or found[1] == self.engine.process or not self.is_alive(found[1]):
            return None
        target, process = found
        event = Private(
            sender=sender.nick, target=target, text=sanitize(text, keep_formatting=True)
        )
        self.engine._send_private(process, event)
        return event

    # ------------------------------------------------------------------ from the engine

    def take(self, nick: str, process: str, op: str) -> None:
        """A nick taken (``+``) or let go (``-``) by *process*, as the stream tells it."""
        if process == self.engine.process:
            return
        for table, key in ((self._by_key, nick_key(nick)), (self._by_look, look_key(nick))):
            if op == "+":
                if key in table and table[key][1] != process and self.is_alive(table[key][1]):
                    _log.warning("nick %s is held by two processes (taken at once)", nick)
                table[key] = (nick, process)
            elif table.get(key, ("", ""))[1] == process:
                del table[key]
        if op == "+":
            self.alive.add(process)

    def deliver_private(self, entry: Mapping[str, str]) -> None:
        """A private message the stream brought for a member of this process."""
        hub = self.engine._hub
        member = hub.member(entry["target"]) if hub is not None else None
        if member is None or hub is None:
            return
        event = Private(sender=entry["sender"], target=member.nick, text=entry["text"])
        if not member.deliver(event):
            hub.disconnect(member, SLOW_CONSUMER)
