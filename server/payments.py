"""Card and bank details, captured out of band: a one-time page the person opens through URL-mode elicitation.

Card and bank numbers never pass through the MCP client or the LLM. A money tool that declares
`capture="card_or_bank"` runs like this (`CaptureStage`, before the confirmation stage):

    open a capture: a random single-use token bound to this tool call (tool, call id, account, amount),
        valid for a short time (COLLECTIONS_MCP_CAPTURE_TTL_SECONDS, default 300 s)
    -> ask the person, by URL-mode elicitation, to open <base>/pay/<token>   (consent only: nothing typed yet)
    -> the person submits the page; the server validates (Luhn, expiry, ABA checksum, lengths) and re-shows
       the form with specific errors, or accepts: the token is burned (410 afterwards) and the call wakes up
    -> the captured instrument goes into `ToolContext.captured` for the confirmation summary and the handler
    -> whatever happens, the instrument is wiped and the token closed when the call ends.

The page is served by `CaptureService` on its own loopback listener (COLLECTIONS_MCP_CAPTURE_HOST/PORT), or
behind a TLS proxy whose base URL is COLLECTIONS_MCP_CAPTURE_PUBLIC_URL. Numbers are held in memory only, as
`SecretStr`, and only between the submission and the end of the tool call. The CVV is never stored,
logged or audited, not even masked: it only ever exists on the instrument and inside the vendor request.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from collections_mcp.sandbox.http import serve_app
from collections_mcp.server.pipeline import Proceed, Refused, ToolCall
from collections_mcp.server.redaction import luhn_valid
from collections_mcp.server.settings import ConfigError, ServerSettings
from collections_mcp.tools.common.human import Question

log = logging.getLogger("collections_mcp.payments")

STAGE = "payment_capture"
DEFAULT_TTL_SECONDS = 300.0
MAX_FORM_BYTES = 8192
MAX_INVALID_SUBMISSIONS = 10
_DIGITS_ONLY = re.compile(r"\d+")
_SEPARATORS = re.compile(r"[\s-]")
_NAME = re.compile(r"^[^\d<>{}\[\]\\/|@#$%^*=+_~`\"]{1,80}$")
_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


# ------------------------------------------------------------------------------------------ instruments


def aba_routing_valid(routing: str) -> bool:
    """ABA routing number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(char) for char in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def card_brand(number: str) -> str:
    """The card network from the number's prefix (IIN ranges), as Scollect's `cardtype` names it."""
    if number.startswith(("34", "37")):
        return "Amex"
    if number.startswith("4"):
        return "Visa"
    two, four = int(number[:2] or 0), int(number[:4] or 0)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "MasterCard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3] or 0) <= 649:
        return "Discover"
    return "Card"


def _last4(secret: SecretStr) -> str:
    return secret.get_secret_value()[-4:]


@dataclass(eq=False, repr=False)
class CardDetails:
    """A payment card entered on the capture page. Its text forms are masked; the CVV never appears in any."""

    number: SecretStr
    cvv: SecretStr
    exp_month: int
    exp_year: int
    holder: str
    zip_code: str
    kind: Literal["card"] = field(default="card", init=False)
    wiped: bool = field(default=False, init=False)

    @property
    def brand(self) -> str:
        return card_brand(self.number.get_secret_value())

    @property
    def last4(self) -> str:
        return _last4(self.number)

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}"

    @property
    def masked(self) -> str:
        return f"card ****{self.last4} exp {self.expiry}"

    def wipe(self) -> None:
        """Drop the numbers (Python strings cannot be zeroed; this removes our references to them)."""
        self.number = SecretStr("")
        self.cvv = SecretStr("")
        self.wiped = True

    def __repr__(self) -> str:
        return f"CardDetails({self.masked!r})"

    __str__ = __repr__


@dataclass(eq=False, repr=False)
class BankDetails:
    """A bank account (ACH) entered on the capture page. Its text forms are masked."""

    routing: SecretStr
    account: SecretStr
    account_type: Literal["Checking", "Savings"]
    holder: str
    kind: Literal["bank"] = field(default="bank", init=False)
    wiped: bool = field(default=False, init=False)

    @property
    def last4(self) -> str:
        return _last4(self.account)

    @property
    def masked(self) -> str:
        return f"bank ****{self.last4} routing ****{_last4(self.routing)}"

    def wipe(self) -> None:
        self.routing = SecretStr("")
        self.account = SecretStr("")
        self.wiped = True

    def __repr__(self) -> str:
        return f"BankDetails({self.masked!r})"

    __str__ = __repr__


