"""Deterministic demo data for the Scollect simulator: the seed's own records plus generated accounts.

The same seed and the same day give the same data. Dates that matter for compliance (recent call attempts,
callbacks, pending payments) are placed relative to `now`, so the demo behaves the same on any day.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from collections_mcp.sandbox.scollect import demo_pools as pools
from collections_mcp.sandbox.scollect import seed_records as seed
from collections_mcp.sandbox.scollect.fields import ACCOUNT_TEMPLATE, PERMISSION_FIELDS, AccountValue
from collections_mcp.sandbox.scollect.formats import SENTINEL_DATE, SENTINEL_GMT_1899, clock12, gmt, hhmm, mdy, money

DEMO_API_KEY: Final = "BwsxgFT1cj4gbpmHnMCU"
DEMO_PIN: Final = "C2C"
ACCOUNT_COUNT: Final = 200
FIRST_FILE_NUMBER: Final = 1000

# Accounts tests and demos rely on, by what makes them special.
SPECIAL_ACCOUNTS: Final[dict[str, str]] = {
    "ivana": "R1000",  # the seed's IVANA LAST NAME: its phones and notes
    "bankruptcy": "R1001",  # the seed's MALIA GUEST, statusname "Bankruptcy", its attempts and payments
    "deceased": "R1002",  # deceased "YES" with a deceaseddate
    "cease_and_desist": "R1003",  # statusname "Cease and Desist", permission cont_debtor 0
    "attorney": "R1004",  # statusname "Attorney Represented", attorney name and phone filled
    "phone_lookup": "R1005",  # the seed's ANTHONY POPE, found by searchbyphone 716-628-9899
    "no_phones": "R1006",  # no phone rows: getphones answers the seed's error
    "many_notes": "R1007",  # 320 notes
    "no_attempts": "R1008",  # no call attempts at all
    "donottext": "R1009",  # donottext 1, cantext 0
    "donotemail": "R1010",  # donotemail 1, canemail 0
    "pending_payment": "R1011",  # one PENDING external payment (and one PROCESSED)
    "card_declined": "R1012",  # its only stored card ends in 0002: run_payment_external declines it
    "no_payment_method": "R1013",  # no stored payment method, no last payment
    "seven_in_seven": "R1014",  # 7 call attempts within the last 7 days (Reg F limit reached)
    "recent_contact": "R1015",  # SPOKE TO DEBTOR a day ago
    "shared_ssn": "R1016",  # the same person as R1116: getaccountbysocial returns both
    "claudia": "R1050",  # the seed's CLAUDIA LAST NAME (SSN 111-22-3333): 8 phones, shares 222-333-4444 with R1000
    "emails": "R1166",  # the seed's getemails tracking rows
}
SHARED_SSN_TWIN: Final = "R1116"
DECLINING_CARD_LAST4: Final = "0002"

Row = dict[str, Any]
_SPECIAL_BY_FILE: Final = {number: name for name, number in SPECIAL_ACCOUNTS.items()}
MINIMUM_ACCOUNT_COUNT: Final = (
    max(int(n[1:]) for n in [*SPECIAL_ACCOUNTS.values(), SHARED_SSN_TWIN]) - FIRST_FILE_NUMBER + 1
)
_SEED_PHONES: Final = frozenset(
    [str(p["phonenumber"]) for p in seed.IVANA_PHONES]
    + [p[0] for p in seed.MALIA_PHONES]
    + [p[0] for p in seed.CLAUDIA_PHONES]
    + [seed.POPE_PHONE]
)
# Seed identities override generated ones. MALIA's seed SSN is a placeholder (000-00-0000), so hers stays generated.
_IDENTITIES: Final[dict[str, dict[str, AccountValue]]] = {
    SPECIAL_ACCOUNTS["ivana"]: seed.IVANA,
    SPECIAL_ACCOUNTS["bankruptcy"]: seed.MALIA,
    SPECIAL_ACCOUNTS["phone_lookup"]: seed.POPE,
    SPECIAL_ACCOUNTS["claudia"]: seed.CLAUDIA,
    SPECIAL_ACCOUNTS["emails"]: {"emailaddress": seed.EMAIL_TO_R1166.upper()},
}
_TEST_CARDS: Final = ("4111111111111111", "5555555555554444", "4012888888881881", "378282246310005")


@dataclass
class DemoData:
    """Rows for every table of the simulator's database, keyed by column name."""

    portfolios: list[Row] = field(default_factory=list)
    accounts: list[dict[str, AccountValue]] = field(default_factory=list)
    permissions: list[Row] = field(default_factory=list)
    phones: list[Row] = field(default_factory=list)
    notes: list[Row] = field(default_factory=list)
    attempts: list[Row] = field(default_factory=list)
    emails: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)
    payment_methods: list[Row] = field(default_factory=list)
    last_payments: list[Row] = field(default_factory=list)
    external_payments: list[Row] = field(default_factory=list)
    callbacks: list[Row] = field(default_factory=list)
    texts_sent: list[Row] = field(default_factory=list)


