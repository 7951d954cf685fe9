"""Scollect money tools: record a payment or a payment plan, update pending payments, charge a stored method.

Card and bank details are never arguments. The tools that need them declare `capture="card_or_bank"`;
the server's capture stage has the person enter them on its secure page and hands them to the handler
as `ctx.captured` (see server/payments/service.py). This module only relies on the instrument's shape
(`CapturedCard` / `CapturedBank` below), so it imports nothing from the server. The numbers exist in
plain text only inside the vendor request body built here; every output carries masked values only.

Dates: a payment date may be today or later. "Today" is the date in Hawaii (the last US state to
reach a given date), so a date counts as past only once it has ended everywhere in the US; within
calling hours that is the debtor's own local date on the mainland too.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.common.human import HumanUnavailable
from collections_mcp.tools.common.models import Args, Out
from collections_mcp.tools.common.spec import ToolContext
from collections_mcp.tools.common.types import Amount, FileNumber, IsoDate
from collections_mcp.tools.scollect.client import ScollectClient

Ctx = ToolContext[ScollectClient]
T = TypeVar("T")
try:
    _LAST_US_DATE_ZONE: tzinfo = ZoneInfo("Pacific/Honolulu")
except ZoneInfoNotFoundError:  # no time-zone database: Hawaii has kept UTC-10 without DST since 1947
    _LAST_US_DATE_ZONE = timezone(timedelta(hours=-10), "HST")
_NO_DIGITS = re.compile(r"^[^\d]*$")

# ----------------------------------------------------------------------------------------- captured details


class CapturedCard(Protocol):
    """A card captured on the secure page (server/payments/instruments.py `CardDetails`)."""

    @property
    def kind(self) -> Literal["card"]: ...
    @property
    def number(self) -> SecretStr: ...
    @property
    def cvv(self) -> SecretStr: ...
    @property
    def exp_month(self) -> int: ...
    @property
    def exp_year(self) -> int: ...
    @property
    def holder(self) -> str: ...
    @property
    def brand(self) -> str: ...
    @property
    def masked(self) -> str: ...


class CapturedBank(Protocol):
    """A bank account captured on the secure page (server/payments/instruments.py `BankDetails`)."""

    @property
    def kind(self) -> Literal["bank"]: ...
    @property
    def routing(self) -> SecretStr: ...
    @property
    def account(self) -> SecretStr: ...
    @property
    def account_type(self) -> Literal["Checking", "Savings"]: ...
    @property
    def holder(self) -> str: ...
    @property
    def masked(self) -> str: ...


Captured = CapturedCard | CapturedBank


def captured_of(ctx: Ctx) -> Captured | None:
    kind = getattr(ctx.captured, "kind", None)
    if kind == "card":
        return cast(CapturedCard, ctx.captured)
    if kind == "bank":
        return cast(CapturedBank, ctx.captured)
    return None


def _require_captured(ctx: Ctx) -> Captured:
    captured = captured_of(ctx)
    if captured is None:
        raise HumanUnavailable(
            "no card or bank details were captured for this call (the server's secure payment page is not enabled)"
        )
    return captured


def describe_method(captured: Captured | None) -> str:
    """'card ****1111 exp 12/2031 (Visa)' / 'bank ****6789 routing ****0021 (Checking)'."""
    if captured is None:
        return "the card or bank account entered on the secure page"
    detail = captured.brand if captured.kind == "card" else captured.account_type
    return f"{captured.masked} ({detail})"


def _method_fields(captured: Captured) -> dict[str, str]:
    """The vendor's payment-method fields. The only place the full numbers and the CVV are read."""
    if captured.kind == "card":
        month, year = f"{captured.exp_month:02d}", str(captured.exp_year)
        return {
            "paymentmethod": "CREDIT CARD",
            "cardtype": captured.brand,
            "cardnumber": captured.number.get_secret_value(),
            "threedigitnumber": captured.cvv.get_secret_value(),
            "cardexpirationmonth": month,
            "cardexpirationyear": year,
            "cardexpirationdate": f"{month}/{year}",
            "checkaccountnumber": "",
            "checkroutingnumber": "",
            "checkaccounttype": "",
        }
    return {
        "paymentmethod": "ACH",
        "cardtype": "",
        "cardnumber": "",
        "threedigitnumber": "",
        "cardexpirationmonth": "",
        "cardexpirationyear": "",
        "cardexpirationdate": "",
        "checkaccountnumber": captured.account.get_secret_value(),
        "checkroutingnumber": captured.routing.get_secret_value(),
        "checkaccounttype": captured.account_type,
    }


