"""What applying one more migration costs, counted exactly on each dialect (never timed).

Each migration commits in its own write transaction with its history row.
Growing a run by k migrations adds exactly k times a fixed number of
statements and rows read, and reads the history no more often:

* SQLite (7 statements, 1 row): ``PRAGMA busy_timeout = 0``, ``BEGIN
  IMMEDIATE``, the busy timeout back, ``PRAGMA data_version`` (the O(1)
  guard: its one row), the migration's statement, its history row,
  ``COMMIT``. A hand loop sends 4 (BEGIN, statement, insert, COMMIT).
* PostgreSQL (7 statements, 2 rows): ``BEGIN``, ``pg_try_advisory_xact_lock``,
  the guard (count and sum of the history: one row), the statement, ``SET
  CONSTRAINTS ALL IMMEDIATE``, its history row, ``COMMIT``. psycopg by hand
  sends 4.
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
from test_apply_linear import bulk_registry

_names = itertools.count()

#: (statements, rows read) per migration applied, by dialect.
PER_MIGRATION: Dict[str, Tuple[int, int]] = {"sqlite": (7, 1), "postgresql": (7, 2), "mariadb": (11, 1)}


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
