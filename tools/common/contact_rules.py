"""May this account be called, texted or emailed right now, and every reason why (not).

Pure and vendor-neutral: `evaluate(ContactFacts) -> ContactVerdict`, no I/O, no MCP. The clock is a fact
(`ContactFacts.now`), so every boundary is testable. Vendor knowledge (which field means what) lives in
`facts.py`; this module only knows the rules. Every reason is reported, blocking and informational, so a
person (or the LLM) sees the whole picture, not just the first refusal.

Exact boundaries (all instants are compared in UTC; "7 days" is exactly 7 x 24 hours):

* Call frequency, 12 CFR 1006.14(b)(2)(i): a call counts toward the 7-day window of `now` while
  `call_time > now - 7 days` (window is `(now - 7d, now]`, and calls stamped after `now` count too). With 7
  calls in the window the next one would be the 8th -> blocked; with 6 it is the 7th -> allowed. A call
  placed exactly 7 days ago no longer counts; 7 days minus 1 second ago still does. The block lifts at
  `7th-most-recent call + 7 days`.
* After a conversation, 12 CFR 1006.14(b)(2)(ii): blocked while `now < conversation + 7 days`; the instant
  `conversation + 7 days` is the first allowed one (a conversation exactly 7 days ago: allowed; 7 days minus
  1 second ago: blocked).
  Regulation F's commentary counts these periods in calendar days (the conversation's day is day 1). A rolling
  7 x 24 h window blocks everything the calendar-day reading blocks and a little more, and it needs no choice
  of whose midnight counts, so it is the conservative choice.
* Which calls count: every attempt not marked inbound (an unknown direction counts). The exclusions of
  1006.14(b)(3) (calls the consumer asked for, calls that did not connect) are not applied: a disposition
  label is weak evidence of them, so we err on the side of blocking. A "conversation" is an attempt, in either
  direction, whose disposition is in `CONVERSATION_DISPOSITIONS` (exact match after upper-casing and
  collapsing spaces). HUNG UP, LEFT MESSAGE, NO ANSWER, BUSY, WRONG NUMBER are not conversations with the
  debtor. Frequency rules apply to calls only; Regulation F sets no numeric limit for texts or emails.
* Inconvenient times, 12 CFR 1006.6(b)(1)(i): "before 8:00 a.m. and after 9:00 p.m. local time". Allowed iff
  the local wall-clock time is in the closed interval [08:00:00, 21:00:00]: 07:59:59 blocked, 08:00:00
  allowed, 21:00:00 allowed, 21:00:00.000001 / 21:00:01 / 21:01 blocked. Applies to calls, texts AND emails:
  Regulation F's commentary treats an electronic message as communicated when it is sent, so an email sent at
  11 p.m. local is an inconvenient-time communication; we block it rather than guess at a send queue.
* Local time: state (2-letter code or full name) and ZIP -> IANA zones via `zoneinfo` (tzdata), never fixed
  offsets, so DST is right on transition days. A state spanning zones uses ZIP-prefix ranges known to lie in
  one zone; any other ZIP of that state (or none) must be convenient in ALL the state's zones. Official time
  is used (not unofficial local practice, e.g. Kenton OK or Phenix City AL). A ZIP from another state is
  ignored: the state decides. An unknown state (blank, "ST", military AA/AE/AP...) fails closed: blocked.
* Holds (bankruptcy, deceased, cease-and-desist, attorney-represented) and cont_debtor = 0 block every
  channel; they have no `next_allowed_at`.
* Unknown permissions (Scollect documents no read of its permission table): `PERMISSION_UNKNOWN` is blocking
  for texts and emails, informational for calls. Texts and emails are sent by the tool itself with nobody
  reviewing the account, and a text needs consent (TCPA) and must honour opt-outs (12 CFR 1006.6(e),
  1006.14(h)) that we cannot see; a person can override after checking the vendor. A call is placed by a
  person who has the account open, and the holds we can read (status, flags) cover the strongest no-contact
  cases, so blocking every call on data no one can read would make the verdict useless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Channel = Literal["call", "text", "email"]
PhoneKind = Literal["cell", "home", "work", "other", "unknown"]
Direction = Literal["outbound", "inbound", "unknown"]

WINDOW = timedelta(days=7)
MAX_CALLS_IN_WINDOW = 7  # 1006.14(b)(2)(i): "more than seven" is presumed harassing, so 7 are allowed.
EARLIEST = time(8, 0)
LATEST = time(21, 0)

# Dispositions that mean the collector and the debtor talked (1006.14(b)(2)(ii)). Exact, normalised matches.
CONVERSATION_DISPOSITIONS: frozenset[str] = frozenset(
    {
        "SPOKE TO DEBTOR",
        "SPOKE WITH DEBTOR",
        "RIGHT PARTY CONTACT",
        "RPC",
        "PROMISE TO PAY",
        "REFUSED TO PAY",
        "PAYMENT ARRANGED",
        "PAYMENT TAKEN",
        "DEBTOR DISPUTES",
    }
)
# Phone statuses that mean "this number does not reach the debtor".
BAD_NUMBER_STATUSES: frozenset[str] = frozenset({"WRONG NUMBER", "DISCONNECTED", "BAD NUMBER", "NOT IN SERVICE"})
DO_NOT_CALL_STATUSES: frozenset[str] = frozenset({"DO NOT CALL", "DNC"})


class Code(StrEnum):
    """Why a contact is (not) allowed. Blocking or informational is per reason, see `Reason.blocking`."""

    BANKRUPTCY = "BANKRUPTCY"
    DECEASED = "DECEASED"
    CEASE_AND_DESIST = "CEASE_AND_DESIST"
    ATTORNEY_REPRESENTED = "ATTORNEY_REPRESENTED"
    NO_DIRECT_CONTACT = "NO_DIRECT_CONTACT"
    DO_NOT_TEXT = "DO_NOT_TEXT"
    DO_NOT_EMAIL = "DO_NOT_EMAIL"
    CANNOT_CALL_CELL = "CANNOT_CALL_CELL"
    NO_WORK_CALLS = "NO_WORK_CALLS"
    BAD_NUMBER = "BAD_NUMBER"
    DO_NOT_CALL_NUMBER = "DO_NOT_CALL_NUMBER"
    REG_F_7_IN_7 = "REG_F_7_IN_7"
    REG_F_7_DAYS_AFTER_CONVERSATION = "REG_F_7_DAYS_AFTER_CONVERSATION"
    INCONVENIENT_TIME = "INCONVENIENT_TIME"
    LOCAL_TIME_UNKNOWN = "LOCAL_TIME_UNKNOWN"
    PERMISSION_UNKNOWN = "PERMISSION_UNKNOWN"
    # Informational only.
    CALLS_IN_LAST_7_DAYS = "CALLS_IN_LAST_7_DAYS"
    LOCAL_TIME = "LOCAL_TIME"
    DISPUTED = "DISPUTED"
    NUMBER_NOT_CHECKED = "NUMBER_NOT_CHECKED"
    PHONE_NOT_ON_FILE = "PHONE_NOT_ON_FILE"
    ATTEMPT_LOG_INCOMPLETE = "ATTEMPT_LOG_INCOMPLETE"


# Blocks that pass with time alone (no new attempts): only these allow a `next_allowed_at`.
TIMED_BLOCKS = frozenset({Code.REG_F_7_IN_7, Code.REG_F_7_DAYS_AFTER_CONVERSATION, Code.INCONVENIENT_TIME})

# Blocks that say "no" outright: a hold on the account, or a permission known to refuse this channel. Nothing but a
# change of the account's data lifts them.
STANDING_BLOCKS = frozenset({
    Code.BANKRUPTCY, Code.DECEASED, Code.CEASE_AND_DESIST, Code.NO_DIRECT_CONTACT, Code.DO_NOT_TEXT,
    Code.DO_NOT_EMAIL, Code.CANNOT_CALL_CELL, Code.NO_WORK_CALLS, Code.BAD_NUMBER, Code.DO_NOT_CALL_NUMBER,
})  # fmt: skip

# Blocks a supervisor may override ahead of time, with a stated reason, for a contact that runs later (an approved
# action of the approval inbox): they stand for facts the server cannot read or judge, which a person can check in
# the vendor's system (permissions Scollect cannot report; whether the attorney on file is the agency's own
# counsel). Timed blocks are never overridden ahead: they are checked again at the moment the contact is sent. A
# person in the conversation itself may still override any block, as before.
SUPERVISOR_OVERRIDABLE = frozenset({Code.PERMISSION_UNKNOWN, Code.ATTORNEY_REPRESENTED})


# ------------------------------------------------------------------------------------------------------ facts


def _flag(value: Any) -> bool | None:
    """1/0, '1'/'0', yes/no, true/false, Allowed/Not Allowed -> bool; blank or anything else -> None (unknown)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    lowered = " ".join(str(value).split()).lower()
    if lowered in {"1", "yes", "y", "true", "allowed", "allow", "ok"}:
        return True
    if lowered in {"0", "no", "n", "false", "not allowed", "no calls", "disallowed"}:
        return False
    return None