def _secrets_of(captured: Captured) -> list[str]:
    if captured.kind == "card":
        return [captured.number.get_secret_value(), captured.cvv.get_secret_value()]
    return [captured.account.get_secret_value(), captured.routing.get_secret_value()]


async def _sending(captured: Captured, request: Awaitable[T]) -> T:
    """Await a vendor call whose body holds the details; a vendor error never repeats them."""
    try:
        return await request
    except VendorError as exc:
        for secret in _secrets_of(captured):
            if len(secret) >= 3:
                exc.message = re.sub(rf"(?<!\d){re.escape(secret)}(?!\d)", "[redacted]", exc.message)
        raise


# ----------------------------------------------------------------------------------------- dates and money


def today_of(now: datetime) -> date:
    """Today's date for payment rules (see the module docstring)."""
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return aware.astimezone(_LAST_US_DATE_ZONE).date()


def _check_not_past(days: Iterable[tuple[str, date]], now: datetime) -> None:
    today = today_of(now)
    past = [f"{name} {day.isoformat()}" for name, day in days if day < today]
    if past:
        raise InvalidArgument(
            f"{', '.join(past)} {'is' if len(past) == 1 else 'are'} in the past (today is {today.isoformat()}); "
            "payment dates must be today or later. Nothing was sent."
        )


def usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _decimal(amount: Decimal) -> str:
    return f"{amount:.2f}"


PaymentDate = Annotated[date | None, Field(description="Today or later (default: today).")]
TypeOfPayment = Annotated[
    str, Field(min_length=1, max_length=40, description="Free-text payment type, e.g. 'Phone'.")
]
Invoice = Annotated[str, Field(max_length=40)]
AcceptedFees = bool
NEW_METHOD_HELP = "true: the person enters a new card or bank account on the secure payment page."


# ----------------------------------------------------------------------------------------- arguments


class RecordPaymentArgs(Args):
    file_number: FileNumber
    amount: Amount
    payment_date: PaymentDate = None
    type_of_payment: TypeOfPayment = "Online"
    invoice: Invoice = ""
    accepted_fees: AcceptedFees = False

    @property
    def capture_amount(self) -> Decimal:
        return self.amount

    def day(self, now: datetime) -> date:
        return self.payment_date or today_of(now)

    def check(self, now: datetime) -> None:
        _check_not_past([("payment_date", self.day(now))], now)

    def capture_purpose(self, now: datetime) -> str:
        self.check(now)
        return f"a payment of {usd(self.amount)} dated {self.day(now).isoformat()}"


class ScheduledPayment(Args):
    payment_date: IsoDate
    amount: Amount


class RecordPaymentPlanArgs(Args):
    file_number: FileNumber
    schedule: Annotated[
        list[ScheduledPayment],
        Field(
            min_length=1,
            max_length=120,
            description="One payment per date (distinct dates).",
        ),
    ]
    type_of_payment: TypeOfPayment = "Online"
    invoice: Invoice = ""
    accepted_fees: AcceptedFees = False

    @field_validator("schedule")
    @classmethod
    def _distinct_dates(cls, schedule: list[ScheduledPayment]) -> list[ScheduledPayment]:
        days = [item.payment_date for item in schedule]
        repeated = sorted({day.isoformat() for day in days if days.count(day) > 1})
        if repeated:
            raise ValueError(f"each date may appear once; repeated: {', '.join(repeated)}")
        return sorted(schedule, key=lambda item: item.payment_date)

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.schedule), Decimal("0"))

    @property
    def capture_amount(self) -> Decimal:
        return self.total

    def check(self, now: datetime) -> None:
        _check_not_past([(f"schedule[{i}].payment_date", p.payment_date) for i, p in enumerate(self.schedule)], now)

    def capture_purpose(self, now: datetime) -> str:
        self.check(now)
        count = len(self.schedule)
        first, last = self.schedule[0].payment_date, self.schedule[-1].payment_date
        span = f"on {first.isoformat()}" if count == 1 else f"from {first.isoformat()} to {last.isoformat()}"
        return f"a payment plan of {count} payment{'s' if count != 1 else ''} totalling {usd(self.total)}, {span}"


