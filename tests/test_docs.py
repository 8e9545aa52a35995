"""The documentation's examples run, and its references match the code they describe.

- Every program in docs/examples runs cleanly, and where a page shows it running
  (a console block starting with ``$ python docs/examples/NAME.py``), it prints exactly that.
  (The example tests, docs/examples/test_*.py, are collected by pytest itself.)
- Every ``python`` code block in README.md and docs/*.md runs.
- The API reference has an entry for every public name, and every public name has a docstring.
- The CLI reference lists every subcommand and flag of the real parser, with its default.
- docs/architecture.md's table of packages lists exactly the modules of each package.
"""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import triochat
import triochat.testing
from triochat.cli._main import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXAMPLES = sorted(p for p in (DOCS / "examples").glob("*.py") if not p.name.startswith("test_"))
#: Generous: the slowest example takes about a second and a half.
RUN_TIMEOUT = 60


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def _fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def _shown_outputs() -> dict[str, list[tuple[str, list[str]]]]:
    """For each example, every output the docs show for it: [(page, printed lines), ...]."""
    shown: dict[str, list[tuple[str, list[str]]]] = {}
    for page in PAGES:
        for block in _fenced_blocks(page.read_text(), "console"):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                match = re.fullmatch(r"\$ python docs/examples/(\S+\.py)", line)
                if match is None:
                    continue
                output = []
                for following in lines[i + 1 :]:
                    if following.startswith("$ "):
                        break
                    output.append(following)
                if output:  # a bare command tells how to run it; it shows nothing
                    shown.setdefault(match[1], []).append((page.name, output))
    return shown


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_and_prints_what_the_docs_show(path: Path) -> None:
    result = _run(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no traceback, no warning, no stray log line
    printed = result.stdout.splitlines()
    assert printed, "every example shows something"
    for page, output in _shown_outputs().get(path.name, []):
        assert printed == output, f"docs/{page} shows different output for {path.name}"


def test_every_example_is_used_by_a_page() -> None:
    text = "\n".join(page.read_text() for page in PAGES)
    every = sorted((DOCS / "examples").glob("*.py"))
    unused = [p.name for p in every if f"examples/{p.name}" not in text]
    assert not unused, f"examples no page includes or links to: {unused}"


def test_shown_outputs_name_existing_examples() -> None:
    names = {p.name for p in EXAMPLES}
    assert set(_shown_outputs()) <= names


#: A code block shown from an example file: ``<!-- example: examples/NAME.py -->`` on the line
#: before its fence. The block is inline, so that the page reads whole on a forge too; the file
#: is what runs (and, for test_*.py, what pytest collects).
_EXCERPT = re.compile(r"^<!-- example: (\S+) -->\n```\w+\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _excerpts() -> list[tuple[str, str, str]]:
    return [
        (f"{page.name}#{i}", name, block)
        for page in PAGES
        for i, (name, block) in enumerate(_EXCERPT.findall(page.read_text()), 1)
    ]


@pytest.mark.parametrize(("where", "name", "code"), _excerpts(), ids=lambda v: v[:30])
def test_inline_example_matches_its_file(where: str, name: str, code: str) -> None:
    source = (DOCS / name).read_text()
    # A method is shown dedented.
    shown = any(textwrap.indent(code, " " * indent) in source for indent in (0, 4, 8))
    assert shown, f"{where} shows code that {name} does not have (any more)"


def test_pages_show_examples_inline_not_by_literalinclude() -> None:
    # Read as Markdown on a forge, a literalinclude shows no code at all.
    including = [page.name for page in PAGES if "{literalinclude}" in page.read_text()]
    assert not including


def _python_blocks() -> list[tuple[str, str]]:
    shown = {code for _, _, code in _excerpts()}
    return [
        (f"{page.name}#{i}", block)
        for page in [ROOT / "README.md", *PAGES]
        for i, block in enumerate(_fenced_blocks(page.read_text(), "python"), 1)
        if block not in shown  # an excerpt: its file runs (test_example_runs_...)
    ]


@pytest.mark.parametrize(("where", "code"), _python_blocks(), ids=lambda v: v[:30])
def test_python_block_runs(where: str, code: str, tmp_path: Path) -> None:
    # A fragment cannot run: show it as an excerpt of a file in docs/examples instead.
    script = tmp_path / "block.py"
    script.write_text(code)
    result = _run(script)
    assert result.returncode == 0, f"the python block {where} fails:\n{result.stderr}"


# ------------------------------------------------------------------------------ API reference


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        ]
    return sorted(names)


PUBLIC = [(triochat, name) for name in _public_names(triochat)] + [
    (triochat.testing, name) for name in _public_names(triochat.testing)
]


def _documented(name: str, module: types.ModuleType) -> bool:
    api = (DOCS / "api.md").read_text()
    prefix = re.escape(module.__name__ + ".")
    directive = r"(?:\.\. [\w:]+::|```\{[\w:]+\})"
    return re.search(rf"^{directive} (?:{prefix})?{re.escape(name)}\s*$", api, re.M) is not None


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC])
def test_public_name_is_in_the_api_reference(module: types.ModuleType, name: str) -> None:
    assert _documented(name, module), f"{module.__name__}.{name} is missing from docs/api.md"


