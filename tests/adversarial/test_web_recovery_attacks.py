"""The web page's recovery path, fed markers a server should not send (or a newer server's, with
fields it does not know): no tab for a room it is not in, no "undefined" shown, no script error,
and the page goes on chatting. In a real headless browser, as tests/server/test_web_page.py."""

from __future__ import annotations

from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.server.test_web_page import (
    NcUser,
    browser,
    choose_nick,
    log_texts,
    nc,
    open_page,
    server,
    shown,
    type_line,
    wait_for,
)

pytestmark = pytest.mark.slow

__all__ = ["browser", "nc", "server"]  # the fixtures this module uses

MARKERS: list[dict[str, Any]] = [
    {"type": "notice", "kind": "recovered", "text": "", "data": {}},
    {"type": "notice", "kind": "not-recovered", "text": "", "data": None},
    {
        "type": "notice",
        "kind": "not-recovered",
        "text": "",
        "data": {"room": "#nowhere", "count": "lots", "reason": {"x": 1}, "extra": [1]},
    },
    {"type": "notice", "kind": "recovered", "data": {"room": "#lobby", "count": "3", "new": 1}},
    {"type": "notice", "kind": "recovered", "data": {"room": "#lobby", "count": 2, "epoch": 7}},
]


def test_markers_with_missing_or_unknown_fields_are_harmless(
    browser: webdriver.Chrome, server: tuple[int, int], nc: NcUser
) -> None:
    ws_port, _ = server
    open_page(browser, ws_port)
    choose_nick(browser, "webby")
    nc.until("is now known as webby")
    errors: list[str] = browser.execute_script(
        "const errors = [];"
        "for (const ev of arguments[0]) {"
        "  try {onEvent(ev);} catch (e) {errors.push(String(e));}"
        "}"
        "return errors;",
        MARKERS,
    )
    assert errors == []
    tabs = [
        tab.get_attribute("data-room")
        for tab in browser.find_elements(By.CSS_SELECTOR, "#rooms li")
    ]
    assert tabs == ["#lobby"]
    lines = log_texts(browser)
    assert not any("undefined" in line or "lots" in line for line in lines), lines
    assert any(line.endswith("reconnected, 2 missed lines recovered") for line in lines), lines
    # The epoch a marker names is kept only if it is a string.
    epoch = browser.execute_script("return rooms.get('#lobby').epoch")
    assert isinstance(epoch, str)
    type_line(browser, "still here")
    nc.until("<webby> still here")
    wait_for(browser, lambda d: shown(d, "still here"))
