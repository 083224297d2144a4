"""The caller's connection state and server faults on real PostgreSQL and MariaDB servers.

Whatever the caller set (row factories, cursor classes, read-only, isolation
levels, temporary tables), the runner reads and writes the real history its
own way; a malformed history table, a lost connection or a read-only
session ends in a named error, never a raw driver error.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pymysql
import pytest
from conftest import registry_of
from fleet import assert_each_applied_once, run_fleet

from nocodo_agents import ConnectionStateError, DatabaseAccessError, HistoryTableError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database
from nocodo_agents.status import migration_status

_names = itertools.count()

BAD_HISTORY_TABLES = [
    ("CREATE TABLE refinery_schema_history (version INT PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255))", "lacks the column(s) checksum"),
    (
        "CREATE TABLE refinery_schema_history (version INT PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
        "checksum VARCHAR(255), owner VARCHAR(20) NOT NULL)",
        "without a default that no migration runner fills: owner",
    ),
    ("CREATE VIEW refinery_schema_history AS SELECT 1 AS version, 'x' AS name, 'y' AS applied_on, 'z' AS checksum", "is a view"),
    (
        "CREATE TABLE refinery_schema_history (version INT PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
        "checksum VARCHAR(255), agent VARCHAR(255), CHECK (version > 100))",
        "refused the row of version 1",
    ),
]
BAD_IDS = ["missing-column", "extra-not-null", "view", "check-constraint"]


# -- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg_database(postgres_server) -> str:
    name = f"state_{next(_names)}"
    postgres_server.create_database(name)
    return name


@pytest.fixture
def pg(postgres_server, pg_database) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(postgres_server.dsn(pg_database))
    yield connection
    connection.close()


def _pg_tables(connection: psycopg.Connection) -> set:
    with psycopg.Cursor(connection) as cursor:
        rows = cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
    connection.commit()
    return {r[0] for r in rows}


@pytest.mark.parametrize("row_factory", ["dict_row", "namedtuple_row", "class_row"])
def test_postgresql_row_factories_are_set_aside(pg: psycopg.Connection, row_factory: str) -> None:
    from psycopg import rows

    factory = rows.class_row(dict) if row_factory == "class_row" else getattr(rows, row_factory)  # type: ignore[arg-type]
    pg.row_factory = factory
    assert run_agent_migrations(pg, registry=registry_of()).versions == (1, 2, 3)
    assert [row.state for row in migration_status(pg, registry=registry_of())] == ["applied"] * 3
    assert verify_database(pg, registry=registry_of()).ok
    assert pg.row_factory is factory


@pytest.mark.parametrize("cursor_factory", ["ClientCursor", "RawCursor"])
def test_postgresql_cursor_factories_are_set_aside(pg: psycopg.Connection, cursor_factory: str) -> None:
    pg.cursor_factory = getattr(psycopg, cursor_factory)
    assert run_agent_migrations(pg, registry=registry_of()).versions == (1, 2, 3)
    assert run_agent_migrations(pg, registry=registry_of()).applied == ()


def test_postgresql_read_only_connection_is_honoured(pg: psycopg.Connection) -> None:
    pg.read_only = True
    assert [row.state for row in migration_status(pg, registry=registry_of())] == ["pending"] * 3
    with pytest.raises(DatabaseAccessError, match="read_only = True"):
        run_agent_migrations(pg, registry=registry_of())
    pg.read_only = None
    assert _pg_tables(pg) == set()
    assert pg.autocommit is False


def test_postgresql_temporary_tables_never_stand_in(pg: psycopg.Connection, agent_package) -> None:
    run_agent_migrations(pg, registry=registry_of())
    pg.execute("CREATE TEMP TABLE refinery_schema_history (version INT4, name TEXT, applied_on TEXT, checksum TEXT)")
    pg.commit()
    assert [row.state for row in migration_status(pg, registry=registry_of())] == ["applied"] * 3
    assert run_agent_migrations(pg, registry=registry_of()).applied == ()
    package = agent_package({"V100__notes": "CREATE TABLE notes (id INT);"})
    with pytest.raises(ConnectionStateError, match="temporary relations \\(refinery_schema_history\\)"):
        run_agent_migrations(pg, registry=registry_of(notes=package))
    assert "notes" not in _pg_tables(pg)


def test_postgresql_serializable_default_still_applies_each_migration_once(postgres_server, pg_database, agent_package) -> None:
    """A snapshot taken before waiting for the lock would miss the previous holder's history rows."""
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{pg_database}" SET default_transaction_isolation = \'serializable\'')
    package = agent_package({f"V{v}__iso_{v}": f"CREATE TABLE iso_{v} (id INT);" for v in range(10, 16)})
    dsn = postgres_server.dsn(pg_database)
    outcomes = run_fleet(lambda: psycopg.connect(dsn), package, members=8)
    assert_each_applied_once(outcomes, [1, 2, 3, *range(10, 16)])


