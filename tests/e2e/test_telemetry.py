"""Telemetry operators already use: OpenTelemetry traces (read with the SDK's in-memory exporter) and Prometheus
metrics (scraped from /metrics and parsed with prometheus_client's own parser), in both protocol eras."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ElicitResult, InputRequiredResult
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import CollectionsServer, ServerConfig, build_server
from collections_mcp.server.core.access import TokenGrant
from collections_mcp.server.transport.http import build_http_app
from tests.conftest import Wire
from tests.helpers import text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
TOKEN = "metrics-token-0123456789abcdefghij"
OVERWRITE = {"file_number": "R1030", "field": "employer", "value": "TELEMETRY EMPLOYER"}
tracer = trace.get_tracer("tests.telemetry")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(url: str, **headers: str) -> Samples:
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


def in_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [span for span in spans if span.context is not None and span.context.trace_id == trace_id]


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


def person(reply: ElicitResult) -> Any:
    async def answer(context: Any, params: Any) -> ElicitResult:
        return reply

    return answer


# --------------------------------------------------------------------------------------------------- traces


@ERAS
async def test_one_trace_per_call_with_the_vendor_requests_inside_it(
    server_config: ServerConfig, spans: InMemorySpanExporter, sandbox: RunningSandbox, mode: str
) -> None:
    async with Client(build_server(server_config), mode=mode) as mcp:  # type: ignore[arg-type]
        with tracer.start_as_current_span("agent turn") as turn:
            result = await mcp.call_tool("scollect_get_account", {"file_number": "R1000"})
    assert not result.is_error, text_of(result)
    trace_id = turn.get_span_context().trace_id
    finished = in_trace(spans.get_finished_spans(), trace_id)

    (call,) = [span for span in finished if span.name == "tools/call scollect_get_account"]
    assert call.kind == SpanKind.SERVER
    # Continued from the client: legacy, its request span (whose traceparent went in `_meta`) is the parent; the
    # in-memory 2026-07-28 client makes no span of its own. (`_meta` across a real boundary: the HTTP and stdio tests.)
    client_side = [span for span in finished if span.name == "MCP send tools/call scollect_get_account"]
    parent = client_side[0] if mode == "legacy" else turn
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    attributes = dict(call.attributes or {})
    assert attributes["collections_mcp.tool"] == "scollect_get_account"
    assert attributes["collections_mcp.toolset"] == "scollect"
    assert attributes["collections_mcp.effect"] == "read"
    assert attributes["collections_mcp.outcome"] == "ok"
    assert len(str(attributes["collections_mcp.call_id"])) == 12

    vendor = [span for span in finished if (span.attributes or {}).get("collections_mcp.vendor") == "Scollect"]
    account_reads = [span for span in vendor if span.name == "GET Scollect"]
    assert account_reads, [span.name for span in finished]
    for span in vendor:
        assert span.kind == SpanKind.CLIENT
        assert call in ancestors(span, finished)
        assert (span.attributes or {}).get("http.url") == sandbox.scollect.base_url.rstrip("/")  # origin only
    assert {(span.attributes or {}).get("http.status_code") for span in account_reads} == {200}
    # No argument value anywhere in the trace: not in names, not in attributes.
    for span in finished:
        assert "R1000" not in span.name
        assert not any("R1000" in str(value) for value in (span.attributes or {}).values()), span.name


@ERAS
async def test_the_policy_stages_that_worked_have_spans_and_the_rounds_share_one_trace(
    server_config: ServerConfig, spans: InMemorySpanExporter, wire: Wire, mode: str
) -> None:
    yes = person(ElicitResult(action="accept", content={"confirm": True}))
    async with Client(build_server(server_config), mode=mode, elicitation_callback=yes) as mcp:  # type: ignore[arg-type]
        with tracer.start_as_current_span("agent turn") as turn:
            result = await mcp.call_tool("scollect_update_account_field", OVERWRITE)
    assert not result.is_error, text_of(result)
    assert wire.paths()[-1] == "PUT /updatedbase"
    finished = in_trace(spans.get_finished_spans(), turn.get_span_context().trace_id)
    names = [span.name for span in finished]

    calls = [span for span in finished if span.name == "tools/call scollect_update_account_field"]
    # Legacy: one request (the question is pushed); 2026-07-28: a round for the question, a round with the answer.
    assert len(calls) == (1 if mode == "legacy" else 2)
    assert [dict(span.attributes or {}).get("collections_mcp.outcome") for span in calls][-1] == "ok"
    stages = {span.name: span for span in finished if span.name.startswith("policy ")}
    # Worked for a destructive call: idempotency (claimed the key), confirmation (asked the person). The others
    # pass it straight through (no token: no authorization; not a contact, not a payment) or work afterwards.
    assert set(stages) == {"policy idempotency", "policy confirmation"}
    assert {dict(span.attributes or {}).get("collections_mcp.outcome") for span in stages.values()} == {"passed"}
    first_round = calls[0]
    for stage in stages.values():
        assert stage.parent is not None and first_round.context is not None
        assert stage.parent.span_id == first_round.context.span_id  # siblings under the call, not nested
    write = [span for span in finished if span.name == "PUT Scollect"]
    assert len(write) == 1 and stages["policy confirmation"] not in ancestors(write[0], finished)
    assert "audit write" in names


@ERAS
async def test_a_refusal_shows_on_the_stage_and_the_call(
    server_config: ServerConfig, spans: InMemorySpanExporter, wire: Wire, mode: str
) -> None:
    no = person(ElicitResult(action="decline"))
    async with Client(build_server(server_config), mode=mode, elicitation_callback=no) as mcp:  # type: ignore[arg-type]
        with tracer.start_as_current_span("agent turn") as turn:
            result = await mcp.call_tool("scollect_update_account_field", OVERWRITE | {"file_number": "R1031"})
    assert result.is_error
    assert "PUT /updatedbase" not in wire.paths()
    finished = in_trace(spans.get_finished_spans(), turn.get_span_context().trace_id)
    (confirmation,) = [span for span in finished if span.name == "policy confirmation"]
    assert dict(confirmation.attributes or {})["collections_mcp.outcome"] == "refused:confirmation"
    last_round = [span for span in finished if span.name == "tools/call scollect_update_account_field"][-1]
    assert dict(last_round.attributes or {})["collections_mcp.outcome"] == "refused:confirmation"
    assert not [span for span in finished if span.name == "PUT Scollect"]


# --------------------------------------------------------------------------------------------------- metrics


@pytest.fixture
def metrics_config(server_config: ServerConfig) -> ServerConfig:
    """A server with its metrics on a separate loopback listener (COLLECTIONS_MCP_METRICS_ADDRESS)."""
    return replace(server_config, settings=server_config.settings.model_copy(update={"metrics_address": "127.0.0.1:0"}))


@ERAS
async def test_counters_and_histograms_move_as_calls_are_made(metrics_config: ServerConfig, mode: str) -> None:
    server = CollectionsServer(metrics_config)
    yes = person(ElicitResult(action="accept", content={"confirm": True}))
    async with Client(server.mcp_server(), mode=mode, elicitation_callback=yes) as mcp:  # type: ignore[arg-type]
        assert server.metrics_url is not None and server.metrics_url.startswith("http://127.0.0.1:")
        before = await scrape(server.metrics_url)
        assert not (await mcp.call_tool("scollect_get_account", {"file_number": "R1001"})).is_error
        assert (await mcp.call_tool("scollect_get_account", {})).is_error  # refused before any stage ran
        assert not (await mcp.call_tool("scollect_update_account_field", OVERWRITE | {"file_number": "R1032"})).is_error
        after = await scrape(server.metrics_url)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    read, write = "scollect_get_account", "scollect_update_account_field"
    assert moved("collections_mcp_tool_calls_total", tool=read, outcome="ok") == 1
    assert moved("collections_mcp_tool_calls_total", tool=read, outcome="invalid_arguments") == 1
    # A call that asks a person counts once, however many rounds it took (2026-07-28: two).
    assert moved("collections_mcp_tool_calls_total", tool=write, outcome="ok") == 1
    assert moved("collections_mcp_tool_call_duration_seconds_count", tool=read) == 1  # refusals have no latency
    assert moved("collections_mcp_tool_call_duration_seconds_count", tool=write) == 1
    assert moved("collections_mcp_vendor_requests_total", vendor="Scollect", status="200") >= 3  # read, summary, write
    assert moved("collections_mcp_vendor_request_duration_seconds_count", vendor="Scollect") >= 3
    assert moved("collections_mcp_audit_write_duration_seconds_count") == 3
    label_values = {value for (_, labels) in after for _, value in labels}
    assert not any(value.startswith(("R10", "TELEMETRY")) for value in label_values)


async def test_vendor_errors_are_counted_by_vendor(metrics_config: ServerConfig, sandbox: RunningSandbox) -> None:
    server = CollectionsServer(metrics_config)
    faults = sandbox.scollect.app.state.faults
    note = {"collector_name": "metrics", "message": "vendor errors are counted"}
    async with Client(server.mcp_server()) as mcp:
        assert server.metrics_url is not None
        before = await scrape(server.metrics_url)
        faults.http_error("^/InsertNoteline$", 503)  # writes are never retried: one request each
        failed_5xx = await mcp.call_tool("scollect_add_note", {"file_number": "R1003", **note})
        faults.drop("^/InsertNoteline$")
        failed_connection = await mcp.call_tool("scollect_add_note", {"file_number": "R1004", **note})
        after = await scrape(server.metrics_url)
    assert failed_5xx.is_error and failed_connection.is_error
    assert faults.pending == []

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("collections_mcp_vendor_requests_total", vendor="Scollect", status="503") == 1
    assert moved("collections_mcp_vendor_requests_total", vendor="Scollect", status="connection_error") == 1
    assert moved("collections_mcp_vendor_request_errors_total", vendor="Scollect", error="server_error") == 1
    assert moved("collections_mcp_vendor_request_errors_total", vendor="Scollect", error="connection") == 1
    assert moved("collections_mcp_vendor_request_duration_seconds_count", vendor="Scollect") >= 2
    assert moved("collections_mcp_tool_calls_total", tool="scollect_add_note", outcome="vendor_error") == 2


async def test_live_conversations_and_open_payment_pages_are_gauges(metrics_config: ServerConfig) -> None:
    server = CollectionsServer(metrics_config)
    callback = person(ElicitResult(action="decline"))
    async with Client(server.mcp_server(), mode="2026-07-28", elicitation_callback=callback) as mcp:
        assert server.metrics_url is not None
        idle = await scrape(server.metrics_url)
        payment = {"file_number": "R1064", "amount": "20.00"}
        first = await mcp.session.call_tool("scollect_record_payment", payment, allow_input_required=True)
        assert isinstance(first, InputRequiredResult)  # waiting for the person at the secure page
        waiting = await scrape(server.metrics_url)
        (key,) = first.input_requests
        done = await mcp.session.call_tool(
            "scollect_record_payment", payment, allow_input_required=True,
            input_responses={key: ElicitResult(action="decline")}, request_state=first.request_state,
        )  # fmt: skip
        ended = await scrape(server.metrics_url)
    assert not isinstance(done, InputRequiredResult) and done.is_error
    assert sample(idle, "collections_mcp_live_conversations") == 0
    assert sample(idle, "collections_mcp_open_payment_pages") == 0
    assert sample(waiting, "collections_mcp_live_conversations") == 1
    assert sample(waiting, "collections_mcp_open_payment_pages") == 1
    assert sample(ended, "collections_mcp_live_conversations") == 0
    assert sample(ended, "collections_mcp_open_payment_pages") == 0


# ------------------------------------------------------------------------------------ over HTTP, with tokens


@pytest.fixture
async def http_server(server_config: ServerConfig) -> AsyncIterator[tuple[str, CollectionsServer]]:
    grants = [TokenGrant.model_validate({"client": "ops", "token": TOKEN, "effects": ["read"]})]
    settings = server_config.settings.model_copy(update={"http_tokens": grants})
    built = CollectionsServer(replace(server_config, settings=settings))
    server = built.mcp_server()
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url, built


async def test_metrics_on_the_http_app_need_a_token(http_server: tuple[str, CollectionsServer]) -> None:
    url, _ = http_server
    async with httpx.AsyncClient(trust_env=False) as http:
        anonymous = await http.get(f"{url}/metrics")
        wrong = await http.get(f"{url}/metrics", headers={"Authorization": "Bearer not-the-token-0000000000000"})
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "collections_mcp" not in refused.text
    samples = await scrape(f"{url}/metrics", Authorization=f"Bearer {TOKEN}")
    assert ("collections_mcp_live_conversations", frozenset()) in samples


async def _legacy_session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    """A 2025-11-25 session over raw HTTP: what any MCP client sends, without the SDK's own tracing."""
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}}  # fmt: skip
    response = await http.post(f"{url}/mcp", json=initialize, headers=headers)
    assert response.status_code == 200, response.text
    headers |= {"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    await http.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


async def test_a_traceparent_in_meta_is_continued_and_the_scrape_counts_the_call(
    http_server: tuple[str, CollectionsServer], spans: InMemorySpanExporter
) -> None:
    url, built = http_server
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "scollect_get_phones", "arguments": {"file_number": "R1000"},
        "_meta": {"traceparent": f"00-{trace_id}-{parent_id}-01"}}}  # fmt: skip
    async with httpx.AsyncClient(trust_env=False) as http:
        headers = await _legacy_session(http, url)
        before = await scrape(f"{url}/metrics", Authorization=f"Bearer {TOKEN}")
        response = await http.post(f"{url}/mcp", json=call, headers=headers)
        after = await scrape(f"{url}/metrics", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200 and '"isError":false' in response.text.replace(" ", "")
    (server_span,) = [span for span in spans.get_finished_spans() if span.name == "tools/call scollect_get_phones"]
    assert server_span.context is not None and f"{server_span.context.trace_id:032x}" == trace_id
    assert server_span.parent is not None and f"{server_span.parent.span_id:016x}" == parent_id
    vendor = [span for span in in_trace(spans.get_finished_spans(), int(trace_id, 16)) if span.name == "GET Scollect"]
    assert vendor, "the vendor request belongs to the client's trace"
    counted = ("collections_mcp_tool_calls_total", frozenset({("tool", "scollect_get_phones"), ("outcome", "ok")}))
    assert after[counted] - before.get(counted, 0.0) == 1
    assert built.metrics_url is None  # no separate listener unless configured


async def test_with_a_separate_address_the_http_app_serves_no_metrics(metrics_config: ServerConfig) -> None:
    settings = metrics_config.settings
    app = build_http_app(build_server(metrics_config), settings, "127.0.0.1", 0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        assert (await http.get("/metrics")).status_code == 404


# ------------------------------------------------------------------ a real process: OTEL_* and stdio metrics


class OtlpSink:
    """An OTLP/HTTP collector on loopback: keeps the spans the server exports (protobuf, as the exporter sends)."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.changed = anyio.Event()
        self.app = Starlette(routes=[Route("/v1/traces", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await request.body())
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((resource_spans.resource, span) for span in scope_spans.spans)
        self.changed.set()
        self.changed = anyio.Event()
        return Response(b"", media_type="application/x-protobuf")

    async def wait_for(self, *names: str) -> None:
        while not set(names) <= {span.name for _, span in self.spans}:
            await self.changed.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
async def test_a_stdio_server_traces_to_the_otel_endpoint_and_serves_metrics_on_its_port(tmp_path: Path) -> None:
    sink, port = OtlpSink(), free_port()
    script = str(Path(sys.executable).with_name("collections-mcp"))
    async with serve_app(sink.app) as collector:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("COLLECTIONS_MCP_", "SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_", "OTEL_"))}  # fmt: skip
        env |= {
            "COLLECTIONS_MCP_SANDBOX": "1", "COLLECTIONS_MCP_STATE_DIR": str(tmp_path / "state"),
            "COLLECTIONS_MCP_METRICS_ADDRESS": f"127.0.0.1:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "collections-mcp-test",
        }  # fmt: skip
        (tmp_path / ".env").write_text(f"OTEL_EXPORTER_OTLP_ENDPOINT={collector}\n")  # OTEL_* from .env too
        params = StdioServerParameters(command=script, args=["serve", "--transport", "stdio"], env=env, cwd=str(tmp_path))
        async with Client(params) as mcp:  # 2026-07-28
            with tracer.start_as_current_span("agent turn") as turn:
                result = await mcp.call_tool("scollect_get_account", {"file_number": "R1000"})
            samples = await scrape(f"http://127.0.0.1:{port}/metrics")
            with anyio.fail_after(20):  # a hang guard: the batch exporter sends within its 50 ms delay
                await sink.wait_for("tools/call scollect_get_account", "GET Scollect")
    assert not result.is_error, text_of(result)
    assert sample(samples, "collections_mcp_tool_calls_total", tool="scollect_get_account", outcome="ok") == 1
    trace_id = turn.get_span_context().trace_id.to_bytes(16, "big")
    (call,) = [span for _, span in sink.spans if span.name == "tools/call scollect_get_account"]
    assert call.trace_id == trace_id  # continued from the `_meta` the client sent over stdio
    attributes = {item.key: item.value.string_value for item in call.attributes}
    assert attributes["collections_mcp.outcome"] == "ok" and attributes["collections_mcp.toolset"] == "scollect"
    vendor = [span for _, span in sink.spans if span.name == "GET Scollect"]
    assert all(span.trace_id == trace_id for span in vendor)
    resource = {item.key: item.value.string_value for item in sink.spans[0][0].attributes}
    assert resource["service.name"] == "collections-mcp-test"
    assert "R1000" not in json.dumps([str(span) for _, span in sink.spans])
