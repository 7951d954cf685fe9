"""Profiles (COLLECTIONS_MCP_PROFILE): a ready tool set per kind of agent, as an MCP client's tools/list shows
it, combined with toolsets, read-only mode and the allowlist exactly as those combine (each only removes)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import ValidationError

from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.registry import EFFECT_META
from collections_mcp.server.settings import ServerSettings
from collections_mcp.tools.common.spec import Profile

pytestmark = pytest.mark.anyio

VOICE = {
    "accounts_snapshot", "accounts_verify_identity", "accounts_check_contact", "scollect_log_attempt",
    "scollect_add_note", "scollect_create_callback", "scollect_update_phone", "scollect_run_payment",
    "collect_run_contact_plan",
}  # fmt: skip


def configured(config: ServerConfig, **settings: Any) -> ServerConfig:
    return replace(config, settings=config.settings.model_copy(update=settings))


async def listed(config: ServerConfig, mode: str = "auto") -> dict[str, str]:
    async with Client(build_server(config), mode=mode) as client:
        return {tool.name: (tool.meta or {})[EFFECT_META] for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_voice_offers_the_tools_a_live_call_needs(server_config: ServerConfig, mode: str) -> None:
    assert set(await listed(configured(server_config, profile=Profile.VOICE), mode)) == VOICE


async def test_desk_offers_every_read_and_write_tool_and_nothing_that_contacts_moves_money_or_overwrites(
    server_config: ServerConfig,
) -> None:
    everything = await listed(server_config)
    desk = await listed(configured(server_config, profile=Profile.DESK))
    assert set(desk) == {name for name, effect in everything.items() if effect in ("read", "write")}
    assert {"scollect_add_note", "collect_run_contact_plan", "billing_care_update_collections_action"} <= set(desk)
    assert {"contact", "money", "destructive"} & set(everything.values()) == {"contact", "money", "destructive"}


async def test_profiles_combine_with_toolsets_read_only_and_the_allowlist(server_config: ServerConfig) -> None:
    voice = {"profile": Profile.VOICE}
    assert set(await listed(configured(server_config, **voice, read_only=True))) == {
        "accounts_snapshot", "accounts_verify_identity", "accounts_check_contact"}  # fmt: skip
    assert set(await listed(configured(server_config, **voice, toolsets=["collect"]))) == {"collect_run_contact_plan"}
    allowlist = ["scollect_add_note", "scollect_get_account", "accounts_snapshot"]
    assert set(await listed(configured(server_config, **voice, tools=allowlist))) == {"scollect_add_note", "accounts_snapshot"}
    desk = configured(server_config, profile=Profile.DESK, tools=["scollect_run_payment", "scollect_get_phones"])
    assert set(await listed(desk)) == {"scollect_get_phones"}, "the allowlist cannot add what the profile removed"


def test_the_profile_setting_names_what_it_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTIONS_MCP_PROFILE", " Voice ")
    assert ServerSettings(_env_file=None, state_dir=tmp_path).profile is Profile.VOICE  # type: ignore[call-arg]
    monkeypatch.delenv("COLLECTIONS_MCP_PROFILE")
    assert ServerSettings(_env_file=None, state_dir=tmp_path).profile is Profile.ALL  # type: ignore[call-arg]
    monkeypatch.setenv("COLLECTIONS_MCP_PROFILE", "kiosk")
    with pytest.raises(ValidationError) as refused:
        ServerSettings(_env_file=None, state_dir=tmp_path)  # type: ignore[call-arg]
    assert "'voice', 'desk' or 'all'" in str(refused.value) and "kiosk" not in str(refused.value).split("input_value")[0]
