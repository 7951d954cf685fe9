"""Typed inputs and compact outputs of the Billing Care tools.

Billing Care identifies every object by a BRM POID such as `0.0.0.1+-collections_action-manual_action+3456789`
(database, type, id). Arguments validate that form; a POID whose `+` signs were turned into spaces (what
happens when an id is copied from a decoded URL) is repaired first. Wire names stay in client.py.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from collections_mcp.tools.common.models import Args, Out

_DB = r"\d+\.\d+\.\d+\.\d+"


def _repair_poid(value: Any) -> Any:
    """'0.0.0.1 -account 130964' or '0.0.0.1%2B-account%2B130964' -> '0.0.0.1+-account+130964'."""
    if not isinstance(value, str):
        return value
    repaired = value.strip().replace("%2B", "+").replace("%2b", "+")
    return re.sub(r"\s+", "+", repaired)


def _poid(type_pattern: str, example: str, what: str) -> tuple[AfterValidator, Any]:
    """The check and the schema of one kind of POID argument."""
    pattern = re.compile(rf"^{_DB}\+-{type_pattern}\+\d+$")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not a Billing Care {what} id; expected the form '{example}'")
        return value

    field = Field(
        max_length=200,
        description=f"{what[0].upper()}{what[1:]} id, e.g. '{example}'.",
        examples=[example],
        json_schema_extra={"pattern": pattern.pattern},
    )
    return AfterValidator(check), field


_ACTION = _poid(
    r"collections_action-[a-z][a-z0-9_]*", "0.0.0.1+-collections_action-manual_action+3456789", "collections action"
)
_ACCOUNT = _poid("account", "0.0.0.1+-account+130964", "account")
_BILL_UNIT = _poid("billinfo", "0.0.0.1+-billinfo+128084", "bill unit")
_NOTE = _poid("note", "0.0.0.1+-note+278620", "note")

ActionId = Annotated[str, BeforeValidator(_repair_poid), _ACTION[0], _ACTION[1]]
AccountId = Annotated[str, BeforeValidator(_repair_poid), _ACCOUNT[0], _ACCOUNT[1]]
BillUnitId = Annotated[str, BeforeValidator(_repair_poid), _BILL_UNIT[0], _BILL_UNIT[1]]
NoteId = Annotated[str, BeforeValidator(_repair_poid), _NOTE[0], _NOTE[1]]


def _code(value: Any) -> Any:
    """Billing Care codes are digit strings on the wire ('0'); an integer is accepted too."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not re.fullmatch(r"\d{1,3}", value.strip()):
        raise ValueError("expected a numeric code such as '0'")
    return value.strip() if isinstance(value, str) else value


VendorCode = Annotated[str, BeforeValidator(_code), Field(json_schema_extra={"pattern": r"^\d{1,3}$"})]


