"""Faults of the server or the disk during a run: a named error, a database before or after, and a rerun.

The PostgreSQL and MariaDB servers are stopped (fast shutdown / SIGTERM) or
killed (SIGKILL) while a migration sleeps in its second statement, through
the library and through the real console script; a read-only database or
server refuses the run; SQLite runs out of room (``PRAGMA max_page_count``,
SQLite's own "database or disk is full" path) and PostgreSQL out of temporary
file space (``temp_file_limit``). Each ends in a named error that says what
happened (never that the migration's SQL is wrong, never a rollback that did
not happen), leaves the database as it was before the migration (on MariaDB:
or a journal entry that ``resolve`` settles), and a rerun completes.

These tests stop and restart servers, so they use private servers of their
own (module-scoped), not the session-wide fixtures.
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import migration_module, registry_of
from servers import MariaDBServer, PostgresServer

from nocodo_agents import DatabaseAccessError, IncompleteMigrationError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.lifecycle import resolve_unfinished
from nocodo_agents.runner import run_agent_migrations

_names = itertools.count()

PG_SLOW = "CREATE TABLE slow (id INT);\nSELECT pg_sleep(30);\nCREATE TABLE after_sleep (id INT);"
MY_SLOW = "CREATE TABLE slow (id INT);\nSELECT SLEEP(30);\nCREATE TABLE after_sleep (id INT);"
#: How each server is stopped mid-migration: its graceful fast shutdown, or SIGKILL of the server process.
STOPS = {"shutdown": None, "sigkill": signal.SIGKILL}
#: What would blame the migration's SQL for a fault of the server or the disk.
BLAMES_THE_SQL = "fix the migration"


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_mariadb() -> Iterator[MariaDBServer]:
    # Commits durable at once (the shared test servers trade that for speed): what the journal committed before a
    # SIGKILL must be there afterwards, as on a production server.
    server = MariaDBServer(options=["--innodb-flush-log-at-trx-commit=1"])
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pg_server(own_postgres: PostgresServer) -> PostgresServer:
    """The module's PostgreSQL server, started again if an earlier test left it stopped."""
    if own_postgres.process is None or own_postgres.process.poll() is not None:
        own_postgres.restart()
    return own_postgres


@pytest.fixture
def my_server(own_mariadb: MariaDBServer) -> MariaDBServer:
    """The module's MariaDB server, started again if an earlier test left it stopped."""
    if own_mariadb.process is None or own_mariadb.process.poll() is not None:
        own_mariadb.restart()
    return own_mariadb


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "site").mkdir()
    return Cli(tmp_path, tmp_path / "site")


def _install_slow_agent(cli: Cli, sql: str) -> Path:
    """The agent ``slow`` (distribution ``slow-agent``) with V100__slow; returns its module file."""
    write_agent_distribution(cli.site, "slow-agent", "slow", "slow_agent", {"V100__slow": sql_module(sql)})
    return cli.site / "slow_agent" / "migrations" / "V100__slow.py"


def _when(is_sleeping: Callable[[], bool], act: Callable[[], None]) -> Callable[[], bool]:
    """In a thread: once ``is_sleeping()`` (polled), ``act()``. Returns a join() that says whether it acted."""
    acted: list[bool] = []

    def watch() -> None:
        for _ in range(600):
            if is_sleeping():
                act()
                acted.append(True)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch)
    thread.start()

    def join() -> bool:
        thread.join()
        return bool(acted)

    return join


def _signal(server: Any, stop: str) -> Callable[[], None]:
    """Stops ``server`` the way ``stop`` names: its graceful shutdown signal, or SIGKILL."""
    graceful = signal.SIGINT if isinstance(server, PostgresServer) else signal.SIGTERM  # PostgreSQL's fast shutdown
    return lambda: server.process.send_signal(STOPS[stop] or graceful)


def _assert_names_the_fault(message: str) -> None:
    assert "Traceback" not in message
    assert BLAMES_THE_SQL not in message.lower(), message


# -- PostgreSQL: the server stops while a migration sleeps ---------------------------------------------


