"""Passwords and registered nicks: the server password, the admin token, and the commands that
rename to, register and unregister a nick whose password the server keeps.

Every secret is checked through the guard's throttle (:func:`_check_secret`): over its limit an
attempt waits its turn, never refused, and a wrong secret is counted and logged.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..core._errors import AuthenticationFailed, ChatError, ErrorCode, InvalidNick
from ..core._nicks import nick_key, validate_nick
from ._auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ._reasons import seconds
from ._replies import ReplyKind

if TYPE_CHECKING:
    from ._nick_store import NickStore, Registration
    from ._session import Session

__all__ = [
    "become_admin",
    "check_nick_password",
    "give_password",
    "register",
    "rename",
    "unregister",
]

auth_log = logging.getLogger("triochat.auth")


async def _check_secret(
    session: Session, target: str, secret: str, check: Callable[[], Awaitable[bool]], nick: str = ""
) -> None:
    """Run *check* (is the secret right?) in its turn for (*target*, the client's address).

    Over the throttle's limit the attempt is delayed, never refused: the client is told how
    long, and a right secret gets in when its turn comes. A wrong one is counted, logged and
    raised as :exc:`AuthenticationFailed` ("wrong *what*").
    """
    throttle = session.guard.throttle
    key = (target, session.member.address)
    delay = throttle.delay(key)
    if delay > 0:
        session.reply(ReplyKind.THROTTLED, seconds=math.ceil(delay))
    async with throttle.turn(key):
        if await check():
            return
        throttle.count(key)
    what = {"server": "password", "admin": "admin token"}.get(secret, f"password for {nick}")
    auth_log.warning("failed %s from %s (%s)", what, session.member.address, session.member.nick)
    raise AuthenticationFailed(f"wrong {what}", secret=secret, nick=nick)


async def give_password(session: Session, password: str) -> None:
    """The server password, from a client that has not given it yet: once right, it is in."""
    if session.authenticated:
        raise ChatError("you are already in", code=ErrorCode.ALREADY_AUTHENTICATED)
    secret = session.guard.password
    assert secret is not None

    async def right() -> bool:
        return secret.matches(password)

    await _check_secret(session, "pass", "server", right)
    session.authenticated = True
    session._enter()


async def become_admin(session: Session, token: str) -> None:
    """The admin token: once right, the client is a server admin."""
    secret = session.guard.admin_token
    if secret is None:
        raise ChatError("this server has no admin token", code=ErrorCode.NO_ADMIN_TOKEN)

    async def right() -> bool:
        return secret.matches(token)

    await _check_secret(session, "admin", "admin", right)
    session.member.is_admin = True
    auth_log.warning("%s (%s) is now a server admin", session.member.nick, session.member.address)
    session.reply(ReplyKind.ADMIN)


def _store(session: Session) -> NickStore:
    if session.guard.nick_store is None:
        raise ChatError("this server does not keep registered nicks", code=ErrorCode.NO_NICK_STORE)
    return session.guard.nick_store


async def check_nick_password(
    session: Session, nick: str, registration: Registration, password: str
) -> None:
    """Check that *password* is that of the registered *nick* (throttled, as every secret)."""
    hasher, address = session.guard.hasher, session.member.address

    async def right() -> bool:
        return await hasher.matches(registration, password, address=address)

    await _check_secret(session, f"nick:{nick.casefold()}", "nick", right, nick)


async def rename(session: Session, name: str, password: str | None) -> None:
    """Take the nick *name*; if it is (or looks like) a registered one, *password* must be its."""
    store = session.guard.nick_store
    if password is not None and store is None:
        # No registered nicks here: "/nick two words" is a typo, not a password.
        raise InvalidNick("a nick has no spaces", nick=name, problem="spaces")
    if store is None:
        session.hub.rename(session.member, name)
        return
    name = validate_nick(name)
    owners = await _check_registered(session, store, name, password)
    session.hub.rename(session.member, name)
    session.owned = frozenset(nick_key(owner) for owner in owners)


async def _check_registered(
    session: Session, store: NickStore, name: str, password: str | None
) -> list[str]:
    """The registered nicks *name* is or looks like, once *password* is shown to be theirs.

    Those the client's current nick is already bound to need no password again: re-casing
    your own nick is free. Raises :exc:`AuthenticationFailed`.
    """
    owners = await store.registered_like(name)
    unproven = [owner for owner in owners if nick_key(owner) not in session.owned]
    if not unproven:
        return owners
    if password is None:
        owner = unproven[0]
        if owner.casefold() == name.casefold():
            raise AuthenticationFailed(
                f"the nick {name} is registered: it needs its password",
                code=ErrorCode.NICK_REGISTERED,
                nick=name,
            )
        raise AuthenticationFailed(
            f"the nick {name} looks like {owner}, which is registered: it needs its password",
            code=ErrorCode.NICK_REGISTERED,
            nick=name,
            like=owner,
        )
    for owner in unproven:
        registration = await store.lookup(owner)
        if registration is not None:  # None: unregistered meanwhile, nothing to prove
            await check_nick_password(session, owner, registration, password)
    return owners


async def register(session: Session, password: str) -> None:
    """Register the client's nick with *password*."""
    store = _store(session)
    nick, address = session.member.nick, session.member.address
    if re.fullmatch(rf"{re.escape(session.hub.guest_prefix)}-\d+", nick):
        raise ChatError("choose a nick before registering it", code=ErrorCode.GUEST_NICK, nick=nick)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ChatError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            code=ErrorCode.INVALID_PASSWORD,
            min=MIN_PASSWORD_LENGTH,
            max=MAX_PASSWORD_LENGTH,
        )
    # Cheap checks first: the expensive hash only for a registration that can succeed.
    if await store.registered_like(nick):
        raise ChatError(
            f"the nick {nick}, or one that looks like it, is registered already",
            code=ErrorCode.ALREADY_REGISTERED,
            nick=nick,
        )
    throttle, key = session.guard.throttle, ("register", address)
    if not throttle.allowed(key):
        wait = math.ceil(throttle.delay(key))
        raise ChatError(
            f"too many registrations from your address; try again in {seconds(wait)}",
            code=ErrorCode.TOO_MANY_REGISTRATIONS,
            seconds=wait,
        )
    throttle.count(key)
    registration = await session.guard.hasher.new(password, address=address)
    if not await store.add(nick, registration):  # someone was quicker
        raise ChatError(
            f"the nick {nick}, or one that looks like it, is registered already",
            code=ErrorCode.ALREADY_REGISTERED,
            nick=nick,
        )
    session.owned = frozenset({nick_key(nick)})
    auth_log.info("%s registered by %s", nick, address)
    session.reply(ReplyKind.REGISTERED, nick=nick)


async def unregister(session: Session, password: str) -> None:
    """Unregister the client's nick, whose *password* it gives again."""
    store = _store(session)
    nick = session.member.nick
    registration = await store.lookup(nick)
    if registration is None:
        raise ChatError(
            f"the nick {nick} is not registered", code=ErrorCode.NOT_REGISTERED, nick=nick
        )
    await check_nick_password(session, nick, registration, password)
    await store.remove(nick)
    session.owned = session.owned - {nick_key(nick)}
    session.reply(ReplyKind.REGISTERED, {"nick": nick, "registered": False}, nick=None)
