"""Hostile tests of issue 9 point 1: ``transactional = False`` migrations under a fleet on PostgreSQL.

What broke after the first fix: a runner killed during ``CREATE INDEX
CONCURRENTLY`` loses its guard (and the lock) at once while its server
process goes on building, so the next runner ran its own build on the same
table and died with ``deadlock detected``; behind PgBouncer with a pool of one
server connection the guard kept the only one, the migration queued behind it
until ``query_wait_timeout`` and the error blamed an unreachable server.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from conftest import registry_of
from servers import PgBouncer, PostgresServer

from nocodo_agents import DatabaseAccessError, InvalidIndexError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import rollback_migrations, verify_database

_names = itertools.count()

BIG_TABLE = "CREATE TABLE big (id BIGINT, payload TEXT); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;"
CONCURRENT_INDEX = (
    "def migration():\n    return 'CREATE INDEX CONCURRENTLY IF NOT EXISTS big_payload ON big (payload);'\n\n"
    "def rollback():\n    return 'DROP INDEX CONCURRENTLY IF EXISTS big_payload;'\n\ntransactional = False\n"
)


def _database(server: PostgresServer) -> str:
    name = f"hostile_fleet_{next(_names)}"
    server.create_database(name)
    return name


def _rows(dsn: str, sql: str) -> list[Any]:
    with psycopg.connect(dsn) as check:
        return check.execute(sql).fetchall()


class _LogWatch(logging.Handler):
    """Sets ``seen`` once a ``nocodo_agents`` record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def watch_log() -> Iterator[Any]:
    logger = logging.getLogger("nocodo_agents")
    previous = logger.level
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = []

    def watch(text: str) -> _LogWatch:
        handler = _LogWatch(text)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield watch
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(previous)


def _migrate_then_exit(dsn: str, package: str) -> None:
    with psycopg.connect(dsn) as conn:
        run_agent_migrations(conn, registry=registry_of(fleet=package))
    os._exit(0)


