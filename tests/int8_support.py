"""One database of each dialect for the 64-bit version tests, and refinery's ``int8-versions`` history built as refinery builds it.

refinery's statements are those of refinery_core/src/traits/mod.rs: with the
``int8-versions`` feature the history table is created with
``version int8 PRIMARY KEY`` (otherwise ``int4``), and a row is appended by
naming its four columns; its checksum hashes the version as an ``i64``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nocodo_agents.checksum import checksum
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.migration import Migration

#: refinery's history DDL, ``{version_type}`` being ``int8`` (int8-versions) or ``int4``.
REFINERY_CREATE = (
    "CREATE TABLE IF NOT EXISTS refinery_schema_history("
    "version {version_type} PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255))"
)
#: When refinery's row was written, as refinery writes it (RFC 3339, nanoseconds).
REFINERY_APPLIED_ON = "2026-11-30T09:00:00.123456789Z"
#: A timestamp version, as the docs (writing an agent) tell third parties to number their migrations.
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

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            found = [tuple(row) for row in cursor.fetchall()]
            connection.commit()
            return found
        finally:
            connection.close()

    def history(self) -> list[tuple[int, str, str, str | None]]:
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


def db_for(request: Any, tmp_path: Path) -> Db:
    """A fresh database of the dialect a ``db`` fixture's parameter names (``sqlite``, ``postgresql`` or ``mariadb``)."""
    if request.param == "sqlite":
        return sqlite_db(tmp_path)
    if request.param == "postgresql":
        return postgresql_db(request.getfixturevalue("postgres_server"))
    return mariadb_db(request.getfixturevalue("mariadb_server"), request.getfixturevalue("mariadb_database"))


def call(db: Db, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``operation(connection, *args, **kwargs)`` on a connection of its own, closed afterwards."""
    connection = db.connect()
    try:
        return operation(connection, *args, **kwargs)
    finally:
        connection.close()


def migrate(db: Db, registry: Any, agents: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """``run_agent_migrations`` on a connection of its own with ``registry`` (and ``agents``); its report."""
    return call(db, run_agent_migrations, agents, registry=registry, **kwargs)


def widen_by_hand_keeping_32_bit_checksums(db: Db) -> None:
    """What a MySQL widening stopped between its ALTER and its checksums leaves (on every dialect): the column 64-bit, the rows as they were."""
    if db.dialect == "sqlite":
        db.run(
            "CREATE TABLE wide (version INT8 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255), agent VARCHAR(255))",
            "INSERT INTO wide SELECT version, name, applied_on, checksum, agent FROM refinery_schema_history",
            "DROP TABLE refinery_schema_history",
            "ALTER TABLE wide RENAME TO refinery_schema_history",
        )
    elif db.dialect == "postgresql":
        db.run("ALTER TABLE refinery_schema_history ALTER COLUMN version TYPE int8")
    else:
        db.run("ALTER TABLE refinery_schema_history MODIFY version BIGINT NOT NULL")


# -- what a Rust application built with refinery's int8-versions does with the rows it reads back ----------------

#: refinery reads ``applied_on`` with ``OffsetDateTime::parse(.., &Rfc3339).unwrap()``: RFC 3339, a ``T``, an offset.
_REFINERY_RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"


def refinery_verify(db: Db, migrations: Sequence[Migration], abort_missing: bool = True) -> list[int]:
    """Read the history as refinery_core 0.9.1 built with ``int8-versions`` does, then ``verify_migrations``.

    refinery's ``query_applied_migrations`` takes the version as an ``i64``
    (the postgres crate refuses any column but ``int8``), parses ``applied_on``
    as RFC 3339 and the checksum as a ``u64`` (both ``unwrap``/``expect``);
    ``verify_migrations`` (``abort_divergent``, and ``abort_missing`` unless
    told) then fails on an applied row whose name or checksum differs from its
    migration (``DivergentVersion``), an applied row no migration has, or a
    migration below the highest applied version that is not applied
    (``MissingVersion``). Returns the versions it would apply; an
    ``AssertionError`` names what refinery refuses.
    """
    import re

    if db.dialect == "postgresql":
        assert db.version_type() == "int8", f"postgres crate: i64 FromSql refuses a {db.version_type()} column"
    else:
        assert db.is_64_bit() or db.dialect == "sqlite", db.version_type()
    applied = []
    for version, name, applied_on, stored in db.rows(
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version ASC"
    ):
        assert -(2**63) <= int(version) < 2**63, version
        assert re.fullmatch(_REFINERY_RFC3339, str(applied_on)), f"Rfc3339 parse unwrap panics on {applied_on!r}"
        assert re.fullmatch(r"\+?[0-9]+", str(stored)) and int(stored) < 2**64, f"checksum must be a valid u64: {stored!r}"
        applied.append((int(version), str(name), int(stored)))
    files = {m.version: (m.name, checksum(m.name, m.version, m.sql(db.dialect), True)) for m in migrations}
    for version, name, stored in applied:
        if version not in files:
            assert not abort_missing, f"MissingVersion: V{version}__{name} is missing from the filesystem"
            continue
        assert files[version] == (name, stored), f"DivergentVersion: applied V{version}__{name} ({stored}) != {files[version]}"
    current = applied[-1][0] if applied else -1
    done = {version for version, _, _ in applied}
    pending = []
    for version in sorted(files):
        if version in done:
            continue
        assert not (abort_missing and current >= version), f"MissingVersion: V{version} on the filesystem, not applied"
        pending.append(version)
    return pending
