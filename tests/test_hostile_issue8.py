"""Defects found by a hostile pass over the reliability work of issue 8, each pinned by a test.

Every test here failed before its fix: the message or exception a user met
is said in the test's docstring.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import migration_module, registry_of
from fresh_database import open_fresh_database

from nocodo_agents import InvalidMigrationError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(dialect, a connection to a fresh database) on SQLite and on each private server."""
    yield from open_fresh_database(request, tmp_path, "hostile")


def _rows(connection: Any, sql: str) -> list[tuple]:
    cursor = connection.cursor()
    cursor.execute(sql)
    rows = [tuple(row) for row in cursor.fetchall()]
    cursor.close()
    connection.commit()
    return rows


# -- NUL characters and lone surrogates in a migration's SQL ------------------------------------

ACCOUNTS = "CREATE TABLE accounts (id INTEGER PRIMARY KEY, flagged INTEGER NOT NULL DEFAULT 0);\nINSERT INTO accounts (id) VALUES (1), (2), (5);"


def test_nul_in_sql_is_refused_before_anything_runs(any_conn: tuple[str, Any], agent_package) -> None:  # type: ignore[no-untyped-def]
    """``UPDATE accounts SET flagged = 1<NUL> WHERE id = 5``.

    Before: PostgreSQL (libpq ends the query at the NUL) ran ``UPDATE
    accounts SET flagged = 1`` on every row and recorded the migration as
    applied; SQLite crashed with a bare ``ValueError: embedded null
    character``. MySQL takes a NUL inside a string literal and still may.
    """
    dialect, connection = any_conn
    package = agent_package({"V100__accounts": ACCOUNTS})
    run_agent_migrations(connection, registry=registry_of(bank=package))
    flag = migration_module("UPDATE accounts SET flagged = 1\x00 WHERE id = 5;")
    package = agent_package({"V100__accounts": ACCOUNTS, "V101__flag": flag})
    if dialect == "mysql":  # the server reads past a NUL: in a string literal it is a character like any other
        flag = migration_module("UPDATE accounts SET flagged = LENGTH('a\x00b') WHERE id = 5;")
        package = agent_package({"V100__accounts": ACCOUNTS, "V101__flag": flag})
        run_agent_migrations(connection, registry=registry_of(bank=package))
        assert _rows(connection, "SELECT id, flagged FROM accounts ORDER BY id") == [(1, 0), (2, 0), (5, 3)]
        return
    with pytest.raises(InvalidMigrationError) as caught:
        run_agent_migrations(connection, registry=registry_of(bank=package))
    message = str(caught.value)
    assert "V101__flag.py" in message and "NUL character (at offset 31)" in message and "Nothing was run" in message
    assert _rows(connection, "SELECT id, flagged FROM accounts ORDER BY id") == [(1, 0), (2, 0), (5, 0)]
    assert [v for (v,) in _rows(connection, "SELECT version FROM refinery_schema_history ORDER BY version")][-1] == 100


def test_lone_surrogate_in_sql_is_a_named_error(any_conn: tuple[str, Any], agent_package) -> None:  # type: ignore[no-untyped-def]
    """Before: a bare ``UnicodeEncodeError`` (from the SQL splitter or the driver) on every dialect."""
    _, connection = any_conn
    notes = migration_module("CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('caf\udce9');")
    package = agent_package({"V100__notes": notes})
    with pytest.raises(InvalidMigrationError) as caught:
        run_agent_migrations(connection, registry=registry_of(notes=package))
    assert "V100__notes.py" in str(caught.value) and "lone surrogate" in str(caught.value)
    assert "'\\udce9' at offset 62" in str(caught.value)


# -- PostgreSQL: a current schema whose name needs quoting -------------------------------------


@pytest.fixture
def pg_connect(postgres_server):  # type: ignore[no-untyped-def]
    """Connect to a fresh database of the private PostgreSQL server."""
    import psycopg

    opened = []

    def connect() -> psycopg.Connection:
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


# -- SQLite: a connection that cannot be used from here ------------------------------------------


def test_sqlite_closed_connection_is_a_named_error(db_path: Path) -> None:
    """Before: a bare ``sqlite3.ProgrammingError: Cannot operate on a closed database.``"""
    from nocodo_agents import ConnectionStateError

    connection = sqlite3.connect(db_path)
    connection.close()
    with pytest.raises(ConnectionStateError, match="closed database.*nothing was changed"):
        run_agent_migrations(connection, registry=registry_of())
    assert db_path.stat().st_size == 0  # nothing written


def test_sqlite_connection_of_another_thread_is_a_named_error(db_path: Path) -> None:
    """Before: a bare ``sqlite3.ProgrammingError: SQLite objects created in a thread can only be used ...``"""
    import threading

    from nocodo_agents import ConnectionStateError

    connection = sqlite3.connect(db_path)
    caught: list[BaseException] = []

    def migrate() -> None:
        try:
            run_agent_migrations(connection, registry=registry_of())
        except BaseException as error:  # noqa: B902 - handed to the main thread
            caught.append(error)

    thread = threading.Thread(target=migrate)
    thread.start()
    thread.join()
    assert len(caught) == 1 and isinstance(caught[0], ConnectionStateError), caught
    assert "in the thread that opened it" in str(caught[0])
    assert connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)
    connection.close()
