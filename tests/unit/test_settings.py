"""Which vendors are enabled, and the startup errors for half-configured ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.settings import ConfigError, ServerSettings, plan_vendors


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("SCOLLECT_BASE_URL", "SCOLLECT_API_KEY", "SCOLLECT_PIN", "COLLECTIONS_MCP_SANDBOX",
                 "COLLECTIONS_MCP_TOOLSETS", "COLLECTIONS_MCP_READ_ONLY", "COLLECTIONS_MCP_TOOLS"):
        monkeypatch.delenv(name, raising=False)


def test_no_vendor_configured_means_sandbox() -> None:
    plan = plan_vendors(ServerSettings())
    assert plan.sandbox and plan.vendors == {}


def test_fully_configured_vendor_is_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOLLECT_BASE_URL", "https://api.example:8000")
    monkeypatch.setenv("SCOLLECT_API_KEY", "key")
    monkeypatch.setenv("SCOLLECT_PIN", "C2C")
    plan = plan_vendors(ServerSettings())
    assert not plan.sandbox and list(plan.vendors) == ["scollect", "accounts"]  # accounts follow scollect


def test_sandbox_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOLLECT_BASE_URL", "https://api.example:8000")
    monkeypatch.setenv("SCOLLECT_API_KEY", "key")
    monkeypatch.setenv("SCOLLECT_PIN", "C2C")
    monkeypatch.setenv("COLLECTIONS_MCP_SANDBOX", "1")
    assert plan_vendors(ServerSettings()).sandbox


def test_url_without_credentials_names_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOLLECT_BASE_URL", "https://api.example:8000")
    with pytest.raises(ConfigError, match=r"SCOLLECT_API_KEY, SCOLLECT_PIN missing"):
        plan_vendors(ServerSettings())


def test_credentials_without_url_name_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOLLECT_API_KEY", "key")
    monkeypatch.setenv("SCOLLECT_PIN", "C2C")
    with pytest.raises(ConfigError, match="SCOLLECT_BASE_URL missing"):
        plan_vendors(ServerSettings())


def test_secrets_are_not_in_the_half_configured_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOLLECT_API_KEY", "very-secret-key")
    with pytest.raises(ConfigError) as caught:
        plan_vendors(ServerSettings())
    assert "very-secret-key" not in str(caught.value)


def test_toolsets_are_a_comma_list_of_known_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTIONS_MCP_TOOLSETS", " Scollect , ")
    assert ServerSettings().toolsets == ["scollect"]
    monkeypatch.setenv("COLLECTIONS_MCP_TOOLSETS", "scollect,nope")
    with pytest.raises(ValidationError, match="unknown toolset"):
        ServerSettings()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SCOLLECT_BASE_URL=https://api.example:8000\n")
    with pytest.raises(ConfigError, match="SCOLLECT_API_KEY"):
        plan_vendors(ServerSettings())


def test_tool_allowlist_narrows_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections_mcp.server.app import ServerConfig
    from collections_mcp.server.settings import load_vendor_settings

    monkeypatch.setenv("COLLECTIONS_MCP_TOOLS", "scollect_get_account, scollect_add_note")
    settings = ServerSettings()
    vendors = load_vendor_settings()  # enabled or not, every toolset is a candidate here
    selected = [spec.name for _, spec in ServerConfig(settings=settings, vendors=vendors).selected()]
    assert selected == ["scollect_get_account", "scollect_add_note"]
    read_only = ServerConfig(settings=settings.model_copy(update={"read_only": True}), vendors=vendors).selected()
    assert [spec.name for _, spec in read_only] == ["scollect_get_account"]
    monkeypatch.setenv("COLLECTIONS_MCP_TOOLS", "scollect_get_acount")
    with pytest.raises(ValidationError, match="unknown tool"):
        ServerSettings()


def _documented_variables() -> dict[str, str]:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    pairs = [line.split("=", 1) for line in example.read_text().splitlines() if line and not line.startswith("#")]
    return {name.strip(): value for name, value in pairs}


def test_env_example_documents_every_setting() -> None:
    TOOLSETS = installed_catalog().by_name
    from collections_mcp.tools.accounts.settings import AccountsSettings

    documented = set(_documented_variables())
    expected = set()
    for name, field in ServerSettings.model_fields.items():
        expected.add(field.validation_alias if isinstance(field.validation_alias, str) else f"COLLECTIONS_MCP_{name.upper()}")
    vendor_classes = {toolset.settings_cls for toolset in TOOLSETS.values()} | {AccountsSettings}
    for model in vendor_classes:
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            if field.exclude:  # set by the server, never from the environment
                continue
            if model is AccountsSettings and name in ("base_url", "timeout_seconds"):
                continue  # inherited; the accounts toolset has no connection of its own (it uses Scollect's)
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                alias = str(alias.choices[0])
            expected.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    assert sorted(expected - documented) == []
    assert sorted(documented - expected) == []


def test_env_example_copied_to_dotenv_as_is_starts_the_sandbox(tmp_path: Path) -> None:
    """The README says: copy .env.example to .env and fill in what you use. Unfilled (empty) lines are unset."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = ServerSettings()
    plan = plan_vendors(settings)
    assert plan.sandbox and plan.vendors == {}
    assert settings.http_tokens == [] and settings.read_only is False and settings.sandbox is False
    assert settings.state_dir != Path() and settings.state_dir.is_absolute()


def test_unparsable_list_setting_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(sys.executable).with_name("collections-mcp")
    (tmp_path / ".env").write_text("COLLECTIONS_MCP_HTTP_TOKENS=not json\n")
    done = subprocess.run([str(script), "tools"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "configuration error: COLLECTIONS_MCP_HTTP_TOKENS could not be parsed" in done.stderr
    assert "Traceback" not in done.stderr
