"""OpenTelemetry traces: the tool call, the policy stages that did work for it, and every vendor request.

The MCP SDK already opens one SERVER span per inbound MCP message (`tools/call <tool>`, mcp/server/_otel.py),
continuing the W3C trace context a client sends in `_meta`; it is the call's span here, not a second one.
This module adds to it:
- the call's attributes on that span (`annotate_call`: tool, vendor, effect, outcome, call id);
- a child span per policy stage that does work for the call (`run_traced_stage`): it covers the stage's own work
  before the call goes on (a person's answer, the compliance reads, the idempotency claim), so stages are siblings
  under the call, not nested in each other;
- a CLIENT span per vendor HTTP request (opentelemetry-instrumentation-httpx on the vendor clients' httpx), named
  after its vendor, with the URL cut to scheme, host and port (paths and queries hold account numbers, SSNs,
  names);
- `audit write` spans (`child_span`, from the audit store).

Off unless asked for: `configure_tracing` installs an SDK tracer provider only when the standard OTEL_* variables
ask for an exporter (or one is already installed, e.g. by `opentelemetry-instrument`). Without one the API hands
out non-recording spans, every helper here checks `is_recording()` on the current span first (one context lookup)
and creates nothing, and vendor requests are not instrumented at all.

No argument value ever becomes a span attribute: what is set is tool, vendor, effect, outcome, status, durations.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span

from collections_mcp.tools.common.http import VENDOR_EXTENSION

T = TypeVar("T")

TRACER_NAME = "collections_mcp"
_tracer = trace.get_tracer(TRACER_NAME)

# Attribute names (our own namespace beside the SDK's `gen_ai.tool.name`, `mcp.method.name`).
TOOL = "collections_mcp.tool"
TOOLSET = "collections_mcp.toolset"
EFFECT = "collections_mcp.effect"
OUTCOME = "collections_mcp.outcome"
CALL_ID = "collections_mcp.call_id"
STAGE = "collections_mcp.stage"
VENDOR = "collections_mcp.vendor"
# The URL attributes of both HTTP semantic-convention generations the httpx instrumentation may set.
_URL_ATTRIBUTES = ("url.full", "http.url")

DEFAULT_SERVICE_NAME = "collections-mcp"


class TracingConfigError(ValueError):
    """The OTEL_* variables ask for something this installation cannot do (the message says what to change)."""


def recording() -> bool:
    """Whether spans made now belong in a trace: the current span is a real, sampled one. It may have ended
    already: a 2026-07-28 conversation goes on in the background after the round that started it answered."""
    span = trace.get_current_span()
    return span.get_span_context().trace_flags.sampled and not isinstance(span, NonRecordingSpan)


def annotate_call(attributes: Mapping[str, str]) -> None:
    """Put the call's attributes on its span (the SDK's `tools/call` span) when it records."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes)


@contextmanager
def child_span(name: str, attributes: Mapping[str, str] | None = None) -> Iterator[Span | None]:
    """A span under the current one, only when tracing is on for it (else nothing is created)."""
    if not recording():
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=attributes, record_exception=False) as span:
        yield span


async def run_traced_stage(
    name: str,
    stage: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]],
    proceed: Callable[[], Awaitable[T]],
    outcome_of: Callable[[BaseException], str],
) -> T:
    """Run one policy stage with a span for its own work: from the stage's start until it lets the call go on
    (`proceed`), or until it ends the call itself (a refusal, a replayed result). The rest of the call runs under
    the call's span again, so the next stage's span is a sibling, and vendor requests the stage itself makes
    (compliance facts, a confirmation summary) are its children."""
    parent = otel_context.get_current()
    span = _tracer.start_span(f"policy {name}", context=parent, attributes={STAGE: name})
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    went_on = False

    async def go_on() -> T:
        nonlocal went_on
        went_on = True
        span.set_attribute(OUTCOME, "passed")
        span.end()
        inner = otel_context.attach(parent)
        try:
            return await proceed()
        finally:
            otel_context.detach(inner)

    try:
        result = await stage(go_on)
    except BaseException as exc:
        if not went_on:
            span.set_attribute(OUTCOME, outcome_of(exc))
        raise
    else:
        if not went_on:
            span.set_attribute(OUTCOME, "answered")  # the stage gave the result itself (a replay)
        return result
    finally:
        if not went_on:
            span.end()
        otel_context.detach(token)