@pytest.mark.parametrize("ddl, problem", BAD_HISTORY_TABLES, ids=BAD_IDS)
def test_postgresql_malformed_history_table_is_named(pg: psycopg.Connection, ddl: str, problem: str) -> None:
    pg.execute(ddl.replace("VARCHAR(20)", "TEXT"))
    pg.commit()
    with pytest.raises(HistoryTableError, match=problem.replace("(", "\\(").replace(")", "\\)")):
        run_agent_migrations(pg, registry=registry_of())
    assert not {"agent_sessions", "agent_messages"} & _pg_tables(pg)
    assert pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_postgresql_connection_killed_mid_migration_is_named_and_a_rerun_completes(
    postgres_server, pg_database, pg: psycopg.Connection, agent_package
) -> None:
    package = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT pg_sleep(30);"})
    registry = registry_of(slow=package)
    run_agent_migrations(pg, registry=registry_of())
    victim = pg.info.backend_pid

    def kill() -> None:
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            for _ in range(200):
                if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND query LIKE %s", (victim, "%pg_sleep%")).fetchone()[0]:
                    admin.execute("SELECT pg_terminate_backend(%s)", (victim,))
                    return
                time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(DatabaseAccessError, match="the connection to the server failed") as caught:
        run_agent_migrations(pg, registry=registry)
    killer.join()
    assert "V100__slow" in str(caught.value) and "it is rolled back" in str(caught.value)
    with psycopg.connect(postgres_server.dsn(pg_database)) as check:
        assert "slow" not in _pg_tables(check)
        assert [r[0] for r in check.execute("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3]
    quick = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT pg_sleep(0);"})
    with psycopg.connect(postgres_server.dsn(pg_database)) as again:
        assert run_agent_migrations(again, registry=registry_of(slow=quick)).versions == (100,)


# -- MariaDB -----------------------------------------------------------------------------------------


@pytest.fixture
def maria(mariadb_server) -> Iterator[pymysql.connections.Connection]:
    name = f"state_{uuid.uuid4().hex[:10]}"
    mariadb_server.create_database(name)
    connection = mariadb_server.connect(name)
    yield connection
    connection.close()


def _maria_tables(connection: pymysql.connections.Connection) -> set:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        rows = cursor.fetchall()
    connection.commit()
    return {r[0] for r in rows}


@pytest.mark.parametrize("ddl, problem", BAD_HISTORY_TABLES, ids=BAD_IDS)
def test_mariadb_malformed_history_table_is_named(maria, ddl: str, problem: str) -> None:
    with maria.cursor() as cursor:
        cursor.execute(ddl)
    maria.commit()
    with pytest.raises(HistoryTableError, match=problem.replace("(", "\\(").replace(")", "\\)")) as caught:
        run_agent_migrations(maria, registry=registry_of())
    assert "refinery_schema_history" in str(caught.value)
    if "refused the row" not in problem:  # shape problems are found before anything runs
        assert not {"agent_sessions"} & _maria_tables(maria)


def test_mariadb_connection_killed_mid_migration_is_journalled_and_resolvable(mariadb_server, agent_package) -> None:
    from nocodo_agents import IncompleteMigrationError, MigrationFailedError
    from nocodo_agents.lifecycle import resolve_unfinished

    name = f"state_{uuid.uuid4().hex[:10]}"
    mariadb_server.create_database(name)
    package = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT SLEEP(30);\nCREATE TABLE after_sleep (id INT);"})
    registry = registry_of(slow=package)
    runner = mariadb_server.connect(name)
    run_agent_migrations(runner, registry=registry_of())
    victim = runner.thread_id()

    def kill() -> None:
        admin = mariadb_server.connect()
        try:
            for _ in range(200):
                with admin.cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO LIKE %s", (victim, "%SLEEP%"))
                    if cursor.fetchone()[0]:
                        cursor.execute(f"KILL {int(victim)}")
                        return
                time.sleep(0.05)
        finally:
            admin.close()

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(DatabaseAccessError, match="the connection to the server failed") as caught:
        run_agent_migrations(runner, registry=registry)
    killer.join()
    failed = caught.value.__cause__
    assert isinstance(failed, MigrationFailedError) and failed.journalled and failed.version == 100
    message = str(caught.value)
    assert "V100__slow" in message and "stay applied" in message and "resolve_unfinished(conn, 100, applied=True)" in message
    assert caught.value.unfinished == (100,) and "`nocodo-agents resolve 100 --applied` or `--absent`" in hint_for(caught.value)
    assert "rolled back" not in message and "fix the migration" not in message
    checker = mariadb_server.connect(name)
    try:
        with pytest.raises(IncompleteMigrationError, match="V100__slow"):
            run_agent_migrations(checker, registry=registry)
        assert "slow" in _maria_tables(checker) and "after_sleep" not in _maria_tables(checker)
        with checker.cursor() as cursor:
            cursor.execute("DROP TABLE slow")
        resolve_unfinished(checker, 100, applied=False, registry=registry)
        quick = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT SLEEP(0);\nCREATE TABLE after_sleep (id INT);"})
        assert run_agent_migrations(checker, registry=registry_of(slow=quick)).versions == (100,)
    finally:
        checker.close()


def test_the_longest_lock_timeout_is_accepted_by_both_servers(pg: psycopg.Connection, maria, postgres_server, pg_database) -> None:
    """2**31-1 ms is PostgreSQL's lock_timeout limit: the bound every dialect can express, and waited for."""
    from nocodo_agents.runner import MAX_LOCK_TIMEOUT

    # A held lock with the longest wait: the runner polls the lock in short transactions (no statement
    # carries the wait, so neither an "out of range" error nor the caller's statement_timeout ends it)
    # and gets the lock once the holder lets go.
    holder = psycopg.connect(postgres_server.dsn(pg_database))
    holder.execute("SELECT pg_advisory_lock(hashtext('nocodo_agents.migrations'))")
    pg.execute("SET statement_timeout = '300ms'")
    pg.commit()
    release = threading.Timer(1.0, holder.close)
    release.start()
    try:
        assert run_agent_migrations(pg, registry=registry_of(), lock_timeout=MAX_LOCK_TIMEOUT).versions == (1, 2, 3)
    finally:
        release.join()
    assert run_agent_migrations(maria, registry=registry_of(), lock_timeout=MAX_LOCK_TIMEOUT).versions == (1, 2, 3)


def test_mariadb_non_strict_sql_mode_of_the_caller_cannot_truncate_data(maria, agent_package) -> None:
    """Without a strict sql_mode, narrowing a column truncates its values with only a warning."""
    from nocodo_agents import MigrationFailedError

    run_agent_migrations(maria, registry=registry_of())
    with maria.cursor() as cursor:
        cursor.execute("INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a-long-agent-name', 'p', 'm', 'u', 1)")
        cursor.execute("SET SESSION sql_mode = ''")
    maria.commit()
    package = agent_package({"V100__narrow": "ALTER TABLE agent_sessions MODIFY agent_name VARCHAR(5) NOT NULL;"})
    with pytest.raises(MigrationFailedError, match="Data too long|truncated"):
        run_agent_migrations(maria, registry=registry_of(narrow=package))
    with maria.cursor() as cursor:
        cursor.execute("SELECT agent_name FROM agent_sessions")
        assert cursor.fetchall() == (("a-long-agent-name",),)
        cursor.execute("SELECT @@SESSION.sql_mode, @@SESSION.foreign_key_checks")
        assert cursor.fetchone() == ("", 1)  # the caller's own settings are back
    maria.commit()


@pytest.mark.parametrize(
    "caller_mode",
    ["PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,ANSI", "EMPTY_STRING_IS_NULL", "ORACLE"],
)
def test_mariadb_caller_sql_mode_does_not_change_what_a_migration_writes(maria, agent_package, caller_mode: str) -> None:
    """The same migration stores the same values whatever sql_mode the caller's connection had."""
    run_agent_migrations(maria, registry=registry_of())
    sql = (
        "CREATE TABLE mode_t (id INT PRIMARY KEY, a INT, b INT, s VARCHAR(20), e VARCHAR(5));\n"
        "INSERT INTO mode_t VALUES (1, 0, 1, 'C:\\\\temp', '');\n"
        "UPDATE mode_t SET a = (b || 0);\n"
    )
    with maria.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = %s", (caller_mode,))
        cursor.execute("SELECT @@SESSION.sql_mode")
        before = cursor.fetchone()[0]
    maria.commit()
    run_agent_migrations(maria, registry=registry_of(mode=agent_package({"V100__mode": sql})))
    with maria.cursor() as cursor:
        cursor.execute("SELECT a, s, e IS NULL FROM mode_t")
        assert cursor.fetchone() == (1, "C:\\temp", 0)  # || is OR, \\ an escaped backslash, '' not NULL
        cursor.execute("SELECT @@SESSION.sql_mode")
        assert cursor.fetchone()[0] == before
    maria.commit()


def test_migration_sql_mode_keeps_strictness_and_drops_what_changes_meaning() -> None:
    from nocodo_agents.dialects.mysql import migration_sql_mode

    strict = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
    assert migration_sql_mode(strict) == strict  # MariaDB's default: nothing to change, no statement
    assert migration_sql_mode("") == "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
    assert migration_sql_mode("ANSI_QUOTES,ONLY_FULL_GROUP_BY") == "ONLY_FULL_GROUP_BY,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"


def test_postgresql_standard_conforming_strings_off_does_not_change_what_a_migration_writes(pg: psycopg.Connection, agent_package) -> None:
    run_agent_migrations(pg, registry=registry_of())
    pg.execute("SET standard_conforming_strings = off")
    pg.commit()
    sql = "CREATE TABLE strings_t (s TEXT);\nINSERT INTO strings_t VALUES ('C:\\temp\\n');"
    run_agent_migrations(pg, registry=registry_of(strings=agent_package({"V100__strings": sql})))
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SELECT s FROM strings_t").fetchone() == ("C:\\temp\\n",)  # backslashes kept as written
        assert cursor.execute("SHOW standard_conforming_strings").fetchone() == ("off",)  # the caller's, after the run
    pg.commit()
