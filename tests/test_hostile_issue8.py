"""Defects found by a hostile pass over the reliability work of issue 8, each pinned by a test.

Every test here failed before its fix: the message or exception a user met
is said in the test's docstring.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from conftest import migration_module, registry_of
from nocodo_agents import InvalidMigrationError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tuple[str, Any]]:
    """(dialect, a connection to a fresh database) on SQLite and on each private server."""
    if request.param == "sqlite":
        connection: Any = sqlite3.connect(tmp_path / "hostile.sqlite")
        yield "sqlite", connection
        connection.close()
    elif request.param == "postgresql":
        import psycopg

        postgres = request.getfixturevalue("postgres_server")
        name = f"hostile_{next(_names)}_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name)
        connection = psycopg.connect(postgres.dsn(name))
        yield "postgresql", connection
        connection.close()
    else:
        mariadb = request.getfixturevalue("mariadb_server")
        name = f"nocodo_hostile_{uuid.uuid4().hex[:12]}"
        mariadb.create_database(name)
        connection = mariadb.connect(name)
        yield "mysql", connection
        connection.close()
        admin = mariadb.connect()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()


def _rows(connection: Any, sql: str) -> List[tuple]:
    cursor = connection.cursor()
    cursor.execute(sql)
    rows = [tuple(row) for row in cursor.fetchall()]
    cursor.close()
    connection.commit()
    return rows


# -- PostgreSQL: a current schema whose name needs quoting -------------------------------------


@pytest.fixture
def pg_connect(postgres_server):  # type: ignore[no-untyped-def]
    """Connect to a fresh database of the private PostgreSQL server."""
    import psycopg

    opened = []

    def connect() -> "psycopg.Connection":
        name = f"hostile_{next(_names)}"
        postgres_server.create_database(name)
        connection = psycopg.connect(postgres_server.dsn(name))
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()


@pytest.mark.parametrize("schema", ["user", "MySchema", "my schema", 'we"ird'])
def test_postgresql_schema_needing_quotes_migrates_and_verifies_clean(pg_connect, schema: str) -> None:  # type: ignore[no-untyped-def]
    """A search_path naming a schema called ``user`` (a keyword), or with capitals or spaces.

    Before: ``user`` gave DatabaseAccessError "PostgreSQL reported: syntax
    error at or near "user"" (exit 6, blaming the database) because the
    history table was written ``user.refinery_schema_history``; the others
    migrated, but ``verify`` reported every index as drifted (the live
    definitions say ``ON "MySchema".agent_sessions``, and only the unquoted
    name was stripped).
    """
    connection = pg_connect()
    quoted = '"' + schema.replace('"', '""') + '"'
    connection.execute(f"CREATE SCHEMA {quoted}")
    connection.execute("SELECT set_config('search_path', %s, false)", [quoted])
    connection.commit()
    report = run_agent_migrations(connection, registry=registry_of())
    assert report.versions == (1, 2, 3)
    tables = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name", [schema]
    ).fetchall()
    connection.commit()
    assert [t for (t,) in tables] == ["agent_messages", "agent_sessions", "agent_tool_calls", "refinery_schema_history"]
    assert run_agent_migrations(connection, registry=registry_of()).versions == ()  # the no-op path finds it
    verified = verify_database(connection, registry=registry_of())
    assert verified.drift.differences == ()
    assert verified.divergent == () and verified.pending == ()
