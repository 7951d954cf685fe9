"""Prometheus metrics, one registry per server (a test process builds many servers).

What is counted, and where it is fed from:
- tool calls by tool and outcome, and their latency (the call log stage; calls refused before the stages by
  the pipeline's rejection path), one observation per call whatever the protocol era;
- vendor requests by vendor and HTTP status (or timeout / connection failure), their latency, and errors
  (timeouts, connection failures, 5xx) (`tools/common/http.send`, through the observer the pipeline installs);
- audit write latency (the audit store);
- read when scraped: live conversations (2026-07-28 calls held between rounds), open payment pages, and the
  state of each vendor's circuit breaker (from any `BreakerStates` source plugged in with `watch`).

Label values come from fixed sets only (tool names, outcome words, vendor names, status codes): never an
argument value, so nothing a debtor said or typed can reach a scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collections_mcp.tools.common.http import VendorFailure
from collections_mcp.tools.common.resilience import BreakerState

# A phone call waits on every tool call: the low buckets matter; calls that ask a person run for minutes.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
VENDOR_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
AUDIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


# A vendor circuit breaker's state (tools/common/resilience.py), exported as 0 closed, 1 half open, 2 open.
BREAKER_GAUGE_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}


class BreakerStates(Protocol):
    """Where the breaker-state gauge reads from at each scrape: every vendor's breaker, by the vendor name the
    vendor clients report (`send(http, vendor, ...)`: "Scollect", "Collect!", ...)."""

    def breaker_states(self) -> Mapping[str, BreakerState]: ...


class ServerMetrics:
    """Every metric of one server, in its own registry; `exposition()` is what /metrics serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tool_calls = Counter(
            "collections_mcp_tool_calls", "Tool calls by tool and outcome (ok, refused:<stage>, vendor_error, "
            "invalid_arguments, ...), one per call whatever the protocol era.",
            ["tool", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.tool_call_seconds = Histogram(
            "collections_mcp_tool_call_duration_seconds",
            "Tool call latency from validated arguments to result, stages and vendor work included.",
            ["tool"], buckets=CALL_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.vendor_requests = Counter(
            "collections_mcp_vendor_requests", "Vendor HTTP requests by vendor and HTTP status (or timeout, "
            "connection_error when no status came back).",
            ["vendor", "status"], registry=self.registry,
        )  # fmt: skip
        self.vendor_request_errors = Counter(
            "collections_mcp_vendor_request_errors",
            "Vendor requests that failed: timeout, connection (no connection or it broke) or server_error (5xx).",
            ["vendor", "error"], registry=self.registry,
        )  # fmt: skip
        self.vendor_request_seconds = Histogram(
            "collections_mcp_vendor_request_duration_seconds", "Vendor HTTP request latency, failed ones included.",
            ["vendor"], buckets=VENDOR_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.audit_write_seconds = Histogram(
            "collections_mcp_audit_write_duration_seconds", "Time to store one audit record (durably).",
            buckets=AUDIT_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._conversations: Callable[[], int] | None = None
        self._payment_pages: Callable[[], int] | None = None
        self._breakers: BreakerStates | None = None
        self.registry.register(_ReadAtScrape(self))

    def watch(
        self,
        *,
        conversations: Callable[[], int] | None = None,
        payment_pages: Callable[[], int] | None = None,
        breakers: BreakerStates | None = None,
    ) -> None:
        """Plug in what the gauges read at each scrape (the lifespan does, once its objects exist)."""
        if conversations is not None:
            self._conversations = conversations
        if payment_pages is not None:
            self._payment_pages = payment_pages
        if breakers is not None:
            self._breakers = breakers

    def stop_watching(self) -> None:
        """The lifespan ended: the live gauges read 0 again, and nothing here keeps its objects alive."""
        self._conversations = self._payment_pages = None

    def call_finished(self, tool: str, outcome: str, seconds: float | None) -> None:
        """One tool call ended; `seconds` is None for a call refused before it started (not a latency)."""
        self.tool_calls.labels(tool, outcome).inc()
        if seconds is not None:
            self.tool_call_seconds.labels(tool).observe(seconds)

    def vendor_request(self, vendor: str, seconds: float, status: int | None, failure: VendorFailure | None) -> None:
        """A `VendorRequestObserver` (tools/common/http.py)."""
        self.vendor_request_seconds.labels(vendor).observe(seconds)
        if failure is not None:
            self.vendor_requests.labels(vendor, "timeout" if failure == "timeout" else "connection_error").inc()
            self.vendor_request_errors.labels(vendor, failure).inc()
            return
        self.vendor_requests.labels(vendor, str(status)).inc()
        if status is not None and status >= 500:
            self.vendor_request_errors.labels(vendor, "server_error").inc()

    def audit_written(self, seconds: float) -> None:
        self.audit_write_seconds.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ReadAtScrape(Collector):
    """The gauges whose value lives elsewhere: read when scraped, so nothing has to keep them up to date."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        conversations = GaugeMetricFamily(
            "collections_mcp_live_conversations",
            "2026-07-28 tool calls held between rounds while a person answers (running or holding an outcome).",
        )
        conversations.add_metric([], float(metrics._conversations() if metrics._conversations else 0))
        yield conversations
        pages = GaugeMetricFamily(
            "collections_mcp_open_payment_pages", "Secure payment-page links issued and not yet used, closed or expired."
        )
        pages.add_metric([], float(metrics._payment_pages() if metrics._payment_pages else 0))
        yield pages
        breakers = GaugeMetricFamily(
            "collections_mcp_vendor_breaker_state",
            "Circuit breaker per vendor: 0 closed (calls go through), 1 half open (one trial request), 2 open "
            "(calls fail at once).",
            labels=["vendor"],
        )
        if metrics._breakers is not None:
            for vendor, state in sorted(metrics._breakers.breaker_states().items()):
                breakers.add_metric([vendor], BREAKER_GAUGE_VALUE[BreakerState(state)])
        yield breakers
