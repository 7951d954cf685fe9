"""The last line of defence: scrub anything that looks like an SSN, card or routing number.

Output models already mask sensitive fields by type; this catches what a vendor put where we did not
expect it (an SSN inside an error message, a card number in a note). It fails closed: a 9-digit
number is masked even when it is only an id, because we cannot tell it from an SSN or ABA number.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{3,4})(?![\d-])")
_NINE_DIGITS = re.compile(r"(?<![\d.])(\d{9})(?![\d.])")
_CARD_CANDIDATE = re.compile(r"(?<!\d)(\d(?:[ -]?\d){12,18})(?!\d)")
# user[:password]@ right after a URL scheme: HTTP basic credentials written into a configured URL.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]+@")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(1))
    return f"****{digits[-4:]}" if luhn_valid(digits) else match.group(0)


def scrub_text(value: str) -> str:
    value = _URL_CREDENTIALS.sub("***@", value)
    value = _CARD_CANDIDATE.sub(_card, value)
    value = _SSN.sub(lambda m: f"***-**-{m.group(3)[-4:]}" if len(m.group(3)) == 4 else "***-**-****", value)
    return _NINE_DIGITS.sub(lambda m: f"*****{m.group(1)[-4:]}", value)


def scrub(value: Any) -> Any:
    """Scrub every string inside a JSON-like value (dict keys are left alone: they are our names)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def display_url(url: str) -> str:
    """A configured URL as it may be shown (doctor, logs, errors): no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def has_url_credentials(value: str) -> bool:
    """True for a URL that carries user[:password]@ (it must be handled as a secret, whole)."""
    return bool(_URL_CREDENTIALS.search(value))
