"""MySQL writes run with autocommit off, switched once per run, on the real MariaDB server.

The server opens each unit of work's transaction at its first statement and
again after a DDL statement or a journal write commits it, so no
``START TRANSACTION`` is sent (see ``dialects/mysql/dialect.py``
``_write_mode``). What must still hold: the statements after a migration's
last implicit commit commit with its history row and not before; the journal
entry is committed before the DDL; reads and ``transactional = False``
migrations run in autocommit; the caller's ``autocommit`` comes back as it
was, with no transaction left open.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import registry_of
from servers import MariaDBServer
from test_mysql import history, journal, query, tables

from nocodo_agents import DatabaseAccessError, IncompleteMigrationError
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.runner import run_agent_migrations

Connection = Any  # pymysql.connections.Connection


@pytest.fixture
def conn(mariadb_server: MariaDBServer, mariadb_database: str) -> Iterator[Connection]:
    connection = mariadb_server.connect(mariadb_database)
    yield connection
    connection.close()


def _session(connection: Connection) -> tuple:
    """``(@@autocommit, @@in_transaction)`` as the server has them, read without changing either."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@autocommit, @@in_transaction")
        return tuple(int(value) for value in cursor.fetchone())


def test_a_migrations_rows_after_its_ddl_commit_with_its_history_row_and_not_before(conn: Connection, agent_package) -> None:
    """The history row is refused (a trigger): the INSERT after the CREATE is rolled back with it; the DDL stays, journalled."""
    registry = registry_of(wm=agent_package({"V100__table_and_row": "CREATE TABLE wm_a (id INT PRIMARY KEY);\nINSERT INTO wm_a VALUES (1);"}))
    run_agent_migrations(conn, registry=AgentRegistry([]))  # V1-V3, the history table
    query(
        conn,
        "CREATE TRIGGER wm_refuse_100 BEFORE INSERT ON refinery_schema_history FOR EACH ROW "
        "BEGIN IF NEW.version = 100 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no row for 100'; END IF; END",
    )
    with pytest.raises(DatabaseAccessError, match="the server reported: no row for 100"):
        run_agent_migrations(conn, registry=registry)
    assert "wm_a" in tables(conn), "the DDL committed by itself"
    assert query(conn, "SELECT COUNT(*) FROM wm_a") == [(0,)], "the row went with the refused history row"
    assert [row[0] for row in history(conn)] == [1, 2, 3]
    assert [row[:2] for row in journal(conn)] == [(100, "table_and_row")], "the journal entry committed before the DDL"
    query(conn, "DROP TRIGGER wm_refuse_100")
    with pytest.raises(IncompleteMigrationError):
        run_agent_migrations(conn, registry=registry)  # stopped part-way: resolve first


@pytest.mark.parametrize("caller_autocommit", [True, False])
def test_the_callers_autocommit_comes_back_with_no_transaction_open(
    conn: Connection, mariadb_server: MariaDBServer, mariadb_database: str, agent_package, caller_autocommit: bool
) -> None:
    registry = registry_of(
        wm=agent_package(
            {
                "V100__first": "CREATE TABLE wm_b (id INT PRIMARY KEY);\nINSERT INTO wm_b VALUES (1);",
                "V101__outside": "def migration():\n    return 'INSERT INTO wm_b VALUES (2);'\n\n\ntransactional = False\n",
                "V102__last": "INSERT INTO wm_b VALUES (3);",
            }
        )
    )
    conn.autocommit(caller_autocommit)
    report = run_agent_migrations(conn, registry=registry)
    assert report.versions == (1, 2, 3, 100, 101, 102)
    assert _session(conn) == (int(caller_autocommit), 0)
    assert conn.get_autocommit() is caller_autocommit
    assert run_agent_migrations(conn, registry=registry).versions == (), "the no-op reads the committed history"
    assert _session(conn) == (int(caller_autocommit), 0)
    observer = mariadb_server.connect(mariadb_database)
    try:
        assert query(observer, "SELECT id FROM wm_b ORDER BY id") == [(1,), (2,), (3,)], "all committed"
        assert [row[0] for row in history(observer)] == [1, 2, 3, 100, 101, 102]
    finally:
        observer.close()