class Hold(BaseModel):
    """An account condition that stops contact, and where it was read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: bool = False
    source: str | None = Field(default=None, description="Where this was read, e.g. \"statusname 'Bankruptcy'\".")


class Permissions(BaseModel):
    """The seed's contact-related account permissions. None = not known (never read, or not readable)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    cont_debtor: bool | None = Field(default=None, description="Direct contact with the debtor allowed at all.")
    cantext: bool | None = None
    donottext: bool | None = None
    canemail: bool | None = None
    donotemail: bool | None = None
    cancallcell: bool | None = None
    callwork: bool | None = Field(default=None, description="'Allowed' -> true, 'Not Allowed' -> false.")
    source: str | None = Field(default=None, description="Where these came from, or why they are unknown.")

    @field_validator("cont_debtor", "cantext", "donottext", "canemail", "donotemail", "cancallcell", "callwork", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> bool | None:
        return _flag(value)


class AttemptFact(BaseModel):
    """One logged contact attempt (a call)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    direction: Direction = "unknown"
    disposition: str | None = None
    phone_number: str | None = None


class ContactFacts(BaseModel):
    """Everything the rules need about one account and one intended contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_number: str
    channel: Channel
    now: AwareDatetime
    phone_number: str | None = Field(default=None, description="The number to call or text, when known.")
    phone_kind: PhoneKind = "unknown"
    phone_status: str | None = None
    phone_on_file: bool | None = None
    status: str | None = Field(default=None, description="The account's status as the vendor names it.")
    deceased: Hold = Hold()
    bankruptcy: Hold = Hold()
    cease_and_desist: Hold = Hold()
    attorney_represented: Hold = Hold()
    disputed: Hold = Hold()
    permissions: Permissions = Permissions()
    attempts: list[AttemptFact] = Field(default_factory=list)
    undated_attempts: int = Field(default=0, ge=0, description="Attempts in the log whose time could not be read.")
    state: str | None = None
    zip: str | None = None


# ----------------------------------------------------------------------------------------------------- verdict


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: Code
    rule: str = Field(description="The rule or source, e.g. '12 CFR 1006.14(b)(2)(i)'.")
    detail: str
    blocking: bool
    until: datetime | None = Field(default=None, description="When this reason stops blocking, if time alone lifts it.")


class ContactVerdict(BaseModel):
    file_number: str
    channel: Channel
    phone_number: str | None = None
    checked_at: datetime
    allowed: bool
    reasons: list[Reason] = Field(description="Every reason, blocking first.")
    next_allowed_at: datetime | None = Field(
        default=None,
        description="Earliest time the contact becomes allowed if nothing else changes; absent when allowed now "
        "or when a hold or permission blocks it.",
    )

    @property
    def blocking(self) -> list[Reason]:
        return [reason for reason in self.reasons if reason.blocking]


# ----------------------------------------------------------------------------------------------------- zones

_EASTERN, _CENTRAL, _MOUNTAIN, _PACIFIC = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

# Every zone each state or territory uses (official time). Multi-zone states are narrowed by `_ZIP3` below.
_STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": (_CENTRAL,), "AK": ("America/Anchorage", "America/Adak"), "AZ": ("America/Phoenix", _MOUNTAIN),
    "AR": (_CENTRAL,), "CA": (_PACIFIC,), "CO": (_MOUNTAIN,), "CT": (_EASTERN,), "DE": (_EASTERN,),
    "DC": (_EASTERN,), "FL": (_EASTERN, _CENTRAL), "GA": (_EASTERN,), "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", _PACIFIC), "IL": (_CENTRAL,), "IN": ("America/Indiana/Indianapolis", _CENTRAL),
    "IA": (_CENTRAL,), "KS": (_CENTRAL, _MOUNTAIN), "KY": (_EASTERN, _CENTRAL), "LA": (_CENTRAL,),
    "ME": (_EASTERN,), "MD": (_EASTERN,), "MA": (_EASTERN,), "MI": ("America/Detroit", "America/Menominee"),
    "MN": (_CENTRAL,), "MS": (_CENTRAL,), "MO": (_CENTRAL,), "MT": (_MOUNTAIN,), "NE": (_CENTRAL, _MOUNTAIN),
    "NV": (_PACIFIC, _MOUNTAIN), "NH": (_EASTERN,), "NJ": (_EASTERN,), "NM": (_MOUNTAIN,), "NY": (_EASTERN,),
    "NC": (_EASTERN,), "ND": (_CENTRAL, _MOUNTAIN), "OH": (_EASTERN,), "OK": (_CENTRAL,),
    "OR": (_PACIFIC, "America/Boise"), "PA": (_EASTERN,), "RI": (_EASTERN,), "SC": (_EASTERN,),
    "SD": (_CENTRAL, _MOUNTAIN), "TN": (_CENTRAL, _EASTERN), "TX": (_CENTRAL, _MOUNTAIN), "UT": (_MOUNTAIN,),
    "VT": (_EASTERN,), "VA": (_EASTERN,), "WA": (_PACIFIC,), "WV": (_EASTERN,), "WI": (_CENTRAL,),
    "WY": (_MOUNTAIN,), "PR": ("America/Puerto_Rico",), "VI": ("America/St_Thomas",), "GU": ("Pacific/Guam",),
    "MP": ("Pacific/Saipan",), "AS": ("Pacific/Pago_Pago",),
}  # fmt: skip

