"""Run `collections-mcp serve --transport http` as a user does: a subprocess, ready once it announces its URL."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

SCRIPT = str(Path(sys.executable).with_name("collections-mcp"))
ANNOUNCEMENT = "MCP streamable HTTP at "
STARTUP_SECONDS = 30.0  # a hang guard, not a synchronisation: readiness is the announcement


@dataclass
class Served:
    process: Process
    url: str = ""
    stderr_lines: list[str] = field(default_factory=list)

    def stderr_json(self) -> list[dict[str, Any]]:
        """Every stderr line so far, parsed (each must be one JSON object)."""
        return [json.loads(line) for line in self.stderr_lines if line.strip()]


@asynccontextmanager
async def serve_http(args: list[str], env: dict[str, str], cwd: Path) -> AsyncIterator[Served]:
    """Start `serve --transport http ARGS`; yield once it printed its URL (it accepts connections from then on).

    stderr keeps being read for as long as the server runs, so it never blocks on a full pipe."""
    process = await anyio.open_process([SCRIPT, "serve", "--transport", "http", *args], env=env, cwd=str(cwd))
    served = Served(process)
    announced = anyio.Event()

    async def read_stderr() -> None:
        assert process.stderr is not None
        pending = ""
        async for chunk in TextReceiveStream(process.stderr):
            *complete, pending = (pending + chunk).split("\n")
            for line in complete:
                served.stderr_lines.append(line)
                if not served.url and ANNOUNCEMENT in line:
                    served.url = line.split(ANNOUNCEMENT, 1)[1].split()[0]
                    announced.set()
        announced.set()  # EOF: the server exited

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_stderr)
            with anyio.fail_after(STARTUP_SECONDS):
                await announced.wait()
            assert served.url, "the server exited without announcing:\n" + "\n".join(served.stderr_lines)
            try:
                yield served
            finally:
                if process.returncode is None:
                    process.terminate()
                with anyio.fail_after(15):
                    await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.aclose()
