"""Operations endpoints a load balancer and an operator use: /healthz (alive) and /readyz (vendors ready)."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collections_mcp.server.core.call import ServerState
from collections_mcp.server.core.redaction import scrub_text
from collections_mcp.server.core.version import package_version
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.spec import Toolset


class VendorProbes:
    """/healthz (the process answers) and /readyz (every enabled vendor reachable, our credentials accepted)."""

    def __init__(self, toolsets: list[Toolset], timeout_seconds: float = 10.0) -> None:
        self.toolsets = toolsets
        self.timeout_seconds = timeout_seconds
        self.state: ServerState | None = None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": package_version()})

    async def check(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        state = self.state

        async def one(toolset: Toolset) -> None:
            if toolset.probe is None or state is None:
                return
            try:
                with anyio.fail_after(self.timeout_seconds):
                    detail = await toolset.probe(state.clients[toolset.name])
                results[toolset.name] = {"vendor": toolset.title, "ready": True, "detail": scrub_text(detail)}
            except Exception as exc:  # a probe failure is the answer, not a crash
                reason = str(exc) if isinstance(exc, VendorError) else f"{type(exc).__name__}"
                results[toolset.name] = {"vendor": toolset.title, "ready": False, "detail": scrub_text(reason)}

        async with anyio.create_task_group() as group:
            for toolset in self.toolsets:
                group.start_soon(one, toolset)
        return results

    async def readyz(self, request: Request) -> Response:
        if self.state is None:
            return JSONResponse({"status": "starting", "vendors": {}}, status_code=503)
        vendors = await self.check()
        ready = all(entry["ready"] for entry in vendors.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "vendors": vendors}, status_code=200 if ready else 503)
