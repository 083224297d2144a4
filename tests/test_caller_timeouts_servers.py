"""The caller's timeouts on real PostgreSQL and MariaDB servers: the lock wait and the migrations' own.

The runner's wait for the migration lock is bounded by ``lock_timeout`` alone:
the caller's ``statement_timeout`` (MariaDB ``max_statement_time``) does not
cut it short, and the runner's own bound on that wait never reaches the
migration's statements. These run under the caller's ``lock_timeout`` and
``statement_timeout`` whether the runner had to wait or not (each migration
here records what it ran under). A timeout of the caller's that does cancel a
migration's statement raises :class:`SessionTimeoutError` naming the setting,
its value and the migration.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Callable

import psycopg
import pymysql
import pytest
from conftest import registry_of
from lock_waits import lock_wait_logged

from nocodo_agents import IncompleteMigrationError, LockTimeoutError, SessionTimeoutError
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.runner import run_agent_migrations

PG_LOCK = "hashtext('nocodo_agents.migrations')"


def _release_once_waiting(is_waiting: Callable[[], bool], release: Callable[[], None], linger: float = 0.0) -> threading.Thread:
    """A thread that calls ``release`` once ``is_waiting`` says the runner waits (after ``linger`` seconds more)."""

    def watch() -> None:
        try:
            for _ in range(600):
                if is_waiting():
                    time.sleep(linger)
                    break
                time.sleep(0.02)
        finally:
            release()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


# -- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg_dsn(postgres_server) -> str:
    name = f"timeouts_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    return postgres_server.dsn(name)


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(pg_dsn)
    yield connection
    connection.close()


RECORD_PG = (
    "CREATE TABLE seen_{v} AS SELECT current_setting('lock_timeout') AS lock_timeout, "
    "current_setting('statement_timeout') AS statement_timeout;"
)


def _pg_seen(connection: psycopg.Connection, version: int) -> tuple:
    with psycopg.Cursor(connection) as cursor:
        row = cursor.execute(f"SELECT lock_timeout, statement_timeout FROM seen_{version}").fetchone()
    connection.commit()
    return row


def _pg_waiting(dsn: str, pid: int, logged: threading.Event) -> Callable[[], bool]:
    """Whether the runner waits: for the migration lock (it polls it, and says so in the log) or in a lock wait."""

    def waiting() -> bool:
        if logged.is_set():
            return True
        with psycopg.connect(dsn, autocommit=True) as watcher:
            return bool(watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (pid,)
            ).fetchone()[0])

    return waiting


@pytest.fixture
def lock_wait() -> Iterator[threading.Event]:
    """Set once the runner logs that it waits for another runner's migration lock."""
    with lock_wait_logged() as event:
        yield event


def _pg_holder(dsn: str) -> psycopg.Connection:
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute(f"SELECT pg_advisory_lock({PG_LOCK})")
    return holder


@pytest.mark.parametrize("waited", [False, True], ids=["lock-free", "lock-waited-for"])
def test_postgresql_migrations_run_under_the_callers_timeouts_whether_the_runner_waited_or_not(
    pg: psycopg.Connection, pg_dsn: str, agent_package, waited: bool
, lock_wait: threading.Event) -> None:
    run_agent_migrations(pg, registry=registry_of())  # so the first transaction after the wait applies V100
    pg.execute("SET lock_timeout = '7s'")
    pg.execute("SET statement_timeout = '9s'")
    pg.commit()
    package = agent_package({"V100__seen": RECORD_PG.format(v=100), "V101__seen": RECORD_PG.format(v=101)})
    watcher: threading.Thread | None = None
    if waited:
        holder = _pg_holder(pg_dsn)
        watcher = _release_once_waiting(_pg_waiting(pg_dsn, pg.info.backend_pid, lock_wait), holder.close)
    report = run_agent_migrations(pg, registry=registry_of(seen=package), lock_timeout=30)
    if watcher is not None:
        watcher.join()
    assert report.versions == (100, 101)
    assert _pg_seen(pg, 100) == _pg_seen(pg, 101) == ("7s", "9s")
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')").fetchone() == ("7s", "9s")
    pg.commit()


