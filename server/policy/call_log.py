"""The call log: one line per call (tool, outcome, duration), the outermost stage."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, ToolCall, outcome_of

log = logging.getLogger("collections_mcp.calls")


class CallLog:
    """Logs one line per call: tool, outcome, duration. Never the arguments (they can hold personal data)."""

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        failure: BaseException | None = None
        try:
            return await proceed()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            elapsed_ms = round((time.perf_counter() - call.started) * 1000, 1)
            log.info(
                "tool call %s %s %sms",
                call.spec.name,
                outcome_of(failure),
                elapsed_ms,
                extra={
                    "tool": call.spec.name,
                    "call_id": call.call_id,
                    "client": call.client_name,
                    "session": call.session_id,
                    "outcome": outcome_of(failure),
                    "replayed": call.replayed,
                },
            )