Instrument = CardDetails | BankDetails
FormErrors = dict[str, str]
_ACCOUNT_TYPES: dict[str, Literal["Checking", "Savings"]] = {"checking": "Checking", "savings": "Savings"}


def _digits(value: str) -> str:
    return _SEPARATORS.sub("", value)


def _holder(form: Mapping[str, str], errors: FormErrors, what: str) -> str:
    name = " ".join(form.get("name", "").split())
    if not name or not _NAME.match(name) or not any(char.isalpha() for char in name):
        errors["name"] = f"Enter the name {what} (letters only, at most 80 characters)."
    return name


def validate_card(form: Mapping[str, str], today: date) -> CardDetails | FormErrors:
    """Check a submitted card form. Error texts never repeat a number the person typed."""
    errors: FormErrors = {}
    number = _digits(form.get("card_number", ""))
    if not number:
        errors["card_number"] = "Enter the card number."
    elif not number.isdigit() or not 13 <= len(number) <= 19:
        errors["card_number"] = "A card number has 13 to 19 digits; please check it."
    elif not luhn_valid(number):
        errors["card_number"] = "That card number is not valid (its check digit does not match); please check it."
    month = year = 0
    expiry = _EXPIRY.match(form.get("expiry", ""))
    if expiry is None:
        errors["expiry"] = "Enter the expiry date as MM/YYYY, for example 08/2030."
    else:
        month, year = int(expiry.group(1)), int(expiry.group(2))
        year += 2000 if year < 100 else 0
        if not 1 <= month <= 12:
            errors["expiry"] = "The expiry month must be between 01 and 12."
        elif (year, month) < (today.year, today.month):
            errors["expiry"] = f"This card expired at the end of {month:02d}/{year}; use a card that is still valid."
        elif year > today.year + 20:
            errors["expiry"] = "That expiry year is too far in the future; please check it."
    cvv = form.get("cvv", "").strip()
    amex = number.startswith(("34", "37"))
    wanted = 4 if amex else 3
    if not (cvv.isdigit() and len(cvv) == wanted):
        where = "on the front of the card" if amex else "on the back of the card"
        errors["cvv"] = f"Enter the {wanted}-digit security code {where}."
    holder = _holder(form, errors, "as it appears on the card")
    zip_code = form.get("zip", "").strip()
    if not _ZIP.match(zip_code):
        errors["zip"] = "Enter the billing ZIP code (5 digits, or ZIP+4)."
    if errors:
        return errors
    return CardDetails(
        number=SecretStr(number), cvv=SecretStr(cvv), exp_month=month, exp_year=year, holder=holder, zip_code=zip_code
    )


def validate_bank(form: Mapping[str, str]) -> BankDetails | FormErrors:
    """Check a submitted bank form (ABA checksum on the routing number, account 4-17 digits)."""
    errors: FormErrors = {}
    routing = _digits(form.get("routing_number", ""))
    if not routing.isdigit() or len(routing) != 9:
        errors["routing_number"] = "A routing number has exactly 9 digits; please check it."
    elif not aba_routing_valid(routing):
        errors["routing_number"] = "That routing number is not valid (its checksum does not match); please check it."
    account = _digits(form.get("account_number", ""))
    if not account.isdigit() or not 4 <= len(account) <= 17:
        errors["account_number"] = "An account number has 4 to 17 digits; please check it."
    account_type = _ACCOUNT_TYPES.get(form.get("account_type", "").strip().lower())
    if account_type is None:
        errors["account_type"] = "Choose checking or savings."
    holder = _holder(form, errors, "on the bank account")
    if errors or account_type is None:
        return errors
    return BankDetails(routing=SecretStr(routing), account=SecretStr(account), account_type=account_type, holder=holder)


# ------------------------------------------------------------------------------------------ captures


