"""Tool-schema snapshots: every tool's public definition, as a client's `tools/list` shows it, is committed.

One JSON file per tool under tests/toolsnaps/ (name, title, description, input and output schema,
annotations, `_meta`), as a host that renders MCP Apps views lists them: the fullest view, with `_meta.ui` and
the view-only helpers (a client without views sees the same tools less those, checked here too), with the approval
inbox on (its `approvals_status` is offered only then). A tool that changes without its snapshot being refreshed fails here, and so does a tool
without a snapshot or a snapshot without a tool: the schemas are our public API, so every change to them is a
visible, reviewed diff. Refresh on purpose with `UPDATE_TOOLSNAPS=1 python3 dev.py test` (or pytest on this file).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from collections_mcp.server.app import ServerConfig, build_server
from tests.e2e.apps_host import APPS_HOST

pytestmark = pytest.mark.anyio

SNAPSHOTS = Path(__file__).resolve().parent.parent / "toolsnaps"
UPDATE = os.environ.get("UPDATE_TOOLSNAPS", "").lower() in ("1", "true", "yes")


def _render(tool: dict[str, Any]) -> str:
    return json.dumps(tool, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dumped(tools: Any) -> dict[str, dict[str, Any]]:
    return {tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools}


async def test_every_tool_matches_its_committed_snapshot(mcp: Client, server_config: ServerConfig) -> None:
    inbox = replace(server_config, settings=server_config.settings.model_copy(update={"approvals": "inbox"}))
    async with Client(build_server(inbox), extensions=[APPS_HOST]) as host:
        listed = _dumped((await host.list_tools()).tools)
    assert len(listed) >= 40, "the sandbox server offers every vendor's tools"
    plain = _dumped((await mcp.list_tools()).tools)
    without_views = {name: tool | {"_meta": {k: v for k, v in tool["_meta"].items() if k != "ui"}}
                     for name, tool in listed.items() if "model" in tool["_meta"].get("ui", {}).get("visibility", ["model"])}  # fmt: skip
    assert plain == {name: tool for name, tool in without_views.items() if name != "approvals_status"}, (
        "a client without views sees the same tools, less `_meta.ui` and view-only helpers (and, with the approval "
        "inbox off, less approvals_status)"
    )
    current = {name: _render(tool) for name, tool in listed.items()}
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        for stale in SNAPSHOTS.glob("*.json"):
            if stale.stem not in current:
                stale.unlink()
        for name, text in current.items():
            (SNAPSHOTS / f"{name}.json").write_text(text, encoding="utf-8")
    committed = {path.stem: path.read_text(encoding="utf-8") for path in SNAPSHOTS.glob("*.json")}
    missing = sorted(set(current) - set(committed))
    orphaned = sorted(set(committed) - set(current))
    changed = sorted(name for name in set(current) & set(committed) if current[name] != committed[name])
    assert not missing, f"tools without a snapshot (run with UPDATE_TOOLSNAPS=1 and commit tests/toolsnaps/): {missing}"
    assert not orphaned, f"snapshots of tools that no longer exist (UPDATE_TOOLSNAPS=1 removes them): {orphaned}"
    assert not changed, f"tools changed without their snapshot being refreshed (UPDATE_TOOLSNAPS=1): {changed}"
