"""The approval inbox's HTML: a sign-in form, the list of pending approvals with their compliance verdict as it stands
now, the decision form, and the recent decisions with what became of them.

No script at all; one inline style, allowed by its hash in a content-security policy that allows nothing else (no
other style, no image, no font, no frame, forms only to this server). Every value is escaped, and scrubbed (masked
card-, bank- and SSN-like numbers) once more on the way out, although the inbox never holds any.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import HTMLResponse

from collections_mcp.server.core.redaction import scrub_text
from collections_mcp.server.policy.approvals import blocking_codes, status_text
from collections_mcp.server.state.approvals import ApprovalRecord
from collections_mcp.tools.common.contact_rules import SUPERVISOR_OVERRIDABLE

STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9;"
    "line-height:1.4}header{background:#1f3a5f;color:#fff;padding:.8rem 1.5rem;display:flex;align-items:center;"
    "justify-content:space-between}header h1{font-size:1.2rem;margin:0}header form{margin:0}"
    "header div{display:flex;gap:.8rem;align-items:center}header button{margin:0}"
    "main{padding:1rem 1.5rem;max-width:80rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}"
    "table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d5d9de}"
    "th,td{text-align:left;vertical-align:top;padding:.5rem .6rem;border-bottom:1px solid #e3e6ea;font-size:.92rem}"
    "th{background:#eef1f4;font-weight:600}td.pick{width:2rem}.muted{color:#59616b;font-size:.85rem}"
    ".args{font-family:ui-monospace,Menlo,monospace;font-size:.8rem;white-space:pre-wrap;margin:0}"
    ".ok{color:#19692c;font-weight:600}.blocked{color:#a3251b;font-weight:600}.may{color:#8a5a00;font-weight:600}"
    ".reason{margin:.15rem 0}.tag{display:inline-block;border-radius:.3rem;padding:0 .35rem;font-size:.78rem;"
    "font-weight:600;background:#e3e6ea}.tag.done{background:#d8f0dd;color:#19692c}.tag.rejected,.tag.refused,"
    ".tag.failed,.tag.expired{background:#f8dcd9;color:#a3251b}.tag.pending{background:#fdf0cf;color:#8a5a00}"
    ".decide{background:#fff;border:1px solid #d5d9de;padding:.8rem 1rem;margin-top:.8rem;display:grid;gap:.5rem}"
    "textarea{width:100%;max-width:44rem;min-height:3.2rem;font:inherit;padding:.4rem;box-sizing:border-box}"
    "button{padding:.45rem 1rem;font-size:.95rem;cursor:pointer;margin-right:.5rem}"
    ".decide input[type=checkbox]{margin-right:.4rem}"
    ".error{background:#fdecea;border:1px solid #f5c2c0;padding:.6rem 1rem;margin:.8rem 0}"
    ".signin{max-width:28rem;margin:3rem auto;background:#fff;border:1px solid #d5d9de;padding:1.2rem 1.5rem}"
    ".signin input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}label{font-weight:600}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    # Not no-referrer: with it a browser sends "Origin: null" on the page's own form posts, and the origin check
    # (server/inbox/web.py) needs the real one. The page's URLs carry nothing secret.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}


def _e(value: Any) -> str:
    """Escaped and scrubbed: a second line of defence behind the inbox's own rule (no such value is ever queued)."""
    return html.escape(scrub_text(str(value)))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def html_response(status: int, body: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def sign_in_page(error: str | None = None) -> str:
    problem = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return _document("Approval inbox: sign in", (
        '<div class="signin"><h1>Approval inbox</h1>'
        "<p>Sign in with your supervisor token (not an MCP client token).</p>"
        f'{problem}<form method="post" action="/approvals/sign-in">'
        '<label for="token">Supervisor token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required maxlength="512">'
        '<button type="submit">Sign in</button></form></div>'
    ))  # fmt: skip


def message_page(title: str, message: str) -> str:
    return _document(title, f'<main><h1>{_e(title)}</h1><p>{_e(message)}</p><p><a href="/approvals">Back to the '
                            "inbox</a></p></main>")  # fmt: skip


@dataclass(frozen=True)
class Pending:
    """One pending approval as the page shows it: the record, and its verdicts as they stand now."""

    record: ApprovalRecord
    verdicts: list[dict[str, Any]] | None = None
    verdict_error: str | None = None


def _arguments(arguments: Mapping[str, Any]) -> str:
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in arguments.items() if value is not None]
    return f'<pre class="args">{_e(chr(10).join(lines))}</pre>'


