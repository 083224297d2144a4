"""Issue 9 points 2-9 attacked again as shipped, on the private servers: each test is a defect found that way.

* A caller's ``LOCK TABLES`` on MariaDB with autocommit on (which the server
  does not flag as a transaction) must be refused before the runner's first
  ``START TRANSACTION``, which would release the caller's table locks, also
  when the caller locked the runner's own tables or when they do not exist yet;
  a session whose transactions are read-only is named as such.
* The splitter keeps routine bodies whole only in routines: a table called
  ``event`` with a column ``begin`` splits; MariaDB's ``END FOR`` closes nothing;
  a trigger body that is one ``IF ... END IF`` without ``BEGIN`` stays whole.
* In a history table refinery created in latin1, the ``agent`` column (ours)
  stores any agent name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from servers import MariaDBServer
from test_mysql import history, query

from nocodo_agents import ConnectionStateError, DatabaseAccessError
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import baseline, record_as_applied, rollback_migrations
from nocodo_agents.runner import run_agent_migrations

Connection = Any  # pymysql.connections.Connection

CORE = AgentRegistry([])


@pytest.fixture
def database(mariadb_database: str) -> str:
    return mariadb_database


@pytest.fixture
def conn(mariadb_server: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = mariadb_server.connect(database)
    connection.autocommit(True)  # with autocommit off the server flags LOCK TABLES as a transaction
    query(connection, "CREATE TABLE mine (id INT PRIMARY KEY) ENGINE=InnoDB")
    yield connection
    connection.close()


def tables_still_locked(conn: Connection) -> bool:
    """Whether the session still holds its LOCK TABLES (a table it did not lock is refused)."""
    try:
        query(conn, "SELECT 1 FROM information_schema.ENGINES e JOIN mine ON 0")
        query(conn, "SELECT COUNT(*) FROM mysql.db")
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1100, error
        return True
    return False


WRITES = {
    "migrate": lambda conn: run_agent_migrations(conn, registry=CORE),
    "migrate --fake": lambda conn: record_as_applied(conn, registry=CORE),
    "baseline": lambda conn: baseline(conn, 3, registry=CORE),
}


@pytest.mark.parametrize("command", list(WRITES))
def test_lock_tables_before_the_runners_tables_exist_is_refused_and_left_held(conn: Connection, command: str) -> None:
    query(conn, "LOCK TABLES mine WRITE")
    with pytest.raises(ConnectionStateError, match=r"holds table locks \(LOCK TABLES\).*UNLOCK TABLES"):
        WRITES[command](conn)
    assert tables_still_locked(conn), "the caller's table locks are still held"
    query(conn, "UNLOCK TABLES")
    assert "refinery_schema_history" not in {row[0] for row in query(conn, "SHOW TABLES")}, "nothing was written"


def test_lock_tables_on_the_runners_own_tables_is_refused_and_left_held(conn: Connection) -> None:
    assert run_agent_migrations(conn, registry=CORE, target=2).versions == (1, 2)
    query(
        conn,
        "LOCK TABLES mine WRITE, refinery_schema_history WRITE, nocodo_agents_migration_journal WRITE, "
        "nocodo_agents_migration_journal AS j WRITE",
    )
    for command in (
        lambda: run_agent_migrations(conn, registry=CORE),
        lambda: rollback_migrations(conn, 1, registry=CORE),
    ):
        with pytest.raises(ConnectionStateError, match=r"holds table locks \(LOCK TABLES\)"):
            command()
        assert tables_still_locked(conn)
    query(conn, "UNLOCK TABLES")
    assert [row[0] for row in history(conn)] == [1, 2], "nothing was applied or rolled back"


@pytest.mark.parametrize("autocommit", [True, False])
def test_a_session_with_read_only_transactions_is_named_as_such(conn: Connection, autocommit: bool) -> None:
    """MariaDB: ``SET SESSION TRANSACTION READ ONLY`` is the session's doing, not a replica's or the server's."""
    conn.autocommit(autocommit)
    query(conn, "SET SESSION TRANSACTION READ ONLY")
    with pytest.raises(DatabaseAccessError, match=r"transactions are read-only.*SET SESSION TRANSACTION READ WRITE") as raised:
        run_agent_migrations(conn, registry=CORE)
    assert "replica" not in str(raised.value)
    assert query(conn, "SELECT @@SESSION.tx_read_only, @@in_transaction") == [(1, 0)], "the caller's setting is kept"
    assert conn.get_autocommit() is autocommit
    query(conn, "SET SESSION TRANSACTION READ WRITE")
    assert run_agent_migrations(conn, registry=CORE).versions == (1, 2, 3)


