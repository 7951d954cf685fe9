"""The call log: one line and one metrics observation per call (tool, outcome, duration), the outermost stage."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, ToolCall, outcome_of
from collections_mcp.server.telemetry.metrics import ServerMetrics

log = logging.getLogger("collections_mcp.calls")


class CallLog:
    """Logs one line per call: tool, outcome, duration, and counts it in the server's metrics (calls by tool and
    outcome, latency). Never the arguments (they can hold personal data). It runs once per call on either
    protocol era (a 2026-07-28 call's rounds share one run of the stages)."""

    name = "call_log"

    def __init__(self, metrics: ServerMetrics | None = None) -> None:
        self.metrics = metrics

    def works_on(self, call: ToolCall) -> bool:
        return False  # its work (a log line) has no span of its own

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        failure: BaseException | None = None
        try:
            return await proceed()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            elapsed = time.perf_counter() - call.started
            elapsed_ms = round(elapsed * 1000, 1)
            outcome = outcome_of(failure)
            if self.metrics is not None:
                self.metrics.call_finished(call.spec.name, outcome, elapsed)
            log.info(
                "tool call %s %s %sms",
                call.spec.name,
                outcome,
                elapsed_ms,
                extra={
                    "tool": call.spec.name,
                    "call_id": call.call_id,
                    "client": call.client_name,
                    "session": call.session_id,
                    "outcome": outcome,
                    "replayed": call.replayed,
                },
            )
