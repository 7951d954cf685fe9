"""SQLite state of the Billing Care simulator: accounts, bill units in collections, actions, history, notes.

Demo data is deterministic: the seed's own ids (account 130964, bill unit 128084, note 278620, actions
141642 and 3456789) plus a few more accounts, with due dates placed relative to the day the store was
made. Rows leave this module in Billing Care's JSON shapes.

Status codes of actions are this simulator's convention (Billing Care's are deployment configuration):
0 pending, 1 completed, 2 cancelled.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

Row = dict[str, Any]

PENDING: Final = 0
COMPLETED: Final = 1
CANCELLED: Final = 2
DAY_MS: Final = 86_400_000

# Tables carry the bc_ prefix: every simulator may share one SQLite file (COLLECTIONS_MCP_SANDBOX_DB).
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS bc_accounts (
    id TEXT PRIMARY KEY, number TEXT NOT NULL, first_name TEXT NOT NULL, last_name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bc_bill_units (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES bc_accounts(id), name TEXT NOT NULL,
    scenario_id TEXT, overdue_amount TEXT NOT NULL, minimum_due TEXT NOT NULL, overdue_days INTEGER,
    in_collections INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bc_aging_buckets (
    bill_unit_id TEXT NOT NULL REFERENCES bc_bill_units(id), position INTEGER NOT NULL, label TEXT NOT NULL,
    amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bc_actions (
    id TEXT PRIMARY KEY, bill_unit_id TEXT NOT NULL REFERENCES bc_bill_units(id), name TEXT NOT NULL,
    due_ms INTEGER NOT NULL, status INTEGER NOT NULL, action_flag INTEGER NOT NULL DEFAULT 0,
    agent TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bc_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, action_id TEXT NOT NULL REFERENCES bc_actions(id),
    description TEXT NOT NULL, due_ms INTEGER NOT NULL, change_ms INTEGER NOT NULL, agent TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bc_notes (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, bill_unit_id TEXT, domain_id INTEGER, type INTEGER,
    sub_type INTEGER, status INTEGER, effective_date TEXT, reason_id INTEGER
);
CREATE TABLE IF NOT EXISTS bc_comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, note_id TEXT NOT NULL REFERENCES bc_notes(id), comment TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"""


def account_id(number: int) -> str:
    return f"0.0.0.1+-account+{number}"


def bill_unit_id(number: int) -> str:
    return f"0.0.0.1+-billinfo+{number}"


def action_id(kind: str, number: int) -> str:
    return f"0.0.0.1+-collections_action-{kind}+{number}"


def note_id(number: int) -> str:
    return f"0.0.0.1+-note+{number}"


# The ids tests and demos rely on.
SEED_ACCOUNT: Final = account_id(130964)
SEED_BILL_UNIT: Final = bill_unit_id(128084)
SEED_NOTE: Final = note_id(278620)
SEED_ACTION: Final = action_id("inactivate_billinfo", 141642)  # the seed's cURL example
SEED_PATH_ACTION: Final = action_id("manual_action", 3456789)  # the seed's path parameter example
FOLLOWUP_ACTION: Final = action_id("refer_to_outside_agency", 258523)  # after SEED_ACTION on the same bill unit
ACCOUNT_WITHOUT_COLLECTIONS: Final = account_id(123123)


@dataclass(frozen=True)
class _DemoAction:
    kind: str
    number: int
    name: str
    due_in_days: int
    status: int = PENDING


@dataclass(frozen=True)
class _DemoBillUnit:
    number: int
    name: str
    scenario: int
    overdue: str
    minimum: str
    overdue_days: int
    buckets: tuple[tuple[str, str], ...]
    actions: tuple[_DemoAction, ...]


@dataclass(frozen=True)
class _DemoAccount:
    number: int
    account_number: str
    first_name: str
    last_name: str
    bill_units: tuple[_DemoBillUnit, ...]


_DEMO: Final = (
    _DemoAccount(130964, "0.0.0.1-130964", "Maria", "Lindqvist", (
        _DemoBillUnit(128084, "Bill Unit (1)", 101, "231.71", "49.95", 38, (("0-30", "49.95"), ("31-60", "181.76")), (
            _DemoAction("manual_action", 3456789, "Manual Action", -3, COMPLETED),
            _DemoAction("inactivate_billinfo", 141642, "Inactivate Services of Billinfo", 4),
            _DemoAction("refer_to_outside_agency", 258523, "Refer to Outside Agency", 20),
        )),
        _DemoBillUnit(128085, "Bill Unit (2)", 101, "42.95", "42.95", 12, (("0-30", "42.95"),), (
            _DemoAction("manual_action", 3456790, "Manual Action", 2),
        )),
    )),
    _DemoAccount(57615, "0.0.0.1-57615", "Samuel", "Okafor", (
        _DemoBillUnit(182974, "Bill Unit (1)", 102, "512.40", "120.00", 67, (("31-60", "212.40"), ("61-90", "300.00")), (
            _DemoAction("manual_action", 3456801, "Manual Action", -10, COMPLETED),
            _DemoAction("inactivate_billinfo", 141701, "Inactivate Services of Billinfo", 1),
            _DemoAction("write_off_billinfo", 141702, "Write Off Billinfo", 45),
        )),
    )),
    _DemoAccount(85712, "0.0.0.1-85712", "Ana", "Ferreira", (
        _DemoBillUnit(148374, "Bill Unit (1)", 101, "89.90", "29.90", 9, (("0-30", "89.90"),), (
            _DemoAction("manual_action", 3456812, "Manual Action", 5),
            _DemoAction("refer_to_outside_agency", 258600, "Refer to Outside Agency", 30),
        )),
    )),
    _DemoAccount(123123, "0.0.0.1-123123", "Jonas", "Weber", (
        _DemoBillUnit(139726, "Bill Unit (1)", 101, "0.00", "0.00", 0, (), ()),
    )),
)  # fmt: skip


