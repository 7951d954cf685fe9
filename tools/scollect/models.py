"""Typed inputs and compact outputs of the Scollect tools, and the mapping from vendor rows.

Outputs drop blanks and sentinel dates, carry ISO dates and decimal-string money, and mask SSNs and
card numbers by type. Argument names are the catalog's; wire names stay in client.py.
"""

from __future__ import annotations

import difflib
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from collections_mcp.tools.common.compact import compact_mapping, flag, integer, iso_date, iso_timestamp, money, text
from collections_mcp.tools.common.errors import InvalidArgument
from collections_mcp.tools.common.models import Address, Args, Limit, Offset, Out, none_if_empty
from collections_mcp.tools.common.types import (
    FileNumber,
    IsoDate,
    MaskedCard,
    MaskedSSN,
    PhoneNumber,
    SocialSecurityNumber,
    mask_ssn,
)

Row = dict[str, Any]



# ----------------------------------------------------------------------------------------- arguments


class FileNumberArgs(Args):
    file_number: FileNumber


class PagedFileArgs(Args):
    file_number: FileNumber
    limit: Limit = 25
    offset: Offset = 0


class SsnArgs(Args):
    ssn: Annotated[SocialSecurityNumber, Field(description="SSN as ###-##-#### or 9 digits.")]


class PortfolioArgs(Args):
    portfolio: Annotated[str, Field(min_length=1, description="Portfolio name as scollect_list_portfolios shows it.")]
    limit: Limit = 25
    offset: Offset = 0


class GetAccountArgs(Args):
    file_number: FileNumber
    fields: Annotated[
        list[str] | None,
        Field(
            description="More vendor fields by name, e.g. ['custom1']; ['*'] for every non-blank one.",
        ),
    ] = None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, names: list[str] | None) -> list[str] | None:
        """Every unknown name at once (with suggestions), before anything is sent."""
        if not names or names == ["*"]:
            return names
        problems = []
        for name in names:
            try:
                check_account_field(name)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError(" ".join(problems))
        return names


class PaymentMethodArgs(Args):
    file_number: FileNumber
    payment_method: Literal["CREDIT CARD", "ACH"] | None = None
    card_last4: Annotated[str | None, Field(pattern=r"^\d{4}$", description="Card last 4 digits.")] = None


class PhoneSearchArgs(Args):
    phone_number: PhoneNumber


PhoneType = Annotated[str, Field(min_length=1, max_length=40, description="Phone type, e.g. 'CELL', 'HOME', 'WORK'.")]
PhoneStatus = Annotated[
    str, Field(min_length=1, max_length=40, description="Phone status, e.g. 'Good Number', 'Disconnected'.")
]


class AddPhoneArgs(Args):
    file_number: FileNumber
    phone_number: PhoneNumber
    phone_type: PhoneType = "UNKNOWN"
    phone_status: PhoneStatus = "UNKNOWN"
    source: Annotated[str, Field(min_length=1, max_length=40, description="Where it came from, e.g. 'DEBTOR'.")] = "USER"


class UpdatePhoneArgs(Args):
    file_number: FileNumber
    phone_number: PhoneNumber
    phone_type: PhoneType | None = None
    phone_status: PhoneStatus | None = None

    @model_validator(mode="after")
    def _one_change(self) -> UpdatePhoneArgs:
        if self.phone_type is None and self.phone_status is None:
            raise ValueError("give phone_type, phone_status or both: there is nothing to update")
        return self


class LogAttemptArgs(Args):
    file_number: FileNumber
    phone_number: PhoneNumber
    disposition: Annotated[str, Field(min_length=1, max_length=60, description="Outcome, e.g. 'SPOKE TO DEBTOR', 'NO ANSWER'.")]
    agent: Annotated[str, Field(min_length=1, max_length=60, description="Agent or bot that called.")]
    attempt_type: Annotated[str, Field(min_length=1, max_length=30, description="e.g. 'MANUAL', 'DIALER', 'IVR'.")] = "MANUAL"


