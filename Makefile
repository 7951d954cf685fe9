# Bootstraps .venv from pyproject.toml on first use; every target works from a clean clone with python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench sandbox tools doctor conformance clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## the MCP server on http://127.0.0.1:8000/mcp (sandbox vendors unless configured)
	$(BIN)/collections-mcp serve --transport http --host 127.0.0.1 --port 8000

test: $(STAMP)  ## lint, type-check and the whole test suite (installs PostgreSQL, nginx, Chromium when missing)
	./scripts/system-packages.sh
	$(BIN)/ruff check server tools sandbox tests bench
	$(BIN)/mypy collections_mcp
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check server tools sandbox tests bench
	$(BIN)/mypy collections_mcp
	$(BIN)/lint-imports

sandbox: $(STAMP)  ## only the simulated vendors, with their URLs and demo credentials
	$(BIN)/collections-mcp sandbox

tools: $(STAMP)
	$(BIN)/collections-mcp tools

doctor: $(STAMP)  ## settings valid? every enabled vendor (or the sandbox) reachable and logged in?
	$(BIN)/collections-mcp doctor

conformance: $(STAMP)  ## official MCP conformance suite + Inspector CLI vs the sandbox (needs node+npm; see conformance/README.md)
	$(BIN)/python conformance/run.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
