"""A script is split, and refused if it cannot be split, before anything touches the database: no statement, no journal row.

On every dialect and for every phase: a transactional migration, one with
``transactional = False``, and rollback SQL. An unsplittable script (here an
unterminated string, which every dialect's splitter refuses) is an
:class:`UnsplittableSqlError` naming the migration; the statements before it
in the same run did not run either, and MySQL's statement journal holds no
entry (the next run is not told of an unfinished migration).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import migration_module, registry_of

from nocodo_agents import UnsplittableSqlError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.history import JOURNAL_TABLE
from nocodo_agents.lifecycle import rollback_migrations

#: An unterminated string on every dialect: the splitter cannot tell where the statement ends.
UNSPLITTABLE = "INSERT INTO r VALUES (1); INSERT INTO r VALUES ('never closed);\nINSERT INTO r VALUES (2);"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        connection: Any = sqlite3.connect(tmp_path / "split.sqlite")
        yield connection
        connection.close()
    elif request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = f"nocodo_order_{uuid.uuid4().hex[:12]}"
        server.create_database(name)
        connection = psycopg.connect(server.dsn(name))
        yield connection
        connection.close()
    else:
        server = request.getfixturevalue("mariadb_server")
        name = request.getfixturevalue("mariadb_database")
        connection = server.connect(name)
        yield connection
        connection.close()


def _rows(conn: Any, sql: str) -> list[tuple]:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql).fetchall()
    if isinstance(conn, psycopg.Connection):
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows
    with conn.cursor() as cursor:
        cursor.execute(sql)
        rows = list(cursor.fetchall())
    conn.commit()
    return rows


def _tables(conn: Any) -> set[str]:
    if isinstance(conn, sqlite3.Connection):
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    elif isinstance(conn, psycopg.Connection):
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        query = "SHOW TABLES"
    return {row[0] for row in _rows(conn, query)}


def _journal(conn: Any) -> list[tuple]:
    return _rows(conn, f"SELECT * FROM {JOURNAL_TABLE}") if JOURNAL_TABLE in _tables(conn) else []


@pytest.mark.parametrize("transactional", [True, False])
def test_an_unsplittable_migration_is_refused_before_anything_runs(conn: Any, agent_package, transactional: bool) -> None:
    registry = registry_of(
        order=agent_package(
            {
                "V100__table": "CREATE TABLE r (v VARCHAR(20));",
                "V101__bad": migration_module(UNSPLITTABLE, transactional=transactional),
            }
        )
    )
    with pytest.raises(UnsplittableSqlError) as raised:
        run_agent_migrations(conn, registry=registry)
    assert raised.value.version == 101 and "V101__bad" in str(raised.value)
    assert "r" not in _tables(conn)  # not even V100 ran
    assert not _journal(conn)


def test_unsplittable_rollback_sql_is_refused_before_anything_runs(conn: Any, agent_package) -> None:
    registry = registry_of(
        order=agent_package(
            {
                "V100__table": "CREATE TABLE r (v VARCHAR(20));",
                "V101__rows": migration_module("INSERT INTO r VALUES ('kept');", rollback=UNSPLITTABLE),
            }
        )
    )
    run_agent_migrations(conn, registry=registry)
    with pytest.raises(UnsplittableSqlError) as raised:
        rollback_migrations(conn, 100, registry=registry)
    assert raised.value.version == 101 and raised.value.phase == "rollback"
    assert _rows(conn, "SELECT v FROM r") == [("kept",)]  # no rollback statement ran
    assert not _journal(conn)
    assert [step.version for step in run_agent_migrations(conn, registry=registry).applied] == []  # no unfinished migration
