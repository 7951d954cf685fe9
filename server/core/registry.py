"""From toolset declarations to MCP tools: selection (toolsets, read-only), annotations, one wrapper each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from collections_mcp.server.core.call import IDEMPOTENCY_ARGUMENT, ServerState
from collections_mcp.server.core.pipeline import PolicyPipeline
from collections_mcp.server.core.schemas import json_schema_of, lean_schema
from collections_mcp.tools.common.spec import AnySpec, Effect, Profile, Toolset

# Tool `_meta` keys: the effect lets HTTP token scopes filter tools/list without knowing our registry.
EFFECT_META = "collections-mcp/effect"
TOOLSET_META = "collections-mcp/toolset"
# MCP Apps (`io.modelcontextprotocol/ui`): a tool's `_meta.ui` names the `ui://` view its result renders in
# and, for helpers of a view, that only the view may call it (hosts then hide it from the model).
UI_META = "ui"


def view_uri(view: str) -> str:
    """The `ui://` resource of one of our views (views/<view>.html)."""
    return f"ui://collections/{view}.html"


def ui_meta_for(spec: AnySpec) -> dict[str, Any] | None:
    if spec.view is None:
        return None
    ui: dict[str, Any] = {"resourceUri": view_uri(spec.view)}
    if spec.view_only:
        ui["visibility"] = ["app"]
    return ui


# Explained once in the server instructions, not once per changing tool. Null counts as not given (the pipeline
# drops it), so the schema says so too.
IDEMPOTENCY_SCHEMA: dict[str, Any] = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": 200,
}


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
    profile: Profile = Profile.ALL,
) -> list[tuple[Toolset, AnySpec]]:
    """Toolset selection, then the profile, then read-only mode, then the explicit tool allowlist: each can
    only remove."""
    chosen = []
    for toolset in toolsets:
        if allowed_toolsets is not None and toolset.name not in allowed_toolsets:
            continue
        for spec in toolset.specs:
            if not spec.in_profile(profile):
                continue
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
    if spec.view_only and spec.view is None:
        raise TypeError(f"{spec.name}: a view-only helper needs the `view` that calls it")


def full_input_schema(spec: AnySpec) -> dict[str, Any]:
    """The tool's arguments as pydantic describes its input model (+ the idempotency key on changing tools).
    Published lean (`lean_schema`: the same accepted values, fewer tokens); the pipeline validates with the
    model itself."""
    return _full_input_schema(spec.input_model, spec.effect != Effect.READ)


def _full_input_schema(model: type[BaseModel], changes: bool) -> dict[str, Any]:
    schema = json_schema_of(model)
    schema.pop("title", None)
    schema.pop("description", None)  # the input model's docstring is for developers; the tool's description is the LLM's
    if changes:
        schema.setdefault("properties", {})[IDEMPOTENCY_ARGUMENT] = IDEMPOTENCY_SCHEMA
    return schema


# Runs after a call that returned a result (e.g. telling clients their tool list changed).
AfterCall = Callable[[Context[ServerState, Any], CallToolResult], Awaitable[None]]


@cache
def _published_input_schema(model: type[BaseModel], changes: bool) -> dict[str, Any]:
    """Once per process: servers are built per session in tests, and leaning 96 schemas each time was measurable."""
    return lean_schema(_full_input_schema(model, changes))


@cache
def _published_output_schema(model: type[BaseModel]) -> dict[str, Any]:
    return lean_schema(json_schema_of(model))


def build_tool(toolset: Toolset | str, spec: AnySpec, pipeline: PolicyPipeline, after: AfterCall | None = None) -> Tool:
    """`toolset` is a vendor's Toolset, or the name the server's own tools are audited under."""
    check_spec(spec)
    toolset_name = toolset if isinstance(toolset, str) else toolset.name

    async def call(arguments: dict[str, Any], ctx: Context[ServerState, Any]) -> CallToolResult | InputRequiredResult:
        result = await pipeline.run(spec, toolset_name, arguments, ctx)
        if after is not None and isinstance(result, CallToolResult):
            await after(ctx, result)
        return result

    input_model: type[BaseModel] = spec.input_model
    output_model: type[BaseModel] = spec.output_model
    input_schema = _published_input_schema(input_model, spec.effect != Effect.READ)
    output_schema = _published_output_schema(output_model)
    meta: dict[str, Any] = {EFFECT_META: spec.effect.value, TOOLSET_META: toolset_name}
    if (ui := ui_meta_for(spec)) is not None:
        meta[UI_META] = ui  # shown only to clients that render views (server/views.py strips it for others)
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
        meta=meta,
    )