# ZIP-prefix (first 3 digits) ranges that lie in ONE zone of a multi-zone state. Only ranges we are sure of;
# a prefix not listed (e.g. TX 798: El Paso county and Marfa share it) means "all the state's zones".
_ZIP3: dict[str, tuple[tuple[int, int, str], ...]] = {
    "AK": ((995, 999, "America/Anchorage"),),  # after the Aleutian ZIP5s below
    "AZ": ((850, 853, "America/Phoenix"), (855, 857, "America/Phoenix"), (859, 859, "America/Phoenix"),
           (863, 864, "America/Phoenix")),  # 860/865 include the Navajo Nation, which keeps DST
    "FL": ((320, 322, _EASTERN), (325, 325, _CENTRAL), (326, 349, _EASTERN)),  # 323/324: both zones
    "ID": ((832, 834, "America/Boise"), (836, 837, "America/Boise"), (838, 838, _PACIFIC)),  # 835 split
    "IN": ((460, 462, "America/Indiana/Indianapolis"), (463, 464, _CENTRAL),
           (466, 474, "America/Indiana/Indianapolis"), (476, 477, _CENTRAL), (478, 478, "America/Indiana/Indianapolis")),
    "KS": ((660, 676, _CENTRAL), (679, 679, _CENTRAL)),  # 677/678 include the four Mountain counties
    "KY": ((400, 400, _EASTERN), (402, 418, _EASTERN), (420, 424, _CENTRAL)),  # 401, 425-427 split
    "MI": ((480, 497, "America/Detroit"),),  # 498/499: the Upper Peninsula's Central counties
    "NE": ((680, 689, _CENTRAL),),  # 690-693: the west is split
    "NV": ((889, 897, _PACIFIC),),  # 898: West Wendover is Mountain
    "ND": ((580, 584, _CENTRAL), (587, 587, _CENTRAL)),  # 585/586/588: the southwest is Mountain
    "OR": ((970, 978, _PACIFIC),),  # 979: Malheur County is Mountain
    "SD": ((570, 574, _CENTRAL), (577, 577, _MOUNTAIN)),  # 575/576 split
    "TN": ((370, 372, _CENTRAL), (374, 374, _EASTERN), (375, 375, _CENTRAL), (376, 376, _EASTERN),
           (378, 379, _EASTERN), (380, 384, _CENTRAL)),  # 373, 377, 385 split
    "TX": ((733, 733, _CENTRAL), (750, 797, _CENTRAL), (799, 799, _MOUNTAIN), (885, 885, _MOUNTAIN)),  # 798 split
}  # fmt: skip

