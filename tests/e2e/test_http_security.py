"""Streamable HTTP facing a network: bearer tokens, per-client effects, host/origin checks, body limit."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.access import TokenGrant
from collections_mcp.server.core.registry import EFFECT_META
from collections_mcp.server.ops.cli import check_exposure
from collections_mcp.server.settings import ConfigError
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.transport.http import build_http_app
from tests.conftest import Wire
from tests.e2e.console import serve_http
from tests.helpers import text_of

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
T0 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


@pytest.fixture
async def base_url(server_config: ServerConfig) -> AsyncIterator[str]:
    settings = server_config.settings.model_copy(update={"http_tokens": GRANTS, "http_max_body_bytes": 4096})
    server = build_server(replace(server_config, settings=settings))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url


class Responses:
    """What the SDK client's own HTTP client received (status and headers), via an httpx2 event hook."""

    def __init__(self) -> None:
        self.seen: list[httpx2.Response] = []

    async def __call__(self, response: httpx2.Response) -> None:
        self.seen.append(response)


def client_for(
    base_url: str, token: str | None, mode: str = "auto", responses: Responses | None = None, **headers: str
) -> Client:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    hooks = {"response": [responses]} if responses is not None else {}
    http = httpx2.AsyncClient(headers=headers, event_hooks=hooks)
    return Client(streamable_http_client(f"{base_url}/mcp", http_client=http), mode=mode)  # type: ignore[arg-type]


async def audit_records(state_dir: Path, tool: str) -> list[Any]:
    audit = SqliteAuditLog(audit_path(state_dir))
    try:
        return await audit.query(None, tool, 100)
    finally:
        audit.close()


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-real-token-at-all-000000", "Basic abc"])
async def test_missing_or_wrong_token_is_401_with_www_authenticate(base_url: str, authorization: str | None) -> None:
    headers = HEADERS | ({"Authorization": authorization} if authorization else {})
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "resource_metadata" in response.headers["www-authenticate"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("token", [None, "not-a-real-token-at-all-000000"])
async def test_the_sdk_client_without_a_valid_token_is_turned_away_with_401(
    base_url: str, wire: Wire, mode: str, token: str | None
) -> None:
    responses = Responses()
    with pytest.raises(ExceptionGroup) as failure:  # what escapes `async with Client(url)`
        async with client_for(base_url, token, mode, responses) as mcp:
            await mcp.list_tools()
    assert failure.group_contains(MCPError)
    assert responses.seen and {response.status_code for response in responses.seen} == {401}
    assert all(response.headers["www-authenticate"].startswith("Bearer") for response in responses.seen)
    assert wire.paths() == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_limited_token_sees_and_may_use_only_its_effects(
    base_url: str, wire: Wire, mode: str, server_config: ServerConfig
) -> None:
    async with client_for(base_url, DESK_TOKEN, mode) as mcp:
        everything = {tool.name: (tool.meta or {}).get(EFFECT_META) for tool in (await mcp.list_tools()).tools}
    assert {"write", "contact", "money"} <= set(everything.values())
    refused_calls = {
        "scollect_add_note": {"file_number": "R1000", "collector_name": "x", "message": "y"},
        "scollect_send_text": {"file_number": "R1000", "template": "Missed 1"},
        "scollect_run_payment": {"file_number": "R1012", "amount": "10.00"},
    }
    assert {everything[name] for name in refused_calls} == {"write", "contact", "money"}

    async with client_for(base_url, IVR_TOKEN, mode) as mcp:
        listed = {tool.name: (tool.meta or {}).get(EFFECT_META) for tool in (await mcp.list_tools()).tools}
        read = await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
        refused = {name: await mcp.call_tool(name, arguments) for name, arguments in refused_calls.items()}
    assert set(listed.values()) == {"read"}
    assert set(listed) == {name for name, effect in everything.items() if effect == "read"}
    assert not read.is_error
    for name, result in refused.items():
        effect = everything[name]
        assert result.is_error, name
        text = text_of(result)
        assert "Refused by authorization" in text and f"client 'ivr' may not use {effect} tools" in text
        assert "403" in text
        records = await audit_records(server_config.settings.state_dir, name)
        assert [(r.client_name, r.outcome) for r in records] == [("ivr", "refused:authorization")], name
    assert wire.paths() == ["GET /getphones/R1000"]


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


@pytest.fixture
async def listed_url(server_config: ServerConfig) -> AsyncIterator[str]:
    """A server whose operator listed a host name, an any-port host and a browser origin, and set a public URL."""
    settings = server_config.settings.model_copy(update={
        "http_tokens": GRANTS,
        "http_allowed_hosts": ["mcp.agency.test", "10.20.30.40:*"],
        "http_allowed_origins": ["https://console.agency.test"],
        "public_url": "https://collections.agency.test",
    })  # fmt: skip
    server = build_server(replace(server_config, settings=settings))
    app = build_http_app(server, settings, "0.0.0.0", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "mcp.agency.test"},
        {"Host": "10.20.30.40:8443"},
        {"Host": "collections.agency.test"},  # derived from COLLECTIONS_MCP_PUBLIC_URL
        {"Origin": "https://console.agency.test"},
        {"Host": "mcp.agency.test", "Origin": "https://console.agency.test"},
    ],
)
async def test_listed_hosts_and_origins_are_accepted(listed_url: str, headers: dict[str, str]) -> None:
    async with client_for(listed_url, DESK_TOKEN, "legacy", **headers) as mcp:
        result = await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert not result.is_error, text_of(result)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "mcp.agency.test:8443"}, 421),  # a bare name means the default port only
        ({"Host": "mcp.agency.test.evil.example"}, 421),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "http://console.agency.test"}, 403),
    ],
)
async def test_hosts_and_origins_not_listed_are_rejected(listed_url: str, headers: dict[str, str], status: int) -> None:
    responses = Responses()
    with pytest.raises(ExceptionGroup) as failure:  # what escapes `async with Client(url)`
        async with client_for(listed_url, DESK_TOKEN, "legacy", responses, **headers) as mcp:
            await mcp.list_tools()
    assert failure.group_contains(MCPError)
    assert {response.status_code for response in responses.seen} == {status}


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