def _pg_database(server: PostgresServer) -> str:
    name = f"faults_{next(_names)}"
    server.create_database(name)
    return name


def _pg_sleeping(server: PostgresServer) -> Callable[[], bool]:
    def check() -> bool:
        with psycopg.connect(server.dsn("postgres"), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'"
            ).fetchone()
        return bool(row and row[0])

    return check


def _pg_state(server: PostgresServer, database: str) -> tuple:
    """(tables of public, applied versions)."""
    with psycopg.connect(server.dsn(database)) as connection:
        tables = {r[0] for r in connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        versions = [r[0] for r in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")]
    return tables, versions


def _pg_tables_and_history(server: PostgresServer, database: str) -> tuple:
    """(tables of public, applied versions), with no versions where there is no history table."""
    with psycopg.connect(server.dsn(database)) as connection:
        tables = {r[0] for r in connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    return tables, (_pg_state(server, database)[1] if "refinery_schema_history" in tables else [])


@pytest.mark.parametrize("stop", list(STOPS))
def test_postgresql_server_stopped_mid_migration(pg_server: PostgresServer, agent_package, stop: str) -> None:
    database = _pg_database(pg_server)
    connection = psycopg.connect(pg_server.dsn(database))
    assert run_agent_migrations(connection, registry=registry_of()).versions == (1, 2, 3)
    join = _when(_pg_sleeping(pg_server), _signal(pg_server, stop))
    with pytest.raises(DatabaseAccessError, match="the connection to the server failed") as caught:
        run_agent_migrations(connection, registry=registry_of(slow=agent_package({"V100__slow": PG_SLOW})))
    assert join(), "the server was never stopped"
    message = str(caught.value)
    _assert_names_the_fault(message)
    assert "V100__slow" in message and "'slow'" in message and "statement 2" in message
    assert "rolled back" in message
    pg_server.restart()
    tables, versions = _pg_state(pg_server, database)
    assert versions == [1, 2, 3] and not {"slow", "after_sleep"} & tables
    quick = agent_package({"V100__slow": PG_SLOW.replace("pg_sleep(30)", "pg_sleep(0)")})
    with psycopg.connect(pg_server.dsn(database)) as again:
        assert run_agent_migrations(again, registry=registry_of(slow=quick)).versions == (100,)
    tables, versions = _pg_state(pg_server, database)
    assert versions == [1, 2, 3, 100] and {"slow", "after_sleep"} <= tables


@pytest.mark.parametrize("stop", list(STOPS))
def test_postgresql_server_stopped_mid_migration_by_console_script(pg_server: PostgresServer, cli: Cli, stop: str) -> None:
    database = _pg_database(pg_server)
    url = pg_server.url(database)
    module = _install_slow_agent(cli, PG_SLOW)
    assert cli("migrate", "--agent", "requirements_qna", "--db", url).code == 0
    join = _when(_pg_sleeping(pg_server), _signal(pg_server, stop))
    failed = cli("migrate", "--db", url)
    assert join(), "the server was never stopped"
    assert failed.code == 6, failed.text
    _assert_names_the_fault(failed.text)
    assert "the connection to the server failed" in failed.err and "V100__slow" in failed.err
    pg_server.restart()
    tables, versions = _pg_state(pg_server, database)
    assert versions == [1, 2, 3, 4] and not {"slow", "after_sleep"} & tables
    module.write_text(sql_module(PG_SLOW.replace("pg_sleep(30)", "pg_sleep(0)")))
    rerun = cli("migrate", "--db", url)
    assert rerun.code == 0, rerun.text
    assert _pg_state(pg_server, database)[1] == [1, 2, 3, 4, 100]


def test_postgresql_connection_lost_in_a_non_transactional_migration_claims_no_rollback(pg_server: PostgresServer, agent_package) -> None:
    """``transactional = False``: the statements before the lost one stay, and the error says so."""
    database = _pg_database(pg_server)
    sql = "CREATE TABLE IF NOT EXISTS outside_a (id INT);\nSELECT pg_sleep(30);\nCREATE TABLE IF NOT EXISTS outside_b (id INT);"
    package = agent_package({"V100__outside": migration_module(sql, transactional=False)})
    connection = psycopg.connect(pg_server.dsn(database))
    assert run_agent_migrations(connection, registry=registry_of()).versions == (1, 2, 3)
    victim = connection.info.backend_pid

    def terminate() -> None:
        with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (victim,))

    join = _when(_pg_sleeping(pg_server), terminate)
    with pytest.raises(DatabaseAccessError, match="the connection to the server failed") as caught:
        run_agent_migrations(connection, registry=registry_of(outside=package))
    assert join(), "the connection was never terminated"
    message = str(caught.value)
    _assert_names_the_fault(message)
    assert "V100__outside" in message and "transactional = False" in message and "stay applied" in message
    assert "rolled back" not in message
    tables, versions = _pg_state(pg_server, database)
    assert versions == [1, 2, 3] and "outside_a" in tables and "outside_b" not in tables
    quick = agent_package({"V100__outside": migration_module(sql.replace("pg_sleep(30)", "pg_sleep(0)"), transactional=False)})
    with psycopg.connect(pg_server.dsn(database)) as again:
        assert run_agent_migrations(again, registry=registry_of(outside=quick)).versions == (100,)
    assert {"outside_a", "outside_b"} <= _pg_state(pg_server, database)[0]


# -- MariaDB: the server stops while a migration sleeps ------------------------------------------------


def _my_database(server: MariaDBServer) -> str:
    name = f"faults_{next(_names)}"
    server.create_database(name)
    return name


def _my_sleeping(server: MariaDBServer) -> Callable[[], bool]:
    def check() -> bool:
        admin = server.connect()
        try:
            with admin.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%%' AND ID <> CONNECTION_ID()"
                )
                return bool(cursor.fetchone()[0])
        finally:
            admin.close()

    return check


def _my_state(server: MariaDBServer, database: str) -> tuple:
    """(tables, applied versions)."""
    connection = server.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
            tables = {r[0] for r in cursor.fetchall()}
            cursor.execute("SELECT version FROM refinery_schema_history ORDER BY version")
            versions = [r[0] for r in cursor.fetchall()]
    finally:
        connection.close()
    return tables, versions


def _drop_table(server: MariaDBServer, database: str, table: str) -> None:
    connection = server.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
    finally:
        connection.close()


@pytest.mark.parametrize("stop", list(STOPS))
def test_mariadb_server_stopped_mid_migration(my_server: MariaDBServer, agent_package, stop: str) -> None:
    database = _my_database(my_server)
    registry = registry_of(slow=agent_package({"V100__slow": MY_SLOW}))
    connection = my_server.connect(database)
    assert run_agent_migrations(connection, registry=registry_of()).versions == (1, 2, 3)
    join = _when(_my_sleeping(my_server), _signal(my_server, stop))
    with pytest.raises(DatabaseAccessError, match="the connection to the server failed") as caught:
        run_agent_migrations(connection, registry=registry)
    assert join(), "the server was never stopped"
    message = str(caught.value)
    _assert_names_the_fault(message)
    assert "V100__slow" in message and "statement 2" in message and "resolve_unfinished(conn, 100, applied=True)" in message
    assert caught.value.unfinished == (100,) and "`nocodo-agents resolve 100 --applied` or `--absent`" in hint_for(caught.value)
    assert "rolled back" not in message
    my_server.restart()
    checker = my_server.connect(database)
    try:
        with pytest.raises(IncompleteMigrationError, match="V100__slow") as refused:
            run_agent_migrations(checker, registry=registry)
        assert refused.value.failed_index == 1, "the journal says statement 2 was running"
        tables, versions = _my_state(my_server, database)
        assert versions == [1, 2, 3] and "slow" in tables and "after_sleep" not in tables
        _drop_table(my_server, database, "slow")  # the operator brings the schema back to before V100...
        resolve_unfinished(checker, 100, applied=False, registry=registry)  # ...and says so
        quick = agent_package({"V100__slow": MY_SLOW.replace("SLEEP(30)", "SLEEP(0)")})
        assert run_agent_migrations(checker, registry=registry_of(slow=quick)).versions == (100,)
    finally:
        checker.close()
    tables, versions = _my_state(my_server, database)
    assert versions == [1, 2, 3, 100] and {"slow", "after_sleep"} <= tables


@pytest.mark.parametrize("stop", list(STOPS))
def test_mariadb_server_stopped_mid_migration_by_console_script(my_server: MariaDBServer, cli: Cli, stop: str) -> None:
    database = _my_database(my_server)
    url = my_server.url(database)
    module = _install_slow_agent(cli, MY_SLOW)
    assert cli("migrate", "--agent", "requirements_qna", "--db", url).code == 0
    join = _when(_my_sleeping(my_server), _signal(my_server, stop))
    failed = cli("migrate", "--db", url)
    assert join(), "the server was never stopped"
    assert failed.code == 6, failed.text
    _assert_names_the_fault(failed.text)
    assert "the connection to the server failed" in failed.err and "V100__slow" in failed.err
    my_server.restart()
    refused = cli("migrate", "--db", url)
    assert refused.code == 5 and "V100__slow" in refused.err and "stopped part-way on an earlier run: statement 2 of 3" in refused.err
    _drop_table(my_server, database, "slow")
    resolved = cli("resolve", "100", "--absent", "--db", url)
    assert resolved.code == 0, resolved.text
    module.write_text(sql_module(MY_SLOW.replace("SLEEP(30)", "SLEEP(0)")))
    rerun = cli("migrate", "--db", url)
    assert rerun.code == 0, rerun.text
    assert _my_state(my_server, database)[1] == [1, 2, 3, 4, 100]


# -- read-only database / server -----------------------------------------------------------------------


@pytest.mark.parametrize("history", ["fresh", "migrated"])
def test_postgresql_read_only_database_exits_6_and_changes_nothing(pg_server: PostgresServer, cli: Cli, history: str) -> None:
    database = _pg_database(pg_server)
    url = pg_server.url(database)
    _install_slow_agent(cli, "CREATE TABLE ro_table (id INT);")
    if history == "migrated":
        assert cli("migrate", "--agent", "core", "--db", url).code == 0
    before = _pg_tables_and_history(pg_server, database)
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    failed = cli("migrate", "--db", url)
    assert failed.code == 6, failed.text
    _assert_names_the_fault(failed.text)
    assert "read-only" in failed.err and "nothing was changed" in failed.err
    assert _pg_tables_and_history(pg_server, database) == before
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
    rerun = cli("migrate", "--db", url)
    assert rerun.code == 0, rerun.text
    assert _pg_state(pg_server, database)[1] == [1, 2, 3, 4, 100]


@pytest.fixture
def mariadb_read_only(my_server: MariaDBServer) -> Iterator[Callable[[bool], None]]:
    """Switches the server's ``read_only`` on and off; always off afterwards."""

    def switch(on: bool) -> None:
        admin = my_server.connect()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"SET GLOBAL read_only = {1 if on else 0}")
        finally:
            admin.close()

    yield switch
    switch(False)


