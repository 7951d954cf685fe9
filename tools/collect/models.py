"""Typed inputs and compact outputs of the Collect! record tools, and the mapping from vendor rows.

Outputs drop blanks and sentinel dates, carry ISO dates and decimal-string money, and mask SSNs by type.
Argument names are the catalog's; the de_/co_/tr_/no_ field names stay here and in client.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from collections_mcp.tools.common.compact import flag, integer, iso_date, iso_timestamp, money, text
from collections_mcp.tools.common.models import Address, Args, Limit, Offset, Out, none_if_empty
from collections_mcp.tools.common.types import IsoDate, MaskedSSN, PhoneNumber

Row = dict[str, Any]


Rowid = Annotated[int, Field(gt=0, description="e.g. 101.")]

# ----------------------------------------------------------------------------------------- arguments


class DebtorArgs(Args):
    rowid: Rowid


class PagedDebtorArgs(Args):
    rowid: Rowid
    limit: Limit = 25
    offset: Offset = 0


class SearchDebtorsArgs(Args):
    name: Annotated[
        str | None,
        Field(min_length=2, max_length=62, description="Part of the name, any case ('LAST, FIRST'), e.g. 'smith'."),
    ] = None  # fmt: skip
    account_number: Annotated[
        str | None, Field(min_length=1, max_length=31, description="Account (file) number, exactly.")
    ] = None
    status: Annotated[str | None, Field(min_length=1, max_length=10, description="e.g. 'NEW'.")] = None
    email: Annotated[str | None, Field(min_length=3, max_length=63, description="Exactly.")] = None
    zip: Annotated[str | None, Field(min_length=3, max_length=14, description="Exactly.")] = None
    active_only: Annotated[bool, Field(description="Leave out closed accounts.")] = False
    limit: Limit = 25
    offset: Offset = 0

    @model_validator(mode="after")
    def _some_criterion(self) -> SearchDebtorsArgs:
        if not any((self.name, self.account_number, self.status, self.email, self.zip)):
            raise ValueError("give at least one of name, account_number, status, email, zip")
        return self


class AddNoteArgs(Args):
    rowid: Rowid
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class AddContactArgs(Args):
    rowid: Rowid
    contact_type: Annotated[
        str,
        Field(min_length=1, max_length=20, description="Contact type name or code, e.g. 'Phone', 'Letter', 'Review' or '5'."),
    ]  # fmt: skip
    date: IsoDate
    description: Annotated[str, Field(min_length=1, max_length=126, description="What to do.")]
    time: Annotated[
        str | None, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="24-hour HH:MM.")
    ] = None
    priority: Annotated[int | None, Field(ge=0, le=999, description="Priority (default 30).")] = None
    assigned_to: Annotated[
        str | None, Field(pattern=r"^[A-Za-z0-9]{1,8}$", description="Operator ID (default: ours).")
    ] = None


UpdatableField = Literal[
    "address", "address2", "city", "state", "zip", "home_phone", "work_phone", "cell_phone", "other_phone", "email",
    "employer",
]  # fmt: skip

# The only debtor fields an agent may change: contact details. Names, SSNs, balances, status stay put.
DEBTOR_UPDATE_FIELDS: dict[str, str] = {
    "address": "de_address", "address2": "de_address1", "city": "de_city", "state": "de_state", "zip": "de_zip",
    "home_phone": "de_home_phone", "work_phone": "de_work_phone", "cell_phone": "de_cell_phone",
    "other_phone": "de_other_phone", "email": "de_email", "employer": "de_employer",
}  # fmt: skip

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UpdateDebtorArgs(Args):
    rowid: Rowid
    address: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    address2: Annotated[str | None, Field(min_length=1, max_length=63)] = None
    city: Annotated[str | None, Field(min_length=1, max_length=31)] = None
    state: Annotated[str | None, Field(min_length=2, max_length=31, description="State or province, e.g. 'NY'.")] = None
    zip: Annotated[str | None, Field(min_length=3, max_length=14)] = None
    home_phone: PhoneNumber | None = None
    work_phone: PhoneNumber | None = None
    cell_phone: PhoneNumber | None = None
    other_phone: PhoneNumber | None = None
    email: Annotated[str | None, Field(max_length=63)] = None
    employer: Annotated[str | None, Field(min_length=1, max_length=31)] = None
    clear: Annotated[
        list[UpdatableField],
        Field(
            default_factory=list,
            description="Fields to blank out, e.g. a disconnected phone.",
        ),
    ]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"'{value}' is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _some_change(self) -> UpdateDebtorArgs:
        values = self.changes()
        if not values:
            raise ValueError("nothing to update: give at least one field, or list fields in clear")
        both = sorted(set(self.clear) & {name for name in DEBTOR_UPDATE_FIELDS if getattr(self, name) is not None})
        if both:
            raise ValueError(f"{', '.join(both)} both set and cleared")
        return self

    def changes(self) -> dict[str, str]:
        """Argument name -> new value ("" for a cleared field)."""
        values = {name: str(getattr(self, name)) for name in DEBTOR_UPDATE_FIELDS if getattr(self, name) is not None}
        return values | {name: "" for name in self.clear}


# ------------------------------------------------------------------------------------------- outputs


class Debtor(Out):
    rowid: int
    account_number: str | None = None
    name: str | None = None
    contact_name: str | None = None
    status: str | None = None
    type: str | None = None
    active: bool | None = None
    collector: str | None = None
    client_rowid: int | None = None
    owing: str | None = Field(default=None, description="Balance owing, decimal string.")
    paid: str | None = None
    principal: str | None = None
    listed_date: str | None = None
    charged_off_date: str | None = None
    date_of_birth: str | None = None
    ssn: MaskedSSN | None = None
    address: Address | None = None
    home_phone: str | None = None
    work_phone: str | None = None
    cell_phone: str | None = None
    other_phone: str | None = None
    email: str | None = None
    employer: str | None = None


class DebtorSummary(Out):
    rowid: int
    account_number: str | None = None
    name: str | None = None
    status: str | None = None
    active: bool | None = None
    owing: str | None = None
    city: str | None = None
    state: str | None = None


class Contact(Out):
    rowid: int
    type: str | None = Field(default=None, description="Contact type code.")
    type_name: str | None = None
    description: str | None = None
    date: str | None = Field(default=None, description="When the contact is (or was) due.")
    time: str | None = None
    priority: int | None = None
    assigned_to: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    done: bool | None = None
    done_date: str | None = None


class Note(Out):
    rowid: int
    at: str | None = Field(default=None, description="When the note was written (ISO).")
    operator: str | None = None
    text: str | None = None


class Transaction(Out):
    rowid: int
    type: str | None = None
    description: str | None = None
    payment: bool | None = None
    payment_date: str | None = None
    posted_date: str | None = None
    to_us: str | None = Field(default=None, description="Amount paid to the agency, decimal string.")
    direct: str | None = Field(default=None, description="Amount paid directly to the client, decimal string.")
    operator: str | None = None


class DebtorActivity(Out):
    """The newest entries of a debtor's logs, for the account view (each list newest first)."""

    rowid: int
    recent_notes: list[Note]
    notes_total: int
    recent_contacts: list[Contact]
    contacts_total: int
    recent_transactions: list[Transaction]
    transactions_total: int