def test_postgresql_a_migration_on_a_busy_table_waits_as_long_as_the_caller_allows_after_the_runner_waited(
    pg: psycopg.Connection, pg_dsn: str, agent_package
, lock_wait: threading.Event) -> None:
    """The runner's lock_timeout (0.5 s here) once stayed in force and failed the ALTER after half a second."""
    run_agent_migrations(pg, registry=registry_of())
    busy = psycopg.connect(pg_dsn)
    busy.execute("LOCK TABLE agent_sessions IN ACCESS SHARE MODE")  # an open reader of the table
    holder = _pg_holder(pg_dsn)
    waiting = _pg_waiting(pg_dsn, pg.info.backend_pid, lock_wait)
    first = _release_once_waiting(waiting, holder.close)

    def release_table() -> None:
        first.join()
        time.sleep(0.2)  # the runner now holds the lock and goes on to the ALTER
        _release_once_waiting(waiting, busy.rollback, linger=1.0).join()

    releaser = threading.Thread(target=release_table)
    releaser.start()
    package = agent_package({"V100__busy": "ALTER TABLE agent_sessions ADD COLUMN busy_note TEXT;"})
    try:
        report = run_agent_migrations(pg, registry=registry_of(busy=package), lock_timeout=0.5)
    finally:
        releaser.join()
        busy.close()
    assert report.versions == (100,)


def test_postgresql_the_callers_statement_timeout_does_not_cut_the_lock_wait_short(
    pg: psycopg.Connection, pg_dsn: str, agent_package
, lock_wait: threading.Event) -> None:
    run_agent_migrations(pg, registry=registry_of())
    pg.execute("SET statement_timeout = '300ms'")
    pg.commit()
    holder = _pg_holder(pg_dsn)
    watcher = _release_once_waiting(_pg_waiting(pg_dsn, pg.info.backend_pid, lock_wait), holder.close, linger=1.0)
    package = agent_package({"V100__seen": RECORD_PG.format(v=100)})
    try:
        report = run_agent_migrations(pg, registry=registry_of(seen=package), lock_timeout=30)
    finally:
        watcher.join()
    assert report.versions == (100,)
    assert _pg_seen(pg, 100) == ("0", "300ms")


def test_postgresql_the_lock_wait_still_ends_at_lock_timeout_under_a_long_statement_timeout(pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute("SET statement_timeout = '1h'")
    pg.commit()
    holder = _pg_holder(pg_dsn)
    try:
        with pytest.raises(LockTimeoutError, match="within 0.3 s"):
            run_agent_migrations(pg, registry=registry_of(), lock_timeout=0.3)
    finally:
        holder.close()
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')").fetchone() == ("1h", "0")
    pg.commit()


def test_postgresql_a_statement_timeout_cancelling_a_migration_is_named(pg: psycopg.Connection, agent_package) -> None:
    pg.execute("SET statement_timeout = '200ms'")
    pg.commit()
    package = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT pg_sleep(5);"})
    with pytest.raises(SessionTimeoutError) as caught:
        run_agent_migrations(pg, registry=registry_of(slow=package))
    error = caught.value
    assert (error.setting, error.value) == ("statement_timeout", "200ms")
    message = str(error)
    assert "statement_timeout = 200ms" in message and "V100__slow" in message and "statement 2" in message
    assert "it is rolled back" in message
    assert exit_code_for(error) == ExitCode.DATABASE_UNAVAILABLE
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SELECT to_regclass('slow') IS NULL, current_setting('statement_timeout')").fetchone() == (True, "200ms")
    pg.commit()


def test_postgresql_the_callers_lock_timeout_failing_a_migration_is_named(pg: psycopg.Connection, pg_dsn: str, agent_package) -> None:
    run_agent_migrations(pg, registry=registry_of())
    pg.execute("SET lock_timeout = '200ms'")
    pg.commit()
    busy = psycopg.connect(pg_dsn)
    busy.execute("LOCK TABLE agent_sessions IN ACCESS SHARE MODE")
    package = agent_package({"V100__busy": "ALTER TABLE agent_sessions ADD COLUMN busy_note TEXT;"})
    try:
        with pytest.raises(SessionTimeoutError) as caught:
            run_agent_migrations(pg, registry=registry_of(busy=package))
    finally:
        busy.close()
    assert (caught.value.setting, caught.value.value) == ("lock_timeout", "200ms")
    assert "V100__busy" in str(caught.value) and "lock_timeout = 200ms" in str(caught.value)


# -- MariaDB -----------------------------------------------------------------------------------------


@pytest.fixture
def maria_name(mariadb_server) -> str:
    name = f"timeouts_{uuid.uuid4().hex[:10]}"
    mariadb_server.create_database(name)
    return name


@pytest.fixture
def maria(mariadb_server, maria_name: str) -> Iterator[pymysql.connections.Connection]:
    connection = mariadb_server.connect(maria_name)
    yield connection
    connection.close()


RECORD_MARIA = (
    "CREATE TABLE seen_{v} AS SELECT @@SESSION.max_statement_time AS max_statement_time, "
    "@@SESSION.lock_wait_timeout AS lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout AS innodb_lock_wait_timeout;"
)


def _maria_one(connection, sql: str) -> tuple:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    connection.commit()
    return row


def _maria_waiting(server, thread_id: int) -> Callable[[], bool]:
    def waiting() -> bool:
        watcher = server.connect()
        try:
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO LIKE %s", (thread_id, "%GET_LOCK%")
                )
                return bool(cursor.fetchone()[0]) and _maria_lock_wait_started(cursor, thread_id)
        finally:
            watcher.close()

    return waiting