@pytest.mark.parametrize("history", ["fresh", "migrated"])
def test_mariadb_read_only_server_exits_6_and_changes_nothing(
    my_server: MariaDBServer, mariadb_read_only: Callable[[bool], None], cli: Cli, history: str
) -> None:
    database = _my_database(my_server)
    user = f"app_{database}"
    admin = my_server.connect()
    try:
        with admin.cursor() as cursor:  # everything on its database, nothing global (no SUPER, no READ ONLY ADMIN)
            cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'app-pw'")
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%'")
    finally:
        admin.close()
    url = f"mysql://{user}:app-pw@{my_server.host}:{my_server.port}/{database}"
    _install_slow_agent(cli, "CREATE TABLE ro_table (id INT);")
    if history == "migrated":
        assert cli("migrate", "--agent", "core", "--db", url).code == 0
    before = _my_state(my_server, database) if history == "migrated" else (set(), [])
    mariadb_read_only(True)
    failed = cli("migrate", "--db", url)
    assert failed.code == 6, failed.text
    _assert_names_the_fault(failed.text)
    assert "read-only" in failed.err and "app-pw" not in failed.text
    connection = my_server.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
            tables = {r[0] for r in cursor.fetchall()}
    finally:
        connection.close()
    assert tables == before[0]
    if history == "migrated":
        assert _my_state(my_server, database) == before
    mariadb_read_only(False)
    rerun = cli("migrate", "--db", url)
    assert rerun.code == 0, rerun.text
    assert _my_state(my_server, database)[1] == [1, 2, 3, 4, 100]


