"""Collect! record tools: each maps typed arguments to a documented REST call and a compact output."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from collections_mcp.tools.collect import models as m
from collections_mcp.tools.collect import plan
from collections_mcp.tools.collect.client import DATA, CollectClient, Condition, Window
from collections_mcp.tools.collect.settings import CollectSettings
from collections_mcp.tools.common.compact import Page
from collections_mcp.tools.common.concurrent import start
from collections_mcp.tools.common.errors import InvalidArgument
from collections_mcp.tools.common.models import NoArgs
from collections_mcp.tools.common.spec import Effect, Profile, ToolContext, Toolset, ToolSpec

Ctx = ToolContext[CollectClient]
T = TypeVar("T")


def _page(model: type[T], items: list[T], total: int, offset: int) -> Page[T]:
    """A page of a vendor-paged read: Collect! counted `total`; it sent the items from `offset` on."""
    following = offset + len(items)
    return Page[model](  # type: ignore[valid-type]
        items=items, total=total, offset=offset, next_offset=following if following < total else None
    )


async def get_debtor(ctx: Ctx, args: m.DebtorArgs) -> m.Debtor:
    """One Collect! debtor by rowid: name, account number, status, balances, key dates, masked SSN, address, phones,
    e-mail, employer."""
    return m.debtor_from(await ctx.client.debtor(args.rowid))


async def search_debtors(ctx: Ctx, args: m.SearchDebtorsArgs) -> Page[m.DebtorSummary]:
    """Find Collect! debtors by part of the name, account number, status, e-mail or ZIP (all must match), paged, with
    the rowid other collect_ tools take."""
    conditions = []
    if args.name:
        conditions.append(Condition("de_name", f"%{args.name}%", "like"))
    if args.account_number:
        conditions.append(Condition("de_number", args.account_number))
    if args.status:
        conditions.append(Condition("de_status", args.status))
    if args.email:
        conditions.append(Condition("de_email", args.email))
    if args.zip:
        conditions.append(Condition("de_zip", args.zip))
    if args.active_only:
        conditions.append(Condition("de_active", "1"))
    found = await ctx.client.search_debtors(conditions, offset=args.offset, limit=args.limit, fields=m.SUMMARY_FIELDS)
    return _page(m.DebtorSummary, [m.summary_from(row) for row in found.rows], found.total, args.offset)


async def get_debtor_contacts(ctx: Ctx, args: m.PagedDebtorArgs) -> Page[m.Contact]:
    """A Collect! debtor's scheduled and completed contacts (calls, letters, reviews...), oldest first, paged."""
    found = await ctx.client.debtor_contacts(args.rowid, offset=args.offset, limit=args.limit)
    types = await ctx.client.contact_types()
    return _page(m.Contact, [m.contact_from(row, types) for row in found.rows], found.total, args.offset)


async def get_debtor_notes(ctx: Ctx, args: m.PagedDebtorArgs) -> Page[m.Note]:
    """A Collect! debtor's notes, oldest first, paged."""
    found = await ctx.client.debtor_notes(args.rowid, offset=args.offset, limit=args.limit)
    return _page(m.Note, [m.note_from(row) for row in found.rows], found.total, args.offset)


async def get_debtor_transactions(ctx: Ctx, args: m.PagedDebtorArgs) -> Page[m.Transaction]:
    """A Collect! debtor's transactions (payments, fees, adjustments), oldest first, paged."""
    found = await ctx.client.debtor_transactions(args.rowid, offset=args.offset, limit=args.limit)
    return _page(m.Transaction, [m.transaction_from(row) for row in found.rows], found.total, args.offset)


RECENT = 5


async def _newest(read: Callable[..., Awaitable[Window]], rowid: int) -> Window:
    """The last `RECENT` rows of an oldest-first list, newest first: the seed documents no descending sort,
    so a list longer than that costs a second read of its tail."""
    head = await read(rowid, offset=0, limit=RECENT)
    tail = head if head.total <= RECENT else await read(rowid, offset=head.total - RECENT, limit=RECENT)
    return Window(rows=tail.rows[::-1], total=tail.total)


