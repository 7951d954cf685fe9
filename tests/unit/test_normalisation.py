"""Argument normalisation and output compaction: the catalog's common formats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from collections_mcp.tools.common.compact import Page, compact_mapping, flag, iso_date, iso_timestamp, money
from collections_mcp.tools.common.types import (
    Amount,
    FileNumber,
    MaskedCard,
    MaskedSSN,
    PhoneNumber,
    SocialSecurityNumber,
    mask_ssn,
)


class _Phone(BaseModel):
    phone: PhoneNumber


class _File(BaseModel):
    file_number: FileNumber


class _Amount(BaseModel):
    amount: Amount


class _Ssn(BaseModel):
    ssn: SocialSecurityNumber


class _Masked(BaseModel):
    ssn: MaskedSSN
    card: MaskedCard


@pytest.mark.parametrize(
    "raw", ["716-628-9899", "(716) 628-9899", "716.628.9899", "7166289899", "+1 716 628 9899", "1-716-628-9899"]
)
def test_us_phone_forms_normalise_to_vendor_format(raw: str) -> None:
    assert _Phone(phone=raw).phone == "716-628-9899"


@pytest.mark.parametrize("raw", ["628-9899", "+44 20 7946 0958", "phone", "716-628-98999"])
def test_non_us_or_short_phones_are_rejected_with_the_expected_form(raw: str) -> None:
    with pytest.raises(ValidationError, match="716-628-9899"):
        _Phone(phone=raw)


def test_file_number_is_trimmed_and_case_preserved() -> None:
    assert _File(file_number="  r1000 ").file_number == "r1000"
    with pytest.raises(ValidationError):
        _File(file_number="R1000/../x")


def test_ssn_accepts_both_forms_and_never_prints_digits() -> None:
    ssn = _Ssn(ssn="111223333").ssn
    assert ssn.reveal() == "111-22-3333"
    assert str(ssn) == repr(ssn).split("'")[1] == "***-**-3333"
    assert _Ssn(ssn="111-22-3333").model_dump_json() == '{"ssn":"***-**-3333"}'
    with pytest.raises(ValidationError, match="###-##-####"):
        _Ssn(ssn="111-22-333")


def test_masked_output_types_mask_at_construction() -> None:
    masked = _Masked(ssn="111-22-3333", card="4111111111111111")
    assert (masked.ssn, masked.card) == ("***-**-3333", "****1111")
    assert mask_ssn("0000") == "***-**-0000"


@pytest.mark.parametrize(("raw", "expected"), [("100", "100.00"), ("$1,234.5", "1234.50"), ("0.01", "0.01")])
def test_amounts_are_decimal_strings(raw: str, expected: str) -> None:
    parsed = _Amount(amount=raw)
    assert parsed.amount == Decimal(expected)
    assert parsed.model_dump(mode="json") == {"amount": expected}


@pytest.mark.parametrize("raw", ["0", "-5", "1.005", "abc", 10.5])
def test_bad_amounts_are_rejected(raw: object) -> None:
    with pytest.raises(ValidationError):
        _Amount(amount=raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12/1/2022", "2022-12-01"),
        ("Thu, 01 Dec 2022 13:14:01 GMT", "2022-12-01"),
        (" 11/23/23", "2023-11-23"),
        ("2023-04-15", "2023-04-15"),
        ("1900-01-01", None),
        ("1/1/1900", None),
        ("Sun, 31 Dec 1899 00:00:00 GMT", None),
        ("Mon, 01 Jan 1900 00:00:00 GMT", None),
        ("0000-00-00 00:00:00", None),
        ("null", None),
        (" ", None),
        (None, None),
    ],
)
def test_vendor_dates_become_iso_and_sentinels_vanish(raw: object, expected: str | None) -> None:
    assert iso_date(raw) == expected


def test_timestamps_keep_their_time() -> None:
    assert iso_timestamp("Thu, 01 Dec 2022 13:14:01 GMT") == "2022-12-01T13:14:01"
    assert iso_timestamp("Thu, 01 Dec 2022 00:00:00 GMT") == "2022-12-01"


def test_money_flags_and_compaction() -> None:
    assert money("$0.00") == "0.00"
    assert money(" ") is None
    assert (flag("YES"), flag("0"), flag(1), flag("maybe")) == (True, False, True, None)
    row = {"a": " ", "b": "null", "c": None, "d": "x ", "e": "Sun, 31 Dec 1899 00:00:00 GMT", "f": 0, "g": "12/5/2022"}
    assert compact_mapping(row) == {"d": "x", "f": 0, "g": "2022-12-05"}


def test_paginate_reports_total_and_next_offset() -> None:
    page = Page[int].of(list(range(5)), limit=2, offset=2)
    assert (page.items, page.total, page.next_offset) == ([2, 3], 5, 4)
    last = Page[int].of(list(range(5)), limit=2, offset=4)
    assert (last.items, last.next_offset) == ([4], None)