class UpdatePendingPaymentArgs(Args):
    file_number: FileNumber
    payment_date: Annotated[date | None, Field(description="Today or later.")] = None
    payor_name: Annotated[
        str | None, Field(min_length=1, max_length=80, description="New payor name (no digits).")
    ] = None
    type_of_payment: TypeOfPayment | None = None
    invoice: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    accepted_fees: bool | None = None
    new_payment_method: Annotated[bool, Field(description=NEW_METHOD_HELP)] = False

    @field_validator("payor_name")
    @classmethod
    def _no_digits(cls, value: str | None) -> str | None:
        if value is not None and not _NO_DIGITS.match(value):
            raise ValueError("a payor name has no digits (card and bank numbers are never arguments)")
        return value

    @model_validator(mode="after")
    def _one_change(self) -> UpdatePendingPaymentArgs:
        fields = (self.payment_date, self.payor_name, self.type_of_payment, self.invoice, self.accepted_fees)
        if all(value is None for value in fields) and not self.new_payment_method:
            raise ValueError(
                "give at least one change: payment_date, payor_name, type_of_payment, invoice, accepted_fees or "
                "new_payment_method=true (the amount of a pending payment cannot be changed)"
            )
        return self

    @property
    def capture_amount(self) -> None:
        return None

    def check(self, now: datetime) -> None:
        if self.payment_date is not None:
            _check_not_past([("payment_date", self.payment_date)], now)

    def capture_purpose(self, now: datetime) -> str | None:
        """Only a new payment method needs the secure page; other changes never ask for details."""
        self.check(now)
        return "new payment details for every pending payment on the account" if self.new_payment_method else None


class RunPaymentArgs(Args):
    file_number: FileNumber
    amount: Amount
    payment_date: PaymentDate = None

    def day(self, now: datetime) -> date:
        return self.payment_date or today_of(now)

    def check(self, now: datetime) -> None:
        _check_not_past([("payment_date", self.day(now))], now)


# ----------------------------------------------------------------------------------------- outputs

MethodText = Annotated[
    str,
    Field(description="The payment method, masked: 'card ****1111 exp 12/2031' or 'bank ****6789 routing ****0021'."),
]


class PaymentRecorded(Out):
    file_number: str
    recorded: Literal[True] = True
    status: Literal["PENDING"] = "PENDING"
    amount: str = Field(description="Decimal string, e.g. '100.00'.")
    payment_date: str
    method: MethodText
    payor_name: str
    vendor_message: str


class PlannedPayment(Out):
    payment_date: str
    amount: str


class PaymentPlanRecorded(Out):
    file_number: str
    recorded: Literal[True] = True
    status: Literal["PENDING"] = "PENDING"
    payments: list[PlannedPayment]
    count: int
    total: str = Field(description="Sum of the plan's payments, decimal string.")
    method: MethodText
    payor_name: str
    vendor_message: str


class PendingPaymentUpdated(Out):
    file_number: str
    updated: Literal[True] = True
    scope: Literal["every PENDING payment on the account"] = "every PENDING payment on the account"
    changed: dict[str, str] = Field(description="What was changed (payment method masked).")
    vendor_message: str


class PaymentCharged(Out):
    file_number: str
    approved: Literal[True] = True
    approval_code: str
    amount: str
    payment_date: str
    vendor_result: str | None = None


# ----------------------------------------------------------------------------------------- vendor bodies


def _payment_body(
    file_number: str, captured: Captured, *, type_of_payment: str, invoice: str, accepted_fees: bool
) -> dict[str, Any]:
    return {
        "filenumber": file_number,
        "payorname": captured.holder,
        "paymentstatus": "PENDING",
        "typeofpayment": type_of_payment,
        **_method_fields(captured),
        "acceptedfees": "1" if accepted_fees else "0",
        "printed": "false",
        "invoice": invoice,
    }


