"""The documentation's examples run, and its references match the code they describe."""

from __future__ import annotations

import argparse
import re
import runpy
from pathlib import Path

import pytest

from triochat._cli import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out  # every example shows something


def test_embed_room_example_prints_the_bot_reply(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(DOCS / "examples" / "embed_room.py"), run_name="__main__")
    assert "pingbot: pong, alice" in capsys.readouterr().out


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_cli_reference_lists_every_flag_with_its_default(command: str) -> None:
    text = (DOCS / "cli.md").read_text()
    section = text.split(f"## `triochat {command}`", 1)[1].split("\n## ", 1)[0]
    parser = _subcommands()[command]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = action.option_strings[-1]
        row = re.search(rf"^\| `{re.escape(flag)}[^|]*\| ([^|]*) \|", section, re.MULTILINE)
        assert row is not None, f"{flag} is missing from docs/cli.md"
        if action.default is not None:
            documented = row[1].strip().strip("`")
            if isinstance(action.default, bool):  # a switch: documented as "off" or "on"
                assert documented == ("on" if action.default else "off"), flag
                continue
            assert documented in (
                str(action.default),
                f"{action.default:g}" if isinstance(action.default, float) else str(action.default),
            )