class ContactPlan(Out):
    code: str
    name: str | None = None
    description: str | None = None


class ContactPlanList(Out):
    plans: list[ContactPlan]
    total: int


class WriteResult(Out):
    """A change Collect! confirmed."""

    debtor_rowid: int
    done: Literal[True] = True
    record: str = Field(description="The Collect! table written: contact, notes or debtor.")
    record_rowid: int | None = Field(default=None, description="Row id of the record written.")
    changed: dict[str, Any] | None = Field(default=None, description="What was written.")
    previous: dict[str, Any] | None = Field(default=None, description="The values before the change (blank: none).")


# ------------------------------------------------------------------------------------------- mapping


def rowid_of(value: Any) -> int | None:
    raw = text(value)
    return int(raw) if raw is not None and raw.isdigit() else None


def _time(value: Any) -> str | None:
    raw = text(value)
    return raw if raw is not None and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", raw) else None


def _at(day: Any, clock: Any) -> str | None:
    when = iso_date(day)
    if when is None:
        return None
    moment = _time(clock)
    return iso_timestamp(f"{when} {moment}") if moment else when


def debtor_from(row: Row) -> Debtor:
    return Debtor(
        rowid=rowid_of(row.get("de_rowid")) or 0,
        account_number=text(row.get("de_number")),
        name=text(row.get("de_name")),
        contact_name=text(row.get("de_contact")),
        status=text(row.get("de_status")),
        type=text(row.get("de_type")),
        active=flag(row.get("de_active")),
        collector=text(row.get("de_collector")),
        client_rowid=rowid_of(row.get("de_rowid_client")),
        owing=money(row.get("de_owing")),
        paid=money(row.get("de_paid")),
        principal=money(row.get("de_principal")),
        listed_date=iso_date(row.get("de_listed_date")),
        charged_off_date=iso_date(row.get("de_charge_date")),
        date_of_birth=iso_date(row.get("de_dob")),
        ssn=text(row.get("de_ss")),
        address=none_if_empty(Address(
            street=text(row.get("de_address")), street2=text(row.get("de_address1")), city=text(row.get("de_city")),
            state=text(row.get("de_state")), zip=text(row.get("de_zip")), country=text(row.get("de_country")))),
        home_phone=text(row.get("de_home_phone")),
        work_phone=text(row.get("de_work_phone")),
        cell_phone=text(row.get("de_cell_phone")),
        other_phone=text(row.get("de_other_phone")),
        email=text(row.get("de_email")),
        employer=text(row.get("de_employer")),
    )  # fmt: skip


