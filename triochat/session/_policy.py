"""What a session does of its own accord: where a new client starts, and what it must do first."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from ..core._events import DEFAULT_ROOM

if TYPE_CHECKING:
    from ._auth import Guard

__all__ = ["SessionLimits", "SessionPolicy"]


@attrs.frozen(kw_only=True)
class SessionLimits:
    """The limits a client is held to, which the welcome tells it (so that a client can pace
    itself rather than be refused).

    Attributes:
      rate: lines a second, sustained (``math.inf``: no limit).
      burst: lines at once.
      max_line: the longest line, in bytes.
    """

    rate: float
    burst: int
    max_line: int

    def as_data(self) -> dict[str, Any]:
        """The ``limits`` object of a welcome's data; JSON has no infinity, so no rate is null."""
        return {
            "rate": None if math.isinf(self.rate) else self.rate,
            "burst": self.burst,
            "max_line": self.max_line,
        }


@attrs.frozen(kw_only=True)
class SessionPolicy:
    """A session's policy, set by whoever serves the connection (the server, per protocol).

    Attributes:
      auto_join: the room a client is put in once it is in (after the password, if any);
        ``None`` puts it in no room, as IRC clients expect (they join what they want).
      password_required: whether the client must give the server password before anything
        else; it must agree with the session's :class:`~triochat.session._auth.Guard` (use
        :meth:`for_guard`).
      greet: whether the session greets the client (a welcome, or the request for the
        password) and puts it in ``auto_join``; a front end that does both in its own way
        (IRC's registration) says ``False``.
      limits: the limits the welcome (and the reply to a format switch) tells the client,
        or ``None`` to tell none.
    """

    auto_join: str | None = DEFAULT_ROOM
    password_required: bool = False
    greet: bool = True
    limits: SessionLimits | None = None

    @classmethod
    def for_guard(
        cls,
        guard: Guard,
        *,
        auto_join: str | None = DEFAULT_ROOM,
        limits: SessionLimits | None = None,
    ) -> SessionPolicy:
        """The policy of a server that has *guard*: a password is required if it has one."""
        return cls(auto_join=auto_join, password_required=guard.password is not None, limits=limits)
