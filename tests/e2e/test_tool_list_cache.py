"""`tools/list` is built once per protocol version and shared (server/core/tool_list.py); what each client sees is
still its own: the filters for views, toolsets on demand and token grants work on the shared list without changing
it, in whichever order clients of different kinds ask."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from collections_mcp.server.app import ServerConfig, build_server
from tests.e2e.apps_host import APPS_HOST

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])


def listed(tools: Any) -> dict[str, Any]:
    return {tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools.tools}


@ERAS
async def test_the_list_is_built_once_per_protocol_version_and_every_client_gets_the_same(
    mode: str, server_config: ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    sdk_list_tools = MCPServer.list_tools

    async def counting(self: MCPServer[Any]) -> Any:  # the SDK's own method, counted, not replaced
        built.append("list")
        return await sdk_list_tools(self)

    monkeypatch.setattr(MCPServer, "list_tools", counting)
    server = build_server(server_config)
    async with Client(server, mode=mode) as first:  # type: ignore[arg-type]
        one = listed(await first.list_tools())
        two = listed(await first.list_tools())
    async with Client(server, mode=mode) as second:  # type: ignore[arg-type]
        three = listed(await second.list_tools())
    assert one == two == three and len(one) > 40
    assert built == ["list"]


@ERAS
async def test_a_plain_client_and_an_apps_host_each_see_their_own_list_in_either_order(
    mode: str, server_config: ServerConfig
) -> None:
    server = build_server(server_config)
    async with Client(server, mode=mode, extensions=[APPS_HOST]) as host:  # type: ignore[arg-type]
        first_host = listed(await host.list_tools())
    async with Client(server, mode=mode) as plain:  # type: ignore[arg-type]
        plain_view = listed(await plain.list_tools())
    async with Client(server, mode=mode, extensions=[APPS_HOST]) as host:  # type: ignore[arg-type]
        second_host = listed(await host.list_tools())
    assert first_host == second_host, "a plain client's filtering changed nothing in the shared list"
    assert "collect_get_debtor_activity" in first_host and "collect_get_debtor_activity" not in plain_view
    assert first_host["accounts_snapshot"]["_meta"]["ui"]["resourceUri"].startswith("ui://")
    assert "ui" not in plain_view["accounts_snapshot"].get("_meta", {})
    assert {name: tool for name, tool in first_host.items() if name != "collect_get_debtor_activity"}.keys() == plain_view.keys()


async def test_toolsets_enabled_on_demand_appear_in_the_shared_list(server_config: ServerConfig) -> None:
    config = replace(server_config, settings=server_config.settings.model_copy(update={"dynamic_toolsets": True}))
    server = build_server(config)
    async with Client(server) as client:
        before = listed(await client.list_tools())
        enabled = await client.call_tool("enable_toolset", {"toolset": "procurios"})
        after = listed(await client.list_tools())
    assert not enabled.is_error
    assert not any(name.startswith("procurios_") for name in before)
    assert any(name.startswith("procurios_") for name in after) and before.keys() < after.keys()
