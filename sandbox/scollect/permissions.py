"""Values of the account-permission fields, checked against the data type the vendor's table gives each."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from collections_mcp.sandbox.scollect.fields import PermissionKind
from collections_mcp.sandbox.scollect.formats import is_phone, money, parse_ymd

PermissionValue = str | int | None

_DECIMAL: Final = re.compile(r"\d+(\.\d{1,2})?")
_BLANKABLE: Final = frozenset({PermissionKind.TEXT, PermissionKind.DATE, PermissionKind.PHONE})


class InvalidPermissionValue(ValueError):
    """The value does not fit the field's type; the message says what would."""


def coerce_permission(kind: PermissionKind, value: object) -> PermissionValue:
    """The value as the table stores it: flags and counts as int, money as '500.00', dates as yyyy-mm-dd."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if kind in _BLANKABLE:
            return None
        raise InvalidPermissionValue(f"expected {kind.value}")
    if isinstance(value, list | dict):
        raise InvalidPermissionValue(f"expected {kind.value}")
    text = str(value).strip()
    if isinstance(value, bool):
        text = "1" if value else "0"
    if kind is PermissionKind.FLAG:
        if text not in ("0", "1"):
            raise InvalidPermissionValue("expected 1 or 0")
        return int(text)
    if kind is PermissionKind.NUMBER:
        if not text.isdigit():
            raise InvalidPermissionValue("expected a whole number")
        return int(text)
    if kind is PermissionKind.DECIMAL:
        if _DECIMAL.fullmatch(text) is None:
            raise InvalidPermissionValue("expected an amount like 500.00")
        return money(Decimal(text))
    if kind is PermissionKind.DATE:
        if parse_ymd(text) is None:
            raise InvalidPermissionValue("expected a date as yyyy-mm-dd")
        return text
    if kind is PermissionKind.PHONE:
        if not is_phone(text):
            raise InvalidPermissionValue("expected a phone number as ###-###-####")
        return text
    return str(value)
