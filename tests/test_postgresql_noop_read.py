"""PostgreSQL's no-op read: the history's shape from pg_catalog, and its rows in the same message once the connection knows where it is.

A connection that found the history table (with its ``agent`` column) in a
schema before sends the shape query and the read of that schema's table as
one message (``dialects/postgresql/history_shape.py``). The rows are used
only if the shape says the table is still there, in that schema, with that
column; a message refused because the table, its schema or the column is
gone is followed by the shape alone. Counted on the real server, never timed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.migrate import up_to_date
from nocodo_agents.engine.run import open_run
from nocodo_agents.runner import run_agent_migrations

_names = itertools.count()


@pytest.fixture
def conn(postgres_server) -> Iterator[Any]:
    import psycopg

    name = f"noop_read_{next(_names)}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name), autocommit=True)
    yield connection
    connection.close()


def _noop(conn: Any) -> tuple[int, int, tuple[int, ...]]:
    """One no-op run on ``conn``: its statements, its round trips, and the versions it saw applied."""
    with open_run(conn, None, AgentRegistry([]), 60) as run:
        assert up_to_date(run) is not None, "nothing pending"
        return run.dialect.statements, run.dialect.round_trips, tuple(row.version for row in run.history)


def _versions(conn: Any, schema: str) -> tuple[int, ...]:
    return tuple(row[0] for row in conn.execute(f"SELECT version FROM {schema}.refinery_schema_history ORDER BY version").fetchall())


def test_a_connection_that_found_the_history_reads_shape_and_rows_in_one_round_trip(conn: Any) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    first = _noop(conn)  # this run may learn where the history lives
    assert _noop(conn) == (2, 1, (1, 2, 3)), "the shape and the rows: two statements, one message"
    assert first[0] == 2 and first[2] == (1, 2, 3)


def test_a_fresh_connection_reads_shape_then_rows(postgres_server, conn: Any) -> None:
    import psycopg

    run_agent_migrations(conn, registry=AgentRegistry([]))
    fresh = psycopg.connect(postgres_server.dsn(conn.info.dbname), autocommit=True)
    try:
        assert _noop(fresh) == (2, 2, (1, 2, 3))
    finally:
        fresh.close()


def test_a_search_path_moved_elsewhere_reads_the_history_there_not_the_one_guessed(conn: Any) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    _noop(conn)
    conn.execute("CREATE SCHEMA elsewhere")
    conn.execute("SET search_path = elsewhere")
    report = run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)
    assert report.versions == (1, 2, 3), "no history in elsewhere: everything pending there"
    run_agent_migrations(conn, registry=AgentRegistry([]))
    assert _versions(conn, "elsewhere") == (1, 2, 3)
    conn.execute("DELETE FROM elsewhere.refinery_schema_history WHERE version = 3")
    assert _noop_or_pending(conn)[2] == (1, 2), "elsewhere's rows"
    conn.execute("SET search_path = public")
    assert _noop(conn)[2] == (1, 2, 3)


def _noop_or_pending(conn: Any) -> tuple[int, int, tuple[int, ...]]:
    with open_run(conn, None, AgentRegistry([]), 60) as run:
        return run.dialect.statements, run.dialect.round_trips, tuple(row.version for row in run.history)


def test_a_history_table_dropped_between_runs_is_found_absent_and_made_again(conn: Any) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    _noop(conn)
    conn.execute("DROP TABLE refinery_schema_history")
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert [step.version for step in report.adopted] == [1, 2, 3], "core's tables are there: adopted into a new history"
    assert conn.info.transaction_status.name == "IDLE"
    assert _versions(conn, "public") == (1, 2, 3)


def test_a_history_without_the_agent_column_is_read_as_refinery_left_it(conn: Any) -> None:
    """refinery's own table has no ``agent`` column: the guessed read is refused, and the run reads the table as it is."""
    run_agent_migrations(conn, registry=AgentRegistry([]))
    _noop(conn)
    conn.execute("ALTER TABLE refinery_schema_history DROP COLUMN agent")
    statements, trips, seen = _noop_or_pending(conn)
    assert (statements, trips, seen) == (4, 3, (1, 2, 3)), "the refused message, then the shape and the rows"
    assert conn.info.transaction_status.name == "IDLE"