def test_a_runner_killed_mid_build_leaves_a_build_the_next_runner_waits_for(
    postgres_server: PostgresServer, agent_package, watch_log
) -> None:
    """SIGKILL during the build: the guard dies with the runner, its server process builds on; the next waits for it.

    An open transaction that wrote to the table keeps the killed runner's
    build in its first phase (waiting for writers) until the next runner
    either says it waits for that build or queues for the table behind it;
    then the writer commits and the orphaned build goes on. Without the wait,
    the next runner's own ``CREATE INDEX CONCURRENTLY`` queued for the table
    (holding a snapshot) while the orphan went on to wait for that snapshot:
    ``deadlock detected``, and one of the two builds died (the next runner's
    migration failed, or the orphan's index was left invalid).
    """
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    package = agent_package({"V5__big": BIG_TABLE, "V6__index": CONCURRENT_INDEX})
    with psycopg.connect(dsn) as conn:
        run_agent_migrations(conn, registry=registry_of(fleet=package), target=5)
    writer = psycopg.connect(dsn)
    writer.execute("INSERT INTO big VALUES (0, 'written while the build starts')")
    monitor = psycopg.connect(dsn, autocommit=True)
    killed = multiprocessing.get_context("fork").Process(target=_migrate_then_exit, args=(dsn, package))
    killed.start()
    next_runner: list[Any] = []
    waiting = watch_log("index build(s) of server process(es)")
    try:
        while monitor.execute(
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE phase = 'waiting for writers before build'"
        ).fetchone() == (0,):
            assert killed.is_alive(), "the runner ended before its build waited for the writer"
            time.sleep(0.02)
        os.kill(killed.pid, signal.SIGKILL)
        killed.join(30)
        # the guard's server process ends once it sees the killed client's socket closed: soon, not at once
        for _ in range(500):
            if monitor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,):
                break
            time.sleep(0.02)
        assert monitor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)

        def migrate() -> None:
            with psycopg.connect(dsn) as conn:
                try:
                    next_runner.append(run_agent_migrations(conn, registry=registry_of(fleet=package), lock_timeout=60).versions)
                except Exception as error:  # reported by the assertions below
                    next_runner.append(error)

        thread = threading.Thread(target=migrate)
        thread.start()
        # the next runner has reached the killed runner's build: it waits for it, or queues for the table behind it
        for _ in range(1000):
            if waiting.seen.is_set() or monitor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'big'::regclass"
            ).fetchone() != (0,):
                break
            time.sleep(0.02)
        writer.commit()  # the orphaned build goes on now
        thread.join(60)
    finally:
        writer.close()
        monitor.close()
        if killed.is_alive():
            killed.kill()
    assert next_runner == [(6,)]
    assert _rows(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_payload'::regclass") == [(True,)]
    assert _rows(dsn, "SELECT count(*) FROM refinery_schema_history WHERE version = 6") == [(1,)]


@pytest.fixture(scope="module")
def pool_of_one(postgres_server: PostgresServer) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode giving each database and user a single server connection."""
    bouncer = PgBouncer(postgres_server, pool_size=1, query_wait_timeout=2)
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()


def test_a_pool_of_one_server_connection_is_named_not_blamed_on_the_server(
    postgres_server: PostgresServer, pool_of_one: PgBouncer, agent_package
) -> None:
    """The guard's idle transaction keeps the pool's only server connection: the error says so, and what to change."""
    database = _database(postgres_server)
    package = agent_package({"V5__big": BIG_TABLE, "V6__index": CONCURRENT_INDEX})
    with psycopg.connect(postgres_server.dsn(database, port=pool_of_one.port)) as conn:
        with pytest.raises(DatabaseAccessError) as refused:
            run_agent_migrations(conn, registry=registry_of(fleet=package))
    message = str(refused.value)
    assert "query_wait_timeout" in message and "two server connections" in message and "default_pool_size" in message
    assert "once the server is reachable" not in message  # running again would only wait the same way
    direct = postgres_server.dsn(database)
    assert _rows(direct, "SELECT max(version) FROM refinery_schema_history") == [(5,)]
    assert _rows(direct, "SELECT count(*) FROM pg_class WHERE relname = 'big_payload'") == [(0,)]
    assert _rows(direct, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]
    # with a direct connection, as the message says, it applies
    with psycopg.connect(direct) as conn:
        assert run_agent_migrations(conn, registry=registry_of(fleet=package)).versions == (6,)


# -- the invalid-index check's scope ------------------------------------------------------------


def test_a_partitioned_index_waiting_for_its_partitions_indexes_is_not_refused(
    postgres_server: PostgresServer, agent_package
) -> None:
    """PostgreSQL's way to index a partitioned table without blocking writes, across three migrations.

    ``CREATE INDEX ... ON ONLY`` makes a partitioned index that stays invalid
    until an index of every partition is attached; each partition's is built
    ``CONCURRENTLY``. The partitioned index was taken for a failed build: the
    concurrent migration was refused, with ``DROP INDEX CONCURRENTLY`` as the
    fix, which PostgreSQL refuses for a partitioned index.
    """
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    package = agent_package({
        "V5__measurements": (
            "CREATE TABLE m (id INT, t INT) PARTITION BY RANGE (t); "
            "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10); "
            "CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (10) TO (20); "
            "CREATE INDEX m_id ON ONLY m (id);"
        ),
        "V6__partitions": (
            "def migration():\n    return 'CREATE INDEX CONCURRENTLY IF NOT EXISTS m1_id ON m1 (id); "
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS m2_id ON m2 (id);'\n\ntransactional = False\n"
        ),
        "V7__attach": "ALTER INDEX m_id ATTACH PARTITION m1_id; ALTER INDEX m_id ATTACH PARTITION m2_id;",
    })
    with psycopg.connect(dsn) as conn:
        assert run_agent_migrations(conn, registry=registry_of(parts=package)).versions == (1, 2, 3, 5, 6, 7)
        assert verify_database(conn, registry=registry_of(parts=package)).invalid_indexes == ()
    assert _rows(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'm_id'::regclass") == [(True,)]


def test_an_invalid_index_of_another_schema_is_refused_and_not_recorded(postgres_server: PostgresServer, agent_package) -> None:
    """A migration may name its schema: the index it leaves invalid there counts as one of the current schema would.

    It was not looked for: the failed build was reported as a plain
    failure, and the run after it skipped the half-built index (``IF NOT
    EXISTS``) and recorded the migration.
    """
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    package = agent_package({
        "V5__dupes": "CREATE SCHEMA other; CREATE TABLE other.d (x INT); INSERT INTO other.d SELECT g % 10 FROM generate_series(1, 100) g;",
        "V6__unique": "def migration():\n    return 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS d_x ON other.d (x);'\n\ntransactional = False\n",
    })
    with psycopg.connect(dsn) as conn:
        with pytest.raises(InvalidIndexError) as failed:
            run_agent_migrations(conn, registry=registry_of(dup=package))
        assert failed.value.indexes == ("other.d_x",) and failed.value.already_invalid == ()
        assert "could not create unique index" in str(failed.value) and "DROP INDEX CONCURRENTLY other.d_x;" in str(failed.value)
        with pytest.raises(InvalidIndexError) as skipped:  # IF NOT EXISTS skips it now
            run_agent_migrations(conn, registry=registry_of(dup=package))
        assert skipped.value.indexes == ("other.d_x",) and skipped.value.already_invalid == ("other.d_x",)
        assert "invalid already before it ran" in str(skipped.value) and "left invalid" not in str(skipped.value)
    assert _rows(dsn, "SELECT max(version) FROM refinery_schema_history") == [(5,)]


def test_an_unrelated_index_invalid_before_the_run_does_not_stop_a_migration_that_does_not_name_it(
    postgres_server: PostgresServer, agent_package, caplog: pytest.LogCaptureFixture
) -> None:
    """The application's own failed build, in another schema: not the migration's doing, so it is logged, not refused.

    The migration was refused, its message saying it "left" the index; with
    the check covering every schema, any application's failed build would
    have stopped every concurrent migration. ``verify`` still reports it.
    """
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE SCHEMA app; CREATE TABLE app.pairs (x INT); INSERT INTO app.pairs VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            admin.execute("CREATE UNIQUE INDEX CONCURRENTLY pairs_x ON app.pairs (x)")
    package = agent_package({
        "V5__table": "CREATE TABLE t (x INT);",
        "V6__index": CONCURRENT_INDEX.replace("big_payload ON big (payload)", "t_x ON t (x)").replace("big_payload", "t_x"),
    })
    with psycopg.connect(dsn) as conn:
        with caplog.at_level(logging.WARNING, logger="nocodo_agents"):
            assert run_agent_migrations(conn, registry=registry_of(app=package)).versions == (1, 2, 3, 5, 6)
        assert any("app.pairs_x is invalid" in record.getMessage() for record in caplog.records)
        assert verify_database(conn, registry=registry_of(app=package)).invalid_indexes == ("app.pairs_x",)
        # its rollback is not held up by it either
        assert [step.version for step in rollback_migrations(conn, 5, registry=registry_of(app=package)).rolled_back] == [6]
    assert _rows(dsn, "SELECT count(*) FROM pg_class WHERE relname = 't_x'") == [(0,)]


def test_verify_while_an_index_is_being_built_does_not_call_it_invalid(postgres_server: PostgresServer, agent_package) -> None:
    """An index under construction has not failed: ``verify`` told the operator to drop it (which would wait for the build)."""
    database = _database(postgres_server)
    dsn = postgres_server.dsn(database)
    package = agent_package({"V5__big": BIG_TABLE})
    with psycopg.connect(dsn) as conn:
        run_agent_migrations(conn, registry=registry_of(fleet=package))
    writer = psycopg.connect(dsn)
    writer.execute("INSERT INTO big VALUES (0, 'keeps the build waiting')")
    built: list[Any] = []

    def build() -> None:
        with psycopg.connect(dsn, autocommit=True) as builder:
            builder.execute("CREATE INDEX CONCURRENTLY big_payload ON big (payload)")
            built.append(True)

    thread = threading.Thread(target=build)
    thread.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            while monitor.execute("SELECT count(*) FROM pg_stat_progress_create_index").fetchone() == (0,):
                time.sleep(0.02)
        assert _rows(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_payload'::regclass") == [(False,)]
        with psycopg.connect(dsn) as conn:
            assert verify_database(conn, registry=registry_of(fleet=package)).invalid_indexes == ()
    finally:
        writer.commit()
        writer.close()
        thread.join(60)
    assert built == [True]
