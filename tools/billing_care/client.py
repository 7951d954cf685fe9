"""Billing Care wire client: JSON over /bcws/webresources/v1.0/, basic or bearer auth, errors by HTTP status.

Vendor field names live here and nowhere else. Reads are retried on VendorUnavailable; the PUT is not.

Path ids: every Billing Care id contains `+` (`0.0.0.1+-collections_action-manual_action+3456789`). A
literal `+` in a path is legal, but servers and gateways that decode paths form-style read it as a space,
and then the id is not found. So ids are percent-encoded completely (`+` -> `%2B`): every server decodes
`%2B` back to `+`, whichever way it treats a bare `+`.

Companion reads (documented by Oracle in the Billing Care REST API reference, "Collections REST Endpoints"):
- GET collections/account/{id}: "Get Collections and Aging Buckets for an Account",
  https://docs.oracle.com/en/industries/communications/billing-revenue/15.1/bc-rest-api/op-collections-account-id-get.html
- GET collections/history/action/{id}: "Get History of a Collections Action",
  https://docs.oracle.com/en/industries/communications/billing-revenue/15.0/restapi/op-collections-history-action-id-get.html
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from collections_mcp.tools.billing_care.models import (
    AccountCollections,
    ActionHistory,
    ActionHistoryEntry,
    BillUnitCollections,
    CollectionsAction,
    CollectionsActionChange,
    NoteChange,
    ResourceReference,
    action_kind,
)
from collections_mcp.tools.billing_care.settings import BillingCareSettings
from collections_mcp.tools.common.compact import compact_mapping, money, text
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.http import pooled_client, retry_read, send

VENDOR = "Oracle Billing Care"
API_ROOT = "/bcws/webresources/v1.0"
Row = dict[str, Any]


def segment(value: str) -> str:
    """One path segment, fully percent-encoded: '+' -> '%2B' (see the module docstring)."""
    return quote(value, safe="")


def api_root(base_url: str) -> str:
    """http(s)://host:port -> its REST root; a base URL that already ends in the root is kept."""
    root = base_url.rstrip("/")
    return root if root.endswith(API_ROOT) else root + API_ROOT


def wire_timestamp(value: datetime) -> str:
    """Billing Care's JSON timestamps: UTC with milliseconds, '2021-02-08T13:31:29.735Z'."""
    stamp = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def update_body(change: CollectionsActionChange) -> Row:
    """The PUT collections/task/{id} body, in the seed's field order and value types."""
    body: Row = {}
    if change.reschedule_date is not None:
        body["rescheduleDate"] = wire_timestamp(change.reschedule_date)
    if change.reschedule_action is not None:
        body["rescheduleAction"] = change.reschedule_action
    # The seed sends status, slipByDays and actionFlag as strings of digits.
    if change.status is not None:
        body["status"] = change.status
    if change.slip_by_days is not None:
        body["slipByDays"] = str(change.slip_by_days)
    if change.cancel_followup_actions is not None:
        body["cancelFollowupActions"] = change.cancel_followup_actions
    if change.action_flag is not None:
        body["actionFlag"] = change.action_flag
    if change.note is not None:
        body["notes"] = _notes_body(change.note)
    return body


def _notes_body(note: NoteChange) -> Row:
    notes: Row = {}
    if note.bill_unit_id is not None:
        notes["billUnitId"] = note.bill_unit_id
    notes["accountId"] = note.account_id
    optional: list[tuple[str, Any]] = [
        ("domainId", note.domain_id),
        ("type", note.note_type),
        ("subType", note.note_sub_type),
        ("status", note.note_status),
        ("effectiveDate", note.effective_date.isoformat() if note.effective_date else None),
        ("id", note.note_id),
        ("reasonId", str(note.reason_id) if note.reason_id is not None else None),  # a string in the seed
    ]
    notes.update({key: value for key, value in optional if value is not None})
    notes["comments"] = [{"comment": note.comment}]
    return notes


def _instant(value: Any) -> str | None:
    """Billing Care dates: epoch milliseconds (history) or ISO text -> ISO 8601 in UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _iso_utc(datetime.fromtimestamp(value / 1000, UTC))
    raw = text(value)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    return _iso_utc(parsed)


def _iso_utc(moment: datetime) -> str:
    """'2021-02-05T08:00:00Z'; milliseconds only when there are some."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return text(value.get("id"))
    return text(value)


def _action_from(row: Row) -> CollectionsAction | None:
    action_id = _ref_id(row.get("actionId") or row.get("actionRef") or row.get("id"))
    if action_id is None:
        return None
    return CollectionsAction(
        action_id=action_id,
        name=text(row.get("actionName") or row.get("name") or row.get("description")),
        kind=action_kind(action_id),
        due_date=_instant(row.get("dueDate") or row.get("dueT")),
        status=_int(row.get("status")),
        agent=text(row.get("agentName") or row.get("collectionAgent")),
    )


