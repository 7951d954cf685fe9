"""Scollect tools: each is a few lines mapping typed arguments to a client call and a compact output."""

from __future__ import annotations

from typing import Any

from collections_mcp.tools.common.compact import Page
from collections_mcp.tools.common.models import NoArgs
from collections_mcp.tools.common.spec import ContactRequest, Effect, Profile, ToolContext, Toolset, ToolSpec
from collections_mcp.tools.scollect import models as m
from collections_mcp.tools.scollect import payments as pay
from collections_mcp.tools.scollect.client import ScollectClient
from collections_mcp.tools.scollect.contact_facts import contact_facts
from collections_mcp.tools.scollect.settings import ScollectSettings

Ctx = ToolContext[ScollectClient]


async def list_portfolios(ctx: Ctx, args: NoArgs) -> m.PortfolioList:
    """The portfolios (debt placements) with their client and placement date."""
    rows = await ctx.client.list_portfolios()
    portfolios = [m.portfolio_from(row) for row in rows]
    return m.PortfolioList(portfolios=portfolios, total=len(portfolios))


async def find_accounts_by_ssn(ctx: Ctx, args: m.SsnArgs) -> m.AccountList:
    """The accounts that belong to a Social Security number (core fields; the SSN only masked)."""
    rows = await ctx.client.accounts_by_ssn(args.ssn.reveal())
    accounts = [m.AccountCore.model_validate(m.account_core_from(row)) for row in rows]
    return m.AccountList(accounts=accounts, total=len(accounts))


async def list_portfolio_accounts(ctx: Ctx, args: m.PortfolioArgs) -> Page[m.PortfolioAccount]:
    """The accounts in one portfolio (balance, state, phones with status), a page at a time."""
    rows = await ctx.client.portfolio_accounts(args.portfolio)
    return Page[m.PortfolioAccount].of([m.portfolio_account_from(row) for row in rows], limit=args.limit, offset=args.offset)


async def get_account(ctx: Ctx, args: m.GetAccountArgs) -> m.Account:
    """One account: name, masked SSN, status, balances, key dates, address, phones, employer, deceased, bankruptcy and
    attorney flags; more vendor fields with `fields`."""
    row = await ctx.client.account(args.file_number)
    extra = m.selected_fields(row, args.fields)
    return m.Account.model_validate(m.account_core_from(row) | {"fields": extra})


async def get_account_summary(ctx: Ctx, args: m.FileNumberArgs) -> m.AccountSummary:
    """Payment summary of an account: balance, minimum payments, settlement (SIF) offer, phones."""
    return m.summary_from(await ctx.client.account_summary(args.file_number))


async def get_attempts(ctx: Ctx, args: m.PagedFileArgs) -> Page[m.Attempt]:
    """Contact attempts on an account (calls and their outcome), newest first, paged."""
    attempts = [m.attempt_from(row) for row in await ctx.client.attempts(args.file_number)]
    attempts.sort(key=lambda attempt: attempt.at or "", reverse=True)
    return Page[m.Attempt].of(attempts, limit=args.limit, offset=args.offset)


async def get_emails(ctx: Ctx, args: m.PagedFileArgs) -> Page[m.Email]:
    """Email tracking events of an account (sent, delivered, opened...), newest first, paged."""
    emails = [m.email_from(row) for row in await ctx.client.emails(args.file_number)]
    emails.sort(key=lambda email: email.at or "", reverse=True)
    return Page[m.Email].of(emails, limit=args.limit, offset=args.offset)


async def get_email_stats(ctx: Ctx, args: m.FileNumberArgs) -> m.EmailStats:
    """Email engagement counters of an account: sent, opened and clicked counts, last dates, portal use."""
    return m.email_stats_from(args.file_number, await ctx.client.email_stats(args.file_number))


async def get_phones(ctx: Ctx, args: m.FileNumberArgs) -> m.PhoneList:
    """Phone numbers on an account with their type, status and source."""
    phones = [m.phone_from(row) for row in await ctx.client.phones(args.file_number)]
    return m.PhoneList(file_number=args.file_number, phones=phones)


