"""Interactive views (the MCP Apps extension, `io.modelcontextprotocol/ui`): HTML pages in `views/`, served as
`ui://` resources to hosts that render them (Claude, IDEs), and invisible to every other client.

A tool whose spec names a `view` carries `_meta.ui.resourceUri` (server/core/registry.py); a view's helper
(`view_only`) also carries `_meta.ui.visibility: ["app"]`, so hosts keep it from the model. What a client sees
depends on what it negotiated (`client_supports_apps`: the extension with the `text/html;profile=mcp-app`
MIME type), checked on every request so both protocol eras behave the same:

* a host that renders views: every tool with its `_meta.ui`, the view-only helpers, the `ui://` resources;
* any other client: the same tools without `_meta.ui`, no view-only helpers (they are refused too, by the
  authorization stage), no `ui://` resources. Tool results are the same for both: the text and structured
  content stay complete, the view only renders them.

A page is self-contained (no CDN, remote font or script; its resource declares an empty CSP, so hosts allow
no external origin) and talks only to its host: JSON-RPC over postMessage, tool calls through the host's
`tools/call`, so each action from a view passes the whole policy pipeline like a call from the model. The
page learns which tools this server offers from a JSON block filled in here (`OFFERED_TOOLS_MARKER`), so it
shows no action the server would refuse anyway (read-only mode, a tool allowlist).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.types import ListResourcesResult, ListToolsResult

from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.core.registry import UI_META, view_uri
from collections_mcp.tools.common.spec import AnySpec

# In a page: `<script type="application/json" id="offered-tools">__OFFERED_TOOLS__</script>`.
OFFERED_TOOLS_MARKER = "__OFFERED_TOOLS__"
UI_SCHEME = "ui://"


@dataclass(frozen=True)
class View:
    """One page of views/, ready to serve: its `<title>` and `<meta name="description">` describe the resource."""

    name: str
    uri: str
    title: str
    description: str
    html: str


def _tag(html: str, pattern: str, what: str, name: str) -> str:
    found = re.search(pattern, html, re.IGNORECASE | re.DOTALL)
    if found is None:
        raise ConfigError(f"views/{name}.html has no {what}")
    return found.group(1).strip()


def load_view(name: str, offered_tools: Collection[str]) -> View:
    """views/<name>.html with the offered tools filled in; a missing or malformed page is a startup error."""
    source = files("collections_mcp.views").joinpath(f"{name}.html")
    if not source.is_file():
        raise ConfigError(f"a tool renders in the view '{name}', but views/{name}.html does not exist")
    html = source.read_text(encoding="utf-8")
    if html.count(OFFERED_TOOLS_MARKER) != 1:
        raise ConfigError(f"views/{name}.html must hold {OFFERED_TOOLS_MARKER} exactly once (the offered tools)")
    offered = json.dumps(sorted(offered_tools)).replace("<", "\\u003c")  # never closes its <script> element
    return View(
        name=name,
        uri=view_uri(name),
        title=_tag(html, r"<title>(.*?)</title>", "<title>", name),
        description=_tag(html, r'<meta\s+name="description"\s+content="([^"]*)"', '<meta name="description">', name),
        html=html.replace(OFFERED_TOOLS_MARKER, offered),
    )


def views_extension(specs: Iterable[AnySpec], offered_tools: Collection[str]) -> Apps | None:
    """The Apps extension serving every view a selected tool renders in, or None when no tool has one."""
    names = sorted({spec.view for spec in specs if spec.view is not None})
    if not names:
        return None
    apps = Apps()
    for name in names:
        view = load_view(name, offered_tools)
        apps.add_html_resource(
            view.uri,
            view.html,
            name=f"{view.name}-view",
            title=view.title,
            description=view.description,
            # Declared, and empty: the page loads nothing from anywhere, so a host allows no external origin.
            csp=ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]),
            prefers_border=True,
        )
    return apps


def _ui_of(tool: Any) -> dict[str, Any] | None:
    meta = tool.get("_meta") if isinstance(tool, dict) else tool.meta
    ui = (meta or {}).get(UI_META)
    return ui if isinstance(ui, dict) else None


def _plain(tool: Any) -> Any | None:
    """A tool as a client without views sees it: view-only helpers dropped, `_meta.ui` removed."""
    ui = _ui_of(tool)
    if ui is None:
        return tool
    if "model" not in ui.get("visibility", ["model", "app"]):
        return None
    if isinstance(tool, dict):
        return tool | {"_meta": {key: value for key, value in tool["_meta"].items() if key != UI_META}}
    return tool.model_copy(update={"meta": {key: value for key, value in tool.meta.items() if key != UI_META}})


def _not_a_view(resource: Any) -> bool:
    uri = resource.get("uri") if isinstance(resource, dict) else resource.uri
    return not str(uri).startswith(UI_SCHEME)


class HideViewsFromPlainClients:
    """SDK server middleware: a client that did not negotiate MCP Apps gets no UI metadata (see module doc)."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if ctx.method not in ("tools/list", "resources/list") or client_supports_apps(ctx):
            return result
        key, keep = ("tools", _plain) if ctx.method == "tools/list" else ("resources", lambda r: r if _not_a_view(r) else None)
        if isinstance(result, ListToolsResult | ListResourcesResult):
            items = [kept for item in getattr(result, key) if (kept := keep(item)) is not None]
            return result.model_copy(update={key: items})
        if isinstance(result, dict) and isinstance(result.get(key), list):  # already serialised for the wire
            return result | {key: [kept for item in result[key] if (kept := keep(item)) is not None]}
        return result
