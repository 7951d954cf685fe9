"""Turning a vendor's verbose rows into what an LLM should read: no blanks, no sentinels, ISO dates.

Vendors pad with " ", "null", null and placeholder dates (1900-01-01, Sun 31 Dec 1899, 0000-00-00);
every one of those is "unknown" and is dropped rather than shown. Dates come in several formats and
leave here as ISO 8601. Money stays a decimal string.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, Field

_BLANKS = {"", "null", "none", "n/a"}
_SENTINEL_YEARS = {0, 1899, 1900}
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")

T = TypeVar("T")


def text(value: Any) -> str | None:
    """A vendor string, trimmed; blanks and 'null' become None."""
    if value is None:
        return None
    result = str(value).strip()
    return None if result.lower() in _BLANKS else result


def _is_sentinel(year: int) -> bool:
    return year in _SENTINEL_YEARS


def parse_vendor_datetime(value: Any) -> datetime | date | None:
    """Parse the date formats vendors mix: '12/1/2022', 'Thu, 01 Dec 2022 13:14:01 GMT', '2023-04-15',
    '2025-03-17 10:00:00', ' 11/23/23'. Sentinels and unparseable text give None."""
    raw = text(value)
    if raw is None:
        return None
    if raw.startswith("0000-00-00"):
        return None
    if match := _SLASH_DATE.match(raw):
        month, day, year = (int(part) for part in match.groups())
        if year < 100:
            year += 2000
        try:
            parsed_date = date(year, month, day)
        except ValueError:
            return None
        return None if _is_sentinel(parsed_date.year) else parsed_date
    if match := _ISO_DATE.match(raw):
        parts = [int(p) if p else 0 for p in match.groups()]
        try:
            if match.group(4) is None:
                parsed_date = date(parts[0], parts[1], parts[2])
                return None if _is_sentinel(parsed_date.year) else parsed_date
            stamp = datetime(*parts[:6])  # type: ignore[arg-type]
        except ValueError:
            return None
        return None if _is_sentinel(stamp.year) else stamp
    try:
        stamp = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if _is_sentinel(stamp.year):
        return None
    # RFC 1123 stamps at midnight are how the vendor writes plain dates.
    if (stamp.hour, stamp.minute, stamp.second) == (0, 0, 0):
        return stamp.date()
    return stamp.replace(tzinfo=None)


def iso_date(value: Any) -> str | None:
    """Vendor date -> 'YYYY-MM-DD' (the date part of a timestamp), or None."""
    parsed = parse_vendor_datetime(value)
    if parsed is None:
        return None
    return (parsed.date() if isinstance(parsed, datetime) else parsed).isoformat()


def iso_timestamp(value: Any) -> str | None:
    """Vendor date or timestamp -> ISO 8601 ('2022-12-01T13:14:01' or '2022-12-01'), or None."""
    parsed = parse_vendor_datetime(value)
    return None if parsed is None else parsed.isoformat()


def money(value: Any) -> str | None:
    """'$1,234.5' / '809.00' / 809 -> '1234.50' / '809.00' / '809.00'; blanks -> None."""
    raw = text(value)
    if raw is None:
        return None
    try:
        amount = Decimal(raw.replace("$", "").replace(",", ""))
    except InvalidOperation:
        return None
    return f"{amount:.2f}"


def integer(value: Any) -> int | None:
    """A vendor count or id: 5, '5', ' 5 ' -> 5; blanks and non-numbers -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    raw = text(value)
    return int(raw) if raw is not None and raw.isdigit() else None


def flag(value: Any) -> bool | None:
    """'YES'/'NO', '1'/'0', 1/0, true/false -> bool; blanks -> None."""
    raw = text(value)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in {"yes", "y", "1", "true"}:
        return True
    if lowered in {"no", "n", "0", "false"}:
        return False
    return None


def compact_mapping(row: dict[str, Any]) -> dict[str, Any]:
    """Drop blank and sentinel values from a raw vendor row; dates become ISO, other values stay as given."""
    result: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str):
            cleaned = text(value)
            if cleaned is None:
                continue
            if _looks_like_date(cleaned):
                iso = iso_timestamp(cleaned)
                if iso is None:
                    continue
                result[key] = iso
                continue
            result[key] = cleaned
        elif value is not None:
            result[key] = value
    return result


def _looks_like_date(value: str) -> bool:
    return bool(
        _SLASH_DATE.match(value)
        or _ISO_DATE.match(value)
        or value.startswith("0000-00-00")
        or re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} ", value)
    )


class Page(BaseModel, Generic[T]):
    """One page of a longer list. Ask again with offset=next_offset for more."""

    items: list[T]
    total: int = Field(description="How many items exist in all.")
    offset: int
    next_offset: int | None = Field(default=None, description="Offset of the next page; absent on the last page.")

    @classmethod
    def of(cls, items: list[T], *, limit: int, offset: int) -> Self:
        """The page of `items` at `offset`; call on the concrete type, e.g. `Page[Note].of(...)`."""
        window = items[offset : offset + limit]
        following = offset + len(window)
        return cls(
            items=window,
            total=len(items),
            offset=offset,
            next_offset=following if following < len(items) else None,
        )