async def get_notes(ctx: Ctx, args: m.PagedFileArgs) -> Page[m.Note]:
    """Account notes (the collection log), newest first, paged."""
    notes = [m.note_from(row) for row in await ctx.client.notes(args.file_number)]
    notes.sort(key=lambda note: (note.at or "", note.id or 0), reverse=True)
    return Page[m.Note].of(notes, limit=args.limit, offset=args.offset)


async def get_payments(ctx: Ctx, args: m.PagedFileArgs) -> Page[m.Payment]:
    """Payment history of an account (date, amount, method, type), newest first, paged."""
    payments = [m.payment_from(row) for row in await ctx.client.payments(args.file_number)]
    payments.sort(key=lambda payment: payment.paid_on or "", reverse=True)
    return Page[m.Payment].of(payments, limit=args.limit, offset=args.offset)


async def get_payment_methods(ctx: Ctx, args: m.PaymentMethodArgs) -> m.PaymentMethodList:
    """Stored payment methods on an account (kind, card last 4, id); charging one needs no card data."""
    rows = await ctx.client.payment_methods(args.file_number, args.payment_method, args.card_last4)
    return m.PaymentMethodList(file_number=args.file_number, methods=[m.payment_method_from(row) for row in rows])


async def get_last_payment(ctx: Ctx, args: m.FileNumberArgs) -> m.LastPayment:
    """The last posted payment on an account: date, payor, masked card."""
    return m.last_payment_from(args.file_number, await ctx.client.last_payment(args.file_number))


async def search_by_phone(ctx: Ctx, args: m.PhoneSearchArgs) -> m.PhoneMatches:
    """The accounts that have a phone number (e.g. an inbound caller ID)."""
    rows = await ctx.client.search_by_phone(args.phone_number)
    return m.PhoneMatches(phone_number=args.phone_number, matches=[m.phone_match_from(row) for row in rows])


async def add_phone(ctx: Ctx, args: m.AddPhoneArgs) -> m.WriteResult:
    """Add a phone number to an account."""
    message = await ctx.client.insert_phone(
        args.file_number, args.phone_number, args.phone_type, args.phone_status, args.source
    )
    changed = {"phone_number": args.phone_number, "phone_type": args.phone_type, "phone_status": args.phone_status}
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed=changed)


async def update_phone(ctx: Ctx, args: m.UpdatePhoneArgs) -> m.WriteResult:
    """Change the type and/or status of a phone number on an account (e.g. mark it 'Disconnected')."""
    message = await ctx.client.update_phone(args.file_number, args.phone_number, args.phone_type, args.phone_status)
    changed = {"phone_number": args.phone_number, "phone_type": args.phone_type, "phone_status": args.phone_status}
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed=_present(changed))


async def log_attempt(ctx: Ctx, args: m.LogAttemptArgs) -> m.WriteResult:
    """Log a call and its outcome on an account. The call-frequency rules count from this log, so log every call."""
    message = await ctx.client.insert_attempt(
        args.file_number, args.phone_number, args.disposition, args.agent, args.attempt_type
    )
    changed = {"phone_number": args.phone_number, "disposition": args.disposition, "attempt_type": args.attempt_type}
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed=changed)


async def add_note(ctx: Ctx, args: m.AddNoteArgs) -> m.WriteResult:
    """Add a note to an account's collection log (Scollect stamps the date and time)."""
    message = await ctx.client.insert_note(args.file_number, args.collector_name, args.message)
    return m.WriteResult(file_number=args.file_number, vendor_message=message)


async def update_permission(ctx: Ctx, args: m.UpdatePermissionArgs) -> m.WriteResult:
    """Set one account permission (e.g. donottext=1 when the debtor asks for no texts). Scollect cannot read
    permissions back."""
    message = await ctx.client.update_permission(args.file_number, args.field, args.value)
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed={args.field: args.value})


async def update_account_field(ctx: Ctx, args: m.UpdateAccountFieldArgs) -> m.WriteResult:
    """Overwrite one field of the account record (e.g. address, custom7). The old value is lost: read it with
    scollect_get_account first."""
    message = await ctx.client.update_account_field(args.file_number, args.field, args.value)
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed={args.field: args.value})


async def create_callback(ctx: Ctx, args: m.CallbackArgs) -> m.WriteResult:
    """Schedule a callback on an account for a collector, at a date and local time."""
    day = args.callback_date.isoformat()
    message = await ctx.client.create_callback(args.file_number, args.name, args.assigned_to, day, args.callback_time)
    changed = {"callback_date": day, "callback_time": args.callback_time, "assigned_to": args.assigned_to}
    return m.WriteResult(file_number=args.file_number, vendor_message=message, changed=changed)