async def get_debtor_activity(ctx: Ctx, args: m.DebtorArgs) -> m.DebtorActivity:
    """For the account view: a debtor's 5 newest notes, contacts and transactions, newest first, with totals."""
    client = ctx.client
    async with anyio.create_task_group() as group:
        notes = start(group, lambda: _newest(client.debtor_notes, args.rowid))
        contacts = start(group, lambda: _newest(client.debtor_contacts, args.rowid))
        transactions = start(group, lambda: _newest(client.debtor_transactions, args.rowid))
        types = start(group, client.contact_types)
    return m.DebtorActivity(
        rowid=args.rowid,
        recent_notes=[m.note_from(row) for row in notes.get().rows], notes_total=notes.get().total,
        recent_contacts=[m.contact_from(row, types.get()) for row in contacts.get().rows],
        contacts_total=contacts.get().total,
        recent_transactions=[m.transaction_from(row) for row in transactions.get().rows],
        transactions_total=transactions.get().total,
    )  # fmt: skip


async def list_contact_plans(ctx: Ctx, args: NoArgs) -> m.ContactPlanList:
    """The contact plans defined in Collect! (code, name, purpose) for collect_run_contact_plan."""
    plans = [m.plan_from(row) for row in await ctx.client.contact_plans()]
    return m.ContactPlanList(plans=plans, total=len(plans))


async def add_note(ctx: Ctx, args: m.AddNoteArgs) -> m.WriteResult:
    """Add a note to a Collect! debtor's log (stamped with the date, the time and our operator)."""
    created = await ctx.client.add_note(args.rowid, {"no_text": args.text})
    return m.WriteResult(debtor_rowid=args.rowid, record="notes", record_rowid=m.rowid_of(created.get("no_rowid")),
                         changed={"text": args.text})  # fmt: skip


async def add_contact(ctx: Ctx, args: m.AddContactArgs) -> m.WriteResult:
    """Schedule a contact (call, letter, review...) on a Collect! debtor; it schedules work, it does not contact
    anyone."""
    try:
        code = m.resolve_contact_type(args.contact_type, await ctx.client.contact_types())
    except ValueError as exc:
        raise InvalidArgument(f"contact_type: {exc}") from None
    contact: dict[str, Any] = {"co_type": code, "co_date": args.date.isoformat(), "co_description": args.description}
    if args.time is not None:
        contact["co_time"] = f"{args.time}:00"
    if args.priority is not None:
        contact["co_priority"] = str(args.priority)
    if args.assigned_to is not None:
        contact["co_who"] = args.assigned_to.upper()
    created = await ctx.client.add_contact(args.rowid, contact)
    changed = {"type": code, "date": args.date.isoformat(), "description": args.description}
    changed |= {"time": args.time} if args.time else {}
    changed |= {"assigned_to": contact["co_who"]} if "co_who" in contact else {}
    return m.WriteResult(debtor_rowid=args.rowid, record="contact", record_rowid=m.rowid_of(created.get("co_rowid")),
                         changed=changed)  # fmt: skip


async def update_debtor(ctx: Ctx, args: m.UpdateDebtorArgs) -> m.WriteResult:
    """Overwrite a Collect! debtor's contact details (address, phones, e-mail, employer) or blank them with `clear`.
    The old values come back in `previous`."""
    changes = args.changes()
    before = await ctx.client.debtor(args.rowid)
    wire = {m.DEBTOR_UPDATE_FIELDS[name]: value for name, value in changes.items()}
    await ctx.client.update_debtor(args.rowid, wire)
    previous = {name: str(before.get(m.DEBTOR_UPDATE_FIELDS[name]) or "").strip() for name in changes}
    return m.WriteResult(debtor_rowid=args.rowid, record="debtor", record_rowid=args.rowid, changed=changes,
                         previous=previous)  # fmt: skip


