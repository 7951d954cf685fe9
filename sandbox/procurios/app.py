"""The Procurios contact-moment API simulator, under /l/contact_moment_api/contact_moment.

- GET  ""                    contact moments, 25 a page, `page`, `since` (yyyy-mm-ddThh:mm:ss), `relationIds`
- GET  /types                the contact-moment types, with a link to each schema
- GET  /type/{type}/schema   the type's draft-07 schema, wrapped in a one-element array as the seed shows
- GET  /tags                 {"id": "name", ...}
- POST /type/{type}          create; 400 {"errors": "..."} with the seed's texts for unknown sender/recipients

Every request needs the bearer token (401 otherwise) and, by default, the contact-moment media type in
Accept (406 otherwise).
"""

from __future__ import annotations

import hmac
import json
import re
from datetime import datetime
from typing import Any, Final

from jsonschema import Draft7Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collections_mcp.sandbox.http import instrument
from collections_mcp.sandbox.procurios.config import MEDIA_TYPE, ProcuriosSandboxConfig
from collections_mcp.sandbox.procurios.store import ProcuriosStore, wall_clock

BASE: Final = "/l/contact_moment_api/contact_moment"
SENDER_UNAVAILABLE: Final = "Sender is not available in CRM"
RECIPIENTS_UNAVAILABLE: Final = "Not all recipients are available in CRM"
_SINCE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
# Fields every type shares; the rest of a body is the type's own and is stored as such.
_COMMON: Final = frozenset(
    {"contactMomentId", "subject", "dateTime", "senderId", "recipients", "action_code", "reference", "tagIds"}
)


class ProcuriosResponse(JSONResponse):
    media_type = MEDIA_TYPE


def _errors(status: int, message: str) -> Response:
    return ProcuriosResponse({"errors": message}, status_code=status)


def _relation_ids(request: Request) -> list[int] | None:
    """relationIds as one integer, a comma-separated list, or an array (relationIds[]=1&relationIds[]=2)."""
    values = request.query_params.getlist("relationIds") + request.query_params.getlist("relationIds[]")
    if not values:
        return None
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            if not part.strip().isdigit():
                raise ValueError(part)
            ids.append(int(part))
    return ids


def _date_time(value: Any) -> str | None:
    """dateTime as 'yyyy-mm-dd hh:mm:ss' (the schema) or ISO 8601 with offset (the seed's example)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value).replace(" ", "T"))
    return wall_clock(parsed)


def _store(request: Request) -> ProcuriosStore:
    """The store on app.state, read per request: replacing it resets the simulator."""
    store: ProcuriosStore = request.app.state.store
    return store


def build_procurios_app(store: ProcuriosStore, config: ProcuriosSandboxConfig | None = None) -> Starlette:
    """The simulator as an ASGI app; `app.state` has store, request_log, faults and latency."""
    settings = config or ProcuriosSandboxConfig()

    def refused(request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.token.encode()):
            return ProcuriosResponse(
                {"errors": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="Procurios"'}
            )
        accept = request.headers.get("accept", "").replace(" ", "").lower()
        if settings.require_media_type and "application/vnd.procurios.contact_moment+json;version=1" not in accept:
            return _errors(406, f"Not acceptable: send Accept: {MEDIA_TYPE}")
        return None

    async def list_moments(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        raw_page = request.query_params.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            return _errors(400, "page must be a positive integer")
        since = request.query_params.get("since")
        if since is not None and not _SINCE.match(since):
            return _errors(400, "since must be formatted as yyyy-mm-ddThh:mm:ss")
        try:
            relations = _relation_ids(request)
        except ValueError:
            return _errors(400, "relationIds must be integers")
        return ProcuriosResponse(_store(request).list_moments(int(raw_page), since, relations))

    async def types(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        rows = [
            row
            | {"_links": {"schema": {"href": f"{request.base_url}{BASE[1:]}/type/{row['id']}/schema", "type": ["GET"]}}}
            for row in _store(request).types()
        ]
        return ProcuriosResponse(rows)

    async def schema(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        found = _store(request).type_schema(request.path_params["type"])
        if found is None:
            return _errors(404, "Unknown contact moment type")
        return ProcuriosResponse([found])

    async def tags(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        return ProcuriosResponse({str(key): name for key, name in _store(request).tags().items()})

    async def create(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        type_id = request.path_params["type"]
        found = _store(request).type_schema(type_id)
        if found is None:
            return _errors(404, "Unknown contact moment type")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _errors(400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return _errors(400, "The request body must be a JSON object")
        problems = sorted(error.message for error in Draft7Validator(found).iter_errors(body))
        if problems:
            return _errors(400, "; ".join(problems))
        if not _store(request).relation_exists(body["senderId"]):
            return _errors(400, SENDER_UNAVAILABLE)
        if not all(_store(request).relation_exists(relation) for relation in body["recipients"]):
            return _errors(400, RECIPIENTS_UNAVAILABLE)
        if not all(_store(request).tag_exists(tag) for tag in body.get("tagIds") or []):
            return _errors(400, "Not all tags are available")
        try:
            date_time = _date_time(body.get("dateTime"))
        except ValueError:
            return _errors(400, "dateTime must be formatted as yyyy-mm-dd hh:mm:ss")
        own = {key: value for key, value in body.items() if key not in _COMMON}
        return ProcuriosResponse({"contactMomentId": _store(request).create(type_id, body, own, date_time)})

    app = Starlette(
        routes=[
            Route(BASE, list_moments, methods=["GET"]),
            Route(f"{BASE}/types", types, methods=["GET"]),
            Route(f"{BASE}/tags", tags, methods=["GET"]),
            Route(f"{BASE}/type/{{type}}/schema", schema, methods=["GET"]),
            Route(f"{BASE}/type/{{type}}", create, methods=["POST"]),
        ]
    )
    app.state.store = store
    app.state.config = settings
    instrument(app, latency_seconds=settings.latency_ms / 1000)
    return app
