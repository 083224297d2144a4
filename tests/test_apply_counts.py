"""What applying one more migration costs, counted exactly on each dialect (never timed).

Each migration commits in its own write transaction with its history row.
Growing a run by k migrations adds exactly k times a fixed number of
statements and rows read, and reads the history no more often:

* SQLite (6 statements, 2 rows, 4 calls): ``BEGIN IMMEDIATE``, the
  migration's statement and its history row (values written out) in one
  ``executescript`` call (``dialects/sqlite_scripts.py``: a migration of
  ``CREATE`` statements needs no check between them), then ``SELECT
  changes()`` (the row was written: a trigger may ignore it silently),
  ``PRAGMA data_version`` (the O(1) guard, in the same transaction) and
  ``COMMIT``. ``statements`` counts each statement of a script;
  ``round_trips`` counts the calls (one per script). A hand loop sends 4
  (BEGIN, statement, insert, COMMIT), in one ``executescript`` call.
* PostgreSQL (6 statements, 3 rows, 3 round trips): ``BEGIN``,
  ``pg_try_advisory_xact_lock`` and the guard (one row) in one message, the
  statement, then its history row (returning the transaction's id: a row)
  and ``COMMIT`` in one message (see ``dialects/postgresql/batched.py``);
  before, 6 round trips. ``SET CONSTRAINTS ALL IMMEDIATE`` (deferred
  constraint checks fired while the migration is known) is sent only after a
  statement that may change rows: not after a ``CREATE TABLE``. psycopg by
  hand sends 4 statements in 4 round trips. The guard counts and sums the
  history only when another transaction may have written since: not once
  per migration on a server nobody else writes to (counted below with the
  server's own statistics).
* MariaDB (6 statements, no row): the lock is held for the whole run, so
  no other runner can write between two of its transactions, and the guard
  (and the journal read) is not asked again once confirmed under the lock
  (``change_token``; before, 11 statements and one row). DDL commits
  implicitly, so the journal entry is written and committed before the
  statement runs (the journal entry, ``COMMIT``, the statement), and the
  history row commits with the entry's deletion (the history row, the
  deletion, ``COMMIT``). Writes run with autocommit off, switched once per
  run, so the server opens each transaction itself: before, a
  ``START TRANSACTION`` opened the unit of work and reopened it after the
  journal's ``COMMIT`` and after the DDL: 9. Before that, the entry was also
  marked at statement 1 in a transaction of its own, which it already says:
  14. PyMySQL by hand sends 4 (``BEGIN``, the statement, the history row,
  ``COMMIT``).
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import plugin_returning
from test_apply_linear import bulk_registry

from nocodo_agents.engine.migrate import migrate
from nocodo_agents.engine.run import open_run
from nocodo_agents.schema.constraint_checks import queues_no_checks

_names = itertools.count()

#: (statements, rows read, round trips) per migration applied, by dialect.
PER_MIGRATION: dict[str, tuple[int, int, int]] = {"sqlite": (6, 2, 4), "postgresql": (6, 3, 3), "mariadb": (6, 0, 6)}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Callable[[], Any]]:
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


def counted(connect: Callable[[], Any], n: int, grouped: bool = False) -> tuple[int, int, int, int]:
    """Apply core and ``n`` bulk migrations to a fresh database: statements, rows read, full history reads, round trips."""
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
            report = migrate(run, grouped=grouped)
            assert len(report.applied) == 3 + n
            return dialect.statements, dialect.rows_read, reads, dialect.round_trips
    finally:
        conn.close()


def test_each_migration_costs_a_fixed_number_of_statements_and_rows(fresh: tuple[str, Callable[[], Any]]) -> None:
    dialect, connect = fresh
    statements_10, rows_10, reads_10, trips_10 = counted(connect, 10)
    statements_30, rows_30, reads_30, trips_30 = counted(connect, 30)
    assert (
        (statements_30 - statements_10) / 20, (rows_30 - rows_10) / 20, (trips_30 - trips_10) / 20
    ) == PER_MIGRATION[dialect]
    assert reads_30 == reads_10 <= 2, "the history is read at most twice per run (without the lock, then under it)"


def test_sqlite_grouped_run_is_one_script_whatever_the_number_of_migrations(tmp_path: Path) -> None:
    """Grouped on SQLite: the first look (rolled back, its writes sent again first), then one script.

    Each migration adds its statement and its history row (values written
    out) to the one script: 2 statements and no call more. The whole run is
    a fixed number of calls.
    """
    connect = lambda: sqlite3.connect(tmp_path / f"grouped_{next(_names)}.sqlite")  # noqa: E731
    statements_10, rows_10, reads_10, trips_10 = counted(connect, 10, grouped=True)
    statements_30, rows_30, reads_30, trips_30 = counted(connect, 30, grouped=True)
    assert ((statements_30 - statements_10) / 20, rows_30 - rows_10, trips_30 - trips_10) == (2, 0, 0)
    assert reads_30 == reads_10 <= 2


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
    from nocodo_agents.migration import Migration

    migrations = [
        Migration(100, "parent", "CREATE TABLE parent (id INT PRIMARY KEY)"),
        Migration(101, "child", "CREATE TABLE child (id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"),
        Migration(102, "orphan", "INSERT INTO child VALUES (7)"),
    ]
    plugin = plugin_returning(migrations)
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


def _traced_round_trips(postgres_server, n: int, grouped: bool = False) -> tuple[int, int]:
    """Apply core and ``n`` bulk migrations on PostgreSQL: the round trips libpq saw, and the history's sequential scans.

    Round trips are counted at the connection (libpq's trace: one
    ``ReadyForQuery`` per message answered), scans by the server
    (``pg_stat_user_tables``, flushed by ``pg_stat_force_next_flush()``).
    """
    import tempfile

    import psycopg
    from psycopg import pq

    name = f"trips_{next(_names)}"
    postgres_server.create_database(name)
    conn = psycopg.connect(postgres_server.dsn(name))
    try:
        with tempfile.TemporaryFile("w+") as trace:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            with open_run(conn, None, bulk_registry(n), 60) as run:
                assert len(migrate(run, grouped=grouped).applied) == 3 + n
            conn.pgconn.untrace()
            trace.seek(0)
            trips = sum(1 for line in trace if line.startswith("B\t") and "\tReadyForQuery\t" in line)
        conn.autocommit = True
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # the runner's statistics reach the server once it is idle
        observer = psycopg.connect(postgres_server.dsn(name), autocommit=True)
        try:
            scans = observer.execute(
                "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'refinery_schema_history'"
            ).fetchone()[0]
        finally:
            observer.close()
        return trips, scans
    finally:
        conn.close()


def test_postgresql_round_trips_per_migration_are_three_counted_at_the_connection(postgres_server) -> None:
    trips_10, scans_10 = _traced_round_trips(postgres_server, 10)
    trips_30, scans_30 = _traced_round_trips(postgres_server, 30)
    assert (trips_30 - trips_10) / 20 == 3
    assert scans_30 == scans_10, "no migration's guard scans the history when nobody else wrote to it"


def test_postgresql_grouped_run_sends_one_message_per_migration_and_history_row(postgres_server) -> None:
    """Grouped: each migration's statement, then its history row (the last one's with COMMIT)."""
    trips_10, _ = _traced_round_trips(postgres_server, 10, grouped=True)
    trips_30, _ = _traced_round_trips(postgres_server, 30, grouped=True)
    assert (trips_30 - trips_10) / 20 == 2
