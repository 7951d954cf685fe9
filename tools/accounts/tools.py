"""Cross-vendor account tools: a live-conversation snapshot, the contact verdict, and identity checks."""

from __future__ import annotations

import difflib
import hmac
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import anyio

from collections_mcp.tools.accounts import models as m
from collections_mcp.tools.accounts.client import AccountsClient
from collections_mcp.tools.accounts.settings import AccountsSettings, accounts_settings
from collections_mcp.tools.common.compact import parse_vendor_datetime, text
from collections_mcp.tools.common.concurrent import Outcome, describe_failure, start
from collections_mcp.tools.common.contact_rules import (
    STANDING_BLOCKS,
    TIMED_BLOCKS,
    Channel,
    Code,
    ContactVerdict,
    evaluate,
    placed_calls_in_window,
    state_code,
)
from collections_mcp.tools.common.errors import InvalidArgument, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.spec import Effect, Profile, ToolContext, Toolset, ToolSpec
from collections_mcp.tools.scollect import models as sm
from collections_mcp.tools.scollect.contact_facts import contact_facts_from, scollect_contact_facts

Ctx = ToolContext[AccountsClient]
log = logging.getLogger("collections_mcp.accounts")
Row = dict[str, Any]

RECENT = 5
NOTE_CHARS = 240
_PERMISSIONS_NOTE = (
    "Not readable from Scollect (its API can set permissions but not read them): check donottext, cantext, "
    "donotemail, canemail, cancallcell, callwork and cont_debtor in Scollect before texting, emailing or "
    "calling a cell or work number."
)


def _now(ctx: Ctx) -> datetime:
    moment = ctx.now()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------- snapshot


async def _payment_methods(ctx: Ctx, file_number: str) -> list[Row]:
    try:
        return await ctx.client.scollect.payment_methods(file_number)
    except VendorNotFound:  # Scollect answers 404 "does not exist" when an account has no stored method
        return []


def _newest(items: list[Any], key: Any) -> list[Any]:
    return sorted(items, key=key, reverse=True)[:RECENT]


def _clip(message: str) -> str:
    return message if len(message) <= NOTE_CHARS else message[: NOTE_CHARS - 1] + "…"


async def snapshot(ctx: Ctx, args: m.SnapshotArgs) -> m.Snapshot:
    """An account at a glance for a live conversation: masked identity, status, balance, offers, phones, permissions,
    recent notes, attempts and payments, stored methods, and whether a call is allowed now. Use it first."""
    client, number = ctx.client.scollect, args.file_number
    async with anyio.create_task_group() as group:
        account = start(group, lambda: client.account(number))
        summary = start(group, lambda: client.account_summary(number))
        phones = start(group, lambda: client.phones(number))
        notes = start(group, lambda: client.notes(number))
        attempts = start(group, lambda: client.attempts(number))
        payments = start(group, lambda: client.payments(number))
        methods = start(group, lambda: _payment_methods(ctx, number))
    row = account.get()  # without the account there is nothing to show: its error is the tool's error
    core = sm.account_core_from(row)
    unavailable: list[m.Unavailable] = []

    def read(part: str, outcome: Outcome[Any]) -> Any:
        if outcome.error is None:
            return outcome.get()
        unavailable.append(m.Unavailable(part=part, error=outcome.describe_error()))
        return None

    address = core.get("address")
    identity = m.Identity(full_name=core["full_name"], ssn=core["ssn"], city=address.city if address else None,
                          state=address.state if address else None)  # fmt: skip
    offer = sm.summary_from(summary_row) if (summary_row := read("balance_offers", summary)) else None
    balance = m.Balance(
        status=core["status"], current_balance=core["current_balance"], original_balance=core["original_balance"],
        last_payment_amount=core["last_payment_amount"], last_payment_date=core["last_payment_date"],
        client=core["client"], original_creditor=core["original_creditor"],
        minimum_payment=offer.minimum_payment if offer else None,
        minimum_one_time_payment=offer.minimum_one_time_payment if offer else None,
        settlement_amount=offer.settlement_amount if offer else None,
        settlement_payments=offer.settlement_number_of_payments if offer else None,
    )  # fmt: skip

    parts: dict[str, Any] = {}
    if (phone_rows := read("phones", phones)) is not None:
        parts["phones"] = [m.PhoneLine(number=p.phone_number, type=p.type, status=p.status)
                           for p in map(sm.phone_from, phone_rows)]  # fmt: skip
    if (note_rows := read("notes", notes)) is not None:
        parsed_notes = [sm.note_from(note) for note in note_rows]
        parts["notes_total"] = len(parsed_notes)
        parts["recent_notes"] = [m.NoteLine(at=n.at, by=n.collector, text=_clip(n.message))
                                 for n in _newest(parsed_notes, lambda n: (n.at or "", n.id or 0))]  # fmt: skip
    if (attempt_rows := read("attempts", attempts)) is not None:
        parsed_attempts = [sm.attempt_from(attempt) for attempt in attempt_rows]
        parts["attempts_total"] = len(parsed_attempts)
        parts["recent_attempts"] = [
            m.AttemptLine(at=a.at, direction=a.direction, disposition=a.disposition, phone=a.phone_number)
            for a in _newest(parsed_attempts, lambda a: a.at or "")
        ]
        facts = contact_facts_from(file_number=number, channel="call", now=_now(ctx), account=row,
                                   attempts=attempt_rows, vendor_tz=ctx.client.scollect.timezone)  # fmt: skip
        parts["call_now"] = evaluate(facts)
    else:
        unavailable.append(m.Unavailable(part="call_now", error="needs the attempts log, which could not be read"))
    if (payment_rows := read("payments", payments)) is not None:
        parsed_payments = [sm.payment_from(payment) for payment in payment_rows]
        parts["payments_total"] = len(parsed_payments)
        parts["recent_payments"] = [m.PaymentLine(paid_on=p.paid_on, amount=p.amount, method=p.method or p.type)
                                    for p in _newest(parsed_payments, lambda p: p.paid_on or "")]  # fmt: skip
    if (method_rows := read("payment_methods", methods)) is not None:
        parts["payment_methods"] = [m.MethodLine(method=pm.method, last4=pm.card_last4)
                                    for pm in map(sm.payment_method_from, method_rows)]  # fmt: skip
    return m.Snapshot(
        file_number=core["file_number"] or number,
        identity=identity,
        balance=balance,
        permissions=m.PermissionsView(readable=False, note=_PERMISSIONS_NOTE),
        unavailable=unavailable,
        **parts,
    )