def _timestamp(value: Any) -> Any:
    """A plain date means the start of that day (UTC)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        return datetime.combine(date.fromisoformat(value.strip()), time(), UTC)
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    Field(description="ISO 8601 timestamp, e.g. '2021-02-08T13:31:29Z'; without an offset it is taken as UTC."),
]

# ----------------------------------------------------------------------------------------- arguments


class AccountArgs(Args):
    account_id: AccountId


class ActionArgs(Args):
    action_id: ActionId


class NoteChange(BaseModel):
    """A comment to record with the change: on a new note, or on the existing note `note_id`."""

    model_config = ConfigDict(frozen=True)

    comment: str
    account_id: str
    note_id: str | None = None
    bill_unit_id: str | None = None
    domain_id: int | None = None
    note_type: int | None = None
    note_sub_type: int | None = None
    note_status: int | None = None
    effective_date: date | None = None
    reason_id: int | None = None


class CollectionsActionChange(BaseModel):
    """Everything one update of a collections action can change; None means 'leave as is'."""

    model_config = ConfigDict(frozen=True)

    reschedule_date: datetime | None = None
    reschedule_action: bool | None = None
    status: str | None = None
    slip_by_days: int | None = None
    cancel_followup_actions: bool | None = None
    action_flag: str | None = None
    note: NoteChange | None = None


_CHANGES = (
    "reschedule_date",
    "reschedule_action",
    "status",
    "slip_by_days",
    "cancel_followup_actions",
    "action_flag",
    "note",
)
_NOTE_DETAILS = (
    "note_id", "account_id", "bill_unit_id", "domain_id", "note_type", "note_sub_type", "note_status",
    "effective_date", "reason_id",
)  # fmt: skip


class UpdateCollectionsActionArgs(Args):
    action_id: ActionId
    reschedule_date: Annotated[
        Timestamp | None,
        Field(description="New date and time (no offset = UTC)."),
    ] = None
    reschedule_action: Annotated[
        bool | None,
        Field(description="Reschedule (default true with reschedule_date)."),
    ] = None
    slip_by_days: Annotated[
        int | None, Field(ge=1, le=365, description="Move the date this many days later.")
    ] = None
    status: Annotated[
        VendorCode | None,
        Field(description="New numeric status code, e.g. '0'."),
    ] = None
    cancel_followup_actions: Annotated[
        bool | None, Field(description="true cancels the follow-up actions.")
    ] = None
    action_flag: Annotated[VendorCode | None, Field(description="e.g. '0'.")] = None
    note: Annotated[
        str | None,
        Field(min_length=1, max_length=4000, description="Why the change was made."),
    ] = None
    note_id: Annotated[
        NoteId | None, Field(description="Add the comment to this note instead of a new one.")
    ] = None
    account_id: Annotated[
        AccountId | None,
        Field(description="Account of the note (required with note), e.g. '0.0.0.1+-account+130964'."),
    ] = None
    bill_unit_id: Annotated[
        BillUnitId | None, Field(description="Bill unit of the note, e.g. '0.0.0.1+-billinfo+128084'.")
    ] = None
    domain_id: Annotated[
        int | None, Field(ge=0, description="e.g. 9.")
    ] = None
    note_type: Annotated[int | None, Field(ge=0, description="e.g. 900.")] = None
    note_sub_type: Annotated[int | None, Field(ge=0, description="e.g. 901.")] = None
    note_status: Annotated[int | None, Field(ge=0, description="e.g. 101.")] = None
    effective_date: date | None = None
    reason_id: Annotated[int | None, Field(ge=0, description="e.g. 3.")] = None

    @model_validator(mode="after")
    def _coherent(self) -> UpdateCollectionsActionArgs:
        if all(getattr(self, name) is None for name in _CHANGES):
            raise ValueError(
                "nothing to change: give at least one of reschedule_date, slip_by_days, status, "
                "cancel_followup_actions, action_flag, reschedule_action or note"
            )
        details = [name for name in _NOTE_DETAILS if getattr(self, name) is not None]
        if self.note is None and details:
            raise ValueError(f"{', '.join(details)} describe a note: give the note text in note as well")
        if self.note is not None and self.account_id is None:
            raise ValueError("a note needs account_id (the account the action belongs to)")
        if self.reschedule_action and self.reschedule_date is None and self.slip_by_days is None:
            raise ValueError("reschedule_action needs reschedule_date or slip_by_days: when should it run?")
        return self

    def change(self) -> CollectionsActionChange:
        note = None
        if self.note is not None:
            assert self.account_id is not None, "validated above"
            note = NoteChange(
                comment=self.note,
                account_id=self.account_id,
                note_id=self.note_id,
                bill_unit_id=self.bill_unit_id,
                domain_id=self.domain_id,
                note_type=self.note_type,
                note_sub_type=self.note_sub_type,
                note_status=self.note_status,
                effective_date=self.effective_date,
                reason_id=self.reason_id,
            )
        reschedule = self.reschedule_action
        if reschedule is None and self.reschedule_date is not None:
            reschedule = True
        return CollectionsActionChange(
            reschedule_date=self.reschedule_date,
            reschedule_action=reschedule,
            status=self.status,
            slip_by_days=self.slip_by_days,
            cancel_followup_actions=self.cancel_followup_actions,
            action_flag=self.action_flag,
            note=note,
        )


# ------------------------------------------------------------------------------------------- outputs


class ResourceReference(Out):
    """What Billing Care answers to a change: the changed object's id and URI."""

    reference_id: str = Field(description="Id of the changed collections action.")
    uri: str | None = Field(default=None, description="Billing Care URI of the collections action.")


class CollectionsAction(Out):
    action_id: str = Field(description="Use with billing_care_update_collections_action.")
    name: str | None = None
    kind: str | None = Field(default=None, description="Action kind from the id, e.g. 'manual_action'.")
    due_date: str | None = Field(default=None, description="When the action is scheduled (ISO 8601, UTC).")
    status: int | None = Field(default=None, description="Billing Care's status code of the action.")
    agent: str | None = None


class BillUnitCollections(Out):
    bill_unit_id: str
    scenario_id: str | None = None
    overdue_amount: str | None = Field(default=None, description="Past-due amount, decimal string.")
    minimum_due: str | None = Field(default=None, description="Minimum payment amount, decimal string.")
    overdue_days: int | None = None
    actions: list[CollectionsAction] = Field(default_factory=list)
    aging_buckets: list[dict[str, Any]] = Field(default_factory=list)


class AccountCollections(Out):
    account_id: str
    bill_units: list[BillUnitCollections] = Field(description="Bill units of the account that are in collections.")


class ActionHistoryEntry(Out):
    description: str | None = None
    due_date: str | None = Field(default=None, description="Scheduled date after this change (ISO 8601, UTC).")
    changed_at: str | None = Field(default=None, description="When the change was made (ISO 8601, UTC).")
    agent: str | None = None
    status: int | None = None


class ActionHistory(Out):
    action_id: str
    history: list[ActionHistoryEntry] = Field(description="Changes to the action, newest first.")


def action_kind(action_id: str) -> str | None:
    """'0.0.0.1+-collections_action-manual_action+3456789' -> 'manual_action'."""
    match = re.match(rf"^{_DB}\+-collections_action-([a-z0-9_]+)\+\d+$", action_id)
    return match.group(1) if match else None
