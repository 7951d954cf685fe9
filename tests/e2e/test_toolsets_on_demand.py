"""Toolsets on demand (COLLECTIONS_MCP_DYNAMIC_TOOLSETS=1), through the SDK's Client in both protocol eras:
the server starts with the core toolset and two tools of its own; enabling a toolset adds its tools to the
next tools/list and tells the client (a list_changed notification up to 2025-11-25, a subscriptions/listen
event from 2026-07-28); policy still applies to every tool enabled later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ToolListChangedNotification

from collections_mcp.sandbox.http import serve_app
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.access import TokenGrant
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.transport.http import build_http_app
from tests.conftest import Wire
from tests.helpers import failed, ok

pytestmark = pytest.mark.anyio

CORE = {"accounts_snapshot", "accounts_check_contact", "accounts_verify_identity", "accounts_worklist", "list_toolsets",
        "enable_toolset"}
ERAS = ["legacy", "2026-07-28"]


def on_demand(config: ServerConfig, **settings: Any) -> ServerConfig:
    return replace(config, settings=config.settings.model_copy(update={"dynamic_toolsets": True, **settings}))


async def names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


class Notifications:
    """What the server sent a legacy client outside responses."""

    def __init__(self) -> None:
        self.tools_changed = 0

    async def __call__(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            self.tools_changed += 1


async def enable_and_wait_for_the_change(client: Client, toolset: str, notifications: Notifications) -> dict[str, Any]:
    """enable_toolset, and the change notice of this era (the listen stream is open before the call)."""
    if client.protocol_version < "2026-07-28":
        before = notifications.tools_changed
        result = await ok(client, "enable_toolset", {"toolset": toolset})
        assert notifications.tools_changed == before + 1, "notifications/tools/list_changed arrived before the result"
        return result
    async with client.listen(tools_list_changed=True) as events:
        result = await ok(client, "enable_toolset", {"toolset": toolset})
        with anyio.fail_after(5):
            event = await events.__anext__()
    assert type(event).__name__ == "ToolsListChanged"
    return result


@pytest.mark.parametrize("mode", ERAS)
async def test_the_core_first_then_an_enabled_toolset_appears_on_the_next_list(
    server_config: ServerConfig, wire: Wire, mode: str
) -> None:
    notifications = Notifications()
    async with Client(build_server(on_demand(server_config)), mode=mode, message_handler=notifications) as client:
        if mode == "legacy":
            assert client.server_capabilities.tools is not None and client.server_capabilities.tools.list_changed
        assert await names(client) == CORE
        listed = await ok(client, "list_toolsets", {})
        by_name = {entry["name"]: entry for entry in listed["toolsets"]}
        assert set(by_name) == {"scollect", "collect", "billing_care", "procurios", "accounts"}
        assert by_name["accounts"]["enabled"] and not by_name["scollect"]["enabled"]
        assert "scollect_get_account" in by_name["scollect"]["tools"]

        refused = await failed(client, "scollect_get_phones", {"file_number": "R1000"})
        assert "toolset 'scollect', which is not enabled yet" in refused and "enable_toolset" in refused
        assert wire.paths() == []

        enabled = await enable_and_wait_for_the_change(client, "scollect", notifications)
        assert enabled["toolset"] == "scollect" and "scollect_get_phones" in enabled["added_tools"]
        assert await names(client) == CORE | set(by_name["scollect"]["tools"])
        assert (await ok(client, "scollect_get_phones", {"file_number": "R1000"}))["file_number"] == "R1000"
        assert wire.paths() == ["GET /getphones/R1000"]

        again = await ok(client, "enable_toolset", {"toolset": "scollect"})
        assert again["added_tools"] == []
        bad = await failed(client, "enable_toolset", {"toolset": "quickbooks"})
        assert "no toolset 'quickbooks'" in bad and "scollect, collect, billing_care, procurios, accounts" in bad
    if mode == "legacy":
        assert notifications.tools_changed == 1, "nothing was added the second time: no second notification"
    audit = SqliteAuditLog(audit_path(server_config.settings.state_dir))
    try:
        phones = await audit.query(None, "scollect_get_phones", 10)
        enables = await audit.query(None, "enable_toolset", 10)
    finally:
        audit.close()
    assert sorted(record.outcome for record in phones) == ["ok", "refused:not_enabled"]
    assert sorted(record.outcome for record in enables) == ["invalid_arguments", "ok", "ok"]


async def test_enabled_toolsets_belong_to_the_server_not_the_connection(server_config: ServerConfig) -> None:
    server = build_server(on_demand(server_config))
    async with Client(server, mode="legacy") as first, Client(server) as second:
        assert await names(second) == CORE
        await ok(first, "enable_toolset", {"toolset": "procurios"})
        assert "procurios_create_contact_moment" in await names(second)


@pytest.mark.parametrize("mode", ERAS)
async def test_enabling_never_widens_read_only_profile_or_allowlist(server_config: ServerConfig, mode: str) -> None:
    config = on_demand(server_config, read_only=True, profile="voice", tools=["accounts_snapshot", "scollect_add_note",
                                                                            "scollect_get_account"])  # fmt: skip
    async with Client(build_server(config), mode=mode) as client:
        assert await names(client) == {"accounts_snapshot", "list_toolsets", "enable_toolset"}
        listed = await ok(client, "list_toolsets", {})
        assert [entry["name"] for entry in listed["toolsets"]] == ["accounts"], "no voice tool of scollect that reads"
        refused = await failed(client, "enable_toolset", {"toolset": "scollect"})
        assert "expected one of accounts" in refused
        assert "Unknown tool" in await failed(client, "scollect_add_note", {"file_number": "R1000"})


IVR_TOKEN = "ivr-token-0123456789abcdefghijkl"


@pytest.fixture
async def http_url(server_config: ServerConfig) -> AsyncIterator[str]:
    grants = [TokenGrant.model_validate({"client": "ivr", "token": IVR_TOKEN, "effects": ["read"]})]
    config = on_demand(server_config, http_tokens=grants)
    server = build_server(config)
    app = build_http_app(server, config.settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_token_still_sees_and_may_use_only_its_effects_after_enabling(http_url: str, wire: Wire, mode: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {IVR_TOKEN}"})
    async with http, Client(streamable_http_client(f"{http_url}/mcp", http_client=http), mode=mode) as client:
        await ok(client, "enable_toolset", {"toolset": "scollect"})
        listed = await names(client)
        refused = await failed(client, "scollect_add_note", {"file_number": "R1000", "collector_name": "x", "message": "y"})
    assert "scollect_get_phones" in listed and "scollect_add_note" not in listed
    assert "Refused by authorization" in refused
    assert wire.paths() == []
