"""Procurios contact-moment wire client: vendor media type on every request, bearer token, schema validation.

Vendor field names live here and nowhere else. A new contact moment is checked against its type's
draft-07 JSON schema (fetched from Procurios, cached per type for a short TTL) before anything is
POSTed, and every violation is reported at once in argument names. Reads are retried; the POST is not.

Seed quirks followed here: the schema endpoint wraps the schema in a one-element array; tags come as an
object of id -> name; 400 answers carry {"errors": "..."}.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple
from urllib.parse import quote

import anyio
import httpx
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import ValidationError as ArgumentsError

from collections_mcp.tools.common.compact import text
from collections_mcp.tools.common.errors import (
    InvalidArgument,
    VendorAuthError,
    VendorError,
    VendorNotFound,
    VendorUnavailable,
)
from collections_mcp.tools.common.http import pooled_client, retry_read, send
from collections_mcp.tools.procurios.models import (
    ContactMoment,
    ContactMomentDraft,
    ContactMomentSchema,
    ContactMomentType,
    SchemaField,
    Tag,
)
from collections_mcp.tools.procurios.settings import ProcuriosSettings

VENDOR = "Procurios"
MEDIA_TYPE: Final = "application/vnd.procurios.contact_moment+json; version=1"
BASE_PATH: Final = "/l/contact_moment_api/contact_moment"
Row = dict[str, Any]

# Schema property -> the create tool's argument. Anything else is type-specific and goes in `fields`.
_ARGUMENT_FOR: Final = {
    "subject": "subject",
    "dateTime": "date_time",
    "senderId": "sender_id",
    "recipients": "recipients",
    "action_code": "action_code",
    "reference": "reference",
    "tagIds": "tag_ids",
}
_ASSIGNED_BY_PROCURIOS: Final = frozenset({"contactMomentId"})
_ARGUMENT_ORDER: Final = (
    "type", "subject", "date_time", "sender_id", "recipients", "action_code", "reference", "tag_ids", "fields",
)  # fmt: skip
_LEADING: Final = ("subject", "dateTime", "senderId", "recipients")  # before the type-specific fields
_TYPE_PATTERN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Problem(NamedTuple):
    """One reason not to send: the argument it is about ("recipients[1]", "fields.contents"), the line the
    caller reads, and whether the type's schema found it (its words win where both checks object)."""

    where: str
    line: str
    schema: bool = False
_CONSTRAINTS: Final = (
    "maxLength", "minLength", "minItems", "maxItems", "uniqueItems", "enum", "minimum", "maximum", "format", "pattern",
)  # fmt: skip


def argument_for(name: str) -> str:
    return _ARGUMENT_FOR.get(name, f"fields.{name}")


def wire_since(value: datetime) -> str:
    """The list endpoint's `since`: yyyy-mm-ddThh:mm:ss on Procurios' clock (an offset is dropped)."""
    return value.replace(tzinfo=None, microsecond=0).isoformat()


