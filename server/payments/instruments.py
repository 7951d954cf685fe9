"""Card and bank details as the payment page accepts them: validated, masked in every text form, wipeable.

Error texts never repeat a number the person typed. The CVV exists only on the instrument (and, later, inside
the vendor request): no text form shows it, not even masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pydantic import SecretStr

from collections_mcp.server.core.redaction import luhn_valid

_SEPARATORS = re.compile(r"[\s-]")
_NAME = re.compile(r"^[^\d<>{}\[\]\\/|@#$%^*=+_~`\"]{1,80}$")
_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


def aba_routing_valid(routing: str) -> bool:
    """ABA routing number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(char) for char in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def card_brand(number: str) -> str:
    """The card network from the number's prefix (IIN ranges), as Scollect's `cardtype` names it."""
    if number.startswith(("34", "37")):
        return "Amex"
    if number.startswith("4"):
        return "Visa"
    two, four = int(number[:2] or 0), int(number[:4] or 0)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "MasterCard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3] or 0) <= 649:
        return "Discover"
    return "Card"


def _last4(secret: SecretStr) -> str:
    return secret.get_secret_value()[-4:]


@dataclass(eq=False, repr=False)
class CardDetails:
    """A payment card entered on the capture page. Its text forms are masked; the CVV never appears in any."""

    number: SecretStr
    cvv: SecretStr
    exp_month: int
    exp_year: int
    holder: str
    zip_code: str
    kind: Literal["card"] = field(default="card", init=False)
    wiped: bool = field(default=False, init=False)

    @property
    def brand(self) -> str:
        return card_brand(self.number.get_secret_value())

    @property
    def last4(self) -> str:
        return _last4(self.number)

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}"

    @property
    def masked(self) -> str:
        return f"card ****{self.last4} exp {self.expiry}"

    def wipe(self) -> None:
        """Drop the numbers (Python strings cannot be zeroed; this removes our references to them)."""
        self.number = SecretStr("")
        self.cvv = SecretStr("")
        self.wiped = True

    def __repr__(self) -> str:
        return f"CardDetails({self.masked!r})"

    __str__ = __repr__


@dataclass(eq=False, repr=False)
class BankDetails:
    """A bank account (ACH) entered on the capture page. Its text forms are masked."""

    routing: SecretStr
    account: SecretStr
    account_type: Literal["Checking", "Savings"]
    holder: str
    kind: Literal["bank"] = field(default="bank", init=False)
    wiped: bool = field(default=False, init=False)

    @property
    def last4(self) -> str:
        return _last4(self.account)

    @property
    def masked(self) -> str:
        return f"bank ****{self.last4} routing ****{_last4(self.routing)}"

    def wipe(self) -> None:
        self.routing = SecretStr("")
        self.account = SecretStr("")
        self.wiped = True

    def __repr__(self) -> str:
        return f"BankDetails({self.masked!r})"

    __str__ = __repr__


Instrument = CardDetails | BankDetails
FormErrors = dict[str, str]
_ACCOUNT_TYPES: dict[str, Literal["Checking", "Savings"]] = {"checking": "Checking", "savings": "Savings"}


def _digits(value: str) -> str:
    return _SEPARATORS.sub("", value)


def _holder(form: Mapping[str, str], errors: FormErrors, what: str) -> str:
    name = " ".join(form.get("name", "").split())
    if not name or not _NAME.match(name) or not any(char.isalpha() for char in name):
        errors["name"] = f"Enter the name {what} (letters only, at most 80 characters)."
    return name


def validate_card(form: Mapping[str, str], today: date) -> CardDetails | FormErrors:
    """Check a submitted card form. Error texts never repeat a number the person typed."""
    errors: FormErrors = {}
    number = _digits(form.get("card_number", ""))
    if not number:
        errors["card_number"] = "Enter the card number."
    elif not number.isdigit() or not 13 <= len(number) <= 19:
        errors["card_number"] = "A card number has 13 to 19 digits; please check it."
    elif not luhn_valid(number):
        errors["card_number"] = "That card number is not valid (its check digit does not match); please check it."
    month = year = 0
    expiry = _EXPIRY.match(form.get("expiry", ""))
    if expiry is None:
        errors["expiry"] = "Enter the expiry date as MM/YYYY, for example 08/2030."
    else:
        month, year = int(expiry.group(1)), int(expiry.group(2))
        year += 2000 if year < 100 else 0
        if not 1 <= month <= 12:
            errors["expiry"] = "The expiry month must be between 01 and 12."
        elif (year, month) < (today.year, today.month):
            errors["expiry"] = f"This card expired at the end of {month:02d}/{year}; use a card that is still valid."
        elif year > today.year + 20:
            errors["expiry"] = "That expiry year is too far in the future; please check it."
    cvv = form.get("cvv", "").strip()
    amex = number.startswith(("34", "37"))
    wanted = 4 if amex else 3
    if not (cvv.isdigit() and len(cvv) == wanted):
        where = "on the front of the card" if amex else "on the back of the card"
        errors["cvv"] = f"Enter the {wanted}-digit security code {where}."
    holder = _holder(form, errors, "as it appears on the card")
    zip_code = form.get("zip", "").strip()
    if not _ZIP.match(zip_code):
        errors["zip"] = "Enter the billing ZIP code (5 digits, or ZIP+4)."
    if errors:
        return errors
    return CardDetails(
        number=SecretStr(number), cvv=SecretStr(cvv), exp_month=month, exp_year=year, holder=holder, zip_code=zip_code
    )


def validate_bank(form: Mapping[str, str]) -> BankDetails | FormErrors:
    """Check a submitted bank form (ABA checksum on the routing number, account 4-17 digits)."""
    errors: FormErrors = {}
    routing = _digits(form.get("routing_number", ""))
    if not routing.isdigit() or len(routing) != 9:
        errors["routing_number"] = "A routing number has exactly 9 digits; please check it."
    elif not aba_routing_valid(routing):
        errors["routing_number"] = "That routing number is not valid (its checksum does not match); please check it."
    account = _digits(form.get("account_number", ""))
    if not account.isdigit() or not 4 <= len(account) <= 17:
        errors["account_number"] = "An account number has 4 to 17 digits; please check it."
    account_type = _ACCOUNT_TYPES.get(form.get("account_type", "").strip().lower())
    if account_type is None:
        errors["account_type"] = "Choose checking or savings."
    holder = _holder(form, errors, "on the bank account")
    if errors or account_type is None:
        return errors
    return BankDetails(routing=SecretStr(routing), account=SecretStr(account), account_type=account_type, holder=holder)
