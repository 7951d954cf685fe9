"""SQLite state of the Procurios simulator: relations, contact-moment types, tags and contact moments.

Demo data is deterministic: the seed's relations (42 Douglas Adams, 1516, 429000, 123/124/126), its
contact moment 12345 and tags 3/4/5/99, plus 60 generated contact moments, one a day going back from the
day the store was made (newest first, so three pages of 25). Rows leave this module in Procurios' shapes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from collections_mcp.sandbox.procurios.config import PAGE_SIZE
from collections_mcp.sandbox.procurios.schemas import TYPES, Schema

Row = dict[str, Any]

SEED_SENDER: Final = 1516  # "senderId": 1516 in the seed's POST examples
SEED_RECIPIENT: Final = 429000
SEED_MOMENT: Final = 12345
UNKNOWN_RELATION: Final = 9999  # the seed's relation that "is not available in the system"
GENERATED_MOMENTS: Final = 60

_RELATIONS: Final = {
    42: "Douglas Adams",
    77: "Front Office",
    1516: "Collections Desk",
    123: "Anna Bakker",
    124: "Pieter Jansen",
    126: "Fatima El Amrani",
    429000: "Petra de Vries",
}
_STAFF: Final = (1516, 42, 77)
_FIRST: Final = ("Lars", "Eva", "Noah", "Sanne", "Daan", "Lotte", "Milan", "Iris", "Bram", "Fleur")
_LAST: Final = ("Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks")
_MEMBERS: Final = tuple(range(430001, 430021))
_TAGS: Final = {3: "Label 1", 4: "Label 2", 5: "Label 3", 99: "Tag name"}
_SUBJECTS: Final = ("Payment reminder", "Retention call", "Payment arrangement", "Address check", "Hardship intake")

# Tables carry the procurios_ prefix: every simulator may share one SQLite file (COLLECTIONS_MCP_SANDBOX_DB).
_SCHEMA_SQL: Final = """
CREATE TABLE IF NOT EXISTS procurios_relations (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS procurios_types (id TEXT PRIMARY KEY, title TEXT NOT NULL, addable INTEGER NOT NULL,
    schema_json TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS procurios_tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS procurios_moments (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL REFERENCES procurios_types(id), subject TEXT NOT NULL,
    sender_id INTEGER NOT NULL REFERENCES procurios_relations(id), date_time TEXT NOT NULL, action_code INTEGER,
    reference TEXT, fields_json TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS procurios_moment_recipients (moment_id INTEGER NOT NULL REFERENCES procurios_moments(id),
    relation_id INTEGER NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS procurios_moment_tags (moment_id INTEGER NOT NULL REFERENCES procurios_moments(id),
    tag_id INTEGER NOT NULL);
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def wall_clock(moment: datetime) -> str:
    """Procurios' own time format: yyyy-mm-ddThh:mm:ss, no offset."""
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


class ProcuriosStore:
    """All simulator state. `clock` stamps created/updated times; the demo is laid out around its day."""

    def __init__(self, path: str = ":memory:", *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(_SCHEMA_SQL)
        if self.db.execute("SELECT COUNT(*) FROM procurios_relations").fetchone()[0] == 0:
            self._seed_demo()

    def close(self) -> None:
        self.db.close()

    def _seed_demo(self) -> None:
        day = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.db:
            names = dict(_RELATIONS)
            for index, member in enumerate(_MEMBERS):
                names[member] = f"{_FIRST[index % len(_FIRST)]} {_LAST[(index * 3) % len(_LAST)]}"
            self.db.executemany("INSERT INTO procurios_relations VALUES (?, ?)", sorted(names.items()))
            for position, (type_id, (title, addable, schema)) in enumerate(TYPES.items()):
                self.db.execute(
                    "INSERT INTO procurios_types VALUES (?, ?, ?, ?, ?)",
                    (type_id, title, int(addable), json.dumps(schema), position),
                )
            self.db.executemany("INSERT INTO procurios_tags VALUES (?, ?)", sorted(_TAGS.items()))
            seed_time = "2020-01-01T01:23:45"
            self._insert(SEED_MOMENT, "ContactMomentVisit", "Test contact moment", 42, seed_time, 1234, None,
                         {"location": "Head office"}, [123, 124, 126], [99], seed_time)  # fmt: skip
            types = list(TYPES)
            for index in range(GENERATED_MOMENTS):
                at = wall_clock(day - timedelta(days=index) + timedelta(hours=9 + index % 8))
                type_id = types[index % len(types)]
                recipients = [SEED_RECIPIENT] if index % 7 == 0 else [_MEMBERS[index % len(_MEMBERS)]]
                if index % 10 == 3:
                    recipients.append(_MEMBERS[(index + 5) % len(_MEMBERS)])
                own_fields: dict[str, Row] = {
                    "ContactMomentPhone": {"contents": f"Discussed the open balance (call {index + 1})."},
                    "ContactMomentVisit": {"location": "Service desk", "durationMinutes": 15 + index % 30},
                    "ContactMomentEmail": {"emailAddress": f"member{index}@example.org", "direction": "outgoing"},
                }
                fields = own_fields[type_id]
                tags = [(3, 4, 5)[index % 3]] if index % 4 else []
                self._insert(1001 + index, type_id, _SUBJECTS[index % len(_SUBJECTS)], _STAFF[index % len(_STAFF)],
                             at, 2 if index % 5 == 0 else None, None, fields, recipients, tags, at)  # fmt: skip

    def _insert(
        self,
        moment_id: int,
        type_id: str,
        subject: str,
        sender: int,
        date_time: str,
        action_code: int | None,
        reference: str | None,
        fields: Row,
        recipients: list[int],
        tags: list[int],
        created: str,
    ) -> None:
        self.db.execute(
            "INSERT INTO procurios_moments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                moment_id,
                type_id,
                subject,
                sender,
                date_time,
                action_code,
                reference,
                json.dumps(fields),
                created,
                created,
            ),
        )
        self.db.executemany(
            "INSERT INTO procurios_moment_recipients VALUES (?, ?, ?)",
            [(moment_id, relation, position) for position, relation in enumerate(recipients)],
        )
        self.db.executemany("INSERT INTO procurios_moment_tags VALUES (?, ?)", [(moment_id, tag) for tag in tags])

    # -- reads --------------------------------------------------------------------------------------

    def relation_exists(self, relation: int) -> bool:
        return self.db.execute("SELECT 1 FROM procurios_relations WHERE id = ?", (relation,)).fetchone() is not None

    def types(self) -> list[Row]:
        rows = self.db.execute("SELECT id, title, addable FROM procurios_types ORDER BY position").fetchall()
        return [{"id": row["id"], "title": row["title"], "addable": bool(row["addable"])} for row in rows]

    def type_schema(self, type_id: str) -> Schema | None:
        row = self.db.execute("SELECT schema_json FROM procurios_types WHERE id = ?", (type_id,)).fetchone()
        return json.loads(row["schema_json"]) if row is not None else None

    def set_type_schema(self, type_id: str, schema: Schema) -> None:
        """Change a type's schema (tests: a schema that changes while a client has it cached)."""
        with self.db:
            self.db.execute("UPDATE procurios_types SET schema_json = ? WHERE id = ?", (json.dumps(schema), type_id))

    def tags(self) -> dict[int, str]:
        return {row["id"]: row["name"] for row in self.db.execute("SELECT id, name FROM procurios_tags ORDER BY id")}

    def tag_exists(self, tag: int) -> bool:
        return self.db.execute("SELECT 1 FROM procurios_tags WHERE id = ?", (tag,)).fetchone() is not None

    def list_moments(self, page: int, since: str | None, relation_ids: list[int] | None) -> list[Row]:
        """One page (25) of contact moments, newest first, in the list endpoint's shape."""
        where: list[str] = ["1 = 1"]
        params: list[str | int] = []
        if since is not None:
            where.append("(m.created >= ? OR m.updated >= ?)")
            params += [since, since]
        if relation_ids:
            marks = ",".join("?" * len(relation_ids))
            where.append(
                f"(m.sender_id IN ({marks}) OR m.id IN "  # noqa: S608 - only placeholders are interpolated
                f"(SELECT moment_id FROM procurios_moment_recipients WHERE relation_id IN ({marks})))"
            )
            params += [*relation_ids, *relation_ids]
        ids = [
            row["id"]
            for row in self.db.execute(
                f"SELECT m.id FROM procurios_moments m WHERE {' AND '.join(where)} "  # noqa: S608 - fixed clauses only
                "ORDER BY m.date_time DESC, m.id DESC LIMIT ? OFFSET ?",
                (*params, PAGE_SIZE, (page - 1) * PAGE_SIZE),
            )
        ]
        return [self.moment_row(ident) for ident in ids]

    def moment_row(self, moment_id: int) -> Row:
        row = self.db.execute(
            "SELECT m.*, r.name AS sender FROM procurios_moments m "
            "JOIN procurios_relations r ON r.id = m.sender_id WHERE m.id = ?",
            (moment_id,),
        ).fetchone()
        recipients = [
            item["relation_id"]
            for item in self.db.execute(
                "SELECT relation_id FROM procurios_moment_recipients WHERE moment_id = ? ORDER BY position",
                (moment_id,),
            )
        ]
        tags = {
            str(item["id"]): item["name"]
            for item in self.db.execute(
                "SELECT t.id, t.name FROM procurios_moment_tags mt JOIN procurios_tags t ON t.id = mt.tag_id "
                "WHERE mt.moment_id = ? ORDER BY t.id",
                (moment_id,),
            )
        }
        return {
            "id": row["id"],
            "subject": row["subject"],
            "senderId": row["sender_id"],
            "sender": row["sender"],
            "type": row["type"],
            "dateTime": row["date_time"],
            "action": row["action_code"],
            # PHP's json_encode writes an empty tag map as [], a full one as an object.
            "tags": tags or [],
            "recipients": recipients,
        }

    def stored(self, moment_id: int) -> Row | None:
        """Everything stored for one contact moment (tests)."""
        row = self.db.execute("SELECT * FROM procurios_moments WHERE id = ?", (moment_id,)).fetchone()
        if row is None:
            return None
        wire = self.moment_row(moment_id)
        return dict(row) | {"fields": json.loads(row["fields_json"]), "recipients": wire["recipients"],
                            "tags": wire["tags"]}  # fmt: skip

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM procurios_moments").fetchone()[0])

    # -- the write ----------------------------------------------------------------------------------

    def create(self, type_id: str, body: Row, fields: Row, date_time: str | None) -> int:
        """Store a validated contact moment; returns its new id."""
        now = wall_clock(self.clock())
        with self.db:
            moment_id = int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM procurios_moments").fetchone()[0])
            self._insert(
                moment_id, type_id, body["subject"], body["senderId"], date_time or now, body.get("action_code"),
                body.get("reference"), fields, list(body["recipients"]), list(body.get("tagIds") or []), now,
            )  # fmt: skip
        return moment_id
