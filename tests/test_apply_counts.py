"""What applying one more migration costs, counted exactly on each dialect (never timed).

Each migration commits in its own write transaction with its history row.
Growing a run by k migrations adds exactly k times a fixed number of
statements and rows read, and reads the history no more often:

* SQLite (5 statements, 1 row): ``BEGIN IMMEDIATE``, ``PRAGMA data_version``
  (the O(1) guard: its one row), the migration's statement, its history row,
  ``COMMIT``. The busy timeout is set to 0 once, before the first write
  transaction, and stays so while each takes the lock at once; before, it
  was set to 0 and back around each ``BEGIN IMMEDIATE``: 7. A hand loop
  sends 4 (BEGIN, statement, insert, COMMIT).
* PostgreSQL (6 statements, 2 rows): ``BEGIN``, ``pg_try_advisory_xact_lock``,
  the guard (count and sum of the history: one row), the statement, its
  history row, ``COMMIT``. ``SET CONSTRAINTS ALL IMMEDIATE`` (deferred
  constraint checks fired while the migration is known) is sent only after a
  statement that may change rows: not after a ``CREATE TABLE``. psycopg by
  hand sends 4.
* MariaDB (11 statements, 1 row): the lock is held for the whole run, but
  DDL commits implicitly, so the journal entry is written and committed
  before the statement runs (``START TRANSACTION``, the guard, the journal
  entry, ``COMMIT``...), and the history row commits with the entry's
  deletion. Before, the entry was also marked at statement 1 in a
  transaction of its own, which it already says: 14. PyMySQL by hand sends 3.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest

from nocodo_agents.engine.migrate import migrate
from nocodo_agents.engine.run import open_run
from nocodo_agents.schema.constraint_checks import queues_no_checks
from test_apply_linear import bulk_registry

_names = itertools.count()

#: (statements, rows read) per migration applied, by dialect.
PER_MIGRATION: Dict[str, Tuple[int, int]] = {"sqlite": (5, 1), "postgresql": (6, 2), "mariadb": (11, 1)}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Tuple[str, Callable[[], Any]]:
    """The dialect, and a function opening a connection to a new, empty database."""
    if request.param == "sqlite":
        return "sqlite", lambda: sqlite3.connect(tmp_path / f"counts_{next(_names)}.sqlite")
    server = request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mariadb_server")

    def connect() -> Any:
        name = f"counts_{next(_names)}"
        server.create_database(name)
        if request.param == "postgresql":
            import psycopg

            return psycopg.connect(server.dsn(name))
        return server.connect(name)

    return request.param, connect


def counted(connect: Callable[[], Any], n: int) -> Tuple[int, int, int]:
    """Apply core and ``n`` bulk migrations to a fresh database: statements, rows read, full history reads."""
    conn = connect()
    try:
        with open_run(conn, None, bulk_registry(n), 60) as run:
            dialect = run.dialect
            reads = 0
            read_history = dialect.read_history

            def counting_read() -> Any:
                nonlocal reads
                reads += 1
                return read_history()

            dialect.read_history = counting_read  # type: ignore[method-assign]
            report = migrate(run)
            assert len(report.applied) == 3 + n
            return dialect.statements, dialect.rows_read, reads
    finally:
        conn.close()


def test_each_migration_costs_a_fixed_number_of_statements_and_rows(fresh: Tuple[str, Callable[[], Any]]) -> None:
    dialect, connect = fresh
    statements_10, rows_10, reads_10 = counted(connect, 10)
    statements_30, rows_30, reads_30 = counted(connect, 30)
    per_statement, per_row = PER_MIGRATION[dialect]
    assert ((statements_30 - statements_10) / 20, (rows_30 - rows_10) / 20) == (per_statement, per_row)
    assert reads_30 == reads_10 <= 2, "the history is read at most twice per run (without the lock, then under it)"


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE t (id INTEGER)",
        "CREATE TABLE child (id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        "create unique index i on t (a, b)",
        "CREATE INDEX i ON t (lower(name))",
        "CREATE SEQUENCE s",
        "DROP INDEX i",
    ],
)
def test_ddl_that_changes_no_row_queues_no_deferred_check(statement: str) -> None:
    assert queues_no_checks(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO child VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "CREATE TABLE t AS SELECT make_rows()",
        "CREATE TABLE t AS TABLE other",
        "CREATE VIEW v AS SELECT 1",
        "CREATE TABLE t (name TEXT DEFAULT 'x')",  # a string: not read as plain words, so it may
        "CREATE EXTENSION hstore",
        "ALTER TABLE t ADD COLUMN c INT",
        "SELECT do_work()",
        "DO $$ BEGIN INSERT INTO t VALUES (1); END $$",
        "/* CREATE TABLE */ INSERT INTO t VALUES (1)",
        "CREATE TABLE t (id INT); INSERT INTO t VALUES (1)",
    ],
)
def test_anything_else_may_queue_a_deferred_check(statement: str) -> None:
    assert not queues_no_checks(statement)


def test_a_deferred_violation_after_rowless_migrations_still_names_its_migration(postgres_server) -> None:
    """Migrations of CREATEs only skip ``SET CONSTRAINTS ALL IMMEDIATE``; the one inserting the orphan still fails by name."""
    import psycopg

    from nocodo_agents import ForeignKeyViolationError
    from nocodo_agents.discovery import AgentRegistry
    from nocodo_agents.hookspecs import hookimpl
    from nocodo_agents.migration import Migration
    import types

    migrations = [
        Migration(100, "parent", "CREATE TABLE parent (id INT PRIMARY KEY)"),
        Migration(101, "child", "CREATE TABLE child (id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"),
        Migration(102, "orphan", "INSERT INTO child VALUES (7)"),
    ]

    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return migrations

    plugin = types.ModuleType(f"nocodo_deferred_{next(_names)}")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations  # type: ignore[attr-defined]
    name = f"counts_{next(_names)}"
    postgres_server.create_database(name)
    conn = psycopg.connect(postgres_server.dsn(name))
    with pytest.raises(ForeignKeyViolationError) as caught:
        with open_run(conn, None, AgentRegistry.from_plugins({"deferred": plugin}), 60) as run:
            migrate(run)
    assert caught.value.version == 102 and caught.value.rolled_back
    cursor = conn.cursor()
    cursor.execute("SELECT version FROM refinery_schema_history ORDER BY version")
    assert [row[0] for row in cursor.fetchall()] == [1, 2, 3, 100, 101]
    conn.rollback()
    conn.close()
