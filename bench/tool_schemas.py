"""What the model reads on every turn: the tool definitions, per profile (COLLECTIONS_MCP_PROFILE) and with
toolsets on demand (COLLECTIONS_MCP_DYNAMIC_TOOLSETS) before anything is enabled.

Two sizes per row, in UTF-8 bytes and estimated tokens:
- the model's view: for each tool, `{"name", "description", "inputSchema"}` as compact JSON, summed;
- the full `tools/list` result (output schemas, annotations, `_meta` too) as compact JSON.

The baseline is the same measure of all 48 tools before issue 15 (lean schemas, profiles), taken from the
tool-schema snapshots at commit ae69a90: 51,350 B model view, 124,252 B tools/list. (The issue quoted 51,453 B
and 133,698 B; its tools/list figure was JSON with ", " and ": " separators, which measures 133,699 B here.)
Tokens: tiktoken o200k_base when its file is cached offline, else bytes / 4 (the issue's "about 13,000 tokens"
for 51 kB), marked "~".

`python -m bench.tool_schemas` prints the rows; `python -m bench --only schemas` puts them in the bench table.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

from bench.common import Row, ratio, table
from bench.compact import offline_tokenizer
from collections_mcp.server.app import CollectionsServer, ServerConfig
from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.settings import ServerSettings
from collections_mcp.tools.common.spec import Profile

BASELINE_MODEL_VIEW = 51_350
BASELINE_TOOLS_LIST = 124_252
ALL_TARGET = 0.60  # all tools: <= 0.6x today's model view
VOICE_TARGET_BYTES = 10_000  # the voice profile's model view


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def listed_tools(state_dir: Path, **settings: Any) -> list[dict[str, Any]]:
    """tools/list as a client sees it (every vendor enabled, as in the sandbox), without starting a vendor."""
    server_settings = ServerSettings(_env_file=None, state_dir=state_dir, sandbox=True, **settings)  # type: ignore[call-arg]
    vendors = {name: toolset.settings_cls() for name, toolset in installed_catalog().by_name.items()}
    built = CollectionsServer(ServerConfig(settings=server_settings, vendors=vendors, sandbox=True))
    try:
        tools = await built.mcp_server().list_tools()
    finally:
        built.audit_log.close()
        built.idempotency.close()
    offered = built.on_demand.offered if built.on_demand is not None else (lambda _: True)
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools if offered(tool.name)]


def sizes(tools: list[dict[str, Any]]) -> tuple[int, int]:
    """(model view bytes, full tools/list bytes)."""
    model_view = sum(len(_compact({key: tool[key] for key in ("name", "description", "inputSchema")}).encode())
                     for tool in tools)  # fmt: skip
    return model_view, len(_compact({"tools": tools}).encode())


def _tokens(tools: list[dict[str, Any]], model_view: int, full: int) -> tuple[int, int, str]:
    tokenizer = offline_tokenizer()
    if tokenizer is None:
        return model_view // 4, full // 4, "~ bytes/4"
    view_text = "".join(_compact({key: tool[key] for key in ("name", "description", "inputSchema")}) for tool in tools)
    return tokenizer(view_text), tokenizer(_compact({"tools": tools})), "tiktoken o200k_base"


async def run(*, quick: bool = False) -> list[Row]:
    cases: list[tuple[str, dict[str, Any]]] = [(f"profile {profile.value}", {"profile": profile}) for profile in
                                               (Profile.ALL, Profile.DESK, Profile.VOICE)]  # fmt: skip
    cases.append(("toolsets on demand, at start", {"dynamic_toolsets": True}))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-schemas-") as state:
        for label, settings in cases:
            tools = await listed_tools(Path(state), **settings)
            model_view, full = sizes(tools)
            view_tokens, full_tokens, tokenizer = _tokens(tools, model_view, full)
            details = {"tools": len(tools), "model_view_bytes": model_view, "model_view_tokens": view_tokens,
                       "tools_list_bytes": full, "tools_list_tokens": full_tokens, "tokenizer": tokenizer,
                       "baseline": "48 tools before issue 15 (commit ae69a90)"}  # fmt: skip
            mark = "~" if tokenizer.startswith("~") else ""
            view_ratio = ratio(model_view, BASELINE_MODEL_VIEW)
            if label == "profile all":
                target, verdict = f"<= {ALL_TARGET:.1f}x", view_ratio <= ALL_TARGET
            elif label == "profile voice":
                target, verdict = f"<= {VOICE_TARGET_BYTES:,} B", model_view <= VOICE_TARGET_BYTES
            else:
                target, verdict = "(shown)", None
            rows.append(Row(name=f"model view, {label} ({len(tools)} tools, {mark}{view_tokens:,} tokens)",
                            ours=model_view, baseline=BASELINE_MODEL_VIEW, unit="B", ratio=view_ratio, target=target,
                            ok=verdict, details=details))  # fmt: skip
            rows.append(Row(name=f"tools/list, {label} ({mark}{full_tokens:,} tokens)", ours=full,
                            baseline=BASELINE_TOOLS_LIST, unit="B", ratio=ratio(full, BASELINE_TOOLS_LIST),
                            target="(shown)", ok=None, details=details))  # fmt: skip
    return rows


def main() -> int:
    logging.disable(logging.INFO)  # which prompts a profile leaves out is not what this prints
    rows = anyio.run(lambda: run())
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
