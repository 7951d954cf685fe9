"""The command a user types: help, tool listing, configuration errors, and the README's tool table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = str(Path(sys.executable).with_name("collections-mcp"))
README = Path(__file__).resolve().parents[2] / "README.md"


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("SCOLLECT_", "COLLECTIONS_MCP_"))}
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, env=base | env, cwd=tmp_path, timeout=60, check=False
    )


@pytest.mark.parametrize("command", [[], ["serve"], ["sandbox"], ["tools"]])
def test_help_is_useful(tmp_path: Path, command: list[str]) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0
    assert "usage: collections-mcp" in result.stdout
    if command == ["serve"]:
        assert "--transport" in result.stdout and "stdio" in result.stdout and "--port" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = run(["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("collections-mcp 0.")


def test_tools_lists_effects(tmp_path: Path) -> None:
    result = run(["tools"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert lines["scollect_get_account"] == "read"
    assert lines["scollect_add_note"] == "write"
    assert lines["scollect_send_text"] == "contact"
    assert lines["scollect_update_account_field"] == "destructive"


def test_tools_respects_read_only(tmp_path: Path) -> None:
    result = run(["tools"], tmp_path, COLLECTIONS_MCP_READ_ONLY="1")
    assert result.returncode == 0
    assert {line.split()[1] for line in result.stdout.splitlines()} == {"read"}


def test_half_configured_vendor_is_a_startup_error_naming_the_variable(tmp_path: Path) -> None:
    result = run(["serve", "--transport", "stdio"], tmp_path, SCOLLECT_BASE_URL="https://api.example:8000")
    assert result.returncode == 2
    assert "SCOLLECT_API_KEY" in result.stderr and "SCOLLECT_PIN" in result.stderr
    assert result.stdout == ""


def test_unknown_toolset_is_a_startup_error(tmp_path: Path) -> None:
    result = run(["tools"], tmp_path, COLLECTIONS_MCP_TOOLSETS="scollect,crm")
    assert result.returncode == 2 and "unknown toolset(s) crm" in result.stderr


def test_readme_tool_table_matches_the_registry(tmp_path: Path) -> None:
    generated = run(["tools", "--markdown"], tmp_path).stdout.strip()
    text = README.read_text()
    table = text.split("<!-- tools:start -->", 1)[1].split("<!-- tools:end -->", 1)[0].strip()
    assert table == generated, "README tool table is stale: run `collections-mcp tools --markdown` and paste it"


def test_sandbox_command_prints_urls_and_demo_credentials_that_work(tmp_path: Path) -> None:
    import signal

    import httpx

    base = {key: value for key, value in os.environ.items() if not key.startswith(("SCOLLECT_", "COLLECTIONS_MCP_"))}
    process = subprocess.Popen(
        [SCRIPT, "sandbox"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base, cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("Scollect (SMAX): http://127.0.0.1:")
        login_url = lines[1].split("POST ", 1)[1].split()[0]
        apikey = lines[1].split("apikey=", 1)[1].split()[0]
        pin = lines[1].split("pin=", 1)[1].split()[0]
        answer = httpx.post(login_url, json={"apikey": apikey, "pin": pin}, timeout=10).json()
        assert answer["state"] == "SUCCESS" and answer["result"]["access_token"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_a_busy_port_is_a_configuration_error_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(["serve", "--port", str(port)], tmp_path)
    assert done.returncode == 2
    assert f"configuration error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and "sandbox mode" not in done.stderr  # nothing was started
