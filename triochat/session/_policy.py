"""What a session does of its own accord: where a new client starts, and what it must do first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ..core._events import DEFAULT_ROOM

if TYPE_CHECKING:
    from ._auth import Guard

__all__ = ["SessionPolicy"]


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
    """

    auto_join: str | None = DEFAULT_ROOM
    password_required: bool = False
    greet: bool = True

    @classmethod
    def for_guard(cls, guard: Guard, *, auto_join: str | None = DEFAULT_ROOM) -> SessionPolicy:
        """The policy of a server that has *guard*: a password is required if it has one."""
        return cls(auto_join=auto_join, password_required=guard.password is not None)