class AddNoteArgs(Args):
    file_number: FileNumber
    collector_name: Annotated[str, Field(min_length=1, max_length=60)]
    message: Annotated[str, Field(min_length=1, max_length=4000)]


PermissionKind = Literal["flag", "text", "date", "phone", "decimal", "number"]

# The seed's "Valid Account Permission Fields" table: field -> value type.
PERMISSION_FIELDS: dict[str, PermissionKind] = {
    "callspouse": "flag", "callwork": "text", "cantext": "flag", "canemail": "flag", "addresscorrect": "text",
    "dateofnotice": "date", "cont_debtor": "flag", "last_cont_date": "date", "lastcontactagent": "text",
    "call_campaign": "text", "firstcontact": "date", "firstcontactagent": "text", "verifiedaddress": "flag",
    "nextletter": "date", "nexttext": "date", "nextemail": "date", "hotnotes": "text", "textphone": "phone",
    "cancallcell": "flag", "donot1099": "flag", "donottext": "flag", "donotemail": "flag", "sifamount": "decimal",
    "sifstartdate": "date", "sifcompletedate": "date", "sifnumberofpay": "number", "registeredportal": "flag",
    "lastportallogin": "date", "lastopenedemail": "date", "lastclickdate": "date", "openedcount": "number",
    "linkclickcount": "number", "sentcount": "number", "minimumpayment": "decimal", "minimumonetimepayment": "decimal",
}  # fmt: skip

PermissionField = Literal[
    "callspouse", "callwork", "cantext", "canemail", "addresscorrect", "dateofnotice", "cont_debtor",
    "last_cont_date", "lastcontactagent", "call_campaign", "firstcontact", "firstcontactagent", "verifiedaddress",
    "nextletter", "nexttext", "nextemail", "hotnotes", "textphone", "cancallcell", "donot1099", "donottext",
    "donotemail", "sifamount", "sifstartdate", "sifcompletedate", "sifnumberofpay", "registeredportal",
    "lastportallogin", "lastopenedemail", "lastclickdate", "openedcount", "linkclickcount", "sentcount",
    "minimumpayment", "minimumonetimepayment",
]  # fmt: skip


def permission_wire_value(field: str, value: str) -> str:
    """Check a permission value against its field's type and give the vendor's form, or explain what fits."""
    from collections_mcp.tools.common.types import normalise_us_phone

    kind = PERMISSION_FIELDS[field]
    raw = value.strip()
    if kind == "flag":
        parsed = flag(raw)
        if parsed is None:
            raise ValueError(f"{field} takes 1 or 0 (or true/false, yes/no); got '{value}'")
        return "1" if parsed else "0"
    if kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError(f"{field} takes a date as YYYY-MM-DD; got '{value}'") from None
    if kind == "phone":
        return normalise_us_phone(raw)
    if kind == "decimal":
        amount = money(raw)
        if amount is None or raw.count(".") > 1:
            raise ValueError(f"{field} takes a decimal amount such as 500.00; got '{value}'")
        return amount
    if kind == "number":
        if not raw.isdigit():
            raise ValueError(f"{field} takes a whole number; got '{value}'")
        return str(int(raw))
    if not raw:
        raise ValueError(f"{field} takes a non-empty text value")
    return raw


class UpdatePermissionArgs(Args):
    file_number: FileNumber
    field: PermissionField
    value: Annotated[
        str,
        Field(description="1/0 for flags, YYYY-MM-DD for dates, else a number or text."),
    ]

    @field_validator("value")
    @classmethod
    def _value_fits_field(cls, value: str, info: ValidationInfo) -> str:
        # `field` is validated first (declared first); when it is invalid its own error is reported instead.
        field = info.data.get("field")
        return permission_wire_value(field, value) if field is not None else value


