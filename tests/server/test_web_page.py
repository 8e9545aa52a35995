"""The web chat page in a real headless browser (Chromium and chromedriver from the system's
packages, driven by Selenium), against a server process, with an ``nc``-like user in the room.

Nothing here skips: without the browser these tests fail (CI installs it). Every wait is bounded
(``WAIT``), and the browser is always quit. With ``TRIOCHAT_SCREENSHOTS=1`` the first test saves
the screenshots of docs/web.md under docs/web/.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import WAIT

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "web"
# Chromium as root in a container: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,720",
)


@contextlib.contextmanager
def server_process(ws_port: int = 0, tcp_port: int = 0) -> Iterator[tuple[int, int]]:
    """``triochat serve`` on a web and a TCP endpoint; their ports. Stopped with SIGTERM."""
    command = [
        sys.executable,
        "-m",
        "triochat",
        "serve",
        "--listen",
        f"ws://127.0.0.1:{ws_port}",
        "--listen",
        f"tcp://127.0.0.1:{tcp_port}",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    try:
        output = b""
        deadline = time.monotonic() + WAIT
        while b"Ctrl-C stops" not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the server did not start: {output!r}"
            ready, _, _ = select.select([process.stderr], [], [], remaining)
            chunk = os.read(process.stderr.fileno(), 4096) if ready else b""
            assert chunk or not ready, f"the server exited: {output!r}"
            output += chunk
        found = re.search(rb"http://127\.0\.0\.1:(\d+)/, 127\.0\.0\.1:(\d+)", output)
        assert found is not None, output
        yield int(found[1]), int(found[2])
    finally:
        process.terminate()
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


class NcUser:
    """What ``nc 127.0.0.1 PORT`` is: a TCP socket, lines in and lines out."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""

    def send(self, line: str) -> None:
        self.socket.sendall(line.encode() + b"\n")

    def until(self, needle: str) -> str:
        while True:
            line, newline, rest = self.buffer.partition(b"\n")
            if newline:
                self.buffer = rest
                if needle in line.decode():
                    return line.decode()
                continue
            chunk = self.socket.recv(65536)
            assert chunk, f"connection closed before {needle!r}"
            self.buffer += chunk

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def server() -> Iterator[tuple[int, int]]:
    with server_process() as ports:
        yield ports


@pytest.fixture
def nc(server: tuple[int, int]) -> Iterator[NcUser]:
    user = NcUser(server[1])
    try:
        user.until("joined #lobby")
        user.send("/nick ncuser")
        user.until("is now known as ncuser")
        yield user
    finally:
        user.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any]) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition)


def log_texts(driver: webdriver.Chrome, room: str = "#lobby") -> list[str]:
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(`.log[data-room='${arguments[0]}'] .msg`)]"
        ".map((m) => m.textContent)",
        room,
    )
    return texts


def shown(driver: webdriver.Chrome, text: str, room: str = "#lobby") -> bool:
    return any(text in line for line in log_texts(driver, room))


def status(driver: webdriver.Chrome) -> str:
    text: str = driver.find_element(By.ID, "status").text
    return text


def open_page(driver: webdriver.Chrome, ws_port: int) -> None:
    driver.get(f"http://127.0.0.1:{ws_port}/")
    wait_for(driver, lambda d: status(d).startswith("connected as "))


def choose_nick(driver: webdriver.Chrome, nick: str) -> None:
    field = driver.find_element(By.ID, "nick-input")
    field.clear()
    field.send_keys(nick, Keys.ENTER)
    wait_for(driver, lambda d: status(d) == f"connected as {nick}")


