"""The Collect! simulator as one Starlette app: authorization server, REST API and websocket on one port.

Followed from the public help (cv13):
- https://collect.org/cv13/Help/howtousetherestapi.html: POST /api/v1/auth/login {op_id, op_password} ->
  {"status", "result": {"nx_operator", "access_token", "refresh_token"}}; "200 is good, everything else is a
  failure"; `x-collect-database: cv_<name>` selects the database (default cv_masterdb); a database without
  configuration answers "not authorized"; the websocket on the API's port at /websocket (proxied) or /.
- https://collect.org/cv13/Help/howtousetherestapiendpointreadrecords.html: GET /api/v1/collect/data/{record},
  /{rowid}, /{rowid}/counts, /{rowid}/{sub-records}; {"type": {recId, rowId, numRecords, numPages}, "data"};
  Limit and Page parameters (default page size 1000: the page's example has 15398 records on 16 pages).
- https://collect.org/cv13/Help/howtousetherestapiendpointcreaterecords.html: POST {"business-logic", "data"}.
- https://collect.org/cv13/Help/howtousetherestapiendpointupdaterecords.html: PATCH {"data"} -> {"type", "data"}.
- https://collect.org/cv13/Help/howtousetherestapiendpointdeleterecords.html: DELETE -> {"type"}.
- https://collect.org/cv13/Help/howtousetherestapiendpointuserinterfaceforms.html: GET /api/v1/collect/ui/forms/
  {formid}; filter syntax `field__nlike='%:%',...`, `fields=a,b`, `sort=field` from its example.
- https://collect.org/cv13/Help/howtousetherestapiendpointcontactplans.html: runplan (see plans.py).

Where the docs are silent this simulator decides, and says so: every body carries "status" (the HTTP status
is the same number); failures are {"status", "message"}; a list read's "data" is a list of records; filter
operators are eq (no suffix), ne, gt, gte, lt, lte, like, nlike, in, nin, values 'quoted' ('' escapes a
quote) or bare; `sort=-field` sorts descending; `like` is case-insensitive (SQLite's); business-logic 1
returns the staged record without inserting, 0 inserts as given, 2-4 also fill the record's defaults
(creation date/time, originator); there is no refresh endpoint (none is documented).

Test hooks on `app.state`: store, config, request_log (HTTP requests and websocket handshakes, the latter as
GET /websocket or GET / with status 101 or 403), faults, latency, in_flight (from `sandbox.http.instrument`),
tokens (`expire_all()`), logins (count), websocket_messages, plan_faults (see `PlanFaults`), sockets (open
websockets by id), activity (`wait_quiet()`: every socket closed and every plan ended; `outcomes` of the runs).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from collections_mcp.sandbox.collect.auth import Session, TokenRegistry, TokenRejected
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.collect.demo_data import FORMS
from collections_mcp.sandbox.collect.plans import (
    PLANS,
    RECORD_TYPES,
    Activity,
    Job,
    PlanCancelled,
    PlanFailed,
    PlanFaults,
    PlanOutcome,
    PlanRun,
    Socket,
    WebSocketMessage,
    new_job_id,
    new_websocket_id,
)
from collections_mcp.sandbox.collect.store import CollectDatabase, CollectStore, QueryError, Row, Table, table
from collections_mcp.sandbox.http import RecordedRequest, instrument

DATABASE_HEADER = "x-collect-database"
MAX_LIMIT = 1000


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"status": status} | body, status_code=status)


def _failure(status: int, message: str) -> JSONResponse:
    return _answer({"message": message}, status)


async def _cancel_on_hang_up(request: Request, plan: anyio.CancelScope) -> None:
    """End a running plan when its caller hangs up the runplan POST (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue
    plan.cancel()


def build_collect_app(
    store: CollectStore, config: CollectSandboxConfig | None = None, *, clock: Callable[[], float] = time.time
) -> Starlette:
    """The simulator over `store`; `clock` (epoch seconds) drives token expiry and the plans' dates."""
    settings = config or CollectSandboxConfig()
    tokens = TokenRegistry(ttl_seconds=settings.token_ttl_seconds, clock=clock)
    activity = Activity()
    sockets = activity.sockets
    messages: list[WebSocketMessage] = []
    plan_faults = PlanFaults()

    def now() -> datetime:
        return datetime.fromtimestamp(clock(), UTC).replace(tzinfo=None)

    def database_of(headers: Any) -> CollectDatabase:
        name = headers.get(DATABASE_HEADER) or settings.default_database
        if name not in store.databases:
            raise ApiError(401, f"Not authorized: database {name} has no configuration on this server")
        return store.database(name)

    def session_of(headers: Any, database: CollectDatabase) -> Session:
        try:
            return tokens.authenticate(headers.get("authorization"), database.name)
        except TokenRejected as exc:
            raise ApiError(401, str(exc)) from None

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        return body

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _failure(exc.status, exc.message)
            except QueryError as exc:
                return _failure(400, str(exc))

        return endpoint

    # -- authorization server ------------------------------------------------------------------------

    async def login(request: Request) -> Response:
        database = database_of(request.headers)
        body = await json_body(request)
        op_id, password = body.get("op_id"), body.get("op_password")
        if not isinstance(op_id, str) or not isinstance(password, str):
            raise ApiError(400, "op_id and op_password are required")
        found = database.rows("operator", op_id=op_id.upper())
        if not found or found[0]["op_password"] != password:
            raise ApiError(401, "Invalid Operator ID or Password")
        operator = found[0]
        app.state.logins += 1
        nx_operator = {
            "op_rowid": operator["op_rowid"], "op_id": operator["op_id"], "op_name": operator["op_name"],
            "op_level": int(operator["op_level"]), "op_function": int(operator["op_function"]),
        }  # fmt: skip
        access = tokens.issue(operator["op_id"], database.name)
        refresh = tokens.issue(operator["op_id"], database.name, kind="refresh")
        return _answer({"result": {"nx_operator": nx_operator, "access_token": access, "refresh_token": refresh}})

    # -- records -----------------------------------------------------------------------------------------

    def authorised(request: Request) -> tuple[CollectDatabase, Session]:
        database = database_of(request.headers)
        return database, session_of(request.headers, database)

    def paging(request: Request) -> tuple[int, int]:
        params = {key.lower(): value for key, value in request.query_params.items()}
        try:
            limit = int(params.get("limit", MAX_LIMIT))
            page = int(params.get("page", 1))
        except ValueError:
            raise ApiError(400, "limit and page take whole numbers") from None
        if not 1 <= limit <= MAX_LIMIT or page < 1:
            raise ApiError(400, f"limit must be 1 to {MAX_LIMIT} and page at least 1")
        return limit, page

    def query(request: Request) -> tuple[str | None, str | None, str | None]:
        """The filter, fields and sort parameters."""
        params = {key.lower(): value for key, value in request.query_params.items()}
        if "join" in params:
            raise ApiError(400, "The simulator does not support join")
        return params.get("filter"), params.get("fields"), params.get("sort")

    def rowid_of(request: Request) -> int:
        raw = request.path_params["rowid"]
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, f"'{raw}' is not a rowid") from None

    def type_of(spec: Table, **extra: Any) -> dict[str, Any]:
        return {"recId": spec.name, "rowId": spec.rowid} | extra

    def existing(database: CollectDatabase, spec: Table, rowid: int, fields: str | None = None) -> Row:
        row = database.get(spec.name, rowid, fields)
        if row is None:
            raise ApiError(404, f"No {spec.name} record with rowid {rowid}")
        return row

    async def read_list(request: Request) -> Response:
        database, _ = authorised(request)
        spec = table(request.path_params["record"])
        limit, page = paging(request)
        filter_text, fields, sort = query(request)
        result = database.read(spec.name, filter_text=filter_text, fields=fields, sort=sort, limit=limit, page=page)
        return _answer({"type": type_of(spec, numRecords=result.total, numPages=result.pages), "data": result.rows})

    async def read_one(request: Request) -> Response:
        database, _ = authorised(request)
        spec = table(request.path_params["record"])
        row = existing(database, spec, rowid_of(request), query(request)[1])
        return _answer({"type": type_of(spec), "data": row})

    async def read_sub(request: Request) -> Response:
        database, _ = authorised(request)
        spec = table(request.path_params["record"])
        rowid = rowid_of(request)
        existing(database, spec, rowid)
        sub = request.path_params["sub"]
        if sub == "counts":
            return _answer({"type": type_of(spec), "data": database.counts(spec.name, rowid)})
        child = table(sub)
        limit, page = paging(request)
        filter_text, fields, sort = query(request)
        result = database.read(
            child.name, filter_text=filter_text, fields=fields, sort=sort, limit=limit, page=page, parent=(spec.name, rowid)
        )
        return _answer({"type": type_of(child, numRecords=result.total, numPages=result.pages), "data": result.rows})

    def writable(name: str) -> Table:
        spec = table(name)
        if not spec.writable:
            raise ApiError(403, f"{spec.name} records cannot be changed through the API")
        return spec

    def with_defaults(spec: Table, row: Row, session: Session) -> Row:
        """Pre-logic: the defaults Collect! fills on a new record."""
        stamp = now()
        defaults: dict[str, dict[str, str]] = {
            "contact": {"co_originator": session.op_id, "co_who": session.op_id, "co_who_from": session.op_id,
                        "co_creation_date": stamp.date().isoformat(), "co_creation_time": stamp.strftime("%H:%M:%S"),
                        "co_date": stamp.date().isoformat(), "co_priority": "30", "co_done": "0"},
            "notes": {"no_date": stamp.date().isoformat(), "no_time": stamp.strftime("%H:%M:%S"),
                      "no_operator": session.op_id},
            "transaction": {"tr_posted_date": stamp.date().isoformat(), "tr_operator": session.op_id},
        }  # fmt: skip
        return defaults.get(spec.name, {}) | {name: value for name, value in row.items() if value != ""}

    async def create(request: Request) -> Response:
        database, session = authorised(request)
        spec = writable(request.path_params["record"])
        body = await json_body(request)
        logic = body.get("business-logic", 4)
        if isinstance(logic, bool) or logic not in (0, 1, 2, 3, 4):
            raise ApiError(400, "business-logic must be 0, 1, 2, 3 or 4")
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            raise ApiError(400, "data must be an object of field values")
        row = database.check_row(spec.name, data)
        if logic in (1, 2, 4):
            row = with_defaults(spec, row, session)
        if logic == 1:
            return _answer({"type": type_of(spec), "data": {spec.rowid: ""} | row})
        return _answer({"type": type_of(spec), "data": database.insert(spec.name, row)})

    async def update(request: Request) -> Response:
        database, _ = authorised(request)
        spec = writable(request.path_params["record"])
        rowid = rowid_of(request)
        body = await json_body(request)
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            raise ApiError(400, "data must be an object of the fields to change")
        row = database.update(spec.name, rowid, data)
        if row is None:
            raise ApiError(404, f"No {spec.name} record with rowid {rowid}")
        return _answer({"type": type_of(spec), "data": row})

    async def delete(request: Request) -> Response:
        database, _ = authorised(request)
        spec = writable(request.path_params["record"])
        rowid = rowid_of(request)
        if not database.delete(spec.name, rowid):
            raise ApiError(404, f"No {spec.name} record with rowid {rowid}")
        return _answer({"type": type_of(spec)})

    async def form(request: Request) -> Response:
        authorised(request)
        formid = request.path_params["formid"]
        definition = FORMS.get(formid)
        if definition is None:
            raise ApiError(404, f"No form with id {formid}")
        return _answer({"data": definition})

    # -- contact plans -------------------------------------------------------------------------------------

    async def run_plan(request: Request) -> Response:
        database, session = authorised(request)
        body = await json_body(request)
        code = body.get("plan")
        if not isinstance(code, str) or not code:
            raise ApiError(400, "plan (the contact plan's cp_code) is required")
        named = [name for name in RECORD_TYPES if name in body]
        if len(named) != 1:
            raise ApiError(400, f"Give exactly one record to run the plan on: {', '.join(RECORD_TYPES)}")
        record_type = named[0]
        raw_rowid = body[record_type]
        if isinstance(raw_rowid, bool) or not isinstance(raw_rowid, int | str) or not str(raw_rowid).isdigit():
            raise ApiError(400, f"{record_type} must be a rowid")
        rowid = int(raw_rowid)
        plan = PLANS.get(code) if database.rows("contact_plan", cp_code=code) else None
        if plan is None:
            raise ApiError(404, f"No contact plan with code {code}")
        existing(database, table(record_type), rowid)
        websocket_id = body.get("websocket-id")
        socket: Socket | None = None
        if websocket_id:
            socket = sockets.get(str(websocket_id))
            if socket is None or socket.closed or socket.database != database.name:
                raise ApiError(400, f"websocket-id {websocket_id} is not an open Web Socket of this server")
        elif plan.prompts:
            raise ApiError(400, f"Contact plan {code} prompts and needs a websocket-id; nothing was changed")

        job = Job(socket, new_job_id(), lambda: settings.prompt_timeout_seconds) if socket else None
        run = PlanRun(code=code, database=database, record_type=record_type, rowid=rowid, operator=session.op_id,
                      now=now(), job=job, faults=plan_faults)  # fmt: skip
        run_id = job.id if job is not None else new_job_id()
        outcome = PlanOutcome(code, record_type, rowid, job.id if job else None, "failed", 499, "the caller hung up")
        activity.running[run_id] = run
        if job is not None:
            job.socket.jobs[job.id] = job
        unexpected: Exception | None = None  # a simulator bug: raised outside the task group, unwrapped
        try:
            with anyio.CancelScope() as plan_scope:
                async with anyio.create_task_group() as watch:
                    watch.start_soon(_cancel_on_hang_up, request, plan_scope)
                    try:
                        if plan_faults.withhold_start:
                            plan_faults.withhold_start = False
                            await anyio.sleep_forever()  # ended by the caller hanging up the POST
                        if job is not None:
                            await job.socket.send(job.envelope("start"))
                        await plan.run(run)
                        database.apply(run.work)  # the one transaction: only a completed plan commits
                        outcome.outcome, outcome.status, outcome.message = "completed", 200, ""
                    except PlanCancelled:
                        message = f"Contact plan {code} was cancelled; its changes were rolled back"
                        outcome.outcome, outcome.status, outcome.message = "cancelled", 200, message
                    except PlanFailed as exc:
                        outcome.status, outcome.message = exc.status, f"{exc.message}; contact plan {code} was rolled back"
                    except Exception as exc:
                        unexpected = exc
                        outcome.status, outcome.message = 500, f"simulator error {type(exc).__name__}"
                    finally:
                        watch.cancel_scope.cancel()
        finally:
            if job is not None:
                job.socket.jobs.pop(job.id, None)
            activity.running.pop(run_id, None)
            activity.finished(outcome)
        if unexpected is not None:
            raise unexpected
        if outcome.outcome == "failed":
            raise ApiError(outcome.status, outcome.message)
        return _answer({"message": outcome.message} if outcome.message else {})

    # -- websocket ---------------------------------------------------------------------------------------

    async def websocket(ws: WebSocket) -> None:
        # The HTTP middleware does not see websocket scopes: log the handshake so tests can check its headers.
        handshake = RecordedRequest(method="GET", path=ws.url.path, query=dict(ws.query_params),
                                    headers={key.lower(): value for key, value in ws.headers.items()}, json=None, text="")  # fmt: skip
        app.state.request_log.append(handshake)
        try:
            database = database_of(ws.headers)
            session_of(ws.headers, database)
        except ApiError:
            handshake.status = 403
            await ws.close(code=1008)  # before accept: the handshake is refused with HTTP 403
            return
        handshake.status = 101
        await ws.accept()
        socket = Socket(new_websocket_id(), database.name, ws.send_text, ws.close, messages)
        sockets[socket.id] = socket
        activity.changed()
        try:
            # PlanFailed here means the connection broke under us: it ends like a disconnect.
            with contextlib.suppress(PlanFailed):
                await socket.send({"type": "key", "message": socket.id})
                while True:
                    message = await ws.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None and message.get("bytes") is not None:
                        text = message["bytes"].decode("utf-8", errors="replace")
                    if text is not None:
                        socket.received(text)
        finally:
            socket.mark_closed()
            sockets.pop(socket.id, None)
            activity.changed()

    app = Starlette(
        routes=[
            Route("/api/v1/auth/login", guarded(login), methods=["POST"]),
            Route("/api/v1/collect/ui/forms/{formid}", guarded(form), methods=["GET"]),
            Route("/api/v1/collect/app/runplan", guarded(run_plan), methods=["POST"]),
            Route("/api/v1/collect/data/{record}", guarded(read_list), methods=["GET"]),
            Route("/api/v1/collect/data/{record}", guarded(create), methods=["POST"]),
            Route("/api/v1/collect/data/{record}/{rowid}", guarded(read_one), methods=["GET"]),
            Route("/api/v1/collect/data/{record}/{rowid}", guarded(update), methods=["PATCH"]),
            Route("/api/v1/collect/data/{record}/{rowid}", guarded(delete), methods=["DELETE"]),
            Route("/api/v1/collect/data/{record}/{rowid}/{sub}", guarded(read_sub), methods=["GET"]),
            WebSocketRoute("/websocket", websocket),
            WebSocketRoute("/", websocket),
        ]
    )
    app.state.store = store
    app.state.config = settings
    app.state.tokens = tokens
    app.state.logins = 0
    app.state.websocket_messages = messages
    app.state.plan_faults = plan_faults
    app.state.sockets = sockets
    app.state.activity = activity
    instrument(app, latency_seconds=settings.latency_seconds)
    return app
