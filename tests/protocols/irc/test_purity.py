"""The IRC wire modules stand alone: the standard library, attrs and each other, nothing else.

The import-linter contracts (``nox -s lint``) keep every protocol free of trio and of the server,
client and drivers. The IRC grammar, casemapping, numerics, 005 and registration modules go
further: they need nothing of triochat at all, so they can be fuzzed, reused and read alone. (An
IRC codec that maps them onto the session is free to import the session; it is not listed here.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import triochat.protocols.irc

PACKAGE = Path(triochat.protocols.irc.__file__).parent
#: The standalone modules, named so that a new module (a codec) is not held to this rule.
STANDALONE = ("_casemap.py", "_isupport.py", "_message.py", "_numerics.py", "_registration.py")
MODULES = [PACKAGE / name for name in STANDALONE]
#: What a protocol may import besides the standard library and its own package.
ALLOWED_THIRD_PARTY = {"attrs"}


def _problems(source: str, depth: int) -> list[str]:
    """The imports of *source* that leave the standard library, attrs and the IRC package.

    *depth* is how far below triochat/protocols/irc the module's directory is (0 for the
    package's own directory). A relative import of level L names the directory L - 1 levels up.
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


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_wire_modules_stand_alone(path: Path) -> None:
    assert _problems(path.read_text(), depth=0) == []


def test_the_check_finds_what_it_must() -> None:
    source = """
import trio
from triochat import Hub
import re, attrs
from .. import _other_protocol
from ... import _hub
from ._message import Message
"""
    assert _problems(source, depth=0) == ["trio", "triochat", "..", "..."]
