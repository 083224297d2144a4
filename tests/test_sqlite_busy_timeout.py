"""SQLite's busy timeout during a run: set to 0 once, not around every transaction, and still honest.

The runner tries the write lock with a busy timeout of 0 (so that a wait is
logged before it starts) and leaves it 0 while each transaction takes the
lock at once (two statements fewer per migration). These tests prove what
that must not cost, with a second connection holding a real lock: a COMMIT
that readers hold up still waits for them (logged, within the lock
timeout); a write lock taken between two of the runner's transactions is
waited for; statements the runner sends outside its transactions, and a
progress callback's, wait up to the lock timeout; the caller's busy timeout
is back afterwards; and the busy timeout is set a fixed number of times per
run, whatever the number of migrations.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import history
from test_apply_linear import bulk_registry

from nocodo_agents import MigrationFailedError, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.migration import Migration


def registry_of_migrations(*migrations: Migration) -> AgentRegistry:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return list(migrations)

    plugin = types.ModuleType(f"busy_plugin_{id(migrations)}")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations  # type: ignore[attr-defined]
    return AgentRegistry.from_plugins({"busy": plugin})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "busy.sqlite"


@pytest.fixture
def caller(db: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(db, timeout=1.234)  # the caller's busy timeout: 1234 ms
    yield connection
    connection.close()


def hold_lock_in_thread(db: Path, begin: str, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another connection takes a lock (``BEGIN IMMEDIATE``: the write lock; ``BEGIN`` and a read: a shared one) for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(db, isolation_level=None, timeout=30)
        try:
            other.execute(begin)
            other.execute("SELECT count(*) FROM sqlite_master").fetchall()
            taken.set()
            time.sleep(seconds)
            other.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread, taken


def test_a_commit_held_up_by_a_reader_waits_for_it_logs_it_and_commits(db: Path, caller, caplog: pytest.LogCaptureFixture) -> None:
    reader, taken = hold_lock_in_thread(db, "BEGIN", 0.4)  # a shared lock: the runner's COMMIT must wait for it
    assert taken.wait(10)
    try:
        with caplog.at_level(logging.INFO, logger="nocodo_agents"):
            report = run_agent_migrations(caller, registry=AgentRegistry([]), lock_timeout=20)
    finally:
        reader.join()
    assert report.versions == (1, 2, 3)
    assert [row[0] for row in history(caller)] == [1, 2, 3]
    assert f"waiting up to 20 s for readers of {db} to finish, to commit" in caplog.text
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


def test_a_write_lock_taken_between_two_transactions_is_waited_for(db: Path, caller, caplog: pytest.LogCaptureFixture) -> None:
    """After a transaction that took the lock at once (busy timeout 0), the next BEGIN IMMEDIATE still waits, logged."""
    threads: list[threading.Thread] = []

    def progress(step) -> None:  # between two of the runner's transactions
        if step.version == 1:
            thread, taken = hold_lock_in_thread(db, "BEGIN IMMEDIATE", 0.4)
            threads.append(thread)
            assert taken.wait(10)

    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        report = run_agent_migrations(caller, registry=AgentRegistry([]), lock_timeout=20, progress=progress)
    for thread in threads:
        thread.join()
    assert report.versions == (1, 2, 3)
    assert f"waiting up to 20 s for another runner's write lock on {db}" in caplog.text
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


def test_the_wait_for_the_write_lock_between_transactions_still_ends_at_the_lock_timeout(db: Path, caller) -> None:
    from nocodo_agents import LockTimeoutError

    threads: list[threading.Thread] = []

    def progress(step) -> None:
        if step.version == 1:
            thread, taken = hold_lock_in_thread(db, "BEGIN IMMEDIATE", 3)
            threads.append(thread)
            assert taken.wait(10)

    started = time.monotonic()
    with pytest.raises(LockTimeoutError):
        run_agent_migrations(caller, registry=AgentRegistry([]), lock_timeout=0.3, progress=progress)
    assert time.monotonic() - started < 2.5, "gave up at the lock timeout, not when the other writer let go"
    for thread in threads:
        thread.join()
    assert [row[0] for row in history(caller)] == [1]
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


def test_a_progress_callback_sees_the_lock_timeout_as_busy_timeout(db: Path, caller) -> None:
    seen: list[int] = []
    run_agent_migrations(
        caller, registry=AgentRegistry([]), lock_timeout=7,
        progress=lambda step: seen.append(caller.execute("PRAGMA busy_timeout").fetchone()[0]),
    )
    assert seen == [7000, 7000, 7000]
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


def test_statements_outside_a_transaction_after_one_wait_for_another_writer(db: Path, caller) -> None:
    """A ``transactional = False`` migration after a transactional one: its statement waits for a writer (busy timeout back)."""
    registry = registry_of_migrations(
        Migration(100, "inside", "CREATE TABLE inside_t (id INTEGER)"),
        Migration(101, "outside", "CREATE TABLE outside_t (id INTEGER)", transactional=False),
    )
    threads: list[threading.Thread] = []

    def trace(statement: str) -> None:  # just before the outside migration's statement runs
        if statement.startswith("CREATE TABLE outside_t") and not threads:
            thread, taken = hold_lock_in_thread(db, "BEGIN IMMEDIATE", 0.4)
            threads.append(thread)
            assert taken.wait(10)

    caller.set_trace_callback(trace)
    try:
        report = run_agent_migrations(caller, registry=registry, lock_timeout=20)
    finally:
        caller.set_trace_callback(None)
        for thread in threads:
            thread.join()
    assert threads, "the other writer held the lock while the statement ran"
    assert report.versions[-2:] == (100, 101)
    assert [row[0] for row in history(caller)][-2:] == [100, 101]
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


def test_the_callers_busy_timeout_is_back_after_a_failed_migration(db: Path, caller) -> None:
    registry = registry_of_migrations(
        Migration(100, "fine", "CREATE TABLE fine_t (id INTEGER)"),
        Migration(101, "broken", "CREATE TABLE broken_t (id INTEGER); INSERT INTO no_such_table VALUES (1)"),
    )
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(caller, registry=registry)
    assert [row[0] for row in history(caller)][-1] == 100
    assert caller.execute("PRAGMA busy_timeout").fetchone() == (1234,)


@pytest.mark.parametrize("grouped", [False, True])
def test_the_busy_timeout_is_set_a_fixed_number_of_times_per_run(tmp_path: Path, grouped: bool) -> None:
    def pragmas(n: int) -> list[str]:
        connection = sqlite3.connect(tmp_path / f"n{n}_{grouped}.sqlite")
        sent: list[str] = []
        connection.set_trace_callback(lambda statement: sent.append(statement) if "busy_timeout" in statement else None)
        try:
            assert len(run_agent_migrations(connection, registry=bulk_registry(n), grouped=grouped).applied) == 3 + n
        finally:
            connection.close()
        return sent

    few, many = pragmas(2), pragmas(40)
    assert few == many
    # read the caller's, the lock timeout for the session, 0 for the writes, the caller's back
    assert many == ["PRAGMA busy_timeout", "PRAGMA busy_timeout = 60000", "PRAGMA busy_timeout = 0", "PRAGMA busy_timeout = 5000"]


def test_a_migration_larger_than_the_page_cache_runs_while_a_reader_holds_its_lock(db: Path, caller) -> None:
    """Spilling pages to the file needs the exclusive lock; with readers there SQLite keeps them in memory instead of failing."""
    registry = registry_of_migrations(
        Migration(
            100, "big",
            "CREATE TABLE big (x BLOB); INSERT INTO big SELECT randomblob(500) FROM "
            "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) SELECT i FROM c)",
        ),
    )
    run_agent_migrations(caller, registry=AgentRegistry([]))
    caller.execute("PRAGMA cache_size = 10")  # the caller's setting: a page cache far smaller than the migration
    reader, taken = hold_lock_in_thread(db, "BEGIN", 0.5)
    assert taken.wait(10)
    try:
        report = run_agent_migrations(caller, registry=registry, lock_timeout=20)
    finally:
        reader.join()
    assert report.versions == (100,)
    assert caller.execute("SELECT count(*) FROM big").fetchone() == (20000,)