def _type_specific(extra: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
    """The `fields` that may go into the body, and a problem for each one that may not."""
    problems: list[Problem] = []
    clashes = sorted(name for name in extra if name in _ARGUMENT_FOR or name in _ARGUMENT_FOR.values())
    if clashes:
        names = ", ".join(argument_for(name) if name in _ARGUMENT_FOR else name for name in clashes)
        problems.append(Problem("fields", f"- fields may only hold type-specific fields; give {names} as its own argument"))
    assigned = sorted(name for name in extra if name in _ASSIGNED_BY_PROCURIOS)
    if assigned:
        problems.append(Problem("fields", f"- {', '.join(assigned)} is assigned by Procurios and cannot be set"))
    refused = set(clashes) | set(assigned)
    return {name: value for name, value in extra.items() if name not in refused}, problems


def _body(common: list[tuple[str, Any]], extra: Row, trailing: list[tuple[str, Any]]) -> Row:
    body: Row = {name: value for name, value in common if value is not None}
    body.update(extra)
    body.update({name: value for name, value in trailing if value is not None})
    return body


def _draft_body(draft: ContactMomentDraft) -> tuple[Row, list[Problem]]:
    extra, problems = _type_specific(draft.fields or {})
    date_time = draft.date_time.replace(microsecond=0).isoformat() if draft.date_time is not None else None
    common = [("subject", draft.subject), ("dateTime", date_time), ("senderId", draft.sender_id),
              ("recipients", list(draft.recipients))]  # fmt: skip
    tag_ids = list(draft.tag_ids) if draft.tag_ids is not None else None
    trailing = [("action_code", draft.action_code), ("reference", draft.reference), ("tagIds", tag_ids)]
    return _body(common, extra, trailing), problems


def wire_body(draft: ContactMomentDraft) -> Row:
    """The POST body in the seed's order; type-specific `fields` merged in at the top level."""
    body, problems = _draft_body(draft)
    if problems:
        raise InvalidArgument("; ".join(problem.line.removeprefix("- ") for problem in problems))
    return body


def _given_body(given: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
    """The body the arguments would make as they are (for the schema check when they are not valid yet)."""
    fields = given.get("fields")
    extra, problems = _type_specific(fields) if isinstance(fields, dict) else ({}, [])
    values = {wire: given.get(argument) for wire, argument in _ARGUMENT_FOR.items()}
    leading = [(wire, values[wire]) for wire in _LEADING]
    trailing = [(wire, value) for wire, value in values.items() if wire not in _LEADING]
    return _body(leading, extra, trailing), problems


def _json_text(given: Mapping[str, Any]) -> dict[str, Any]:
    """Some clients send list/object arguments as JSON text; accept that for the list and object arguments."""
    parsed = dict(given)
    for name in ("recipients", "tag_ids", "fields"):
        value = given.get(name)
        if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
            try:
                parsed[name] = json.loads(value)
            except ValueError:
                continue
    return parsed


def _where(location: tuple[int | str, ...]) -> str:
    if not location:
        return "arguments"
    head = str(location[0])
    return head + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location[1:])


def argument_problems(given: Mapping[str, Any]) -> tuple[ContactMomentDraft | None, list[Problem]]:
    """The arguments as a valid draft, or every way they are not one (pydantic, strict types)."""
    try:
        return ContactMomentDraft.model_validate(given), []
    except ArgumentsError as exc:
        problems: list[Problem] = []
        for error in exc.errors(include_url=False, include_input=False):
            where = _where(tuple(error["loc"]))
            if error["type"] == "extra_forbidden":
                accepted = ", ".join(ContactMomentDraft.model_fields)
                problems.append(Problem(where, f"- {where}: unknown argument (accepted: {accepted})"))
                continue
            message = "required" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
            field = ContactMomentDraft.model_fields.get(str(error["loc"][0])) if error["loc"] else None
            expected = f" (expected: {field.description})" if field is not None and field.description else ""
            problems.append(Problem(where, f"- {where}: {message}{expected}"))
        return None, problems


def merge_problems(problems: list[Problem]) -> list[str]:
    """One line per problem, in argument order; where the schema and pydantic both object, the schema's words."""
    schema_said = {problem.where for problem in problems if problem.schema}
    kept: list[tuple[int, str, str]] = []
    for where, line, from_schema in problems:
        if where in schema_said and not from_schema:
            continue
        head = re.split(r"[.\[]", where, maxsplit=1)[0]
        rank = _ARGUMENT_ORDER.index(head) if head in _ARGUMENT_ORDER else len(_ARGUMENT_ORDER)
        if all(existing != line for _, _, existing in kept):
            kept.append((rank, where, line))
    return [line for _, _, line in sorted(kept, key=lambda item: (item[0], item[1]))]


def _location(error: ValidationError) -> str:
    parts = list(error.absolute_path)
    if not parts:
        return "contact moment"
    head = argument_for(str(parts[0]))
    return head + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts[1:])