# Whole ZIP codes that differ from their prefix: Adak and Atka keep Hawaii-Aleutian time.
_ZIP5: dict[str, dict[str, str]] = {"AK": {"99546": "America/Adak", "99547": "America/Adak"}}

_STATE_NAMES: dict[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
    "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "WASHINGTON DC": "DC", "FLORIDA": "FL",
    "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI",
    "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI",
    "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT",
    "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR", "VIRGIN ISLANDS": "VI", "US VIRGIN ISLANDS": "VI", "GUAM": "GU",
    "NORTHERN MARIANA ISLANDS": "MP", "AMERICAN SAMOA": "AS",
}  # fmt: skip

_ZIP = re.compile(r"^\s*(\d{5})(?:-?\d{4})?\s*$")


@dataclass(frozen=True)
class LocalZones:
    """The zones a contact must be convenient in, and how they were chosen (for the reason's detail)."""

    zones: tuple[str, ...]
    basis: str


def state_code(state: str | None) -> str | None:
    """'tx' / 'Texas' / 'D.C.' -> 'TX' / 'TX' / 'DC'; None when it is not a state or territory we know."""
    if not state:
        return None
    cleaned = " ".join(state.replace(".", "").split()).upper()
    code = cleaned if len(cleaned) == 2 else _STATE_NAMES.get(cleaned)
    return code if code in _STATE_ZONES else None