# Fields of the vendor's account ("dbase") record, from the getaccount response in the seed.
ACCOUNT_FIELDS: frozenset[str] = frozenset(
    ["accountnumber", "accruedinterest", "activated", "address", "address2", "adjustments", "advancedfees", "asset1value", "assettype1", "assettype2", "assettype2value", "assettype3", "assettype3value", "assettype4", "assettype4value", "assettype5", "assettype5value", "assignedto", "attorneyaddress", "attorneyaddress2", "attorneybeepernumber", "attorneycellphone", "attorneycity", "attorneyemailaddress", "attorneyfax", "attorneyfees", "attorneyletters", "attorneyname", "attorneyphone", "attorneystate", "attorneyzip", "authorizeduser", "bankruptcytype", "bankruptcyverificationstatus", "beepernumber", "birthdate", "calculateinterest", "callbacks", "cellphone", "chargedoffprincipal", "city", "claimstatus", "claimtype", "clientname", "clientnotes", "closedreason", "collectionfees", "collectorname", "contingencyamount", "courtaddress", "courtcity", "courtfees", "courtfiled", "courtphone", "courtstate", "courtzip", "creditreport1", "creditreport2", "creditreport3", "creditreport4", "creditreport5", "creditscore", "currentbalance", "currentlyemployed", "customertype", "dateaccountopened", "datechargedoff", "dateclosed", "datefiled", "datelastassigned", "datelastdialed", "datelaststatuschg", "dateplaced", "datereceived", "daysassignedto", "daysinstatus", "dayslastworked", "dayssincelastpayment", "deceased", "deceaseddate", "delinquencydate", "dialerstatus", "docketnumber", "emailaddress", "employer", "employeraddress", "employercity", "employerphone", "employerstate", "employerzip", "endtime", "filenumber", "firstname", "fullname", "garnishment", "garnishmentamount", "garnishmentdate", "garnishmentsource", "garnishmenttype", "goodnumbers", "groupname", "hasassets", "hasduplicates", "hasimages", "hotlist", "hotlistcomments", "id", "interestpercentage", "judgement", "judgementdate", "judgementfees", "judgementpercentage", "lastname", "lastpaymentamount", "lastpaymentdate", "lastworked", "latefees", "lein", "leinamount", "leindate", "leintype", "makepayabletoaddress", "makepayabletocity", "makepayabletoname", "makepayabletostate", "makepayabletozip", "managername", "middlename", "miscfees", "nsffees", "occupation", "orderbydate", "originalbalance", "originalcreditor", "originalprincipal", "paidtodate", "pastdue", "paymentplan", "penaltyfees", "portfolio", "portfoliogroup", "primaryphone", "principal", "promises", "reimbursedfees", "reportfilenumber", "salesman", "salesmanpercentage", "skips", "socialsecuritynumber", "spouseemployer", "spouseemployeraddress", "spouseemployercity", "spouseemployerphone", "spouseemployerstate", "spouseemployerzip", "spousename", "spouseoccupation", "spouseworkphone", "starttime", "state", "statuscolor", "statusname", "statustype", "statuteoflimdate", "title", "typeofdebt", "verificationmethod", "verified", "verifieddate", "workphone", "zip"]
    + [f"custom{n}" for n in range(1, 61)]
    + [f"codebtor{n}{part}" for n in (1, 2) for part in (
        "address", "address2", "city", "contactinfo", "employeraddress", "employercity", "employername",
        "employerstate", "employerzip", "firstname", "friends", "fullname", "lastname", "middlename", "occupation",
        "primaryphone", "secondaryphone", "socialsecurity", "state", "zip")]
    + [f"joint{part}" for part in (
        "address", "address2", "birthdate", "city", "employer", "employeraddress", "employercity", "employerstate",
        "employerzip", "firstname", "fullname", "lastname", "middlename", "primaryphone", "secondaryphone", "social",
        "state", "zip")]
)  # fmt: skip

