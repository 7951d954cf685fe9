"""The payment page's HTML: a form per method, errors shown next to the form, nothing secret ever re-shown.

Served with headers that keep it out of caches, referrers and frames, and a CSP that allows no script at all.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import HTMLResponse

from collections_mcp.server.payments.instruments import FormErrors
from collections_mcp.server.transport.forms import read_form_fields

MAX_FORM_BYTES = 8192


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form (first value of each field); None when it is too large or unreadable."""
    parsed = await read_form_fields(request, max_bytes=MAX_FORM_BYTES, max_fields=20)
    return None if parsed is None else {name: values[0] for name, values in parsed.items() if values}


_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1b1b;line-height:1.4}h1{font-size:1.35rem}h2{font-size:1.1rem;margin:0 0 .5rem}"
    "section{border:1px solid #ccc;border-radius:.5rem;margin:1rem 0;padding:1rem}"
    "label{display:block;margin:.6rem 0 .2rem;font-weight:600}"
    "input,select{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer}"
    ".errors{background:#fdecea;border:1px solid #f5c2c0;padding:.5rem 1rem;border-radius:.5rem}"
    ".row{display:flex;gap:1rem}.row>div{flex:1}.muted{color:#555;font-size:.9rem}"
    ".summary{background:#f4f6f8;padding:.75rem 1rem;border-radius:.5rem}"
)


def html_response(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def message_page(title: str, message: str) -> str:
    return _document(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>")


def _input(
    form: str, name: str, label: str, *, value: str = "", autocomplete: str, inputmode: str = "text", extra: str = ""
) -> str:
    field_id = f"{form}-{name}"
    return (
        f'<label for="{field_id}">{html.escape(label)}</label>'
        f'<input id="{field_id}" name="{name}" value="{html.escape(value)}" autocomplete="{autocomplete}" '
        f'inputmode="{inputmode}" required {extra}>'
    )


def _errors(errors: FormErrors) -> str:
    if not errors:
        return ""
    items = "".join(f"<li>{html.escape(message)}</li>" for message in errors.values())
    return f'<div class="errors" role="alert"><strong>Please correct:</strong><ul>{items}</ul></div>'


def form_page(
    *,
    file_number: str,
    amount: Decimal | None,
    purpose: str,
    expires_at: datetime,
    now: datetime,
    method: str | None = None,
    errors: FormErrors | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    # Only values that are not secret are put back into a re-shown form: never a number or the CVV.
    kept = {name: (form or {}).get(name, "") for name in ("expiry", "name", "zip", "account_type")}
    card_errors = _errors(errors or {}) if method == "card" else ""
    bank_errors = _errors(errors or {}) if method == "bank" else ""
    other_errors = _errors(errors or {}) if method not in ("card", "bank") else ""
    minutes = max(1, round((expires_at - now).total_seconds() / 60))
    amount_line = f"<p><strong>Amount:</strong> ${amount:,.2f}</p>" if amount is not None else ""
    card_name = kept["name"] if method == "card" else ""
    bank_name = kept["name"] if method == "bank" else ""
    selected = kept["account_type"].strip().lower()
    options = "".join(
        f'<option value="{value}"{" selected" if selected == value else ""}>{label}</option>'
        for value, label in (("checking", "Checking"), ("savings", "Savings"))
    )
    body = (
        "<h1>Secure payment details</h1>"
        f'<div class="summary"><p><strong>Account:</strong> {html.escape(file_number)}</p>{amount_line}'
        f"<p><strong>For:</strong> {html.escape(purpose)}</p></div>"
        f'<p class="muted">Enter the details here, never in the chat. This link works once and expires in about '
        f"{minutes} minute{'s' if minutes != 1 else ''}. Nothing is charged by this page itself: the payment is "
        "completed in the conversation.</p>"
        f"{other_errors}"
        '<section><h2>Pay by card</h2><form method="post" autocomplete="on">'
        f'<input type="hidden" name="method" value="card">{card_errors}'
        + _input("card", "card_number", "Card number", autocomplete="cc-number", inputmode="numeric", extra='maxlength="23"')
        + '<div class="row"><div>'
        + _input("card", "expiry", "Expiry (MM/YYYY)", value=kept["expiry"] if method == "card" else "",
                 autocomplete="cc-exp", inputmode="numeric", extra='placeholder="MM/YYYY" maxlength="7"')
        + "</div><div>"
        + _input("card", "cvv", "Security code (CVV)", autocomplete="cc-csc", inputmode="numeric", extra='maxlength="4"')
        + "</div></div>"
        + _input("card", "name", "Name on card", value=card_name, autocomplete="cc-name", extra='maxlength="80"')
        + _input("card", "zip", "Billing ZIP code", value=kept["zip"] if method == "card" else "",
                 autocomplete="postal-code", inputmode="numeric", extra='maxlength="10"')
        + '<button type="submit">Use this card</button></form></section>'
        '<section><h2>Pay from a bank account</h2><form method="post" autocomplete="on">'
        f'<input type="hidden" name="method" value="bank">{bank_errors}'
        + _input("bank", "routing_number", "Routing number (9 digits)", autocomplete="off", inputmode="numeric",
                 extra='maxlength="11"')
        + _input("bank", "account_number", "Account number", autocomplete="off", inputmode="numeric", extra='maxlength="20"')
        + f'<label for="bank-account_type">Account type</label><select id="bank-account_type" name="account_type" required>'
        f"{options}</select>"
        + _input("bank", "name", "Name on the account", value=bank_name, autocomplete="name", extra='maxlength="80"')
        + '<button type="submit">Use this bank account</button></form></section>'
    )  # fmt: skip
    return _document("Secure payment details", body)
