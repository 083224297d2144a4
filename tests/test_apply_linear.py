"""Applying n migrations costs O(n) statements and O(n) rows read, counted (never timed).

The run plans once; before each migration, under the lock, one single-row
query checks that no other runner changed the history (the concurrency
guard), instead of reading the whole history again (which made n migrations
cost about n^2/2 rows). Counted on a fresh SQLite file for n = 100 and 1,000,
and on the private PostgreSQL and MariaDB servers for n = 100 and 300.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import plugin_returning

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.migrate import migrate
from nocodo_agents.engine.run import open_run
from nocodo_agents.migration import Migration

_names = itertools.count()
#: The first version of the bulk agent (core holds V1-V3).
FIRST = 100


def bulk_registry(n: int) -> AgentRegistry:
    """Core plus one agent of ``n`` trivial migrations (one ``CREATE TABLE`` each), registered in-process."""
    migrations = [Migration(v, f"create_t_{v}", f"CREATE TABLE t_{v} (id INTEGER)") for v in range(FIRST, FIRST + n)]
    return AgentRegistry.from_plugins({"bulk": plugin_returning(migrations)})


def apply_counted(conn: Any, n: int) -> tuple[int, int]:
    """Apply core and ``n`` bulk migrations to ``conn``; the statements sent and the rows read."""
    with open_run(conn, None, bulk_registry(n), 60) as run:
        report = migrate(run)
        statements, rows = run.dialect.statements, run.dialect.rows_read
    assert report.versions == (1, 2, 3, *range(FIRST, FIRST + n))
    return statements, rows


def assert_linear(count: Callable[[int], tuple[int, int]], small: int, large: int, per_migration: tuple[int, int]) -> None:
    """Growing from ``small`` to ``large`` migrations grows both counts at most in proportion (plus 5%).

    And each migration costs at most ``per_migration`` (statements, rows read),
    beyond a fixed 60 of each for the session, the first look and core's three.
    """
    (statements_small, rows_small), (statements_large, rows_large) = count(small), count(large)
    ratio = (large / small) * 1.05
    assert statements_large <= ratio * statements_small, (statements_small, statements_large)
    assert rows_large <= ratio * rows_small, (rows_small, rows_large)
    most_statements, most_rows = per_migration
    assert statements_large <= most_statements * large + 60, statements_large
    assert rows_large <= most_rows * large + 60, rows_large


def test_applying_n_migrations_on_sqlite_is_linear_in_statements_and_rows_read(tmp_path: Path) -> None:
    def count(n: int) -> tuple[int, int]:
        conn = sqlite3.connect(tmp_path / f"bulk_{n}.sqlite")
        try:
            return apply_counted(conn, n)
        finally:
            conn.close()

    # per migration: busy_timeout 0, BEGIN IMMEDIATE, busy_timeout back, the guard, its statement, its history
    # row, COMMIT; one row read (the guard's)
    assert_linear(count, 100, 1000, per_migration=(7, 2))


def test_a_no_op_run_after_n_migrations_reads_the_history_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "bulk.sqlite")
    apply_counted(conn, 200)
    with open_run(conn, None, bulk_registry(200), 60) as run:
        assert migrate(run).applied == ()
        assert run.dialect.rows_read == 1 + 5 + 203  # busy_timeout; the history table's columns; its rows
    conn.close()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_applying_n_migrations_on_the_servers_is_linear(request: pytest.FixtureRequest, server: str) -> None:
    def count(n: int) -> tuple[int, int]:
        name = f"linear_{next(_names)}"
        if server == "postgresql":
            import psycopg

            postgres = request.getfixturevalue("postgres_server")
            postgres.create_database(name)
            conn = psycopg.connect(postgres.dsn(name))
        else:
            mariadb = request.getfixturevalue("mariadb_server")
            mariadb.create_database(name)
            conn = mariadb.connect(name)
        try:
            return apply_counted(conn, n)
        finally:
            conn.close()

    # PostgreSQL: BEGIN, lock, SET LOCALs, the guard, statement, row, COMMIT; MariaDB adds the journal's writes
    assert_linear(count, 100, 300, per_migration=(16, 3))
