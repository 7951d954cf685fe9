"""Approval ids and the page's form token travel through the scrub that masks SSN-, card- and routing-like digit
runs in every result and page: they must come out unchanged (a hex id or token lost nine of its digits to it now and
then, and the page then refused its own form, or an agent got an id that does not exist)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collections_mcp.server.core.redaction import scrub_text
from collections_mcp.server.inbox.page import Pending, inbox_page
from collections_mcp.server.policy.approvals import APPROVAL_ID, new_approval_id
from collections_mcp.server.state.approvals import ApprovalRecord


def test_approval_ids_survive_the_scrub_and_match_their_pattern() -> None:
    ids = {new_approval_id() for _ in range(3000)}
    assert len(ids) == 3000
    assert all(re.match(APPROVAL_ID, approval_id) and scrub_text(approval_id) == approval_id for approval_id in ids)


def test_the_page_carries_its_form_token_unchanged_whatever_digits_it_holds() -> None:
    now = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
    record = ApprovalRecord(id=new_approval_id(), created_at=now, expires_at=now, updated_at=now, tool="scollect_send_text",
                            toolset="scollect", effect="contact", summary="Text", needs="compliance", request_key="k")  # fmt: skip
    token = "ab123456789cd4111111111111111ef"  # a 9-digit run and a Luhn-valid card-like run
    page = inbox_page(supervisor="Morgan", csrf=token, pending=[Pending(record)], recent=[])
    assert page.count(f'name="csrf" value="{token}"') == 2, "the decision form and the sign-out form"
    assert f'value="{record.id}"' in page