def _describe(error: ValidationError) -> str:
    """One violation in words, at the argument the caller gave (values are not echoed)."""
    rule = error.validator
    expected: Any = error.validator_value
    if rule == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        name = match.group(1) if match else str(expected)
        return f"- {argument_for(name)}: required by the schema"
    where = _location(error)
    instance = error.instance
    if rule == "type":
        kinds = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"- {where}: must be of type {kinds}"
    if rule == "uniqueItems":
        return f"- {where}: must not contain duplicates"
    if rule == "maxLength":
        size = len(instance) if isinstance(instance, str) else "?"
        return f"- {where}: at most {expected} characters allowed ({size} given)"
    if rule == "minLength":
        return f"- {where}: at least {expected} characters needed"
    if rule == "minItems":
        return f"- {where}: at least {expected} item(s) needed"
    if rule == "maxItems":
        return f"- {where}: at most {expected} item(s) allowed"
    if rule == "enum":
        return f"- {where}: must be one of {', '.join(json.dumps(value) for value in expected)}"
    if rule in ("minimum", "maximum"):
        return f"- {where}: must be {'at least' if rule == 'minimum' else 'at most'} {expected}"
    if rule == "additionalProperties":
        unexpected = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
        names = ", ".join(argument_for(name) for name in unexpected) or "some fields"
        return f"- {names}: not a field of this contact moment type"
    if rule == "format":
        return f"- {where}: must be a valid {expected}"
    return f"- {where}: {error.message[:200]}"


def _where_in_schema(error: ValidationError) -> str:
    if error.validator == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        return argument_for(match.group(1) if match else str(error.validator_value))
    if error.validator == "additionalProperties":
        return "fields"
    return _location(error)


def schema_problems(schema: Row, body: Row) -> list[Problem]:
    """Every way `body` breaks the draft-07 `schema`, each at the tool argument it is about."""
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda error: [str(part) for part in error.absolute_path])
    return [Problem(_where_in_schema(error), _describe(error), schema=True) for error in errors]


def schema_violations(schema: Row, body: Row) -> list[str]:
    """Every way `body` breaks the draft-07 `schema`, as lines naming the tool's arguments."""
    return merge_problems(schema_problems(schema, body))


def summarise_schema(type_id: str, schema: Row) -> ContactMomentSchema:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    fields: list[SchemaField] = []
    for name, spec in (properties or {}).items():
        if name in _ASSIGNED_BY_PROCURIOS or not isinstance(spec, dict):
            continue
        kind = spec.get("type")
        if kind == "array" and isinstance(spec.get("items"), dict) and spec["items"].get("type"):
            kind = f"array of {spec['items']['type']}"
        elif isinstance(kind, list):
            kind = " or ".join(str(k) for k in kind)
        fields.append(
            SchemaField(
                name=name,
                argument=argument_for(name),
                type=str(kind) if kind else None,
                required=name in required,
                description=text(spec.get("description")) or text(spec.get("title")),
                constraints={key: spec[key] for key in _CONSTRAINTS if key in spec},
            )
        )
    return ContactMomentSchema(type=type_id, fields=fields, json_schema=schema)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _tags(value: Any) -> list[Tag]:
    """Tags come as {"99": "Tag name"}; PHP encodes an empty set as []."""
    pairs = value.items() if isinstance(value, dict) else []
    tags = [Tag(id=tag_id, name=str(name)) for key, name in pairs if (tag_id := _int(key)) is not None]
    return sorted(tags, key=lambda tag: tag.id)


def _date_time(value: Any) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace(" ", "T")).isoformat()
    except ValueError:
        return raw


def contact_moment_from(row: Row) -> ContactMoment | None:
    moment_id = _int(row.get("id"))
    if moment_id is None:
        return None
    recipients = [number for value in row.get("recipients") or [] if (number := _int(value)) is not None]
    return ContactMoment(
        id=moment_id,
        subject=text(row.get("subject")),
        type=text(row.get("type")),
        date_time=_date_time(row.get("dateTime")),
        sender_id=_int(row.get("senderId")),
        sender=text(row.get("sender")),
        recipients=recipients,
        action=_int(row.get("action")),
        tags=_tags(row.get("tags")),
    )


def _errors_text(payload: Any) -> str | None:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, str):
        return errors.strip() or None
    if isinstance(errors, list):
        return "; ".join(str(item) for item in errors) or None
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {value}" for key, value in errors.items()) or None
    return None


@dataclass
class _Cached:
    schema: Row
    fetched_at: datetime


_TYPE_NEEDED = "- type: the schema checks need a valid type (procurios_list_contact_moment_types lists them)"


