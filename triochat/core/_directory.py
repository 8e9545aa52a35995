"""The directory seam: members held by *other* processes that share this hub's rooms.

A hub alone knows every member; hubs that share their rooms through an engine (Redis) do not.
Such an engine gives the hub a :class:`Directory` (``Hub(directory=...)``), which the hub asks,
without waiting, whether a nick is taken elsewhere, tells when it takes or lets go of one, and
hands private messages for members it does not hold. Its answers come from what the engine has
heard so far, so two processes taking the same nick at the same instant both succeed; the engine
says so in its log (see docs/scaling.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._events import Private
    from ._member import Member

__all__ = ["Directory"]


class Directory(Protocol):
    """What a hub asks about members held by other processes (see the module's docstring)."""

    def holder(self, nick: str) -> str | None:
        """The nick of a member held elsewhere that is *nick* or looks like it, if any."""
        ...

    def held(self, nick: str) -> None:
        """This process now holds *nick* (a member connected, or renamed to it)."""
        ...

    def released(self, nick: str) -> None:
        """This process no longer holds *nick*."""
        ...

    def send_private(self, sender: Member, nick: str, text: str) -> Private | None:
        """Send a private message to the member called *nick* elsewhere; the event (also to be
        echoed to *sender*), or ``None`` if no member elsewhere has that nick."""
        ...