def resolve_zones(state: str | None, zip_code: str | None) -> LocalZones | None:
    """The debtor's possible time zones; None when the state is unknown (the caller fails closed)."""
    code = state_code(state)
    if code is None:
        return None
    zones = _STATE_ZONES[code]
    if len(zones) == 1:
        return LocalZones(zones, code)
    match = _ZIP.match(zip_code or "")
    if match is None:
        return LocalZones(zones, f"{code} spans time zones and the ZIP is missing or unreadable: all checked")
    zip5 = match.group(1)
    if (zone := _ZIP5.get(code, {}).get(zip5)) is not None:
        return LocalZones((zone,), f"{code} ZIP {zip5}")
    prefix = int(zip5[:3])
    for low, high, zone in _ZIP3.get(code, ()):
        if low <= prefix <= high:
            return LocalZones((zone,), f"{code} ZIP {zip5[:3]}xx")
    return LocalZones(zones, f"{code} ZIP {zip5[:3]}xx spans time zones: all checked")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_convenient(moment: datetime, zone: str) -> bool:
    """08:00:00 <= local wall-clock time <= 21:00:00 (1006.6(b)(1)(i)); microseconds count."""
    local = moment.astimezone(_zone(zone)).time()
    return EARLIEST <= local <= LATEST


def _next_morning(moment: datetime, zone: str) -> datetime:
    """The next local 08:00 at or after `moment` in `zone` (the same day's if it is still early)."""
    local = moment.astimezone(_zone(zone))
    day: date = local.date() if local.time() < EARLIEST else local.date() + timedelta(days=1)
    return datetime.combine(day, EARLIEST, tzinfo=_zone(zone)).astimezone(UTC)


def next_convenient(start: datetime, zones: Iterable[str]) -> datetime | None:
    """The earliest instant >= start that is convenient in every zone (None if the zones never overlap)."""
    names = tuple(zones)
    moment = start.astimezone(UTC)
    for _ in range(len(names) * 3 + 2):
        late = [zone for zone in names if not is_convenient(moment, zone)]
        if not late:
            return moment
        moment = max(_next_morning(moment, zone) for zone in late)
    return None