@dataclass(eq=False)
class Capture:
    """One pending capture: bound to exactly one tool call; its token works for one successful submission."""

    id: str  # the elicitation id (not a secret; never the token)
    token: str = field(repr=False)
    tool: str
    call_id: str
    file_number: str
    amount: Decimal | None
    purpose: str
    expires_at: datetime
    done: anyio.Event = field(default_factory=anyio.Event, repr=False)
    instrument: Instrument | None = field(default=None, repr=False)
    state: Literal["open", "used", "closed"] = "open"
    invalid_submissions: int = 0


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class CaptureService:
    """Issues capture tokens and serves the payment-details page for them.

    Build it, then serve it for the server's lifetime: `async with service.serving(): ...`, or both at
    once with `async with CaptureService.running(settings, clock) as service: ...`.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        _check_listener(host, public_url)
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.base_url: str | None = None  # set while serving
        self._captures: dict[str, Capture] = {}
        self._listener: anyio.abc.TaskGroup | None = None  # set while `serving()` is open
        self._starting = anyio.Lock()
        self._stop_listening = anyio.Event()
        self.app = Starlette(routes=[Route("/pay/{token}", self._page, methods=["GET", "POST"])])

    @classmethod
    def from_settings(cls, settings: ServerSettings, clock: Callable[[], datetime]) -> CaptureService:
        return cls(
            clock,
            ttl_seconds=settings.capture_ttl_seconds,
            host=settings.capture_host,
            port=settings.capture_port,
            public_url=settings.capture_public_url,
        )

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: ServerSettings, clock: Callable[[], datetime]) -> AsyncIterator[CaptureService]:
        service = cls.from_settings(settings, clock)
        async with service.serving():
            yield service

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[CaptureService]:
        """Serve the page on its own loopback listener for as long as this is open. The port is opened on the
        first payment that needs it (`ensure_serving`), not at startup: no listener exists until it is used."""
        async with anyio.create_task_group() as listener:
            self._listener = listener
            try:
                yield self
            finally:
                self._listener = None
                self.base_url = None
                for capture in list(self._captures.values()):
                    self.close(capture)
                self._stop_listening.set()  # the listener shuts down gracefully; the task group waits for it

    async def ensure_serving(self) -> bool:
        """True when the page can be reached (mounted, or our own listener is up, starting it if need be)."""
        async with self._starting:
            if self.base_url is None and self._listener is not None:
                await self._listener.start(self._listen)
        return self.base_url is not None

    async def _listen(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with serve_app(self.app, self.host, self.port) as local_url:
            self.base_url = self.public_url or local_url
            log.info("payment capture page listening on %s", local_url)
            task_status.started()
            await self._stop_listening.wait()

    @property
    def routes(self) -> list[BaseRoute]:
        """The page's route, for mounting on another app (e.g. the streamable HTTP app) with `mounted()`."""
        return list(self.app.routes)

    @asynccontextmanager
    async def mounted(self, base_url: str) -> AsyncIterator[CaptureService]:
        """Serve through someone else's app: `routes` are mounted there, and `base_url` is where it is reached."""
        check_page_url(base_url)
        self.base_url = base_url.rstrip("/")
        try:
            yield self
        finally:
            self.base_url = None
            for capture in list(self._captures.values()):
                self.close(capture)

    @property
    def serving_now(self) -> bool:
        return self.base_url is not None

    # -- the tool call's side ---------------------------------------------------------------

    def open(self, *, tool: str, call_id: str, file_number: str, amount: Decimal | None, purpose: str) -> Capture:
        self._prune()
        capture = Capture(
            id=uuid.uuid4().hex,
            token=secrets.token_urlsafe(32),
            tool=tool,
            call_id=call_id,
            file_number=file_number,
            amount=amount,
            purpose=purpose,
            expires_at=self.clock() + self.ttl,
        )
        self._captures[_token_key(capture.token)] = capture
        return capture

    def url_for(self, capture: Capture) -> str:
        if self.base_url is None:
            raise RuntimeError("the payment capture page is not being served")
        return f"{self.base_url}/pay/{capture.token}"

    async def wait(self, capture: Capture, seconds: float) -> Instrument | None:
        """The submitted instrument, or None if nothing valid arrived in time (or the capture ended)."""
        remaining = (capture.expires_at - self.clock()).total_seconds()
        with anyio.move_on_after(max(0.0, min(seconds, remaining))):
            await capture.done.wait()
        return capture.instrument if capture.state == "used" else None

    def close(self, capture: Capture) -> None:
        """End the capture: wipe what it holds; its token answers 410 from now on."""
        if capture.instrument is not None:
            capture.instrument.wipe()
            capture.instrument = None
        capture.state = "closed"
        capture.done.set()

    def _prune(self) -> None:
        """Forget captures long past their expiry (closed ones are kept a while so late visits get 410)."""
        cutoff = self.clock() - self.ttl
        for key, capture in list(self._captures.items()):
            if capture.expires_at <= cutoff:
                self.close(capture)
                del self._captures[key]

    def _find(self, token: str) -> Capture | None:
        capture = self._captures.get(_token_key(token))
        if capture is None or not hmac.compare_digest(capture.token.encode(), token.encode("utf-8", "replace")):
            return None
        return capture

    # -- the person's side: the page --------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        form: dict[str, str] | None = None
        if request.method == "POST":
            form = await _read_form(request)
            if form is None:
                return _html(413, _message_page("Form not readable", "The form could not be read. Please try again."))
        capture = self._find(token)
        if capture is None:
            return _html(404, _message_page("Link not found", "This payment link is not valid. Nothing was charged."))
        if capture.state != "open" or self.clock() >= capture.expires_at:
            return _html(410, _message_page(
                "Link no longer valid",
                "This payment link has already been used or has expired. Nothing more can be entered here; "
                "return to the conversation to continue.",
            ))  # fmt: skip
        if form is None:
            return _html(200, _form_page(capture, self.clock()))
        method = form.get("method")
        today = self.clock().date()
        result: Instrument | FormErrors
        if method == "card":
            result = validate_card(form, today)
        elif method == "bank":
            result = validate_bank(form)
        else:
            result = {"method": "Choose a card or a bank account."}
        if isinstance(result, dict):
            capture.invalid_submissions += 1
            if capture.invalid_submissions >= MAX_INVALID_SUBMISSIONS:
                self.close(capture)
                return _html(410, _message_page(
                    "Too many attempts",
                    "The details could not be accepted after several attempts, so this link was closed. "
                    "Nothing was charged; return to the conversation to start again.",
                ))  # fmt: skip
            return _html(422, _form_page(capture, self.clock(), method=method, errors=result, form=form))
        capture.instrument = result
        capture.state = "used"
        capture.done.set()
        return _html(200, _message_page(
            "Details received",
            f"Thank you. The {'card' if result.kind == 'card' else 'bank account'} ending in {result.last4} was "
            "received. Return to the conversation to finish; you can close this page.",
        ))  # fmt: skip


