"""What a member costs while it does nothing: the hub's nick tables share the nick's string
where its keys are equal to it, and a member's removal callbacks take no list until there are
several. Behaviour stays: look-alikes are still refused, lookups still case-blind."""

from __future__ import annotations

import pytest

from triochat.core._errors import NickInUse
from triochat.core._hub import Hub


def test_the_nick_tables_share_the_nick_string_when_the_keys_equal_it() -> None:
    hub = Hub()
    plain = hub.connect("alice")
    (key,) = [k for k, m in hub._nicks.items() if m is plain]
    (look,) = [k for k, m in hub._looks.items() if m is plain]
    assert key is plain.nick
    assert look is plain.nick
    assert hub.member("ALICE") is plain
    with pytest.raises(NickInUse):
        hub.connect("Alice")
    # A nick whose key differs keeps a key of its own, and still finds its look-alikes.
    fancy = hub.connect("Bob1")
    (key,) = [k for k, m in hub._nicks.items() if m is fancy]
    assert key != fancy.nick
    assert hub.member("bob1") is fancy
    with pytest.raises(NickInUse):
        hub.connect("bobl")
    hub.disconnect(fancy, "bye")
    assert hub.member("bob1") is None
    assert fancy not in hub._looks.values()


def test_removal_callbacks_are_called_once_each_in_order() -> None:
    hub = Hub()
    member = hub.connect("carol")
    assert member._on_removed == ()  # nothing made until a callback is added
    calls: list[str] = []
    member.add_removal_callback(lambda reason: calls.append(f"first {reason}"))
    member.add_removal_callback(lambda reason: calls.append(f"second {reason}"))
    hub.disconnect(member, "gone")
    hub.disconnect(member, "again")  # idempotent: no second call
    assert calls == ["first gone", "second gone"]
