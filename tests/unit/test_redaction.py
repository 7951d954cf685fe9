"""The final scrub: what a vendor leaks in free text never leaves unmasked."""

from __future__ import annotations

from collections_mcp.server.core.redaction import luhn_valid, scrub, scrub_text


def test_ssns_are_masked_even_when_truncated() -> None:
    assert scrub_text("SSN of 111-22-3333 not found") == "SSN of ***-**-3333 not found"
    assert scrub_text("SSN of 111-22-333 not found") == "SSN of ***-**-**** not found"


def test_card_numbers_are_masked_only_when_luhn_valid() -> None:
    assert luhn_valid("4111111111111111")
    assert scrub_text("card 4111 1111 1111 1111 ok") == "card ****1111 ok"
    assert scrub_text("ref 1234567812345678") == "ref 1234567812345678"


def test_nine_digit_runs_are_masked_as_possible_ssn_or_routing_numbers() -> None:
    assert scrub_text("routing 063105285") == "routing *****5285"


def test_phones_dates_and_amounts_survive() -> None:
    text = "call 716-628-9899 on 2024-03-15 about 809.00 (acct 12345679)"
    assert scrub_text(text) == text


def test_scrub_walks_nested_values() -> None:
    assert scrub({"a": ["111-22-3333", {"b": "4111111111111111"}], "n": 5}) == {
        "a": ["***-**-3333", {"b": "****1111"}],
        "n": 5,
    }


def test_credentials_inside_a_url_are_masked_wherever_text_is_scrubbed() -> None:
    text = "connecting to https://apiuser:s3cret-pass@api.example.test:8000/v1 failed; see ftp://anon@files.test"
    assert scrub_text(text) == "connecting to https://***@api.example.test:8000/v1 failed; see ftp://***@files.test"
    assert scrub_text("mail me at someone@example.test") == "mail me at someone@example.test"


def test_a_url_is_shown_without_its_credentials_query_or_fragment() -> None:
    from collections_mcp.server.core.redaction import display_url

    assert display_url("https://user:pass@api.example.test:8000/root?key=abc#x") == "https://api.example.test:8000/root"
    assert display_url("http://[::1]:9/x") == "http://[::1]:9/x"
    assert display_url("https://crm.example.test") == "https://crm.example.test"
