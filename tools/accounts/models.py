"""Arguments and compact outputs of the cross-vendor account tools.

Identity values a caller gives to `accounts_verify_identity` (SSN last 4, date of birth, ZIP) serialise
masked, so audit records and logs built from the arguments never hold them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, model_validator

from collections_mcp.tools.common.contact_rules import Channel, ContactVerdict, state_code
from collections_mcp.tools.common.models import Args, Limit, Offset, Out
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


# ------------------------------------------------------------------------------------------------ worklist


def _amount_text(value: Any) -> Any:
    """'500', '$1,200.50' -> Decimal; a float or a boolean is refused (money is never read from a float)."""
    if isinstance(value, bool | float):
        raise ValueError("give the amount as a string such as '500.00'")
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", "").lstrip("$"))
        except InvalidOperation as exc:
            raise ValueError("not an amount; expected a decimal string such as '500.00'") from exc
    return value


WorklistAction = Literal["contact_now", "wait", "review", "not_checked", "do_not_contact"]
# Best first: who may be worked now, who only has to wait, who needs a person to look, who could not be read,
# who must not be contacted at all.
ACTION_ORDER: tuple[WorklistAction, ...] = ("contact_now", "wait", "review", "not_checked", "do_not_contact")


def _state_code(value: str) -> str:
    code = state_code(value)
    if code is None:
        raise ValueError("not a US state or territory; expected a two-letter code such as 'NY'")
    return code


StateFilter = Annotated[str, AfterValidator(_state_code)]
_Balance = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str),
]


class WorklistArgs(Args):
    portfolio: Annotated[str, Field(min_length=1, description="Portfolio name as scollect_list_portfolios shows it.")]
    channel: Annotated[Channel, Field(description="The channel to rank for.")] = "call"
    states: Annotated[
        list[StateFilter] | None,
        Field(min_length=1, max_length=60, description="Only debtors in these states, e.g. ['NY', 'TX']."),
    ] = None
    min_balance: Annotated[
        _Balance | None, Field(description="Only accounts with at least this balance, e.g. '500.00'.")
    ] = None
    only_allowed_now: Annotated[
        bool, Field(description="Only accounts the channel may reach now (drops waiting, blocked and unchecked ones).")
    ] = False
    limit: Limit = 20
    offset: Offset = 0


class Offers(Out):
    minimum_payment: str | None = None
    minimum_one_time_payment: str | None = None
    settlement_amount: str | None = Field(default=None, description="Settlement-in-full (SIF) offer, if any.")
    settlement_payments: int | None = None


class WorklistEntry(Out):
    rank: int = Field(description="1 is the account to work first.")
    file_number: str
    debtor: str | None = None
    state: str | None = None
    balance: str | None = Field(default=None, description="Current balance.")
    offers: Offers | None = Field(default=None, description="Payment offers on file (read for this page).")
    action: WorklistAction = Field(
        description="contact_now; wait (only time blocks it); review (a person must check something first); "
        "not_checked (could not be read: never treat as contactable); do_not_contact (a hold or a known no)."
    )
    suggestion: str = Field(description="The suggested next step, in one line.")
    allowed_now: list[Channel] = Field(default_factory=list, description="Channels that may reach the debtor now.")
    verdict: ContactVerdict | None = Field(default=None, description="The compliance verdict for the ranked channel.")
    last_contact: AttemptLine | None = Field(default=None, description="The newest logged attempt.")
    calls_last_7_days: int | None = None
    error: str | None = Field(default=None, description="Why the account could not be checked.")


class Worklist(Out):
    """A portfolio's accounts, ranked for working now (every account is read; the page is cut after ranking)."""

    portfolio: str
    channel: Channel
    checked_at: datetime
    accounts_in_portfolio: int
    total: int = Field(description="Accounts that pass the filters.")
    counts: dict[WorklistAction, int] = Field(description="How many of them per action.")
    items: list[WorklistEntry]
    offset: int
    next_offset: int | None = Field(default=None, description="Offset of the next page; absent on the last page.")
    unavailable: list[Unavailable] = Field(default_factory=list, description="Parts that could not be read, and why.")
