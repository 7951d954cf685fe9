"""Streamable HTTP that can face a network: bearer tokens with per-client effects, host/origin checks,
body limits, health and readiness, and the safe-default rule (no auth -> loopback only).

Authentication uses the SDK's `TokenVerifier` + `AuthSettings`: no token or a wrong one gets 401 with
`WWW-Authenticate` (and the protected-resource metadata the SDK serves). What a client may *do* is the
set of tool effects its token grants: tools outside it are absent from its `tools/list`, and calling one
is refused by the pipeline's authorization stage (audited with the client's name).

Host headers accepted: loopback names, a concrete bind address, the host of COLLECTIONS_MCP_PUBLIC_URL and
COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS; a wildcard bind (0.0.0.0) that leaves nothing remote to pass warns at
startup. Every HTTP request gets a request id (kept from a sane `X-Request-Id`, echoed in the response) that,
with the client's name, is on every log line the request causes (server/logs.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ListToolsResult
from pydantic import BaseModel, SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collections_mcp.server.access import EFFECT_SCOPE, TokenGrant, is_loopback
from collections_mcp.server.logs import current_request, request_context, sane_request_id
from collections_mcp.server.pipeline import Proceed, Refused, ToolCall, caller_of
from collections_mcp.server.registry import EFFECT_META
from collections_mcp.tools.common.spec import Effect


class StaticTokenVerifier(TokenVerifier):
    """Checks bearer tokens against configured grants. Only SHA-256 digests are kept in memory, and every
    grant is compared in constant time (no early exit that would reveal which one nearly matched)."""

    def __init__(self, grants: list[TokenGrant]) -> None:
        self._grants = [(grant.client, grant.digest(), grant.scopes()) for grant in grants]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = hashlib.sha256(token.encode()).digest()
        found: AccessToken | None = None
        for client, digest, scopes in self._grants:
            if hmac.compare_digest(presented, digest) and found is None:
                found = AccessToken(token="(verified)", client_id=client, scopes=scopes)
        return found


def auth_settings(public_url: str, issuer: str | None = None) -> AuthSettings:
    return AuthSettings(
        issuer_url=issuer or public_url,
        resource_server_url=f"{public_url.rstrip('/')}/mcp",
        required_scopes=None,
        validate_token_resource=False,
    )


def granted_effects() -> set[str] | None:
    """Effects the current HTTP request's token allows; None when there is no token (stdio, in-memory)."""
    token = get_access_token()
    if token is None:
        return None
    return {scope.removeprefix(EFFECT_SCOPE) for scope in token.scopes if scope.startswith(EFFECT_SCOPE)}


def current_client_name() -> str | None:
    token = get_access_token()
    return token.client_id if token is not None else None


class AuthorizationStage:
    """Refuses a tool whose effect the caller's token does not grant (the tool is hidden from its list too)."""

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        allowed = granted_effects()
        if allowed is not None and call.spec.effect.value not in allowed:
            raise Refused(
                "authorization",
                f"client '{call.client_name}' may not use {call.spec.effect.value} tools "
                f"(its token allows: {', '.join(sorted(allowed)) or 'nothing'}); nothing was sent (403)",
            )
        return await proceed()


class HideUngrantedTools:
    """SDK server middleware: a token's `tools/list` shows only the tools its effects allow."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        allowed = granted_effects()
        if allowed is None or ctx.method != "tools/list":
            return result
        if isinstance(result, ListToolsResult):
            visible = [tool for tool in result.tools if (tool.meta or {}).get(EFFECT_META) in allowed]
            return result.model_copy(update={"tools": visible})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):  # already serialised for the wire
            tools = [tool for tool in result["tools"] if (tool.get("_meta") or {}).get(EFFECT_META) in allowed]
            return result | {"tools": tools}
        return result


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


OAUTH_SCOPE_PREFIX = "collections:"


class IntrospectionTokenVerifier(TokenVerifier):
    """OAuth 2.0 token introspection (RFC 7662) against the agency's authorization server.

    Scopes `collections:<effect>` (or `collections:*`) grant tool effects, like static tokens' `effects`.
    Answers are cached for a short time by token digest, so a burst of calls costs one introspection.
    """

    def __init__(self, introspection_url: str, client_id: str, client_secret: SecretStr, cache_seconds: float = 30.0) -> None:
        self.introspection_url = introspection_url
        self._auth = (client_id, client_secret.get_secret_value())
        self.cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, AccessToken | None]] = {}
        self._http: httpx.AsyncClient | None = None

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        verdict = await self._introspect(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.cache_seconds, verdict)
        return verdict

    async def _introspect(self, token: str) -> AccessToken | None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        try:
            response = await self._http.post(
                self.introspection_url, data={"token": token, "token_type_hint": "access_token"}, auth=self._auth
            )
            claims = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return None  # fail closed: an unreachable authorization server lets nobody in
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return None
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires < time.time():
            return None
        granted = [scope.removeprefix(OAUTH_SCOPE_PREFIX) for scope in str(claims.get("scope", "")).split()
                   if scope.startswith(OAUTH_SCOPE_PREFIX)]  # fmt: skip
        effects = [effect.value for effect in Effect] if "*" in granted else [e for e in granted if e in EFFECTS]
        return AccessToken(
            token="(verified)",
            client_id=str(claims.get("client_id") or claims.get("sub") or "oauth-client"),
            scopes=[f"{EFFECT_SCOPE}{effect}" for effect in effects],
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            subject=str(claims["sub"]) if claims.get("sub") else None,
        )


EFFECTS = frozenset(effect.value for effect in Effect)


class TokenSources(TokenVerifier):
    """Static tokens first, then introspection: the first source that knows the token decides."""

    def __init__(self, sources: list[TokenVerifier]) -> None:
        self.sources = sources

    async def verify_token(self, token: str) -> AccessToken | None:
        for source in self.sources:
            found = await source.verify_token(token)
            if found is not None:
                return found
        return None


def token_verifier(settings: Any) -> TokenVerifier | None:
    """The verifier for these settings, or None when HTTP authentication is not configured."""
    sources: list[TokenVerifier] = []
    if settings.http_tokens:
        sources.append(StaticTokenVerifier(settings.http_tokens))
    if settings.oauth_introspection_url:
        sources.append(IntrospectionTokenVerifier(
            settings.oauth_introspection_url, settings.oauth_client_id or "", settings.oauth_client_secret or SecretStr("")
        ))  # fmt: skip
    if not sources:
        return None
    return sources[0] if len(sources) == 1 else TokenSources(sources)