def _bill_unit_from(row: Row) -> BillUnitCollections:
    actions = [_action_from(item) for item in row.get("actions") or [] if isinstance(item, dict)]
    buckets = [compact_mapping(item) for item in row.get("agingBuckets") or [] if isinstance(item, dict)]
    return BillUnitCollections(
        bill_unit_id=_ref_id(row.get("billUnitId") or row.get("billUnitRef")) or "",
        scenario_id=_ref_id(row.get("scenarioId")),
        overdue_amount=money(row.get("overdueAmount")),
        minimum_due=money(row.get("minimumDue")),
        overdue_days=_int(row.get("overdueDays")),
        actions=[action for action in actions if action is not None],
        aging_buckets=[bucket for bucket in buckets if bucket],
    )


def _history_entry_from(row: Row) -> ActionHistoryEntry:
    return ActionHistoryEntry(
        description=text(row.get("description")),
        due_date=_instant(row.get("dueDate")),
        changed_at=_instant(row.get("changeDate")),
        agent=text(row.get("agentName")),
        status=_int(row.get("status")),
    )


def _detail(response: httpx.Response) -> str:
    """A short, readable reason from an error body (JSON message fields or plain text)."""
    raw = response.text.strip()
    if not raw:
        return ""
    try:
        payload = json.loads(raw)
    except ValueError:
        return "" if raw.lstrip().startswith("<") else raw[:300]
    if isinstance(payload, dict):
        for key in ("message", "detail", "error", "errorMessage", "title"):
            if isinstance(payload.get(key), str) and payload[key].strip():
                return str(payload[key]).strip()[:300]
    return raw[:300]


class BillingCareClient:
    """One per server: a keep-alive pool with the configured credentials on every request."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: BillingCareSettings) -> AsyncIterator[BillingCareClient]:
        assert settings.base_url, "enabled settings are complete"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth: httpx.Auth | None = None
        if settings.auth_mode == "bearer":
            assert settings.token is not None
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        else:
            assert settings.username and settings.password is not None
            auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        root = api_root(settings.base_url)
        async with pooled_client(root, settings.timeout_seconds, headers=headers, auth=auth) as http:
            yield cls(http)

    # -- transport ------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: Row | None, subject: str) -> Any:
        response = await send(self._http, VENDOR, method, path, json=body)
        status = response.status_code
        if status in (401, 403):
            reason = "the credentials were rejected" if status == 401 else "this user may not do that"
            raise VendorAuthError(VENDOR, _detail(response) or reason, status=status)
        if status == 404:
            raise VendorNotFound(VENDOR, f"no {subject}", status=status)
        if status >= 500:
            detail = _detail(response) or "An internal server error occurred"
            raise VendorUnavailable(VENDOR, f"internal server error ({detail})", status=status)
        if status >= 400:  # a 4xx is this request's fault, whatever its body: an error, never retried
            raise VendorError(VENDOR, _detail(response) or f"HTTP {status} (no readable reason given)", status=status)
        try:
            return response.json()
        except ValueError:
            raise VendorUnavailable(
                VENDOR, f"answered HTTP {status} with a body that is not JSON", status=status
            ) from None

    async def _read(self, path: str, subject: str) -> Any:
        return await retry_read(lambda: self._send("GET", path, None, subject))

    # -- collections ------------------------------------------------------------------------------

    async def update_collections_action(self, action_id: str, change: CollectionsActionChange) -> ResourceReference:
        """PUT collections/task/{id}. Never retried: a lost answer does not tell whether the change landed."""
        subject = f"collections action {action_id}"
        payload = await self._send("PUT", f"/collections/task/{segment(action_id)}", update_body(change), subject)
        reference = payload.get("reference") if isinstance(payload, dict) else None
        if not isinstance(reference, dict) or not text(reference.get("id")):
            raise VendorError(VENDOR, "the update was answered without a reference; check the action before retrying")
        return ResourceReference(reference_id=str(reference["id"]), uri=text(reference.get("uri")))

    async def account_collections(self, account_id: str) -> AccountCollections:
        """GET collections/account/{id}: the account's bill units in collections with their actions."""
        payload = await self._read(f"/collections/account/{segment(account_id)}", f"account {account_id}")
        rows = payload if isinstance(payload, list) else [payload] if isinstance(payload, dict) else []
        bill_units = [_bill_unit_from(row) for row in rows if isinstance(row, dict)]
        return AccountCollections(account_id=account_id, bill_units=bill_units)

    async def action_history(self, action_id: str) -> ActionHistory:
        """GET collections/history/action/{id}."""
        subject = f"collections action {action_id}"
        payload = await self._read(f"/collections/history/action/{segment(action_id)}", subject)
        if not isinstance(payload, dict):
            raise VendorError(VENDOR, f"unexpected history answer: {type(payload).__name__}")
        entries = [_history_entry_from(row) for row in payload.get("actionHistory") or [] if isinstance(row, dict)]
        entries.sort(key=lambda entry: entry.changed_at or "", reverse=True)
        return ActionHistory(action_id=text(payload.get("actionId")) or action_id, history=entries)