# ----------------------------------------------------------------------------------------------- check contact


async def check_contact(ctx: Ctx, args: m.CheckContactArgs) -> ContactVerdict:
    """May this debtor be contacted now by call, text or email? `allowed`, every reason, and `next_allowed_at` when
    only the time blocks it. Run it before every contact."""
    facts = await scollect_contact_facts(
        ctx.client.scollect, args.file_number, args.channel, _now(ctx),
        phone_number=args.phone_number, vendor_tz=ctx.client.scollect.timezone,
    )  # fmt: skip
    return evaluate(facts)


# ---------------------------------------------------------------------------------------------------- worklist

CHANNELS: tuple[Channel, ...] = ("call", "text", "email")
# How many progress notifications a worklist sends at most while it reads a portfolio.
PROGRESS_STEPS = 20
_DO_NOT_CONTACT_ADVICE = {
    Code.BANKRUPTCY: "route it to the bankruptcy process",
    Code.DECEASED: "only the estate's representative may be contacted, not through this workflow",
    Code.CEASE_AND_DESIST: "the debtor asked in writing to stop communication",
    Code.ATTORNEY_REPRESENTED: "communicate with the attorney",
}


@dataclass
class _Checked:
    """One portfolio account as the worklist judged it."""

    row: sm.PortfolioAccount
    balance: Decimal
    verdict: ContactVerdict | None = None
    allowed_now: list[Channel] = field(default_factory=list)
    last_contact: m.AttemptLine | None = None
    calls_last_7_days: int | None = None
    error: str | None = None
    action: m.WorklistAction = "not_checked"


def _balance(account: sm.PortfolioAccount) -> Decimal | None:
    return Decimal(account.current_balance) if account.current_balance is not None else None


def _wanted(account: sm.PortfolioAccount, args: m.WorklistArgs) -> bool:
    if args.states is not None and state_code(account.state) not in args.states:
        return False
    if args.min_balance is not None:
        balance = _balance(account)
        return balance is not None and balance >= args.min_balance  # an unreadable balance is not "at least"
    return True


def _action(verdict: ContactVerdict) -> m.WorklistAction:
    codes = {reason.code for reason in verdict.blocking}
    if not codes:
        return "contact_now"
    if codes & STANDING_BLOCKS:
        return "do_not_contact"
    if codes <= TIMED_BLOCKS:
        return "wait"
    return "review"


