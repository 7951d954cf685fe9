"""`collections-mcp doctor` and `collections-mcp config ...` as a user runs them: the console script in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from collections_mcp.sandbox.runner import RunningSandbox
from tests.e2e.console import serve_http

pytestmark = pytest.mark.slow

SCRIPT = str(Path(sys.executable).with_name("collections-mcp"))
VENDOR_PREFIXES = ("SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_", "COLLECTIONS_MCP_")
API_KEY = "sk-doctor-secret-4f1c9a"
PIN = "pin-7730-secret"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any vendor or server setting (a developer's .env is not read: cwd=tmp)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(VENDOR_PREFIXES)}
    return env | {"COLLECTIONS_MCP_STATE_DIR": str(tmp_path / "state")} | extra


def run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, env=clean_env(tmp_path, **extra), cwd=tmp_path, timeout=60, check=False
    )


async def run_async(args: list[str], tmp_path: Path, **extra: str) -> tuple[int, str, str]:
    """For tests against the in-process sandbox: a blocking subprocess.run would stall its event loop."""
    result = await anyio.run_process([SCRIPT, *args], env=clean_env(tmp_path, **extra), cwd=tmp_path, check=False)
    assert result.returncode is not None
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def status_lines(stdout: str) -> dict[str, str]:
    """'OK    Scollect (SMAX)  http://...: detail' -> {'Scollect (SMAX)': 'OK'}."""
    lines: dict[str, str] = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("OK", "FAIL"):
            name = rest.strip().split("  http", 1)[0].split(":", 1)[0].strip()
            lines[name] = status.strip()
    return lines


# ------------------------------------------------------------------------------------------------- doctor


def test_doctor_in_sandbox_mode_checks_every_simulator(tmp_path: Path) -> None:
    result = run(["doctor"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = status_lines(result.stdout)
    # Every simulator is checked (toolsets without a connection of their own may add OK lines).
    assert {"settings", "Scollect (SMAX)", "Collect!", "Oracle Billing Care", "Procurios"} <= set(statuses), result.stdout
    assert set(statuses.values()) == {"OK"}, result.stdout
    assert "sandbox" in result.stdout and "logged in" in result.stdout
    assert "[breaker Collect!: closed]" in result.stdout and "[breaker Scollect: closed]" in result.stdout


def test_doctor_names_an_unreachable_vendor_without_printing_its_secrets(tmp_path: Path, closed_port: int) -> None:
    result = run(
        ["doctor"], tmp_path,
        SCOLLECT_BASE_URL=f"http://127.0.0.1:{closed_port}", SCOLLECT_API_KEY=API_KEY, SCOLLECT_PIN=PIN,
    )  # fmt: skip
    assert result.returncode == 1
    statuses = status_lines(result.stdout)
    assert statuses["settings"] == "OK" and statuses["Scollect (SMAX)"] == "FAIL", result.stdout
    failed = next(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    assert "unreachable" in failed and f"127.0.0.1:{closed_port}" in failed
    # Three refused connections in a row (the read's attempts): the breaker a server would have is open.
    assert "[breaker Scollect: open since " in failed and ", next trial at " in failed
    for secret in (API_KEY, PIN):
        assert secret not in result.stdout + result.stderr


def test_doctor_reports_a_half_configured_vendor_as_a_failed_settings_check(tmp_path: Path) -> None:
    result = run(["doctor"], tmp_path, SCOLLECT_BASE_URL="http://127.0.0.1:9", SCOLLECT_API_KEY=API_KEY)
    assert result.returncode == 1
    assert status_lines(result.stdout) == {"settings": "FAIL"}
    assert "SCOLLECT_PIN" in result.stdout
    assert API_KEY not in result.stdout + result.stderr


@pytest.mark.anyio
async def test_doctor_against_live_settings_logs_in_and_spots_rejected_credentials(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    scollect = sandbox.scollect
    code, stdout, stderr = await run_async(
        ["doctor"], tmp_path, SCOLLECT_BASE_URL=scollect.base_url, SCOLLECT_API_KEY=scollect.api_key, SCOLLECT_PIN=scollect.pin
    )
    assert code == 0, stdout + stderr
    statuses = status_lines(stdout)
    assert statuses["Scollect (SMAX)"] == "OK" and set(statuses.values()) == {"OK"}, stdout
    assert not {"Collect!", "Oracle Billing Care", "Procurios"} & set(statuses), "only the configured vendor is checked"
    assert "live vendors" in stdout

    code, stdout, stderr = await run_async(
        ["doctor"], tmp_path, SCOLLECT_BASE_URL=scollect.base_url, SCOLLECT_API_KEY=API_KEY, SCOLLECT_PIN=PIN
    )
    assert code == 1
    failed = next(line for line in stdout.splitlines() if line.startswith("FAIL"))
    assert "Scollect" in failed and "credentials rejected" in failed
    for secret in (API_KEY, PIN):
        assert secret not in stdout + stderr


# ------------------------------------------------------------------------------------------------- config


def config(client: str, tmp_path: Path, **extra: str) -> tuple[dict[str, Any], str]:
    result = run(["config", client], tmp_path, **extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_config_claude_desktop_is_this_installation_with_placeholders_for_secrets(tmp_path: Path) -> None:
    snippet, notes = config(
        "claude-desktop", tmp_path,
        SCOLLECT_BASE_URL="https://api.example.test:8000", SCOLLECT_API_KEY=API_KEY, SCOLLECT_PIN=PIN,
        COLLECTIONS_MCP_READ_ONLY="1", COLLECTIONS_MCP_STATE_DIR="relative-state", COLLECTIONS_MCP_METRICS_ADDRESS="9464",
    )  # fmt: skip
    server = snippet["mcpServers"]["collections"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).samefile(SCRIPT)
    assert server["args"] == ["serve", "--transport", "stdio"]
    assert server["env"] == {
        "SCOLLECT_BASE_URL": "https://api.example.test:8000",
        "SCOLLECT_API_KEY": "<set SCOLLECT_API_KEY>",
        "SCOLLECT_PIN": "<set SCOLLECT_PIN>",
        "COLLECTIONS_MCP_READ_ONLY": "true",
        # Claude Desktop starts the server elsewhere: a relative state dir would move with it.
        "COLLECTIONS_MCP_STATE_DIR": str(tmp_path / "relative-state"),
        "COLLECTIONS_MCP_METRICS_ADDRESS": "127.0.0.1:9464",  # the stdio server's metrics port
    }
    assert "SCOLLECT_API_KEY" in notes
    assert API_KEY not in json.dumps(snippet) + notes and PIN not in json.dumps(snippet) + notes


def test_config_vscode_prompts_for_secrets_instead_of_printing_them(tmp_path: Path) -> None:
    snippet, _ = config(
        "vscode", tmp_path, PROCURIOS_BASE_URL="https://crm.example.test", PROCURIOS_TOKEN=API_KEY,
    )  # fmt: skip
    server = snippet["servers"]["collections"]
    assert server["type"] == "stdio" and Path(server["command"]).samefile(SCRIPT)
    assert server["args"] == ["serve", "--transport", "stdio"]
    assert server["env"]["PROCURIOS_BASE_URL"] == "https://crm.example.test"
    assert server["env"]["PROCURIOS_TOKEN"] == "${input:procurios-token}"
    assert snippet["inputs"] == [
        {"type": "promptString", "id": "procurios-token", "description": "PROCURIOS_TOKEN for collections-mcp", "password": True}
    ]
    assert API_KEY not in json.dumps(snippet)


@pytest.mark.parametrize("kind", ["claude-desktop", "vscode"])
def test_config_never_prints_credentials_inside_a_vendor_url(tmp_path: Path, kind: str) -> None:
    """A base URL may carry user:password@ (HTTP basic credentials a proxy wants): it is a secret like the rest."""
    url = "https://apiuser:url-pass-secret-77@api.example.test:8000"
    snippet, notes = config(kind, tmp_path, SCOLLECT_BASE_URL=url, SCOLLECT_API_KEY=API_KEY, SCOLLECT_PIN=PIN)
    printed = json.dumps(snippet) + notes
    assert "url-pass-secret-77" not in printed and "apiuser" not in printed
    env = snippet["mcpServers" if kind == "claude-desktop" else "servers"]["collections"]["env"]
    expected = "<set SCOLLECT_BASE_URL>" if kind == "claude-desktop" else "${input:scollect-base-url}"
    assert env["SCOLLECT_BASE_URL"] == expected
    assert "SCOLLECT_BASE_URL" in notes


def test_doctor_shows_a_vendor_url_without_its_credentials(tmp_path: Path, closed_port: int) -> None:
    result = run(
        ["doctor"], tmp_path,
        SCOLLECT_BASE_URL=f"http://apiuser:url-pass-secret-77@127.0.0.1:{closed_port}", SCOLLECT_API_KEY=API_KEY,
        SCOLLECT_PIN=PIN,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"http://127.0.0.1:{closed_port}" in result.stdout
    assert "url-pass-secret-77" not in result.stdout + result.stderr


def test_config_http_has_the_url_and_a_bearer_placeholder(tmp_path: Path) -> None:
    snippet, notes = config("http", tmp_path)
    assert snippet == {
        "mcpServers": {
            "collections": {
                "type": "http",
                "url": "http://127.0.0.1:8000/mcp",
                "headers": {"Authorization": "Bearer <token>"},
            }
        }
    }
    assert "COLLECTIONS_MCP_HTTP_TOKENS" in notes


def test_config_http_points_at_the_public_url_when_one_is_set(tmp_path: Path) -> None:
    snippet, notes = config("http", tmp_path, COLLECTIONS_MCP_PUBLIC_URL="https://mcp.agency.test/")
    assert snippet["mcpServers"]["collections"]["url"] == "https://mcp.agency.test/mcp"
    assert "https://mcp.agency.test/mcp" in notes
    result = run(["config", "http", "--url", "https://other.test/mcp"], tmp_path, COLLECTIONS_MCP_PUBLIC_URL="https://mcp.agency.test")
    assert json.loads(result.stdout)["mcpServers"]["collections"]["url"] == "https://other.test/mcp"


def test_config_of_a_half_configured_installation_is_a_configuration_error(tmp_path: Path) -> None:
    result = run(["config", "claude-desktop"], tmp_path, SCOLLECT_BASE_URL="https://api.example.test", SCOLLECT_PIN=PIN)
    assert result.returncode == 2 and "SCOLLECT_API_KEY" in result.stderr
    assert result.stdout == "" and PIN not in result.stderr


@pytest.mark.anyio
async def test_the_claude_desktop_snippet_works_as_pasted(tmp_path: Path) -> None:
    """Launch exactly what the snippet says, from another directory with only the snippet's environment."""
    snippet, _ = config("claude-desktop", tmp_path, COLLECTIONS_MCP_SANDBOX="1")
    server = snippet["mcpServers"]["collections"]
    assert server["env"]["COLLECTIONS_MCP_SANDBOX"] == "true"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"], cwd=str(elsewhere))
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
    assert "scollect_get_account" in tools
    assert {"work_account", "take_payment", "log_call_outcome", "review_worklist"} <= prompts