@dataclass
class _Person:
    first: str
    middle: str
    last: str
    birth: date
    ssn: str
    address: str
    address2: str
    place: pools.Place
    zip: str
    email: str


@dataclass
class _Bundle:
    """One account and its child rows while it is being built."""

    account: dict[str, AccountValue]
    permissions: Row
    placed: date
    phones: list[Row] = field(default_factory=list)
    notes: list[Row] = field(default_factory=list)
    attempts: list[Row] = field(default_factory=list)
    emails: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)
    methods: list[Row] = field(default_factory=list)
    last_payment: Row | None = None
    external: list[Row] = field(default_factory=list)
    callbacks: list[Row] = field(default_factory=list)
    texts: list[Row] = field(default_factory=list)

    @property
    def file_number(self) -> str:
        return str(self.account["filenumber"])

    @property
    def account_id(self) -> int:
        return int(self.account["id"] or 0)


def generate(seed_value: int = 1000, now: datetime | None = None, count: int = ACCOUNT_COUNT) -> DemoData:
    """All demo rows for `count` accounts R1000, R1001, ...; deterministic for a given seed and day."""
    if count < MINIMUM_ACCOUNT_COUNT:
        raise ValueError(f"the demo needs at least {MINIMUM_ACCOUNT_COUNT} accounts (its special ones go up to R1166)")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return _Generator(random.Random(seed_value), moment).build(count)


def _clean_baseline(bundle: _Bundle) -> None:
    """A special account differs from an ordinary, contactable one only in what makes it special."""
    if "statusname" not in _IDENTITIES.get(bundle.file_number, {}):
        bundle.account["statusname"] = "ACTIVE"
    bundle.permissions.update({"cantext": 1, "canemail": 1, "cont_debtor": 1, "cancallcell": 1, "donottext": 0})
    bundle.permissions.update({"donotemail": 0, "callwork": "Allowed"})


