"""Streamable HTTP that can face a network: host/origin checks, body limits, request ids, and the MCP app.

Host headers accepted: loopback names, a concrete bind address, the host of COLLECTIONS_MCP_PUBLIC_URL and
COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS; a wildcard bind (0.0.0.0) that leaves nothing remote to pass warns at
startup. Every HTTP request gets a request id (kept from a sane `X-Request-Id`, echoed in the response) that,
with the client's name, is on every log line the request causes (server/transport/logs.py). Tokens and what
they grant: server/transport/auth.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collections_mcp.server.core.access import is_loopback
from collections_mcp.server.core.caller import caller_of
from collections_mcp.server.transport.logs import current_request, request_context, sane_request_id

REQUEST_ID_HEADER = "X-Request-Id"
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


class RequestIds:
    """ASGI middleware: every HTTP request gets a request id for its log lines, echoed as `X-Request-Id`.

    A sane incoming `X-Request-Id` (a proxy's or the client's) is kept, anything else is replaced by a fresh
    one. Installed innermost (after the SDK's auth middleware) so the lines also name the token's client;
    401s, 421s and 403s from the checks inside still carry and echo the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        client = user.access_token.client_id if isinstance(user, AuthenticatedUser) else None
        incoming = sane_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        with request_context(incoming, client) as info:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)[REQUEST_ID_HEADER] = info.request_id
                await send(message)

            await self.app(scope, receive, send_with_id)


def _mcp_client_name(ctx: Any) -> str | None:
    """Who is calling, exactly as the audit log names it: the bearer token's client, else the name the MCP
    client declared (stdio), marked as declared."""
    return caller_of(ctx)[0]


class RequestScope:
    """SDK server middleware: binds the request context for one MCP request when no HTTP request did
    (stdio), and fills in the client once it is known."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        info = current_request()
        if info is not None:
            if info.client is None:
                info.client = _mcp_client_name(ctx)
            return await call_next(ctx)
        with request_context(client=_mcp_client_name(ctx)):
            return await call_next(ctx)


def install_request_scope(server: Any) -> None:
    """Make every MCP request of `server` log with a request id and client (idempotent)."""
    if not any(isinstance(middleware, RequestScope) for middleware in server.middleware):
        server.middleware.insert(0, RequestScope())


def _authority(url: str) -> str | None:
    """`https://mcp.example.com/x` -> `mcp.example.com`; `http://10.0.0.5:8000` -> `10.0.0.5:8000`."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}" if parts.port else host


def accepted_hosts(host: str, allowed_hosts: list[str], public_url: str | None = None) -> list[str]:
    """Host headers the server accepts: loopback names always, the bind address when it is a concrete one,
    the host of the public URL (the address clients are told to use), and whatever the operator lists."""
    hosts = [*LOOPBACK_HOSTS, *allowed_hosts]
    if not is_loopback(host) and host not in WILDCARD_BINDS:
        hosts.append(f"[{host}]:*" if ":" in host else f"{host}:*")
    public = _authority(public_url) if public_url else None
    if public is not None and not _is_loopback_entry(public) and public not in hosts:
        hosts.append(public)
    return hosts


def _is_loopback_entry(entry: str) -> bool:
    """`127.0.0.1:*`, `[::1]:8000`, `localhost` -> True."""
    return is_loopback(urlsplit(f"//{entry}").hostname or entry)


def host_check_warning(host: str, allowed_hosts: list[str], public_url: str | None) -> str | None:
    """Startup warning for a wildcard bind that nothing remote can pass: without an allowed host (or a
    non-loopback public URL) every request whose Host header is not a loopback name gets 421."""
    if host not in WILDCARD_BINDS:
        return None
    if any(not _is_loopback_entry(entry) for entry in accepted_hosts(host, allowed_hosts, public_url)):
        return None
    return (
        f"WARNING: listening on {host or '*'}, but only requests with a loopback Host header (127.0.0.1, localhost, "
        "[::1]) are accepted: every remote client gets 421 Invalid Host header (DNS-rebinding protection). Set "
        "COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS to the names and addresses clients use, e.g. "
        "COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS=mcp.example.com,10.0.0.5:* ('name' matches the default port, "
        "'name:*' any port), or set COLLECTIONS_MCP_PUBLIC_URL=https://mcp.example.com (its host is accepted)."
    )


def transport_security(
    host: str, port: int, allowed_hosts: list[str], allowed_origins: list[str], public_url: str | None = None
) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback names always, the bind address, the public URL's host, and whatever
    the operator lists."""
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *allowed_origins]
    return TransportSecuritySettings(allowed_hosts=accepted_hosts(host, allowed_hosts, public_url), allowed_origins=origins)


def build_http_app(server: Any, settings: Any, host: str, port: int) -> Any:
    """The Starlette app `serve --transport http` runs: MCP at /mcp with auth, host/origin checks, body limit,
    and a request id on every request (in its log lines and the `X-Request-Id` response header)."""
    install_request_scope(server)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        host=host,
        max_request_body_size=settings.http_max_body_bytes,
        transport_security=transport_security(
            host, port, settings.http_allowed_hosts, settings.http_allowed_origins, settings.public_url
        ),
    )
    # Innermost of the app's middleware (after the SDK's authentication), so the token's client is known.
    app.user_middleware.append(Middleware(RequestIds))
    return app