# ----------------------------------------------------------------------------------------------------- rules


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).upper()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(moment: datetime, zone: str) -> str:
    local = moment.astimezone(_zone(zone))
    return f"{local:%a %H:%M:%S} {local.tzname()} ({zone})"


def _holds(facts: ContactFacts) -> list[Reason]:
    reasons = []
    rules = (
        (facts.bankruptcy, Code.BANKRUPTCY, "11 U.S.C. 362(a) (automatic stay)",
         "The debtor is in bankruptcy: collection contact is stayed. Route the account to the bankruptcy process."),
        (facts.deceased, Code.DECEASED, "12 CFR 1006.2(e), 1006.6(a)(4)",
         "The debtor is deceased: do not contact the debtor; only the estate's representative may be contacted, "
         "not through this workflow."),
        (facts.cease_and_desist, Code.CEASE_AND_DESIST, "15 U.S.C. 1692c(c); 12 CFR 1006.6(c)",
         "The debtor asked in writing to stop communication: no further contact."),
        (facts.attorney_represented, Code.ATTORNEY_REPRESENTED, "15 U.S.C. 1692c(a)(2); 12 CFR 1006.6(b)(2)",
         "An attorney is on file for this debt: communicate with the attorney, not the debtor. If the attorney on "
         "file is the agency's own counsel, a person must confirm that before overriding."),
    )  # fmt: skip
    for hold, code, rule, text in rules:
        if hold.active:
            reasons.append(Reason(code=code, rule=rule, detail=f"{text} Source: {hold.source or 'account'}.", blocking=True))
    if facts.disputed.active:
        reasons.append(Reason(
            code=Code.DISPUTED, rule="15 U.S.C. 1692g(b); 12 CFR 1006.38(d)(2)", blocking=False,
            detail=f"The debt is marked disputed ({facts.disputed.source or 'status'}): if the dispute was made in "
            "writing within the validation period, collection must pause until verification is sent."))  # fmt: skip
    return reasons


def _relevant_permissions(facts: ContactFacts) -> list[str]:
    names = ["cont_debtor"]
    if facts.channel == "text":
        names += ["cantext", "donottext"]
    elif facts.channel == "email":
        names += ["canemail", "donotemail"]
    else:
        if facts.phone_kind in ("cell", "unknown"):
            names.append("cancallcell")
        if facts.phone_kind in ("work", "unknown"):
            names.append("callwork")
    return names


def _which(*settings: tuple[str, bool]) -> str:
    return ", ".join(name for name, applies in settings if applies)


