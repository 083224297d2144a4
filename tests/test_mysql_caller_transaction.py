"""A caller's transaction, table locks and named locks on MariaDB are refused or left alone, never ended.

With autocommit off, a ``SELECT`` (``FOR UPDATE``, ``LOCK IN SHARE MODE``,
or plain, holding a REPEATABLE READ snapshot) opens a transaction that
MariaDB does not flag in the status PyMySQL reads; switching autocommit on
would commit it with its locks. The runner reads ``@@in_transaction`` in its
first statement and raises ``ConnectionStateError`` before anything is
committed. ``LOCK TABLES`` (which the runner's own transactions would release)
is refused too; a named lock the caller holds (``GET_LOCK``) is left held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from servers import MariaDBServer
from test_mysql import history, query

from nocodo_agents import ConnectionStateError
from nocodo_agents.dialects.mysql import migration_lock_name
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import migration_status

Connection = Any  # pymysql.connections.Connection

CORE = AgentRegistry([])


@pytest.fixture
def database(mariadb_database: str) -> str:
    return mariadb_database


@pytest.fixture
def conn(mariadb_server: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = mariadb_server.connect(database)  # PyMySQL's default: autocommit off
    query(connection, "CREATE TABLE mine (id INT PRIMARY KEY, n INT) ENGINE=InnoDB")
    query(connection, "INSERT INTO mine VALUES (1, 0)")
    yield connection
    connection.close()


@pytest.fixture
def other(mariadb_server: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = mariadb_server.connect(database)
    connection.autocommit(True)
    yield connection
    connection.close()


def server_in_transaction(connection: Connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@in_transaction")
        return bool(cursor.fetchone()[0])


def row_is_locked(other: Connection) -> bool:
    """Whether another session is refused the row the caller selected FOR UPDATE."""
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT n FROM mine WHERE id = 1 FOR UPDATE NOWAIT")
            cursor.fetchall()
        return False
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1205, error  # lock wait timeout (NOWAIT)
        return True


COMMANDS = {
    "migrate, pending": lambda conn: run_agent_migrations(conn, registry=CORE),
    "status": lambda conn: migration_status(conn, registry=CORE),
    "verify": lambda conn: verify_database(conn, registry=CORE),
    "rollback": lambda conn: rollback_migrations(conn, 0, registry=CORE, dry_run=True),
}


def _select(conn: Connection, sql: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        cursor.fetchall()


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("suffix", [" FOR UPDATE", " LOCK IN SHARE MODE", ""], ids=["for-update", "share-mode", "plain"])
def test_a_transaction_opened_by_a_select_is_refused_and_left_open(conn: Connection, other: Connection, command: str, suffix: str) -> None:
    _select(conn, f"SELECT n FROM mine WHERE id = 1{suffix}")
    assert not conn.server_status & pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS, "MariaDB does not flag it"
    with pytest.raises(ConnectionStateError, match="inside a transaction.*commit or roll back your own work"):
        COMMANDS[command](conn)
    assert conn.get_autocommit() is False and server_in_transaction(conn), "the caller's transaction is still open"
    if suffix == " FOR UPDATE":
        assert row_is_locked(other), "with its row lock"
    conn.rollback()
    assert not row_is_locked(other)
    assert "refinery_schema_history" not in {r[0] for r in query(conn, "SHOW TABLES")}, "nothing was written"


def test_the_no_op_path_refuses_it_too(conn: Connection, other: Connection) -> None:
    assert run_agent_migrations(conn, registry=CORE).versions == (1, 2, 3)
    _select(conn, "SELECT n FROM mine WHERE id = 1 FOR UPDATE")
    with pytest.raises(ConnectionStateError):
        run_agent_migrations(conn, registry=CORE)
    assert row_is_locked(other)
    conn.commit()
    report = run_agent_migrations(conn, registry=CORE)
    assert report.applied == () and report.statements == 5, "the check costs no statement"


def test_a_snapshot_is_not_ended_behind_the_callers_back(conn: Connection, other: Connection) -> None:
    """REPEATABLE READ: the caller's reads keep their snapshot after the refused run."""
    _select(conn, "SELECT n FROM mine")
    query(other, "UPDATE mine SET n = 1 WHERE id = 1")
    with pytest.raises(ConnectionStateError):
        run_agent_migrations(conn, registry=CORE)
    with conn.cursor() as cursor:
        cursor.execute("SELECT n FROM mine WHERE id = 1")
        assert cursor.fetchone() == (0,), "still the caller's snapshot"
    conn.commit()


@pytest.mark.parametrize("autocommit", [True, False])
def test_an_xa_transaction_is_refused(conn: Connection, autocommit: bool) -> None:
    conn.autocommit(autocommit)
    _select(conn, "XA START 'nocodo_xa'")
    with pytest.raises(ConnectionStateError):
        run_agent_migrations(conn, registry=CORE)
    _select(conn, "XA END 'nocodo_xa'")
    _select(conn, "XA ROLLBACK 'nocodo_xa'")


@pytest.mark.parametrize("mode", ["READ", "WRITE"])
def test_lock_tables_is_refused_and_left_held(conn: Connection, mode: str) -> None:
    conn.autocommit(True)  # with autocommit off the server flags LOCK TABLES as a transaction
    assert run_agent_migrations(conn, registry=CORE).versions == (1, 2, 3)
    _select(conn, f"LOCK TABLES mine {mode}")
    for command in (lambda: run_agent_migrations(conn, registry=CORE), lambda: migration_status(conn, registry=CORE)):
        with pytest.raises(ConnectionStateError, match=r"holds table locks \(LOCK TABLES\).*UNLOCK TABLES"):
            command()
    with pytest.raises(pymysql.err.OperationalError) as still:
        _select(conn, "SELECT * FROM refinery_schema_history")
    assert still.value.args[0] == 1100, "the caller's table locks are still held"
    _select(conn, "UNLOCK TABLES")
    assert [row[0] for row in history(conn)] == [1, 2, 3]


def test_named_locks_the_caller_holds_stay_held(conn: Connection, database: str, other: Connection) -> None:
    conn.autocommit(True)
    ours = migration_lock_name(database)
    _select(conn, "SELECT GET_LOCK('the_callers_lock', 0)")
    _select(conn, f"SELECT GET_LOCK('{ours}', 0)")  # a caller serialising its own runs with the runner's lock
    assert run_agent_migrations(conn, registry=CORE).versions == (1, 2, 3)
    def lock_holder(name: str) -> Any:
        return query(other, "SELECT IS_USED_LOCK(%s) IS NOT NULL", (name,))[0][0]
    assert lock_holder("the_callers_lock") and lock_holder(ours), "both are still the caller's"
    _select(conn, "SELECT RELEASE_ALL_LOCKS()")
    assert not lock_holder(ours)