def _maria_lock_wait_started(cursor, thread_id: int) -> bool:
    """The runner's first ``GET_LOCK(name, 0)`` has returned: it now waits in the second."""
    cursor.execute("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", (thread_id,))
    row = cursor.fetchone()
    return row is not None and "lock" in str(row[0]).lower()


def _maria_holder(server, name: str):
    from nocodo_agents.dialects.mysql import migration_lock_name

    holder = server.connect(name)
    with holder.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", (migration_lock_name(name),))
        assert cursor.fetchone()[0] == 1
    return holder


@pytest.mark.parametrize("waited", [False, True], ids=["lock-free", "lock-waited-for"])
def test_mariadb_migrations_run_under_the_callers_timeouts_and_max_statement_time_does_not_cut_the_wait(
    mariadb_server, maria, maria_name: str, agent_package, waited: bool
) -> None:
    run_agent_migrations(maria, registry=registry_of())
    with maria.cursor() as cursor:
        cursor.execute("SET SESSION max_statement_time = 0.3, SESSION lock_wait_timeout = 7, SESSION innodb_lock_wait_timeout = 9")
    maria.commit()
    package = agent_package({"V100__seen": RECORD_MARIA.format(v=100)})
    watcher: threading.Thread | None = None
    if waited:
        holder = _maria_holder(mariadb_server, maria_name)
        watcher = _release_once_waiting(_maria_waiting(mariadb_server, maria.thread_id()), holder.close, linger=1.0)
    try:
        report = run_agent_migrations(maria, registry=registry_of(seen=package), lock_timeout=30)
    finally:
        if watcher is not None:
            watcher.join()
    assert report.versions == (100,)
    assert _maria_one(maria, "SELECT * FROM seen_100") == (0.3, 7, 9)
    assert _maria_one(maria, "SELECT @@SESSION.max_statement_time, @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout") == (0.3, 7, 9)


def test_mariadb_the_lock_wait_still_ends_at_lock_timeout_under_max_statement_time(mariadb_server, maria, maria_name: str) -> None:
    with maria.cursor() as cursor:
        cursor.execute("SET SESSION max_statement_time = 100")
    maria.commit()
    holder = _maria_holder(mariadb_server, maria_name)
    try:
        with pytest.raises(LockTimeoutError, match="within 0.3 s"):
            run_agent_migrations(maria, registry=registry_of(), lock_timeout=0.3)
    finally:
        holder.close()


def test_mariadb_max_statement_time_cancelling_a_migration_is_named(maria, agent_package) -> None:
    with maria.cursor() as cursor:
        cursor.execute("SET SESSION max_statement_time = 0.2")
    maria.commit()
    package = agent_package({"V100__slow": "CREATE TABLE slow (id INT);\nSELECT SLEEP(5) FROM slow RIGHT JOIN (SELECT 1) one ON 1 = 1;"})
    registry = registry_of(slow=package)
    with pytest.raises(SessionTimeoutError) as caught:
        run_agent_migrations(maria, registry=registry)
    error = caught.value
    assert (error.setting, error.value) == ("max_statement_time", "0.2")
    message = str(error)
    assert "max_statement_time = 0.2" in message and "V100__slow" in message and "statement 2" in message
    assert "resolve_unfinished(conn, 100, applied=True)" in message and "rolled back" not in message
    assert error.unfinished == (100,) and "`nocodo-agents resolve 100 --applied` or `--absent`" in hint_for(error)
    with pytest.raises(IncompleteMigrationError):
        run_agent_migrations(maria, registry=registry)
