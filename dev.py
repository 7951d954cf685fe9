#!/usr/bin/env python3
"""The project's tasks, with nothing but python3 on the machine (no make, no activated venv):

    python3 dev.py run           the MCP server at http://127.0.0.1:8000/mcp (sandbox vendors unless configured)
    python3 dev.py test          lint, type-check and the whole test suite (installs PostgreSQL, nginx, Chromium
                                 with apt-get when missing)
    python3 dev.py lint | bench | sandbox | tools | doctor | conformance | clean

The first task creates .venv and installs the project into it with its dev tools, and again whenever
pyproject.toml changed since. Exit status: the failing step's (so CI fails on any failure, and pytest's own
status 5 says no test ran).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"
# What is linted: the code and its tests and benchmarks (mypy checks the one package, collections_mcp).
RUFF_PATHS = ["server", "tools", "sandbox", "tests", "bench", "dev.py"]


def step(*command: str | Path) -> None:
    """Run one step from the project root; stop with its exit status if it fails."""
    # The commands are this script's own (tools in .venv, fixed arguments): no outside input reaches them.
    done = subprocess.run([str(part) for part in command], cwd=ROOT, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(done.returncode)


def installed() -> None:
    """.venv with the project (editable) and its dev tools, reinstalled when pyproject.toml is newer."""
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not (BIN / "python").exists():
        step(sys.executable, "-m", "venv", VENV)
    step(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[dev]")
    STAMP.touch()


def replace_with(*command: str | Path) -> None:
    """Become the command (signals such as Ctrl-C and SIGTERM reach it directly: the server drains on SIGTERM)."""
    os.chdir(ROOT)
    os.execv(str(command[0]), [str(part) for part in command])  # noqa: S606 (no shell wanted: the command is ours)


def run() -> None:
    installed()
    replace_with(BIN / "collections-mcp", "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "8000")


def lint() -> None:
    installed()
    step(BIN / "ruff", "check", *RUFF_PATHS)
    step(BIN / "mypy", "collections_mcp")
    step(BIN / "lint-imports")


def test() -> None:
    installed()
    step("bash", ROOT / "scripts" / "system-packages.sh")
    lint()
    step(BIN / "pytest", "-q")


def bench() -> None:
    installed()
    replace_with(BIN / "python", "-m", "bench", *sys.argv[2:])


def command(*arguments: str) -> Callable[[], None]:
    def task() -> None:
        installed()
        replace_with(BIN / "collections-mcp", *arguments)

    return task


def conformance() -> None:
    installed()
    replace_with(BIN / "python", "conformance/run.py", *sys.argv[2:])


def clean() -> None:
    for path in (VENV, ROOT / ".mypy_cache", ROOT / ".pytest_cache", ROOT / ".ruff_cache"):
        shutil.rmtree(path, ignore_errors=True)


TASKS: dict[str, Callable[[], None]] = {
    "run": run,
    "test": test,
    "lint": lint,
    "bench": bench,
    "sandbox": command("sandbox"),
    "tools": command("tools"),
    "doctor": command("doctor"),
    "conformance": conformance,
    "clean": clean,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    TASKS[sys.argv[1]]()


if __name__ == "__main__":
    main()
