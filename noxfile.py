"""Developer tasks. `nox -s tests lint typecheck docs` is what CI runs (see .ci/run)."""

from __future__ import annotations

import json
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def install(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install dependency groups (PEP 735, which needs pip >= 25.1) and, if asked, the project."""
    session.install("--quiet", "pip>=25.1")
    arguments = [f"--group={group}" for group in groups]
    session.install("--quiet", *arguments, *(["-e", "."] if project else []))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest arguments after --)."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and formatting) and import-linter (the layers: see [tool.importlinter])."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite against the asyncio, uvloop and thread-per-client baselines; writes
    bench/perf/results/latest.json and regenerates docs/performance.md (not part of CI's run)."""
    install(session, "bench")
    session.run("python", "-m", "bench.perf.run", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    install(session, "typecheck", "test")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx site into docs/_build/html: nitpicky, warnings are errors.

    Extra arguments go to sphinx-build, e.g. `nox -s docs -- -b linkcheck`.
    """
    install(session, "docs")
    session.run(
        "sphinx-build",
        "--fresh-env",  # re-read every page, so that no warning hides in a cached one
        "--fail-on-warning",
        "--keep-going",
        "--nitpicky",
        "--builder=html",
        *session.posargs,
        "docs",
        "docs/_build/html",
    )


@nox.session
def stress(session: nox.Session) -> None:
    """The adversarial suite at full size (TRIOCHAT_STRESS=1); CI runs the small sizes."""
    install(session, "test")
    session.run("pytest", "tests/adversarial", *session.posargs, env={"TRIOCHAT_STRESS": "1"})


@nox.session
def fuzz(session: nox.Session) -> None:
    """The hypothesis properties with 20 000 examples each (about ten minutes)."""
    install(session, "test")
    session.run(
        "pytest",
        "tests/adversarial/test_fuzz.py",
        "tests/protocols/text/test_wire.py",
        *session.posargs,
        env={"TRIOCHAT_HYPOTHESIS_PROFILE": "fuzz"},
    )


@nox.session
def mutate(session: nox.Session) -> None:
    """Mutation testing of the core, session and codecs with mutmut (not in CI; ~20 min).

    The modules and the tests are listed in pyproject.toml's [tool.mutmut]; prints the survivors
    and the score, and writes mutants/mutmut-cicd-stats.json (see docs/mutation.md).
    Extra arguments go to `mutmut run`, e.g. `nox -s mutate -- --max-children 2` or mutant
    names. Most of a run is spent waiting (a mutant that loses a line makes a test wait for it
    until its timeout), not computing, hence more children than cores.
    """
    install(session, "mutate")
    arguments = session.posargs or ["--max-children", "4"]
    session.run("mutmut", "run", *arguments)
    session.run("mutmut", "results")
    session.run("mutmut", "export-cicd-stats")
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    # A mutant that makes the tests hang (a timeout) was caught by them as surely as a failure.
    caught = stats["killed"] + stats["timeout"]
    session.log(
        f"mutation score: {caught}/{stats['total']} caught ({100 * caught / stats['total']:.1f} %)"
        f"; {stats['survived']} survived, {stats['no_tests']} not covered by the selected tests"
    )


@nox.session
def reliability(session: nox.Session) -> None:
    """Attack a server process and regenerate docs/reliability.md (about two minutes)."""
    install(session, "test")
    session.run("python", "bench/reliability.py", *session.posargs)