def _suggestion(item: _Checked, channel: Channel) -> str:
    verdict = item.verdict
    if verdict is None:
        return f"Not checked ({item.error}): check it with accounts_check_contact before any contact."
    codes = [reason.code.value for reason in verdict.blocking]
    verb = {"call": "Call", "text": "Text", "email": "Email"}[channel]
    if item.action == "contact_now":
        used = f" ({item.calls_last_7_days} of 7 calls used in the last 7 days)" if channel == "call" else ""
        return f"{verb} now{used}."
    if item.action == "wait":
        when = verdict.next_allowed_at.strftime("%Y-%m-%d %H:%M UTC") if verdict.next_allowed_at else "later"
        return f"Wait ({', '.join(codes)}): allowed again from {when}."
    if item.action == "do_not_contact":
        advice = next((_DO_NOT_CONTACT_ADVICE[r.code] for r in verdict.blocking if r.code in _DO_NOT_CONTACT_ADVICE), "")
        return f"Do not contact ({', '.join(codes)})" + (f": {advice}." if advice else ".")
    return f"A person must check first ({', '.join(codes)}): see the verdict's reasons."


def _rank_key(item: _Checked) -> tuple[Any, ...]:
    order = m.ACTION_ORDER.index(item.action)
    if item.action == "wait" and item.verdict is not None and item.verdict.next_allowed_at is not None:
        return (order, item.verdict.next_allowed_at.timestamp(), -item.balance)
    return (order, 0.0, -item.balance, item.calls_last_7_days or 0)


async def _judge(ctx: Ctx, item: _Checked, channel: Channel, now: datetime) -> None:
    """Read what the compliance guard judges the account by (account and attempts), and judge every channel."""
    client, number = ctx.client.scollect, item.row.file_number
    async with anyio.create_task_group() as group:
        account = start(group, lambda: client.account(number))
        attempts = start(group, lambda: client.attempts(number))
    row, attempt_rows = account.get(), attempts.get()  # the account first: "no such account" beats other failures
    for each in CHANNELS:
        facts = contact_facts_from(file_number=number, channel=each, now=now, account=row, attempts=attempt_rows,
                                   vendor_tz=client.timezone)  # fmt: skip
        verdict = evaluate(facts)
        if verdict.allowed:
            item.allowed_now.append(each)
        if each == channel:
            item.verdict = verdict
        if each == "call":
            item.calls_last_7_days = len(placed_calls_in_window(facts, now))
    newest = _newest([sm.attempt_from(attempt) for attempt in attempt_rows], lambda a: a.at or "")
    if newest:
        item.last_contact = m.AttemptLine(at=newest[0].at, direction=newest[0].direction,
                                          disposition=newest[0].disposition, phone=newest[0].phone_number)  # fmt: skip
    assert item.verdict is not None
    item.action = _action(item.verdict)


def _offered(amount: str | None) -> str | None:
    """Scollect fills an offer it does not make with 0.00."""
    return amount if amount is not None and Decimal(amount) > 0 else None


async def _offers(ctx: Ctx, number: str) -> m.Offers | None:
    summary = sm.summary_from(await ctx.client.scollect.account_summary(number))
    offers = m.Offers(
        minimum_payment=_offered(summary.minimum_payment),
        minimum_one_time_payment=_offered(summary.minimum_one_time_payment),
        settlement_amount=_offered(summary.settlement_amount),
        settlement_payments=summary.settlement_number_of_payments or None,
    )
    return offers if offers.model_dump(exclude_none=True) else None


async def _unknown_portfolio(ctx: Ctx, portfolio: str) -> InvalidArgument | None:
    """Scollect answers an unknown portfolio with no rows: say so, with the names it knows."""
    names = [str(row.get("portfolio", "")).strip() for row in await ctx.client.scollect.list_portfolios()]
    if portfolio in names:
        return None
    close = difflib.get_close_matches(portfolio, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(name) for name in close)}?" if close else ""
    return InvalidArgument(f"portfolio: Scollect has no portfolio named {portfolio!r}.{hint} See scollect_list_portfolios.")


def _entry(item: _Checked, rank: int, channel: Channel, offers: Outcome[m.Offers | None] | None) -> m.WorklistEntry:
    return m.WorklistEntry(
        rank=rank, file_number=item.row.file_number,
        debtor=" ".join(part for part in (item.row.first_name, item.row.last_name) if part) or None,
        state=item.row.state, balance=item.row.current_balance,
        offers=offers.value if offers is not None and offers.error is None else None,
        action=item.action, suggestion=_suggestion(item, channel), allowed_now=item.allowed_now,
        verdict=item.verdict, last_contact=item.last_contact, calls_last_7_days=item.calls_last_7_days,
        error=item.error,
    )  # fmt: skip


