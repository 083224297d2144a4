"""refinery ``.sql`` files and empty SQL on the real PostgreSQL and MariaDB servers.

The same package runs on both: a ``.sql`` file is applied as written and
recorded with refinery's checksum; SQL holding only that dialect's comments
(nested block comments on PostgreSQL, ``#`` lines on MySQL) is refused
naming the file, and nothing of it is recorded.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import registry_of
from fresh_database import open_fresh_database

from nocodo_agents import InvalidMigrationError
from nocodo_agents.checksum import checksum
from nocodo_agents.database.migrations import run_agent_migrations

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n-- ported from a Rust crate\n"
EMPTY = {"postgresql": "/* outer /* nested */ still a comment */\n;", "mysql": "# nothing yet\n-- nor here\n;"}


@pytest.fixture(params=["postgresql", "mysql"])
def server_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(dialect, a connection to a fresh database) on each server."""
    yield from open_fresh_database(request, tmp_path, "files")


def history(connection: Any) -> list[tuple[int, str, str]]:
    cursor = connection.cursor()
    cursor.execute("SELECT version, name, checksum FROM refinery_schema_history ORDER BY version")
    rows = [(int(v), str(n), str(c)) for v, n, c in cursor.fetchall()]
    connection.commit()
    return rows


def package_with_sql_file(agent_package, file_name: str, text: str) -> tuple[str, Path]:
    package = agent_package({})
    directory = Path(importlib.import_module(package).__path__[0])
    (directory / file_name).write_text(text)
    importlib.invalidate_caches()
    return package, directory / file_name


def test_a_sql_file_is_applied_with_refinerys_checksum(server_conn, agent_package) -> None:
    dialect, connection = server_conn
    package, _ = package_with_sql_file(agent_package, "V100__create_notes.sql", NOTES)
    report = run_agent_migrations(connection, registry=registry_of(ported=package))
    assert report.dialect == dialect and report.versions == (1, 2, 3, 100)
    assert history(connection)[-1] == (100, "create_notes", str(checksum("create_notes", 100, NOTES)))
    cursor = connection.cursor()
    cursor.execute("INSERT INTO notes (id, body) VALUES (1, 'kept')")
    cursor.execute("SELECT body FROM notes")
    assert [tuple(row) for row in cursor.fetchall()] == [("kept",)]
    connection.commit()
    assert run_agent_migrations(connection, registry=registry_of(ported=package)).applied == ()


def test_sql_of_only_this_dialects_comments_is_refused_naming_the_file(server_conn, agent_package) -> None:
    dialect, connection = server_conn
    package, path = package_with_sql_file(agent_package, "V100__placeholder.sql", EMPTY[dialect])
    with pytest.raises(InvalidMigrationError, match=f"its SQL for {dialect} is empty") as raised:
        run_agent_migrations(connection, registry=registry_of(empty=package))
    assert raised.value.source == str(path)
    connection.rollback()
    cursor = connection.cursor()
    schema = "DATABASE()" if dialect == "mysql" else "current_schema()"
    cursor.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema} AND table_name = 'agent_sessions'")
    assert len(cursor.fetchall()) == 0  # refused before the run applied anything
    connection.commit()
