"""The Scollect (SMAX) API as an ASGI app: every endpoint of the vendor's document, with its quirks.

Errors are HTTP 200 with the error inside the body, in whichever envelope the document shows for that endpoint.
Only authentication fails with a real status (flask-jwt-extended's 401 and {"msg": ...}), and requests Flask
itself would reject (wrong Content-Type, broken JSON, unknown route) get Werkzeug's HTML error pages.

Token expiry is the exception to the exception: the document says /getportfoliolist and /getaccountbysocial
have "error handling ... for token expiration" in the view itself, so those two answer an expired token the
way the views answer every error, in the envelope at HTTP 200 with the code the login error uses:
{"result": [{"error": "Token has expired"}, 401], "state": "SUCCESS"}. Every other endpoint answers it with
flask-jwt-extended's HTTP 401 {"msg": "Token has expired"}.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collections_mcp.sandbox.http import instrument
from collections_mcp.sandbox.scollect import responses as r
from collections_mcp.sandbox.scollect.auth import TokenError, TokenRegistry
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig
from collections_mcp.sandbox.scollect.fields import (
    ACCOUNT_FIELDS,
    EXTERNAL_PAYMENT_FIELDS,
    EXTERNAL_PAYMENT_NONBLANK,
    IMMUTABLE_ACCOUNT_FIELDS,
    PAYMENT_UPDATE_FIELDS,
    PERMISSION_FIELDS,
    AccountValue,
)
from collections_mcp.sandbox.scollect.formats import is_callback_time, is_phone, is_ssn, money, parse_amount, parse_ymd
from collections_mcp.sandbox.scollect.permissions import InvalidPermissionValue, coerce_permission
from collections_mcp.sandbox.scollect.store import ScollectStore

Handler = Callable[[Request], Awaitable[Response]]
Clock = Callable[[], datetime]

NOT_FOUND: Final = "Data not found for this filenumber"
_PHONE_FORMAT: Final = "Invalid phone number format. Use ###-###-####"
_C2C_OK: Final = {
    "ErrorMessage": None,
    "Errors": None,
    "ResultObject": None,
    "Success": True,
    "SuccessRedirectUrl": None,
}


class _BadRequest(Exception):
    """What Flask's request.get_json() raises: the view never runs and Werkzeug answers with a status page."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Missing(Exception):
    """A required body field is absent or blank."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Body:
    """A request's JSON object with the vendor's way of reading fields."""

    def __init__(self, data: Any) -> None:
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str) -> str | None:
        """A field as text; numbers are accepted as their text, lists and objects are not text."""
        value = self.data.get(name)
        if value is None or isinstance(value, list | dict):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def required(self, *names: str) -> list[str]:
        """The fields' text, stripped; _Missing for the first absent or blank one."""
        values = []
        for name in names:
            value = self.text(name)
            if value is None or not value.strip():
                raise _Missing(name)
            values.append(value.strip())
        return values

    def optional(self, name: str) -> str | None:
        value = self.text(name)
        return value.strip() if value is not None and value.strip() else None


async def _json_body(request: Request) -> _Body:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise _BadRequest(415)
    try:
        return _Body(json.loads(await request.body()))
    except ValueError:
        raise _BadRequest(400) from None


