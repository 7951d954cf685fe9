"""The telemetry layer on its own: the breaker-state gauge's source, one registry per server, what turns tracing on,
and the metrics address setting."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.telemetry.metrics import BreakerState, ServerMetrics
from collections_mcp.server.telemetry.tracing import TracingConfigError, _exporter, requested_exporters


class Breakers:
    """Stands in for the vendor circuit breakers (issue 16, the other half): anything with `breaker_states()`."""

    def __init__(self) -> None:
        self.states: dict[str, BreakerState] = {}

    def breaker_states(self) -> Mapping[str, BreakerState]:
        return self.states


def gauge(metrics: ServerMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = metrics.exposition()[0].decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_breaker_state_gauge_reads_its_source_at_every_scrape() -> None:
    metrics, breakers = ServerMetrics(), Breakers()
    assert gauge(metrics, "collections_mcp_vendor_breaker_state") == {}  # no breakers plugged in: no samples
    metrics.watch(breakers=breakers)
    breakers.states = {"Scollect": BreakerState.CLOSED, "Collect!": BreakerState.OPEN}
    assert gauge(metrics, "collections_mcp_vendor_breaker_state") == {
        (("vendor", "Collect!"),): 2.0,
        (("vendor", "Scollect"),): 0.0,
    }
    breakers.states["Collect!"] = BreakerState.HALF_OPEN
    assert gauge(metrics, "collections_mcp_vendor_breaker_state")[(("vendor", "Collect!"),)] == 1.0


def test_every_server_has_its_own_registry() -> None:
    first, second = ServerMetrics(), ServerMetrics()
    first.call_finished("scollect_get_account", "ok", 0.02)
    assert gauge(first, "collections_mcp_tool_calls_total") == {(("outcome", "ok"), ("tool", "scollect_get_account")): 1.0}
    assert gauge(second, "collections_mcp_tool_calls_total") == {}


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),  # nothing asked for: off (the SDK's own default would send to localhost:4318)
        ({"OTEL_SERVICE_NAME": "x"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_tracing_is_off_unless_the_otel_environment_asks_for_it(environ: dict[str, str], exporters: list[str]) -> None:
    assert requested_exporters(environ) == exporters


def test_an_exporter_that_cannot_be_had_is_a_clear_configuration_error() -> None:
    with pytest.raises(TracingConfigError, match="'zipkinish', which is not installed"):
        _exporter("zipkinish", {})
    with pytest.raises(TracingConfigError, match="http/json"):
        _exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


@pytest.mark.parametrize(
    ("value", "listen"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464)),
     ("0.0.0.0:9464", ("0.0.0.0", 9464))],
)
def test_metrics_address_is_host_and_port(value: str, listen: tuple[str, int]) -> None:
    assert ServerSettings(_env_file=None, metrics_address=value).metrics_listen == listen  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["localhost", "127.0.0.1:http", "127.0.0.1:70000"])
def test_a_bad_metrics_address_says_what_is_expected(value: str) -> None:
    with pytest.raises(ValidationError, match=r"expected host:port \(e.g. 127.0.0.1:9464\)"):
        ServerSettings(_env_file=None, metrics_address=value)  # type: ignore[call-arg]
