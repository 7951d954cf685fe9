"""Payment capture: a money tool that needs new card or bank details gets them from the secure page.

The person is sent (URL-mode elicitation) to the page of server/payments/service.py; the call waits for a valid
submission, hands the instrument to the confirmation summary and the handler, and wipes it when it ends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, Refused, ToolCall
from collections_mcp.server.payments.service import CaptureService
from collections_mcp.tools.common.human import Question

STAGE = "payment_capture"


@runtime_checkable
class CaptureSubject(Protocol):
    """What a capture-declaring tool's arguments tell the capture stage (structural: tools import nothing here).

    `capture_purpose(now)` says what the details are for (shown on the page and in the elicitation), or
    returns None when this particular call needs no new details (e.g. an update that only moves a date).
    It raises `InvalidArgument` when the call cannot go ahead (a date in the past): that is checked
    before the person is asked to type anything.
    """

    @property
    def file_number(self) -> str: ...

    @property
    def capture_amount(self) -> Decimal | None: ...

    def capture_purpose(self, now: datetime) -> str | None: ...


class CaptureStage:
    """Captures card/bank details out of band for specs that declare `capture`; others pass through.

    Must run before the confirmation stage, so the person confirms a summary that shows the method's last 4.
    """

    name = STAGE

    def __init__(self, service: CaptureService, timeout: float | None = None) -> None:
        self.service = service
        self.timeout = timeout if timeout is not None else service.ttl.total_seconds()

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.capture is not None and (call.context is None or call.context.captured is None)

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        context = call.context
        assert context is not None
        if spec.capture is None or context.captured is not None:  # nothing to capture, or captured already
            return await proceed()
        arguments: Any = call.arguments
        if isinstance(arguments, CaptureSubject):
            purpose = arguments.capture_purpose(context.now())
            if purpose is None:
                return await proceed()
            file_number, amount = arguments.file_number, arguments.capture_amount
        else:
            purpose, file_number, amount = spec.title, str(getattr(arguments, "file_number", "")), None
        if call.deferrable or call.approval is not None:
            raise Refused(
                STAGE,
                f"{spec.name} needs new card or bank details, which a person enters on the server's secure payment page "
                "during the conversation. Card and bank details never wait in an approval queue, so this call cannot be "
                "queued for a supervisor. Nothing was sent. Charge a payment method already stored on the account "
                "instead, or take the payment with a person in the conversation.",
            )
        if not context.person.can_open_urls:
            raise Refused(
                STAGE,
                f"{spec.name} needs card or bank details, which are entered only on the server's secure payment "
                "page, and this client cannot open the secure payment page (no URL-mode elicitation). Nothing was "
                "sent. Use an MCP client that supports URL-mode elicitation, or take the payment another way.",
            )
        if not await self.service.ensure_serving():
            raise Refused(STAGE, "the secure payment page is not running on this server; nothing was sent")
        capture = self.service.open(
            tool=spec.name, call_id=call.call_id, file_number=file_number, amount=amount, purpose=purpose
        )
        minutes = max(1, round(self.service.ttl.total_seconds() / 60))
        try:
            answer = await context.person.ask(Question(
                message=(
                    f"Account {file_number}: {purpose}. Please open this secure page and enter the card or bank "
                    f"account details there (never in the chat). The link works once and expires in {minutes} "
                    f"minute{'s' if minutes != 1 else ''}."
                ),
                url=self.service.url_for(capture),
                elicitation_id=capture.id,
            ))  # fmt: skip
            if not answer.accepted:
                raise Refused(
                    STAGE, f"the person did not open the secure payment page ({answer.action}); nothing was sent"
                )
            instrument = await self.service.wait(capture, self.timeout)
            if instrument is None:
                raise Refused(
                    STAGE,
                    f"no valid payment details were entered on the secure page within {round(self.timeout)} seconds; "
                    "the link is closed and nothing was sent. Call the tool again to send a new link.",
                )
            call.context = replace(context, captured=instrument)
            return await proceed()
        finally:
            self.service.close(capture)  # wipes the instrument and burns the token, whatever happened
            if call.context is not None and call.context.captured is not None:
                call.context = replace(call.context, captured=None)