# ------------------------------------------------------------------------------------------------ configuration


def requested_exporters(environ: Mapping[str, str]) -> list[str]:
    """The trace exporters the standard OTEL_* variables ask for; empty means tracing stays off.

    `OTEL_SDK_DISABLED=true` wins; then `OTEL_TRACES_EXPORTER` (comma list; `none` is off); without it, an OTLP
    endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`) asks for `otlp`. Unlike the
    OpenTelemetry SDK's own default (`otlp` to localhost whenever it is loaded), nothing set means off: a desktop
    client starting this server must not make it send spans anywhere.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if names:
        return [name for name in names if name != "none"]
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    """One span exporter; each reads its own OTEL_EXPORTER_* variables (endpoint, headers, timeout...)."""
    if name == "otlp":
        protocol = (
            environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
        ).strip()
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter()
        if protocol == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter as GrpcSpanExporter,
                )
            except ImportError:
                raise TracingConfigError(
                    "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs `pip install opentelemetry-exporter-otlp-proto-grpc` in "
                    "this installation; or use http/protobuf (the default, port 4318)"
                ) from None
            return GrpcSpanExporter()
        raise TracingConfigError(f"OTLP protocol {protocol!r} is not supported here; use http/protobuf or grpc")
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries MCP under stdio
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed (known here: otlp, console, "
            f"{', '.join(sorted(ep.name for ep in entry_points(group='opentelemetry_traces_exporter')))})"
        )
    return next(iter(found)).load()()


def _resource(service_version: str) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource

    detected = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, as the SDK reads them
    ours: dict[str, str] = {}
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        ours[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if SERVICE_VERSION not in detected.attributes:
        ours[SERVICE_VERSION] = service_version
    return detected.merge(Resource(ours))


def configure_tracing(service_version: str, environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on for this process when the OTEL_* environment asks for it; True when it is on.

    With an exporter requested: an SDK tracer provider (sampler from OTEL_TRACES_SAMPLER, batching from
    OTEL_BSP_*, service name from OTEL_SERVICE_NAME, default `collections-mcp`) with a batch processor per
    exporter, installed globally, and the vendor clients' requests instrumented. A provider someone installed
    already (`opentelemetry-instrument collections-mcp serve`) is used as it is.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    environ = os.environ if environ is None else environ
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        instrument_vendor_requests()
        return True
    names = requested_exporters(environ)
    if not names:
        return False
    exporters = [_exporter(name, environ) for name in names]
    provider = TracerProvider(resource=_resource(service_version))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrument_vendor_requests()
    return True


def instrument_vendor_requests() -> None:
    """Trace every request of the vendor clients (httpx), once per process, with the hooks below."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(async_request_hook=_name_vendor_request)


async def _name_vendor_request(span: Span, request: Any) -> None:
    """Name the request's vendor, and cut its URL to scheme://host:port: paths and queries carry argument values
    (`/getaccountbysocial/<ssn>`, `?filter=name:...`)."""
    if not span.is_recording():
        return
    import httpx

    url = request.url if isinstance(request.url, httpx.URL) else httpx.URL(request.url)
    origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    present = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        if key in present:
            span.set_attribute(key, origin)
    vendor = (request.extensions or {}).get(VENDOR_EXTENSION)
    if isinstance(vendor, str):
        span.set_attribute(VENDOR, vendor)
        method = request.method.decode() if isinstance(request.method, bytes) else str(request.method)
        span.update_name(f"{method} {vendor}")