def type_line(driver: webdriver.Chrome, text: str) -> WebElement:
    field = driver.find_element(By.ID, "input")
    field.send_keys(text, Keys.ENTER)
    return field


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    if os.environ.get("TRIOCHAT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / name))


def test_browser_user_and_nc_user_chat_both_ways(
    browser: webdriver.Chrome, server: tuple[int, int], nc: NcUser
) -> None:
    ws_port, _ = server
    started = time.monotonic()
    open_page(browser, ws_port)
    # The first line (the welcome) shows within a second of opening the page.
    first: float = browser.execute_script("return window.triochatFirstMessageAt")
    assert first < 1000, f"first message after {first:.0f} ms"
    assert time.monotonic() - started < WAIT
    choose_nick(browser, "webby")
    nc.until("guest-2 is now known as webby")

    type_line(browser, "hello nc")
    assert nc.until("hello nc").endswith("<webby> hello nc")
    nc.send("hello browser, webby")
    wait_for(browser, lambda d: shown(d, "ncuserhello browser, webby"))
    mention = browser.find_element(By.CSS_SELECTOR, ".msg.mention .text")
    assert mention.text == "hello browser, webby"
    type_line(browser, "/me waves")
    assert nc.until("waves").endswith("* webby waves")

    # Presence, nick completion (Tab), editing the last line (Up).
    wait_for(browser, lambda d: "ncuser" in d.find_element(By.ID, "members").text)
    field = type_line(browser, "")
    field.send_keys("ncu", Keys.TAB)
    assert field.get_attribute("value") == "ncuser: "
    field.clear()
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute("value") == "/me waves"
    field.clear()

    # A room of its own, with a topic and an unread count while looking elsewhere.
    type_line(browser, "/join #web")
    wait_for(browser, lambda d: "#web" in d.find_element(By.CSS_SELECTOR, "#rooms li.active").text)
    nc.send("/join #web")
    nc.send("/topic trio all the way")
    wait_for(browser, lambda d: d.find_element(By.ID, "topic").text == "trio all the way")
    browser.find_element(By.CSS_SELECTOR, "#rooms li[data-room='#lobby']").click()
    nc.send("in #web while you look at the lobby")
    nc.send("psst in #web")
    unread = "#rooms li[data-room='#web'] .unread"
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, unread).text == "2")

    # A private message opens a conversation of its own.
    nc.send("/msg webby just between us")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#rooms li[data-room='@ncuser']"))
    browser.find_element(By.CSS_SELECTOR, "#rooms li[data-room='#web']").click()
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, unread).text == "")
    assert browser.find_elements(By.CSS_SELECTOR, ".log[data-room='#web'] .marker")

    # The server's errors are shown.
    type_line(browser, "/nick ncuser")
    wait_for(browser, lambda d: shown(d, "error: the nick ncuser is taken", "#web"))

    # The nick is remembered across a reload.
    browser.refresh()
    wait_for(browser, lambda d: status(d) == "connected as webby")
    assert browser.find_element(By.ID, "nick-input").get_attribute("value") == "webby"
    active = "#rooms li.active"
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, active).text == "#web")
    nc.send("welcome back")
    wait_for(browser, lambda d: shown(d, "welcome back", "#web"))
    screenshot(browser, "chat-light.png")
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    screenshot(browser, "chat-dark.png")
    browser.set_window_size(390, 760)  # a phone
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    assert browser.find_element(By.ID, "input").is_displayed()
    screenshot(browser, "chat-phone.png")


def test_injection_attempts_stay_text(
    browser: webdriver.Chrome, server: tuple[int, int], nc: NcUser
) -> None:
    ws_port, _ = server
    open_page(browser, ws_port)
    attacks = [
        '<img src=x onerror="window.pwned=1">',
        "<script>window.pwned=2</script><b>bold</b>",
        '</span><a href="javascript:window.pwned=3">click</a>',
    ]
    for attack in attacks:
        nc.send(attack)
    nc.send(f"/topic {attacks[0]}")
    nc.send(f"/me {attacks[1]}")
    wait_for(browser, lambda d: d.find_element(By.ID, "topic").text == attacks[0])
    wait_for(browser, lambda d: shown(d, "window.pwned=2</script><b>bold</b>"))
    texts = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".msg .text")]
    for attack in attacks:
        assert attack in texts
    markup = browser.find_elements(By.CSS_SELECTOR, "#logs img, #logs script, #logs b, #logs a")
    assert markup == []
    assert browser.execute_script("return window.pwned") is None


def test_reconnects_after_the_server_restarts(browser: webdriver.Chrome) -> None:
    with server_process() as (ws_port, tcp_port):
        open_page(browser, ws_port)
        choose_nick(browser, "webby")
        type_line(browser, "/join #web")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".log[data-room='#web']"))
        type_line(browser, "before the restart")
        wait_for(browser, lambda d: shown(d, "before the restart", "#web"))
    wait_for(browser, lambda d: "disconnected" in status(d))
    with server_process(ws_port, tcp_port):
        user = NcUser(tcp_port)
        try:
            user.until("joined #lobby")
            user.send("/join #web")
            user.send("said after the restart")
            # The page comes back with backoff, with its nick and its rooms, and shows what was
            # said while it was away once, whether that was before or after it reconnected.
            wait_for(browser, lambda d: status(d) == "connected as webby")
            wait_for(browser, lambda d: shown(d, "said after the restart", "#web"))
            # A restarted server (without a durable log) numbers #web anew: the page says so.
            wait_for(browser, lambda d: shown(d, "could not recover missed lines", "#web"))
            user.until("webby joined #web")
            user.send("and once it was back")
            wait_for(browser, lambda d: shown(d, "and once it was back", "#web"))
            lines = log_texts(browser, "#web")
            assert sum("said after the restart" in line for line in lines) == 1
            assert sum("before the restart" in line for line in lines) == 1
        finally:
            user.close()