def console_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    prefixes = ("SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_", "COLLECTIONS_MCP_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    tokens = json.dumps([{"client": "ivr", "token": IVR_TOKEN, "effects": ["read"]}])
    return env | {"COLLECTIONS_MCP_SANDBOX": "1", "COLLECTIONS_MCP_STATE_DIR": str(tmp_path / "state"),
                  "COLLECTIONS_MCP_HTTP_TOKENS": tokens} | extra  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("allowed_hosts", [None, "mcp.agency.test"])
async def test_a_wildcard_bind_that_no_remote_host_can_pass_warns_at_startup(tmp_path: Path, allowed_hosts: str | None) -> None:
    extra = {"COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS": allowed_hosts} if allowed_hosts else {}
    async with serve_http(["--host", "0.0.0.0", "--port", "0"], console_env(tmp_path, **extra), tmp_path) as served:
        startup = served.stderr_json()  # every line up to "... at URL": JSON
        port = served.url.rsplit(":", 1)[1].split("/")[0]
        headers = HEADERS | {"Authorization": f"Bearer {IVR_TOKEN}"}
        async with httpx.AsyncClient() as http:
            remote = await http.post(f"http://127.0.0.1:{port}/mcp", json=INITIALIZE, headers=headers | {"Host": f"10.1.2.3:{port}"})
            local = await http.post(f"http://127.0.0.1:{port}/mcp", json=INITIALIZE, headers=headers)
    warnings = [line["message"] for line in startup if line["level"] == "warning"]
    assert local.status_code == 200
    assert remote.status_code == 421  # what the warning is about: a Host header clients on the network send
    if allowed_hosts is None:
        (warning,) = warnings
        assert "every remote client gets 421" in warning
        assert "COLLECTIONS_MCP_HTTP_ALLOWED_HOSTS=" in warning and "COLLECTIONS_MCP_PUBLIC_URL" in warning
    else:
        assert warnings == []


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
    settings = server_config.settings.model_copy(update={"http_tokens": GRANTS})
    server = build_server(replace(server_config, settings=settings, vendors=server_config.vendors | {"scollect": wrong}))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url, httpx.AsyncClient() as http:
        ready = await http.get(f"{url}/readyz", headers={"Authorization": f"Bearer {IVR_TOKEN}"})
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    assert body["vendors"]["scollect"]["ready"] is False
    assert "Invalid API Credentials" in body["vendors"]["scollect"]["detail"]
    assert body["vendors"]["collect"]["ready"] is True
    assert "WRONG-KEY" not in ready.text


async def test_readiness_without_a_token_says_only_ready_or_not_and_details_need_one(
    server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    """/readyz needs no token (a load balancer), so its unauthenticated answer names no operator, no vendor
    message and no breaker: only ready or not, per vendor. A valid token (any effect) gets the details."""
    settings = server_config.settings.model_copy(update={"http_tokens": GRANTS})
    server = build_server(replace(server_config, settings=settings))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url, httpx.AsyncClient() as http:
        anonymous = await http.get(f"{url}/readyz")
        wrong = await http.get(f"{url}/readyz", headers={"Authorization": "Bearer not-a-real-token-at-all-000000"})
        authorised = await http.get(f"{url}/readyz", headers={"Authorization": f"Bearer {IVR_TOKEN}"})
    assert anonymous.status_code == wrong.status_code == authorised.status_code == 200
    assert anonymous.json() == wrong.json() == {
        "status": "ready", "vendors": {name: {"ready": True} for name in anonymous.json()["vendors"]},
    }  # fmt: skip
    assert {"scollect", "collect", "billing_care", "procurios"} <= set(anonymous.json()["vendors"])
    operator = sandbox.collect.operator_id
    assert operator not in anonymous.text and "logged in" not in anonymous.text
    details = authorised.json()
    assert f"operator {operator}" in details["vendors"]["collect"]["detail"]
    assert details["vendors"]["scollect"]["vendor"] == "Scollect (SMAX)" and details["checked_at"]
    assert details["breakers"]["Collect!"]["state"] == "closed"


async def test_readiness_really_reaches_each_vendor_and_a_flood_costs_one_probe(
    server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    """Each check reaches every vendor (Collect! too, token or not); answers are reused for a few seconds, so a
    flood of /readyz is one round of probes, not a flood of vendor logins."""
    from tests.helpers import Clock

    clock = Clock(T0)
    server = build_server(replace(server_config, clock=clock))
    app = build_http_app(server, server_config.settings, "127.0.0.1", 0)
    collect_log = sandbox.collect.app.state.request_log
    faults = sandbox.collect.app.state.faults
    try:
        async with server.session_manager.run(), serve_app(app) as url, httpx.AsyncClient() as http:
            first = await http.get(f"{url}/readyz")
            after_first = len(collect_log)
            flood = [await http.get(f"{url}/readyz") for _ in range(20)]
            after_flood = len(collect_log)
            faults.http_error(".", 503, times=1000)  # Collect! now fails every request
            cached = await http.get(f"{url}/readyz")
            clock.now += timedelta(seconds=6)
            fresh = await http.get(f"{url}/readyz")
    finally:
        faults.clear()
    assert first.status_code == 200 and all(response.status_code == 200 for response in flood)
    assert after_flood == after_first  # answered from the last check
    assert cached.status_code == 200  # still within the few seconds of the last check
    assert fresh.status_code == 503 and fresh.json()["vendors"]["collect"] == {"ready": False}
    assert len(collect_log) > after_flood  # the probe reached Collect! although it holds a token


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


async def test_an_authorization_server_outage_is_not_cached_as_an_invalid_token(server_config: ServerConfig) -> None:
    """One failed introspection (the authorization server answered 503, then its connection dropped) locks
    nobody out: only definite answers are cached. The introspection client is closed when the server stops."""
    from pydantic import SecretStr
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from collections_mcp.server.app import CollectionsServer

    answers = [JSONResponse({"error": "temporarily_unavailable"}, status_code=503)]
    introspections: list[str] = []

    async def introspect(request: Request) -> JSONResponse:
        form = await request.form()
        introspections.append(str(form["token"]))
        if answers:
            return answers.pop(0)
        if form["token"] == "agent-token":
            return JSONResponse({"active": True, "client_id": "voice-bot", "scope": "collections:read"})
        return JSONResponse({"active": False})

    authorization_server = Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])
    async with serve_app(authorization_server) as issuer:
        settings = server_config.settings.model_copy(update={
            "oauth_issuer": issuer, "oauth_introspection_url": f"{issuer}/introspect",
            "oauth_client_id": "mcp-server", "oauth_client_secret": SecretStr("s3cret"),
        })  # fmt: skip
        built = CollectionsServer(replace(server_config, settings=settings))
        server = built.mcp_server()
        app = build_http_app(server, settings, "127.0.0.1", 0)
        async with server.session_manager.run(), serve_app(app) as url, httpx.AsyncClient() as http:
            bearer = HEADERS | {"Authorization": "Bearer agent-token"}
            during_outage = await http.post(f"{url}/mcp", json=INITIALIZE, headers=bearer)
            after_outage = await http.post(f"{url}/mcp", json=INITIALIZE, headers=bearer)
            unknown = await http.post(f"{url}/mcp", json=INITIALIZE, headers=HEADERS | {"Authorization": "Bearer nope"})
            unknown_again = await http.post(f"{url}/mcp", json=INITIALIZE, headers=HEADERS | {"Authorization": "Bearer nope"})
            assert built.token_verifier is not None and not built.token_verifier.closed
    assert during_outage.status_code == 401  # fail closed while the authorization server cannot answer
    assert after_outage.status_code == 200, after_outage.text  # the outage was not remembered as "invalid"
    assert (unknown.status_code, unknown_again.status_code) == (401, 401)
    assert introspections == ["agent-token", "agent-token", "nope"]  # a definite "inactive" is cached
    assert built.token_verifier.closed  # closed at shutdown


async def test_a_breakers_last_failure_never_shows_an_ssn_from_the_request_path(
    server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    """The breaker remembers what its last failed request ran into, path included; /readyz shows it masked."""
    ssn = next(
        str(account["socialsecuritynumber"]) for number in sandbox.scollect.store.file_numbers()
        if len(str((account := sandbox.scollect.store.account(number)).get("socialsecuritynumber") or "").replace("-", "")) == 9
    )  # fmt: skip
    # One failure opens the breaker (and keeps it open): the probe then fails at once, quoting the last failure.
    settings = server_config.settings.model_copy(
        update={"http_tokens": GRANTS, "call_deadline_seconds": 0.3, "breaker_failures": 1}
    )
    server = build_server(replace(server_config, settings=settings))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    faults = sandbox.scollect.app.state.faults
    faults.silent("^/getaccountbysocial/", times=5)
    try:
        async with server.session_manager.run(), serve_app(app) as url:
            async with client_for(url, DESK_TOKEN) as mcp:
                failed = await mcp.call_tool("scollect_find_accounts_by_ssn", {"ssn": ssn})
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"{url}/readyz", headers={"Authorization": f"Bearer {IVR_TOKEN}"})
    finally:
        faults.clear()
    assert failed.is_error
    last = ready.json()["breakers"]["Scollect"]["last_failure"]
    assert "/getaccountbysocial/***-**-" in last or "/getaccountbysocial/*****" in last
    assert "unreachable since" in ready.json()["vendors"]["scollect"]["detail"]
    digits = ssn.replace("-", "")
    for text in (ready.text, text_of(failed)):
        assert ssn not in text and digits not in text