# -- disk full -----------------------------------------------------------------------------------------

#: Inserts about 2.5 MB: more than a database of a few pages may grow.
FILLS_THE_DISK = (
    "CREATE TABLE filler (id INTEGER PRIMARY KEY, payload TEXT);\n"
    "INSERT INTO filler (payload) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) "
    "SELECT hex(randomblob(250)) FROM n;"
)


def _sqlite_state(connection: sqlite3.Connection) -> tuple:
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    versions = [r[0] for r in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")] if "refinery_schema_history" in tables else []
    return tables, versions


def test_sqlite_disk_full_mid_migration_is_named_and_a_rerun_completes(db_path: Path, agent_package) -> None:
    registry = registry_of(fill=agent_package({"V100__fill": FILLS_THE_DISK}))
    connection = sqlite3.connect(db_path)
    try:
        run_agent_migrations(connection, registry=registry_of())
        before = _sqlite_state(connection)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 20}")
        with pytest.raises(DatabaseAccessError, match="database or disk is full") as caught:
            run_agent_migrations(connection, registry=registry)
        message = str(caught.value)
        _assert_names_the_fault(message)
        assert "V100__fill" in message and "statement 2" in message and "rolled back" in message
        assert _sqlite_state(connection) == before
        assert not connection.in_transaction
        connection.execute("PRAGMA max_page_count = 1073741823")
        assert run_agent_migrations(connection, registry=registry).versions == (100,)
        assert connection.execute("SELECT count(*) FROM filler").fetchone()[0] == 5000
    finally:
        connection.close()


