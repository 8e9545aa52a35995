"""Pacing and delivery accounting of the client (triochat.client._pacing), with no I/O at all.

The pacer's promise is checked against the server's own token bucket (triochat.session._flood): a
client that follows it is never refused, whatever the delays between sending a line, the server
reading it, and its echo coming back.
"""

from __future__ import annotations

import heapq
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triochat import Message, NickChanged, Notice
from triochat.client._pacing import Delivery, Pacer, ServerLimits, limits_from_notice
from triochat.protocols.jsonl import render_json
from triochat.session._flood import TokenBucket


def simulate(limits: ServerLimits, delays: list[float], returns: list[float]) -> list[float]:
    """Send len(*delays*) messages paced by a Pacer; return the times the server read them.

    Line i reaches the server *delays[i]* seconds after it is sent (but after line i - 1: one TCP
    stream), and its echo comes back *returns[i]* seconds after the server read it (likewise in
    order). Every line is asserted to be accepted by the server's bucket.
    """
    pacer = Pacer(limits)
    bucket = TokenBucket(limits.rate, limits.burst)
    now, read, echoed = 0.0, 0.0, 0.0
    echoes: list[float] = []  # when the echoes of lines in flight come back (a heap)
    reads = []
    for delay, back in zip(delays, returns, strict=True):
        while (wait := pacer.delay(now)) > 0:
            if wait == math.inf or (echoes and echoes[0] <= now + wait):
                now = max(now, heapq.heappop(echoes))
                pacer.acknowledged()
            else:
                now += wait
        pacer.sent(now)
        read = max(read, now + delay)
        assert bucket.take(read), f"refused a line read at {read}"
        reads.append(read)
        echoed = max(echoed, read + back)
        heapq.heappush(echoes, echoed)
    return reads


#: Delays of a line, mostly none, sometimes a server that stops reading for a while (and then
#: reads all that came meanwhile at once). Few distinct values: examples shrink fast.
DELAY = st.sampled_from([0.0, 0.0, 0.0, 0.0, 0.001, 0.05, 0.5, 3.0])


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    rate=st.sampled_from([1.0, 10.0, 200.0, 1000.0]),
    burst=st.integers(min_value=2, max_value=120),
)
def test_a_paced_client_is_never_refused(data: st.DataObject, rate: float, burst: int) -> None:
    # Network delays, a server that stops reading for seconds and then reads everything at once:
    # the bound on lines in flight keeps each such batch within the server's burst.
    forward = data.draw(st.lists(DELAY, min_size=1, max_size=250))
    back = data.draw(st.lists(DELAY, min_size=len(forward), max_size=len(forward)))
    simulate(ServerLimits(rate=rate, burst=burst), forward, back)


def test_pacing_is_close_to_the_servers_rate() -> None:
    # Default limits, instant network: 1000 lines take about (1000 - burst) / rate seconds.
    reads = simulate(ServerLimits(), [0.0] * 1000, [0.0] * 1000)
    assert 90 < reads[-1] < 97
    fast = simulate(ServerLimits(rate=1000, burst=100), [0.0] * 10_000, [0.0] * 10_000)
    assert 9 < fast[-1] < 10.2


def test_an_unlimited_server_is_not_paced() -> None:
    pacer = Pacer(ServerLimits(rate=math.inf))
    for _ in range(pacer.window):
        assert pacer.delay(0.0) == 0
        pacer.sent(0.0)
    assert pacer.delay(0.0) == math.inf  # still, no more in flight than the window


def test_a_refusal_empties_the_bucket_and_charges_what_is_in_flight() -> None:
    pacer = Pacer(ServerLimits(rate=10, burst=100))
    for _ in range(5):
        pacer.sent(0.0)
    pacer.refused(0.0)
    assert pacer.in_flight == 0
    # Five lines in flight may still be read and charged: six tokens to wait for.
    assert pacer.delay(0.0) == pytest.approx(6 / pacer.rate)


def notice(**fields: Any) -> dict[str, Any]:
    return {"type": "notice", "room": "", "time": "2026-11-27T12:00:00Z", **fields}


def test_limits_come_from_a_welcome_or_a_refusal() -> None:
    known = ServerLimits()
    welcome = notice(kind="welcome", data={"limits": {"rate": 50, "burst": 20, "max_line": 512}})
    assert limits_from_notice(welcome, known) == ServerLimits(rate=50, burst=20, max_line=512)
    # JSON has no infinity: a rate of null is no limit. Nonsense is ignored.
    unlimited = notice(kind="format", data={"limits": {"rate": None, "burst": "x"}})
    assert limits_from_notice(unlimited, known) == ServerLimits(rate=math.inf)
    slow = notice(
        kind="error",
        error=True,
        text="error: slow down: at most 2.5 lines a second, 7 at once; lines sent faster are "
        "discarded",
    )
    assert limits_from_notice(slow, known) == ServerLimits(rate=2.5, burst=7)
    assert limits_from_notice(notice(kind="info", text="hello"), known) is None
    assert limits_from_notice({"type": "message"}, known) is None


def wire(event: Any) -> str:
    return render_json(event).decode().rstrip("\n")


def test_delivery_counts_own_echoes_and_follows_the_nick() -> None:
    delivery = Delivery()
    format_notice = Notice(text="format is now json", kind="format")
    format_notice.data.update(format="json", nick="guest-1", room="#lobby")
    assert delivery.feed(wire(format_notice)) == 0
    assert delivery.json
    assert delivery.feed(wire(NickChanged(room="#lobby", sender="guest-1", new="ann"))) == 0
    assert delivery.feed(wire(Message(room="#lobby", sender="ann", text="hi"))) == 1
    # Others' messages, and one's own from the history, are not echoes.
    assert delivery.feed(wire(Message(room="#lobby", sender="bob", text="hi"))) == 0
    old = Message(room="#lobby", sender="ann", text="before").as_history()
    assert delivery.feed(wire(old)) == 0
    assert delivery.echoes == 1
    error = Notice(text="error: slow down: at most 10 lines a second, 100 at once", error=True)
    assert delivery.feed(wire(error)) == 1  # the answer to a line, too
    assert delivery.refusal is not None
    assert delivery.refusal.startswith("slow down")
    assert delivery.refusals == 1
    assert delivery.take_limits() == ServerLimits(rate=10, burst=100)
    assert delivery.take_limits() is None
    # In the text format too (as a server's text welcome could say them).
    delivery.feed("*** limits: at most 1e+03 lines a second, 20 at once")
    assert delivery.take_limits() == ServerLimits(rate=1000, burst=20)


@pytest.mark.parametrize(
    ("lines", "last_word", "reason"),
    [
        (
            [json.dumps(notice(kind="goodbye", text="goodbye (quit)", data={"reason": "quit"}))],
            "goodbye (quit)",
            "quit",
        ),
        (
            ["*** goodbye (server shutting down)"],
            "goodbye (server shutting down)",
            "server shutting down",
        ),
        (["*** error: server full, try again later"], "error: server full, try again later", None),
        # Anything else last: the connection just stopped.
        (["*** goodbye (quit)", "[12:00:00] <bob> hi"], None, "quit"),
        ([json.dumps(notice(kind="info", text="history of #lobby: 0 events"))], None, None),
    ],
)
def test_the_last_word(lines: list[str], last_word: str | None, reason: str | None) -> None:
    delivery = Delivery()
    for line in lines:
        delivery.feed(line)
    assert delivery.last_word == last_word
    assert delivery.goodbye_reason == reason