SUMMARY_FIELDS = ("de_rowid", "de_number", "de_name", "de_status", "de_active", "de_owing", "de_city", "de_state")


def summary_from(row: Row) -> DebtorSummary:
    return DebtorSummary(
        rowid=rowid_of(row.get("de_rowid")) or 0, account_number=text(row.get("de_number")), name=text(row.get("de_name")),
        status=text(row.get("de_status")), active=flag(row.get("de_active")), owing=money(row.get("de_owing")),
        city=text(row.get("de_city")), state=text(row.get("de_state")),
    )  # fmt: skip


def contact_from(row: Row, types: dict[str, str]) -> Contact:
    kind = text(row.get("co_type"))
    return Contact(
        rowid=rowid_of(row.get("co_rowid")) or 0, type=kind, type_name=types.get(kind or ""),
        description=text(row.get("co_description")), date=iso_date(row.get("co_date")), time=_time(row.get("co_time")),
        priority=integer(row.get("co_priority")), assigned_to=text(row.get("co_who")),
        created_by=text(row.get("co_originator")),
        created_at=_at(row.get("co_creation_date"), row.get("co_creation_time")),
        done=flag(row.get("co_done")), done_date=iso_date(row.get("co_done_date")),
    )  # fmt: skip


def note_from(row: Row) -> Note:
    return Note(rowid=rowid_of(row.get("no_rowid")) or 0, at=_at(row.get("no_date"), row.get("no_time")),
                operator=text(row.get("no_operator")), text=text(row.get("no_text")))  # fmt: skip


def transaction_from(row: Row) -> Transaction:
    return Transaction(
        rowid=rowid_of(row.get("tr_rowid")) or 0, type=text(row.get("tr_type")), description=text(row.get("tr_description")),
        payment=flag(row.get("tr_payment")), payment_date=iso_date(row.get("tr_payment_date")),
        posted_date=iso_date(row.get("tr_posted_date")), to_us=money(row.get("tr_to_us")),
        direct=money(row.get("tr_direct")), operator=text(row.get("tr_operator")),
    )  # fmt: skip


def plan_from(row: Row) -> ContactPlan:
    return ContactPlan(code=str(row.get("cp_code", "")).strip(), name=text(row.get("cp_name")),
                       description=text(row.get("cp_description")))  # fmt: skip


def resolve_contact_type(value: str, types: dict[str, str]) -> str:
    """A contact type given by code or name -> its code. Without a list from Collect!, the value as given."""
    wanted = value.strip()
    if not types:
        return wanted
    if wanted in types:
        return wanted
    by_name = {label.lower(): code for code, label in types.items()}
    if wanted.lower() in by_name:
        return by_name[wanted.lower()]
    options = ", ".join(f"{label} ({code})" for code, label in types.items())
    raise ValueError(f"'{value}' is not a Collect! contact type; valid: {options}")