async def send_email(ctx: Ctx, args: m.SendEmailArgs) -> m.SendResult:
    """Send a templated email (C2C) to one or more accounts. This contacts the debtor."""
    await ctx.client.send_email(args.file_numbers, args.template, args.update_permissions)
    return m.SendResult(file_numbers=args.file_numbers, channel="email", template=args.template)


async def send_text(ctx: Ctx, args: m.SendTextArgs) -> m.SendResult:
    """Send a pre-approved templated text (Solutions By Text) to an account. This contacts the debtor."""
    await ctx.client.send_text(args.file_number, args.template, args.message_type, args.environment)
    return m.SendResult(file_numbers=[args.file_number], channel="text", template=args.template)


async def summarize_account_field(ctx: Ctx, args: m.UpdateAccountFieldArgs) -> str:
    current = (await ctx.client.account(args.file_number)).get(args.field)
    before = str(current).strip() if current not in (None, "") else "(blank)"
    return f"Scollect account {args.file_number}: overwrite '{args.field}' from '{before}' to '{args.value}'."


async def summarize_send_email(ctx: Ctx, args: m.SendEmailArgs) -> str:
    accounts = ", ".join(args.file_numbers)
    permissions = "; Scollect then updates the permission table" if args.update_permissions else ""
    return f"Email template '{args.template}' to the debtor of Scollect account(s) {accounts}{permissions}."


async def summarize_send_text(ctx: Ctx, args: m.SendTextArgs) -> str:
    test = " (TEST environment: no text reaches the debtor)" if args.environment == "TEST" else ""
    return f"Text template '{args.template}' ({args.message_type}) to the debtor of Scollect account {args.file_number}{test}."


def email_contact(args: m.SendEmailArgs) -> ContactRequest:
    return ContactRequest(channel="email", file_numbers=tuple(args.file_numbers))


def text_contact(args: m.SendTextArgs) -> ContactRequest:
    return ContactRequest(channel="text", file_numbers=(args.file_number,))


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