def _permissions(facts: ContactFacts) -> list[Reason]:
    p, channel, reasons = facts.permissions, facts.channel, []
    source = f" Permissions: {p.source}." if p.source else ""
    if p.cont_debtor is False:
        reasons.append(Reason(code=Code.NO_DIRECT_CONTACT, rule="account permission cont_debtor = 0", blocking=True,
                              detail=f"Direct contact with the debtor is not allowed on this account.{source}"))
    if channel == "text" and (p.donottext is True or p.cantext is False):
        which = _which(("donottext = 1", p.donottext is True), ("cantext = 0", p.cantext is False))
        reasons.append(Reason(code=Code.DO_NOT_TEXT, rule="12 CFR 1006.14(h), 1006.6(e); permissions donottext/cantext",
                              blocking=True, detail=f"Texts to this debtor are not allowed ({which}).{source}"))
    if channel == "email" and (p.donotemail is True or p.canemail is False):
        which = _which(("donotemail = 1", p.donotemail is True), ("canemail = 0", p.canemail is False))
        reasons.append(Reason(code=Code.DO_NOT_EMAIL, rule="12 CFR 1006.14(h), 1006.6(e); permissions donotemail/canemail",
                              blocking=True, detail=f"Emails to this debtor are not allowed ({which}).{source}"))
    if channel == "call" and p.cancallcell is False:
        if facts.phone_number is None:
            reasons.append(Reason(code=Code.NUMBER_NOT_CHECKED, rule="permission cancallcell = 0", blocking=False,
                                  detail="Cell numbers of this debtor may not be called; call a home or work number."))
        elif facts.phone_kind in ("cell", "unknown"):
            kind = "a cell number" if facts.phone_kind == "cell" else "of unknown type (it may be a cell)"
            reasons.append(Reason(code=Code.CANNOT_CALL_CELL, rule="permission cancallcell = 0; 47 U.S.C. 227(b)",
                                  blocking=True, detail=f"{facts.phone_number} is {kind} and this debtor's cell may not be called.{source}"))
    if channel == "call" and p.callwork is False and facts.phone_kind == "work":
        reasons.append(Reason(code=Code.NO_WORK_CALLS, rule="12 CFR 1006.6(b)(3); permission callwork", blocking=True,
                              detail=f"{facts.phone_number} is a work number and calls at work are not allowed.{source}"))
    if any(reason.blocking for reason in reasons):
        return reasons  # a known permission already decides; unknown ones change nothing
    unknown = [name for name in _relevant_permissions(facts) if getattr(p, name) is None]
    if unknown:
        electronic = channel in ("text", "email")
        consequence = (
            f"A {channel} needs them: blocked until a person checks them in the vendor's system and confirms."
            if electronic
            else "Check them in the vendor's system before dialing (informational for calls)."
        )
        reasons.append(Reason(
            code=Code.PERMISSION_UNKNOWN, rule="12 CFR 1006.14(h), 1006.6(e); account permissions", blocking=electronic,
            detail=f"Not known: {', '.join(unknown)}.{source} {consequence}"))  # fmt: skip
    return reasons


def _number(facts: ContactFacts) -> list[Reason]:
    if facts.channel == "email":
        return []
    if facts.phone_number is None:
        if facts.channel == "call":
            return [Reason(code=Code.NUMBER_NOT_CHECKED, rule="account phones", blocking=False,
                           detail="No phone number given: the number's type, status and cell/work permissions were not "
                           "checked. Check again with the number you will dial.")]  # fmt: skip
        return []
    reasons = []
    status = _norm(facts.phone_status)
    if status in BAD_NUMBER_STATUSES:
        reasons.append(Reason(code=Code.BAD_NUMBER, rule="15 U.S.C. 1692c(b); 12 CFR 1006.6(d)(1) (third parties)",
                              blocking=True, detail=f"{facts.phone_number} is marked '{facts.phone_status}': it does not "
                              "reach the debtor."))  # fmt: skip
    elif status in DO_NOT_CALL_STATUSES:
        reasons.append(Reason(code=Code.DO_NOT_CALL_NUMBER, rule="12 CFR 1006.14(h)", blocking=True,
                              detail=f"{facts.phone_number} is marked '{facts.phone_status}'."))
    if facts.phone_on_file is False:
        reasons.append(Reason(code=Code.PHONE_NOT_ON_FILE, rule="account phones", blocking=False,
                              detail=f"{facts.phone_number} is not on the account: its type and status are unknown."))
    return reasons


def placed_calls_in_window(facts: ContactFacts, now: datetime) -> list[datetime]:
    """The calls that count toward 1006.14(b)(2)(i) at `now`, oldest first (see the module docstring)."""
    placed = sorted(a.at.astimezone(UTC) for a in facts.attempts if a.direction != "inbound")
    return [at for at in placed if at > now - WINDOW]


