"""Durable rooms through the server and the CLI: ``--data-dir`` makes every room survive a
restart (graceful or ``kill -9``), ``/history``, JSON ``history`` and IRC ``CHATHISTORY`` reach
the file beyond memory, and an unusable file stops the server at start with one line."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.adversarial.helpers import TRIOCHAT, json_server, serve_process
from tests.conftest import WAIT, LineClient, eventually
from tests.irc_client import IrcClient
from tests.protocols.text.test_json_format import JsonClient
from tests.server.test_operations import _config, _http_get
from triochat import ChatServer, ServerConfig
from triochat.cli._main import build_parser
from triochat.cli._settings import read_config_file, server_config, settings


async def text_client(port: int, nick: str, room: str) -> LineClient:
    client = await (await LineClient.open(port)).registered(nick)
    await client.send(f"/join {room}")
    await client.until(f"now talking in {room}")
    return client


#: A chat line, ``[12:00:00] #room <nick> text`` (no room shown for the lobby).
CHAT = re.compile(r"^\[\d\d:\d\d:\d\d\] (?:\S+ )?<(?P<nick>[^>]+)> (?P<text>.*)$")


def said(lines: list[str]) -> list[str]:
    return [match["text"] for line in lines if (match := CHAT.match(line))]


async def chat(client: LineClient, *lines: str) -> None:
    for line in lines:
        await client.send(line)
        await client.until(f"> {line}")


def stored_texts(data_dir: Path) -> list[str]:
    """The messages in the file, read by another connection (what a crash would leave)."""
    try:
        db = sqlite3.connect(f"file:{data_dir / 'rooms.sqlite3'}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute("SELECT fields FROM events WHERE kind = 'message' ORDER BY seq")
        return [json.loads(fields)["text"] for (fields,) in rows]
    except sqlite3.Error:
        return []
    finally:
        db.close()


async def test_history_commands_reach_the_disk_and_survive_a_restart(tmp_path: Path) -> None:
    config = ServerConfig(
        listen=["tcp://127.0.0.1:0", "irc://127.0.0.1:0"], data_dir=str(tmp_path), history_events=3
    )
    lines = [f"line {number}" for number in range(12)]
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(ChatServer(config=config).serve)
        alice = await text_client(server.endpoints[0].port, "alice", "#keep")
        await chat(alice, *lines)
        await alice.send("/topic durable")
        await alice.until("topic")
        # /history N: the last 10 kept events (9 lines and the topic), though memory keeps 3.
        await alice.send("/history 10")
        got = await alice.until("end of history")
        assert said(got) == lines[3:]
        await alice.aclose()
        await server.shutdown()
    # Started again on the same directory: the room, its topic and its history are back.
    async with trio.open_nursery() as nursery:
        server = await nursery.start(ChatServer(config=config).serve)
        port, irc_port = server.endpoints[0].port, server.endpoints[1].port
        bob = await (await LineClient.open(port)).registered("bob")
        await bob.send("/join #keep")
        joined = await bob.until("now talking in #keep")
        assert said(joined) == lines[-2:]  # the replay of what memory holds (and the topic)
        await bob.send("/topic")
        assert (await bob.until("topic of"))[-1].endswith("topic of #keep: durable")
        await bob.send("/history 20")
        assert said(await bob.until("end of history")) == lines
        # JSON: what followed seq 2 (the first line; seq 1 is alice's join), from the file.
        carol = await JsonClient.open(port, "carol")
        await carol.send(cmd="join", room="#keep")
        await carol.send(cmd="history", room="#keep", after=2, count=4)
        await carol.until(lambda e: e.get("kind") == "history")
        replay = [await carol.event() for _ in range(4)]
        assert [e["text"] for e in replay] == lines[1:5]
        assert [e["seq"] for e in replay] == [3, 4, 5, 6]
        # IRC: CHATHISTORY BEFORE a time pages back through the file too.
        dave = await IrcClient.open(irc_port)
        await dave.register("dave", "server-time", "batch", "draft/chathistory")
        await dave.join("#keep")  # (with draft/chathistory, no replay on joining)
        # (Lines sent this fast share milliseconds: ask for those before a later time.)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        stamp = later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        await dave.send(f"CHATHISTORY BEFORE #keep timestamp={stamp} 10")
        batch = await dave.until("BATCH")
        batch += await dave.until("BATCH")
        texts = [m.params[1] for m in batch if m.command == "PRIVMSG"]
        assert texts == lines[2:]  # 10 messages (not the topic), 7 of them from the file
        for client in (bob, carol, dave):
            await client.aclose()
        await server.shutdown()


async def test_the_cli_restarts_with_history_topic_bans_and_seq(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--history", "2", "--shutdown-grace", "1")
    async with serve_process(*args) as server:
        alice = await text_client(server.port, "alice", "#ops")
        await chat(alice, "one", "two", "three")
        await alice.send("/topic kept across restarts")
        await alice.until("topic")
        await alice.send("/ban mallory")
        await alice.until("mallory")
        await alice.send("/format json")
        await alice.until('"format"')
        await alice.send(json.dumps({"cmd": "say", "text": "four", "room": "#ops"}))
        last = json.loads((await alice.until('"four"'))[-1])
        server.process.send_signal(signal.SIGTERM)
        await alice.rest()
        await alice.aclose()
        with trio.fail_after(WAIT):
            assert await server.process.wait() == 0
    async with serve_process(*args) as server:
        bob = await text_client(server.port, "bob", "#ops")
        await bob.send("/history 10")
        assert said(await bob.until("end of history")) == ["one", "two", "three", "four"]
        await bob.send("/bans")
        assert (await bob.until("bans in"))[-1].endswith("bans in #ops: mallory")
        await bob.send("/format json")
        await bob.until('"format"')
        await bob.send(json.dumps({"cmd": "say", "text": "five", "room": "#ops"}))
        event = json.loads((await bob.until('"five"'))[-1])
        # bob's join came between (a shutdown announces no quits): the seq went on, never back.
        assert event["seq"] == last["seq"] + 2
        await bob.aclose()


async def test_kill_9_loses_at_most_the_last_commit_interval(tmp_path: Path) -> None:
    async with serve_process("--data-dir", str(tmp_path)) as server:
        alice = await text_client(server.port, "alice", "#crash")
        await chat(alice, "safe 1", "safe 2")
        # Past the commit interval (1 s): the lines are in the file, seen by another reader.
        await eventually(lambda: stored_texts(tmp_path) == ["safe 1", "safe 2"], timeout=WAIT)
        server.process.send_signal(signal.SIGKILL)
        await alice.rest()
        await alice.aclose()
    async with serve_process("--data-dir", str(tmp_path)) as server:
        await eventually(lambda: "was not closed by the last server" in server.log)
        bob = await text_client(server.port, "bob", "#crash")
        await bob.send("/history 10")
        assert said(await bob.until("end of history")) == ["safe 1", "safe 2"]
        await bob.aclose()


def _start(data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*TRIOCHAT, "serve", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        timeout=WAIT * 2,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[bytes], data_dir: Path) -> str:
    # Exit 1, as every --data-dir failure at start (docs/operations.md); 2 is for usage errors.
    assert result.returncode == 1, result
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"triochat serve: cannot use --data-dir {data_dir}: ")
    return lines[0]


def test_a_corrupt_rooms_file_is_one_line_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    garbage = b"not a database, " * 512
    (data_dir / "rooms.sqlite3").write_bytes(garbage)
    line = _one_line_error(_start(data_dir), data_dir)
    assert "rooms.sqlite3: file is not a database" in line
    assert (data_dir / "rooms.sqlite3").read_bytes() == garbage  # never silently emptied


def test_a_rooms_file_locked_by_another_process_is_one_line_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / "rooms.sqlite3", isolation_level=None)
    try:
        db.execute("CREATE TABLE taken (x)")
        db.execute("BEGIN EXCLUSIVE")
        line = _one_line_error(_start(data_dir), data_dir)
        assert "database is locked" in line
    finally:
        db.close()


def test_a_data_dir_another_server_uses_is_one_line_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with open(data_dir / "rooms.lock", "wb") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = _one_line_error(_start(data_dir), data_dir)
    assert "in use by another server" in line


@pytest.mark.parametrize("where", ["under a file", "a file"])
def test_an_unusable_data_dir_is_one_line_at_start(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data" if where == "under a file" else tmp_path / "file"
    _one_line_error(_start(data_dir), data_dir)


def test_keep_options_are_flags_and_config_keys(tmp_path: Path) -> None:
    path = tmp_path / "triochat.toml"
    path.write_text(f'data-dir = "{tmp_path}"\nkeep-days = 7\n')
    values = settings(
        build_parser().parse_args(["serve", "--config", str(path), "--keep-history", "50"]),
        read_config_file(str(path)),
    )
    config = server_config(values)
    assert (config.data_dir, config.keep_history, config.keep_days) == (str(tmp_path), 50, 7.0)
    defaults = server_config(settings(build_parser().parse_args(["serve"]), None))
    assert (defaults.keep_history, defaults.keep_days) == (10_000, 30.0)


async def test_the_store_has_metrics(short_tmp: Path) -> None:
    config = _config(short_tmp, **{"data-dir": f'"{short_tmp / "data"}"'})
    async with json_server(config) as server:
        alice = await text_client(server.port, "alice", "#m")
        await chat(alice, "one", "two")
        await eventually(lambda: stored_texts(short_tmp / "data") == ["one", "two"])
        _, body = await _http_get(server, "/metrics")
        samples = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
        assert samples["triochat_store_written_total"] == 2
        assert samples["triochat_store_pending"] == 0
        assert samples["triochat_store_dropped_total"] == 0
        assert samples["triochat_store_failures_total"] == 0
        await alice.aclose()
