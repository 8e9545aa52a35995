"""``--log-format json``: one JSON object per line, with the connection's id and fields."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tests.adversarial.helpers import json_server
from tests.conftest import LineClient
from triochat.cli._logging import JsonFormatter, TextFormatter


async def test_json_logs_parse_line_by_line_and_carry_the_connection(tmp_path: Path) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text('listen = ["tcp://127.0.0.1:0"]\n')
    async with json_server(config) as server:
        client = await (await LineClient.open(server.port)).registered("alice")
        await client.send("/quit bye")
        await client.rest()
        await client.aclose()
        connected = await server.record("connect ")
        gone = await server.record("disconnect ")
    for record in server.records:  # every line parsed (json_server fails otherwise)
        assert {"time", "level", "logger", "event"} <= set(record), record
    assert connected["logger"] == "triochat.server"
    assert connected["level"] == "info"
    assert connected["address"] == "127.0.0.1"
    assert isinstance(connected["conn"], int)
    assert gone["conn"] == connected["conn"]
    assert gone["nick"] == "alice"
    assert gone["reason"] == "quit: bye"
    assert server.records[-1]["event"] == "stopped"


def _record(**extra: object) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "triochat.x", logging.ERROR, __file__, 1, "hi %s", ("you",), exc_info
    )
    record.__dict__.update(extra)
    return record


def test_json_formatter_keeps_fields_and_the_traceback_apart() -> None:
    import json

    line = json.loads(JsonFormatter().format(_record(conn=7, room="#lobby")))
    assert line["event"] == "hi you"
    assert line["conn"] == 7
    assert line["room"] == "#lobby"
    assert "ValueError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")


def test_text_lines_of_a_connection_start_with_its_id() -> None:
    text = TextFormatter().format(_record(conn=7))
    assert " ERROR triochat.x: conn 7: hi you\n" in text
    assert "ValueError: boom" in text