def test_sqlite_disk_full_before_the_history_table_is_named(db_path: Path) -> None:
    connection = sqlite3.connect(db_path)
    try:
        connection.execute("PRAGMA max_page_count = 1")
        with pytest.raises(DatabaseAccessError, match="database or disk is full") as caught:
            run_agent_migrations(connection, registry=registry_of())
        _assert_names_the_fault(str(caught.value))
        assert _sqlite_state(connection) == (set(), [])
        connection.execute("PRAGMA max_page_count = 1073741823")
        assert run_agent_migrations(connection, registry=registry_of()).versions == (1, 2, 3)
    finally:
        connection.close()


def test_postgresql_temp_file_limit_mid_migration_is_named_and_a_rerun_completes(pg_server: PostgresServer, agent_package) -> None:
    """``temp_file_limit`` stands in for a full disk: PostgreSQL refuses to spill a sort past it (SQLSTATE 53400)."""
    database = _pg_database(pg_server)
    sorts = "CREATE TABLE sorted (g INT);\nINSERT INTO sorted SELECT g FROM generate_series(1, 300000) g ORDER BY random();"
    registry = registry_of(sort=agent_package({"V100__sort": sorts}))
    with psycopg.connect(pg_server.dsn(database)) as connection:
        run_agent_migrations(connection, registry=registry_of())
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{database}\" SET temp_file_limit = '64kB'")
        admin.execute(f"ALTER DATABASE \"{database}\" SET work_mem = '64kB'")
    with psycopg.connect(pg_server.dsn(database)) as connection:
        with pytest.raises(DatabaseAccessError, match="temp_file_limit") as caught:
            run_agent_migrations(connection, registry=registry)
    message = str(caught.value)
    _assert_names_the_fault(message)
    assert "V100__sort" in message and "statement 2" in message and "rolled back" in message
    tables, versions = _pg_state(pg_server, database)
    assert versions == [1, 2, 3] and "sorted" not in tables
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" RESET temp_file_limit')
    with psycopg.connect(pg_server.dsn(database)) as connection:
        assert run_agent_migrations(connection, registry=registry).versions == (100,)