class _ScollectAPI:
    """The endpoints; each returns exactly what the vendor's Flask view would."""

    def __init__(self, store: ScollectStore, config: ScollectSandboxConfig, tokens: TokenRegistry, clock: Clock):
        self.store = store
        self.config = config
        self.tokens = tokens
        self.clock = clock

    def protected(self, handler: Handler, *, expiry_in_envelope: bool = False) -> Handler:
        """flask-jwt-extended's @jwt_required(): the token is checked before the view reads its body.
        With `expiry_in_envelope` the view catches an expired token itself (see the module docstring)."""

        async def endpoint(request: Request) -> Response:
            try:
                self.tokens.authenticate(request.headers.get("authorization"))
            except TokenError as exc:
                if expiry_in_envelope and exc.expired:
                    return r.error_with_code(exc.msg, exc.status)
                return r.auth_failure(exc.status, exc.msg)
            return await _run(handler, request)

        return endpoint

    # -- authentication --------------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        body = await _json_body(request)
        apikey, pin = body.data.get("apikey"), body.data.get("pin")
        if apikey != self.config.api_key or pin != self.config.pin:
            return r.error_with_code("Invalid API Credentials.", 401)
        token = self.tokens.issue(self.config.api_key, self.config.pin)
        request.app.state.logins += 1
        return r.ok({"access_token": token})

    # -- reads -----------------------------------------------------------------------------------------------

    async def portfolio_list(self, request: Request) -> Response:
        return r.ok(self.store.portfolios())

    async def account_by_social(self, request: Request) -> Response:
        ssn = request.path_params["ssn"]
        accounts = self.store.accounts_by_ssn(ssn) if is_ssn(ssn) else []
        return r.ok(accounts) if accounts else r.error(f"SSN of {ssn} not found")

    async def accounts_in_portfolio(self, request: Request) -> Response:
        (portfolio,) = (await _json_body(request)).required("portfolio")
        return r.ok(self.store.portfolio_rows(portfolio))

    async def attempts(self, request: Request) -> Response:
        # The document's odd double wrapping, for results and for "none" alike.
        return r.ok({"result": self.store.attempts(request.path_params["filenumber"])})

    async def emails(self, request: Request) -> Response:
        rows = self.store.emails(request.path_params["filenumber"])
        return r.ok(rows) if rows else r.empty()

    async def email_stats(self, request: Request) -> Response:
        stats = self.store.email_stats(request.path_params["filenumber"])
        return r.ok([stats]) if stats else r.empty()

    async def phones(self, request: Request) -> Response:
        file_number = request.path_params["filenumber"]
        rows = self.store.phones(file_number)
        return r.ok(rows) if rows else r.error(f"File number {file_number} does not have associated phone numbers.")

    async def notes(self, request: Request) -> Response:
        file_number = request.path_params["filenumber"]
        rows = self.store.notes(file_number)
        return r.ok(rows) if rows else r.error(f"File number {file_number} does not have any notes or may not exist.")

    async def payments(self, request: Request) -> Response:
        file_number = request.path_params["filenumber"]
        if not self.store.exists(file_number):
            return r.error_with_code(f"File number {file_number} does not exist.", 404)
        return r.ok(self.store.payments(file_number))

    async def account(self, request: Request) -> Response:
        account = self.store.find_account(request.path_params["filenumber"])
        return r.ok([account]) if account else r.empty()

    async def al_account_data(self, request: Request) -> Response:
        (file_number,) = (await _json_body(request)).required("FileNumber")
        account = self.store.find_account(file_number)
        if account is None:
            return r.error_with_code("This file number does not exist in the system", 404)
        permissions = self.store.permissions(file_number)
        phones = [p["phonenumber"] for p in self.store.phones(file_number)] + ["", ""]
        row = {
            "birthdate": account["birthdate"],
            "currentbalance": account["currentbalance"],
            "filenumber": account["filenumber"],
            "fullName": account["fullname"],
            "id": account["id"],
            "minimumonetimepayment": permissions["minimumonetimepayment"] or "0.00",
            "minimumpayment": permissions["minimumpayment"] or "0.00",
            "phone1": phones[0],
            "phone2": phones[1],
            "sifamount": permissions["sifamount"] or "0.00",
            "sifnumberofpay": permissions["sifnumberofpay"] or 0,
            "socialsecuritynumber": str(account["socialsecuritynumber"] or "")[-4:],
        }
        return r.ok({"success": [row]})

    async def al_payment_data(self, request: Request) -> Response:
        body = await _json_body(request)
        (file_number,) = body.required("FileNumber")
        rows = self.store.payment_methods(file_number, body.optional("paymentMethod"), body.optional("last4Card"))
        if not rows:
            return r.error_with_code("The payment data based on your search criteria does not exist", 404)
        return r.ok({"success": rows})

    async def last_pay_info(self, request: Request) -> Response:
        (file_number,) = (await _json_body(request)).required("filenumber")
        if not self.store.exists(file_number):
            return r.error(NOT_FOUND)
        last = self.store.last_payment(file_number)
        return r.ok({"data": [last] if last else []})

    async def search_by_phone(self, request: Request) -> Response:
        (phone,) = (await _json_body(request)).required("PhoneNumber")
        accounts = self.store.accounts_by_phone(phone)
        if not accounts:
            return r.error_with_code("This phone number does not exist in the system", 404)
        keys = ("address", "birthdate", "city", "filenumber", "firstname", "lastname", "state", "zip")
        rows = [{**{k: a[k] for k in keys}, "ssn": str(a["socialsecuritynumber"] or "")[-4:]} for a in accounts]
        return r.ok({"success": rows})

    # -- writes ----------------------------------------------------------------------------------------------

    async def insert_phone(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, phone, phonetype, status, source = body.required(
            "filenumber", "phonenumber", "phonetype", "phonestatus", "source"
        )
        if not is_phone(phone):
            return r.error_with_code(_PHONE_FORMAT, 400)
        if not self.store.insert_phone(file_number, phone, phonetype, status, source, self.clock()):
            return r.error(NOT_FOUND)
        return r.ok({"success": "Phone number inserted successfully"})

    async def update_phone(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, phone = body.required("filenumber", "phonenumber")
        phonetype, status = body.optional("phonetype"), body.optional("phonestatus")
        if phonetype is None and status is None:
            return r.error_with_code("You need to provide at least one field to update", 400)
        if not is_phone(phone):
            return r.error_with_code(_PHONE_FORMAT, 400)
        if not self.store.exists(file_number):
            return r.error(NOT_FOUND)
        if self.store.update_phone(file_number, phone, phonetype, status, self.clock()) == 0:
            return r.error_with_code(f"Phone number {phone} not found for this filenumber", 404)
        return r.ok({"success": "Phone number updated successfully"})

    async def insert_attempt(self, request: Request) -> Response:
        body = await _json_body(request)
        phone, dispo, agent, kind, file_number = body.required("phonenumber", "dispo", "agent", "type", "filenumber")
        if not is_phone(phone):
            return r.error_with_code(_PHONE_FORMAT, 400)
        inserted = self.store.insert_attempt(
            file_number, phonenumber=phone, dispo=dispo, agent=agent, attempt_type=kind, now=self.clock()
        )
        if not inserted:
            return r.error_with_code(NOT_FOUND, 400)
        return r.ok({"success": "Attempt inserted successfully"})

    async def insert_note(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, collector, _ = body.required("filenumber", "collectorname", "logmessage")
        message = body.text("logmessage") or ""  # stored as sent: its whitespace is part of the note
        if not self.store.insert_note(file_number, collector, message, self.clock()):
            return r.error_with_code(NOT_FOUND, 400)
        return r.ok({"success": "Noteline inserted successfully"})

    async def update_permissions(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, fieldname = body.required("filenumber", "fieldname")
        if not body.has("fieldvalue"):
            raise _Missing("fieldvalue")
        kind = PERMISSION_FIELDS.get(fieldname)
        if kind is None:
            return r.error_with_code(f"The field {fieldname} does not exist in the account permissions table.", 404)
        try:
            value = coerce_permission(kind, body.data["fieldvalue"])
        except InvalidPermissionValue as exc:
            return r.error_with_code(f"Invalid value for {fieldname}: {exc}", 400)
        if not self.store.update_permission(file_number, fieldname, value):
            return r.error(NOT_FOUND)
        return r.ok({"success": "Account permissions table updated successfully"})

    async def update_dbase(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, fieldname = body.required("filenumber", "fieldname")
        if not body.has("fieldvalue"):
            raise _Missing("fieldvalue")
        if fieldname not in ACCOUNT_FIELDS:
            return r.error_with_code(f"The field {fieldname} does not exist in the dbase table.", 404)
        if fieldname in IMMUTABLE_ACCOUNT_FIELDS:
            return r.error_with_code(f"The field {fieldname} cannot be updated.", 400)
        value = body.data["fieldvalue"]
        if isinstance(value, list | dict):
            return r.error_with_code(f"Invalid value for {fieldname}", 400)
        # Like the vendor's database: whole numbers stay numbers, anything else is stored as text.
        stored: AccountValue = value if value is None or type(value) is int else body.text("fieldvalue")
        if not self.store.update_account_field(file_number, fieldname, stored):
            return r.error(NOT_FOUND)
        return r.ok({"success": "Dbase table updated successfully"})

    async def insert_payment(self, request: Request) -> Response:
        body = await _json_body(request)
        payment = _external_payment(body, schedule=False)
        if isinstance(payment, Response):
            return payment
        if not self.store.insert_external_payments(payment["filenumber"], [payment], "payment", self.clock()):
            return r.error(NOT_FOUND)
        return r.raw({"message": "Payment successfully inserted", "state": "SUCCESS"})

    async def insert_payplan(self, request: Request) -> Response:
        body = await _json_body(request)
        payment = _external_payment(body, schedule=True)
        if isinstance(payment, Response):
            return payment
        schedule = body.data.get("paymentdata")
        if schedule is None or schedule == []:
            raise _Missing("paymentdata")
        if not isinstance(schedule, list):
            return r.error_with_code("paymentdata must be a list of {paymentamount, paymentdate}", 400)
        plan = []
        for item in schedule:
            day = parse_ymd(str(item.get("paymentdate", ""))) if isinstance(item, dict) else None
            amount = parse_amount(item.get("paymentamount")) if isinstance(item, dict) else None
            if day is None or amount is None:
                return r.error_with_code(
                    "Each paymentdata item needs paymentamount (like 100.00) and paymentdate (yyyy-mm-dd)", 400
                )
            plan.append({**payment, "paymentdate": day.isoformat(), "paymentamount": money(amount)})
        if not self.store.insert_external_payments(payment["filenumber"], plan, "payplan", self.clock()):
            return r.error(NOT_FOUND)
        return r.raw({"message": "Payment successfully inserted", "state": "SUCCESS"})

    async def update_payment(self, request: Request) -> Response:
        body = await _json_body(request)
        (file_number,) = body.required("filenumber")
        changes: dict[str, str] = {}
        for name in PAYMENT_UPDATE_FIELDS:
            value = body.data.get(name)
            if value is None or value == "" or value == []:
                continue  # the document: null, "" and [] are ignored
            if name == "acceptedfees":
                fees = _fees_flag(value)
                if fees is None:
                    return r.error_with_code("acceptedfees must be true/false or 1/0", 400)
                changes[name] = fees
            elif isinstance(value, list | dict):
                return r.error_with_code(f"Invalid value for {name}", 400)
            else:
                changes[name] = body.text(name) or ""
        if not changes:
            return r.raw({"state": "TIMEOUT", "status": "At least one update field must be provided."})
        if "paymentdate" in changes and parse_ymd(changes["paymentdate"]) is None:
            return r.error_with_code("Invalid paymentdate format. Use yyyy-mm-dd", 400)
        if self.store.update_pending_payments(file_number, changes) == 0:
            return r.error_with_code(f"No payment info found with filenumber {file_number}", 400)
        return r.ok({"success": "Payments have been updated."})

    async def run_payment(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, date_text, amount_text = body.required("filenumber", "paymentdate", "paymentamount")
        day, amount = parse_ymd(date_text), parse_amount(amount_text)
        if day is None:
            return r.error_with_code("Invalid paymentdate format. Use yyyy-mm-dd", 400)
        if amount is None:
            return r.error_with_code("Invalid paymentamount. Use a positive amount like 100.00", 400)
        run = self.store.run_payment(file_number, day, amount, self.clock())
        if run is None:
            return r.empty()
        return r.raw({"result": run.result, "approvalcode": run.approvalcode, "error": run.error})

    async def create_callback(self, request: Request) -> Response:
        body = await _json_body(request)
        names = ("FileNumber", "Name", "Assignedto", "Callbackdate", "Callbacktime", "Callbackdatemysql")
        values = dict(zip(names, body.required(*names), strict=True))
        for name in ("Callbackdate", "Callbackdatemysql"):
            if parse_ymd(values[name]) is None:
                return r.error_with_code(f"Invalid {name} format. Use yyyy-mm-dd", 400)
        if not is_callback_time(values["Callbacktime"]):
            return r.error_with_code("Invalid Callbacktime format. Use h:mmAM or h:mmPM", 400)
        file_number = values.pop("FileNumber")
        if not self.store.insert_callback(file_number, values, self.clock()):
            return r.empty()
        return r.ok({"Success": "Callback has been uploaded"})

    async def send_email(self, request: Request) -> Response:
        body = await _json_body(request)
        send_type, template = body.required("sendType", "emailTemplate")
        references = body.data.get("referenceNumbers")
        if references is None:
            raise _Missing("referenceNumbers")
        if (
            not isinstance(references, list)
            or not references
            or not all(isinstance(ref, str) and ref.strip() for ref in references)
        ):
            return r.error("referenceNumbers must be a non-empty array of strings")
        if "updateap" not in body.data:
            raise _Missing("updateap")
        update_ap = body.data["updateap"]
        if not isinstance(update_ap, bool):
            return r.error("updateap must be a boolean")
        # C2C gets the whole batch or nothing: check every reference before sending any email.
        for ref in references:
            account = self.store.find_account(ref.strip())
            if account is None:
                return r.error(f"Reference number {ref} not found")
            if not str(account["emailaddress"] or "").strip():
                return r.error(f"No email address on file for reference number {ref}")
        for ref in references:
            self.store.record_email(
                ref.strip(), send_type=send_type, template=template, update_ap=update_ap, now=self.clock()
            )
        return r.ok({"response": dict(_C2C_OK), "success": True})

    async def send_text(self, request: Request) -> Response:
        body = await _json_body(request)
        file_number, template, message_type, environment = body.required(
            "filenumber", "textTemplate", "messageType", "sbt_env"
        )
        permissions = self.store.find_permissions(file_number)
        if permissions is None:
            return r.error(NOT_FOUND)
        phones = self.store.phones(file_number)
        cells = [p["phonenumber"] for p in phones if p["phonetype"] == "CELL"]
        subscriber = permissions.get("textphone") or (cells or [p["phonenumber"] for p in phones] or [None])[0]
        if not subscriber:
            return r.error(f"No active subscribers found for filenumber {file_number}")
        self.store.record_text(
            file_number,
            template=template,
            message_type=message_type,
            environment=environment,
            phonenumber=str(subscriber),
            now=self.clock(),
        )
        return r.ok({"success": True})


def _fees_flag(value: object) -> str | None:
    """acceptedfees arrives as "0"/"1" (insert) or a boolean (update); stored as "0"/"1"."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip().lower()
    return {"0": "0", "1": "1", "true": "1", "false": "0"}.get(text)


def _external_payment(body: _Body, *, schedule: bool) -> dict[str, str] | Response:
    """The fields of insert_payments_external, checked; with a schedule the single date and amount are optional."""
    payment: dict[str, str] = {}
    for name in EXTERNAL_PAYMENT_FIELDS:
        optional = schedule and name in ("paymentdate", "paymentamount")
        value = body.text(name)
        if value is None or (name in EXTERNAL_PAYMENT_NONBLANK and not value.strip()):
            if optional:
                continue
            raise _Missing(name)
        payment[name] = value.strip() if name in EXTERNAL_PAYMENT_NONBLANK else value
    if "paymentdate" in payment:
        day = parse_ymd(payment["paymentdate"])
        if day is None:
            return r.error_with_code("Invalid paymentdate format. Use yyyy-mm-dd", 400)
    if "paymentamount" in payment:
        amount = parse_amount(payment["paymentamount"])
        if amount is None:
            return r.error_with_code("Invalid paymentamount. Use a positive amount like 100.00", 400)
        payment["paymentamount"] = money(amount)
    fees = _fees_flag(body.data.get("acceptedfees"))
    if fees is None:
        return r.error_with_code("acceptedfees must be 0 or 1", 400)
    payment["acceptedfees"] = fees
    return payment


async def _run(handler: Handler, request: Request) -> Response:
    try:
        return await handler(request)
    except _BadRequest as exc:
        return r.werkzeug_page(exc.status)
    except _Missing as exc:
        return r.error(f"Missing {exc.name}")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return r.werkzeug_page(status)


def build_scollect_app(store: ScollectStore, config: ScollectSandboxConfig, *, clock: Clock | None = None) -> Starlette:
    """The simulator app; `app.state` holds store, tokens, logins, request_log, faults and latency."""
    now = clock or (lambda: datetime.now(UTC))
    tokens = TokenRegistry(
        ttl_seconds=config.token_ttl_seconds,
        clock=lambda: now().timestamp(),
        invalid_token_status=config.invalid_token_status,
    )
    api = _ScollectAPI(store, config, tokens, now)
    guard = api.protected

    async def login(request: Request) -> Response:
        return await _run(api.login, request)

    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/getportfoliolist", guard(api.portfolio_list, expiry_in_envelope=True), methods=["GET"]),
        Route("/getaccountbysocial/{ssn}", guard(api.account_by_social, expiry_in_envelope=True), methods=["GET"]),
        Route("/get_accounts_in_portfolio", guard(api.accounts_in_portfolio), methods=["POST"]),
        Route("/getattempts/{filenumber}", guard(api.attempts), methods=["GET"]),
        Route("/getemails/{filenumber}", guard(api.emails), methods=["GET"]),
        Route("/getemailstats/{filenumber}", guard(api.email_stats), methods=["GET"]),
        Route("/getphones/{filenumber}", guard(api.phones), methods=["GET"]),
        Route("/getnotes/{filenumber}", guard(api.notes), methods=["GET"]),
        Route("/getpayments/{filenumber}", guard(api.payments), methods=["GET"]),
        Route("/getaccount/{filenumber}", guard(api.account), methods=["GET"]),
        Route("/insertphone", guard(api.insert_phone), methods=["POST"]),
        Route("/updatephone", guard(api.update_phone), methods=["PUT"]),
        Route("/insertattempt", guard(api.insert_attempt), methods=["POST"]),
        Route("/InsertNoteline", guard(api.insert_note), methods=["POST"]),
        Route("/updatepermissions", guard(api.update_permissions), methods=["PUT"]),
        Route("/updatedbase", guard(api.update_dbase), methods=["PUT"]),
        Route("/insert_payments_external", guard(api.insert_payment), methods=["POST"]),
        Route("/insert_payplan_external", guard(api.insert_payplan), methods=["POST"]),
        Route("/update_payment_external", guard(api.update_payment), methods=["POST"]),
        Route("/run_payment_external", guard(api.run_payment), methods=["POST"]),
        Route("/createCallback", guard(api.create_callback), methods=["POST"]),
        Route("/getAlaccountdata", guard(api.al_account_data), methods=["POST"]),
        Route("/getAlpaymentdata", guard(api.al_payment_data), methods=["POST"]),
        Route("/get_lastpayinfo", guard(api.last_pay_info), methods=["POST"]),
        Route("/searchbyphone", guard(api.search_by_phone), methods=["POST"]),
        Route("/send_email_c2c", guard(api.send_email), methods=["POST"]),
        Route("/send_text", guard(api.send_text), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _http_error})
    app.router.redirect_slashes = False  # Werkzeug answers 404 for "/getportfoliolist/", not a redirect
    app.state.store = store
    app.state.config = config
    app.state.tokens = tokens
    app.state.logins = 0
    instrument(app, latency_seconds=config.latency_seconds)
    return app