def _refusal(problems: list[Problem], schema_of: str | None, then: str | None) -> InvalidArgument:
    lines = merge_problems(problems)
    checked = f"its arguments and the {schema_of} schema" if schema_of else "its arguments"
    return InvalidArgument("\n".join([
        f"the contact moment does not match {checked}, so nothing was sent to Procurios "
        f"({len(lines)} problem{'s' if len(lines) != 1 else ''}):", *lines, *([then] if then else []),
        "See procurios_get_contact_moment_schema for the fields and their limits.",
    ]))  # fmt: skip


class SchemaCache:
    """Schemas per contact-moment type, reused for `ttl`; time comes from the caller's clock."""

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._entries: dict[str, _Cached] = {}

    def get(self, type_id: str, now: datetime) -> Row | None:
        entry = self._entries.get(type_id)
        if entry is None or not (entry.fetched_at <= now < entry.fetched_at + self.ttl):
            return None
        return entry.schema

    def put(self, type_id: str, schema: Row, now: datetime) -> None:
        self._entries[type_id] = _Cached(schema, now)

    def drop(self, type_id: str) -> None:
        self._entries.pop(type_id, None)


def _now() -> datetime:
    return datetime.now(UTC)


class ProcuriosClient:
    """One per server: a keep-alive pool with the token and the vendor media type on every request."""

    def __init__(self, http: httpx.AsyncClient, schema_ttl: timedelta) -> None:
        self._http = http
        self.schemas = SchemaCache(schema_ttl)
        self._schema_lock = anyio.Lock()
        self.schema_fetches = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: ProcuriosSettings) -> AsyncIterator[ProcuriosClient]:
        assert settings.base_url and settings.token, "enabled settings are complete"
        headers = {"Accept": MEDIA_TYPE, "Authorization": f"Bearer {settings.token.get_secret_value()}"}
        async with pooled_client(settings.base_url, settings.timeout_seconds, headers=headers) as http:
            yield cls(http, timedelta(seconds=settings.schema_ttl_seconds))

    # -- transport ------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, subject: str, **kwargs: Any) -> Any:
        response = await send(self._http, VENDOR, method, BASE_PATH + path, **kwargs)
        status = response.status_code
        try:
            payload: Any = response.json() if response.content else None
        except ValueError:
            # A 4xx page (a proxy's or the web server's) is this request's fault: an error, never retried.
            if status < 400 or status >= 500:
                raise VendorUnavailable(
                    VENDOR, f"answered HTTP {status} with a body that is not JSON", status=status
                ) from None
            payload = None
        detail = _errors_text(payload)
        if status in (401, 403):
            raise VendorAuthError(VENDOR, detail or "the API token was rejected", status=status)
        if status == 404:
            raise VendorNotFound(VENDOR, f"{subject}{f' ({detail})' if detail else ''}", status=status)
        if status >= 500:
            raise VendorUnavailable(VENDOR, detail or f"server error HTTP {status}", status=status)
        if status >= 400:
            readable = "" if payload is not None or not response.content else " with a page that is not JSON"
            raise VendorError(VENDOR, detail or f"HTTP {status}{readable}", status=status)
        return payload

    async def _read(self, path: str, subject: str, params: dict[str, str] | None = None) -> Any:
        return await retry_read(lambda: self._send("GET", path, subject, params=params))

    # -- reads ----------------------------------------------------------------------------------

    async def list_contact_moments(
        self, page: int, since: datetime | None = None, relation_ids: list[int] | None = None
    ) -> list[ContactMoment]:
        params = {"page": str(page)}
        if since is not None:
            params["since"] = wire_since(since)
        if relation_ids:
            params["relationIds"] = ",".join(str(relation) for relation in relation_ids)
        payload = await self._read("", "contact moments", params)
        if not isinstance(payload, list):
            raise VendorError(VENDOR, f"expected a list of contact moments, got {type(payload).__name__}")
        moments = [contact_moment_from(row) for row in payload if isinstance(row, dict)]
        return [moment for moment in moments if moment is not None]

    async def contact_moment_types(self) -> list[ContactMomentType]:
        payload = await self._read("/types", "contact moment types")
        rows = payload if isinstance(payload, list) else []
        return [
            ContactMomentType(
                id=str(row["id"]),
                title=text(row.get("title")),
                addable=row.get("addable") if isinstance(row.get("addable"), bool) else None,
            )
            for row in rows
            if isinstance(row, dict) and text(row.get("id"))
        ]

    async def tags(self) -> list[Tag]:
        return _tags(await self._read("/tags", "contact moment tags"))

    async def schema(self, type_id: str, now: datetime | None = None) -> Row:
        """The type's JSON schema, fetched now (and cached for the next create)."""
        payload = await self._read(f"/type/{quote(type_id, safe='')}/schema", f"contact moment type {type_id}")
        schema = payload[0] if isinstance(payload, list) and len(payload) == 1 else payload
        if not isinstance(schema, dict):
            raise VendorError(VENDOR, f"the schema of {type_id} is not a JSON object")
        try:
            Draft7Validator.check_schema(schema)
        except SchemaError as exc:
            raise VendorError(
                VENDOR, f"the schema of {type_id} is not a valid draft-07 schema ({exc.message})"
            ) from None
        self.schema_fetches += 1
        self.schemas.put(type_id, schema, now or _now())
        return schema

    async def cached_schema(self, type_id: str, now: datetime | None = None) -> Row:
        when = now or _now()
        cached = self.schemas.get(type_id, when)
        if cached is not None:
            return cached
        async with self._schema_lock:
            cached = self.schemas.get(type_id, when)
            return cached if cached is not None else await self.schema(type_id, when)

    # -- write (never retried: a lost answer does not tell whether the contact moment was created) --

    async def create_contact_moment(
        self, moment: ContactMomentDraft | Mapping[str, Any], now: datetime | None = None
    ) -> int:
        """Check the arguments (strict types) and the body against the type's schema, then POST.

        `moment` is a valid draft, or the tool's arguments as given. InvalidArgument lists every problem at
        once: the arguments' own first, found without any request to Procurios (arguments that break the tool's
        published schema never reach the vendor, not even for the type's schema, which joins in only when cached);
        once they fit, the type schema's. While there is one, nothing is POSTed.
        """
        if isinstance(moment, ContactMomentDraft):
            draft: ContactMomentDraft | None = moment
            problems: list[Problem] = []
        else:
            given = _json_text(moment)
            draft, problems = argument_problems(given)
        if draft is not None:
            type_id: str | None = draft.type
            body, field_problems = _draft_body(draft)
        else:
            raw_type = given.get("type")
            type_id = raw_type.strip() if isinstance(raw_type, str) and _TYPE_PATTERN.match(raw_type.strip()) else None
            body, field_problems = _given_body(given)
        problems += field_problems
        if draft is None or problems:
            # The arguments break the tool's own (published) schema: refused before any request to Procurios. The
            # type's schema joins in only when it is cached already (procurios_get_contact_moment_schema caches it).
            known = self.schemas.get(type_id, now or _now()) if type_id else None
            if known is not None:
                problems += schema_problems(known, body)
            elif type_id is None:
                problems.append(Problem("type", _TYPE_NEEDED))
            then = f"Once they are fixed, the {type_id} schema is checked too." if type_id and known is None else None
            raise _refusal(problems, type_id if known is not None else None, then)
        try:
            schema = await self.cached_schema(draft.type, now)
        except VendorNotFound:
            unknown = f"- type: Procurios has no contact moment type {draft.type} (see procurios_list_contact_moment_types)"
            raise _refusal([Problem("type", unknown)], None, None) from None
        problems = schema_problems(schema, body)
        if problems:
            raise _refusal(problems, draft.type, None)
        try:
            payload = await self._send(
                "POST", f"/type/{quote(draft.type, safe='')}", f"contact moment type {draft.type}", json=body
            )
        except VendorError:
            # The schema may have changed under us: fetch it afresh next time.
            self.schemas.drop(draft.type)
            raise
        moment_id = _int(payload.get("contactMomentId")) if isinstance(payload, dict) else None
        if moment_id is None:
            raise VendorError(
                VENDOR, "the answer had no contactMomentId; check with procurios_list_contact_moments before retrying"
            )
        return moment_id