# -- the splitter against the servers: compound-statement words where they are not compound statements --

import psycopg  # noqa: E402
from conftest import registry_of  # noqa: E402

from nocodo_agents.database.migrations import run_agent_migrations as run_migrations  # noqa: E402


@pytest.fixture
def pg(postgres_server: Any) -> Iterator[psycopg.Connection]:
    name = f"nocodo_h9_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name))
    yield connection
    connection.close()


#: A calendar's table called ``event`` with a column ``begin`` (neither reserved): no routine body to keep whole.
CALENDAR = "CREATE TABLE event (id INT PRIMARY KEY, begin INT); CREATE INDEX event_begin ON event (begin);"


def test_a_table_named_event_with_a_column_begin_splits_on_mariadb(conn: Connection, agent_package) -> None:
    package = agent_package({"V100__calendar": CALENDAR})
    report = run_migrations(conn, registry=registry_of(cal=package))
    assert report.versions[-1] == 100
    assert query(conn, "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'event' AND INDEX_NAME = 'event_begin'")


def test_a_table_named_event_with_a_column_begin_splits_on_postgresql(pg: psycopg.Connection, agent_package) -> None:
    package = agent_package({"V100__calendar": CALENDAR.replace("INT PRIMARY KEY", "int PRIMARY KEY")})
    run_migrations(pg, registry=registry_of(cal=package))
    assert pg.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'event_begin'").fetchall() == [(1,)]


def test_a_mariadb_for_loop_in_a_procedure_body_stays_in_its_statement(conn: Connection, agent_package) -> None:
    package = agent_package(
        {
            "V100__loop": (
                "CREATE TABLE counted (i INT);\n"
                "CREATE PROCEDURE fill() BEGIN FOR i IN 1..3 DO INSERT INTO counted VALUES (i); END FOR; "
                "INSERT INTO counted VALUES (99); END;\n"
                "CALL fill();"
            )
        }
    )
    run_migrations(conn, registry=registry_of(loop=package))
    assert [row[0] for row in query(conn, "SELECT i FROM counted ORDER BY i")] == [1, 2, 3, 99]


def test_a_trigger_whose_body_is_an_if_statement_without_begin(conn: Connection, agent_package) -> None:
    package = agent_package(
        {
            "V100__clamp": (
                "CREATE TABLE amounts (a INT);\n"
                "CREATE TRIGGER clamp BEFORE INSERT ON amounts FOR EACH ROW IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\n"
                "INSERT INTO amounts VALUES (-5);"
            )
        }
    )
    run_migrations(conn, registry=registry_of(clamp=package))
    assert query(conn, "SELECT a FROM amounts") == [(0,)]


# -- a history table refinery created in the server's default character set (latin1) ------------------

from conftest import plugin_for  # noqa: E402

from nocodo_agents.status import migration_status  # noqa: E402

REFINERY_LATIN1 = (
    "CREATE TABLE refinery_schema_history (version INT PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
    "checksum VARCHAR(255){agent}) ENGINE=InnoDB DEFAULT CHARSET=latin1"
)


@pytest.mark.parametrize("agent_column", ["", ", agent VARCHAR(255)"], ids=["made-by-refinery", "agent-added-by-an-earlier-release"])
def test_an_agent_whose_name_latin1_cannot_hold_is_recorded_in_refinerys_latin1_table(
    conn: Connection, agent_package, agent_column: str
) -> None:
    """The agent column is ours: utf8mb4 whatever the table's character set, so a Unicode agent name is recorded."""
    query(conn, REFINERY_LATIN1.format(agent=agent_column))
    package = agent_package({"V100__notes": "CREATE TABLE notes (id INT)"})
    registry = AgentRegistry.from_plugins({"агент": plugin_for(package)})
    assert run_migrations(conn, registry=registry).versions == (1, 2, 3, 100)
    assert [(row[0], row[-1]) for row in history(conn)][-1] == (100, "агент")
    states = {row.version: (row.state, row.agent) for row in migration_status(conn, registry=registry)}
    assert states[100] == ("applied", "агент")
    charsets = query(
        conn,
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'refinery_schema_history' AND COLUMN_NAME IN ('name', 'agent') ORDER BY 1",
    )
    assert [tuple(row) for row in charsets] == [("agent", "utf8mb4"), ("name", "latin1")], "refinery's columns are left alone"
