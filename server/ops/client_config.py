"""`collections-mcp config claude-desktop | vscode | http`: a client set-up for THIS installation, ready to paste.

The snippet names the absolute path of this installation's console script (a client launches it from its own
working directory, where neither PATH nor this checkout's .env apply), so it also carries the variables this
installation is configured with. Secret values are never printed: Claude Desktop gets `<set NAME>`
placeholders, VS Code gets `${input:...}` variables it prompts for once and keeps in its secret storage.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.core.redaction import has_url_credentials
from collections_mcp.server.settings import ServerSettings, plan_vendors
from collections_mcp.tools.common.settings import VendorSettings

ClientKind = Literal["claude-desktop", "vscode", "http"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("claude-desktop", "vscode", "http")
SCRIPT = "collections-mcp"
STDIO_ARGS = ["serve", "--transport", "stdio"]
DEFAULT_HTTP_URL = "http://127.0.0.1:8000/mcp"
TOKEN_PLACEHOLDER = "<token>"

# Server settings worth carrying into a client's launch environment. An allowlist, not "every
# COLLECTIONS_MCP_* that is set": HTTP tokens and OAuth client secrets live under the same prefix.
_SERVER_FIELDS = (
    "sandbox", "read_only", "toolsets", "state_dir", "log_level", "confirm", "idempotency_window_seconds",
    "call_deadline_seconds", "breaker_failures", "breaker_cooldown_seconds", "metrics_address",
    "database_url",  # a stdio server sharing the replicas' database (secret: a placeholder is printed)
    "secret_keys",  # the replicas' shared request_state keys (secret: a placeholder is printed)
)  # fmt: skip


@dataclass(frozen=True)
class EnvVariable:
    """One environment variable a settings class reads."""

    name: str
    field: str
    secret: bool
    description: str | None


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return any(_mentions_secret(arg) for arg in get_args(annotation))
    return False


def _env_name(settings_cls: type[BaseSettings], field: str, info: FieldInfo) -> str:
    """The variable pydantic-settings reads for a field: its alias when it has one, else prefix + name."""
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices):
        first = next((choice for choice in alias.choices if isinstance(choice, str)), None)
        if first is not None:
            return first.upper()
    return f"{settings_cls.model_config.get('env_prefix', '')}{field}".upper()


def env_variables(settings_cls: type[BaseSettings]) -> list[EnvVariable]:
    """Every variable a settings class reads from the environment (fields the server sets itself excluded)."""
    return [
        EnvVariable(_env_name(settings_cls, field, info), field, _mentions_secret(info.annotation), info.description)
        for field, info in settings_cls.model_fields.items()
        if info.exclude is not True
    ]


def vendor_env_variables() -> list[EnvVariable]:
    """The variables of every toolset the server knows, in registry order."""
    return [variable for toolset in installed_catalog().by_name.values() for variable in env_variables(toolset.settings_cls)]


def secret_placeholder(name: str) -> str:
    return f"<set {name}>"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        # The client starts the server in a directory of its own choosing: relative paths would move.
        return str(value.expanduser().absolute())
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _explicit(settings: BaseSettings, fields: Iterable[str] | None = None) -> Iterable[tuple[EnvVariable, Any]]:
    """Variables set explicitly (environment or .env) to a non-empty value; defaults are left to the server."""
    wanted = set(fields) if fields is not None else None
    for variable in env_variables(type(settings)):
        if wanted is not None and variable.field not in wanted:
            continue
        if variable.field not in settings.model_fields_set:
            continue
        value = getattr(settings, variable.field)
        if value is None or value == "" or (isinstance(value, SecretStr) and not value.get_secret_value()):
            continue
        yield variable, value


@dataclass(frozen=True)
class LaunchEnv:
    """The environment a stdio client should launch the server with; secrets only by name."""

    values: dict[str, str]
    secrets: list[str]


def launch_env(settings: ServerSettings, vendor_settings: dict[str, VendorSettings] | None = None) -> LaunchEnv:
    """Variables of the enabled vendors (and of connection-less toolsets) plus the allowlisted server settings.

    Half-configured vendors raise ConfigError, exactly as `serve` would: a snippet for a server that cannot
    start is no use.
    """
    plan = plan_vendors(settings, vendor_settings)
    loaded = vendor_settings if vendor_settings is not None else {name: ts.settings_cls() for name, ts in installed_catalog().by_name.items()}
    values: dict[str, str] = {}
    secrets: list[str] = []
    for variable, value in _explicit(settings, [field for field in _SERVER_FIELDS if field in ServerSettings.model_fields]):
        if variable.secret or isinstance(value, SecretStr):
            values[variable.name] = secret_placeholder(variable.name)
            secrets.append(variable.name)
        else:
            values[variable.name] = _text(value)
    for name, toolset in installed_catalog().by_name.items():
        if settings.toolsets is not None and name not in settings.toolsets:
            continue
        vendor = plan.vendors.get(name)
        if vendor is None:
            # Toolsets without a connection of their own (nothing required) only tune behaviour: keep their settings.
            if toolset.settings_cls.required or name not in loaded:
                continue
            vendor = loaded[name]
        for variable, value in _explicit(vendor):
            # A URL with user:password@ in it is as secret as a password field: never printed, even in part.
            if variable.secret or isinstance(value, SecretStr) or (isinstance(value, str) and has_url_credentials(value)):
                values[variable.name] = secret_placeholder(variable.name)
                secrets.append(variable.name)
            else:
                values[variable.name] = _text(value)
    return LaunchEnv(values, secrets)


def console_script() -> str:
    """Absolute path of this installation's `collections-mcp` (the venv's scripts directory first)."""
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in candidates:
        for name in (SCRIPT, f"{SCRIPT}.exe"):
            path = folder / name
            if path.is_file() and os.access(path, os.X_OK):
                return str(path.absolute())
    found = shutil.which(SCRIPT)
    if found:
        return str(Path(found).absolute())
    raise FileNotFoundError(
        f"cannot find the {SCRIPT} console script next to {sys.executable}; install the project (pip install -e .)"
    )


def _input_id(name: str) -> str:
    return name.lower().replace("_", "-")


def claude_desktop(name: str, command: str, env: LaunchEnv) -> dict[str, Any]:
    """`claude_desktop_config.json`: {"mcpServers": {name: {command, args, env}}}."""
    return {"mcpServers": {name: {"command": command, "args": list(STDIO_ARGS), "env": dict(env.values)}}}


def vscode(name: str, command: str, env: LaunchEnv) -> dict[str, Any]:
    """`.vscode/mcp.json`: {"servers": {name: {"type": "stdio", ...}}}; secrets as prompted input variables."""
    values = {key: f"${{input:{_input_id(key)}}}" if key in env.secrets else value for key, value in env.values.items()}
    config: dict[str, Any] = {
        "servers": {name: {"type": "stdio", "command": command, "args": list(STDIO_ARGS), "env": values}}
    }
    if env.secrets:
        config["inputs"] = [
            {"type": "promptString", "id": _input_id(secret), "description": f"{secret} for collections-mcp", "password": True}
            for secret in env.secrets
        ]
    return config


def http(name: str, url: str) -> dict[str, Any]:
    """An MCP client over streamable HTTP with a bearer token (Claude Code `.mcp.json`, Cursor and others)."""
    return {"mcpServers": {name: {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}}}}


def http_url(settings: ServerSettings) -> str:
    """Where HTTP clients reach this server: COLLECTIONS_MCP_PUBLIC_URL (a proxy's address, say) + /mcp, the
    same URL the server names in its protected-resource metadata (its default is `serve`'s own address)."""
    public = settings.public_url.strip().rstrip("/")
    return f"{public}/mcp" if public else DEFAULT_HTTP_URL


def _http_notes(settings: ServerSettings, url: str) -> list[str]:
    clients = sorted({grant.client for grant in settings.http_tokens})
    if clients:
        token = f"Replace {TOKEN_PLACEHOLDER} with the token of one of the clients in COLLECTIONS_MCP_HTTP_TOKENS: {', '.join(clients)}."
    elif settings.oauth_introspection_url:
        token = f"Replace {TOKEN_PLACEHOLDER} with an access token from {settings.oauth_issuer or 'your authorization server'}."
    else:
        token = (f"Replace {TOKEN_PLACEHOLDER} with a token you configure in COLLECTIONS_MCP_HTTP_TOKENS (none is set yet; "
                 "see .env.example).")  # fmt: skip
    return [f"Start the server with `{SCRIPT} serve` (clients reach it at {url}).", token]


def client_config(kind: ClientKind, settings: ServerSettings, *, name: str = "collections", url: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The snippet and notes for the person pasting it (notes go to stderr, so stdout stays pure JSON)."""
    if kind == "http":
        url = url or http_url(settings)
        return http(name, url), _http_notes(settings, url)
    command = console_script()
    env = launch_env(settings)
    notes = []
    if env.secrets:
        if kind == "vscode":
            notes.append(f"VS Code asks once for {', '.join(env.secrets)} and keeps them in its secret storage.")
        else:
            notes.append(f"Fill in {', '.join(env.secrets)} where the snippet says <set NAME> (secrets are never printed).")
    if not any(not key.startswith("COLLECTIONS_MCP_") for key in env.values):
        notes.append("No vendor is configured: the server will run against the built-in sandbox vendors.")
    where = "claude_desktop_config.json" if kind == "claude-desktop" else ".vscode/mcp.json"
    notes.append(f"Paste into {where}, then restart the client.")
    return (claude_desktop(name, command, env) if kind == "claude-desktop" else vscode(name, command, env)), notes


def print_client_config(settings: ServerSettings, kind: ClientKind, name: str, url: str | None) -> int:
    snippet, notes = client_config(kind, settings, name=name, url=url)
    print(json.dumps(snippet, indent=2))
    for note in notes:
        print(note, file=sys.stderr)
    return 0
