"""The systemd unit in docs/: the keys it must have (parsed here, so checked with or without
systemd), flags the real parser accepts, the page that shows it, and ``systemd-analyze verify``
(installed by .ci/system-packages)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from triochat.cli._admin import DEFAULT_CONTROL
from triochat.cli._main import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"
UNIT = DOCS / "triochat.service"


def _parse(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each a mapping of key to its values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a key outside any section: {line!r}"
        key, equals, value = line.partition("=")
        assert equals, f"not KEY=VALUE: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key)
    assert values is not None, f"{key}= is missing"
    return values[-1]


def test_the_unit_has_what_the_operations_guide_promises() -> None:
    unit = _parse(UNIT.read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert _one(service, "Type") == "notify"
    assert _one(service, "NotifyAccess") == "main"
    assert _one(service, "Restart") == "on-failure"
    assert _one(service, "RuntimeDirectory") == "triochat"
    assert "-HUP" in _one(service, "ExecReload")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "DynamicUser": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures": "native",
        "UMask": "0077",
    }.items():
        assert _one(service, key) == value, key
    assert _one(unit["Install"], "WantedBy") == "multi-user.target"


def test_exec_start_uses_real_flags_and_the_admin_default_socket() -> None:
    service = _parse(UNIT.read_text())["Service"]
    command = shlex.split(_one(service, "ExecStart"))
    assert command[0].endswith("/triochat")
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert args.config == "/etc/triochat/triochat.toml"
    assert str(args.control) == DEFAULT_CONTROL  # `triochat admin` finds it with no flag
    assert DEFAULT_CONTROL.startswith("unix:/run/triochat/")  # inside RuntimeDirectory


def test_the_operations_guide_shows_the_unit_as_it_is() -> None:
    assert UNIT.read_text() in (DOCS / "operations.md").read_text()


def _verify(text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    # The unit names the installed command; verify checks that the file exists, so point it at
    # the one this test suite runs.
    installed = shutil.which("triochat") or f"{sys.executable}"
    path = directory / "triochat.service"
    path.write_text(text.replace("/usr/local/bin/triochat", installed))
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # .ci/system-packages installs it (Debian's systemd package): not a skip, a missing tool.
    assert shutil.which("systemd-analyze"), "apt-get install systemd (see .ci/system-packages)"
    result = _verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # And the check can fail: a misspelt type is an error.
    broken = _verify(UNIT.read_text().replace("Type=notify", "Type=notfy"), tmp_path)
    assert broken.stderr != ""
