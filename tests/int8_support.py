"""One database of each dialect for the 64-bit version tests, and refinery's ``int8-versions`` history built as refinery builds it.

refinery's statements are those of refinery_core/src/traits/mod.rs: with the
``int8-versions`` feature the history table is created with
``version int8 PRIMARY KEY`` (otherwise ``int4``), and a row is appended by
naming its four columns; its checksum hashes the version as an ``i64``.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

from nocodo_agents.checksum import checksum
from nocodo_agents.migration import Migration

#: refinery's history DDL, ``{version_type}`` being ``int8`` (int8-versions) or ``int4``.
REFINERY_CREATE = (
    "CREATE TABLE IF NOT EXISTS refinery_schema_history("
    "version {version_type} PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255))"
)
#: When refinery's row was written, as refinery writes it (RFC 3339, nanoseconds).
REFINERY_APPLIED_ON = "2026-11-30T09:00:00.123456789Z"
#: A timestamp version, as the README tells third parties to number their migrations.
TIMESTAMP = 20261201120000


@dataclass
class Db:
    """A fresh database of one dialect: ``connect()`` opens an idle connection, ``run``/``rows`` use a connection of their own."""

    dialect: str
    connect: Callable[[], Any]
    url: str

    def run(self, *statements: str) -> None:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()

    def rows(self, sql: str) -> List[Tuple[Any, ...]]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            found = [tuple(row) for row in cursor.fetchall()]
            connection.commit()
            return found
        finally:
            connection.close()

    def history(self) -> List[Tuple[int, str, str, Optional[str]]]:
        """``(version, name, checksum, agent)`` of every history row, in version order."""
        return [
            (int(v), str(n), str(c), a)
            for v, n, c, a in self.rows("SELECT version, name, checksum, agent FROM refinery_schema_history ORDER BY version")
        ]

    def version_type(self) -> str:
        """The declared type of the history's version column, lower-case."""
        if self.dialect == "sqlite":
            return next(str(r[2]).lower() for r in self.rows("PRAGMA table_info(refinery_schema_history)") if r[1] == "version")
        if self.dialect == "postgresql":
            return str(self.rows(
                "SELECT udt_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'refinery_schema_history' AND column_name = 'version'"
            )[0][0]).lower()
        value = self.rows(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'refinery_schema_history' AND COLUMN_NAME = 'version'"
        )[0][0]
        return (value.decode() if isinstance(value, bytes) else str(value)).lower()

    def is_64_bit(self) -> bool:
        return self.version_type() in ("int8", "bigint")

    def refinery_history(self, int8: bool, migrations: Sequence[Migration], agent_column: bool = False) -> None:
        """Make the history table as refinery does (``int8-versions`` or not) and record ``migrations`` as refinery would.

        The migrations' SQL is run too, as the Rust application applied it.
        ``agent_column``: the table as an earlier run of this library left it.
        """
        statements = [REFINERY_CREATE.format(version_type="int8" if int8 else "int4")]
        if agent_column:
            statements.append("ALTER TABLE refinery_schema_history ADD COLUMN agent VARCHAR(255)")
        for migration in migrations:
            sql = migration.sql(self.dialect)
            statements.extend(s for s in sql.split(";") if s.strip())
            statements.append(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
                f"({migration.version}, '{migration.name}', '{REFINERY_APPLIED_ON}', "
                f"'{checksum(migration.name, migration.version, sql, int8)}')"
            )
        self.run(*statements)


def expected_checksum(migration: Migration, dialect: str, int8: bool) -> str:
    return str(checksum(migration.name, migration.version, migration.sql(dialect), int8))


def sqlite_db(tmp_path: Path) -> Db:
    path = tmp_path / "agents.sqlite"
    return Db("sqlite", lambda: sqlite3.connect(path), f"sqlite:///{path}")


def postgresql_db(server: Any) -> Db:
    import psycopg

    name = f"int8_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return Db("postgresql", lambda: psycopg.connect(server.dsn(name)), server.url(name))


def mariadb_db(server: Any, name: str) -> Db:
    return Db("mysql", lambda: server.connect(name), server.url(name))