# ----------------------------------------------------------------------------------------- summaries


async def summarize_record_payment(ctx: Ctx, args: RecordPaymentArgs) -> str:
    args.check(ctx.now())
    captured = captured_of(ctx)
    payor = f", payor {captured.holder}" if captured else ""
    fees = " The payor accepted the fees." if args.accepted_fees else ""
    return (
        f"Scollect account {args.file_number}: record a payment of {usd(args.amount)} dated "
        f"{args.day(ctx.now()).isoformat()} from {describe_method(captured)}{payor}. Scollect stores it as a "
        f"PENDING payment.{fees}"
    )


async def summarize_record_payment_plan(ctx: Ctx, args: RecordPaymentPlanArgs) -> str:
    args.check(ctx.now())
    captured = captured_of(ctx)
    payor = f", payor {captured.holder}" if captured else ""
    count = len(args.schedule)
    lines = "; ".join(f"{item.payment_date.isoformat()} {usd(item.amount)}" for item in args.schedule)
    return (
        f"Scollect account {args.file_number}: record a payment plan of {count} payment{'s' if count != 1 else ''}, "
        f"total {usd(args.total)}, from {describe_method(captured)}{payor}: {lines}. Scollect stores each as a "
        "PENDING payment."
    )


def _update_changes(ctx: Ctx, args: UpdatePendingPaymentArgs) -> dict[str, str]:
    captured = captured_of(ctx) if args.new_payment_method else None
    changes: dict[str, str] = {}
    if args.payment_date is not None:
        changes["payment_date"] = args.payment_date.isoformat()
    if args.new_payment_method:
        changes["payment_method"] = describe_method(captured)
    payor = args.payor_name or (captured.holder if captured is not None else None)
    if payor is not None:
        changes["payor_name"] = payor
    if args.type_of_payment is not None:
        changes["type_of_payment"] = args.type_of_payment
    if args.invoice is not None:
        changes["invoice"] = args.invoice
    if args.accepted_fees is not None:
        changes["accepted_fees"] = "yes" if args.accepted_fees else "no"
    return changes


async def summarize_update_pending_payment(ctx: Ctx, args: UpdatePendingPaymentArgs) -> str:
    args.check(ctx.now())
    changes = "; ".join(f"{name.replace('_', ' ')} → {value}" for name, value in _update_changes(ctx, args).items())
    return (
        f"Scollect account {args.file_number}: change every PENDING payment on the account: {changes}. "
        "Amounts are not changed."
    )


async def _stored_method(ctx: Ctx, file_number: str) -> str:
    try:
        rows = await ctx.client.payment_methods(file_number)
    except VendorError as exc:
        if "does not exist" in exc.message:
            raise InvalidArgument(
                f"Scollect has no stored payment method for {file_number}, so there is nothing to charge. Nothing "
                "was sent. Use scollect_record_payment to take new card or bank details on the secure page."
            ) from None
        raise
    if not rows:
        raise InvalidArgument(f"Scollect has no stored payment method for {file_number}; nothing was charged.")

    def label(row: dict[str, Any]) -> str:
        last4 = str(row.get("last4card") or "")[-4:]
        return f"{str(row.get('paymentmethod') or 'method').strip()} ****{last4 or '????'}"

    newest = label(rows[-1])
    if len(rows) == 1:
        return f"the stored {newest}"
    others = ", ".join(label(row) for row in rows[:-1])
    return f"the stored {newest} (the newest of {len(rows)} stored methods; also on file: {others})"


async def summarize_run_payment(ctx: Ctx, args: RunPaymentArgs) -> str:
    args.check(ctx.now())
    method = await _stored_method(ctx, args.file_number)
    return (
        f"Scollect account {args.file_number}: charge {usd(args.amount)} now (payment date "
        f"{args.day(ctx.now()).isoformat()}) to {method}. The money is taken immediately."
    )


# ----------------------------------------------------------------------------------------- handlers


