"""``transactional = False`` migrations under a fleet: runners take turns, and an invalid index is never recorded.

PostgreSQL (directly and through PgBouncer in transaction pooling mode):
a fleet running ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` on a table big
enough that the build takes a moment builds it exactly once, valid, and
records it once, with nobody deadlocked; an index a failed build left
invalid is refused (``InvalidIndexError``), not recorded, and reported by
``verify``. MariaDB: the session-level ``GET_LOCK`` is held across the
migration. SQLite: each statement takes the write lock, so runners never run
a ``VACUUM`` at the same time, and it is recorded once.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cli_support import Cli
from conftest import registry_of
from fleet import assert_each_applied_once, run_fleet
from servers import MariaDBServer, PostgresServer

from nocodo_agents import InvalidIndexError, MigrationFailedError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database

_names = itertools.count()
#: Enough runners to race, few enough for a 2-core machine shared with other suites.
MEMBERS = 8

BIG_TABLE = "CREATE TABLE big (id BIGINT, payload TEXT); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g;"
CONCURRENT_INDEX = (
    "def migration():\n    return 'CREATE INDEX CONCURRENTLY IF NOT EXISTS big_payload ON big (payload);'\n\n"
    "def rollback():\n    return 'DROP INDEX CONCURRENTLY IF EXISTS big_payload;'\n\ntransactional = False\n"
)


def _database(server: Any) -> str:
    name = f"fleet_nt_{next(_names)}"
    server.create_database(name)
    return name


def _pg_rows(dsn: str, sql: str) -> list[Any]:
    with psycopg.connect(dsn) as check:
        return check.execute(sql).fetchall()


@pytest.mark.parametrize("through_pgbouncer", [False, True], ids=["direct", "pgbouncer-transaction-pooling"])
def test_postgresql_fleet_builds_a_concurrent_index_once_and_valid(
    request: pytest.FixtureRequest, postgres_server: PostgresServer, agent_package, through_pgbouncer: bool
) -> None:
    database = _database(postgres_server)
    package = agent_package({"V5__big": BIG_TABLE, "V6__index": CONCURRENT_INDEX})
    port = request.getfixturevalue("pgbouncer").port if through_pgbouncer else postgres_server.port
    dsn = postgres_server.dsn(database, port=port)
    outcomes = run_fleet(lambda: psycopg.connect(dsn), package, members=MEMBERS)
    assert_each_applied_once(outcomes, [1, 2, 3, 5, 6])  # nobody died (deadlock, lock timeout), nobody ran V6 twice
    direct = postgres_server.dsn(database)
    assert _pg_rows(direct, "SELECT c.relname, x.indisvalid, x.indisready FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = 'big_payload'") == [
        ("big_payload", True, True)
    ]
    assert _pg_rows(direct, "SELECT version FROM refinery_schema_history WHERE version = 6") == [(6,)]
    with psycopg.connect(direct) as conn:
        assert verify_database(conn, registry=registry_of(fleet=package)).ok


def test_a_runner_waiting_for_the_lock_does_not_hold_up_a_concurrent_index_build(
    postgres_server: PostgresServer, agent_package
) -> None:
    """The waiter polls in short transactions: a CONCURRENTLY build ends while the lock is still held.

    A waiter blocked in ``pg_advisory_xact_lock`` would hold a snapshot the
    build waits for, until the holder (waiting for the build) let go: the
    build would run into its ``statement_timeout`` instead.
    """
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute(BIG_TABLE)
    holder = psycopg.connect(dsn)
    holder.execute("SELECT pg_advisory_xact_lock(hashtext('nocodo_agents.migrations'))")
    waiting = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting up to" in record.getMessage():
                waiting.set()

    watch = Watch()
    logging.getLogger("nocodo_agents").addHandler(watch)
    outcome: list[Any] = []

    def wait_and_migrate() -> None:
        with psycopg.connect(dsn) as conn:
            try:
                outcome.append(run_agent_migrations(conn, registry=registry_of(), lock_timeout=60).versions)
            except Exception as error:  # reported by the assertion below
                outcome.append(error)

    waiter = threading.Thread(target=wait_and_migrate)
    previous_level = logging.getLogger("nocodo_agents").level
    logging.getLogger("nocodo_agents").setLevel(logging.INFO)
    try:
        waiter.start()
        assert waiting.wait(30)
        with psycopg.connect(dsn, autocommit=True) as builder:
            builder.execute("SET statement_timeout = '20s'")
            builder.execute("CREATE INDEX CONCURRENTLY big_payload ON big (payload)")  # would time out if it waited for the waiter
        assert _pg_rows(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_payload'::regclass") == [(True,)]
        assert outcome == [], "the waiter got the lock while it was held"
    finally:
        holder.rollback()
        holder.close()
        waiter.join(60)
        logging.getLogger("nocodo_agents").removeHandler(watch)
        logging.getLogger("nocodo_agents").setLevel(previous_level)
    assert outcome == [(1, 2, 3)]


def test_postgresql_fleet_rolls_back_a_concurrent_index_once(postgres_server: PostgresServer, agent_package) -> None:
    database = _database(postgres_server)
    package = agent_package({"V5__big": BIG_TABLE, "V6__index": CONCURRENT_INDEX})
    dsn = postgres_server.dsn(database)
    with psycopg.connect(dsn) as conn:
        run_agent_migrations(conn, registry=registry_of(fleet=package))
    outcomes = run_fleet(lambda: psycopg.connect(dsn), package, members=4, rollback_to=5)
    assert [detail for status, detail in outcomes if status != "ok"] == []
    assert sorted(v for _, versions in outcomes for v in versions) == [6], "exactly one runner rolled V6 back"
    assert _pg_rows(dsn, "SELECT count(*) FROM pg_class WHERE relname = 'big_payload'") == [(0,)]
    assert _pg_rows(dsn, "SELECT max(version) FROM refinery_schema_history") == [(5,)]


@pytest.fixture
def duplicates(postgres_server: PostgresServer, agent_package) -> Any:
    """A database whose V6, a CONCURRENTLY unique index over duplicate rows, failed once and left the index invalid."""
    database = _database(postgres_server)
    package = agent_package({
        "V5__dupes": "CREATE TABLE dupes (x INT); INSERT INTO dupes SELECT g % 1000 FROM generate_series(1, 5000) g;",
        "V6__unique": "def migration():\n    return 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dupes_x ON dupes (x);'\n\ntransactional = False\n",
    })
    dsn = postgres_server.dsn(database)
    conn = psycopg.connect(dsn)
    with pytest.raises(MigrationFailedError) as failed:
        run_agent_migrations(conn, registry=registry_of(dup=package))
    yield conn, package, dsn, failed.value
    conn.close()


def test_a_failed_concurrent_build_names_the_invalid_index_it_left(duplicates) -> None:
    conn, package, dsn, failed = duplicates
    assert isinstance(failed, InvalidIndexError), failed
    assert failed.indexes == ("public.dupes_x",) and failed.version == 6 and failed.agent == "dup"
    message = str(failed)
    assert "could not create unique index" in message  # the build's own failure
    assert "DROP INDEX CONCURRENTLY public.dupes_x;" in message and "V6__unique" in message and "not recorded" in message
    assert "rolled back" not in message
    assert _pg_rows(dsn, "SELECT max(version) FROM refinery_schema_history") == [(5,)]


def test_an_invalid_index_skipped_by_if_not_exists_is_refused_and_not_recorded(duplicates) -> None:
    conn, package, dsn, _ = duplicates
    with pytest.raises(InvalidIndexError) as refused:  # IF NOT EXISTS skips the half-built index: the run succeeds, but
        run_agent_migrations(conn, registry=registry_of(dup=package))
    error = refused.value
    assert error.indexes == ("public.dupes_x",) and error.version == 6 and error.distribution == "(registered in-process)"
    assert "V6__unique" in str(error) and "DROP INDEX CONCURRENTLY public.dupes_x;" in str(error)
    assert _pg_rows(dsn, "SELECT max(version) FROM refinery_schema_history") == [(5,)]
    assert conn.info.transaction_status.name == "IDLE"
    # the way out the message gives: drop it, fix the data, migrate again
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("DROP INDEX CONCURRENTLY public.dupes_x")
        admin.execute("DELETE FROM dupes WHERE ctid NOT IN (SELECT min(ctid) FROM dupes GROUP BY x)")
    assert run_agent_migrations(conn, registry=registry_of(dup=package)).versions == (6,)
    assert _pg_rows(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.dupes_x'::regclass") == [(True,)]


def test_verify_reports_an_invalid_index(duplicates) -> None:
    conn, package, dsn, _ = duplicates
    report = verify_database(conn, registry=registry_of(dup=package))
    assert report.invalid_indexes == ("public.dupes_x",)
    assert not report.ok


def test_verify_command_reports_an_invalid_index(tmp_path: Path, postgres_server: PostgresServer) -> None:
    database = _database(postgres_server)
    (tmp_path / "site").mkdir()
    cli = Cli(tmp_path, tmp_path / "site")
    url = postgres_server.url(database)
    assert cli("migrate", "--db", url).code == 0
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as admin:
        admin.execute("CREATE TABLE app_pairs (x INT); INSERT INTO app_pairs VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            admin.execute("CREATE UNIQUE INDEX CONCURRENTLY app_pairs_x ON app_pairs (x)")
    as_json = cli("verify", "--json", "--db", url)
    assert as_json.code == 4, as_json.text
    report = json.loads(as_json.out)
    assert report["ok"] is False and report["invalid_indexes"] == ["public.app_pairs_x"]
    as_text = cli("verify", "--db", url)
    assert as_text.code == 4
    assert "public.app_pairs_x" in as_text.out and "DROP INDEX CONCURRENTLY public.app_pairs_x;" in as_text.out


def test_mariadb_fleet_takes_turns_on_a_non_transactional_migration(mariadb_server: MariaDBServer, agent_package) -> None:
    import pymysql

    database = _database(mariadb_server)
    package = agent_package({
        "V5__counter": "CREATE TABLE counter (n INT); INSERT INTO counter VALUES (0);",
        # not idempotent: run twice, the counter says 2
        "V6__bump": "def migration():\n    return 'UPDATE counter SET n = n + 1; CREATE INDEX counter_n ON counter (n);'\n\ntransactional = False\n",
    })

    def connect() -> Any:
        return pymysql.connect(host=mariadb_server.host, port=mariadb_server.port, user=mariadb_server.user, password="", database=database)

    outcomes = run_fleet(connect, package, members=MEMBERS)
    assert_each_applied_once(outcomes, [1, 2, 3, 5, 6])
    check = connect()
    try:
        with check.cursor() as cursor:
            cursor.execute("SELECT n FROM counter")
            assert cursor.fetchall() == ((1,),)
            cursor.execute("SELECT count(*) FROM refinery_schema_history WHERE version = 6")
            assert cursor.fetchall() == ((1,),)
    finally:
        check.close()


def test_sqlite_fleet_vacuums_once_recorded(tmp_path: Path, agent_package) -> None:
    path = tmp_path / "fleet.sqlite"
    package = agent_package({
        "V5__table": "CREATE TABLE notes (body TEXT);",
        "V6__compact": "def migration():\n    return 'VACUUM;'\n\ntransactional = False\n",
    })
    outcomes = run_fleet(lambda: sqlite3.connect(path), package, members=MEMBERS)
    assert [detail for status, detail in outcomes if status != "ok"] == []
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM refinery_schema_history WHERE version = 6").fetchone() == (1,)
