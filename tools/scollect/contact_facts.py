"""Scollect rows -> `ContactFacts`: the only place that knows which Scollect field means what for compliance.

It is the Scollect toolset's contact-facts provider (`contact_facts`), which the compliance guard calls before
any Scollect text or email, and the source of `accounts_check_contact` and the snapshot's call verdict.

Decisions about the vendor's data (documented here because the rules engine must not know them):

* Permissions: Scollect documents endpoints that SET the account-permission table (PUT /updatepermissions)
  and none that READS it, so every permission is "unknown" (`SCOLLECT_PERMISSIONS`). We do not guess them
  from other fields and do not call undocumented endpoints.
* Holds come from `statusname` (case-insensitive words: BANKRUPT, DECEASED, CEASE / C&D / DO NOT CONTACT,
  ATTORNEY / ATTY, DISPUTE) and from fields: `deceased` YES, a non-blank `bankruptcytype`, a non-blank
  `attorneyname`. An attorney name on file blocks even without the status: we cannot tell the debtor's
  attorney from the agency's own counsel, so we fail closed and say so (a person may override).
* Attempt times: `date` (a GMT-rendered date) plus `time` ('HH:MM'), read in `vendor_tz` (UTC by default:
  the simulator writes UTC and the vendor renders GMT). A time with minute precision is taken as the END of
  that minute (+1 min) and a date without a time as the end of that day, so rounding never shortens a
  Regulation F window. Rows without a readable date are counted in `undated_attempts`. Direction 'Outbound'/
  'Inbound'; anything else is unknown (and counts as a placed call).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio

from collections_mcp.tools.common.compact import flag, iso_date, parse_vendor_datetime, text
from collections_mcp.tools.common.concurrent import start
from collections_mcp.tools.common.contact_rules import (
    AttemptFact,
    Channel,
    ContactFacts,
    Direction,
    Hold,
    Permissions,
    PhoneKind,
)
from collections_mcp.tools.common.spec import ContactRequest
from collections_mcp.tools.scollect.client import ScollectClient

Row = dict[str, Any]

SCOLLECT_PERMISSIONS = Permissions(
    source="not readable from Scollect, whose API can set account permissions but documents no way to read them"
)

_CELL = {"CELL", "CELLULAR", "MOBILE", "WIRELESS", "CELL PHONE"}
_HOME = {"HOME", "LANDLINE", "RESIDENCE", "HOME PHONE"}
_WORK = {"WORK", "EMPLOYER", "BUSINESS", "OFFICE", "WORK PHONE"}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))[-10:]


def _upper(value: Any) -> str:
    return " ".join((text(value) or "").split()).upper()


def _hold(*sources: str | None) -> Hold:
    found = [source for source in sources if source]
    return Hold(active=True, source="; ".join(found)) if found else Hold()


def holds_from(account: Row) -> dict[str, Hold]:
    """The account's contact holds, each with where it was read."""
    status = _upper(account.get("statusname"))
    named = f"statusname '{text(account.get('statusname'))}'"

    def by_status(*words: str) -> str | None:
        return named if any(re.search(rf"\b{re.escape(word)}", status) for word in words) else None

    deceased_date = iso_date(account.get("deceaseddate"))
    deceased_flag = None
    if flag(account.get("deceased")) is True:
        deceased_flag = f"deceased = YES (date {deceased_date})" if deceased_date else "deceased = YES"
    bankruptcy_type = text(account.get("bankruptcytype"))
    attorney = text(account.get("attorneyname"))
    return {
        "bankruptcy": _hold(by_status("BANKRUPT", "BK"), f"bankruptcytype '{bankruptcy_type}'" if bankruptcy_type else None),
        "deceased": _hold(by_status("DECEASED", "DECEDENT"), deceased_flag),
        "cease_and_desist": _hold(by_status("CEASE", "C&D", "DO NOT CONTACT")),
        "attorney_represented": _hold(by_status("ATTORNEY", "ATTY"), f"attorneyname '{attorney}' on file" if attorney else None),
        "disputed": _hold(by_status("DISPUTE")),
    }  # fmt: skip


def _clock(value: Any) -> tuple[time, timedelta] | None:
    """'10:09' / '9:45 AM' / '10:09:30' -> (time, its precision)."""
    match = _CLOCK.match(text(value) or "")
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3)) if match.group(3) else 0
    if meridiem := match.group(4):
        hour = hour % 12 + (12 if meridiem.upper() == "PM" else 0)
    try:
        clock = time(hour, minute, second)
    except ValueError:
        return None
    return clock, timedelta(seconds=1) if match.group(3) else timedelta(minutes=1)


