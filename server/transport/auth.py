"""Who may call over HTTP: bearer tokens (static, or OAuth 2.0 introspection) and the effects they grant.

Authentication uses the SDK's `TokenVerifier` + `AuthSettings`: no token or a wrong one gets 401 with
`WWW-Authenticate` (and the protected-resource metadata the SDK serves). What a client may *do* is the set of
tool effects its token grants: tools outside it are absent from its `tools/list` (`HideUngrantedTools`), and
calling one is refused by the authorization stage (server/policy/authorization.py), audited with its name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import httpx
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.types import ListToolsResult
from pydantic import SecretStr

from collections_mcp.server.core.access import AUTOMATION_SCOPE, EFFECT_SCOPE, TokenGrant
from collections_mcp.server.core.caller import granted_effects
from collections_mcp.server.core.registry import EFFECT_META
from collections_mcp.tools.common.spec import Effect

log = logging.getLogger("collections_mcp.auth")


class ClosableTokenVerifier(TokenVerifier):
    """A `TokenVerifier` that may hold connections (introspection): the server closes it at shutdown."""

    @property
    def closed(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class StaticTokenVerifier(ClosableTokenVerifier):
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


OAUTH_SCOPE_PREFIX = "collections:"


class IntrospectionTokenVerifier(ClosableTokenVerifier):
    """OAuth 2.0 token introspection (RFC 7662) against the agency's authorization server.

    Scopes `collections:<effect>` (or `collections:*`) grant tool effects, like static tokens' `effects`;
    `collections:automation` marks the token for automation, like a static token's `automation`.
    Definite answers (HTTP 200 with a boolean `active`) are cached for a short time by token digest, so a
    burst of calls costs one introspection. An outage (no connection, a timeout, any other status, a body that
    is no such answer) lets that request in as nobody and is not cached: the next request asks again, so a
    blip of the authorization server does not lock every client out for the cache's lifetime.
    """

    def __init__(self, introspection_url: str, client_id: str, client_secret: SecretStr, cache_seconds: float = 30.0) -> None:
        self.introspection_url = introspection_url
        self._auth = (client_id, client_secret.get_secret_value())
        self.cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, AccessToken | None]] = {}
        self._http: httpx.AsyncClient | None = None

    @property
    def closed(self) -> bool:
        return self._http is None or self._http.is_closed

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            verdict = await self._introspect(token)
        except _Outage as exc:
            log.warning("token introspection failed (%s); the request is refused and the answer not cached", exc)
            return None  # fail closed: an authorization server that cannot answer lets nobody in
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.cache_seconds, verdict)
        return verdict

    async def _introspect(self, token: str) -> AccessToken | None:
        """The authorization server's definite verdict; raises `_Outage` when it gave none."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        try:
            response = await self._http.post(
                self.introspection_url, data={"token": token, "token_type_hint": "access_token"}, auth=self._auth
            )
        except httpx.HTTPError as exc:
            raise _Outage(type(exc).__name__) from None
        if response.status_code != 200:
            raise _Outage(f"HTTP {response.status_code}")
        try:
            claims = response.json()
        except ValueError:
            raise _Outage("a body that is not JSON") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("active"), bool):
            raise _Outage("an answer without a boolean 'active'")
        if claims["active"] is not True:
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
            scopes=[f"{EFFECT_SCOPE}{effect}" for effect in effects] + ([AUTOMATION_SCOPE] if "automation" in granted else []),
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            subject=str(claims["sub"]) if claims.get("sub") else None,
        )


EFFECTS = frozenset(effect.value for effect in Effect)


class _Outage(Exception):
    """The authorization server gave no definite answer about a token."""


class TokenSources(ClosableTokenVerifier):
    """Static tokens first, then introspection: the first source that knows the token decides."""

    def __init__(self, sources: list[ClosableTokenVerifier]) -> None:
        self.sources = sources

    @property
    def closed(self) -> bool:
        return all(source.closed for source in self.sources)

    async def aclose(self) -> None:
        for source in self.sources:
            await source.aclose()

    async def verify_token(self, token: str) -> AccessToken | None:
        for source in self.sources:
            found = await source.verify_token(token)
            if found is not None:
                return found
        return None


def token_verifier(settings: Any) -> ClosableTokenVerifier | None:
    """The verifier for these settings, or None when HTTP authentication is not configured."""
    sources: list[ClosableTokenVerifier] = []
    if settings.http_tokens:
        sources.append(StaticTokenVerifier(settings.http_tokens))
    if settings.oauth_introspection_url:
        sources.append(IntrospectionTokenVerifier(
            settings.oauth_introspection_url, settings.oauth_client_id or "", settings.oauth_client_secret or SecretStr("")
        ))  # fmt: skip
    if not sources:
        return None
    return sources[0] if len(sources) == 1 else TokenSources(sources)
