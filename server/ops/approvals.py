"""`collections-mcp approvals list|show|approve|reject`: the approval inbox from the command line.

It opens only the pending approvals of the configured backend (the server's SQLite file, or the shared database) and
records decisions there, as the /approvals page does, after the same checks (server/policy/approvals.py
`check_decision`, against the compliance verdict stored when the call was queued: this process reads no vendor). It
runs nothing itself: the running server learns of an approval (PostgreSQL announces it at once; with SQLite the
server looks every COLLECTIONS_MCP_APPROVALS_CHECK_SECONDS) and runs it through every rule again.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime

from collections_mcp.server.policy.approvals import blocking_codes, check_decision, status_text
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.state.approvals import ApprovalRecord, ApprovalStore, Decision
from collections_mcp.server.state.backend import opening_approvals


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def _line(record: ApprovalRecord) -> tuple[str, ...]:
    blocks = ", ".join(sorted(blocking_codes(record.verdict))) or ("-" if record.needs == "compliance" else "confirm")
    return (record.id, record.state, _when(record.created_at), record.proposer or "-", record.tool, blocks,
            _when(record.expires_at), record.summary)  # fmt: skip


def _table(records: list[ApprovalRecord]) -> None:
    header = ("id", "state", "queued", "proposer", "tool", "blocked by (when queued)", "expires", "summary")
    rows = [header, *(_line(record) for record in records)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip())
    if not records:
        print("(nothing waiting for a decision)")


def _shown(record: ApprovalRecord) -> dict[str, object]:
    return record.model_dump(mode="json", exclude_none=True) | {"status": status_text(record)}


async def approvals_main(settings: ServerSettings, args: argparse.Namespace) -> int:
    async with opening_approvals(settings.state_config()) as store:
        if args.action == "list":
            records = await store.find(states=None if args.all else ["pending"], limit=50)
            if args.json:
                for record in records:
                    print(json.dumps(_shown(record), ensure_ascii=False))
            else:
                _table(records)
            return 0
        if args.action == "show":
            found = await store.get(args.id)
            if found is None:
                print(f"collections-mcp: no approval {args.id}", file=sys.stderr)
                return 1
            print(json.dumps(_shown(found), indent=None if args.json else 2, ensure_ascii=False))
            return 0
        return await _decide(store, settings, args)


async def _decide(store: ApprovalStore, settings: ServerSettings, args: argparse.Namespace) -> int:
    decision: Decision = "approve" if args.action == "approve" else "reject"
    override = bool(getattr(args, "override", False))
    reason = (args.reason or "").strip() or None
    supervisor = f"{args.supervisor or getpass.getuser()} (command line)"
    now = datetime.now(UTC)
    records = {approval_id: await store.get(approval_id) for approval_id in dict.fromkeys(args.ids)}
    problems = [problem for approval_id, record in records.items()
                if (problem := check_decision(record, approval_id, decision, reason=reason, override=override,
                                              now=now)) is not None]  # fmt: skip
    if problems:
        for problem in problems:
            print(f"collections-mcp: {problem}", file=sys.stderr)
        print("collections-mcp: nothing was changed", file=sys.stderr)
        return 1
    status = 0
    when = ("at once" if settings.database_url is not None
            else f"within {settings.approvals_check_seconds:g} s")  # fmt: skip
    for approval_id, record in records.items():
        assert record is not None
        override_reason = reason if decision == "approve" and override and record.needs == "compliance" else None
        decided = await store.decide(approval_id, decision, supervisor=supervisor, at=now, reason=reason,
                                     override_reason=override_reason)  # fmt: skip
        if decided is None:
            print(f"collections-mcp: {approval_id}: decided elsewhere first; not changed", file=sys.stderr)
            status = 1
            continue
        after = f"; the running server runs it {when}, checking every rule again" if decision == "approve" else ""
        print(f"{approval_id}: {decided.state} by {supervisor}{after}")
    return status