def attempt_time(row: Row, zone: ZoneInfo) -> datetime | None:
    """The latest instant the attempt can have happened at (see the module docstring), or None if undated."""
    parsed = parse_vendor_datetime(row.get("date"))
    if parsed is None:
        return None
    day: date = parsed.date() if isinstance(parsed, datetime) else parsed
    clock = _clock(row.get("time"))
    if clock is not None:
        moment, precision = clock
        return datetime.combine(day, moment, tzinfo=zone) + precision
    if isinstance(parsed, datetime) and parsed.time() != time(0):
        return parsed.replace(tzinfo=zone) + timedelta(seconds=1)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _direction(value: Any) -> Direction:
    lowered = _upper(value)
    if lowered.startswith("OUT"):
        return "outbound"
    if lowered.startswith("IN"):
        return "inbound"
    return "unknown"


def attempts_from(rows: list[Row], zone: ZoneInfo) -> tuple[list[AttemptFact], int]:
    """The attempts log as facts, and how many rows had no readable date."""
    attempts, undated = [], 0
    for row in rows:
        at = attempt_time(row, zone)
        if at is None:
            undated += 1
            continue
        attempts.append(AttemptFact(at=at, direction=_direction(row.get("direction")),
                                    disposition=text(row.get("dispo")), phone_number=text(row.get("phonenumber"))))  # fmt: skip
    return attempts, undated


def _kind(phone_type: Any) -> PhoneKind:
    name = _upper(phone_type)
    if not name or name == "UNKNOWN":
        return "unknown"
    if name in _CELL:
        return "cell"
    if name in _HOME:
        return "home"
    if name in _WORK:
        return "work"
    return "other"


def phone_facts(phone_number: str | None, phones: list[Row], account: Row) -> dict[str, Any]:
    """Type, status and whether the number is on the account (phone rows first, then the account's fields)."""
    if phone_number is None:
        return {}
    wanted = _digits(phone_number)
    row = next((p for p in phones if _digits(p.get("phonenumber")) == wanted), None)
    kind: PhoneKind = _kind(row.get("phonetype")) if row else "unknown"
    if kind == "unknown":
        if _digits(account.get("cellphone")) == wanted:
            kind = "cell"
        elif wanted in (_digits(account.get("workphone")), _digits(account.get("employerphone"))):
            kind = "work"
        elif _digits(account.get("primaryphone")) == wanted:
            kind = "home"
    on_file = row is not None or any(
        _digits(account.get(name)) == wanted for name in ("primaryphone", "cellphone", "workphone", "employerphone")
    )
    return {"phone_kind": kind, "phone_status": text(row.get("phonestatus")) if row else None, "phone_on_file": on_file}


def contact_facts_from(
    *,
    file_number: str,
    channel: Channel,
    now: datetime,
    account: Row,
    attempts: list[Row],
    phones: list[Row] | None = None,
    phone_number: str | None = None,
    vendor_tz: str = "UTC",
) -> ContactFacts:
    """Facts from rows already read (the snapshot reuses its own reads)."""
    facts, undated = attempts_from(attempts, ZoneInfo(vendor_tz))
    return ContactFacts(
        file_number=file_number,
        channel=channel,
        now=now,
        phone_number=phone_number,
        **phone_facts(phone_number, phones or [], account),
        status=text(account.get("statusname")),
        **holds_from(account),
        permissions=SCOLLECT_PERMISSIONS,
        attempts=facts,
        undated_attempts=undated,
        state=text(account.get("state")),
        zip=text(account.get("zip")),
    )


async def scollect_contact_facts(
    client: ScollectClient,
    file_number: str,
    channel: Channel,
    now: datetime,
    *,
    phone_number: str | None = None,
    vendor_tz: str | None = None,
) -> ContactFacts:
    """Read account, attempts (and phones, when a number is given) concurrently and map them to facts.

    Any failed read fails the whole check: a verdict on partial facts could wrongly allow contact.
    """
    async with anyio.create_task_group() as group:
        account = start(group, lambda: client.account(file_number))
        attempts = start(group, lambda: client.attempts(file_number))
        phones = start(group, lambda: client.phones(file_number)) if phone_number else None
    return contact_facts_from(
        file_number=file_number,
        channel=channel,
        now=now,
        account=account.get(),  # first: "no such account" beats any other failure
        attempts=attempts.get(),
        phones=phones.get() if phones else None,
        phone_number=phone_number,
        vendor_tz=vendor_tz or client.timezone,
    )


async def contact_facts(client: ScollectClient, file_number: str, request: ContactRequest, now: datetime) -> ContactFacts:
    """The Scollect toolset's contact-facts provider: what the compliance guard judges a text, email or call by."""
    return await scollect_contact_facts(client, file_number, request.channel, now, phone_number=request.phone_number)
