"""The processes a benchmark talks to: the simulators, our server (the real console script) and the bare
SDK server. Each is started on a free loopback port and stopped (SIGTERM, then SIGKILL) on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

PYTHON = sys.executable
SCRIPT = str(Path(sys.executable).with_name("collections-mcp"))
ROOT = Path(__file__).resolve().parent.parent
ANNOUNCE = "MCP streamable HTTP at "


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any vendor or server setting, plus `extra`."""
    prefixes = ("COLLECTIONS_MCP_", "SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_", "OTEL_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env | extra


@dataclass
class Sandbox:
    """A running `bench.sandbox_proc`: where each simulator is and how to point our server at them."""

    pid: int
    info: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        return dict(self.info["env"])


@asynccontextmanager
async def sandbox(latency_ms: float, accounts: int | None = None) -> AsyncIterator[Sandbox]:
    """The simulators in a process of their own; `accounts`: Scollect demo accounts instead of the default."""
    extra = [str(accounts)] if accounts is not None else []
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as cwd:
        process = await anyio.open_process(
            [PYTHON, "-m", "bench.sandbox_proc", str(latency_ms), *extra], env=clean_env(), cwd=cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            buffer = b""
            with anyio.fail_after(30):
                while b"\n" not in buffer:
                    chunk = await process.stdout.receive()
                    buffer += chunk
            yield Sandbox(pid=process.pid, info=json.loads(buffer.split(b"\n", 1)[0]))
        finally:
            await stop(process)


@dataclass
class Server:
    """A running MCP server process: its /mcp URL and pid (for RSS and CPU readings)."""

    url: str
    pid: int
    state_dir: Path
    stderr_path: Path


@asynccontextmanager
async def our_server(
    vendors: Sandbox, *, code: Path | None = None, environ: dict[str, str] | None = None, **settings: str
) -> AsyncIterator[Server]:
    """`collections-mcp serve --transport http` as users run it, its vendors pointed at the simulators.
    Extra COLLECTIONS_MCP_* settings as keyword arguments (e.g. LOG_LEVEL="WARNING"); other variables (OTEL_*) in
    `environ`; `code`: a checkout of another version of the project to run instead of this one (same venv)."""
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        state = Path(tmp) / "state"
        env = clean_env(**vendors.env, COLLECTIONS_MCP_STATE_DIR=str(state)) | (environ or {})
        env |= {f"COLLECTIONS_MCP_{key}": value for key, value in settings.items()}
        command = [SCRIPT, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"]
        if code is not None:  # its collections_mcp/ ahead of the editable install on sys.path
            env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
            command = [PYTHON, "-c", "import sys; from collections_mcp.server.ops.cli import main; sys.exit(main())",
                       *command[1:]]  # fmt: skip
        async with _announced(command, env, Path(tmp)) as (url, pid, stderr_path):
            yield Server(url=url, pid=pid, state_dir=state, stderr_path=stderr_path)


@asynccontextmanager
async def bare_server(vendors: Sandbox) -> AsyncIterator[Server]:
    """`bench.bare_server`: the plain SDK tools making the same vendor requests, pointed at the same simulators."""
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        env = clean_env(**vendors.env)
        async with _announced([PYTHON, "-m", "bench.bare_server"], env, Path(tmp)) as (url, pid, stderr_path):
            yield Server(url=url, pid=pid, state_dir=Path(tmp), stderr_path=stderr_path)


@asynccontextmanager
async def _announced(command: list[str], env: dict[str, str], cwd: Path) -> AsyncIterator[tuple[str, int, Path]]:
    """Start `command` with stderr in a file (per-call log lines must never fill a pipe) and wait for the
    line announcing its URL."""
    stderr_path = cwd / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = await anyio.open_process(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    try:
        with anyio.fail_after(60):
            while True:
                text = stderr_path.read_text(errors="replace")
                if ANNOUNCE in text:
                    break
                if process.returncode is not None:
                    raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{text[-2000:]}")
                await anyio.sleep(0.02)
        url = text.split(ANNOUNCE, 1)[1].split()[0]
        yield url, process.pid, stderr_path
    finally:
        await stop(process)


async def stop(process: Process) -> None:
    if process.returncode is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(15):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()