SSN_FIELDS = frozenset({"socialsecuritynumber", "codebtor1socialsecurity", "codebtor2socialsecurity", "jointsocial"})
# Keys and identity numbers an agent must not rewrite through a generic field update.
PROTECTED_FIELDS = frozenset({"id", "filenumber"}) | SSN_FIELDS


def check_account_field(name: str) -> str:
    field = name.strip().lower()
    if field not in ACCOUNT_FIELDS:
        close = difflib.get_close_matches(field, sorted(ACCOUNT_FIELDS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"'{name}' is not a Scollect account field.{hint}")
    return field


class UpdateAccountFieldArgs(Args):
    file_number: FileNumber
    field: Annotated[str, Field(min_length=1, description="Account field name, e.g. 'address', 'custom7'.")]
    value: Annotated[str, Field(max_length=1000)]

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        field = check_account_field(value)
        if field in PROTECTED_FIELDS:
            raise ValueError(f"'{field}' cannot be changed through this tool (identifier or SSN field)")
        return field


class CallbackArgs(Args):
    file_number: FileNumber
    name: Annotated[str, Field(min_length=1, max_length=100)]
    assigned_to: Annotated[str, Field(min_length=1, max_length=60)]
    callback_date: IsoDate
    callback_time: Annotated[
        str, Field(pattern=r"^(1[0-2]|0?[1-9]):[0-5]\d ?([AaPp][Mm])$", description="Local time, e.g. '1:43PM'.")
    ]

    @field_validator("callback_time")
    @classmethod
    def _vendor_time(cls, value: str) -> str:
        return value.replace(" ", "").upper()


class SendEmailArgs(Args):
    file_numbers: Annotated[list[FileNumber], Field(min_length=1, max_length=100)]
    template: Annotated[str, Field(min_length=1)]
    update_permissions: Annotated[bool, Field(description="Let Scollect update the permission table after sending.")] = False


class SendTextArgs(Args):
    file_number: FileNumber
    template: Annotated[str, Field(min_length=1, description="Pre-approved template, e.g. 'Missed 1'.")]
    message_type: Annotated[str, Field(min_length=1, description="Solutions By Text message type.")] = "Multicast"
    environment: Literal["LIVE", "TEST"] = "LIVE"


# ------------------------------------------------------------------------------------------- outputs


class Portfolio(Out):
    id: int
    name: str
    client: str | None = None
    date_placed: str | None = None


class PortfolioList(Out):
    portfolios: list[Portfolio]
    total: int


def portfolio_from(row: Row) -> Portfolio:
    return Portfolio(id=int(row["id"]), name=str(row.get("portfolio", "")).strip(), client=text(row.get("client")),
                     date_placed=iso_date(row.get("dateplaced")))


class Attorney(Out):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class AccountCore(Out):
    """The fields an agent needs on nearly every call; anything else via `fields`."""

    file_number: str
    account_number: str | None = None
    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    ssn: MaskedSSN | None = None
    status: str | None = None
    portfolio: str | None = None
    client: str | None = None
    original_creditor: str | None = None
    current_balance: str | None = None
    original_balance: str | None = None
    principal: str | None = None
    last_payment_amount: str | None = None
    last_payment_date: str | None = None
    date_placed: str | None = None
    date_charged_off: str | None = None
    statute_of_limitations_date: str | None = None
    address: Address | None = None
    email: str | None = None
    home_phone: str | None = None
    cell_phone: str | None = None
    work_phone: str | None = None
    employer: str | None = None
    collector: str | None = None
    assigned_to: str | None = None
    deceased: bool | None = None
    deceased_date: str | None = None
    bankruptcy_type: str | None = None
    attorney: Attorney | None = None
    last_worked: str | None = None


class Account(AccountCore):
    fields: dict[str, Any] | None = Field(default=None, description="The vendor fields asked for with `fields`.")


def account_core_from(row: Row) -> dict[str, Any]:
    return {
        "file_number": str(row.get("filenumber") or row.get("lotno") or "").strip(),
        "account_number": text(row.get("accountnumber")),
        "full_name": text(row.get("fullname")),
        "first_name": text(row.get("firstname")),
        "last_name": text(row.get("lastname")),
        "ssn": text(row.get("socialsecuritynumber")),
        "status": text(row.get("statusname")),
        "portfolio": text(row.get("portfolio")),
        "client": text(row.get("clientname")),
        "original_creditor": text(row.get("originalcreditor")),
        "current_balance": money(row.get("currentbalance")),
        "original_balance": money(row.get("originalbalance")),
        "principal": money(row.get("principal")),
        "last_payment_amount": money(row.get("lastpaymentamount")),
        "last_payment_date": iso_date(row.get("lastpaymentdate")),
        "date_placed": iso_date(row.get("dateplaced")),
        "date_charged_off": iso_date(row.get("datechargedoff")),
        "statute_of_limitations_date": iso_date(row.get("statuteoflimdate")),
        "address": none_if_empty(Address(
            street=text(row.get("address")), street2=text(row.get("address2")), city=text(row.get("city")),
            state=text(row.get("state")), zip=text(row.get("zip")))),
        "email": text(row.get("emailaddress")),
        "home_phone": text(row.get("primaryphone")),
        "cell_phone": text(row.get("cellphone")),
        "work_phone": text(row.get("workphone")),
        "employer": text(row.get("employer")),
        "collector": text(row.get("collectorname")),
        "assigned_to": text(row.get("assignedto")),
        "deceased": flag(row.get("deceased")),
        "deceased_date": iso_date(row.get("deceaseddate")),
        "bankruptcy_type": text(row.get("bankruptcytype")),
        "attorney": none_if_empty(Attorney(
            name=text(row.get("attorneyname")), phone=text(row.get("attorneyphone")),
            email=text(row.get("attorneyemailaddress")))),
        "last_worked": iso_date(row.get("lastworked")),
    }  # fmt: skip


def selected_fields(row: Row, names: list[str] | None) -> dict[str, Any] | None:
    if not names:
        return None
    if names == ["*"]:
        chosen = dict(row)
    else:
        wanted = [check_account_field_or_raise(name) for name in names]
        chosen = {name: row.get(name) for name in wanted}
    compact = compact_mapping(chosen)
    for name in SSN_FIELDS & compact.keys():
        compact[name] = mask_ssn(str(compact[name]))
    return compact


def check_account_field_or_raise(name: str) -> str:
    try:
        return check_account_field(name)
    except ValueError as exc:
        raise InvalidArgument(f"fields: {exc}") from None


class AccountList(Out):
    accounts: list[AccountCore]
    total: int


class PortfolioAccount(Out):
    file_number: str
    first_name: str | None = None
    last_name: str | None = None
    ssn: MaskedSSN | None = None
    current_balance: str | None = None
    creditor: str | None = None
    originator: str | None = None
    state: str | None = None
    last_paid_date: str | None = None
    phones: list[str] = Field(default_factory=list, description="Phone numbers with their status, 'number (status)'.")


def portfolio_account_from(row: Row) -> PortfolioAccount:
    phones = []
    for n in range(1, 16):
        number = text(row.get(f"phone{n}"))
        if number:
            status = text(row.get(f"phonestatus{n}"))
            phones.append(f"{number} ({status})" if status else number)
    return PortfolioAccount(
        file_number=str(row.get("lotno", "")).strip(), first_name=text(row.get("firstname")),
        last_name=text(row.get("lastname")), ssn=text(row.get("SSN")), current_balance=money(row.get("Current UPB")),
        creditor=text(row.get("creditor")), originator=text(row.get("Originator")), state=text(row.get("MM State")),
        last_paid_date=iso_date(row.get("Last Paid Date")), phones=phones)  # fmt: skip


class AccountSummary(Out):
    file_number: str
    full_name: str | None = None
    ssn_last4: MaskedSSN | None = None
    current_balance: str | None = None
    minimum_payment: str | None = None
    minimum_one_time_payment: str | None = None
    settlement_amount: str | None = None
    settlement_number_of_payments: int | None = None
    phones: list[str] = Field(default_factory=list)


def summary_from(row: Row) -> AccountSummary:
    phones = [p for p in (text(row.get(f"phone{n}")) for n in range(1, 6)) if p]
    return AccountSummary(
        file_number=str(row.get("filenumber", "")).strip(), full_name=text(row.get("fullName")),
        ssn_last4=text(row.get("socialsecuritynumber")), current_balance=money(row.get("currentbalance")),
        minimum_payment=money(row.get("minimumpayment")),
        minimum_one_time_payment=money(row.get("minimumonetimepayment")), settlement_amount=money(row.get("sifamount")),
        settlement_number_of_payments=row.get("sifnumberofpay") if isinstance(row.get("sifnumberofpay"), int) else None,
        phones=phones)  # fmt: skip


class Attempt(Out):
    at: str | None = Field(default=None, description="When (ISO date or date-time).")
    phone_number: str | None = None
    disposition: str | None = None
    direction: str | None = None
    agent: str | None = None
    type: str | None = None


def _combine(day: Any, clock: Any) -> str | None:
    iso = iso_date(day)
    hhmm = text(clock)
    return f"{iso}T{hhmm.zfill(5)}" if iso and hhmm and len(hhmm) <= 5 and ":" in hhmm else iso


def attempt_from(row: Row) -> Attempt:
    return Attempt(at=_combine(row.get("date"), row.get("time")), phone_number=text(row.get("phonenumber")),
                   disposition=text(row.get("dispo")), direction=text(row.get("direction")),
                   agent=text(row.get("agent")), type=text(row.get("type")))  # fmt: skip


class Email(Out):
    at: str | None = None
    subject: str | None = None
    to_address: str | None = None
    event: str | None = Field(default=None, description="Tracking event: OkToSend, Delivery, Open, Click, Bounce...")
    email_id: str | None = None


def email_from(row: Row) -> Email:
    return Email(at=iso_timestamp(row.get("DateLoaded")), subject=text(row.get("Subject")),
                 to_address=text(row.get("ToAddress")), event=text(row.get("TrackingType")),
                 email_id=text(row.get("EmailID")))  # fmt: skip


class EmailStats(Out):
    file_number: str
    last_email_date: str | None = None
    last_opened_date: str | None = None
    last_click_date: str | None = None
    last_portal_login: str | None = None
    registered_portal: bool | None = None
    sent_count: int | None = None
    opened_count: int | None = None
    link_click_count: int | None = None


def email_stats_from(file_number: str, rows: list[Row]) -> EmailStats:
    row = rows[0] if rows else {}
    return EmailStats(
        file_number=file_number, last_email_date=iso_date(row.get("last_email_date")),
        last_opened_date=iso_date(row.get("lastopenedemail")), last_click_date=iso_date(row.get("lastclickdate")),
        last_portal_login=iso_date(row.get("lastportallogin")), registered_portal=flag(row.get("registeredportal")),
        sent_count=integer(row.get("sentcount")), opened_count=integer(row.get("openedcount")),
        link_click_count=integer(row.get("linkclickcount")))  # fmt: skip


class Phone(Out):
    phone_number: str
    status: str | None = None
    type: str | None = None
    source: str | None = None
    good_number: str | None = None
    last_change: str | None = None


class PhoneList(Out):
    file_number: str
    phones: list[Phone]


def phone_from(row: Row) -> Phone:
    return Phone(phone_number=str(row.get("phonenumber", "")).strip(), status=text(row.get("phonestatus")),
                 type=text(row.get("phonetype")), source=text(row.get("source")),
                 good_number=text(row.get("isagoodnumber")), last_change=iso_timestamp(row.get("lastchange")))  # fmt: skip


class Note(Out):
    id: int | None = None
    at: str | None = None
    collector: str | None = None
    message: str


def _note_stamp(row: Row) -> str | None:
    from datetime import datetime

    raw = text(row.get("logdateandtime"))
    if raw:
        for pattern in ("%m/%d/%Y AT %I:%M %p", "%m/%d/%Y AT %H:%M"):
            try:
                return datetime.strptime(raw, pattern).isoformat(timespec="minutes")
            except ValueError:
                continue
    return iso_date(row.get("logdate"))


def note_from(row: Row) -> Note:
    note_id = row.get("id")
    return Note(id=note_id if isinstance(note_id, int) else None, at=_note_stamp(row),
                collector=text(row.get("collectorname")), message=str(row.get("logmessage") or "").strip())  # fmt: skip


class Payment(Out):
    paid_on: str | None = None
    amount: str | None = None
    method: str | None = None
    type: str | None = None
    portfolio: str | None = None
    merchant: str | None = None
    taken_on: str | None = None


def payment_from(row: Row) -> Payment:
    return Payment(paid_on=iso_date(row.get("paymentdate")), amount=money(row.get("paymentamount")),
                   method=text(row.get("paymentmethod")), type=text(row.get("typeofpayment")),
                   portfolio=text(row.get("portfolio")), merchant=text(row.get("merchant")),
                   taken_on=iso_date(row.get("datetaken")))  # fmt: skip


class StoredPaymentMethod(Out):
    id: int | None = Field(default=None, description="Vendor id of the stored method.")
    method: str | None = None
    card_last4: str | None = None
    card_zip: str | None = None


class PaymentMethodList(Out):
    file_number: str
    methods: list[StoredPaymentMethod]


def payment_method_from(row: Row) -> StoredPaymentMethod:
    last4 = text(row.get("last4card"))
    return StoredPaymentMethod(id=integer(row.get("maindatabaseid")), method=text(row.get("paymentmethod")),
                               card_last4=last4[-4:] if last4 else None, card_zip=text(row.get("cardzipcode")))  # fmt: skip


class LastPayment(Out):
    file_number: str
    found: bool
    paid_on: str | None = None
    payor_name: str | None = None
    card: MaskedCard | None = None
    card_expiration: str | None = None


def last_payment_from(file_number: str, rows: list[Row]) -> LastPayment:
    if not rows:
        return LastPayment(file_number=file_number, found=False)
    row = rows[0]
    return LastPayment(file_number=file_number, found=True, paid_on=iso_date(row.get("paymentdate")),
                       payor_name=text(row.get("payorname")),
                       card=text(row.get("last4card")) or text(row.get("cardnumber")),
                       card_expiration=text(row.get("cardexpirationdate")))  # fmt: skip


class PhoneMatch(Out):
    file_number: str
    first_name: str | None = None
    last_name: str | None = None
    ssn_last4: MaskedSSN | None = None
    address: Address | None = None


class PhoneMatches(Out):
    phone_number: str
    matches: list[PhoneMatch]


def phone_match_from(row: Row) -> PhoneMatch:
    return PhoneMatch(
        file_number=str(row.get("filenumber", "")).strip(), first_name=text(row.get("firstname")),
        last_name=text(row.get("lastname")), ssn_last4=text(row.get("ssn")),
        address=none_if_empty(Address(street=text(row.get("address")), city=text(row.get("city")),
                                       state=text(row.get("state")), zip=text(row.get("zip")))))  # fmt: skip


class WriteResult(Out):
    """A change the vendor confirmed."""

    file_number: str
    done: Literal[True] = True
    vendor_message: str
    changed: dict[str, Any] | None = Field(default=None, description="What was written, as sent.")


class SendResult(Out):
    file_numbers: list[str]
    sent: Literal[True] = True
    channel: Literal["email", "text"]
    template: str
