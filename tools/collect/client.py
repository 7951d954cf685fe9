"""Collect! wire client: operator login, the record endpoints, UI forms, and the contact plan POST.

Collect!'s public help (cv13) is the contract; each endpoint below names its page:
- auth, database header, websocket:   https://collect.org/cv13/Help/howtousetherestapi.html
- Read Records:    https://collect.org/cv13/Help/howtousetherestapiendpointreadrecords.html
- Create Records:  https://collect.org/cv13/Help/howtousetherestapiendpointcreaterecords.html
- Update Records:  https://collect.org/cv13/Help/howtousetherestapiendpointupdaterecords.html
- UI Forms:        https://collect.org/cv13/Help/howtousetherestapiendpointuserinterfaceforms.html
- Contact Plans:   https://collect.org/cv13/Help/howtousetherestapiendpointcontactplans.html

Every answer carries a "status": 200 is good, anything else is a failure with the server's message. The
docs document no refresh endpoint, so an expired token (HTTP 401) means one new login and one retry.
Vendor field names live here and in models.py; methods return plain vendor rows (dicts).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Final

import anyio
import httpx

from collections_mcp.tools.collect.settings import CollectSettings
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.http import CONNECT_TIMEOUT_SECONDS, pooled_client, retry_read, send

VENDOR: Final = "Collect!"
DATA: Final = "/api/v1/collect/data"
LOGIN: Final = "/api/v1/auth/login"
RUN_PLAN: Final = "/api/v1/collect/app/runplan"
SCHEDULE_NEXT_CONTACT_FORM: Final = "35d01ff2-775d-ccb4-8f53-25d36f517384"
RECORD_TYPES: Final = ("debtor", "client", "cosigner", "associate")
PAGE_LIMIT: Final = 1000  # the largest page this client asks for

Row = dict[str, Any]


@dataclass(frozen=True)
class Condition:
    """One term of the Read Records `filter` parameter: field[__operator]='value'."""

    field: str
    value: str
    operator: str | None = None  # None: equality; e.g. "like", "nlike", "in"

    def render(self) -> str:
        suffix = f"__{self.operator}" if self.operator else ""
        return f"{self.field}{suffix}={quote_value(self.value)}"


def quote_value(value: str) -> str:
    """Single quotes around the value, as in the UI Forms page's example; a quote inside is doubled."""
    return "'" + value.replace("'", "''") + "'"


def render_filter(conditions: Sequence[Condition]) -> str:
    return ",".join(condition.render() for condition in conditions)


@dataclass(frozen=True)
class Window:
    """Rows [offset, offset + limit) of a read, and how many rows the read has in all."""

    rows: list[Row]
    total: int


def _status_of(body: Any, http_status: int) -> int:
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    if isinstance(status, str) and status.strip().isdigit():
        return int(status)
    return http_status