def _verdicts(item: Pending) -> str:
    if item.record.needs != "compliance":
        return '<span class="muted">No contact: no contact rules apply. A supervisor confirms it.</span>'
    if item.verdict_error is not None:
        return f'<span class="blocked">Verdict unavailable now</span><p class="muted">{_e(item.verdict_error)}</p>'
    verdicts = item.verdicts if item.verdicts is not None else item.record.verdict or []
    when = "now" if item.verdicts is not None else "when proposed"
    overridable = {code.value for code in SUPERVISOR_OVERRIDABLE}
    parts = []
    for verdict in verdicts:
        reasons = [reason for reason in verdict.get("reasons", []) if reason.get("blocking")]
        account = _e(verdict.get("file_number", ""))
        if not reasons:
            parts.append(f'<p class="reason"><span class="ok">{account}: allowed {when}</span></p>')
            continue
        codes = blocking_codes([verdict])
        label = "blocked, a supervisor may override" if codes <= overridable else "blocked"
        css = "may" if codes <= overridable else "blocked"
        parts.append(f'<p class="reason"><span class="{css}">{account}: {label} {when}</span></p>')
        for reason in reasons:
            may = " (a supervisor may override)" if reason.get("code") in overridable else ""
            parts.append(f'<p class="reason muted"><strong>{_e(reason.get("code"))}</strong>{_e(may)}: '
                         f"{_e(reason.get('detail', ''))}</p>")  # fmt: skip
    return "".join(parts) or '<span class="muted">-</span>'


def _pending_rows(items: Sequence[Pending]) -> str:
    rows = []
    for item in items:
        record = item.record
        rows.append(
            f'<tr data-testid="pending-{_e(record.id)}">'
            f'<td class="pick"><input type="checkbox" name="id" value="{_e(record.id)}" '
            f'aria-label="Select {_e(record.id)}: {_e(record.summary)}"></td>'
            f'<td>{_e(_when(record.created_at))}<div class="muted">by {_e(record.proposer or "unknown")}</div>'
            f'<div class="muted">{_e(record.id)}</div></td>'
            f"<td><strong>{_e(record.tool)}</strong><div>{_e(record.summary)}</div>{_arguments(record.arguments)}</td>"
            f'<td data-testid="verdict-{_e(record.id)}">{_verdicts(item)}</td>'
            f"<td>{_e(_when(record.expires_at))}</td></tr>"
        )
    return "".join(rows)


def _recent_rows(records: Sequence[ApprovalRecord]) -> str:
    rows = []
    for record in records:
        rows.append(
            f'<tr data-testid="decided-{_e(record.id)}"><td>{_e(_when(record.updated_at))}'
            f'<div class="muted">{_e(record.id)}</div></td>'
            f"<td><strong>{_e(record.tool)}</strong><div>{_e(record.summary)}</div></td>"
            f'<td><span class="tag {_e(record.state)}" data-testid="state-{_e(record.id)}">{_e(record.state)}</span></td>'
            f'<td data-testid="status-{_e(record.id)}">{_e(status_text(record))}</td></tr>'
        )
    return "".join(rows)


def inbox_page(
    *, supervisor: str, csrf: str, pending: Sequence[Pending], recent: Sequence[ApprovalRecord], error: str | None = None,
    reason: str = "",
) -> str:  # fmt: skip
    problem = f'<div class="error" role="alert"><strong>Nothing was changed.</strong> {_e(error)}</div>' if error else ""
    if pending:
        listing = (
            '<form method="post" action="/approvals/decide">'
            f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
            '<table><thead><tr><th></th><th>Proposed</th><th>Action</th><th>Compliance verdict</th><th>Expires</th></tr>'
            f"</thead><tbody>{_pending_rows(pending)}</tbody></table>"
            '<div class="decide"><div><label for="reason">Reason</label> <span class="muted">(optional; required '
            "with an override)</span></div>"
            f'<textarea id="reason" name="reason" maxlength="500">{_e(reason)}</textarea>'
            '<div><input type="checkbox" id="override" name="override" value="yes">'
            '<label for="override">Override the blocks a supervisor may override: I checked them in the vendor\'s '
            "system, and the reason says why the contact is lawful</label></div>"
            '<p class="muted">An approved action runs at once, through every rule again: calling hours, Regulation F '
            "and holds are checked at that moment, and an action they block now is not sent.</p>"
            '<div><button type="submit" name="decision" value="approve">Approve selected</button>'
            '<button type="submit" name="decision" value="reject">Reject selected</button></div></div></form>'
        )  # fmt: skip
    else:
        listing = '<p class="muted" data-testid="no-pending">Nothing is waiting for a decision.</p>'
    recent_block = (
        "<table><thead><tr><th>When</th><th>Action</th><th>State</th><th>Outcome</th></tr></thead>"
        f"<tbody>{_recent_rows(recent)}</tbody></table>"
        if recent else '<p class="muted">No decisions yet.</p>'
    )  # fmt: skip
    return _document("Approval inbox", (
        f"<header><h1>Approval inbox</h1><div>Signed in as <strong>{_e(supervisor)}</strong> "
        '<form method="post" action="/approvals/sign-out">'
        f'<input type="hidden" name="csrf" value="{html.escape(csrf)}"><button type="submit">Sign out</button></form></div>'
        "</header>"
        f"<main>{problem}<h2>Waiting for a decision ({len(pending)})</h2>{listing}"
        f"<h2>Recent decisions</h2>{recent_block}</main>"
    ))  # fmt: skip
