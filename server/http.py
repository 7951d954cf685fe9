"""Streamable HTTP that can face a network: bearer tokens with per-client effects, host/origin checks,
body limits, health and readiness, and the safe-default rule (no auth -> loopback only).

Authentication uses the SDK's `TokenVerifier` + `AuthSettings`: no token or a wrong one gets 401 with
`WWW-Authenticate` (and the protected-resource metadata the SDK serves). What a client may *do* is the
set of tool effects its token grants: tools outside it are absent from its `tools/list`, and calling one
is refused by the pipeline's authorization stage (audited with the client's name).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ListToolsResult
from pydantic import BaseModel, SecretStr

from server.access import EFFECT_SCOPE, TokenGrant, is_loopback
from server.pipeline import Proceed, Refused, ToolCall
from server.registry import EFFECT_META
from tools.common.spec import Effect


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


def transport_security(host: str, port: int, allowed_hosts: list[str], allowed_origins: list[str]) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback names always, the bind address, and whatever the operator lists."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *allowed_hosts]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        hosts.append(f"{host}:*")
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *allowed_origins]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(server: Any, settings: Any, host: str, port: int) -> Any:
    """The Starlette app `serve --transport http` runs: MCP at /mcp with auth, host/origin checks, body limit."""
    return server.streamable_http_app(
        streamable_http_path="/mcp",
        host=host,
        max_request_body_size=settings.http_max_body_bytes,
        transport_security=transport_security(host, port, settings.http_allowed_hosts, settings.http_allowed_origins),
    )


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