def _frequency(facts: ContactFacts, now: datetime) -> list[Reason]:
    """1006.14(b)(2): calls only. See the module docstring for the exact window edges."""
    reasons = []
    if facts.undated_attempts:
        reasons.append(Reason(code=Code.ATTEMPT_LOG_INCOMPLETE, rule="12 CFR 1006.14(b)(2)", blocking=False,
                              detail=f"{facts.undated_attempts} logged attempt(s) have no readable time and were not "
                              "counted; check the attempts log."))  # fmt: skip
    in_window = placed_calls_in_window(facts, now)
    if len(in_window) >= MAX_CALLS_IN_WINDOW:
        seventh_latest = in_window[-MAX_CALLS_IN_WINDOW]
        until = seventh_latest + WINDOW
        reasons.append(Reason(
            code=Code.REG_F_7_IN_7, rule="12 CFR 1006.14(b)(2)(i)", blocking=True, until=until,
            detail=f"{len(in_window)} calls placed in the last 7 days (since {_stamp(in_window[0])}); another would be "
            f"more than 7 within 7 consecutive days. Allowed again from {_stamp(until)}."))  # fmt: skip
    else:
        reasons.append(Reason(
            code=Code.CALLS_IN_LAST_7_DAYS, rule="12 CFR 1006.14(b)(2)(i)", blocking=False,
            detail=f"{len(in_window)} call(s) placed in the last 7 days; this would be call {len(in_window) + 1} of at "
            "most 7."))  # fmt: skip
    talks = [a for a in facts.attempts if _norm(a.disposition) in CONVERSATION_DISPOSITIONS]
    if talks:
        last = max(talks, key=lambda a: a.at)
        until = last.at.astimezone(UTC) + WINDOW
        if now < until:
            reasons.append(Reason(
                code=Code.REG_F_7_DAYS_AFTER_CONVERSATION, rule="12 CFR 1006.14(b)(2)(ii)", blocking=True, until=until,
                detail=f"A telephone conversation with the debtor ('{last.disposition}') at {_stamp(last.at)}: no call "
                f"within 7 days after it. Allowed again from {_stamp(until)}."))  # fmt: skip
    return reasons


def _calling_hours(facts: ContactFacts, now: datetime) -> tuple[list[Reason], LocalZones | None]:
    zones = resolve_zones(facts.state, facts.zip)
    if zones is None:
        shown = f"'{facts.state}'" if facts.state else "missing"
        return [Reason(
            code=Code.LOCAL_TIME_UNKNOWN, rule="12 CFR 1006.6(b)(1)(i)", blocking=True,
            detail=f"The debtor's state is {shown}, so their local time is unknown and calling hours cannot be checked: "
            "blocked. Correct the account's address.")], None  # fmt: skip
    locals_ = "; ".join(_local(now, zone) for zone in zones.zones)
    reasons = [Reason(code=Code.LOCAL_TIME, rule="12 CFR 1006.6(b)(1)(i)", blocking=False,
                      detail=f"Debtor's local time ({zones.basis}): {locals_}.")]
    late = [zone for zone in zones.zones if not is_convenient(now, zone)]
    if late:
        until = next_convenient(now, zones.zones)
        when = f" Allowed again from {_stamp(until)}." if until else ""
        reasons.insert(0, Reason(
            code=Code.INCONVENIENT_TIME, rule="12 CFR 1006.6(b)(1)(i)", blocking=True, until=until,
            detail=f"Outside 8:00 a.m.-9:00 p.m. local time in {', '.join(late)} ({zones.basis}): "
            f"{'; '.join(_local(now, zone) for zone in late)}.{when}"))  # fmt: skip
    return reasons, zones


def evaluate(facts: ContactFacts) -> ContactVerdict:
    """The verdict for one intended contact, with every reason (blocking first)."""
    now = facts.now.astimezone(UTC)
    reasons = _holds(facts) + _permissions(facts) + _number(facts)
    if facts.channel == "call":
        reasons += _frequency(facts, now)
    hour_reasons, zones = _calling_hours(facts, now)
    reasons += hour_reasons
    reasons.sort(key=lambda reason: not reason.blocking)  # stable: blocking first, each group in rule order
    blocking = [reason for reason in reasons if reason.blocking]
    next_allowed: datetime | None = None
    if blocking and zones is not None and all(reason.code in TIMED_BLOCKS for reason in blocking):
        start = max([now, *(reason.until for reason in blocking if reason.until and reason.code != Code.INCONVENIENT_TIME)])
        next_allowed = next_convenient(start, zones.zones)
    return ContactVerdict(
        file_number=facts.file_number,
        channel=facts.channel,
        phone_number=facts.phone_number,
        checked_at=now,
        allowed=not blocking,
        reasons=reasons,
        next_allowed_at=next_allowed,
    )
