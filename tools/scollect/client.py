"""Scollect wire client: JWT login (apikey + pin), envelope normalisation, retries for reads only.

Vendor field names live here and nowhere else. Every method returns plain vendor rows (dicts) or
raises a `tools.common.errors` exception; turning rows into tool outputs is `models.py`'s job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import anyio
import httpx
from pydantic import SecretStr

from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound
from collections_mcp.tools.common.http import pooled_client, retry_read, send
from collections_mcp.tools.scollect.envelope import VENDOR, is_auth_failure, parse_body, success_message, unwrap
from collections_mcp.tools.scollect.settings import ScollectSettings

Row = dict[str, Any]

# Messages Scollect uses for "this account has none of these" on list reads: an empty list, not an error.
_EMPTY_LIST_WORDING = ("does not have associated phone numbers", "does not have any notes")


def _segment(value: str) -> str:
    return quote(value, safe="")


class ScollectClient:
    """One per server: shares a keep-alive pool and one JWT across all concurrent tool calls."""

    def __init__(self, http: httpx.AsyncClient, api_key: SecretStr, pin: SecretStr, *, timezone: str = "UTC") -> None:
        self._http = http
        self.timezone = timezone  # the zone Scollect writes attempt dates and times in
        self._api_key = api_key
        self._pin = pin
        self._token: str | None = None
        self._token_generation = 0
        self._login_lock = anyio.Lock()
        self.logins = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: ScollectSettings) -> AsyncIterator[ScollectClient]:
        assert settings.base_url and settings.api_key and settings.pin, "enabled settings are complete"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        async with pooled_client(settings.base_url, settings.timeout_seconds, headers=headers) as http:
            yield cls(http, settings.api_key, settings.pin, timezone=settings.timezone)

    # -- transport and auth -------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: Row | None, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await send(self._http, VENDOR, method, path, json=body, headers=headers)

    async def _login(self, stale_generation: int) -> None:
        """Log in unless another task already replaced the token we found stale."""
        async with self._login_lock:
            if self._token is not None and self._token_generation != stale_generation:
                return
            body = {"apikey": self._api_key.get_secret_value(), "pin": self._pin.get_secret_value()}
            response = await self._send("POST", "/login", body, None)
            payload = parse_body(response.status_code, response.text)
            try:
                result = unwrap(response.status_code, payload)
            except VendorError as exc:
                raise VendorAuthError(VENDOR, f"login failed: {exc.message}", status=exc.status) from None
            token = result.get("access_token") if isinstance(result, dict) else None
            if not isinstance(token, str) or not token:
                raise VendorAuthError(VENDOR, "login answered without an access_token")
            self._token = token
            self._token_generation += 1
            self.logins += 1

    async def _authorised(self, method: str, path: str, body: Row | None) -> tuple[int, Any]:
        if self._token is None:
            await self._login(self._token_generation)
        generation = self._token_generation
        response = await self._send(method, path, body, self._token)
        payload = parse_body(response.status_code, response.text) if response.status_code != 401 else None
        if is_auth_failure(response.status_code, payload):
            # Expired or revoked token (HTTP 401, or the vendor's envelope saying so at HTTP 200): log in again
            # once and retry once. A second refusal is final.
            await self._login(generation)
            response = await self._send(method, path, body, self._token)
            payload = parse_body(response.status_code, response.text) if response.status_code != 401 else None
            if is_auth_failure(response.status_code, payload):
                raise VendorAuthError(VENDOR, "the vendor refused a fresh token", status=response.status_code)
        return response.status_code, payload

    async def _call(self, method: str, path: str, body: Row | None = None, *, read: bool) -> Any:
        async def once() -> Any:
            status, payload = await self._authorised(method, path, body)
            return unwrap(status, payload)

        return await retry_read(once) if read else await once()

    async def _list(self, method: str, path: str, body: Row | None = None) -> list[Row]:
        try:
            result = await self._call(method, path, body, read=True)
        except VendorError as exc:
            if any(wording in exc.message for wording in _EMPTY_LIST_WORDING):
                return []
            raise
        if isinstance(result, dict) and "success" in result:
            result = result["success"]
        elif isinstance(result, dict) and "data" in result:
            result = result["data"]
        if not isinstance(result, list):
            raise VendorError(VENDOR, f"expected a list from {path}, got {type(result).__name__}")
        return [row for row in result if isinstance(row, dict)]

    async def _write(self, method: str, path: str, body: Row) -> str:
        return success_message(await self._call(method, path, body, read=False))

    # -- reads ---------------------------------------------------------------------------------

    async def list_portfolios(self) -> list[Row]:
        return await self._list("GET", "/getportfoliolist")

    async def accounts_by_ssn(self, ssn: str) -> list[Row]:
        return await self._list("GET", f"/getaccountbysocial/{_segment(ssn)}")

    async def portfolio_accounts(self, portfolio: str) -> list[Row]:
        return await self._list("POST", "/get_accounts_in_portfolio", {"portfolio": portfolio})

    async def account(self, file_number: str) -> Row:
        rows = await self._list("GET", f"/getaccount/{_segment(file_number)}")
        if not rows:
            raise VendorNotFound(VENDOR, f"no account with file number {file_number}")
        return rows[0]

    async def account_summary(self, file_number: str) -> Row:
        rows = await self._list("POST", "/getAlaccountdata", {"FileNumber": file_number})
        if not rows:
            raise VendorNotFound(VENDOR, f"no account with file number {file_number}")
        return rows[0]

    async def attempts(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getattempts/{_segment(file_number)}")

    async def emails(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getemails/{_segment(file_number)}")

    async def email_stats(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getemailstats/{_segment(file_number)}")

    async def phones(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getphones/{_segment(file_number)}")

    async def notes(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getnotes/{_segment(file_number)}")

    async def payments(self, file_number: str) -> list[Row]:
        return await self._list("GET", f"/getpayments/{_segment(file_number)}")

    async def payment_methods(
        self, file_number: str, payment_method: str | None = None, card_last4: str | None = None
    ) -> list[Row]:
        body: Row = {"FileNumber": file_number}
        if payment_method:
            body["paymentMethod"] = payment_method
        if card_last4:
            body["last4Card"] = card_last4
        return await self._list("POST", "/getAlpaymentdata", body)

    async def last_payment(self, file_number: str) -> list[Row]:
        return await self._list("POST", "/get_lastpayinfo", {"filenumber": file_number})

    async def search_by_phone(self, phone_number: str) -> list[Row]:
        return await self._list("POST", "/searchbyphone", {"PhoneNumber": phone_number})

    # -- writes (never retried: a lost answer does not tell us whether the write landed) ----------

    async def insert_phone(self, file_number: str, phone: str, phone_type: str, status: str, source: str) -> str:
        body = {"filenumber": file_number, "phonenumber": phone, "phonetype": phone_type, "phonestatus": status}
        return await self._write("POST", "/insertphone", body | {"source": source})

    async def update_phone(
        self, file_number: str, phone: str, phone_type: str | None, status: str | None
    ) -> str:
        body: Row = {"filenumber": file_number, "phonenumber": phone}
        if phone_type is not None:
            body["phonetype"] = phone_type
        if status is not None:
            body["phonestatus"] = status
        return await self._write("PUT", "/updatephone", body)

    async def insert_attempt(self, file_number: str, phone: str, disposition: str, agent: str, kind: str) -> str:
        body = {"phonenumber": phone, "dispo": disposition, "agent": agent, "type": kind, "filenumber": file_number}
        return await self._write("POST", "/insertattempt", body)

    async def insert_note(self, file_number: str, collector_name: str, message: str) -> str:
        body = {"filenumber": file_number, "collectorname": collector_name, "logmessage": message}
        return await self._write("POST", "/InsertNoteline", body)

    async def update_permission(self, file_number: str, field: str, value: str) -> str:
        body = {"filenumber": file_number, "fieldname": field, "fieldvalue": value}
        return await self._write("PUT", "/updatepermissions", body)

    async def update_account_field(self, file_number: str, field: str, value: str) -> str:
        body = {"filenumber": file_number, "fieldname": field, "fieldvalue": value}
        return await self._write("PUT", "/updatedbase", body)

    async def create_callback(self, file_number: str, name: str, assigned_to: str, day: str, time: str) -> str:
        body = {
            "FileNumber": file_number,
            "Name": name,
            "Assignedto": assigned_to,
            "Callbackdate": day,
            "Callbacktime": time,
            "Callbackdatemysql": day,
        }
        result = await self._call("POST", "/createCallback", body, read=False)
        if result == []:  # the seed's only createCallback error: {"result": {"result": []}}, no message
            raise VendorNotFound(
                VENDOR, f"no callback was created for {file_number}: the answer was empty, as for an unknown file number"
            )
        return success_message(result)

    async def send_email(self, file_numbers: list[str], template: str, update_permissions: bool) -> Any:
        body = {
            "sendType": "email",
            "emailTemplate": template,
            "referenceNumbers": file_numbers,
            "updateap": update_permissions,
        }
        result = await self._call("POST", "/send_email_c2c", body, read=False)
        response = result.get("response") if isinstance(result, dict) else None
        vendor_ok = isinstance(result, dict) and result.get("success") is True
        if not vendor_ok or (isinstance(response, dict) and response.get("Success") is False):
            detail = response.get("ErrorMessage") if isinstance(response, dict) else None
            raise VendorError(VENDOR, f"the email was not sent: {detail or str(result)[:200]}")
        return result

    async def send_text(self, file_number: str, template: str, message_type: str, environment: str) -> Any:
        body = {"filenumber": file_number, "textTemplate": template, "messageType": message_type, "sbt_env": environment}
        result = await self._call("POST", "/send_text", body, read=False)
        if not (isinstance(result, dict) and result.get("success") is True):
            raise VendorError(VENDOR, f"the text was not sent: {str(result)[:200]}")
        return result

    # -- money (tools come with the payments work; the wire is here) ----------------------------

    async def insert_payment(self, body: Row) -> str:
        return await self._write("POST", "/insert_payments_external", body)

    async def insert_payment_plan(self, body: Row) -> str:
        return await self._write("POST", "/insert_payplan_external", body)

    async def update_pending_payment(self, body: Row) -> str:
        return await self._write("POST", "/update_payment_external", body)

    async def run_payment(self, file_number: str, payment_date: str, amount: str) -> Row:
        """Charge the stored method. The answer has no envelope: {"result", "approvalcode", "error"}."""
        body = {"filenumber": file_number, "paymentdate": payment_date, "paymentamount": amount}
        status, payload = await self._authorised("POST", "/run_payment_external", body)
        if isinstance(payload, dict) and "approvalcode" in payload:
            if not payload.get("approvalcode"):
                raise VendorError(VENDOR, f"payment declined: {payload.get('error') or payload.get('result')}")
            return payload
        unwrap(status, payload)  # raises for every error envelope
        raise VendorError(VENDOR, "the payment answer had no approval code; treat the payment as not made")
