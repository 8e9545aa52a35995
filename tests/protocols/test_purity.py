"""The protocol packages import no trio and nothing of triochat's server, client or core.

(An import-linter contract will say the same; until then this reads the imports directly.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import triochat.protocols

PACKAGE = Path(triochat.protocols.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: What a protocol may import besides the standard library and its own package.
ALLOWED_THIRD_PARTY = {"attrs"}


def _problems(source: str, depth: int) -> list[str]:
    """The imports of *source* that leave the protocols package.

    *depth* is how far below triochat/protocols the module's directory is (0 for the package's
    own directory). A relative import of level L names the directory L - 1 levels up.
    """
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level - 1 > depth:
                problems.append("." * node.level + (node.module or ""))
            continue
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
                problems.append(name)
    return problems


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_stay_inside_the_protocols_package(path: Path) -> None:
    depth = len(path.relative_to(PACKAGE).parts) - 1
    assert _problems(path.read_text(), depth) == []


def test_there_are_modules_to_check() -> None:
    assert {path.name for path in MODULES} >= {"_message.py", "_registration.py", "__init__.py"}


def test_the_check_finds_what_it_must() -> None:
    source = """
import trio
from triochat import Hub
import re, attrs
from .. import _other_protocol
from ... import _hub
from ._message import Message
"""
    assert _problems(source, depth=1) == ["trio", "triochat", "..."]
