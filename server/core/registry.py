"""From toolset declarations to MCP tools: selection (toolsets, read-only), annotations, one wrapper each."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import ConfigDict

from collections_mcp.server.core.call import IDEMPOTENCY_ARGUMENT, ServerState
from collections_mcp.server.core.pipeline import PolicyPipeline
from collections_mcp.server.core.schemas import json_schema_of
from collections_mcp.tools.common.spec import AnySpec, Effect, Toolset

# Tool `_meta` keys: the effect lets HTTP token scopes filter tools/list without knowing our registry.
EFFECT_META = "collections-mcp/effect"
TOOLSET_META = "collections-mcp/toolset"


class _PassThroughArguments(ArgModelBase):
    """Hands the raw arguments to the pipeline, which validates them against the tool's own input model
    (so error messages are ours, and the schema a client sees is exactly that model's)."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def annotations_for(spec: AnySpec) -> ToolAnnotations:
    """MCP hints follow from the effect; nobody writes them per tool."""
    effect = spec.effect
    return ToolAnnotations(
        title=spec.title,
        read_only_hint=effect == Effect.READ,
        destructive_hint=effect in (Effect.DESTRUCTIVE, Effect.MONEY),
        idempotent_hint=effect == Effect.READ,
        open_world_hint=True,
    )


def select_specs(
    toolsets: list[Toolset],
    *,
    read_only: bool,
    allowed_toolsets: list[str] | None,
    allowed_tools: list[str] | None = None,
) -> list[tuple[Toolset, AnySpec]]:
    """Toolset selection, then read-only mode, then the explicit tool allowlist: each can only remove."""
    chosen = []
    for toolset in toolsets:
        if allowed_toolsets is not None and toolset.name not in allowed_toolsets:
            continue
        for spec in toolset.specs:
            if read_only and spec.effect != Effect.READ:
                continue
            if allowed_tools is not None and spec.name not in allowed_tools:
                continue
            chosen.append((toolset, spec))
    return chosen


def check_spec(spec: AnySpec) -> None:
    """Policy needs these to act; a spec without them is a programming error, caught at startup."""
    if spec.effect in (Effect.MONEY, Effect.DESTRUCTIVE) and spec.summarize is None:
        raise TypeError(f"{spec.name}: {spec.effect} tools need a `summarize` for the confirmation prompt")
    if spec.effect == Effect.CONTACT and spec.contact is None:
        raise TypeError(f"{spec.name}: contact tools need `contact` (who is reached, how) for the compliance guard")


def build_tool(toolset: Toolset, spec: AnySpec, pipeline: PolicyPipeline) -> Tool:
    check_spec(spec)
    async def call(arguments: dict[str, Any], ctx: Context[ServerState, Any]) -> CallToolResult | InputRequiredResult:
        return await pipeline.run(spec, toolset.name, arguments, ctx)

    input_schema = json_schema_of(spec.input_model)
    input_schema.pop("title", None)
    if spec.effect != Effect.READ:
        input_schema.setdefault("properties", {})[IDEMPOTENCY_ARGUMENT] = {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": (
                "Optional. Retrying with the same key and arguments returns the first call's result instead of "
                "making the change again (identical calls are also recognised without a key)."
            ),
        }
    output_schema = json_schema_of(spec.output_model)
    return Tool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=input_schema,
        fn_metadata=FuncMetadata(arg_model=_PassThroughArguments, output_schema=output_schema),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations_for(spec),
        meta={EFFECT_META: spec.effect.value, TOOLSET_META: toolset.name},
    )