async def summarize_debtor_update(ctx: Ctx, args: m.UpdateDebtorArgs) -> str:
    before = await ctx.client.debtor(args.rowid)
    lines = []
    for name, value in args.changes().items():
        old = str(before.get(m.DEBTOR_UPDATE_FIELDS[name]) or "").strip() or "(blank)"
        lines.append(f"- {name}: '{old}' -> '{value or '(blank)'}'")
    return f"Collect! debtor {args.rowid}: overwrite\n" + "\n".join(lines)


R, W, D = Effect.READ, Effect.WRITE, Effect.DESTRUCTIVE
VOICE = frozenset({Profile.VOICE})  # the tools a live call needs (COLLECTIONS_MCP_PROFILE=voice)
_specs: list[ToolSpec[CollectClient, Any, Any]] = [
    ToolSpec("collect_get_debtor", "Get debtor", R, f"GET {DATA}/debtor/<rowid>", m.DebtorArgs, m.Debtor, get_debtor, view="account"),
    ToolSpec("collect_search_debtors", "Search debtors", R, f"GET {DATA}/debtor?filter=&fields=&sort=&limit=&page=", m.SearchDebtorsArgs, Page[m.DebtorSummary], search_debtors),
    ToolSpec("collect_get_debtor_contacts", "Get a debtor's contacts", R, f"GET {DATA}/debtor/<rowid>/contact", m.PagedDebtorArgs, Page[m.Contact], get_debtor_contacts),
    ToolSpec("collect_get_debtor_notes", "Get a debtor's notes", R, f"GET {DATA}/debtor/<rowid>/notes", m.PagedDebtorArgs, Page[m.Note], get_debtor_notes),
    ToolSpec("collect_get_debtor_transactions", "Get a debtor's transactions", R, f"GET {DATA}/debtor/<rowid>/transaction", m.PagedDebtorArgs, Page[m.Transaction], get_debtor_transactions),
    ToolSpec("collect_get_debtor_activity", "Debtor activity for the account view", R, f"GET {DATA}/debtor/<rowid>/notes, /contact, /transaction", m.DebtorArgs, m.DebtorActivity, get_debtor_activity, view="account", view_only=True),
    ToolSpec("collect_list_contact_plans", "List contact plans", R, f"GET {DATA}/contact_plan", NoArgs, m.ContactPlanList, list_contact_plans),
    ToolSpec("collect_add_note", "Add note", W, f"POST {DATA}/notes", m.AddNoteArgs, m.WriteResult, add_note),
    ToolSpec("collect_add_contact", "Schedule contact", W, f"POST {DATA}/contact", m.AddContactArgs, m.WriteResult, add_contact),
    ToolSpec("collect_update_debtor", "Update debtor contact details", D, f"PATCH {DATA}/debtor/<rowid>", m.UpdateDebtorArgs, m.WriteResult, update_debtor, summarize=summarize_debtor_update),
    ToolSpec("collect_run_contact_plan", "Run contact plan", W, "POST /api/v1/collect/app/runplan + websocket", plan.RunPlanArgs, plan.PlanRun, plan.run_contact_plan, asks_person=True, profiles=VOICE, stopped_while_asking=plan.STOPPED_AT_PROMPT),
]  # fmt: skip

async def probe(client: CollectClient) -> str:
    # A read every time (the client's token alone proves nothing once it exists): one contact plan row.
    await client.read_page(f"{DATA}/contact_plan", fields=("cp_code",), limit=1)
    operator = await client.current_operator()
    return f"logged in as operator {operator.get('op_id', '?')}; a read succeeded"


TOOLSET = Toolset(
    name="collect",
    title="Collect!",
    instructions=(
        "Collect! debtors are identified by rowid (de_rowid): find it with collect_search_debtors, then read "
        "with collect_get_debtor. Record every conversation with collect_add_note; schedule follow-ups with "
        "collect_add_contact. Lists are paged: follow next_offset."
    ),
    settings_cls=CollectSettings,
    open_client=CollectClient.open,
    specs=tuple(_specs),
    probe=probe,
)
