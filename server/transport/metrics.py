"""`/metrics` for Prometheus: on the streamable HTTP app behind the same bearer tokens as `/mcp`, or on a separate
listener of its own (COLLECTIONS_MCP_METRICS_ADDRESS: a scraper's address, no token; stdio servers too).
What is exported, and why no label can carry an argument value: server/telemetry/metrics.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.auth.routes import build_resource_metadata_url
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from collections_mcp.server.telemetry.metrics import ServerMetrics
from collections_mcp.server.transport.embedded import serve_app

METRICS_PATH = "/metrics"


class MetricsEndpoint:
    """ASGI app: the registry's current values in the Prometheus text format (GET only)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if Request(scope).method not in ("GET", "HEAD"):
            response = Response("method not allowed\n", status_code=405, headers={"Allow": "GET, HEAD"})
        else:
            body, content_type = self.metrics.exposition()
            response = Response(body, media_type=content_type)
        await response(scope, receive, send)


def metrics_endpoint(metrics: ServerMetrics, *, resource_url: str | None) -> ASGIApp:
    """The endpoint for the MCP app. `resource_url` set (tokens configured): only a request the app's
    authentication middleware verified gets through; others get the same 401 + WWW-Authenticate as /mcp."""
    endpoint = MetricsEndpoint(metrics)
    if resource_url is None:
        return endpoint
    return RequireAuthMiddleware(endpoint, [], build_resource_metadata_url(AnyHttpUrl(resource_url)))


@asynccontextmanager
async def serving_metrics(metrics: ServerMetrics, host: str, port: int) -> AsyncIterator[str]:
    """Serve only /metrics on host:port for as long as this is open; yields the metrics URL."""
    app = Starlette(routes=[Route(METRICS_PATH, MetricsEndpoint(metrics), methods=["GET", "HEAD"])])
    async with serve_app(app, host, port) as base_url:
        yield f"{base_url}{METRICS_PATH}"
