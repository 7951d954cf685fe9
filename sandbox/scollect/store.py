"""The simulator's database: SQLite tables shaped like the vendor's, read and written by the endpoints.

Read methods return rows exactly as the vendor's API shows them (its field names, formats and quirks), so
the app only wraps them in envelopes and tests can compare wire output with the store directly.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final

from collections_mcp.sandbox.scollect.demo_data import ACCOUNT_COUNT, DECLINING_CARD_LAST4, DemoData, generate
from collections_mcp.sandbox.scollect.fields import AccountValue
from collections_mcp.sandbox.scollect.formats import (
    SENTINEL_DATE,
    SENTINEL_GMT_1900,
    clock12,
    gmt,
    hhmm,
    mdy,
    money,
    parse_money,
)

Row = dict[str, Any]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS portfolios (id INTEGER PRIMARY KEY, portfolio TEXT, client TEXT, dateplaced TEXT);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY, filenumber TEXT UNIQUE COLLATE NOCASE, portfolio TEXT, ssn TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS accounts_portfolio ON accounts (portfolio);
CREATE INDEX IF NOT EXISTS accounts_ssn ON accounts (ssn);
CREATE TABLE IF NOT EXISTS permissions (filenumber TEXT PRIMARY KEY COLLATE NOCASE, data TEXT);
CREATE TABLE IF NOT EXISTS phones (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, maindatabaseid INTEGER, phonenumber TEXT,
    phonetype TEXT, phonestatus TEXT, source TEXT, assignedto TEXT, balance TEXT, firstname TEXT, lastname TEXT,
    isagoodnumber TEXT, lastchange TEXT, typeofdebt TEXT);
CREATE INDEX IF NOT EXISTS phones_file ON phones (filenumber);
CREATE INDEX IF NOT EXISTS phones_number ON phones (phonenumber);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, maindatabaseid INTEGER, collectorname TEXT,
    logdate TEXT, logtime TEXT, logmessage TEXT);
CREATE INDEX IF NOT EXISTS notes_file ON notes (filenumber);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, maindatabaseid INTEGER, agent TEXT, date TEXT,
    time TEXT, direction TEXT, dispo TEXT, phonenumber TEXT, type TEXT, wassecond INTEGER, key_name TEXT, at TEXT);
CREATE INDEX IF NOT EXISTS attempts_file ON attempts (filenumber);
CREATE TABLE IF NOT EXISTS emails (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, DateLoaded TEXT, EmailID TEXT, IPAddress TEXT,
    Subject TEXT, ToAddress TEXT, TrackingType TEXT, UserAgent TEXT, at TEXT);
CREATE INDEX IF NOT EXISTS emails_file ON emails (filenumber);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, datetaken TEXT, merchant TEXT, paymentamount TEXT,
    paymentdate TEXT, paymentmethod TEXT, portfolio TEXT, typeofpayment TEXT, at TEXT);
CREATE INDEX IF NOT EXISTS payments_file ON payments (filenumber);
CREATE TABLE IF NOT EXISTS payment_methods (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, maindatabaseid INTEGER, paymentmethod TEXT,
    last4card TEXT, cardzipcode TEXT);
CREATE TABLE IF NOT EXISTS last_payments (
    filenumber TEXT PRIMARY KEY COLLATE NOCASE, cardaddress TEXT, cardexpirationdate TEXT, cardnumber TEXT,
    cardzipcode TEXT, last4card TEXT, paymentdate TEXT, payorname TEXT);
CREATE TABLE IF NOT EXISTS external_payments (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, kind TEXT, paymentstatus TEXT, data TEXT,
    created_at TEXT);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, Name TEXT, Assignedto TEXT, Callbackdate TEXT,
    Callbacktime TEXT, Callbackdatemysql TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS texts_sent (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, textTemplate TEXT, messageType TEXT, sbt_env TEXT,
    phonenumber TEXT, created_at TEXT);
CREATE TABLE IF NOT EXISTS emails_sent (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, sendType TEXT, emailTemplate TEXT, updateap INTEGER,
    created_at TEXT);
CREATE TABLE IF NOT EXISTS payment_runs (
    id INTEGER PRIMARY KEY, filenumber TEXT COLLATE NOCASE, paymentdate TEXT, paymentamount TEXT,
    paymentmethod TEXT, last4card TEXT, result TEXT, approvalcode TEXT, error TEXT, created_at TEXT);
"""

