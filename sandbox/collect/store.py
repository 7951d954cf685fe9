"""The simulator's databases: Collect! tables in SQLite, the Read Records query language, deterministic demo data.

Every Collect! database (cv_masterdb, cv_demodb) is its own SQLite connection with the same tables. Values
are stored and served as text, as the REST examples show them ("de_rowid": "123"); blanks are "".

Column names: the docs confirm the de_/co_/cp_/af_/op_ prefixes, `<prefix>_rowid`, the `co_*` fields of the
Schedule Next Contact prompt, `cp_code`, `af_form_name`/`af_form_fieldname` and `de_type`/`de_status`. The
rest follow the same pattern (`co_rowid_debtor` links a contact to its debtor like `de_rowid_client` links a
debtor to its client). `notes` (prefix `no_`) and `transaction` (`tr_`) are this simulator's names.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

Row = dict[str, str]


class QueryError(Exception):
    """A request the API answers with status 400 (unknown field, bad filter, ...)."""


@dataclass(frozen=True)
class Table:
    name: str
    prefix: str
    columns: tuple[str, ...]  # without the rowid column
    parents: Mapping[str, str] = field(default_factory=dict)  # parent table -> link column in this table
    numeric: frozenset[str] = frozenset()  # compared and sorted as numbers
    hidden: frozenset[str] = frozenset()  # never served (passwords)
    writable: bool = True

    @property
    def rowid(self) -> str:
        return f"{self.prefix}_rowid"

    @property
    def all_columns(self) -> tuple[str, ...]:
        return (self.rowid, *self.columns)

    @property
    def served_columns(self) -> tuple[str, ...]:
        return tuple(column for column in self.all_columns if column not in self.hidden)


def _table(name: str, prefix: str, *columns: str, **options: Any) -> Table:
    return Table(name, prefix, tuple(f"{prefix}_{column}" for column in columns), **options)


TABLES: Final[dict[str, Table]] = {
    table.name: table
    for table in (
        _table("operator", "op", "id", "name", "level", "function", "password",
               numeric=frozenset({"op_level", "op_function"}), hidden=frozenset({"op_password"}), writable=False),
        _table("client", "cl", "number", "name", "status", "phone"),
        _table("debtor", "de", "rowid_client", "number", "name", "contact", "address", "address1", "city", "state",
               "zip", "country", "ss", "dob", "home_phone", "work_phone", "cell_phone", "other_phone", "email",
               "employer", "status", "type", "active", "collector", "owing", "paid", "principal", "listed_date",
               "charge_date", "group_id", parents={"client": "de_rowid_client"},
               numeric=frozenset({"de_owing", "de_paid", "de_principal", "de_rowid_client"})),
        _table("cosigner", "cs", "rowid_debtor", "name", "ss", "home_phone", "email", parents={"debtor": "cs_rowid_debtor"}),
        _table("associate", "as", "rowid_client", "name", "phone", parents={"client": "as_rowid_client"}),
        _table("contact", "co", "rowid_debtor", "rowid_client", "rowid_cosigner", "rowid_associate", "type",
               "description", "priority", "who", "date", "time", "originator", "creation_date", "creation_time",
               "who_from", "lock", "done", "done_date",
               parents={"debtor": "co_rowid_debtor", "client": "co_rowid_client", "cosigner": "co_rowid_cosigner",
                        "associate": "co_rowid_associate"},
               numeric=frozenset({"co_priority", "co_rowid_debtor"})),
        _table("transaction", "tr", "rowid_debtor", "type", "description", "payment", "payment_date", "posted_date",
               "to_us", "direct", "operator", parents={"debtor": "tr_rowid_debtor"},
               numeric=frozenset({"tr_to_us", "tr_direct", "tr_rowid_debtor"})),
        _table("notes", "no", "rowid_debtor", "date", "time", "operator", "text", parents={"debtor": "no_rowid_debtor"}),
        _table("contact_plan", "cp", "code", "name", "description", writable=False),
        _table("application_form", "af", "form_name", "form_fieldname", writable=False),
    )
}  # fmt: skip

OPERATORS: Final = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "nlike", "in", "nin")
_SQL_OPERATOR: Final = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE",
                        "nlike": "NOT LIKE"}  # fmt: skip
_TERM = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*?)(?:__([A-Za-z]+))?\s*=(.*)$", re.DOTALL)


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise QueryError(f"Unknown record type '{name}'") from None


def _quoted(name: str) -> str:
    return f'"{name}"'


# SQL text is only ever built here, from identifiers in TABLES; every value is a bound parameter.
def _select_sql(physical: str, what: str, where: str = "", tail: str = "") -> str:
    return f"SELECT {what} FROM {physical}{where}{tail}"  # noqa: S608


def _insert_sql(physical: str, names: Sequence[str]) -> str:
    if not names:
        return f"INSERT INTO {physical} DEFAULT VALUES"
    columns = ", ".join(_quoted(name) for name in names)
    return f"INSERT INTO {physical} ({columns}) VALUES ({', '.join('?' for _ in names)})"  # noqa: S608


def _update_sql(physical: str, spec: Table, names: Sequence[str]) -> str:
    assignments = ", ".join(f"{_quoted(name)} = ?" for name in names)
    return f"UPDATE {physical} SET {assignments} WHERE {_quoted(spec.rowid)} = ?"  # noqa: S608


def _delete_sql(physical: str, spec: Table) -> str:
    return f"DELETE FROM {physical}{_by_rowid(spec)}"  # noqa: S608


def _by_rowid(spec: Table) -> str:
    return f" WHERE {_quoted(spec.rowid)} = ?"


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside single quotes ('' is a quote inside quotes) and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "'":
            if quoted and text[index + 1 : index + 2] == "'":
                current.append("''")
                index += 2
                continue
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if quoted:
        raise QueryError("Unterminated quote in filter")
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _scalar(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if "'" in value:
        raise QueryError(f"Badly quoted filter value: {raw}")
    return value


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str
    values: tuple[str, ...]


def parse_filter(spec: Table, text: str) -> list[Condition]:
    """`field[__op]=value,...` (all must hold). Values are 'quoted' or bare; in/nin take (a,b,...)."""
    conditions = []
    for term in split_top_level(text):
        match = _TERM.match(term)
        if match is None:
            raise QueryError(f"Filter term '{term}' is not field[__operator]=value")
        column, operator, raw = match.group(1), (match.group(2) or "eq").lower(), match.group(3)
        if column not in spec.served_columns:
            raise QueryError(f"Unknown field '{column}' in filter for {spec.name}")
        if operator not in OPERATORS:
            raise QueryError(f"Unknown filter operator '__{operator}' (known: {', '.join(OPERATORS)})")
        if operator in ("in", "nin"):
            inner = raw.strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise QueryError(f"__{operator} takes a list in parentheses, e.g. {column}__{operator}=(1,2)")
            values = tuple(_scalar(item) for item in split_top_level(inner[1:-1]))
        else:
            values = (_scalar(raw),)
        conditions.append(Condition(column, operator, values))
    return conditions


def _column_sql(spec: Table, column: str) -> str:
    if column == spec.rowid:
        return _quoted(column)
    if column in spec.numeric:
        return f"CAST(NULLIF({_quoted(column)}, '') AS REAL)"
    return _quoted(column)


def _condition_sql(spec: Table, condition: Condition) -> tuple[str, list[Any]]:
    column = _column_sql(spec, condition.column)
    numeric = condition.column == spec.rowid or condition.column in spec.numeric
    values: list[Any] = []
    for value in condition.values:
        if numeric and condition.operator not in ("like", "nlike"):
            try:
                values.append(float(value))
            except ValueError:
                raise QueryError(f"Field '{condition.column}' takes a number, not '{value}'") from None
        else:
            values.append(value)
    if condition.operator in ("in", "nin"):
        placeholders = ", ".join("?" for _ in values) or "NULL"
        keyword = "IN" if condition.operator == "in" else "NOT IN"
        return f"{column} {keyword} ({placeholders})", values
    if condition.operator in ("like", "nlike"):
        return f"{_quoted(condition.column)} {_SQL_OPERATOR[condition.operator]} ?", values
    return f"{column} {_SQL_OPERATOR[condition.operator]} ?", values


def parse_fields(spec: Table, text: str | None) -> tuple[str, ...]:
    if not text:
        return spec.served_columns
    fields = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in fields if name not in spec.served_columns]
    if unknown:
        raise QueryError(f"Unknown field(s) {', '.join(unknown)} for {spec.name}")
    return fields


def parse_sort(spec: Table, text: str | None) -> str:
    """Comma list of fields, ascending; a leading '-' sorts that field descending (a simulator assumption)."""
    if not text:
        return _quoted(spec.rowid)
    parts = []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        descending = name.startswith("-")
        column = name.lstrip("-")
        if column not in spec.served_columns:
            raise QueryError(f"Unknown sort field '{column}' for {spec.name}")
        parts.append(f"{_column_sql(spec, column)}{' DESC' if descending else ''}")
    parts.append(_quoted(spec.rowid))
    return ", ".join(parts)


@dataclass(frozen=True)
class ReadResult:
    rows: list[Row]
    total: int
    pages: int


@dataclass
class PendingWork:
    """Writes of a running contact plan. They reach the database in one transaction, or not at all."""

    inserts: list[tuple[str, Row]] = field(default_factory=list)
    updates: list[tuple[str, int, Row]] = field(default_factory=list)

    def insert(self, table_name: str, row: Row) -> None:
        self.inserts.append((table_name, dict(row)))

    def update(self, table_name: str, rowid: int, changes: Row) -> None:
        self.updates.append((table_name, rowid, dict(changes)))

    @property
    def size(self) -> int:
        return len(self.inserts) + len(self.updates)


class CollectDatabase:
    """One Collect! database (e.g. cv_masterdb). Its SQLite tables are named collect_<database>_<table>, so
    every database, and every other simulator, can share one SQLite file."""

    def __init__(self, name: str, path: str | None = None) -> None:
        self.name = name
        self._prefix = f"collect_{name}_"
        # Autocommit: every multi-statement change opens its own explicit transaction.
        self._conn = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        for spec in TABLES.values():
            columns = ", ".join(f"{_quoted(column)} TEXT NOT NULL DEFAULT ''" for column in spec.columns)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._t(spec)} "
                f"({_quoted(spec.rowid)} INTEGER PRIMARY KEY AUTOINCREMENT, {columns})"
            )

    def _t(self, spec: Table) -> str:
        return _quoted(f"{self._prefix}{spec.name}")

    def close(self) -> None:
        self._conn.close()

    @property
    def empty(self) -> bool:
        return self.count("operator") == 0

    # -- reads -----------------------------------------------------------------------------------

    def _serve(self, spec: Table, row: sqlite3.Row, fields: Sequence[str]) -> Row:
        return {name: str(row[name]) if row[name] is not None else "" for name in fields}

    def count(self, table_name: str, **equal: object) -> int:
        spec = table(table_name)
        where, params = self._equal_where(spec, equal)
        row = self._conn.execute(_select_sql(self._t(spec), "COUNT(*)", where), params).fetchone()
        return int(row[0])

    def _equal_where(self, spec: Table, equal: Mapping[str, object]) -> tuple[str, list[Any]]:
        if not equal:
            return "", []
        for column in equal:
            if column not in spec.all_columns:
                raise QueryError(f"Unknown field '{column}' for {spec.name}")
        clause = " AND ".join(f"{_quoted(column)} = ?" for column in equal)
        return f" WHERE {clause}", [str(value) if column != spec.rowid else value for column, value in equal.items()]

    def get(self, table_name: str, rowid: int, fields: str | None = None) -> Row | None:
        spec = table(table_name)
        chosen = parse_fields(spec, fields)
        row = self._conn.execute(_select_sql(self._t(spec), "*", _by_rowid(spec)), (rowid,)).fetchone()
        return None if row is None else self._serve(spec, row, chosen)

    def read(
        self,
        table_name: str,
        *,
        filter_text: str | None = None,
        fields: str | None = None,
        sort: str | None = None,
        limit: int = 1000,
        page: int = 1,
        parent: tuple[str, int] | None = None,
    ) -> ReadResult:
        """Read Records: filtered, sorted, one page of `limit` rows, with the totals over all pages."""
        spec = table(table_name)
        chosen = parse_fields(spec, fields)
        clauses: list[str] = []
        params: list[Any] = []
        if parent is not None:
            parent_table, parent_rowid = parent
            link = spec.parents.get(parent_table)
            if link is None:
                raise QueryError(f"{spec.name} is not a sub-record of {parent_table}")
            clauses.append(f"{_quoted(link)} = ?")
            params.append(str(parent_rowid))
        for condition in parse_filter(spec, filter_text or ""):
            sql, values = _condition_sql(spec, condition)
            clauses.append(sql)
            params.extend(values)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        total = int(self._conn.execute(_select_sql(self._t(spec), "COUNT(*)", where), params).fetchone()[0])
        order = parse_sort(spec, sort)
        rows = self._conn.execute(
            _select_sql(self._t(spec), "*", where, f" ORDER BY {order} LIMIT ? OFFSET ?"), [*params, limit, (page - 1) * limit]
        ).fetchall()
        pages = (total + limit - 1) // limit
        return ReadResult(rows=[self._serve(spec, row, chosen) for row in rows], total=total, pages=pages)

    def rows(self, table_name: str, **equal: object) -> list[Row]:
        """Test helper: every row of a table matching `column=value` pairs, by rowid."""
        spec = table(table_name)
        where, params = self._equal_where(spec, equal)
        found = self._conn.execute(_select_sql(self._t(spec), "*", where, f" ORDER BY {_quoted(spec.rowid)}"), params).fetchall()
        return [self._serve(spec, row, spec.all_columns) for row in found]

    def counts(self, table_name: str, rowid: int) -> list[dict[str, Any]]:
        """Sub-record counts of one record, one entry per child table."""
        result = []
        for child in TABLES.values():
            link = child.parents.get(table_name)
            if link is not None:
                result.append({"recId": child.name, "numRecords": self.count(child.name, **{link: rowid})})
        return result

    # -- writes ----------------------------------------------------------------------------------

    def check_row(self, table_name: str, row: Mapping[str, Any], *, partial: bool = False) -> Row:
        """The row as text, after checking its fields exist and its links point at existing parents."""
        spec = table(table_name)
        unknown = [name for name in row if name not in spec.columns]
        if spec.rowid in row:
            raise QueryError(f"{spec.rowid} is assigned by the database and cannot be set")
        if unknown:
            raise QueryError(f"Unknown field(s) {', '.join(unknown)} for {spec.name}")
        clean: Row = {}
        for name, value in row.items():
            if isinstance(value, dict | list):
                raise QueryError(f"Field '{name}' takes a single value")
            clean[name] = "" if value is None else str(value)
        for parent_table, link in spec.parents.items():
            value = clean.get(link, "")
            if value and self.get(parent_table, _rowid(value, link)) is None:
                raise QueryError(f"{link} refers to {parent_table} {value}, which does not exist")
        if not partial and spec.parents and not any(clean.get(link) for link in spec.parents.values()):
            links = " or ".join(spec.parents.values())
            raise QueryError(f"A {spec.name} record needs its parent: set {links}")
        return clean

    def insert(self, table_name: str, row: Mapping[str, Any]) -> Row:
        spec = table(table_name)
        clean = self.check_row(table_name, row)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            rowid = self._insert(spec, clean)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        created = self.get(spec.name, rowid)
        assert created is not None
        return created

    def _insert(self, spec: Table, row: Row) -> int:
        names = list(row)
        cursor = self._conn.execute(_insert_sql(self._t(spec), names), [row[name] for name in names])
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def update(self, table_name: str, rowid: int, changes: Mapping[str, Any]) -> Row | None:
        spec = table(table_name)
        clean = self.check_row(table_name, changes, partial=True)
        if self.get(spec.name, rowid) is None:
            return None
        if clean:
            self._conn.execute(_update_sql(self._t(spec), spec, list(clean)), [*clean.values(), rowid])
        return self.get(spec.name, rowid)

    def delete(self, table_name: str, rowid: int) -> bool:
        spec = table(table_name)
        cursor = self._conn.execute(_delete_sql(self._t(spec), spec), (rowid,))
        return cursor.rowcount > 0

    def apply(self, work: PendingWork) -> None:
        """A contact plan's writes, in one transaction: all of them land or none does."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for table_name, row in work.inserts:
                self._insert(table(table_name), self.check_row(table_name, row))
            for table_name, rowid, changes in work.updates:
                clean = self.check_row(table_name, changes, partial=True)
                self._conn.execute(_update_sql(self._t(table(table_name)), table(table_name), list(clean)), [*clean.values(), rowid])
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def seed(self, rows: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Load demo rows (rowids given explicitly) in one transaction."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for table_name, table_rows in rows.items():
                spec = table(table_name)
                for row in table_rows:
                    names = list(row)
                    values = [row[name] if name == spec.rowid else str(row[name]) for name in names]
                    self._conn.execute(_insert_sql(self._t(spec), names), values)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # -- test helpers ------------------------------------------------------------------------------

    def debtor(self, rowid: int) -> Row | None:
        return self.get("debtor", rowid)

    def contacts(self, debtor_rowid: int) -> list[Row]:
        return self.rows("contact", co_rowid_debtor=debtor_rowid)

    def notes(self, debtor_rowid: int) -> list[Row]:
        return self.rows("notes", no_rowid_debtor=debtor_rowid)

    def transactions(self, debtor_rowid: int) -> list[Row]:
        return self.rows("transaction", tr_rowid_debtor=debtor_rowid)


def _rowid(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"{name} takes a rowid (a whole number), not '{value}'") from None


class CollectStore:
    """The simulator's databases by name. Tests usually want `store.database()` (cv_masterdb)."""

    def __init__(self, databases: Mapping[str, CollectDatabase], default: str = "cv_masterdb") -> None:
        self.databases = dict(databases)
        self.default = default

    def database(self, name: str | None = None) -> CollectDatabase:
        return self.databases[name or self.default]

    @classmethod
    def demo(cls, db_path: str | None = None) -> CollectStore:
        """cv_masterdb with the full demo data set and a small cv_demodb. A file database keeps its rows."""
        from collections_mcp.sandbox.collect.demo_data import DEMODB, MASTERDB

        databases: dict[str, CollectDatabase] = {}
        for name, rows in (("cv_masterdb", MASTERDB), ("cv_demodb", DEMODB)):
            database = CollectDatabase(name, db_path)
            if database.empty:
                database.seed(rows)
            databases[name] = database
        return cls(databases)

    def reset(self) -> None:
        """Fresh demo data in every database (for tests sharing one running simulator; in-memory stores)."""
        fresh = CollectStore.demo()
        self.close()
        self.databases = fresh.databases

    def close(self) -> None:
        for database in self.databases.values():
            database.close()
