"""Payment details: page validation (Luhn, expiry, ABA), masking, the single-use page, and the money tool arguments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.routing import Mount

from collections_mcp.server.payments.instruments import (
    BankDetails,
    CardDetails,
    aba_routing_valid,
    card_brand,
    validate_bank,
    validate_card,
)
from collections_mcp.server.payments.service import MAX_INVALID_SUBMISSIONS, Capture, CaptureService
from collections_mcp.server.policy.capture import CaptureSubject
from collections_mcp.server.settings import ConfigError
from collections_mcp.tools.common.errors import InvalidArgument
from collections_mcp.tools.scollect.payments import (
    CapturedBank,
    CapturedCard,
    RecordPaymentArgs,
    RecordPaymentPlanArgs,
    RunPaymentArgs,
    UpdatePendingPaymentArgs,
    today_of,
)

TODAY = date(2031, 5, 17)
CARD = {"method": "card", "card_number": "4111 1111 1111 1111", "expiry": "12/2031", "cvv": "739",
        "name": "Jane Q Payor", "zip": "87035"}  # fmt: skip
BANK = {"method": "bank", "routing_number": "021000021", "account_number": "000123456789",
        "account_type": "Savings", "name": "Jane Q Payor"}  # fmt: skip


# ------------------------------------------------------------------------------------------ checksums


@pytest.mark.parametrize("routing", ["021000021", "011000015", "122105155", "111000025"])
def test_valid_routing_numbers(routing: str) -> None:
    assert aba_routing_valid(routing)


@pytest.mark.parametrize("routing", ["021000022", "123456789", "02100002", "0210000210", "02100002a", ""])
def test_invalid_routing_numbers(routing: str) -> None:
    assert not aba_routing_valid(routing)


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4111111111111111", "Visa"), ("5555555555554444", "MasterCard"), ("2221000000000009", "MasterCard"),
     ("378282246310005", "Amex"), ("6011111111111117", "Discover"), ("3530111333300000", "Card")],
)  # fmt: skip
def test_card_brand(number: str, brand: str) -> None:
    assert card_brand(number) == brand


# ------------------------------------------------------------------------------------------ card form


def test_a_good_card_is_accepted_and_masked() -> None:
    card = validate_card(CARD, TODAY)
    assert isinstance(card, CardDetails)
    assert card.number.get_secret_value() == "4111111111111111" and card.cvv.get_secret_value() == "739"
    assert (card.exp_month, card.exp_year, card.brand, card.holder) == (12, 2031, "Visa", "Jane Q Payor")
    assert card.masked == "card ****1111 exp 12/2031"
    for text in (repr(card), str(card), f"{card}"):
        assert "4111111111111111" not in text and "739" not in text


@pytest.mark.parametrize(
    ("change", "field", "wording"),
    [
        ({"card_number": "4111111111111112"}, "card_number", "check digit does not match"),
        ({"card_number": "4111 1111 1111"}, "card_number", "13 to 19 digits"),
        ({"card_number": "4111x11111111111"}, "card_number", "13 to 19 digits"),
        ({"card_number": ""}, "card_number", "Enter the card number"),
        ({"expiry": "04/2031"}, "expiry", "expired at the end of 04/2031"),
        ({"expiry": "13/2031"}, "expiry", "between 01 and 12"),
        ({"expiry": "2031-12"}, "expiry", "MM/YYYY"),
        ({"expiry": "12/2060"}, "expiry", "too far"),
        ({"cvv": "12"}, "cvv", "3-digit security code"),
        ({"cvv": "1234"}, "cvv", "3-digit security code"),
        ({"name": "4111111111111111"}, "name", "letters only"),
        ({"name": "   "}, "name", "letters only"),
        ({"zip": "8703"}, "zip", "ZIP"),
    ],
)
def test_card_errors_are_specific_and_never_repeat_the_number(change: dict[str, str], field: str, wording: str) -> None:
    errors = validate_card(CARD | change, TODAY)
    assert isinstance(errors, dict)
    assert wording in errors[field]
    assert all("4111" not in message for message in errors.values())


@pytest.mark.parametrize(
    ("expiry", "valid"), [("05/2031", True), ("5/31", True), ("04/2031", False), ("12/2030", False)]
)
def test_a_card_is_valid_through_the_end_of_its_expiry_month(expiry: str, valid: bool) -> None:
    assert isinstance(validate_card(CARD | {"expiry": expiry}, TODAY), CardDetails) is valid


def test_amex_needs_a_four_digit_code() -> None:
    amex = CARD | {"card_number": "378282246310005"}
    errors = validate_card(amex, TODAY)
    assert isinstance(errors, dict) and "4-digit security code on the front" in errors["cvv"]
    card = validate_card(amex | {"cvv": "7319"}, TODAY)
    assert isinstance(card, CardDetails) and card.brand == "Amex"


def test_wiping_drops_the_numbers() -> None:
    card = validate_card(CARD, TODAY)
    bank = validate_bank(BANK)
    assert isinstance(card, CardDetails) and isinstance(bank, BankDetails)
    card.wipe()
    bank.wipe()
    assert card.wiped and card.number.get_secret_value() == "" and card.cvv.get_secret_value() == ""
    assert bank.wiped and bank.account.get_secret_value() == "" and bank.routing.get_secret_value() == ""


# ------------------------------------------------------------------------------------------ bank form


def test_a_good_bank_account_is_accepted_and_masked() -> None:
    bank = validate_bank(BANK | {"routing_number": "021-000-021"})
    assert isinstance(bank, BankDetails)
    assert (bank.routing.get_secret_value(), bank.account.get_secret_value()) == ("021000021", "000123456789")
    assert bank.account_type == "Savings"
    assert bank.masked == "bank ****6789 routing ****0021"
    assert "000123456789" not in repr(bank) and "021000021" not in repr(bank)


@pytest.mark.parametrize(
    ("change", "field", "wording"),
    [
        ({"routing_number": "021000022"}, "routing_number", "checksum does not match"),
        ({"routing_number": "02100002"}, "routing_number", "exactly 9 digits"),
        ({"account_number": "123"}, "account_number", "4 to 17 digits"),
        ({"account_number": "1" * 18}, "account_number", "4 to 17 digits"),
        ({"account_type": "brokerage"}, "account_type", "checking or savings"),
        ({"name": ""}, "name", "letters only"),
    ],
)
def test_bank_errors_are_specific(change: dict[str, str], field: str, wording: str) -> None:
    errors = validate_bank(BANK | change)
    assert isinstance(errors, dict) and wording in errors[field]


def test_the_server_instruments_have_the_shape_the_tools_expect() -> None:
    card = validate_card(CARD, TODAY)
    bank = validate_bank(BANK)
    assert isinstance(card, CardDetails) and isinstance(bank, BankDetails)
    as_card: CapturedCard = card  # checked by mypy: tools/scollect/payments.py relies on this shape
    as_bank: CapturedBank = bank
    assert as_card.kind == "card" and as_bank.kind == "bank"


# ------------------------------------------------------------------------------------------ the page


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2031, 5, 17, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> CaptureService:
    return CaptureService(clock, ttl_seconds=300)


@pytest.fixture
async def browser(service: CaptureService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


def open_capture(service: CaptureService) -> Capture:
    return service.open(tool="scollect_record_payment", call_id="c1", file_number="R1060", amount=Decimal("1234.5"),
                        purpose="a payment of $1,234.50 dated 2031-06-01")  # fmt: skip


@pytest.mark.anyio
async def test_the_page_shows_what_it_is_for_and_nothing_else(
    service: CaptureService, browser: httpx.AsyncClient
) -> None:
    capture = open_capture(service)
    page = await browser.get(f"/pay/{capture.token}")
    assert page.status_code == 200
    assert "R1060" in page.text and "$1,234.50" in page.text and "dated 2031-06-01" in page.text
    assert 'name="card_number"' in page.text and 'name="routing_number"' in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[1]  # self-contained
    assert (
        page.headers["cache-control"] == "no-store"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.anyio
async def test_unknown_tokens_are_404(service: CaptureService, browser: httpx.AsyncClient) -> None:
    capture = open_capture(service)
    assert (await browser.get(f"/pay/{capture.token[:-1]}x")).status_code == 404
    assert (await browser.post("/pay/nothing", data=CARD)).status_code == 404
    assert (await browser.get("/")).status_code == 404


@pytest.mark.anyio
async def test_a_submission_is_accepted_once(service: CaptureService, browser: httpx.AsyncClient) -> None:
    capture = open_capture(service)
    bad = await browser.post(f"/pay/{capture.token}", data=CARD | {"card_number": "4111111111111112", "cvv": "739"})
    assert bad.status_code == 422 and "check digit" in bad.text
    assert "4111111111111112" not in bad.text and "739" not in bad.text
    assert not capture.done.is_set()
    good = await browser.post(f"/pay/{capture.token}", data=BANK)
    assert good.status_code == 200 and "ending in 6789" in good.text and "021000021" not in good.text
    assert capture.done.is_set() and capture.state == "used"
    assert isinstance(capture.instrument, BankDetails)
    assert (await browser.get(f"/pay/{capture.token}")).status_code == 410
    assert (await browser.post(f"/pay/{capture.token}", data=CARD)).status_code == 410
    instrument = capture.instrument
    service.close(capture)
    assert instrument.wiped and capture.instrument is None


@pytest.mark.anyio
async def test_an_expired_link_is_gone(service: CaptureService, browser: httpx.AsyncClient, clock: Clock) -> None:
    capture = open_capture(service)
    clock.now += timedelta(seconds=299)
    assert (await browser.get(f"/pay/{capture.token}")).status_code == 200
    clock.now += timedelta(seconds=1)
    assert (await browser.get(f"/pay/{capture.token}")).status_code == 410
    assert (await browser.post(f"/pay/{capture.token}", data=CARD)).status_code == 410
    assert await service.wait(capture, 5) is None  # no waiting past the expiry


@pytest.mark.anyio
async def test_too_many_invalid_submissions_close_the_link(service: CaptureService, browser: httpx.AsyncClient) -> None:
    capture = open_capture(service)
    for _ in range(MAX_INVALID_SUBMISSIONS - 1):
        assert (await browser.post(f"/pay/{capture.token}", data=BANK | {"routing_number": "1"})).status_code == 422
    assert (await browser.post(f"/pay/{capture.token}", data=BANK | {"routing_number": "1"})).status_code == 410
    assert (await browser.post(f"/pay/{capture.token}", data=BANK)).status_code == 410
    assert capture.state == "closed"


@pytest.mark.anyio
async def test_a_form_too_large_is_refused(service: CaptureService, browser: httpx.AsyncClient) -> None:
    capture = open_capture(service)
    response = await browser.post(f"/pay/{capture.token}", data=CARD | {"name": "x" * 10_000})
    assert response.status_code == 413
    assert capture.state == "open"


@pytest.mark.anyio
async def test_closing_wakes_a_waiting_call(service: CaptureService) -> None:
    capture = open_capture(service)
    service.close(capture)
    assert await service.wait(capture, 5) is None


def test_card_details_only_cross_a_network_over_tls() -> None:
    now = Clock()
    with pytest.raises(ConfigError, match="not a loopback address"):
        CaptureService(now, host="0.0.0.0")
    with pytest.raises(ConfigError, match="must use https"):
        CaptureService(now, host="0.0.0.0", public_url="http://pay.example.com")
    with pytest.raises(ConfigError, match="absolute"):
        CaptureService(now, public_url="pay.example.com")
    behind_proxy = CaptureService(now, host="0.0.0.0", public_url="https://pay.example.com/collections/")
    assert behind_proxy.public_url == "https://pay.example.com/collections"
    assert CaptureService(now, host="::1").host == "::1"


# ------------------------------------------------------------------------------------------ tool arguments

NOW = datetime(2031, 5, 17, 15, 0, tzinfo=UTC)


def test_today_is_the_date_in_the_last_us_state() -> None:
    assert today_of(datetime(2031, 5, 18, 9, 59, tzinfo=UTC)) == date(2031, 5, 17)  # 23:59 in Honolulu
    assert today_of(datetime(2031, 5, 18, 10, 0, tzinfo=UTC)) == date(2031, 5, 18)
    assert today_of(datetime(2031, 5, 18, 10, 0)) == date(2031, 5, 18)  # naive means UTC


def test_record_payment_defaults_to_today_and_refuses_past_dates() -> None:
    args = RecordPaymentArgs.model_validate({"file_number": "R1060", "amount": "100"})
    assert isinstance(args, CaptureSubject)
    assert args.capture_amount == Decimal("100") and args.day(NOW) == date(2031, 5, 17)
    assert args.capture_purpose(NOW) == "a payment of $100.00 dated 2031-05-17"
    past = RecordPaymentArgs.model_validate({"file_number": "R1060", "amount": "1.00", "payment_date": "2031-05-16"})
    with pytest.raises(InvalidArgument, match=r"payment_date 2031-05-16 is in the past \(today is 2031-05-17\)"):
        past.capture_purpose(NOW)


@pytest.mark.parametrize("amount", ["0", "-5.00", "10.001", 10.5, "ten"])
def test_amounts_are_positive_decimals_with_two_places(amount: object) -> None:
    with pytest.raises(ValidationError):
        RecordPaymentArgs.model_validate({"file_number": "R1060", "amount": amount})


def test_card_numbers_are_not_arguments() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        RecordPaymentArgs.model_validate({"file_number": "R1060", "amount": "1.00", "card_number": "4111111111111111"})
    with pytest.raises(ValidationError, match="no digits"):
        UpdatePendingPaymentArgs.model_validate({"file_number": "R1011", "payor_name": "4111111111111111"})


def test_a_plan_is_sorted_summed_and_checked() -> None:
    plan = RecordPaymentPlanArgs.model_validate({"file_number": "R1061", "schedule": [
        {"payment_date": "2031-07-01", "amount": "50.25"}, {"payment_date": "2031-06-01", "amount": "49.75"}]})  # fmt: skip
    assert [p.payment_date for p in plan.schedule] == [date(2031, 6, 1), date(2031, 7, 1)]
    assert plan.total == Decimal("100.00") and plan.capture_amount == Decimal("100.00")
    assert plan.capture_purpose(NOW) == "a payment plan of 2 payments totalling $100.00, from 2031-06-01 to 2031-07-01"
    with pytest.raises(InvalidArgument, match="2031-07-01"):
        plan.capture_purpose(datetime(2031, 8, 1, 12, tzinfo=UTC))
    with pytest.raises(ValidationError, match="at least 1"):
        RecordPaymentPlanArgs.model_validate({"file_number": "R1061", "schedule": []})
    with pytest.raises(ValidationError, match="each date may appear once"):
        RecordPaymentPlanArgs.model_validate({"file_number": "R1061", "schedule": [
            {"payment_date": "2031-06-01", "amount": "1"}, {"payment_date": "2031-06-01", "amount": "2"}]})  # fmt: skip


def test_an_update_asks_for_details_only_for_a_new_method() -> None:
    with pytest.raises(ValidationError, match="give at least one change"):
        UpdatePendingPaymentArgs.model_validate({"file_number": "R1011"})
    date_only = UpdatePendingPaymentArgs.model_validate({"file_number": "R1011", "payment_date": "2031-06-01"})
    assert isinstance(date_only, CaptureSubject) and date_only.capture_purpose(NOW) is None
    new_method = UpdatePendingPaymentArgs.model_validate({"file_number": "R1011", "new_payment_method": True})
    assert new_method.capture_purpose(NOW) == "new payment details for every pending payment on the account"
    assert new_method.capture_amount is None
    past = UpdatePendingPaymentArgs.model_validate({"file_number": "R1011", "payment_date": "2031-05-01"})
    with pytest.raises(InvalidArgument, match="in the past"):
        past.capture_purpose(NOW)


def test_run_payment_needs_no_capture() -> None:
    args = RunPaymentArgs.model_validate({"file_number": "R1012", "amount": "10"})
    assert not isinstance(args, CaptureSubject)
    assert args.day(NOW) == date(2031, 5, 17)


def test_secret_str_is_what_holds_the_numbers() -> None:
    card = CardDetails(number=SecretStr("4111111111111111"), cvv=SecretStr("739"), exp_month=1, exp_year=2032,
                       holder="A B", zip_code="87035")  # fmt: skip
    assert "4111111111111111" not in repr(card.number) and card.last4 == "1111"


@pytest.mark.anyio
async def test_the_page_can_be_mounted_on_another_app(clock: Clock) -> None:
    service = CaptureService(clock)
    host = Starlette(routes=[Mount("/", routes=service.routes)])
    async with service.mounted("https://pay.example.com/"):
        capture = open_capture(service)
        url = service.url_for(capture)
        assert url == f"https://pay.example.com/pay/{capture.token}"
        transport = httpx.ASGITransport(app=host)
        async with httpx.AsyncClient(transport=transport, base_url="https://pay.example.com") as http:
            assert (await http.post(f"/pay/{capture.token}", data=CARD)).status_code == 200
    assert capture.state == "closed" and not service.serving_now
