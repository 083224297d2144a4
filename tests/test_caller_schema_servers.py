"""Where the caller's session points: search_path on PostgreSQL, the current database on MariaDB (real servers).

A schema (or MySQL database) whose name needs quoting (``"App"``, ``"my
schema"``, a dot, a quote) works on every path: migrate, status, verify (no
false drift), repair (no refusal), rollback, adoption, baseline, resolve.
A session that points nowhere (PostgreSQL ``search_path = ''`` or naming
only schemas that do not exist; MySQL without a current database) is
refused with :class:`ConnectionStateError` on every path, before anything
is written, by the API and by the console script.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable

import psycopg
import pymysql
import pytest
from caller_paths import exercise_every_path
from cli_support import Cli
from conftest import registry_of

from nocodo_agents import ConnectionStateError
from nocodo_agents.lifecycle import (
    baseline,
    record_as_applied,
    repair_history,
    resolve_unfinished,
    rollback_migrations,
    verify_database,
)
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import migration_status

AWKWARD_NAMES = ["App", "my schema", "a.b", 'q"uote', "user"]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_raw(connection: psycopg.Connection) -> Callable[[str], None]:
    def raw(sql: str) -> None:
        with psycopg.Cursor(connection) as cursor:
            cursor.execute(sql)
        connection.commit()

    return raw


@pytest.mark.parametrize("schema", AWKWARD_NAMES)
def test_postgresql_a_schema_whose_name_needs_quoting_works_on_every_path(postgres_server, agent_package, schema: str) -> None:
    name = f"schema_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.dsn(name)) as connection:
        raw = _pg_raw(connection)
        raw(f"CREATE SCHEMA {_quoted(schema)}")
        raw(f"SET search_path = {_quoted(schema)}")
        exercise_every_path(connection, raw, agent_package, journalled=False)
        with psycopg.Cursor(connection) as cursor:
            assert cursor.execute("SELECT current_schema()").fetchone() == (schema,)
            assert cursor.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = 'refinery_schema_history'", (schema,)
            ).fetchone() == (1,)
            assert cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == (0,)
        connection.commit()


def _every_path_refused(conn, agent_package, match: str) -> None:
    """Each path raises ConnectionStateError matching ``match``."""
    registry = registry_of(notes=agent_package({"V100__notes": "CREATE TABLE notes (id INT);"}))
    calls: list[Callable[[], object]] = [
        lambda: migration_status(conn, registry=registry),
        lambda: run_agent_migrations(conn, registry=registry, dry_run=True),
        lambda: run_agent_migrations(conn, registry=registry),
        lambda: verify_database(conn, registry=registry),
        lambda: repair_history(conn, registry=registry),
        lambda: rollback_migrations(conn, 0, registry=registry),
        lambda: rollback_migrations(conn, 0, registry=registry, dry_run=True),
        lambda: baseline(conn, 100, registry=registry),
        lambda: record_as_applied(conn, registry=registry),
        lambda: resolve_unfinished(conn, 100, applied=True, registry=registry),
    ]
    for call in calls:
        with pytest.raises(ConnectionStateError, match=match):
            call()


@pytest.mark.parametrize("search_path", ["''", "nosuch", '"App"', "nosuch, \"$user\""])
def test_postgresql_a_search_path_naming_no_schema_is_refused_on_every_path_before_anything_is_written(
    postgres_server, agent_package, search_path: str
) -> None:
    name = f"schema_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.dsn(name)) as connection:
        _pg_raw(connection)(f"SET search_path = {search_path}")
        _every_path_refused(connection, agent_package, "search_path .* names no schema that exists")
        with psycopg.Cursor(connection) as cursor:
            assert cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            ).fetchone() == (0,)
        connection.rollback()


def test_postgresql_a_search_path_starting_with_a_missing_schema_uses_the_first_that_exists(postgres_server) -> None:
    name = f"schema_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.dsn(name)) as connection:
        _pg_raw(connection)("SET search_path = nosuch, public")
        assert run_agent_migrations(connection, registry=registry_of()).versions == (1, 2, 3)
        assert verify_database(connection, registry=registry_of()).ok


def test_the_command_line_refuses_a_database_whose_search_path_names_no_schema(postgres_server, tmp_path: Path) -> None:
    name = f"schema_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET search_path = nosuch')
    (tmp_path / "site").mkdir()
    cli = Cli(tmp_path, tmp_path / "site")
    url = postgres_server.url(name)
    for command in (["status"], ["migrate"], ["migrate", "--dry-run"], ["verify"], ["repair"], ["rollback", "--to", "0"], ["baseline", "--version", "3"]):
        result = cli(*command, "--db", url)
        assert result.code == 1, result.text
        assert "search_path" in result.err and "names no schema that exists" in result.err and "Traceback" not in result.err
    with psycopg.connect(postgres_server.dsn(name)) as check:
        assert check.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).fetchone() == (0,)


# -- MariaDB -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["App", "my db", "a.b", "we`ird", "x-y"])
def test_mariadb_a_database_whose_name_needs_quoting_works_on_every_path(mariadb_server, agent_package, database: str) -> None:
    database = f"{database}_{uuid.uuid4().hex[:6]}"
    admin = mariadb_server.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE `" + database.replace("`", "``") + "`")
    finally:
        admin.close()
    connection = mariadb_server.connect(database)

    def raw(sql: str) -> None:
        with connection.cursor(pymysql.cursors.Cursor) as cursor:
            cursor.execute(sql)
        connection.commit()

    try:
        exercise_every_path(connection, raw, agent_package, journalled=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE()")
            assert cursor.fetchone() == (database,)
    finally:
        connection.close()


def test_mariadb_a_connection_without_a_current_database_is_refused_on_every_path(mariadb_server, agent_package) -> None:
    connection = mariadb_server.connect()
    try:
        _every_path_refused(connection, agent_package, "no current database")
    finally:
        connection.close()
