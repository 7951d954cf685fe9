"""Which vendors are enabled, and the startup errors for half-configured ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.settings import ConfigError, ServerSettings, plan_vendors


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
    from server.app import ServerConfig
    from server.settings import load_vendor_settings

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
