"""``triochat serve --config FILE``: every flag is a key, flags override, errors are one line."""

from __future__ import annotations

import argparse
import math
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.adversarial.helpers import TRIOCHAT
from triochat.cli._main import build_parser
from triochat.cli._options import OPTIONS
from triochat.cli._settings import (
    SettingsError,
    read_config_file,
    server_config,
    settings,
    to_toml,
)


def _values(tmp_path: Path, toml: str, *flags: str) -> dict[str, object]:
    path = tmp_path / "triochat.toml"
    path.write_text(toml)
    args = build_parser().parse_args(["serve", "--config", str(path), *flags])
    return settings(args, read_config_file(str(path)))


def test_every_flag_is_a_key_and_the_parser_knows_them_all() -> None:
    parser = build_parser()
    serve = parser.parse_args(["serve"])
    for option in OPTIONS:
        assert hasattr(serve, option.dest), option.key
    # Only --config and --print-config are flags without a key.
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {
        action.option_strings[-1]
        for action in subcommands.choices["serve"]._actions
        if action.option_strings and action.dest != "help"
    }
    assert flags - {option.flag for option in OPTIONS} == {"--config", "--print-config"}


def test_file_values_are_used_and_flags_override_them(tmp_path: Path) -> None:
    values = _values(tmp_path, "rate = 2.5\nmax-clients = 50\nburst = 7\n", "--max-clients", "9")
    assert values["rate"] == 2.5
    assert values["burst"] == 7
    assert values["max_clients"] == 9
    config = server_config(values)
    assert (config.message_rate, config.message_burst, config.max_clients) == (2.5, 7, 9)


def test_a_flag_given_with_its_default_value_still_overrides_the_file(tmp_path: Path) -> None:
    values = _values(tmp_path, "max-line = 100\n", "--max-line", "4096")
    assert values["max_line"] == 4096


def test_a_flag_of_an_exclusive_group_replaces_the_files_choice(tmp_path: Path) -> None:
    values = _values(tmp_path, 'password-env = "PW"\n', "--password-file", "/pw")
    assert values["password_file"] == "/pw"
    assert values["password_env"] is None


def test_lists_and_infinity(tmp_path: Path) -> None:
    values = _values(tmp_path, 'listen = ["tcp://127.0.0.1:0", "unix:/tmp/t.sock"]\nrate = inf\n')
    assert [str(e) for e in values["listen"]] == ["tcp://127.0.0.1:0", "unix:/tmp/t.sock"]  # type: ignore[attr-defined]
    assert values["rate"] == math.inf


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("ratez = 1\n", "unknown key 'ratez'"),
        ('rate = "fast"\n', "bad value for 'rate': 'fast' is a string, not a number"),
        ("rate = -1\n", "bad value for 'rate': '-1' is too small"),
        ("max-line = 1.5\n", "bad value for 'max-line'"),
        ("max-clients = true\n", "bad value for 'max-clients'"),
        ("log-level = 3\n", "bad value for 'log-level'"),
        ('log-level = "loud"\n', "bad value for 'log-level': 'loud' is not one of"),
        ('listen = ["nowhere://x"]\n', "bad value for 'listen'"),
        ('metrics = "unix:/x"\n', "bad value for 'metrics'"),
        ('password-env = "A"\npassword-file = "/b"\n', "cannot both be given"),
        ("rate = \n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_error_naming_the_key_and_the_file(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError, match=message) as caught:
        read_config_file(str(path))
    assert str(path) in str(caught.value)
    result = subprocess.run(
        [*TRIOCHAT, "serve", "--config", str(path)], capture_output=True, timeout=20, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TRIOCHAT, "serve", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1
    assert "cannot read the config file" in result.stderr.decode()


def test_print_config_is_toml_that_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "triochat.toml"
    path.write_text('rate = 3\npassword-file = "/etc/secret"\nlisten = ["tcp://127.0.0.1:0"]\n')
    result = subprocess.run(
        [*TRIOCHAT, "serve", "--config", str(path), "--print-config", "--burst", "5"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.decode()
    table = tomllib.loads(printed)
    assert table["rate"] == 3.0
    assert table["burst"] == 5
    assert table["password-file"] == "/etc/secret"  # the source, never the secret
    assert table["listen"] == ["tcp://127.0.0.1:0"]
    assert "# announce-limit = (not set)" in printed
    again = tmp_path / "again.toml"
    again.write_text(printed)
    assert read_config_file(str(again))["burst"] == 5


def test_printed_defaults_are_every_key() -> None:
    values = settings(build_parser().parse_args(["serve"]), None)
    table = tomllib.loads(to_toml(values))
    assert table["host"] == "127.0.0.1"
    assert table["port"] == 9999
    assert set(table) | {"listen", "tls-cert", "tls-key", "announce-limit"} >= {
        o.key for o in OPTIONS if o.default is not None
    }
