"""Argument and output types shared by every vendor toolset.

Arguments are normalised on the way in (the catalog's "common argument formats"), so a handler only
ever sees the vendor-ready form. Sensitive output types mask themselves at validation time: the full
value never exists in an output model, so no serialiser, log line or audit record can leak it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, Field, GetCoreSchemaHandler, PlainSerializer
from pydantic_core import core_schema

_DIGITS = re.compile(r"\D")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def normalise_us_phone(value: str) -> str:
    """Any common US form ('(716) 628-9899', '+1 716.628.9899', '7166289899') -> '716-628-9899'."""
    try:
        parsed = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{value}' is not a phone number; expected a US number such as 716-628-9899") from exc
    national = str(parsed.national_number)
    if parsed.country_code != 1 or len(national) != 10 or not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"'{value}' is not a 10-digit US phone number; expected a form such as 716-628-9899")
    return f"{national[:3]}-{national[3:6]}-{national[6:]}"


def _phone(value: Any) -> Any:
    return normalise_us_phone(value) if isinstance(value, str) else value


FileNumber = Annotated[
    str,
    BeforeValidator(_strip),
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="e.g. 'R1000'.",
        examples=["R1000"],
    ),
]

PhoneNumber = Annotated[
    str,
    BeforeValidator(_phone),
    Field(description="Any US form, e.g. '716-628-9899'."),
]

IsoDate = date


def _amount(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("give the amount as a string such as '100.00', not a float")
    if isinstance(value, str):
        text = value.strip().replace(",", "").lstrip("$")
        try:
            return Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"'{value}' is not an amount; expected a decimal string such as '100.00'") from exc
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    Field(gt=0, max_digits=12, decimal_places=2, description="Dollars, e.g. '100.00' (> 0, 2 decimals)."),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str),
]


class SocialSecurityNumber:
    """An SSN given as an argument. Its text form is always masked; only `reveal()` gives the digits to a client."""

    __slots__ = ("_digits",)

    def __init__(self, value: str) -> None:
        digits = _DIGITS.sub("", value)
        if len(digits) != 9 or not re.fullmatch(r"\d{3}-?\d{2}-?\d{4}", value.strip()):
            raise ValueError("expected an SSN as ###-##-#### or 9 digits")
        self._digits = digits

    def reveal(self) -> str:
        """The vendor's wire form ###-##-####; call only where the value goes to the vendor."""
        return f"{self._digits[:3]}-{self._digits[3:5]}-{self._digits[5:]}"

    @property
    def masked(self) -> str:
        return mask_ssn(self._digits)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"SocialSecurityNumber({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SocialSecurityNumber) and other._digits == self._digits

    def __hash__(self) -> int:
        return hash(self._digits)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def build(value: Any) -> SocialSecurityNumber:
            if isinstance(value, SocialSecurityNumber):
                return value
            if not isinstance(value, str):
                raise ValueError("expected an SSN string such as 123-45-6789")
            return cls(value)

        return core_schema.no_info_plain_validator_function(
            build,
            json_schema_input_schema=core_schema.str_schema(pattern=r"^\d{3}-?\d{2}-?\d{4}$"),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda ssn: ssn.masked),
        )


def mask_ssn(value: str) -> str:
    """'111-22-3333' -> '***-**-3333'. Anything without 4 trailing digits is fully masked."""
    digits = _DIGITS.sub("", value)
    return f"***-**-{digits[-4:]}" if len(digits) >= 4 else "***-**-****"


def mask_card(value: str) -> str:
    """'4111111111111111' -> '****1111' (tokenised vendor values mask the same way)."""
    tail = re.sub(r"[^0-9A-Za-z]", "", value)[-4:]
    return f"****{tail}" if tail else "****"


def mask_account_number(value: str) -> str:
    """Bank account and routing numbers: only the last 4 survive."""
    return mask_card(value)


def _mask_ssn_if_present(value: str | None) -> str | None:
    return mask_ssn(value) if value else None


MaskedSSN = Annotated[str, AfterValidator(mask_ssn), Field(description="SSN, masked: ***-**-1234.")]
MaskedCard = Annotated[str, AfterValidator(mask_card), Field(description="Card number, masked: ****1111.")]
MaskedBankNumber = Annotated[str, AfterValidator(mask_account_number), Field(description="Masked: ****6789.")]