async def worklist(ctx: Ctx, args: m.WorklistArgs) -> m.Worklist:
    """A portfolio's accounts ranked for working now, in one call: for each, may the channel reach the debtor now
    (the compliance guard's verdict with every reason and the next allowed time), which channels may, balance and
    offers, the last contact and a suggested next step. Filter by state, minimum balance or only_allowed_now; paged.
    Changes nothing."""
    now = _now(ctx)
    rows = await ctx.client.scollect.portfolio_accounts(args.portfolio)
    if not rows and (unknown := await _unknown_portfolio(ctx, args.portfolio)) is not None:
        raise unknown
    accounts = [sm.portfolio_account_from(row) for row in rows]
    items = [_Checked(row=account, balance=_balance(account) or Decimal(0)) for account in accounts if _wanted(account, args)]
    done, step = 0, max(1, math.ceil(len(items) / PROGRESS_STEPS))

    async def check(item: _Checked) -> None:
        nonlocal done
        async with ctx.client.worklist_reads:
            try:
                await _judge(ctx, item, args.channel, now)
            except Exception as exc:  # one account that cannot be read is reported, never taken as contactable
                if not isinstance(exc, VendorError):
                    log.exception("accounts_worklist: checking an account failed unexpectedly")
                item.error, item.verdict, item.allowed_now, item.action = describe_failure(exc), None, [], "not_checked"
        done += 1
        if done % step == 0 or done == len(items):
            await ctx.report_progress(done, len(items), f"checked {done} of {len(items)} accounts")

    async with anyio.create_task_group() as group:
        for item in items:
            group.start_soon(check, item)
    if items and all(item.error is not None for item in items):
        # Nothing could be read (the vendor is down, its breaker open, the deadline spent): that is the answer.
        raise VendorUnavailable("Scollect", f"no account of portfolio {args.portfolio!r} could be checked: {items[0].error}")
    ranked = sorted((item for item in items if not args.only_allowed_now or item.action == "contact_now"), key=_rank_key)
    counts = {action: sum(1 for item in ranked if item.action == action) for action in m.ACTION_ORDER}
    page = ranked[args.offset : args.offset + args.limit]


    def read_offers(number: str) -> Callable[[], Awaitable[m.Offers | None]]:
        async def read() -> m.Offers | None:
            async with ctx.client.worklist_reads:
                return await _offers(ctx, number)

        return read

    async with anyio.create_task_group() as group:
        offers = {item.row.file_number: start(group, read_offers(item.row.file_number))
                  for item in page if item.error is None}  # fmt: skip
    unavailable = [m.Unavailable(part=f"offers of {number}", error=outcome.describe_error())
                   for number, outcome in offers.items() if outcome.error is not None]  # fmt: skip
    entries = [_entry(item, args.offset + index + 1, args.channel, offers.get(item.row.file_number))
               for index, item in enumerate(page)]  # fmt: skip
    following = args.offset + len(page)
    return m.Worklist(
        portfolio=args.portfolio, channel=args.channel, checked_at=now, accounts_in_portfolio=len(accounts),
        total=len(ranked), counts=counts, items=entries, offset=args.offset,
        next_offset=following if following < len(ranked) else None, unavailable=unavailable,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- verify identity


def _same(given: str, on_file: str) -> bool:
    return hmac.compare_digest(given.encode(), on_file.encode())


def _ssn_check(given: str | None, row: Row) -> m.FieldCheck:
    if given is None:
        return "not_given"
    digits = re.sub(r"\D", "", str(row.get("socialsecuritynumber") or ""))
    if len(digits) < 4 or set(digits) == {"0"}:  # blank or the vendor's 000-00-0000 placeholder
        return "not_on_file"
    return "match" if _same(given, digits[-4:]) else "mismatch"


def _dob_check(given: date | None, row: Row) -> m.FieldCheck:
    if given is None:
        return "not_given"
    parsed = parse_vendor_datetime(row.get("birthdate"))  # blanks and 1/1/1900 placeholders -> None
    if parsed is None:
        return "not_on_file"
    on_file = parsed.date() if isinstance(parsed, datetime) else parsed
    return "match" if _same(given.isoformat(), on_file.isoformat()) else "mismatch"


def _zip_check(given: str | None, row: Row) -> m.FieldCheck:
    if given is None:
        return "not_given"
    on_file = re.sub(r"\D", "", text(row.get("zip")) or "")
    if len(on_file) not in (5, 9):
        return "not_on_file"
    return "match" if _same(re.sub(r"\D", "", given)[:5], on_file[:5]) else "mismatch"


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "later"


async def verify_identity(ctx: Ctx, args: m.VerifyIdentityArgs) -> m.IdentityCheck:
    """Check identity details a caller states (SSN last 4, date of birth, ZIP) against the account: match or mismatch
    per field and `verified`, never the values. Never say which detail was wrong."""
    lockout, number = ctx.client.lockout, args.file_number
    failures = ctx.shared.events(IDENTITY_FAILURES)
    admission = await lockout.reserve(number, _now(ctx), failures)
    if not admission.allowed:
        return m.IdentityCheck(
            file_number=number, verified=False, locked=True, ssn_last4="not_checked", date_of_birth="not_checked",
            zip="not_checked", attempts_remaining=0, retry_at=admission.retry_at,
            message=f"Too many failed identity checks for this account: nothing was compared. Try again after "
            f"{_stamp(admission.retry_at)}.",
        )  # fmt: skip
    failed = False
    try:
        row = await ctx.client.scollect.account(number)
        checks: dict[str, m.FieldCheck] = {
            "ssn_last4": _ssn_check(args.ssn_last4, row),
            "date_of_birth": _dob_check(args.date_of_birth, row),
            "zip": _zip_check(args.zip, row),
        }
        failed = "mismatch" in checks.values()
    finally:
        after = await lockout.release(number, _now(ctx), failures, failed=failed)
    verified = not failed and "match" in checks.values()
    if verified:
        message = "Identity verified."
    elif failed and after.attempts_remaining == 0:
        message = f"Not verified. No attempts left: locked until {_stamp(after.retry_at)}."
    elif failed:
        message = f"Not verified: a detail did not match. {after.attempts_remaining} attempt(s) left."
    else:
        message = "Not verified: none of the given details is on file to compare."
    return m.IdentityCheck(
        file_number=number, verified=verified, attempts_remaining=after.attempts_remaining,
        retry_at=after.retry_at if after.attempts_remaining == 0 else None, message=message,
        ssn_last4=checks["ssn_last4"], date_of_birth=checks["date_of_birth"], zip=checks["zip"],
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------------ toolset

# The shared event log of failed identity checks (per account), which the lockout counts.
IDENTITY_FAILURES = "identity-failures"

R = Effect.READ
VOICE = frozenset({Profile.VOICE})  # the tools a live call needs (COLLECTIONS_MCP_PROFILE=voice)
_SNAPSHOT_ENDPOINTS = (
    "Scollect: GET /getaccount, /getphones, /getnotes, /getattempts, /getpayments; POST /getAlaccountdata, "
    "/getAlpaymentdata"
)
_WORKLIST_ENDPOINTS = (
    "Scollect: POST /get_accounts_in_portfolio; GET /getaccount, /getattempts per account, concurrently; "
    "POST /getAlaccountdata for the page"
)
_specs: list[ToolSpec[AccountsClient, Any, Any]] = [
    ToolSpec("accounts_snapshot", "Account snapshot for a live conversation", R, _SNAPSHOT_ENDPOINTS, m.SnapshotArgs, m.Snapshot, snapshot, profiles=VOICE, view="account"),
    ToolSpec("accounts_check_contact", "Check whether a contact is allowed", R, "Scollect: GET /getaccount, /getattempts, /getphones", m.CheckContactArgs, ContactVerdict, check_contact, profiles=VOICE),
    ToolSpec("accounts_verify_identity", "Verify a caller's identity", R, "Scollect: GET /getaccount", m.VerifyIdentityArgs, m.IdentityCheck, verify_identity, profiles=VOICE),
    ToolSpec("accounts_worklist", "Rank a portfolio's accounts for working now", R, _WORKLIST_ENDPOINTS, m.WorklistArgs, m.Worklist, worklist),
]  # fmt: skip

async def probe(client: AccountsClient) -> str:
    # The cross-vendor tools read Scollect through their own pooled login, which can fail on its own.
    portfolios = await client.scollect.list_portfolios()
    return f"its own Scollect connection logged in; {len(portfolios)} portfolios"


TOOLSET = Toolset(
    name="accounts",
    title="Accounts (cross-vendor)",
    instructions=(
        "Start with accounts_snapshot(file_number) when a debtor calls or before you call. Before any call, "
        "text or email run accounts_check_contact: a blocked verdict lists every reason and, when only time "
        "blocks it, next_allowed_at. Verify a caller with accounts_verify_identity; never read identity "
        "details out to them and never say which detail was wrong."
    ),
    settings_cls=AccountsSettings,
    open_client=AccountsClient.open,
    specs=tuple(_specs),
    probe=probe,
    derive_settings=accounts_settings,
    core=True,  # with toolsets on demand: the three tools any agent starts an account with
)
