"""Shared fixtures: one loopback sandbox for the session, a fresh MCP server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from sandbox.runner import RunningSandbox, SandboxConfig, run_sandbox

from server.app import ServerConfig, build_server
from server.runtime import sandbox_vendor_settings
from server.settings import ServerSettings


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def sandbox(anyio_backend: str) -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(SandboxConfig()) as running:
        yield running


@pytest.fixture
def server_settings(tmp_path: Path) -> ServerSettings:
    """Explicit settings: a developer's environment or .env must not change what tests see."""
    return ServerSettings(_env_file=None, state_dir=tmp_path / "state", read_only=False, toolsets=None, sandbox=True)  # type: ignore[call-arg]


@pytest.fixture
def server_config(sandbox: RunningSandbox, server_settings: ServerSettings) -> ServerConfig:
    return ServerConfig(settings=server_settings, vendors=sandbox_vendor_settings(sandbox), sandbox=True)


@pytest.fixture
async def mcp(server_config: ServerConfig) -> AsyncIterator[Client]:
    async with Client(build_server(server_config)) as client:
        yield client


class Wire:
    """What the Scollect simulator received since the test started (logins excluded unless asked)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self._log: Any = sandbox.scollect.app.state.request_log
        self._start = len(self._log)

    def requests(self, *, include_login: bool = False) -> list[Any]:
        entries = list(self._log)[self._start :]
        return [entry for entry in entries if include_login or entry.path != "/login"]

    def paths(self) -> list[str]:
        return [f"{entry.method} {entry.path}" for entry in self.requests()]


@pytest.fixture
def wire(sandbox: RunningSandbox) -> Wire:
    return Wire(sandbox)
