# Convenience for those who have make: every target is a task of dev.py, which needs nothing but python3
# (the README's two commands are `python3 dev.py run` and `python3 dev.py test`).
PY ?= python3

.PHONY: run test lint bench sandbox tools doctor conformance clean

run:  ## the MCP server on http://127.0.0.1:8000/mcp (sandbox vendors unless configured)
	$(PY) dev.py run

test:  ## lint, type-check and the whole test suite (installs PostgreSQL, nginx, Chromium when missing)
	$(PY) dev.py test

lint:
	$(PY) dev.py lint

bench:
	$(PY) dev.py bench

sandbox:  ## only the simulated vendors, with their URLs and demo credentials
	$(PY) dev.py sandbox

tools:
	$(PY) dev.py tools

doctor:  ## settings valid? every enabled vendor (or the sandbox) reachable and logged in?
	$(PY) dev.py doctor

conformance:  ## official MCP conformance suite + Inspector CLI vs the sandbox (needs node+npm; see conformance/README.md)
	$(PY) dev.py conformance

clean:
	$(PY) dev.py clean
