"""Operations endpoints a load balancer and an operator use: /healthz (alive) and /readyz (vendors ready; 503
"draining" once SIGTERM started a graceful shutdown, so an orchestrator sends new work elsewhere).

/readyz needs no token (a load balancer has none), so its plain answer says only ready or not, per vendor: no
operator id, no vendor message, no breaker. A caller with a valid bearer token (any effect) gets the details:
each probe's description or failure, when it ran, and every vendor's circuit breaker (`doctor` prints the same
probes). Each probe really reaches its vendor (one cheap authenticated read through the server's own client, its
deadline and its breaker, so a due breaker's trial can be a probe); the answers are reused for
`READY_CACHE_SECONDS`, and concurrent requests share one round of probes, so a flood of /readyz is not a flood of
vendor logins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collections_mcp.server.core.call import ServerState, utc_now
from collections_mcp.server.core.drain import Drain
from collections_mcp.server.core.redaction import scrub, scrub_text
from collections_mcp.server.core.version import package_version
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.resilience import VendorBreakers, call_deadline, using_breakers
from collections_mcp.tools.common.spec import Toolset

READY_CACHE_SECONDS = 5.0


class VendorProbes:
    """/healthz (the process answers) and /readyz (every enabled vendor reachable, our credentials accepted)."""

    def __init__(
        self,
        toolsets: list[Toolset],
        *,
        breakers: VendorBreakers | None = None,
        clock: Callable[[], datetime] = utc_now,
        timeout_seconds: float = 10.0,
        cache_seconds: float = READY_CACHE_SECONDS,
        drain: Drain | None = None,
    ) -> None:
        self.toolsets = toolsets
        self.drain = drain
        self.breakers = breakers
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        self.cache = timedelta(seconds=cache_seconds)
        self.state: ServerState | None = None
        self._lock = anyio.Lock()
        self._last: tuple[datetime, dict[str, dict[str, Any]]] | None = None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": package_version()})

    async def check(self) -> tuple[datetime, dict[str, dict[str, Any]]]:
        """Every vendor's probe result with its details, and when the probes ran (reused for a few seconds)."""
        async with self._lock:  # concurrent requests wait for the round in progress instead of starting theirs
            if self._last is not None and self.clock() < self._last[0] + self.cache:
                return self._last
            checked_at = self.clock()
            self._last = (checked_at, await self._probe_all())
            return self._last

    async def _probe_all(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        state = self.state

        async def one(toolset: Toolset) -> None:
            if toolset.probe is None or state is None:
                return
            try:
                # The deadline ends the probe's requests cleanly; the scope is only a backstop for anything else.
                with anyio.fail_after(self.timeout_seconds + 1), call_deadline(self.timeout_seconds), using_breakers(self.breakers):
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
        if self.drain is not None and self.drain.draining:  # an orchestrator stops sending it new work
            return JSONResponse({"status": "draining", "vendors": {}}, status_code=503)
        checked_at, vendors = await self.check()
        ready = all(entry["ready"] for entry in vendors.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
        if isinstance(request.scope.get("user"), AuthenticatedUser):
            body["checked_at"] = checked_at.isoformat()
            body["vendors"] = vendors
            breakers = self.breakers.snapshot() if self.breakers is not None else {}
            # A breaker's last failure names the request it failed on, whose path may hold an SSN: scrubbed too.
            body["breakers"] = scrub({vendor: snapshot.model_dump(mode="json") for vendor, snapshot in breakers.items()})
        else:
            body["vendors"] = {name: {"ready": entry["ready"]} for name, entry in vendors.items()}
        return JSONResponse(body, status_code=200 if ready else 503)
