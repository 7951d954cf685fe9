"""The Billing Care REST simulator: the collections endpoints under /bcws/webresources/v1.0/.

- PUT  collections/task/{id}            modify a collections action (the seed)
- GET  collections/account/{id}         collections details and aging buckets per bill unit (Oracle docs)
- GET  collections/history/action/{id}  history of one collections action (Oracle docs)

Requests need HTTP basic credentials or a bearer token (401 otherwise). The PUT takes JSON only and
answers the seed's {"extension": null, "reference": {"id", "uri"}}; a failure inside answers 500 with
the seed's "An internal server error occurred". Path ids are decoded as `config.plus_in_path_is_space`
says, so a client that leaves `+` unencoded is caught here as it would be behind such a gateway.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import unquote, unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collections_mcp.sandbox.billing_care.config import TOKEN_AGENT, BillingCareSandboxConfig
from collections_mcp.sandbox.billing_care.store import ActionUpdate, BillingCareStore, NoteUpdate, StoreError
from collections_mcp.sandbox.http import instrument

API_ROOT: Final = "/bcws/webresources/v1.0"
INTERNAL_ERROR: Final = "An internal server error occurred"
_CODE: Final = re.compile(r"^\d{1,3}$")


class _BadRequest(Exception):
    pass


def _agent(request: Request, config: BillingCareSandboxConfig) -> str | None:
    """Who is calling, or None when the credentials are missing or wrong."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return TOKEN_AGENT if hmac.compare_digest(value.strip().encode(), config.token.encode()) else None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        good_user = hmac.compare_digest(user.encode(), config.username.encode())
        good_password = hmac.compare_digest(password.encode(), config.password.encode())
        return user if good_user and good_password else None
    return None


def _unauthorized() -> Response:
    return PlainTextResponse(
        "Unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="Billing Care REST"'}
    )


def _path_id(request: Request, prefix: str, config: BillingCareSandboxConfig) -> str:
    """The id segment exactly as this server decodes it (see BillingCareSandboxConfig.plus_in_path_is_space)."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    segment = raw.decode("latin-1").split("?", 1)[0][len(API_ROOT + prefix) :]
    return unquote_plus(segment) if config.plus_in_path_is_space else unquote(segment)


def _code(body: dict[str, Any], key: str, where: str = "") -> int | None:
    """Integer fields the seed sends as digit strings ("0"); numbers are accepted too, as Jackson does."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _CODE.match(value))):
        raise _BadRequest(f"{where}{key} must be an integer")
    return int(value)


def _flag(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _BadRequest(f"{key} must be true or false")


def _text(body: dict[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _BadRequest(f"{where}{key} must be a string")


def _parse_update(body: Any) -> ActionUpdate:
    if not isinstance(body, dict):
        raise _BadRequest("the request body must be a JSON object")
    reschedule_date = None
    if body.get("rescheduleDate") is not None:
        raw = body["rescheduleDate"]
        try:
            reschedule_date = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise _BadRequest("rescheduleDate must be an ISO 8601 date-time") from None
        if reschedule_date.tzinfo is None:
            raise _BadRequest("rescheduleDate needs a time zone (e.g. Z)")
    notes = _parse_notes(body.get("notes"))
    slip = _code(body, "slipByDays")
    return ActionUpdate(
        reschedule_date=reschedule_date,
        reschedule_action=_flag(body, "rescheduleAction"),
        status=_code(body, "status"),
        slip_by_days=slip,
        cancel_followup_actions=_flag(body, "cancelFollowupActions"),
        action_flag=_code(body, "actionFlag"),
        notes=notes,
    )


def _parse_notes(notes: Any) -> NoteUpdate | None:
    if notes is None:
        return None
    if not isinstance(notes, dict):
        raise _BadRequest("notes must be an object")
    account = _text(notes, "accountId", "notes.")
    if not account:
        raise _BadRequest("notes.accountId is required")
    comments = notes.get("comments") or []
    if not isinstance(comments, list) or not all(
        isinstance(item, dict) and isinstance(item.get("comment"), str) for item in comments
    ):
        raise _BadRequest('notes.comments must be a list of {"comment": "..."}')
    effective = _text(notes, "effectiveDate", "notes.")
    if effective is not None:
        try:
            date.fromisoformat(effective[:10])
        except ValueError:
            raise _BadRequest("notes.effectiveDate must be a date (YYYY-MM-DD)") from None
    return NoteUpdate(
        account_id=account,
        note_id=_text(notes, "id", "notes."),
        bill_unit_id=_text(notes, "billUnitId", "notes."),
        domain_id=_code(notes, "domainId", "notes."),
        type=_code(notes, "type", "notes."),
        sub_type=_code(notes, "subType", "notes."),
        status=_code(notes, "status", "notes."),
        effective_date=effective,
        reason_id=_code(notes, "reasonId", "notes."),
        comments=tuple(item["comment"] for item in comments),
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse({"status": status, "message": message}, status_code=status)


def _store(request: Request) -> BillingCareStore:
    """The store on app.state, read per request: replacing it resets the simulator."""
    store: BillingCareStore = request.app.state.store
    return store


def build_billing_care_app(store: BillingCareStore, config: BillingCareSandboxConfig | None = None) -> Starlette:
    """The simulator as an ASGI app; `app.state` has store, request_log, faults and latency."""
    settings = config or BillingCareSandboxConfig()

    async def update_action(request: Request) -> Response:
        agent = _agent(request, settings)
        if agent is None:
            return _unauthorized()
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error(415, "Unsupported Media Type: send application/json")
        ident = _path_id(request, "/collections/task/", settings)
        try:
            update = _parse_update(json.loads(await request.body() or b"null"))
        except ValueError:
            return _error(400, "the request body is not valid JSON")
        except _BadRequest as exc:
            return _error(400, str(exc))
        try:
            _store(request).update_action(ident, update, agent)
        except StoreError as exc:
            return (
                PlainTextResponse("Not Found", status_code=404)
                if exc.status == 404
                else _error(exc.status, exc.message)
            )
        uri = f"{request.base_url}bc/webresources/v1.0/collections/{ident}"
        return JSONResponse({"extension": None, "reference": {"id": ident, "uri": uri}})

    async def account_collections(request: Request) -> Response:
        if _agent(request, settings) is None:
            return _unauthorized()
        account = _path_id(request, "/collections/account/", settings)
        if not _store(request).account_exists(account):
            return PlainTextResponse("Not Found", status_code=404)
        return JSONResponse(_store(request).collections_details(account))

    async def action_history(request: Request) -> Response:
        if _agent(request, settings) is None:
            return _unauthorized()
        action = _path_id(request, "/collections/history/action/", settings)
        if _store(request).action(action) is None:
            return PlainTextResponse("Not Found", status_code=404)
        return JSONResponse(_store(request).action_history(action))

    async def internal_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(INTERNAL_ERROR, status_code=500)

    app = Starlette(
        routes=[
            Route(f"{API_ROOT}/collections/task/{{action_id}}", update_action, methods=["PUT"]),
            Route(f"{API_ROOT}/collections/account/{{account_id}}", account_collections, methods=["GET"]),
            Route(f"{API_ROOT}/collections/history/action/{{action_id}}", action_history, methods=["GET"]),
        ],
        exception_handlers={Exception: internal_error},
    )
    app.state.store = store
    app.state.config = settings
    instrument(app, latency_seconds=settings.latency_ms / 1000)
    return app