_PHONE_WIRE: Final = (
    "assignedto, balance, filenumber, firstname, id, isagoodnumber, lastchange, lastname, maindatabaseid, "
    "phonenumber, phonestatus, phonetype, source, typeofdebt"
)
_PAYMENT_WIRE: Final = (
    "datetaken, filenumber, merchant, paymentamount, paymentdate, paymentmethod, portfolio, typeofpayment"
)
_MAX_PHONES_IN_PORTFOLIO_ROW: Final = 15


@dataclass(frozen=True)
class PaymentRun:
    """What /run_payment_external answers: the processor's result, approval code and error text."""

    result: str
    approvalcode: str
    error: str


class ScollectStore:
    """SQLite behind a lock: uvicorn and tests share it; generates demo data the first time it is opened."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        seed: int = 1000,
        now: datetime | None = None,
        account_count: int = ACCOUNT_COUNT,
    ) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)
            if self._db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0:
                self._populate(generate(seed, now, account_count))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ScollectStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _populate(self, demo: DemoData) -> None:
        db = self._db
        db.executemany("INSERT INTO portfolios VALUES (:id, :portfolio, :client, :dateplaced)", demo.portfolios)
        db.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
            [
                (a["id"], a["filenumber"], a["portfolio"], a["socialsecuritynumber"], json.dumps(a))
                for a in demo.accounts
            ],
        )
        db.executemany(
            "INSERT INTO permissions VALUES (?, ?)",
            [
                (p["filenumber"], json.dumps({k: v for k, v in p.items() if k != "filenumber"}))
                for p in demo.permissions
            ],
        )
        for table, rows in (
            ("phones", demo.phones),
            ("notes", demo.notes),
            ("attempts", demo.attempts),
            ("emails", demo.emails),
            ("payments", demo.payments),
            ("payment_methods", demo.payment_methods),
            ("last_payments", demo.last_payments),
            ("external_payments", demo.external_payments),
            ("callbacks", demo.callbacks),
            ("texts_sent", demo.texts_sent),
        ):
            self._insert_many(table, rows)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('generated_at', ?)", (datetime.now(UTC).isoformat(),))

    def _insert_many(self, table: str, rows: list[Row]) -> None:
        if not rows:
            return
        columns = sorted({key for row in rows for key in row})
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(f":{c}" for c in columns)
        self._db.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - table/columns are ours, not input
            [{c: row.get(c) for c in columns} for row in rows],
        )

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, tuple(params)).fetchall()]

    def _one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _key(self, file_number: str) -> tuple[str, int] | None:
        """The stored spelling and id of a file number; lookups ignore case, like the vendor's MySQL."""
        row = self._one("SELECT filenumber, id FROM accounts WHERE filenumber = ?", (file_number,))
        return (str(row["filenumber"]), int(row["id"])) if row else None

    def exists(self, file_number: str) -> bool:
        return self._key(file_number) is not None

    # -- reads ---------------------------------------------------------------------------------------------------

    def portfolios(self) -> list[Row]:
        return self._rows("SELECT client, dateplaced, id, portfolio FROM portfolios ORDER BY id")

    def file_numbers(self) -> list[str]:
        return [str(r["filenumber"]) for r in self._rows("SELECT filenumber FROM accounts ORDER BY id")]

    def find_account(self, file_number: str) -> dict[str, AccountValue] | None:
        row = self._one("SELECT data FROM accounts WHERE filenumber = ?", (file_number,))
        return _account(row) if row else None

    def account(self, file_number: str) -> dict[str, AccountValue]:
        """The full getaccount record; KeyError for an unknown file number."""
        found = self.find_account(file_number)
        if found is None:
            raise KeyError(file_number)
        return found

    def accounts_by_ssn(self, ssn: str) -> list[dict[str, AccountValue]]:
        return [_account(r) for r in self._rows("SELECT data FROM accounts WHERE ssn = ? ORDER BY id", (ssn,))]

    def accounts_by_phone(self, phonenumber: str) -> list[dict[str, AccountValue]]:
        rows = self._rows(
            "SELECT data FROM accounts WHERE filenumber IN (SELECT filenumber FROM phones WHERE phonenumber = ?) "
            "ORDER BY id",
            (phonenumber,),
        )
        return [_account(r) for r in rows]

    def portfolio_rows(self, portfolio: str) -> list[Row]:
        """get_accounts_in_portfolio's flattened rows: account fields under their report aliases, phones 1..15."""
        accounts = [
            _account(r) for r in self._rows("SELECT data FROM accounts WHERE portfolio = ? ORDER BY id", (portfolio,))
        ]
        return [self._portfolio_row(account) for account in accounts]

    def _portfolio_row(self, a: dict[str, AccountValue]) -> Row:
        file_number = str(a["filenumber"])
        phones = self._rows(
            "SELECT phonenumber, phonestatus FROM phones WHERE filenumber = ? ORDER BY id", (file_number,)
        )
        paid = sum((parse_money(p["paymentamount"]) for p in self.payments(file_number)), Decimal(0))
        row: Row = {
            "CBR": SENTINEL_GMT_1900,
            "CO AMT": a["chargedoffprincipal"],
            "CO Date": a["datechargedoff"],
            "Current UPB": a["currentbalance"],
            "DOB": a["birthdate"],
            "E-Mail": a["emailaddress"],
            "Last Paid Date": a["lastpaymentdate"],
            "Lot_Group_master": None,
            "MM Address": a["address"],
            "MM City": a["city"],
            "MM State": a["state"],
            "MM Zip": a["zip"],
            "OrigDate": a["dateaccountopened"],
            "Originator": a["originalcreditor"],
            "SOLdate": a["statuteoflimdate"],
            "SSN": a["socialsecuritynumber"],
            "Total Paid since CO": float(paid),
            "co_first": a["codebtor1firstname"],
            "co_last": a["codebtor1lastname"],
            "co_ssn": a["codebtor1socialsecurity"],
            "codebtor1primaryphone": a["codebtor1primaryphone"],
            "creditor": a["clientname"],
            "description": " ",
            "firstname": a["firstname"],
            "lastactive": a["lastworked"],
            "lastname": a["lastname"],
            "level": " ",
            "lot_group": a["portfolio"],
            "lotno": file_number,
            "mm_notes": "",
            "origacctno": a["accountnumber"],
            "producttype": " ",
        }
        row.update({f"custom{n}": a[f"custom{n}"] for n in range(1, 61)})
        for n in range(1, _MAX_PHONES_IN_PORTFOLIO_ROW + 1):
            phone = phones[n - 1] if n <= len(phones) else None
            row[f"phone{n}"] = phone["phonenumber"] if phone else ""
            row[f"phonestatus{n}"] = phone["phonestatus"] if phone else ""
        return row

    def phones(self, file_number: str) -> list[Row]:
        return self._rows(f"SELECT {_PHONE_WIRE} FROM phones WHERE filenumber = ? ORDER BY id", (file_number,))  # noqa: S608

    def notes(self, file_number: str) -> list[Row]:
        rows = self._rows(
            "SELECT collectorname, filenumber, id, maindatabaseid, logdate, logmessage, logtime "
            "FROM notes WHERE filenumber = ? ORDER BY id",
            (file_number,),
        )
        for row in rows:
            row["log.filenumber"] = str(row.pop("maindatabaseid"))
            row["logdateandtime"] = f"{row['logdate']} AT {row['logtime']}"
        return rows

    def count_notes(self, file_number: str) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM notes WHERE filenumber = ?", (file_number,)).fetchone()[0]
            )

    def attempts(self, file_number: str) -> list[Row]:
        rows = self._rows(
            "SELECT agent, date, direction, dispo, filenumber, key_name, maindatabaseid, phonenumber, time, type, "
            "wassecond FROM attempts WHERE filenumber = ? ORDER BY at, id",
            (file_number,),
        )
        for row in rows:
            # The seed's rows name the account "filename" or "filenumber"; each row keeps the one it was born with.
            row[row.pop("key_name")] = row.pop("filenumber")
        return rows

    def emails(self, file_number: str) -> list[Row]:
        return self._rows(
            "SELECT DateLoaded, EmailID, IPAddress, filenumber AS ReferenceNumber, Subject, ToAddress, TrackingType, "
            "UserAgent, id FROM emails WHERE filenumber = ? ORDER BY at, id",
            (file_number,),
        )

    def email_stats(self, file_number: str) -> Row | None:
        key = self._key(file_number)
        if key is None:
            return None
        permissions = self.permissions(key[0])
        last_sent = self._one(
            "SELECT MAX(at) AS at FROM emails WHERE filenumber = ? AND TrackingType = 'OkToSend'", (key[0],)
        )
        last_email = last_sent["at"] if last_sent and last_sent["at"] else None
        return {
            "filenumber": key[0],
            "last_email_date": gmt(datetime.fromisoformat(last_email)) if last_email else SENTINEL_GMT_1900,
            "lastclickdate": _gmt_or_none(permissions["lastclickdate"]),
            "lastopenedemail": _gmt_or_none(permissions["lastopenedemail"]),
            "lastportallogin": _gmt_or_none(permissions["lastportallogin"] or SENTINEL_DATE),
            "linkclickcount": permissions["linkclickcount"] or 0,
            "openedcount": permissions["openedcount"] or 0,
            "registeredportal": permissions["registeredportal"] or 0,
            "sentcount": permissions["sentcount"] or 0,
        }

    def payments(self, file_number: str) -> list[Row]:
        return self._rows(f"SELECT {_PAYMENT_WIRE} FROM payments WHERE filenumber = ? ORDER BY at, id", (file_number,))  # noqa: S608

    def payment_methods(
        self, file_number: str, payment_method: str | None = None, last4card: str | None = None
    ) -> list[Row]:
        """getAlpaymentdata rows, optionally filtered (method ignores case, as MySQL would)."""
        sql = "SELECT cardzipcode, last4card, maindatabaseid, paymentmethod FROM payment_methods WHERE filenumber = ?"
        params: list[Any] = [file_number]
        if payment_method:
            sql += " AND paymentmethod = ? COLLATE NOCASE"
            params.append(payment_method)
        if last4card:
            sql += " AND last4card = ?"
            params.append(last4card)
        return self._rows(sql + " ORDER BY id", params)

    def last_payment(self, file_number: str) -> Row | None:
        return self._one(
            "SELECT cardaddress, cardexpirationdate, cardnumber, cardzipcode, last4card, paymentdate, payorname "
            "FROM last_payments WHERE filenumber = ?",
            (file_number,),
        )

    def find_permissions(self, file_number: str) -> Row | None:
        row = self._one("SELECT data FROM permissions WHERE filenumber = ?", (file_number,))
        return dict(json.loads(row["data"])) if row else None

    def permissions(self, file_number: str) -> Row:
        """Every field of the seed's account-permission table; KeyError for an unknown file number."""
        found = self.find_permissions(file_number)
        if found is None:
            raise KeyError(file_number)
        return found

    def external_payments(self, file_number: str) -> list[Row]:
        """Payments posted through insert_payments_external / insert_payplan_external, oldest first."""
        rows = self._rows(
            "SELECT id, kind, paymentstatus, data, created_at FROM external_payments WHERE filenumber = ? ORDER BY id",
            (file_number,),
        )
        return [
            {
                **json.loads(r["data"]),
                "id": r["id"],
                "kind": r["kind"],
                "paymentstatus": r["paymentstatus"],
                "created_at": r["created_at"],
            }
            for r in rows
        ]

    def callbacks(self, file_number: str) -> list[Row]:
        return self._rows("SELECT * FROM callbacks WHERE filenumber = ? ORDER BY id", (file_number,))

    def texts_sent(self, file_number: str) -> list[Row]:
        return self._rows("SELECT * FROM texts_sent WHERE filenumber = ? ORDER BY id", (file_number,))

    def emails_sent(self, file_number: str) -> list[Row]:
        rows = self._rows("SELECT * FROM emails_sent WHERE filenumber = ? ORDER BY id", (file_number,))
        for row in rows:
            row["updateap"] = bool(row["updateap"])
        return rows

    def payment_runs(self, file_number: str) -> list[Row]:
        return self._rows("SELECT * FROM payment_runs WHERE filenumber = ? ORDER BY id", (file_number,))

    # -- writes --------------------------------------------------------------------------------------------------

    def insert_phone(
        self, file_number: str, phonenumber: str, phonetype: str, phonestatus: str, source: str, now: datetime
    ) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        account = self.account(key[0])
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO phones (filenumber, maindatabaseid, phonenumber, phonetype, phonestatus, source, "
                "assignedto, balance, firstname, lastname, isagoodnumber, lastchange, typeofdebt) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, 'UNKNOWN', ?, ?)",
                (
                    key[0],
                    key[1],
                    phonenumber,
                    phonetype,
                    phonestatus,
                    source,
                    f"${account['currentbalance']}",
                    account["firstname"],
                    account["lastname"],
                    gmt(now),
                    account["typeofdebt"],
                ),
            )
        return True

    def update_phone(
        self, file_number: str, phonenumber: str, phonetype: str | None, phonestatus: str | None, now: datetime
    ) -> int:
        """Change type and/or status of the account's rows with that number; how many rows changed."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "UPDATE phones SET phonetype = COALESCE(?, phonetype), phonestatus = COALESCE(?, phonestatus), "
                "lastchange = ? WHERE filenumber = ? AND phonenumber = ?",
                (phonetype, phonestatus, gmt(now), file_number, phonenumber),
            )
            return cursor.rowcount

    def insert_attempt(
        self,
        file_number: str,
        *,
        phonenumber: str,
        dispo: str,
        agent: str,
        attempt_type: str,
        now: datetime,
        direction: str = "Outbound",
    ) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO attempts (filenumber, maindatabaseid, agent, date, time, direction, dispo, phonenumber, "
                "type, wassecond, key_name, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'filenumber', ?)",
                (
                    key[0],
                    key[1],
                    agent,
                    gmt(now.date()),
                    hhmm(now),
                    direction,
                    dispo,
                    phonenumber,
                    attempt_type,
                    now.isoformat(),
                ),
            )
            self._patch_account(key[0], {"datelastdialed": gmt(now.date()), "lastworked": mdy(now.date())})
        return True

    def insert_note(self, file_number: str, collectorname: str, logmessage: str, now: datetime) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO notes (filenumber, maindatabaseid, collectorname, logdate, logtime, logmessage) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key[0], key[1], collectorname, mdy(now.date()), clock12(now), logmessage),
            )
        return True

    def update_permission(self, file_number: str, fieldname: str, value: Any) -> bool:
        with self._lock, self._db:
            permissions = self.find_permissions(file_number)
            if permissions is None:
                return False
            permissions[fieldname] = value
            self._db.execute(
                "UPDATE permissions SET data = ? WHERE filenumber = ?", (json.dumps(permissions), file_number)
            )
        return True

    def update_account_field(self, file_number: str, fieldname: str, value: AccountValue) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._patch_account(key[0], {fieldname: value})
        return True

    def _patch_account(self, file_number: str, changes: dict[str, AccountValue]) -> None:
        account = self.account(file_number)
        account.update(changes)
        self._db.execute(
            "UPDATE accounts SET portfolio = ?, ssn = ?, data = ? WHERE filenumber = ?",
            (account["portfolio"], account["socialsecuritynumber"], json.dumps(account), file_number),
        )

    def insert_external_payments(self, file_number: str, payments: list[Row], kind: str, now: datetime) -> bool:
        """Store posted payments (one row per scheduled payment of a plan)."""
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO external_payments (filenumber, kind, paymentstatus, data, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (key[0], kind, str(p["paymentstatus"]), json.dumps({**p, "filenumber": key[0]}), now.isoformat())
                    for p in payments
                ],
            )
        return True

    def update_pending_payments(self, file_number: str, changes: Row) -> int:
        """Apply changes to every PENDING external payment of the account; how many were updated."""
        with self._lock, self._db:
            rows = self._db.execute(
                "SELECT id, data FROM external_payments WHERE filenumber = ? AND paymentstatus = 'PENDING'",
                (file_number,),
            ).fetchall()
            for row in rows:
                data = {**json.loads(row["data"]), **changes}
                self._db.execute(
                    "UPDATE external_payments SET data = ?, paymentstatus = ? WHERE id = ?",
                    (json.dumps(data), str(data["paymentstatus"]), row["id"]),
                )
            return len(rows)

    def run_payment(self, file_number: str, paymentdate: date, amount: Decimal, now: datetime) -> PaymentRun | None:
        """Charge the account's newest stored payment method; None for an unknown account."""
        key = self._key(file_number)
        if key is None:
            return None
        with self._lock, self._db:
            account = self.account(key[0])
            method = self._one(
                "SELECT paymentmethod, last4card, cardzipcode FROM payment_methods WHERE filenumber = ? "
                "ORDER BY id DESC LIMIT 1",
                (key[0],),
            )
            balance = parse_money(account["currentbalance"])
            if method is None:
                run = PaymentRun("ERROR", "", "No payment method on file for this filenumber")
            elif method["last4card"] == DECLINING_CARD_LAST4:
                run = PaymentRun("DECLINED", "", "Card declined by processor")
            elif amount > balance:
                run = PaymentRun("ERROR", "", f"Payment amount {money(amount)} exceeds balance {money(balance)}")
            else:
                run = PaymentRun("APPROVED", secrets.token_hex(3).upper(), "")
                self._post_payment(account, method, paymentdate, amount, balance, now)
            self._db.execute(
                "INSERT INTO payment_runs (filenumber, paymentdate, paymentamount, paymentmethod, last4card, result, "
                "approvalcode, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key[0],
                    paymentdate.isoformat(),
                    money(amount),
                    method["paymentmethod"] if method else None,
                    method["last4card"] if method else None,
                    run.result,
                    run.approvalcode,
                    run.error,
                    now.isoformat(),
                ),
            )
        return run

    def _post_payment(
        self,
        account: dict[str, AccountValue],
        method: Row,
        paymentdate: date,
        amount: Decimal,
        balance: Decimal,
        now: datetime,
    ) -> None:
        file_number = str(account["filenumber"])
        self._db.execute(
            "INSERT INTO payments (filenumber, datetaken, merchant, paymentamount, paymentdate, paymentmethod, "
            "portfolio, typeofpayment, at) VALUES (?, ?, 'USAePay', ?, ?, ?, ?, 'EXTERNAL', ?)",
            (
                file_number,
                mdy(now.date()),
                money(amount),
                gmt(paymentdate),
                method["paymentmethod"],
                account["portfolio"],
                paymentdate.isoformat(),
            ),
        )
        self._patch_account(
            file_number,
            {
                "currentbalance": money(balance - amount),
                "lastpaymentamount": money(amount),
                "lastpaymentdate": mdy(paymentdate),
            },
        )
        if method["paymentmethod"] == "CREDIT CARD":
            previous = self.last_payment(file_number) or {}
            token = "-".join(secrets.token_hex(2) for _ in range(4))
            self._db.execute(
                "INSERT OR REPLACE INTO last_payments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    file_number,
                    "",
                    previous.get("cardexpirationdate", ""),
                    token,
                    method["cardzipcode"],
                    method["last4card"],
                    gmt(paymentdate),
                    str(account["fullname"]).title(),
                ),
            )

    def insert_callback(self, file_number: str, callback: Row, now: datetime) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._insert_many("callbacks", [{**callback, "filenumber": key[0], "created_at": now.isoformat()}])
        return True

    def record_email(self, file_number: str, *, send_type: str, template: str, update_ap: bool, now: datetime) -> bool:
        """A sent C2C email: the send itself, its OkToSend/Delivery tracking rows and, with updateap, the counter."""
        key = self._key(file_number)
        if key is None:
            return False
        account = self.account(key[0])
        email_id = str(uuid.uuid4())
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO emails_sent (filenumber, sendType, emailTemplate, updateap, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key[0], send_type, template, int(update_ap), now.isoformat()),
            )
            self._insert_many(
                "emails",
                [
                    {
                        "filenumber": key[0],
                        "DateLoaded": gmt(now),
                        "EmailID": email_id,
                        "IPAddress": ip,
                        "Subject": template,
                        "ToAddress": str(account["emailaddress"]).strip().lower(),
                        "TrackingType": tracking,
                        "UserAgent": "",
                        "at": now.isoformat(),
                    }
                    for tracking, ip in (("OkToSend", "34.227.69.252"), ("Delivery", "72.21.217.15"))
                ],
            )
            if update_ap:
                permissions = self.permissions(key[0])
                permissions["sentcount"] = int(permissions.get("sentcount") or 0) + 1
                self._db.execute(
                    "UPDATE permissions SET data = ? WHERE filenumber = ?", (json.dumps(permissions), key[0])
                )
        return True

    def record_text(
        self,
        file_number: str,
        *,
        template: str,
        message_type: str,
        environment: str,
        phonenumber: str,
        now: datetime,
    ) -> bool:
        key = self._key(file_number)
        if key is None:
            return False
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO texts_sent (filenumber, textTemplate, messageType, sbt_env, phonenumber, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key[0], template, message_type, environment, phonenumber, now.isoformat()),
            )
        return True


def _account(row: Row) -> dict[str, AccountValue]:
    return dict(json.loads(row["data"]))


def _gmt_or_none(ymd: object) -> str | None:
    if not isinstance(ymd, str) or not ymd:
        return None
    return gmt(date.fromisoformat(ymd))
