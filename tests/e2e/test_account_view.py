"""The account view as MCP Apps metadata: what a host that negotiated Apps sees, and what every other client does
not (both protocol eras), the `ui://` resource itself, and its view-only helper going through the policy pipeline.
The view in a real browser: test_account_view_browser.py."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.apps import APP_MIME_TYPE

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.core.registry import check_spec
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.views import OFFERED_TOOLS_MARKER, views_extension
from collections_mcp.tools.common.models import NoArgs
from collections_mcp.tools.common.spec import Effect, ToolSpec
from tests.e2e.apps_host import APPS_HOST
from tests.helpers import Clock, text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])

VIEW = "ui://collections/account.html"
RENDERED_IN_THE_VIEW = {"accounts_snapshot", "collect_get_debtor"}
VIEW_ONLY = {"collect_get_debtor_activity"}


def ui_of(tool: Any) -> Any:
    return (tool.meta or {}).get("ui")


@ERAS
async def test_a_host_that_negotiated_apps_sees_the_view_and_its_helper(mode: str, server_config: ServerConfig) -> None:
    async with Client(build_server(server_config), mode=mode, extensions=[APPS_HOST]) as host:
        tools = {tool.name: tool for tool in (await host.list_tools()).tools}
        with_ui = {name: ui_of(tool) for name, tool in tools.items() if ui_of(tool)}
        assert with_ui == {name: {"resourceUri": VIEW} for name in RENDERED_IN_THE_VIEW} | {
            name: {"resourceUri": VIEW, "visibility": ["app"]} for name in VIEW_ONLY
        }
        [resource] = [r for r in (await host.list_resources()).resources if r.uri.startswith("ui://")]
        assert (resource.uri, resource.mime_type, resource.title) == (VIEW, APP_MIME_TYPE, "Account workspace")
        # Other tests run contact plans on this debtor (each adds contacts): compare with its log as it is now.
        every = (await host.call_tool("collect_get_debtor_contacts", {"rowid": 101, "limit": 200})).structured_content
        helper = await host.call_tool("collect_get_debtor_activity", {"rowid": 101})
    assert not helper.is_error, text_of(helper)
    assert helper.structured_content is not None and every is not None
    assert helper.structured_content["contacts_total"] == every["total"] >= 3
    newest_first = [c["rowid"] for c in every["items"]][::-1][:5]
    assert [c["rowid"] for c in helper.structured_content["recent_contacts"]] == newest_first, "newest first"


async def test_the_helper_reads_the_newest_entries_of_a_long_log_with_a_second_read_of_its_tail(
    server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    log = sandbox.collect.app.state.request_log
    async with Client(build_server(server_config), extensions=[APPS_HOST]) as host:
        every = (await host.call_tool("collect_get_debtor_contacts", {"rowid": 104, "limit": 200})).structured_content
        start = len(log)
        activity = (await host.call_tool("collect_get_debtor_activity", {"rowid": 104})).structured_content
    assert every is not None and activity is not None
    assert activity["contacts_total"] == every["total"] > 5
    assert activity["recent_contacts"] == every["items"][::-1][:5], "the 5 newest, newest first"
    contact_reads = [entry.query for entry in list(log)[start:] if entry.path.endswith("/debtor/104/contact")]
    pages = [read["page"] for read in contact_reads]
    assert pages[0] == "1" and len(pages) >= 2 and pages[-1] != "1", "the head, then the tail"


@ERAS
async def test_a_client_that_did_not_negotiate_apps_gets_no_ui_metadata(mode: str, server_config: ServerConfig) -> None:
    async with Client(build_server(server_config), mode=mode) as plain:
        tools = {tool.name: tool for tool in (await plain.list_tools()).tools}
        resources = (await plain.list_resources()).resources
        refused = await plain.call_tool("collect_get_debtor_activity", {"rowid": 101})
    assert set(tools) >= RENDERED_IN_THE_VIEW
    assert not VIEW_ONLY & set(tools), "a view's helper is not offered to a client that renders no views"
    assert [name for name, tool in tools.items() if ui_of(tool) is not None] == []
    assert [r.uri for r in resources if r.uri.startswith("ui://")] == []
    assert refused.is_error
    assert "only from a host that renders MCP Apps views" in text_of(refused)
    audit = SqliteAuditLog(audit_path(server_config.settings.state_dir))
    try:
        records = await audit.query(None, "collect_get_debtor_activity", 10)
    finally:
        audit.close()
    assert [record.outcome for record in records] == ["refused:authorization"]


@ERAS
async def test_over_streamable_http_the_view_follows_what_each_request_negotiated(
    mode: str, server_config: ServerConfig
) -> None:
    server = build_server(server_config)
    app = server.streamable_http_app(streamable_http_path="/mcp")
    async with server.session_manager.run(), serve_app(app) as base_url:
        async with Client(f"{base_url}/mcp", mode=mode, extensions=[APPS_HOST]) as host:  # type: ignore[arg-type]
            host_tools = {tool.name: ui_of(tool) for tool in (await host.list_tools()).tools}
            helper = await host.call_tool("collect_get_debtor_activity", {"rowid": 101})
        async with Client(f"{base_url}/mcp", mode=mode) as plain:  # type: ignore[arg-type]
            plain_tools = {tool.name: ui_of(tool) for tool in (await plain.list_tools()).tools}
            refused = await plain.call_tool("collect_get_debtor_activity", {"rowid": 101})
    assert host_tools["accounts_snapshot"] == {"resourceUri": VIEW} and "collect_get_debtor_activity" in host_tools
    assert not helper.is_error, text_of(helper)
    assert set(plain_tools.values()) == {None} and "collect_get_debtor_activity" not in plain_tools
    assert refused.is_error


@ERAS
async def test_the_result_is_as_complete_with_or_without_the_view(mode: str, server_config: ServerConfig) -> None:
    fixed = replace(server_config, clock=Clock(datetime(2026, 3, 4, 16, 0, tzinfo=UTC)))
    results = []
    for extensions in ([APPS_HOST], None):
        async with Client(build_server(fixed), mode=mode, extensions=extensions) as client:
            for tool, arguments in (("accounts_snapshot", {"file_number": "R1000"}), ("collect_get_debtor", {"rowid": 101})):
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, text_of(result)
                results.append((text_of(result), result.structured_content))
    assert results[:2] == results[2:]


async def test_the_resource_is_one_self_contained_page_with_its_csp(server_config: ServerConfig) -> None:
    async with Client(build_server(server_config), extensions=[APPS_HOST]) as host:
        [contents] = (await host.read_resource(VIEW)).contents
    assert contents.mime_type == APP_MIME_TYPE
    assert contents.meta == {"ui": {"csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [],
                                            "baseUriDomains": []}, "prefersBorder": True}}  # fmt: skip
    html = contents.text  # type: ignore[union-attr]
    assert html.startswith("<!doctype html>")
    assert not re.search(r"(src|href)\s*=|@import|url\(|<link|https?://", html, re.IGNORECASE), "loads nothing remote"
    offered = json.loads(re.search(r'id="offered-tools">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert {"scollect_log_attempt", "scollect_run_payment", "collect_get_debtor_activity"} <= set(offered)


async def test_in_read_only_mode_the_page_offers_no_action(server_config: ServerConfig) -> None:
    read_only = replace(server_config, settings=server_config.settings.model_copy(update={"read_only": True}))
    async with Client(build_server(read_only), extensions=[APPS_HOST]) as host:
        [contents] = (await host.read_resource(VIEW)).contents
    offered = json.loads(re.search(r'id="offered-tools">(.*?)</script>', contents.text).group(1))  # type: ignore[union-attr]
    assert "accounts_snapshot" in offered
    assert [name for name in offered if re.search(r"_(log|add|update|create|record|run|send)_", name)] == []


def _spec(**ui: Any) -> Any:
    async def handler(ctx: Any, args: NoArgs) -> NoArgs:
        return args

    return ToolSpec("x_tool", "X", Effect.READ, "GET /x", NoArgs, NoArgs, handler, **ui)


def test_a_missing_or_broken_page_stops_the_server_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"views/nowhere.html does not exist"):
        views_extension([_spec(view="nowhere")], set())
    with pytest.raises(TypeError, match="needs the `view` that calls it"):
        check_spec(_spec(view_only=True))
    assert views_extension([_spec()], set()) is None, "no view, no extension: the capability is not advertised"
    assert OFFERED_TOOLS_MARKER not in views_extension([_spec(view="account")], {"x_tool"}).resources()[0].resource.text  # type: ignore[union-attr, attr-defined]