class StoreError(Exception):
    """A request the simulator refuses: HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BillingCareStore:
    """All simulator state. `clock` stamps history and comments; the demo is laid out around its day."""

    def __init__(self, path: str = ":memory:", *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(_SCHEMA)
        if self.db.execute("SELECT COUNT(*) FROM bc_accounts").fetchone()[0] == 0:
            self._seed_demo()

    def close(self) -> None:
        self.db.close()

    def _now_ms(self) -> int:
        return _ms(self.clock())

    def _seed_demo(self) -> None:
        day = self.clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        scheduled_at = _ms(day - timedelta(days=30) + timedelta(hours=9))
        with self.db:
            for account in _DEMO:
                self.db.execute(
                    "INSERT INTO bc_accounts VALUES (?, ?, ?, ?)",
                    (account_id(account.number), account.account_number, account.first_name, account.last_name),
                )
                for unit in account.bill_units:
                    in_collections = 1 if unit.actions else 0
                    self.db.execute(
                        "INSERT INTO bc_bill_units VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            bill_unit_id(unit.number), account_id(account.number), unit.name,
                            f"0.0.0.1+-collections_scenario+{unit.scenario}", unit.overdue, unit.minimum,
                            unit.overdue_days, in_collections,
                        ),
                    )  # fmt: skip
                    for position, (label, amount) in enumerate(unit.buckets):
                        self.db.execute(
                            "INSERT INTO bc_aging_buckets VALUES (?, ?, ?, ?)",
                            (bill_unit_id(unit.number), position, label, amount),
                        )
                    for action in unit.actions:
                        ident = action_id(action.kind, action.number)
                        due = _ms(day + timedelta(days=action.due_in_days, hours=8))
                        self.db.execute(
                            "INSERT INTO bc_actions VALUES (?, ?, ?, ?, ?, 0, ?)",
                            (ident, bill_unit_id(unit.number), action.name, due, action.status, "AgentSmith"),
                        )
                        self._history(ident, "Action scheduled", due, scheduled_at, "AgentSmith", PENDING)
                        if action.status != PENDING:
                            self._history(ident, "Action completed", due, due, "AgentSmith", action.status)
            self.db.execute(
                "INSERT INTO bc_notes VALUES (?, ?, ?, 9, 900, 901, 101, ?, 3)",
                (SEED_NOTE, SEED_ACCOUNT, SEED_BILL_UNIT, (day - timedelta(days=3)).date().isoformat()),
            )
            self.db.execute(
                "INSERT INTO bc_comments (note_id, comment, created_ms) VALUES (?, ?, ?)",
                (SEED_NOTE, "Customer promised to call back about the overdue amount.", scheduled_at),
            )

    def _history(self, action: str, description: str, due_ms: int, change_ms: int, agent: str, status: int) -> None:
        self.db.execute(
            "INSERT INTO bc_history (action_id, description, due_ms, change_ms, agent, status) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (action, description, due_ms, change_ms, agent, status),
        )

    # -- reads, in Billing Care's JSON shapes ---------------------------------------------------------

    def account_exists(self, account: str) -> bool:
        return self.db.execute("SELECT 1 FROM bc_accounts WHERE id = ?", (account,)).fetchone() is not None

    def action(self, action: str) -> Row | None:
        row = self.db.execute(
            "SELECT a.*, b.account_id FROM bc_actions a JOIN bc_bill_units b ON b.id = a.bill_unit_id WHERE a.id = ?",
            (action,),
        ).fetchone()
        return dict(row) if row is not None else None

    def collections_details(self, account: str) -> list[Row]:
        """GET collections/account/{id}: one collectionDetails object per bill unit in collections."""
        units = self.db.execute(
            "SELECT * FROM bc_bill_units WHERE account_id = ? AND in_collections = 1 ORDER BY id", (account,)
        ).fetchall()
        details: list[Row] = []
        for unit in units:
            actions = self.db.execute(
                "SELECT * FROM bc_actions WHERE bill_unit_id = ? ORDER BY due_ms, id", (unit["id"],)
            ).fetchall()
            buckets = self.db.execute(
                "SELECT label, amount FROM bc_aging_buckets WHERE bill_unit_id = ? ORDER BY position", (unit["id"],)
            ).fetchall()
            details.append(
                {
                    "extension": None,
                    "scenarioId": unit["scenario_id"],
                    "billUnitId": unit["id"],
                    "overdueAmount": float(unit["overdue_amount"]),
                    "overdueDays": unit["overdue_days"],
                    "minimumDue": float(unit["minimum_due"]),
                    "notes": None,
                    "actions": [
                        {
                            "actionId": action["id"],
                            "actionName": action["name"],
                            "dueDate": action["due_ms"],
                            "status": action["status"],
                            "agentName": action["agent"],
                        }
                        for action in actions
                    ],
                    "agingBuckets": [
                        {"bucket": bucket["label"], "amount": float(bucket["amount"])} for bucket in buckets
                    ],
                }
            )
        return details

    def action_history(self, action: str) -> Row:
        """GET collections/history/action/{id}, in the shape of Oracle's example (newest first)."""
        rows = self.db.execute("SELECT * FROM bc_history WHERE action_id = ? ORDER BY seq DESC", (action,)).fetchall()
        return {
            "extension": None,
            "actionId": action,
            "actionHistory": [
                {
                    "description": row["description"],
                    "dueDate": row["due_ms"],
                    "changeDate": row["change_ms"],
                    "agentName": row["agent"],
                    "status": row["status"],
                }
                for row in rows
            ],
        }

    def note(self, note: str) -> Row | None:
        row = self.db.execute("SELECT * FROM bc_notes WHERE id = ?", (note,)).fetchone()
        if row is None:
            return None
        comments = self.db.execute("SELECT comment FROM bc_comments WHERE note_id = ? ORDER BY seq", (note,)).fetchall()
        return dict(row) | {"comments": [comment["comment"] for comment in comments]}

    def notes_of(self, account: str) -> list[Row]:
        ids = [
            row["id"] for row in self.db.execute("SELECT id FROM bc_notes WHERE account_id = ? ORDER BY id", (account,))
        ]
        return [note for ident in ids if (note := self.note(ident)) is not None]

    # -- the update ---------------------------------------------------------------------------------

    def update_action(self, action: str, change: ActionUpdate, agent: str) -> None:
        """Apply a validated PUT collections/task/{id}; StoreError for what Billing Care would refuse."""
        current = self.action(action)
        if current is None:
            raise StoreError(404, f"collections action {action} does not exist")
        due = current["due_ms"]
        if change.reschedule_date is not None and change.reschedule_action is not False:
            due = _ms(change.reschedule_date)
        if change.slip_by_days:
            due += change.slip_by_days * DAY_MS
        status = current["status"] if change.status is None else change.status
        flag = current["action_flag"] if change.action_flag is None else change.action_flag
        note = change.notes
        if note is not None:
            if not self.account_exists(note.account_id):
                raise StoreError(400, f"notes.accountId {note.account_id} does not exist")
            if note.note_id is not None and self.note(note.note_id) is None:
                raise StoreError(400, f"note {note.note_id} does not exist")
        now = self._now_ms()
        with self.db:
            self.db.execute(
                "UPDATE bc_actions SET due_ms = ?, status = ?, action_flag = ?, agent = ? WHERE id = ?",
                (due, status, flag, agent, action),
            )
            self._history(action, "Action updated", due, now, agent, status)
            if change.cancel_followup_actions:
                followups = self.db.execute(
                    "SELECT id, due_ms FROM bc_actions "
                    "WHERE bill_unit_id = ? AND id != ? AND status = ? AND due_ms > ?",
                    (current["bill_unit_id"], action, PENDING, current["due_ms"]),
                ).fetchall()
                for followup in followups:
                    self.db.execute("UPDATE bc_actions SET status = ? WHERE id = ?", (CANCELLED, followup["id"]))
                    self._history(followup["id"], "Action cancelled", followup["due_ms"], now, agent, CANCELLED)
            if note is not None:
                self._add_note(note, now)

    def _add_note(self, note: NoteUpdate, now: int) -> None:
        ident = note.note_id
        if ident is None:
            last = self.db.execute("SELECT MAX(CAST(substr(id, 15) AS INTEGER)) FROM bc_notes").fetchone()[0]
            ident = note_id(int(last or 278000) + 1)
            self.db.execute(
                "INSERT INTO bc_notes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ident, note.account_id, note.bill_unit_id, note.domain_id, note.type, note.sub_type, note.status,
                    note.effective_date, note.reason_id,
                ),
            )  # fmt: skip
        for comment in note.comments:
            self.db.execute(
                "INSERT INTO bc_comments (note_id, comment, created_ms) VALUES (?, ?, ?)", (ident, comment, now)
            )


@dataclass(frozen=True)
class NoteUpdate:
    account_id: str
    note_id: str | None
    bill_unit_id: str | None
    domain_id: int | None
    type: int | None
    sub_type: int | None
    status: int | None
    effective_date: str | None
    reason_id: int | None
    comments: tuple[str, ...]


@dataclass(frozen=True)
class ActionUpdate:
    reschedule_date: datetime | None
    reschedule_action: bool | None
    status: int | None
    slip_by_days: int | None
    cancel_followup_actions: bool | None
    action_flag: int | None
    notes: NoteUpdate | None