def check_page_url(base_url: str) -> None:
    """The page's address must be https, or http on this machine (ConfigError otherwise)."""
    _check_listener("127.0.0.1", base_url)


def _check_listener(host: str, public_url: str | None) -> None:
    """Card data must not cross a network in clear text: a non-loopback page needs an https public URL."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("COLLECTIONS_MCP_CAPTURE_PUBLIC_URL must be an absolute http(s) URL")
        if parts.scheme != "https" and not _is_loopback(parts.hostname):
            raise ConfigError(
                "COLLECTIONS_MCP_CAPTURE_PUBLIC_URL must use https unless it points at this machine: "
                "card and bank details must not travel over plain HTTP"
            )
    elif not _is_loopback(host):
        raise ConfigError(
            f"COLLECTIONS_MCP_CAPTURE_HOST={host} is not a loopback address: put the payment page behind a TLS "
            "proxy and set COLLECTIONS_MCP_CAPTURE_PUBLIC_URL to its https URL"
        )


async def _read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form (first value of each field); None when it is too large or unreadable."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items() if values}


# ------------------------------------------------------------------------------------------ HTML

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


def _html(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def _message_page(title: str, message: str) -> str:
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


def _form_page(
    capture: Capture,
    now: datetime,
    *,
    method: str | None = None,
    errors: FormErrors | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    # Only values that are not secret are put back into a re-shown form: never a number or the CVV.
    kept = {name: (form or {}).get(name, "") for name in ("expiry", "name", "zip", "account_type")}
    card_errors = _errors(errors or {}) if method == "card" else ""
    bank_errors = _errors(errors or {}) if method == "bank" else ""
    other_errors = _errors(errors or {}) if method not in ("card", "bank") else ""
    minutes = max(1, round((capture.expires_at - now).total_seconds() / 60))
    amount = f"<p><strong>Amount:</strong> ${capture.amount:,.2f}</p>" if capture.amount is not None else ""
    card_name = kept["name"] if method == "card" else ""
    bank_name = kept["name"] if method == "bank" else ""
    selected = kept["account_type"].strip().lower()
    options = "".join(
        f'<option value="{value}"{" selected" if selected == value else ""}>{label}</option>'
        for value, label in (("checking", "Checking"), ("savings", "Savings"))
    )
    body = (
        "<h1>Secure payment details</h1>"
        f'<div class="summary"><p><strong>Account:</strong> {html.escape(capture.file_number)}</p>{amount}'
        f"<p><strong>For:</strong> {html.escape(capture.purpose)}</p></div>"
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


# ------------------------------------------------------------------------------------------ the stage


@runtime_checkable
class CaptureSubject(Protocol):
    """What a capture-declaring tool's arguments tell the capture stage (structural: tools import nothing here).

    `capture_purpose(now)` says what the details are for (shown on the page and in the elicitation), or
    returns None when this particular call needs no new details (e.g. an update that only moves a date).
    It raises `InvalidArgument` when the call cannot go ahead (a date in the past): that is checked
    before the person is asked to type anything.
    """

    @property
    def file_number(self) -> str: ...

    @property
    def capture_amount(self) -> Decimal | None: ...

    def capture_purpose(self, now: datetime) -> str | None: ...


class CaptureStage:
    """Captures card/bank details out of band for specs that declare `capture`; others pass through.

    Must run before the confirmation stage, so the person confirms a summary that shows the method's last 4.
    """

    def __init__(self, service: CaptureService, timeout: float | None = None) -> None:
        self.service = service
        self.timeout = timeout if timeout is not None else service.ttl.total_seconds()

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        context = call.context
        assert context is not None
        if spec.capture is None or context.captured is not None:  # nothing to capture, or captured already
            return await proceed()
        arguments: Any = call.arguments
        if isinstance(arguments, CaptureSubject):
            purpose = arguments.capture_purpose(context.now())
            if purpose is None:
                return await proceed()
            file_number, amount = arguments.file_number, arguments.capture_amount
        else:
            purpose, file_number, amount = spec.title, str(getattr(arguments, "file_number", "")), None
        if not context.person.can_open_urls:
            raise Refused(
                STAGE,
                f"{spec.name} needs card or bank details, which are entered only on the server's secure payment "
                "page, and this client cannot open the secure payment page (no URL-mode elicitation). Nothing was "
                "sent. Use an MCP client that supports URL-mode elicitation, or take the payment another way.",
            )
        if not await self.service.ensure_serving():
            raise Refused(STAGE, "the secure payment page is not running on this server; nothing was sent")
        capture = self.service.open(
            tool=spec.name, call_id=call.call_id, file_number=file_number, amount=amount, purpose=purpose
        )
        minutes = max(1, round(self.service.ttl.total_seconds() / 60))
        try:
            answer = await context.person.ask(Question(
                message=(
                    f"Account {file_number}: {purpose}. Please open this secure page and enter the card or bank "
                    f"account details there (never in the chat). The link works once and expires in {minutes} "
                    f"minute{'s' if minutes != 1 else ''}."
                ),
                url=self.service.url_for(capture),
                elicitation_id=capture.id,
            ))  # fmt: skip
            if not answer.accepted:
                raise Refused(
                    STAGE, f"the person did not open the secure payment page ({answer.action}); nothing was sent"
                )
            instrument = await self.service.wait(capture, self.timeout)
            if instrument is None:
                raise Refused(
                    STAGE,
                    f"no valid payment details were entered on the secure page within {round(self.timeout)} seconds; "
                    "the link is closed and nothing was sent. Call the tool again to send a new link.",
                )
            call.context = replace(context, captured=instrument)
            return await proceed()
        finally:
            self.service.close(capture)  # wipes the instrument and burns the token, whatever happened
            if call.context is not None and call.context.captured is not None:
                call.context = replace(call.context, captured=None)