def test_version_is_in_the_api_reference() -> None:
    assert _documented("__version__", triochat)


def _undocumented_members(cls: type) -> list[str]:
    """Public methods and properties *cls* defines with no docstring, its own or inherited."""
    missing = []
    for name, value in vars(cls).items():
        function = value.fget if isinstance(value, property) else value
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        # inspect.getdoc falls back to the docstring of the member this one overrides, as
        # autodoc does.
        if not inspect.getdoc(getattr(cls, name)):
            missing.append(name)
    return missing


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC])
def test_public_name_has_a_docstring(module: types.ModuleType, name: str) -> None:
    value = getattr(module, name)
    if not (inspect.isclass(value) or inspect.isroutine(value)):
        return  # constants and type aliases are described in docs/api.md itself
    assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    if inspect.isclass(value):
        missing = _undocumented_members(value)
        assert not missing, f"{name} has public members without a docstring: {missing}"


# ------------------------------------------------------------------------------ CLI reference


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_cli_reference_lists_every_flag_with_its_default(command: str) -> None:
    text = (DOCS / "cli.md").read_text()
    heading = f"## `triochat {command}`"
    assert heading in text, f"docs/cli.md has no section for triochat {command}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
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


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` runs exactly the README's second command (install everything, then test)."""
    readme = (ROOT / "README.md").read_text()
    commands = [
        line
        for block in _fenced_blocks(readme, "console")
        for line in block.splitlines()
        if "nox -s tests" in line
    ]
    assert len(commands) == 1, commands
    assert commands[0] in (ROOT / ".ci" / "run").read_text().splitlines()


def _module_table() -> dict[str, set[str]]:
    """The table of packages in docs/architecture.md: each package's modules, as it lists them
    (``_name`` for a module, ``name/`` for a subpackage)."""
    table: dict[str, set[str]] = {}
    for line in (DOCS / "architecture.md").read_text().splitlines():
        row = re.fullmatch(r"\| `(\w+)/` \|.*\| ([^|]*) \|", line)
        if row is not None:
            table[row[1]] = set(re.findall(r"`(\w+/?)`", row[2]))
    return table


def _modules_of(package: Path) -> set[str]:
    modules = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    return modules | {f"{sub.name}/" for sub in package.iterdir() if (sub / "__init__.py").exists()}


def test_architecture_table_lists_every_module() -> None:
    """docs/architecture.md's table of packages names every module of each package, and only
    those (a package with no module of its own yet, such as a new one, may have no row)."""
    table = _module_table()
    assert table, "no table of packages in docs/architecture.md"
    source = Path(triochat.__file__).parent
    for package in sorted(p for p in source.iterdir() if (p / "__init__.py").exists()):
        modules = _modules_of(package)
        if package.name not in table:
            assert not modules, f"{package.name}/ is missing from docs/architecture.md's table"
            continue
        listed = table.pop(package.name)
        assert listed == modules, (
            f"{package.name}/: listed but not in the code {sorted(listed - modules)}, "
            f"in the code but not listed {sorted(modules - listed)}"
        )
    assert not table, f"docs/architecture.md lists packages that do not exist: {sorted(table)}"