def _message_of(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "error", "msg", "result"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _error(status: int, body: Any) -> VendorError:
    message = _message_of(body) or f"the server answered status {status} without a message"
    if status == 404:
        return VendorNotFound(VENDOR, message, status=status)
    if status in (401, 403):
        return VendorAuthError(VENDOR, message, status=status)
    return VendorError(VENDOR, message, status=status)


def parse_body(response: httpx.Response) -> Any:
    """The JSON body (an empty body is {}); a server error or a body that is not JSON is VendorUnavailable."""
    if response.status_code >= 500:
        detail = _message_of(_safe_json(response))
        raise VendorUnavailable(VENDOR, f"server error HTTP {response.status_code}" + (f": {detail}" if detail else ""),
                                status=response.status_code)  # fmt: skip
    if not response.content.strip():
        return {}
    try:
        return json.loads(response.content)
    except ValueError:
        raise VendorUnavailable(
            VENDOR, f"answered HTTP {response.status_code} with a body that is not JSON", status=response.status_code
        ) from None


def unwrap(response: httpx.Response) -> dict[str, Any]:
    """The body of a successful answer; raises the matching VendorError for every failure."""
    body = parse_body(response)
    status = _status_of(body, response.status_code)
    if status != 200 or response.status_code >= 400:
        raise _error(status if status != 200 else response.status_code, body)
    if not isinstance(body, dict):
        raise VendorError(VENDOR, f"unexpected response shape: {type(body).__name__}")
    return body


def _is_auth_failure(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and _status_of(body, response.status_code) == 401


class CollectClient:
    """One per server: one keep-alive pool and one operator session shared by every tool call."""

    def __init__(self, http: httpx.AsyncClient, settings: CollectSettings) -> None:
        assert settings.operator_id and settings.operator_password, "enabled settings are complete"
        self.settings = settings
        self._http = http
        self._token: str | None = None
        self._token_generation = 0
        self._login_lock = anyio.Lock()
        self.operator: Row | None = None  # nx_operator of the last login: op_id, op_name, op_level, op_function
        self.logins = 0
        self._contact_types: dict[str, str] | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: CollectSettings) -> AsyncIterator[CollectClient]:
        assert settings.base_url, "enabled settings have a base_url"
        headers = {"Accept": "application/json"} | settings.database_header
        async with pooled_client(settings.base_url, settings.timeout_seconds, headers=headers) as http:
            yield cls(http, settings)

    # -- transport and auth -------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: Row | None = None,
        token: str | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        extra: dict[str, Any] = {}
        if read_timeout is not None:
            extra["timeout"] = httpx.Timeout(read_timeout, connect=min(CONNECT_TIMEOUT_SECONDS, read_timeout))
        return await send(self._http, VENDOR, method, url, params=params, json=body, headers=headers, **extra)

    async def _login(self, stale_generation: int) -> None:
        """Log in unless another task already replaced the token we found stale."""
        async with self._login_lock:
            if self._token is not None and self._token_generation != stale_generation:
                return
            assert self.settings.operator_id and self.settings.operator_password
            credentials = {
                "op_id": self.settings.operator_id,
                "op_password": self.settings.operator_password.get_secret_value(),
            }
            response = await self._send("POST", f"{self.settings.auth_base_url}{LOGIN}", body=credentials)
            try:
                body = unwrap(response)
            except VendorUnavailable:
                raise
            except VendorError as exc:
                raise VendorAuthError(VENDOR, f"login failed: {exc.message}", status=exc.status) from None
            result = body.get("result")
            token = result.get("access_token") if isinstance(result, dict) else None
            if not isinstance(token, str) or not token:
                raise VendorAuthError(VENDOR, "login answered without an access_token")
            operator = result.get("nx_operator") if isinstance(result, dict) else None
            self.operator = dict(operator) if isinstance(operator, dict) else None
            self._token = token
            self._token_generation += 1
            self.logins += 1

    async def current_operator(self) -> Row:
        """The logged-in operator's nx_operator record (op_id, op_name, op_level, op_function); logs in if needed."""
        if self._token is None:
            await self._login(self._token_generation)
        return dict(self.operator or {})

    async def _authorised(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Row | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:  # fmt: skip
        if self._token is None:
            await self._login(self._token_generation)
        generation = self._token_generation
        response = await self._send(method, path, params=params, body=body, token=self._token, read_timeout=read_timeout)
        if _is_auth_failure(response):
            # An expired or revoked token: log in again once and retry once (a 401 means nothing was done).
            await self._login(generation)
            response = await self._send(method, path, params=params, body=body, token=self._token, read_timeout=read_timeout)
            if _is_auth_failure(response):
                raise VendorAuthError(VENDOR, _message_of(_safe_json(response)) or "a fresh token was refused",
                                      status=401)  # fmt: skip
        return response

    async def _read(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            return unwrap(await self._authorised("GET", path, params=params))

        return await retry_read(once)

    async def _write(self, method: str, path: str, body: Row, *, read_timeout: float | None = None) -> dict[str, Any]:
        """Never retried: a lost answer does not tell us whether the write landed."""
        return unwrap(await self._authorised(method, path, body=body, read_timeout=read_timeout))

    # -- Read Records ---------------------------------------------------------------------------------

    async def read_page(
        self,
        path: str,
        *,
        conditions: Sequence[Condition] = (),
        fields: Sequence[str] = (),
        sort: str | None = None,
        limit: int = PAGE_LIMIT,
        page: int = 1,
    ) -> tuple[list[Row], int, int]:
        """One page of a list read: (rows, numRecords, numPages)."""
        params = {"limit": str(limit), "page": str(page)}
        if conditions:
            params["filter"] = render_filter(conditions)
        if fields:
            params["fields"] = ",".join(fields)
        if sort:
            params["sort"] = sort
        body = await self._read(path, params)
        data = body.get("data")
        if isinstance(data, dict):  # a one-record answer in the single-record shape
            data = [data]
        if not isinstance(data, list):
            raise VendorError(VENDOR, f"expected a list of records from {path}")
        described = body.get("type")
        kind: dict[str, Any] = described if isinstance(described, dict) else {}
        rows = [row for row in data if isinstance(row, dict)]
        total = _int(kind.get("numRecords"), default=len(rows))
        pages = _int(kind.get("numPages"), default=1 if rows else 0)
        return rows, total, pages

    async def read_window(
        self,
        path: str,
        *,
        offset: int,
        limit: int,
        conditions: Sequence[Condition] = (),
        fields: Sequence[str] = (),
        sort: str | None = None,
    ) -> Window:
        """Rows [offset, offset + limit) through the Limit/Page parameters: one page, two when offset is not a
        multiple of limit."""
        page = offset // limit + 1
        skip = offset % limit
        rows, total, pages = await self.read_page(
            path, conditions=conditions, fields=fields, sort=sort, limit=limit, page=page
        )
        window = rows[skip:]
        if skip and len(window) < limit and page < pages:
            more, _, _ = await self.read_page(
                path, conditions=conditions, fields=fields, sort=sort, limit=limit, page=page + 1
            )
            window += more[: limit - len(window)]
        return Window(rows=window[:limit], total=total)

    async def record(self, record: str, rowid: int) -> Row:
        body = await self._read(f"{DATA}/{record}/{rowid}")
        data = body.get("data")
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict) or not data:
            raise VendorNotFound(VENDOR, f"no {record} record with rowid {rowid}")
        return data

    async def debtor(self, rowid: int) -> Row:
        return await self.record("debtor", rowid)

    async def search_debtors(
        self, conditions: Sequence[Condition], *, offset: int, limit: int, fields: Sequence[str] = ()
    ) -> Window:
        return await self.read_window(
            f"{DATA}/debtor", conditions=conditions, fields=fields, sort="de_name", offset=offset, limit=limit
        )

    async def sub_records(self, record: str, rowid: int, sub: str, *, offset: int, limit: int, sort: str) -> Window:
        return await self.read_window(f"{DATA}/{record}/{rowid}/{sub}", sort=sort, offset=offset, limit=limit)

    async def debtor_contacts(self, rowid: int, *, offset: int, limit: int) -> Window:
        return await self.sub_records("debtor", rowid, "contact", offset=offset, limit=limit, sort="co_date")

    async def debtor_transactions(self, rowid: int, *, offset: int, limit: int) -> Window:
        return await self.sub_records("debtor", rowid, "transaction", offset=offset, limit=limit, sort="tr_payment_date")

    async def debtor_notes(self, rowid: int, *, offset: int, limit: int) -> Window:
        return await self.sub_records("debtor", rowid, "notes", offset=offset, limit=limit, sort="no_date,no_time")

    async def contact_plans(self) -> list[Row]:
        fields = ("cp_rowid", "cp_code", "cp_name", "cp_description")
        rows, _, _ = await self.read_page(f"{DATA}/contact_plan", fields=fields, sort="cp_code")
        return rows

    # -- Create / Update Records ----------------------------------------------------------------------

    async def create_record(self, record: str, data: Row, *, business_logic: int = 4) -> Row:
        """POST {"business-logic", "data"}; 4 (full logic) is the docs' choice for blind submissions."""
        body = await self._write("POST", f"{DATA}/{record}", {"business-logic": business_logic, "data": data})
        created = body.get("data")
        if not isinstance(created, dict):
            raise VendorError(VENDOR, f"the {record} record was sent but the answer did not include it")
        return created

    async def update_record(self, record: str, rowid: int, changes: Row) -> Row:
        """PATCH {"data": only the fields that change}."""
        body = await self._write("PATCH", f"{DATA}/{record}/{rowid}", {"data": changes})
        updated = body.get("data")
        return updated if isinstance(updated, dict) else {}

    async def add_contact(self, debtor_rowid: int, contact: Row) -> Row:
        return await self.create_record("contact", {"co_rowid_debtor": str(debtor_rowid)} | contact)

    async def add_note(self, debtor_rowid: int, note: Row) -> Row:
        return await self.create_record("notes", {"no_rowid_debtor": str(debtor_rowid)} | note)

    async def update_debtor(self, rowid: int, changes: Row) -> Row:
        return await self.update_record("debtor", rowid, changes)

    # -- UI forms ----------------------------------------------------------------------------------------

    async def form(self, formid: str) -> dict[str, Any]:
        """The form definition (name, id, fields, buttons with their values) for this operator's rights."""
        body = await self._read(f"/api/v1/collect/ui/forms/{formid}")
        form = body.get("data", body.get("result"))
        if not isinstance(form, dict):
            raise VendorError(VENDOR, f"form {formid} answered without a form definition")
        return form

    async def contact_types(self) -> dict[str, str]:
        """Contact type code -> label, from the co_type choices of the Schedule Next Contact form (cached);
        empty when the form does not list them."""
        if self._contact_types is None:
            types: dict[str, str] = {}
            form: dict[str, Any] = {}
            with suppress(VendorNotFound):
                form = await self.form(SCHEDULE_NEXT_CONTACT_FORM)
            for field in form.get("fields") or []:
                if isinstance(field, dict) and field.get("name") == "co_type":
                    for choice in field.get("choices") or []:
                        if isinstance(choice, dict) and choice.get("value") is not None:
                            types[str(choice["value"])] = str(choice.get("label") or choice["value"])
            self._contact_types = types
        return dict(self._contact_types)

    # -- contact plans -------------------------------------------------------------------------------------

    async def run_plan(
        self,
        plan: str,
        record_type: str,
        rowid: int,
        websocket_id: str,
        timeout: float,  # noqa: ASYNC109 - the HTTP read timeout of a request that stays open for the whole plan;
        # math.inf when the caller bounds the wait itself (tools/collect/plan.py: a deadline moved by progress)
    ) -> dict[str, Any]:
        """POST runplan; the request stays open while the plan runs. The parsed body ({} when empty)."""
        if record_type not in RECORD_TYPES:
            raise VendorError(VENDOR, f"contact plans run on {', '.join(RECORD_TYPES)}, not {record_type}")
        body: Row = {"plan": plan, record_type: rowid}
        if websocket_id:
            body["websocket-id"] = websocket_id
        return await self._write("POST", RUN_PLAN, body, read_timeout=timeout)

    async def websocket_headers(self, *, relogin: bool = False) -> dict[str, str]:
        """Headers for the websocket handshake: the bearer token (after a login if needed) and the database."""
        if self._token is None or relogin:
            await self._login(self._token_generation)
        return {"Authorization": f"Bearer {self._token}"} | self.settings.database_header


def _int(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _safe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