class _Generator:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.today = now.date()
        self.data = DemoData()
        self.used_phones: set[str] = set(_SEED_PHONES)
        self.used_ssns: set[str] = {str(seed.CLAUDIA["socialsecuritynumber"])}
        self.people: dict[str, _Person] = {}
        self.next_phone_id = 15_180_000
        self.next_note_id = 34_620_000
        self.next_email_id = 2_100_000

    def build(self, count: int) -> DemoData:
        self.data.portfolios = [
            {"id": p.id, "portfolio": p.portfolio, "client": p.client, "dateplaced": gmt(p.dateplaced)}
            for p in pools.PORTFOLIOS
        ]
        for index in range(count):
            bundle = self._generic(index)
            special = _SPECIAL_BY_FILE.get(bundle.file_number)
            if special is not None:
                _clean_baseline(bundle)
                getattr(self, f"_special_{special}")(bundle)
            self._finish(bundle)
        return self.data

    # -- generic accounts -------------------------------------------------------------------------------------

    def _generic(self, index: int) -> _Bundle:
        rng = self.rng
        file_number = f"R{FIRST_FILE_NUMBER + index}"
        portfolio = self._portfolio_for(file_number)
        twin_of = {SHARED_SSN_TWIN: SPECIAL_ACCOUNTS["shared_ssn"]}.get(file_number)
        person = self.people[twin_of] if twin_of else self._person()
        self.people[file_number] = person
        placed = portfolio.dateplaced + timedelta(days=rng.randint(0, 4))
        opened = placed - timedelta(days=rng.randint(700, 3600))
        charged_off = opened + timedelta(days=rng.randint(150, 600))
        original = Decimal(rng.randint(25_000, 500_000)) / 100
        account = dict(ACCOUNT_TEMPLATE)
        bank, routing = rng.choice(pools.BANKS)
        account.update(
            {
                "id": index + 1,
                "filenumber": file_number,
                "accountnumber": str(rng.randint(10_000_000, 99_999_999)),
                "firstname": person.first,
                "middlename": f" {person.middle}" if person.middle else " ",
                "lastname": person.last,
                "fullname": f"{person.first} {person.last}",
                "address": person.address,
                "address2": person.address2,
                "city": person.place.city,
                "state": person.place.state,
                "zip": person.zip,
                "birthdate": mdy(person.birth),
                "socialsecuritynumber": person.ssn,
                "emailaddress": person.email.upper(),
                "employer": rng.choice(pools.EMPLOYERS),
                "occupation": rng.choice(pools.OCCUPATIONS),
                "employerphone": self._digits(10) if rng.random() < 0.4 else " ",
                "clientname": portfolio.client,
                "portfolio": portfolio.portfolio,
                "originalcreditor": portfolio.creditor,
                "dateplaced": mdy(placed),
                "datelastassigned": gmt(self._at(placed)),
                "datelaststatuschg": gmt(self._at(placed)),
                "orderbydate": gmt(placed),
                "dateaccountopened": mdy(opened),
                "datechargedoff": mdy(charged_off),
                "statuteoflimdate": (
                    gmt(charged_off.replace(year=charged_off.year + 5, day=min(charged_off.day, 28)))
                    if rng.random() < 0.7
                    else SENTINEL_GMT_1899
                ),
                "originalbalance": money(original),
                "originalprincipal": money(original),
                "principal": money(original),
                "currentbalance": money(original),
                "lastpaymentamount": "0.00",
                "lastpaymentdate": " ",
                "collectorname": rng.choice(pools.COLLECTORS),
                "assignedto": rng.choice(pools.ASSIGNEES),
                "statusname": rng.choice(pools.STATUSES),
                "typeofdebt": rng.choice(pools.TYPES_OF_DEBT),
                "custom1": bank,
                "custom2": routing,
                "custom3": str(rng.randint(100, 999)),
                "custom4": str(rng.randint(1000, 9999)),
                "contingencyamount": rng.choice(("100%", "35%", "40%", "")),
                "deceased": "NO",
                "deceaseddate": rng.choice((None, "null")),
                "dateclosed": SENTINEL_DATE,
            }
        )
        # The seed's own people keep the seed's identity; their child rows are generated from it.
        account.update(_IDENTITIES.get(file_number, {}))
        if file_number in _IDENTITIES and "dateplaced" in _IDENTITIES[file_number]:
            placed = datetime.strptime(str(account["dateplaced"]), "%m/%d/%Y").date()
        bundle = _Bundle(account=account, permissions=self._permissions(file_number, placed), placed=placed)
        self._add_phones(bundle, rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))
        self._add_notes(bundle, rng.randint(2, 10))
        self._add_attempts(bundle)
        self._add_payments(bundle, original)
        self._add_payment_methods(bundle)
        self._add_emails(bundle)
        self._add_extras(bundle)
        return bundle

    def _portfolio_for(self, file_number: str) -> pools.Portfolio:
        fixed = {"R1000": 707, "R1001": 708, "R1050": 707, SPECIAL_ACCOUNTS["shared_ssn"]: 710, SHARED_SSN_TWIN: 711}
        by_id = {p.id: p for p in pools.PORTFOLIOS}
        # Drawn for every account, so fixing one account's portfolio does not shift the others' data.
        drawn = self.rng.choices(pools.PORTFOLIOS, weights=[p.share for p in pools.PORTFOLIOS])[0]
        return by_id[fixed[file_number]] if file_number in fixed else drawn

    def _person(self) -> _Person:
        rng = self.rng
        first, last = rng.choice(pools.FIRST_NAMES), rng.choice(pools.LAST_NAMES)
        place = rng.choice(pools.PLACES)
        street = f"{rng.randint(1, 9899)} {rng.choice(pools.STREETS)}"
        email_user = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        return _Person(
            first=first,
            middle=rng.choice(pools.MIDDLE_INITIALS) if rng.random() < 0.5 else "",
            last=last,
            birth=date(rng.randint(1950, 2002), rng.randint(1, 12), rng.randint(1, 28)),
            ssn=self._ssn(),
            address=street,
            address2=rng.choice(pools.UNITS) if rng.random() < 0.2 else "",
            place=place,
            zip=f"{place.zip_prefix}{rng.randint(1, 99):02d}",
            email=f"{email_user}{rng.randint(1, 99)}@{rng.choice(pools.EMAIL_DOMAINS)}",
        )

    def _ssn(self) -> str:
        while True:
            area = self.rng.choice([n for n in range(1, 900) if n != 666])
            ssn = f"{area:03d}-{self.rng.randint(1, 99):02d}-{self.rng.randint(1, 9999):04d}"
            if ssn not in self.used_ssns:
                self.used_ssns.add(ssn)
                return ssn

    def _phone_number(self, area_code: str) -> str:
        while True:
            number = f"{area_code}-{self.rng.randint(200, 999)}-{self.rng.randint(0, 9999):04d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def _digits(self, count: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(count))

    def _at(self, day: date, earliest: int = 8, latest: int = 18) -> datetime:
        """A moment during business hours on `day`."""
        clock = time(self.rng.randint(earliest, latest - 1), self.rng.randint(0, 59), self.rng.randint(0, 59))
        return datetime.combine(day, clock, tzinfo=UTC)

    def _day_between(self, start: date, end: date) -> date:
        span = max((end - start).days, 0)
        return start + timedelta(days=self.rng.randint(0, span))

    def _permissions(self, file_number: str, placed: date) -> Row:
        rng = self.rng
        row: Row = dict.fromkeys(PERMISSION_FIELDS)
        row.update(
            {
                "filenumber": file_number,
                "callspouse": int(rng.random() < 0.3),
                "callwork": rng.choice(("Allowed", "Allowed", "Not Allowed", None)),
                "cantext": int(rng.random() < 0.9),
                "canemail": int(rng.random() < 0.95),
                "dateofnotice": (placed + timedelta(days=5)).isoformat(),
                "cont_debtor": 1,
                "call_campaign": rng.choice((None, None, "Debt Recovery 2024", "Winter Outreach")),
                "verifiedaddress": int(rng.random() < 0.6),
                "nextletter": (self.today + timedelta(days=rng.randint(3, 40))).isoformat()
                if rng.random() < 0.4
                else None,
                "cancallcell": int(rng.random() < 0.85),
                "donot1099": 0,
                "donottext": 0,
                "donotemail": 0,
                "sifamount": "0.00",
                "sifnumberofpay": 0,
                "registeredportal": 0,
                "lastportallogin": SENTINEL_DATE,
                "openedcount": 0,
                "linkclickcount": 0,
                "sentcount": 0,
                "minimumpayment": rng.choice(("0.00", "25.00", "50.00")),
                "minimumonetimepayment": rng.choice(("0.00", "100.00")),
            }
        )
        if rng.random() < 0.2:
            row["registeredportal"] = 1
            row["lastportallogin"] = self._day_between(placed, self.today).isoformat()
        return row

    def _add_phones(self, bundle: _Bundle, count: int) -> None:
        area_code = next(p.area_code for p in pools.PLACES if p.state == bundle.account["state"])
        for _ in range(count):
            # Most numbers share the debtor's local area code; some kept an old one after a move.
            code = area_code if self.rng.random() < 0.8 else self.rng.choice(pools.PLACES).area_code
            self._phone_row(bundle, self._phone_number(code))

    def _phone_row(self, bundle: _Bundle, number: str, phonetype: str | None = None, status: str | None = None) -> Row:
        rng = self.rng
        loaded = rng.random() < 0.6
        row: Row = {
            "filenumber": bundle.file_number,
            "maindatabaseid": bundle.account_id,
            "phonenumber": number,
            "phonetype": phonetype or rng.choice(pools.PHONE_TYPES),
            "phonestatus": status or rng.choice(pools.PHONE_STATUSES),
            "source": rng.choice(pools.PHONE_SOURCES),
            "assignedto": rng.choice((None, "agent", "mall")),
            "balance": None if loaded else f"${bundle.account['currentbalance']}",
            "firstname": bundle.account["firstname"] if loaded else "",
            "lastname": bundle.account["lastname"] if loaded else "",
            "isagoodnumber": None if loaded else "UNKNOWN",
            "lastchange": gmt(self._at(self._day_between(bundle.placed, self.today)))
            if loaded
            else "0000-00-00 00:00:00",
            "typeofdebt": None if loaded else "debt",
        }
        bundle.phones.append(row)
        return row

    def _note(self, bundle: _Bundle, at: datetime, collector: str, message: str) -> None:
        bundle.notes.append(
            {
                "filenumber": bundle.file_number,
                "maindatabaseid": bundle.account_id,
                "collectorname": collector,
                "logdate": mdy(at.date()),
                "logtime": clock12(at),
                "logmessage": message,
                "at": at,
            }
        )

    def _add_notes(self, bundle: _Bundle, count: int) -> None:
        self._note(bundle, self._at(bundle.placed), "System", "|ACCOUNT IMPORTED INTO DATABASE|")
        for _ in range(count - 1):
            at = self._at(self._day_between(bundle.placed + timedelta(days=1), self.today - timedelta(days=1)))
            self._note(bundle, at, self.rng.choice(pools.COLLECTORS), self.rng.choice(pools.NOTE_MESSAGES))

    def _attempt(
        self,
        bundle: _Bundle,
        at: datetime,
        dispo: str,
        phone: str,
        *,
        agent: str | None = None,
        kind: str = "",
        direction: str = "",
    ) -> None:
        bundle.attempts.append(
            {
                "filenumber": bundle.file_number,
                "maindatabaseid": bundle.account_id,
                "agent": agent or self.rng.choice(pools.COLLECTORS),
                "date": gmt(at.date()),
                "time": hhmm(at),
                "direction": direction or ("Outbound" if self.rng.random() < 0.9 else "Inbound"),
                "dispo": dispo,
                "phonenumber": phone,
                "type": kind or self.rng.choice(pools.ATTEMPT_TYPES),
                "wassecond": 0,
                # The seed's older attempt rows name the account "filename", its newest "filenumber".
                "key_name": "filename" if at.year < 2024 else "filenumber",
                "at": at.isoformat(),
            }
        )

    def _add_attempts(self, bundle: _Bundle) -> None:
        rng = self.rng
        phones = [str(p["phonenumber"]) for p in bundle.phones] or ["000-000-0000"]
        for _ in range(rng.randint(0, 6)):
            day = self._day_between(bundle.placed, self.today - timedelta(days=15))
            self._attempt(bundle, self._at(day), rng.choice(pools.DISPOSITIONS), rng.choice(phones))
        if rng.random() < 0.35:  # worked lately: a few attempts within the last ten days
            for _ in range(rng.randint(1, 3)):
                at = self.now - timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8))
                self._attempt(bundle, at, rng.choice(pools.DISPOSITIONS), rng.choice(phones))

    def _add_payments(self, bundle: _Bundle, original: Decimal) -> None:
        rng = self.rng
        count = rng.choice((0, 0, 0, 0, 0, 1, 1, 2, 3, 4))
        paid = Decimal(0)
        days = sorted(self._day_between(bundle.placed + timedelta(days=20), self.today) for _ in range(count))
        for day in days:
            amount = (original * Decimal(rng.randint(3, 15)) / 100).quantize(Decimal("0.01"))
            method = rng.choice((None, None, "CREDIT CARD", "ACH"))
            bundle.payments.append(
                {
                    "filenumber": bundle.file_number,
                    "datetaken": mdy(day),
                    "merchant": None if method is None else "USAePay",
                    "paymentamount": money(amount),
                    "paymentdate": gmt(day),
                    "paymentmethod": method,
                    "portfolio": bundle.account["portfolio"],
                    "typeofpayment": "IN HOUSE" if method is None else "EXTERNAL",
                    "at": day.isoformat(),
                }
            )
            paid += amount
        if days:
            bundle.account["currentbalance"] = money(original - paid)
            bundle.account["lastpaymentamount"] = bundle.payments[-1]["paymentamount"]
            bundle.account["lastpaymentdate"] = mdy(days[-1])

    def _method(self, bundle: _Bundle, method: str, last4: str) -> None:
        zipcode = str(bundle.account["zip"]) if self.rng.random() < 0.5 else ""
        bundle.methods.append(
            {
                "filenumber": bundle.file_number,
                "maindatabaseid": bundle.account_id,
                "paymentmethod": method,
                "last4card": last4,
                "cardzipcode": zipcode if method == "CREDIT CARD" else "",
            }
        )

    def _add_payment_methods(self, bundle: _Bundle) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            for _ in range(rng.choice((1, 1, 2))):
                last4 = self._digits(4)
                if last4 == DECLINING_CARD_LAST4:
                    last4 = "4242"
                self._method(bundle, rng.choice(("CREDIT CARD", "CREDIT CARD", "ACH")), last4)
        cards = [m for m in bundle.methods if m["paymentmethod"] == "CREDIT CARD"]
        if cards and bundle.payments:
            self._last_payment(bundle, cards[-1], str(bundle.payments[-1]["paymentdate"]))

    def _last_payment(self, bundle: _Bundle, card: Row, paid_on: str) -> None:
        alphabet = string.ascii_lowercase + string.digits
        token = "-".join("".join(self.rng.choice(alphabet) for _ in range(4)) for _ in range(4))
        bundle.last_payment = {
            "filenumber": bundle.file_number,
            "cardaddress": "",
            "cardexpirationdate": f"{self.rng.randint(1, 12):02d}/{self.today.year + self.rng.randint(1, 5)}",
            "cardnumber": token,
            "cardzipcode": card["cardzipcode"],
            "last4card": card["last4card"],
            "paymentdate": paid_on,
            "payorname": str(bundle.account["fullname"]).title(),
        }

    def _add_emails(self, bundle: _Bundle) -> None:
        rng = self.rng
        if rng.random() >= 0.4 or not str(bundle.account["emailaddress"]).strip():
            return
        for _ in range(rng.randint(1, 3)):
            sent = self._at(self._day_between(bundle.placed, self.today - timedelta(days=1)))
            email_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            subject = rng.choice(pools.EMAIL_SUBJECTS)
            events = [
                (sent, "OkToSend", "34.227.69.252", ""),
                (sent + timedelta(seconds=2), "Delivery", "72.21.217.15", ""),
            ]
            if rng.random() < 0.6:
                opened = sent + timedelta(minutes=rng.randint(1, 3000))
                events.append((opened, "Open", self._ip(), rng.choice(pools.EMAIL_USER_AGENTS[1:])))
                if rng.random() < 0.35:
                    events.append((opened + timedelta(seconds=rng.randint(5, 300)), "Click", self._ip(), events[-1][3]))
            for at, tracking, ip, agent in events:
                self._email(bundle, at, email_id, subject, tracking, ip, agent)

    def _email(
        self, bundle: _Bundle, at: datetime, email_id: str, subject: str, tracking: str, ip: str, agent: str
    ) -> Row:
        row: Row = {
            "filenumber": bundle.file_number,
            "DateLoaded": gmt(at),
            "EmailID": email_id,
            "IPAddress": ip,
            "Subject": subject,
            "ToAddress": str(bundle.account["emailaddress"]).lower(),
            "TrackingType": tracking,
            "UserAgent": agent,
            "at": at.isoformat(),
        }
        bundle.emails.append(row)
        return row

    def _ip(self) -> str:
        return ".".join(str(self.rng.randint(1, 254)) for _ in range(4))

    def _add_extras(self, bundle: _Bundle) -> None:
        rng = self.rng
        if rng.random() < 0.06:
            self._external_payment(bundle, "PENDING", self.today + timedelta(days=rng.randint(2, 25)))
        if rng.random() < 0.1:
            day = self.today + timedelta(days=rng.randint(1, 10))
            bundle.callbacks.append(
                {
                    "filenumber": bundle.file_number,
                    "Name": bundle.account["fullname"],
                    "Assignedto": rng.choice(pools.ASSIGNEES),
                    "Callbackdate": day.isoformat(),
                    "Callbacktime": f"{rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))}{rng.choice(('AM', 'PM'))}",
                    "Callbackdatemysql": day.isoformat(),
                    "created_at": (self.now - timedelta(days=rng.randint(1, 5))).isoformat(),
                }
            )
        cells = [p for p in bundle.phones if p["phonetype"] == "CELL"]
        if cells and rng.random() < 0.15:
            bundle.texts.append(
                {
                    "filenumber": bundle.file_number,
                    "textTemplate": rng.choice(pools.TEXT_TEMPLATES),
                    "messageType": "Multicast",
                    "sbt_env": "LIVE",
                    "phonenumber": cells[0]["phonenumber"],
                    "created_at": (self.now - timedelta(days=rng.randint(2, 60))).isoformat(),
                }
            )

    def _external_payment(self, bundle: _Bundle, status: str, day: date, amount: str | None = None) -> None:
        rng = self.rng
        card = rng.choice(_TEST_CARDS)
        data = {
            "filenumber": bundle.file_number,
            "paymentdate": day.isoformat(),
            "payorname": str(bundle.account["fullname"]).title(),
            "paymentmethod": "CREDIT CARD",
            "paymentstatus": status,
            "typeofpayment": "Online",
            "checkaccountnumber": "",
            "checkroutingnumber": "",
            "cardtype": "Visa" if card.startswith("4") else "MasterCard" if card.startswith("5") else "Amex",
            "cardnumber": card,
            "threedigitnumber": "1234" if card.startswith("3") else "111",
            "cardexpirationmonth": "12",
            "cardexpirationyear": str(self.today.year + 2),
            "cardexpirationdate": f"12/{self.today.year + 2}",
            "paymentamount": amount or money(Decimal(rng.randint(2_500, 20_000)) / 100),
            "checkaccounttype": "",
            "acceptedfees": "0",
            "printed": "false",
            "invoice": f"INV{rng.randint(100_000, 999_999)}",
        }
        bundle.external.append(
            {
                "filenumber": bundle.file_number,
                "kind": "payment",
                "paymentstatus": status,
                "data": json.dumps(data),
                "created_at": (self.now - timedelta(days=rng.randint(1, 20))).isoformat(),
            }
        )

    # -- special accounts -------------------------------------------------------------------------------------

    def _special_ivana(self, b: _Bundle) -> None:
        b.phones = []
        for phone in seed.IVANA_PHONES:
            self._phone_row(b, str(phone["phonenumber"])).update(phone)
        b.notes = []
        for note_id, collector, logdate, logtime, message in seed.IVANA_NOTES:
            b.notes.append(
                {
                    "id": note_id,
                    "filenumber": b.file_number,
                    "maindatabaseid": b.account_id,
                    "collectorname": collector,
                    "logdate": logdate,
                    "logtime": logtime,
                    "logmessage": message,
                }
            )
        # 809.00 placed, two payments of 110.00: the 589.00 balance of the seed's getAlaccountdata example.
        b.payments = []
        original = Decimal("809.00")
        b.account.update({"originalbalance": "809.00", "originalprincipal": "809.00", "principal": "809.00"})
        for day in (date(2024, 2, 20), date(2024, 3, 20)):
            b.payments.append(
                {
                    "filenumber": b.file_number,
                    "datetaken": mdy(day),
                    "merchant": "USAePay",
                    "paymentamount": "110.00",
                    "paymentdate": gmt(day),
                    "paymentmethod": "CREDIT CARD",
                    "portfolio": b.account["portfolio"],
                    "typeofpayment": "EXTERNAL",
                    "at": day.isoformat(),
                }
            )
        b.account.update(
            {
                "currentbalance": money(original - Decimal("220.00")),
                "lastpaymentamount": "110.00",
                "lastpaymentdate": mdy(date(2024, 3, 20)),
            }
        )
        b.methods = []
        self._method(b, "CREDIT CARD", "1111")
        b.methods[-1]["cardzipcode"] = "87035"
        self._method(b, "ACH", "6789")
        self._last_payment(b, b.methods[0], gmt(date(2024, 3, 20)))

    def _special_bankruptcy(self, b: _Bundle) -> None:
        b.phones = []
        for number, phonetype, status in seed.MALIA_PHONES:
            self._phone_row(b, number, phonetype, status)
        b.attempts = []
        for day, clock, dispo, phone in seed.MALIA_ATTEMPTS:
            at = datetime.fromisoformat(f"{day}T{clock}:00+00:00")
            self._attempt(b, at, dispo, phone, agent="agent", kind="MANUAL", direction="Outbound")
        b.payments = [
            {
                "filenumber": b.file_number,
                "datetaken": taken,
                "merchant": None,
                "paymentamount": amount,
                "paymentdate": paid,
                "paymentmethod": None,
                "portfolio": "C2C PDL TEST",
                "typeofpayment": "IN HOUSE",
                "at": datetime.strptime(paid, "%a, %d %b %Y %H:%M:%S GMT").date().isoformat(),
            }
            for taken, amount, paid in seed.MALIA_PAYMENTS
        ]
        self._note(b, self._at(date(2024, 1, 23)), "agent", "|Added Alert| BANKRUPTCY NOTICE RECEIVED - CHAPTER 7")

    def _special_deceased(self, b: _Bundle) -> None:
        b.account.update({"deceased": "YES", "deceaseddate": "8/14/2025", "statusname": "DECEASED"})
        self._note(b, self._at(date(2025, 8, 20)), "mall", "Spouse called: debtor passed away 8/14/2025.")

    def _special_cease_and_desist(self, b: _Bundle) -> None:
        b.account["statusname"] = "Cease and Desist"
        b.permissions.update({"cont_debtor": 0, "hotnotes": "Cease and desist letter received. Do not contact."})
        self._note(b, self._at(self.today - timedelta(days=30)), "agent", "|Added Alert| CEASE AND DESIST RECEIVED")

    def _special_attorney(self, b: _Bundle) -> None:
        b.account.update(
            {
                "statusname": "Attorney Represented",
                "attorneyname": " ROBERT HALL ESQ",
                "attorneyphone": " 4045550134",
                "attorneyaddress": " 200 PEACHTREE ST NE",
                "attorneycity": " ATLANTA",
                "attorneystate": "GA",
                "attorneyzip": " 30303",
                "attorneyemailaddress": " rhall@example.com",
            }
        )

    def _special_phone_lookup(self, b: _Bundle) -> None:
        b.phones = []
        self._phone_row(b, seed.POPE_PHONE, "HOME", "Good Number")

    def _special_no_phones(self, b: _Bundle) -> None:
        b.phones = []
        b.attempts = []
        b.texts = []

    def _special_many_notes(self, b: _Bundle) -> None:
        while len(b.notes) < 320:
            at = self._at(self._day_between(b.placed + timedelta(days=1), self.today - timedelta(days=1)))
            self._note(b, at, self.rng.choice(pools.COLLECTORS), self.rng.choice(pools.NOTE_MESSAGES))

    def _special_no_attempts(self, b: _Bundle) -> None:
        b.attempts = []

    def _special_donottext(self, b: _Bundle) -> None:
        b.permissions.update({"donottext": 1, "cantext": 0})

    def _special_donotemail(self, b: _Bundle) -> None:
        b.permissions.update({"donotemail": 1, "canemail": 0})

    def _special_pending_payment(self, b: _Bundle) -> None:
        b.external = []
        self._external_payment(b, "PROCESSED", self.today - timedelta(days=40), "50.00")
        self._external_payment(b, "PENDING", self.today + timedelta(days=10), "75.00")
        if not any(m["paymentmethod"] == "CREDIT CARD" for m in b.methods):
            self._method(b, "CREDIT CARD", "4242")

    def _special_card_declined(self, b: _Bundle) -> None:
        b.methods = []
        self._method(b, "CREDIT CARD", DECLINING_CARD_LAST4)
        b.last_payment = None

    def _special_no_payment_method(self, b: _Bundle) -> None:
        b.methods = []
        b.last_payment = None

    def _special_seven_in_seven(self, b: _Bundle) -> None:
        phone = str(b.phones[0]["phonenumber"])
        b.attempts = [a for a in b.attempts if a["at"] < (self.now - timedelta(days=14)).isoformat()]
        for days_ago in range(7):
            at = self.now - timedelta(days=days_ago, hours=1)
            dispo = "NO ANSWER" if days_ago else "LEFT MESSAGE MACHINE"
            self._attempt(b, at, dispo, phone, kind="DIALER", direction="Outbound")

    def _special_recent_contact(self, b: _Bundle) -> None:
        phone = str(b.phones[0]["phonenumber"])
        b.attempts = [a for a in b.attempts if a["at"] < (self.now - timedelta(days=14)).isoformat()]
        at = self.now - timedelta(days=1)
        self._attempt(b, at, "SPOKE TO DEBTOR", phone, agent="mall", kind="MANUAL", direction="Outbound")

    def _special_shared_ssn(self, b: _Bundle) -> None:
        return None  # R1116 copies this person when it is generated

    def _special_claudia(self, b: _Bundle) -> None:
        b.phones = []
        for number, status in seed.CLAUDIA_PHONES:
            self._phone_row(b, number, "UNKNOWN", status)
        b.payments = []
        b.last_payment = None

    def _special_emails(self, b: _Bundle) -> None:
        b.emails = []
        for email_id, loaded, ip, tracking, agent in seed.R1166_EMAILS:
            at = datetime.strptime(loaded, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
            row = self._email(b, at, seed.EMAIL_ID_R1166, seed.R1166_SUBJECT, tracking, ip, agent)
            row["id"] = email_id

    # -- assembling ---------------------------------------------------------------------------------------------

    def _finish(self, b: _Bundle) -> None:
        """Derive what depends on the final child rows, number them, and add them to the data."""
        spoke = [a for a in sorted(b.attempts, key=lambda a: a["at"]) if a["dispo"] == "SPOKE TO DEBTOR"]
        if spoke:
            b.permissions.update(
                {
                    "firstcontact": spoke[0]["at"][:10],
                    "firstcontactagent": spoke[0]["agent"],
                    "last_cont_date": spoke[-1]["at"][:10],
                    "lastcontactagent": spoke[-1]["agent"],
                }
            )
        if b.attempts:
            last = max(b.attempts, key=lambda a: a["at"])
            b.account["datelastdialed"] = last["date"]
            b.account["lastworked"] = mdy(date.fromisoformat(last["at"][:10]))
        cells = [p for p in b.phones if p["phonetype"] == "CELL"]
        b.permissions["textphone"] = cells[0]["phonenumber"] if cells else None
        self._email_stats(b)
        for phone in b.phones:
            if "id" not in phone:
                self.next_phone_id += self.rng.randint(1, 9)
                phone["id"] = self.next_phone_id
        for note in sorted((n for n in b.notes if "id" not in n), key=lambda n: n["at"]):
            self.next_note_id += self.rng.randint(1, 5)
            note["id"] = self.next_note_id
        for note in b.notes:
            note.pop("at", None)
        for email in sorted((e for e in b.emails if "id" not in e), key=lambda e: e["at"]):
            self.next_email_id += self.rng.randint(1, 3)
            email["id"] = self.next_email_id
        data = self.data
        data.accounts.append(b.account)
        data.permissions.append(b.permissions)
        data.phones.extend(b.phones)
        data.notes.extend(sorted(b.notes, key=lambda n: n["id"]))
        data.attempts.extend(sorted(b.attempts, key=lambda a: a["at"]))
        data.emails.extend(sorted(b.emails, key=lambda e: e["id"]))
        data.payments.extend(b.payments)
        data.payment_methods.extend(b.methods)
        data.last_payments.extend([b.last_payment] if b.last_payment else [])
        data.external_payments.extend(b.external)
        data.callbacks.extend(b.callbacks)
        data.texts_sent.extend(b.texts)

    def _email_stats(self, b: _Bundle) -> None:
        """The permission table's email counters follow the tracking rows."""
        opens = sorted(e["at"] for e in b.emails if e["TrackingType"] == "Open")
        clicks = sorted(e["at"] for e in b.emails if e["TrackingType"] == "Click")
        b.permissions.update(
            {
                "sentcount": len({e["EmailID"] for e in b.emails}),
                "openedcount": len(opens),
                "linkclickcount": len(clicks),
                "lastopenedemail": opens[-1][:10] if opens else None,
                "lastclickdate": clicks[-1][:10] if clicks else None,
            }
        )
