"""The bench scripts are not run by the suite (they measure for minutes), but they must keep loading: every
module imports, so a moved or renamed server module cannot silently break `python3 dev.py bench`."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("module", sorted(path.stem for path in BENCH.glob("*.py") if path.stem != "__init__"))
def test_bench_module_imports(module: str) -> None:
    loaded = importlib.import_module(f"bench.{module}")
    assert loaded.__file__ is not None and Path(loaded.__file__).parent == BENCH