@pytest.mark.parametrize("command", [["doctor"], ["config"]])
def test_help_says_what_the_command_does(tmp_path: Path, command: list[str]) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0 and "usage: collections-mcp" in result.stdout
    if command == ["config"]:
        assert "claude-desktop" in result.stdout and "vscode" in result.stdout and "http" in result.stdout
    else:
        assert "Exit 0" in result.stdout


@pytest.mark.anyio
async def test_the_vscode_snippet_works_as_pasted(tmp_path: Path, sandbox: RunningSandbox) -> None:
    """Launch what `.vscode/mcp.json` says, with VS Code's input variables filled in (here: the simulator's)."""
    scollect = sandbox.scollect
    snippet, _ = config(
        "vscode", tmp_path, SCOLLECT_BASE_URL=scollect.base_url, SCOLLECT_API_KEY=scollect.api_key, SCOLLECT_PIN=scollect.pin
    )
    answers = {"scollect-api-key": scollect.api_key, "scollect-pin": scollect.pin}  # what the person types once
    assert {entry["id"] for entry in snippet["inputs"]} == set(answers)
    server = snippet["servers"]["collections"]
    assert server["type"] == "stdio"
    env = {}
    for key, value in server["env"].items():
        for input_id, answer in answers.items():
            value = value.replace(f"${{input:{input_id}}}", answer)
        env[key] = value
    assert "${input:" not in json.dumps(env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = StdioServerParameters(command=server["command"], args=server["args"], env=env, cwd=str(elsewhere))
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        account = await client.call_tool("scollect_get_account", {"file_number": "R1000"})
    assert "scollect_get_account" in tools and not {"collect_get_debtor_contacts", "procurios_list_contact_moments"} & tools
    assert not account.is_error, account.content
    assert account.structured_content is not None and account.structured_content["file_number"] == "R1000"


@pytest.mark.anyio
async def test_the_http_snippet_works_as_pasted(tmp_path: Path) -> None:
    """`serve` with a token; the URL and Authorization header come from `config http`, only the token filled in."""
    token = "helpdesk-token-0123456789abcdef"
    tokens = json.dumps([{"client": "helpdesk", "token": token, "effects": ["read"]}])
    settings = {"COLLECTIONS_MCP_SANDBOX": "1", "COLLECTIONS_MCP_HTTP_TOKENS": tokens}
    async with serve_http(["--port", "0"], clean_env(tmp_path, **settings), tmp_path) as served:
        public_url = served.url.removesuffix("/mcp")  # what the operator sets once the port is known
        code, stdout, notes = await run_async(["config", "http"], tmp_path, COLLECTIONS_MCP_PUBLIC_URL=public_url, **settings)
        assert code == 0, notes
        assert token not in stdout + notes and "helpdesk" in notes
        entry = json.loads(stdout)["mcpServers"]["collections"]
        assert entry["type"] == "http" and entry["url"] == served.url
        headers = {name: value.replace("<token>", token) for name, value in entry["headers"].items()}
        http = httpx2.AsyncClient(headers=headers)
        async with http, Client(streamable_http_client(entry["url"], http_client=http)) as client:  # type: ignore[arg-type]
            phones = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert not phones.is_error, phones.content
    assert phones.structured_content is not None and phones.structured_content["phones"]


def test_a_voice_deployments_deadline_travels_into_the_client_config(tmp_path: Path) -> None:
    snippet, _ = config("claude-desktop", tmp_path, COLLECTIONS_MCP_SANDBOX="1", COLLECTIONS_MCP_CALL_DEADLINE_SECONDS="6")
    assert snippet["mcpServers"]["collections"]["env"]["COLLECTIONS_MCP_CALL_DEADLINE_SECONDS"] == "6.0"
