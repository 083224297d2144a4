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
from typing import Any, Iterator, List

import psycopg
import pytest

from conftest import registry_of
from nocodo_agents import DatabaseAccessError, InvalidIndexError
from nocodo_agents.database.migrations import run_agent_migrations
from servers import PgBouncer, PostgresServer

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


def _rows(dsn: str, sql: str) -> List[Any]:
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
    handlers: List[logging.Handler] = []

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
    next_runner: List[Any] = []
    waiting = watch_log("index build(s) of server process(es)")
    try:
        while monitor.execute(
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE phase = 'waiting for writers before build'"
        ).fetchone() == (0,):
            assert killed.is_alive(), "the runner ended before its build waited for the writer"
            time.sleep(0.02)
        os.kill(killed.pid, signal.SIGKILL)
        killed.join(30)
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
