"""/approvals: where a supervisor decides what automated agents queued (the approval inbox, server/policy/approvals.py).

Served by the streamable HTTP app, outside MCP authentication, with a sign-in of its own:

- Supervisors sign in with a supervisor token (`COLLECTIONS_MCP_SUPERVISOR_TOKENS`; only SHA-256 digests are held,
  every grant compared in constant time, as for MCP tokens). An MCP client token does not sign in here, and nothing
  of the inbox is shown before sign-in.
- The session is a cookie (HttpOnly, SameSite=Strict, Path=/approvals, Secure behind https) signed with a key this
  process draws at start: it lasts 8 hours, a restart ends it, and behind a load balancer the page needs sticky
  routing (or a sign-in per replica). Signing out clears it.
- Every form carries a CSRF token bound to the session (HMAC of the session's nonce); a POST without the right one,
  or from another origin, changes nothing (403).
- The page shows each pending approval with its compliance verdict as it stands now (read from the vendor at every
  page load), approves or rejects one or many with a reason; approved actions run at once, and the page shows what
  became of them. No card or bank data is ever queued, so none can be shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collections_mcp.server.core.access import SupervisorGrant
from collections_mcp.server.inbox.page import HEADERS, Pending, html_response, inbox_page, message_page, sign_in_page
from collections_mcp.server.policy.approvals import APPROVAL_ID, ApprovalInbox, DecisionProblem
from collections_mcp.server.state.approvals import ApprovalRecord
from collections_mcp.server.transport.forms import read_form_fields

log = logging.getLogger("collections_mcp.approvals")

COOKIE = "collections_mcp_supervisor"
SESSION_SECONDS = 8 * 3600
MAX_FORM_BYTES = 65_536
RECENT = 25
_ID = re.compile(APPROVAL_ID)


class SupervisorInbox:
    """The page's routes, for the HTTP app (`routes`)."""

    def __init__(self, inbox: ApprovalInbox, grants: Sequence[SupervisorGrant], *, secure_cookie: bool) -> None:
        self.inbox = inbox
        self._grants = [(grant.supervisor, grant.digest()) for grant in grants]
        self._key = secrets.token_bytes(32)
        self.secure_cookie = secure_cookie

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/approvals", self.page, methods=["GET"]),
            Route("/approvals/sign-in", self.sign_in, methods=["POST"]),
            Route("/approvals/decide", self.decide, methods=["POST"]),
            Route("/approvals/sign-out", self.sign_out, methods=["POST"]),
        ]

    # -- who is signed in ---------------------------------------------------------------------------------------

    def _supervisor_of(self, token: str) -> str | None:
        presented = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found: str | None = None
        for name, digest in self._grants:  # every grant compared: no early exit that tells which nearly matched
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def _new_session(self, supervisor: str) -> str:
        name = base64.urlsafe_b64encode(supervisor.encode()).decode().rstrip("=")
        body = f"{name}.{int(time.time()) + SESSION_SECONDS}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def _session(self, request: Request) -> tuple[str, str] | None:
        """(supervisor, CSRF token) of a valid session cookie, or None."""
        cookie = request.cookies.get(COOKIE, "")
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        name, expires, nonce, mac = parts
        body = f"{name}.{expires}.{nonce}"
        if not hmac.compare_digest(self._sign(body), mac) or not expires.isdigit() or int(expires) < time.time():
            return None
        supervisor = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode("utf-8", "replace")
        if supervisor not in {known for known, _ in self._grants}:  # removed from the settings since
            return None
        return supervisor, self._sign(f"csrf.{nonce}")

    def _set_cookie(self, response: Response, value: str, max_age: int) -> Response:
        response.set_cookie(COOKIE, value, max_age=max_age, path="/approvals", httponly=True, samesite="strict",
                            secure=self.secure_cookie)  # fmt: skip
        return response

    @staticmethod
    def _same_origin(request: Request) -> bool:
        """A form post from this page: a browser sends Origin (or at least Referer) with it; another site's differs."""
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin is None:
            return True  # not a browser (a script holding the session and the CSRF token is the supervisor anyway)
        parts = urlsplit(origin)
        return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")

    # -- pages ---------------------------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return html_response(200, sign_in_page())
        return await self._render(*session)

    async def _render(self, supervisor: str, csrf: str, *, error: str | None = None, reason: str = "",
                      status: int = 200) -> Response:  # fmt: skip
        pending = await self._pending()
        recent = [record for record in await self.inbox.store.find(limit=RECENT + len(pending)) if record.state != "pending"]
        return html_response(status, inbox_page(supervisor=supervisor, csrf=csrf, pending=pending, recent=recent[:RECENT],
                                                error=error, reason=reason))  # fmt: skip

    async def _pending(self) -> list[Pending]:
        now = self.inbox.clock()
        records = [record for record in await self.inbox.store.find(states=["pending"]) if record.expires_at > now]
        shown: list[Pending] = [Pending(record) for record in records]

        async def refresh(index: int, record: ApprovalRecord) -> None:
            verdicts, error = await self.inbox.verdict_now(record)
            shown[index] = Pending(record, verdicts, error)

        limiter = anyio.CapacityLimiter(8)
        async with anyio.create_task_group() as group:
            for index, record in enumerate(records):

                async def limited(index: int = index, record: ApprovalRecord = record) -> None:
                    async with limiter:
                        await refresh(index, record)

                group.start_soon(limited)
        return shown

    async def sign_in(self, request: Request) -> Response:
        form = await _read_form(request)
        token = (form or {}).get("token", [""])[0]
        supervisor = self._supervisor_of(token) if token else None
        if supervisor is None:
            log.warning("approval inbox: a sign-in with a token that is not a supervisor token was refused")
            return html_response(401, sign_in_page("That is not a supervisor token. Nothing of the inbox is shown."))
        log.info("approval inbox: supervisor %s signed in", supervisor)
        response = RedirectResponse("/approvals", status_code=303, headers=HEADERS)
        return self._set_cookie(response, self._new_session(supervisor), SESSION_SECONDS)

    async def sign_out(self, request: Request) -> Response:
        session = self._session(request)
        form = await _read_form(request)
        if session is not None and not self._verified(request, form, session[1]):
            return html_response(403, message_page("Not signed out", "The form could not be verified."))
        return self._set_cookie(RedirectResponse("/approvals", status_code=303, headers=HEADERS), "", 0)

    def _verified(self, request: Request, form: dict[str, list[str]] | None, csrf: str) -> bool:
        presented = (form or {}).get("csrf", [""])[0]
        return self._same_origin(request) and hmac.compare_digest(presented.encode(), csrf.encode())

    async def decide(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return html_response(401, sign_in_page("Sign in first: nothing was changed."))
        supervisor, csrf = session
        form = await _read_form(request)
        if form is None:
            return await self._render(supervisor, csrf, error="The form could not be read.", status=413)
        if not self._verified(request, form, csrf):
            log.warning("approval inbox: a decision without this page's form token was refused (supervisor %s)", supervisor)
            return html_response(403, message_page(
                "Not changed", "This form did not come from your inbox page (its security token is missing or wrong). "
                "Nothing was changed.",
            ))  # fmt: skip
        decision = form.get("decision", [""])[0]
        ids = form.get("id", [])
        reason = form.get("reason", [""])[0].strip()
        override = form.get("override", [""])[0] == "yes"
        if decision not in ("approve", "reject"):
            return await self._render(supervisor, csrf, error="Choose Approve or Reject.", reason=reason, status=422)
        if not ids:
            return await self._render(supervisor, csrf, error="Select at least one approval.", reason=reason, status=422)
        if any(not _ID.match(approval_id) for approval_id in ids):
            return await self._render(supervisor, csrf, error="Unknown approval id in the form.", reason=reason, status=422)
        verdicts: dict[str, Any] = {}
        if decision == "approve":  # the override rule is checked against the verdicts as they stand now
            for item in await self._pending():
                if item.record.id in ids and item.verdicts is not None:
                    verdicts[item.record.id] = item.verdicts
        try:
            await self.inbox.decide(ids, "approve" if decision == "approve" else "reject", supervisor=supervisor,
                                    reason=reason or None, override=override, verdicts=verdicts)  # fmt: skip
        except DecisionProblem as problem:
            return await self._render(supervisor, csrf, error=str(problem), reason=reason, status=422)
        return RedirectResponse("/approvals", status_code=303, headers=HEADERS)


async def _read_form(request: Request) -> dict[str, list[str]] | None:
    """An urlencoded form, every value of every field; None when it is too large or unreadable."""
    return await read_form_fields(request, max_bytes=MAX_FORM_BYTES, max_fields=500)