R, W, C, D = Effect.READ, Effect.WRITE, Effect.CONTACT, Effect.DESTRUCTIVE
VOICE = frozenset({Profile.VOICE})  # the tools a live call needs (COLLECTIONS_MCP_PROFILE=voice)
_specs: list[ToolSpec[ScollectClient, Any, Any]] = [
    ToolSpec("scollect_list_portfolios", "List portfolios", R, "GET /getportfoliolist", NoArgs, m.PortfolioList, list_portfolios),
    ToolSpec("scollect_find_accounts_by_ssn", "Find accounts by SSN", R, "GET /getaccountbysocial/<ssn>", m.SsnArgs, m.AccountList, find_accounts_by_ssn),
    ToolSpec("scollect_list_portfolio_accounts", "List a portfolio's accounts", R, "POST /get_accounts_in_portfolio", m.PortfolioArgs, Page[m.PortfolioAccount], list_portfolio_accounts),
    ToolSpec("scollect_get_account", "Get account", R, "GET /getaccount/<filenumber>", m.GetAccountArgs, m.Account, get_account),
    ToolSpec("scollect_get_account_summary", "Get account payment summary", R, "POST /getAlaccountdata", m.FileNumberArgs, m.AccountSummary, get_account_summary),
    ToolSpec("scollect_get_attempts", "Get contact attempts", R, "GET /getattempts/<filenumber>", m.PagedFileArgs, Page[m.Attempt], get_attempts),
    ToolSpec("scollect_get_emails", "Get email events", R, "GET /getemails/<filenumber>", m.PagedFileArgs, Page[m.Email], get_emails),
    ToolSpec("scollect_get_email_stats", "Get email statistics", R, "GET /getemailstats/<filenumber>", m.FileNumberArgs, m.EmailStats, get_email_stats),
    ToolSpec("scollect_get_phones", "Get phone numbers", R, "GET /getphones/<filenumber>", m.FileNumberArgs, m.PhoneList, get_phones),
    ToolSpec("scollect_get_notes", "Get account notes", R, "GET /getnotes/<filenumber>", m.PagedFileArgs, Page[m.Note], get_notes),
    ToolSpec("scollect_get_payments", "Get payment history", R, "GET /getpayments/<filenumber>", m.PagedFileArgs, Page[m.Payment], get_payments),
    ToolSpec("scollect_get_payment_methods", "Get stored payment methods", R, "POST /getAlpaymentdata", m.PaymentMethodArgs, m.PaymentMethodList, get_payment_methods),
    ToolSpec("scollect_get_last_payment", "Get last payment", R, "POST /get_lastpayinfo", m.FileNumberArgs, m.LastPayment, get_last_payment),
    ToolSpec("scollect_search_by_phone", "Search accounts by phone", R, "POST /searchbyphone", m.PhoneSearchArgs, m.PhoneMatches, search_by_phone),
    ToolSpec("scollect_add_phone", "Add phone number", W, "POST /insertphone", m.AddPhoneArgs, m.WriteResult, add_phone),
    ToolSpec("scollect_update_phone", "Update phone number", W, "PUT /updatephone", m.UpdatePhoneArgs, m.WriteResult, update_phone, profiles=VOICE),
    ToolSpec("scollect_log_attempt", "Log contact attempt", W, "POST /insertattempt", m.LogAttemptArgs, m.WriteResult, log_attempt, profiles=VOICE),
    ToolSpec("scollect_add_note", "Add note", W, "POST /InsertNoteline", m.AddNoteArgs, m.WriteResult, add_note, profiles=VOICE),
    ToolSpec("scollect_update_permission", "Update account permission", W, "PUT /updatepermissions", m.UpdatePermissionArgs, m.WriteResult, update_permission),
    ToolSpec("scollect_update_account_field", "Overwrite account field", D, "PUT /updatedbase", m.UpdateAccountFieldArgs, m.WriteResult, update_account_field, summarize=summarize_account_field),
    ToolSpec("scollect_create_callback", "Schedule callback", W, "POST /createCallback", m.CallbackArgs, m.WriteResult, create_callback, profiles=VOICE),
    ToolSpec("scollect_send_email", "Send templated email", C, "POST /send_email_c2c", m.SendEmailArgs, m.SendResult, send_email, contact=email_contact, summarize=summarize_send_email),
    ToolSpec("scollect_send_text", "Send templated text", C, "POST /send_text", m.SendTextArgs, m.SendResult, send_text, contact=text_contact, summarize=summarize_send_text),
    ToolSpec("scollect_record_payment", "Record a card or ACH payment", Effect.MONEY, "POST /insert_payments_external", pay.RecordPaymentArgs, pay.PaymentRecorded, pay.record_payment, summarize=pay.summarize_record_payment, capture="card_or_bank"),
    ToolSpec("scollect_record_payment_plan", "Record a payment plan", Effect.MONEY, "POST /insert_payplan_external", pay.RecordPaymentPlanArgs, pay.PaymentPlanRecorded, pay.record_payment_plan, summarize=pay.summarize_record_payment_plan, capture="card_or_bank"),
    ToolSpec("scollect_update_pending_payment", "Update pending payments", Effect.MONEY, "POST /update_payment_external", pay.UpdatePendingPaymentArgs, pay.PendingPaymentUpdated, pay.update_pending_payment, summarize=pay.summarize_update_pending_payment, capture="card_or_bank"),
    ToolSpec("scollect_run_payment", "Charge the stored payment method", Effect.MONEY, "POST /run_payment_external", pay.RunPaymentArgs, pay.PaymentCharged, pay.run_payment, summarize=pay.summarize_run_payment, profiles=VOICE),
]  # fmt: skip

async def probe(client: ScollectClient) -> str:
    portfolios = await client.list_portfolios()
    return f"logged in; {len(portfolios)} portfolios"


TOOLSET = Toolset(
    name="scollect",
    title="Scollect (SMAX)",
    instructions=(
        "Scollect accounts are identified by file number (e.g. R1000). Read with scollect_get_account first; "
        "log every call with scollect_log_attempt and every conversation outcome with scollect_add_note. "
        "Lists are paged: follow next_offset."
    ),
    settings_cls=ScollectSettings,
    open_client=ScollectClient.open,
    specs=tuple(_specs),
    probe=probe,
    contact_facts=contact_facts,
)
