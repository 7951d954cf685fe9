"""Arguments and compact outputs of the cross-vendor account tools.

Identity values a caller gives to `accounts_verify_identity` (SSN last 4, date of birth, ZIP) serialise
masked, so audit records and logs built from the arguments never hold them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, model_validator

from collections_mcp.tools.common.contact_rules import Channel, ContactVerdict
from collections_mcp.tools.common.models import Args, Out
from collections_mcp.tools.common.types import FileNumber, MaskedSSN, PhoneNumber

# ------------------------------------------------------------------------------------------------- arguments


class SnapshotArgs(Args):
    file_number: FileNumber


class CheckContactArgs(Args):
    file_number: FileNumber
    channel: Channel
    phone_number: Annotated[
        PhoneNumber | None,
        Field(description="The number you will call or text (also checked)."),
    ] = None


_Ssn4 = Annotated[
    str,
    Field(pattern=r"^\d{4}$"),
    PlainSerializer(lambda _: "****", return_type=str),
]
_Dob = Annotated[
    date,
    PlainSerializer(lambda _: "****-**-**", return_type=str),
]
_Zip = Annotated[
    str,
    Field(pattern=r"^\d{5}(-?\d{4})?$"),
    PlainSerializer(lambda _: "*****", return_type=str),
]


class VerifyIdentityArgs(Args):
    file_number: FileNumber
    ssn_last4: _Ssn4 | None = None
    date_of_birth: _Dob | None = None
    zip: _Zip | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> VerifyIdentityArgs:
        if self.ssn_last4 is None and self.date_of_birth is None and self.zip is None:
            raise ValueError("give at least one of ssn_last4, date_of_birth, zip (as the caller states them)")
        return self


# --------------------------------------------------------------------------------------------------- outputs

FieldCheck = Literal["match", "mismatch", "not_on_file", "not_given", "not_checked"]


class IdentityCheck(Out):
    file_number: str
    verified: bool = Field(description="True when no given field mismatched and at least one matched.")
    locked: bool = Field(default=False, description="True when too many failed checks: nothing was compared.")
    ssn_last4: FieldCheck
    date_of_birth: FieldCheck
    zip: FieldCheck
    attempts_remaining: int = Field(description="Failed checks left before this account is locked.")
    retry_at: datetime | None = Field(default=None, description="When a locked account may be checked again.")
    message: str

    def audit_outcome(self) -> str:
        """What the audit log records for this successful call: a failed or refused identity check is the
        event a compliance review looks for, so it is not just "ok"."""
        if self.locked:
            return "ok:identity_locked"
        if self.verified:
            return "ok:identity_verified"
        return "ok:identity_mismatch" if "mismatch" in (self.ssn_last4, self.date_of_birth, self.zip) else "ok:identity_unverified"


class Identity(Out):
    full_name: str | None = None
    ssn: MaskedSSN | None = None
    city: str | None = None
    state: str | None = None


class Balance(Out):
    status: str | None = None
    current_balance: str | None = None
    original_balance: str | None = None
    last_payment_amount: str | None = None
    last_payment_date: str | None = None
    client: str | None = None
    original_creditor: str | None = None
    minimum_payment: str | None = None
    minimum_one_time_payment: str | None = None
    settlement_amount: str | None = Field(default=None, description="Settlement-in-full (SIF) offer, if any.")
    settlement_payments: int | None = None


class PhoneLine(Out):
    number: str
    type: str | None = None
    status: str | None = None


class PermissionsView(Out):
    readable: bool
    note: str


class NoteLine(Out):
    at: str | None = None
    by: str | None = None
    text: str


class AttemptLine(Out):
    at: str | None = None
    direction: str | None = None
    disposition: str | None = None
    phone: str | None = None


class PaymentLine(Out):
    paid_on: str | None = None
    amount: str | None = None
    method: str | None = None


class MethodLine(Out):
    method: str | None = None
    last4: str | None = None


class Unavailable(Out):
    part: str
    error: str


class Snapshot(Out):
    """One account at a glance. A list that is absent could not be read (see `unavailable`)."""

    file_number: str
    identity: Identity
    balance: Balance | None = None
    phones: list[PhoneLine] | None = None
    permissions: PermissionsView
    recent_notes: list[NoteLine] | None = Field(default=None, description="Newest first, at most 5.")
    notes_total: int | None = None
    recent_attempts: list[AttemptLine] | None = Field(default=None, description="Newest first, at most 5.")
    attempts_total: int | None = None
    recent_payments: list[PaymentLine] | None = Field(default=None, description="Newest first, at most 5.")
    payments_total: int | None = None
    payment_methods: list[MethodLine] | None = None
    call_now: ContactVerdict | None = Field(default=None, description="May the debtor be called now, and why (not).")
    unavailable: list[Unavailable] = Field(default_factory=list, description="Parts that could not be read, and why.")
