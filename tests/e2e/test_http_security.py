"""Streamable HTTP facing a network: bearer tokens, per-client effects, host/origin checks, body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sandbox.http import serve_app
from server.access import TokenGrant
from server.app import ServerConfig, build_server
from server.cli import check_exposure
from server.http import build_http_app
from server.settings import ConfigError
from tests.conftest import Wire

pytestmark = pytest.mark.anyio

IVR_TOKEN = "ivr-token-0123456789abcdefghijkl"
DESK_TOKEN = "desk-token-0123456789abcdefghijk"
GRANTS = [
    TokenGrant.model_validate({"client": "ivr", "token": IVR_TOKEN, "effects": ["read"]}),
    TokenGrant.model_validate({"client": "desk", "token": DESK_TOKEN, "effects": ["*"]}),
]
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
async def base_url(server_config: ServerConfig) -> AsyncIterator[str]:
    settings = server_config.settings.model_copy(update={"http_tokens": GRANTS, "http_max_body_bytes": 4096})
    server = build_server(replace(server_config, settings=settings))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url


def client_for(base_url: str, token: str, mode: str = "auto") -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"{base_url}/mcp", http_client=http), mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-real-token-at-all-000000", "Basic abc"])
async def test_missing_or_wrong_token_is_401_with_www_authenticate(base_url: str, authorization: str | None) -> None:
    headers = HEADERS | ({"Authorization": authorization} if authorization else {})
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "resource_metadata" in response.headers["www-authenticate"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_limited_token_sees_and_may_use_only_its_effects(base_url: str, wire: Wire, mode: str) -> None:
    async with client_for(base_url, IVR_TOKEN, mode) as mcp:
        names = {tool.name for tool in (await mcp.list_tools()).tools}
        assert "scollect_get_account" in names
        assert not {"scollect_add_note", "scollect_send_text", "scollect_update_account_field"} & names
        read = await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
        refused = await mcp.call_tool("scollect_add_note", {"file_number": "R1000", "collector_name": "x", "message": "y"})
    assert not read.is_error
    assert refused.is_error
    text = refused.content[0].text  # type: ignore[union-attr]
    assert "Refused by authorization" in text and "client 'ivr' may not use write tools" in text and "403" in text
    assert "POST /InsertNoteline" not in wire.paths()


async def test_full_token_may_write(base_url: str, wire: Wire) -> None:
    async with client_for(base_url, DESK_TOKEN) as mcp:
        names = {tool.name for tool in (await mcp.list_tools()).tools}
        result = await mcp.call_tool("scollect_add_note", {"file_number": "R1000", "collector_name": "desk", "message": "ok"})
    assert "scollect_update_account_field" in names
    assert not result.is_error
    assert wire.paths() == ["POST /InsertNoteline"]


async def test_foreign_origin_and_host_are_rejected(base_url: str) -> None:
    headers = HEADERS | {"Authorization": f"Bearer {DESK_TOKEN}"}
    async with httpx.AsyncClient() as http:
        origin = await http.post(f"{base_url}/mcp", json=INITIALIZE, headers=headers | {"Origin": "https://evil.example"})
        host = await http.post(f"{base_url}/mcp", json=INITIALIZE, headers=headers | {"Host": "evil.example"})
    assert origin.status_code == 403
    assert host.status_code == 421


async def test_oversized_body_is_rejected(base_url: str) -> None:
    headers = HEADERS | {"Authorization": f"Bearer {DESK_TOKEN}"}
    body: dict[str, Any] = INITIALIZE | {"padding": "x" * 10_000}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/mcp", json=body, headers=headers)
    assert response.status_code == 413


def test_non_loopback_without_tokens_is_a_startup_error(server_config: ServerConfig) -> None:
    settings = server_config.settings
    with pytest.raises(ConfigError, match="COLLECTIONS_MCP_HTTP_TOKENS"):
        check_exposure(settings, "0.0.0.0", allow_unauthenticated=False)
    check_exposure(settings, "127.0.0.1", allow_unauthenticated=False)
    check_exposure(settings, "0.0.0.0", allow_unauthenticated=True)
    check_exposure(settings.model_copy(update={"http_tokens": GRANTS}), "0.0.0.0", allow_unauthenticated=False)


def test_token_grants_are_validated_and_never_echoed() -> None:
    with pytest.raises(ValueError, match="at least 24 characters"):
        TokenGrant.model_validate({"client": "x", "token": "short", "effects": ["read"]})
    with pytest.raises(ValueError, match="exactly one of token or token_sha256"):
        TokenGrant.model_validate({"client": "x", "effects": ["read"]})
    assert IVR_TOKEN not in repr(GRANTS[0]) and IVR_TOKEN not in GRANTS[0].model_dump_json()


async def test_health_and_readiness_need_no_token(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{base_url}/healthz")
        ready = await http.get(f"{base_url}/readyz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200, ready.text
    vendors = ready.json()["vendors"]
    assert {"scollect", "collect", "billing_care", "procurios"} <= set(vendors)
    assert all(entry["ready"] for entry in vendors.values())


async def test_readiness_reports_a_vendor_that_rejects_us_without_the_secret(server_config: ServerConfig) -> None:
    from pydantic import SecretStr

    wrong = server_config.vendors["scollect"].model_copy(update={"api_key": SecretStr("WRONG-KEY-do-not-print")})
    server = build_server(replace(server_config, vendors=server_config.vendors | {"scollect": wrong}))
    app = build_http_app(server, server_config.settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url, httpx.AsyncClient() as http:
        ready = await http.get(f"{url}/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    assert body["vendors"]["scollect"]["ready"] is False
    assert "Invalid API Credentials" in body["vendors"]["scollect"]["detail"]
    assert body["vendors"]["collect"]["ready"] is True
    assert "WRONG-KEY" not in ready.text


async def test_oauth_introspection_grants_effects_from_scopes(server_config: ServerConfig, wire: Wire) -> None:
    """An existing authorization server (a loopback stand-in here) vouches for tokens via RFC 7662."""
    from pydantic import SecretStr
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    active = {"agent-token": {"active": True, "client_id": "voice-bot", "scope": "openid collections:read", "sub": "ivr-7"}}
    introspections: list[str] = []

    async def introspect(request: Request) -> JSONResponse:
        form = await request.form()
        introspections.append(str(form["token"]))
        if request.headers.get("authorization") != httpx.BasicAuth("mcp-server", "s3cret")._auth_header:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(active.get(str(form["token"]), {"active": False}))

    authorization_server = Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])
    async with serve_app(authorization_server) as issuer:
        settings = server_config.settings.model_copy(update={
            "oauth_issuer": issuer, "oauth_introspection_url": f"{issuer}/introspect",
            "oauth_client_id": "mcp-server", "oauth_client_secret": SecretStr("s3cret"),
        })  # fmt: skip
        server = build_server(replace(server_config, settings=settings))
        app = build_http_app(server, settings, "127.0.0.1", 0)
        async with server.session_manager.run(), serve_app(app) as url:
            async with httpx.AsyncClient() as http:
                unknown = await http.post(f"{url}/mcp", json=INITIALIZE, headers=HEADERS | {"Authorization": "Bearer nope"})
                metadata = await http.get(f"{url}/.well-known/oauth-protected-resource/mcp")
            async with client_for(url, "agent-token") as mcp:
                names = {tool.name for tool in (await mcp.list_tools()).tools}
                refused = await mcp.call_tool("scollect_add_note", {"file_number": "R1000", "collector_name": "x", "message": "y"})
    assert unknown.status_code == 401
    assert issuer.rstrip("/") in [entry.rstrip("/") for entry in metadata.json()["authorization_servers"]]
    assert "scollect_get_account" in names and "scollect_add_note" not in names
    assert refused.is_error and "client 'voice-bot' may not use write tools" in refused.content[0].text  # type: ignore[union-attr]
    assert "POST /InsertNoteline" not in wire.paths()
    assert introspections.count("agent-token") == 1  # cached for the session's later requests