async def record_payment(ctx: Ctx, args: RecordPaymentArgs) -> PaymentRecorded:
    """Record a card or ACH payment (stored as PENDING): the person enters the card or bank details on the secure
    payment page, never as arguments, and confirms."""
    args.check(ctx.now())
    captured = _require_captured(ctx)
    day = args.day(ctx.now()).isoformat()
    body = _payment_body(args.file_number, captured, type_of_payment=args.type_of_payment, invoice=args.invoice,
                         accepted_fees=args.accepted_fees) | {"paymentdate": day, "paymentamount": _decimal(args.amount)}  # fmt: skip
    message = await _sending(captured, ctx.client.insert_payment(body))
    return PaymentRecorded(file_number=args.file_number, amount=_decimal(args.amount), payment_date=day,
                           method=captured.masked, payor_name=captured.holder, vendor_message=message)  # fmt: skip


async def record_payment_plan(ctx: Ctx, args: RecordPaymentPlanArgs) -> PaymentPlanRecorded:
    """Record a payment plan: one PENDING payment per `schedule` date, from one card or bank account the person enters
    on the secure payment page, then confirms."""
    args.check(ctx.now())
    captured = _require_captured(ctx)
    first = args.schedule[0]
    body = _payment_body(args.file_number, captured, type_of_payment=args.type_of_payment, invoice=args.invoice,
                         accepted_fees=args.accepted_fees)  # fmt: skip
    body |= {
        # The seed's example also carries a single date and amount; they are the plan's first payment.
        "paymentdate": first.payment_date.isoformat(),
        "paymentamount": _decimal(first.amount),
        "paymentdata": [
            {"paymentamount": _decimal(item.amount), "paymentdate": item.payment_date.isoformat()}
            for item in args.schedule
        ],
    }
    message = await _sending(captured, ctx.client.insert_payment_plan(body))
    payments = [
        PlannedPayment(payment_date=p.payment_date.isoformat(), amount=_decimal(p.amount)) for p in args.schedule
    ]
    return PaymentPlanRecorded(file_number=args.file_number, payments=payments, count=len(payments),
                               total=_decimal(args.total), method=captured.masked, payor_name=captured.holder,
                               vendor_message=message)  # fmt: skip


async def update_pending_payment(ctx: Ctx, args: UpdatePendingPaymentArgs) -> PendingPaymentUpdated:
    """Change every PENDING payment of an account: date, type, payor, invoice, fees flag, or the card or bank account
    (secure payment page). Amounts cannot change."""
    args.check(ctx.now())
    captured = _require_captured(ctx) if args.new_payment_method else None
    body: dict[str, Any] = {"filenumber": args.file_number}
    if args.payment_date is not None:
        body["paymentdate"] = args.payment_date.isoformat()
    payor = args.payor_name or (captured.holder if captured is not None else None)
    if payor is not None:
        body["payorname"] = payor
    if args.type_of_payment is not None:
        body["typeofpayment"] = args.type_of_payment
    if args.invoice is not None:
        body["invoice"] = args.invoice
    if args.accepted_fees is not None:
        body["acceptedfees"] = args.accepted_fees
    if captured is not None:
        # Blank fields are ignored by the vendor (it cannot clear them), so only the new method's fields go.
        body |= {name: value for name, value in _method_fields(captured).items() if value}
        message = await _sending(captured, ctx.client.update_pending_payment(body))
    else:
        message = await ctx.client.update_pending_payment(body)
    changed = _update_changes(ctx, args)
    return PendingPaymentUpdated(file_number=args.file_number, changed=changed, vendor_message=message)


async def run_payment(ctx: Ctx, args: RunPaymentArgs) -> PaymentCharged:
    """Charge an account's stored payment method now; no card data needed, the person confirms first."""
    args.check(ctx.now())
    day = args.day(ctx.now()).isoformat()
    answer = await ctx.client.run_payment(args.file_number, day, _decimal(args.amount))
    result = answer.get("result")
    return PaymentCharged(file_number=args.file_number, approval_code=str(answer["approvalcode"]),
                          amount=_decimal(args.amount), payment_date=day,
                          vendor_result=str(result) if result not in (None, "") else None)  # fmt: skip
