"""Card and bank details, captured out of band: a one-time page the person opens through URL-mode elicitation.

Card and bank numbers never pass through the MCP client or the LLM. A money tool that declares
`capture="card_or_bank"` runs like this (the capture stage, server/policy/capture.py, before confirmation):

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
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collections_mcp.server.core.access import is_loopback
from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.payments.instruments import (
    BankDetails,
    CardDetails,
    FormErrors,
    Instrument,
    validate_bank,
    validate_card,
)
from collections_mcp.server.payments.page import form_page, html_response, message_page, read_form
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.transport.embedded import serve_app

log = logging.getLogger("collections_mcp.payments")

DEFAULT_TTL_SECONDS = 300.0
MAX_INVALID_SUBMISSIONS = 10

__all__ = ["BankDetails", "Capture", "CaptureService", "CardDetails", "Instrument", "check_page_url"]


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
        # With several replicas: this replica's id, put in front of every token (`<id>.<random>`) so a balancer can
        # route the link to the replica holding the capture (server/replicas/routing.py).
        self.route_tag: str | None = None
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

    @property
    def open_pages(self) -> int:
        """Links issued and still usable: not submitted, closed or expired (the open payment pages metric)."""
        now = self.clock()
        return sum(1 for capture in self._captures.values() if capture.state == "open" and capture.expires_at > now)

    # -- the tool call's side ---------------------------------------------------------------

    def open(self, *, tool: str, call_id: str, file_number: str, amount: Decimal | None, purpose: str) -> Capture:
        self._prune()
        capture = Capture(
            id=uuid.uuid4().hex,
            token=f"{self.route_tag}.{secrets.token_urlsafe(32)}" if self.route_tag else secrets.token_urlsafe(32),
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
            form = await read_form(request)
            if form is None:
                return html_response(413, message_page("Form not readable", "The form could not be read. Please try again."))
        capture = self._find(token)
        if capture is None:
            return html_response(404, message_page("Link not found", "This payment link is not valid. Nothing was charged."))
        if capture.state != "open" or self.clock() >= capture.expires_at:
            return html_response(410, message_page(
                "Link no longer valid",
                "This payment link has already been used or has expired. Nothing more can be entered here; "
                "return to the conversation to continue.",
            ))  # fmt: skip
        if form is None:
            return html_response(200, form_page(**_shown(capture), now=self.clock()))
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
                return html_response(410, message_page(
                    "Too many attempts",
                    "The details could not be accepted after several attempts, so this link was closed. "
                    "Nothing was charged; return to the conversation to start again.",
                ))  # fmt: skip
            return html_response(422, form_page(**_shown(capture), now=self.clock(), method=method, errors=result, form=form))
        capture.instrument = result
        capture.state = "used"
        capture.done.set()
        return html_response(200, message_page(
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
        if parts.scheme != "https" and not is_loopback(parts.hostname):
            raise ConfigError(
                "COLLECTIONS_MCP_CAPTURE_PUBLIC_URL must use https unless it points at this machine: "
                "card and bank details must not travel over plain HTTP"
            )
    elif not is_loopback(host):
        raise ConfigError(
            f"COLLECTIONS_MCP_CAPTURE_HOST={host} is not a loopback address: put the payment page behind a TLS "
            "proxy and set COLLECTIONS_MCP_CAPTURE_PUBLIC_URL to its https URL"
        )


def _shown(capture: Capture) -> dict[str, Any]:
    """What the page shows about the capture (never its token)."""
    return {"file_number": capture.file_number, "amount": capture.amount, "purpose": capture.purpose,
            "expires_at": capture.expires_at}  # fmt: skip
