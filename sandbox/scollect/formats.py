"""The vendor's text formats: how dates, times, money and phone numbers look on the wire, and their checks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from typing import Final

# Placeholders the vendor's database uses for "no date" (they appear verbatim in the seed).
SENTINEL_DATE: Final = "1900-01-01"
SENTINEL_GMT_1899: Final = "Sun, 31 Dec 1899 00:00:00 GMT"
SENTINEL_GMT_1900: Final = "Mon, 01 Jan 1900 00:00:00 GMT"
SENTINEL_ZERO_TIMESTAMP: Final = "0000-00-00 00:00:00"

_PHONE = re.compile(r"\d{3}-\d{3}-\d{4}")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT = re.compile(r"\d+(\.\d{1,2})?")
_CALLBACK_TIME = re.compile(r"(1[0-2]|0?[1-9]):[0-5]\d ?[AaPp][Mm]")


def gmt(moment: datetime | date) -> str:
    """Flask's rendering of a datetime: 'Thu, 01 Dec 2022 13:14:01 GMT' (a date becomes midnight)."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def mdy(day: date) -> str:
    """The vendor's short date: '12/1/2022', without zero padding."""
    return f"{day.month}/{day.day}/{day.year}"


def clock12(moment: datetime | time) -> str:
    """Note times: '1:16 PM'."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def hhmm(moment: datetime | time) -> str:
    """Attempt times: '09:45'."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


def is_phone(value: str) -> bool:
    return _PHONE.fullmatch(value) is not None


def is_ssn(value: str) -> bool:
    return _SSN.fullmatch(value) is not None


def is_callback_time(value: str) -> bool:
    return _CALLBACK_TIME.fullmatch(value.strip()) is not None


def parse_ymd(value: str) -> date | None:
    """A yyyy-mm-dd date, or None when the text is not one (including impossible days like 2025-02-30)."""
    if _YMD.fullmatch(value) is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_amount(value: object) -> Decimal | None:
    """A positive amount with at most two decimals ('100.00', '9', 9.5), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if _AMOUNT.fullmatch(text) is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already excludes this
        return None
    return amount if amount > 0 else None


def money(amount: Decimal) -> str:
    """'809.00'."""
    return f"{amount.quantize(Decimal('0.01'))}"


def parse_money(text: object) -> Decimal:
    """Read a stored money string ('809.00', '$0.00', '7,000'); blanks count as zero."""
    cleaned = str(text or "").replace("$", "").replace(",", "").strip()
    try:
        return Decimal(cleaned) if cleaned else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
