"""An MCP Apps host for tests: headless Chromium (Playwright) showing a host page built on the ext-apps AppBridge.

The npm side (tests/apps_host/): `@modelcontextprotocol/ext-apps` and esbuild, pinned in package.json and
package-lock.json, installed into tests/apps_host/node_modules with `npm ci` on first use (a stamp holds the
lockfile's digest, as conformance/ does) and bundled once per session. The Python side plays the rest of a host:
an SDK `Client` that negotiated MCP Apps lists the tools, reads the `ui://` resource, makes the model's tool
call, and relays every `tools/call` and `resources/read` the view sends through the bridge, refusing, as the
spec asks of hosts, a tool whose visibility does not include "app".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from playwright.async_api import Frame, Page, Request, Route

HOST_DIR = Path(__file__).resolve().parents[1] / "apps_host"
NODE_MODULES = HOST_DIR / "node_modules"
STAMP = NODE_MODULES / ".collections-mcp-installed"
INSTALL_TIMEOUT = 300.0
HOST_ORIGIN = "http://host.test"  # served by Playwright's router: no listener, and nothing else is reachable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip

# What a host that renders views declares (the SDK's Client sends it in both protocol eras).
APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})

LIGHT_STYLES = {"--color-background-primary": "#ffffff", "--color-text-primary": "#1f1e1d"}
DARK_STYLES = {"--color-background-primary": "#262624", "--color-text-primary": "#f5f4ef",
               "--color-background-secondary": "#30302e", "--color-border-primary": "#4a4945"}  # fmt: skip


def missing_node() -> str | None:
    """Why the host cannot be built here, or None (the browser tests fail with this reason)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return ("node and npm are needed to install and bundle the test host (@modelcontextprotocol/ext-apps, pinned "
                "in tests/apps_host/package-lock.json); install Node.js with npm to run the browser tests")
    return None


def _lock_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((HOST_DIR / name).read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    import fcntl

    with (HOST_DIR / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install() -> None:
    """`npm ci` of tests/apps_host unless its current lockfile is installed already."""
    if STAMP.is_file() and STAMP.read_text().strip() == _lock_digest():
        return
    with _install_lock():
        if STAMP.is_file() and STAMP.read_text().strip() == _lock_digest():
            return
        done = subprocess.run(
            [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund"], cwd=HOST_DIR, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {HOST_DIR} failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
        STAMP.write_text(_lock_digest() + "\n")


def bundle(out_dir: Path) -> str:
    """host.js with AppBridge, bundled for the page by the pinned esbuild."""
    out = out_dir / "host.bundle.js"
    subprocess.run(
        [str(NODE_MODULES / ".bin" / "esbuild"), "host.js", "--bundle", "--minify", "--format=iife", f"--outfile={out}",
         "--log-level=warning"],
        cwd=HOST_DIR, check=True, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    return out.read_text(encoding="utf-8")


def _wire(result: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


class ViewHost:
    """One host page in the browser and the MCP client behind it."""

    def __init__(self, page: Page, client: Client, host_js: str) -> None:
        self.page = page
        self.client = client
        self.host_js = host_js
        self.tools: dict[str, Any] = {}
        self.view_calls: list[dict[str, Any]] = []  # every tools/call the view sent, as the host received it
        self.refused: list[str] = []
        self.foreign_requests: list[str] = []  # anything the page asked for beyond the host's own two files
        self.console_errors: list[str] = []

    async def start(self) -> ViewHost:
        async def serve(route: Route, request: Request) -> None:
            if request.url == f"{HOST_ORIGIN}/host.html":
                await route.fulfill(body=(HOST_DIR / "host.html").read_text(), content_type="text/html")
            elif request.url == f"{HOST_ORIGIN}/host.bundle.js":
                await route.fulfill(body=self.host_js, content_type="text/javascript")
            else:
                self.foreign_requests.append(request.url)
                await route.abort()

        await self.page.route("**/*", serve)
        self.page.on("console", lambda message: self.console_errors.append(message.text) if message.type == "error" else None)
        await self.page.expose_function("hostCallTool", self._call_tool)
        await self.page.expose_function("hostReadResource", self._read_resource)
        await self.page.goto(f"{HOST_ORIGIN}/host.html")
        self.tools = {tool.name: tool for tool in (await self.client.list_tools()).tools}
        return self

    async def _call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        self.view_calls.append(params)
        name = params.get("name")
        tool = self.tools.get(str(name))
        visibility = ((tool.meta or {}).get("ui") or {}).get("visibility", ["model", "app"]) if tool else []
        if "app" not in visibility:  # the spec: a host MUST reject a view's call of a tool not visible to apps
            self.refused.append(str(name))
            return {"content": [{"type": "text", "text": f"the host does not let views call {name}"}], "isError": True}
        return _wire(await self.client.call_tool(str(name), params.get("arguments") or {}))

    async def _read_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        return _wire(await self.client.read_resource(str(params["uri"])))

    async def show(
        self, tool: str, arguments: dict[str, Any], *, theme: str = "light", width: int = 560,
        styles: dict[str, str] | None = None,
    ) -> Frame:
        """The model calls `tool`; the host renders its view with the result. Returns the view's frame."""
        ui = (self.tools[tool].meta or {})["ui"]
        contents = (await self.client.read_resource(ui["resourceUri"])).contents[0]
        assert contents.mime_type == APP_MIME_TYPE
        result = await self.client.call_tool(tool, arguments)
        context = {"theme": theme, "displayMode": "inline", "availableDisplayModes": ["inline"], "locale": "en-US",
                   "timeZone": "UTC", "platform": "desktop", "containerDimensions": {"width": width},
                   "toolInfo": {"tool": _wire(self.tools[tool])},
                   "styles": {"variables": styles if styles is not None else (DARK_STYLES if theme == "dark" else LIGHT_STYLES)}}  # fmt: skip
        await self.page.evaluate(
            "args => mountView(args)",
            {"html": contents.text, "uiMeta": (contents.meta or {}).get("ui", {}), "toolInput": arguments,
             "toolResult": _wire(result), "hostContext": context, "width": width},
        )  # fmt: skip
        handle = await self.page.query_selector("#view")
        assert handle is not None
        frame = await handle.content_frame()
        assert frame is not None
        return frame

    async def settled_height(self, frame: Frame) -> None:
        """Wait until the iframe has grown to the view's content (the view reports its size, the host applies it)."""
        height = await frame.evaluate("() => Math.ceil(document.documentElement.scrollHeight)")
        await self.page.wait_for_function(
            "h => Math.abs(parseFloat(document.getElementById('view').style.height) - h) <= 1", arg=height
        )
