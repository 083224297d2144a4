"""SQLite's one-call path: a migration (or a grouped run) sent with its transaction as one ``executescript``.

Every test uses real SQLite files and a connection that lets something
happen right before the runner's n-th script (``Hooked``), and keeps what
was sent: so each proves that the script was tried, and that whatever went
wrong in it (a statement, the history row, another writer, a reader, the
lock) left nothing behind and was answered by the per-statement path exactly
as before: the failing statement named, the rollback claimed only where it
happened, the lock waited for and logged, the history planned again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import history, plugin_returning
from test_sqlite_busy_timeout import hold_lock_in_thread

from nocodo_agents import ConnectionStateError, HistoryTableError, MigrationFailedError, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.migration import Migration


class Hooked(sqlite3.Connection):
    """A real connection calling ``before_script[n]`` right before its n-th ``executescript``, and keeping what it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_script: dict[int, Callable[[], None]] = {}
        self.scripts: list[str] = []
        self.failed: list[str] = []
        #: What SQLite said of each failed script, in order.
        self.errors: list[str] = []
        #: Every script and statement sent, in order.
        self.sent: list[str] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.sent.append(sql)
        return super().execute(sql, *args)

    def after_scripts(self) -> list[list[str]]:
        """For each script, the statements sent after it, up to the next script."""
        found: list[list[str]] = []
        for sql in self.sent:
            if sql.startswith("BEGIN IMMEDIATE;\n"):
                found.append([])
            elif found:
                found[-1].append(sql)
        return found

    def executescript(self, script: str) -> sqlite3.Cursor:  # type: ignore[override]
        self.scripts.append(script)
        self.sent.append(script)
        work = self.before_script.pop(len(self.scripts), None)
        if work is not None:
            work()
        try:
            return super().executescript(script)
        except sqlite3.Error as error:
            self.failed.append(script)
            self.errors.append(str(error))
            raise


def registry_of(*migrations: Migration) -> AgentRegistry:
    return AgentRegistry.from_plugins({"scripted": plugin_returning(list(migrations))})


def with_late(*migrations: Migration) -> AgentRegistry:
    """``migrations`` as agent ``scripted``, and agent ``late`` with V500: what another runner installed."""
    return AgentRegistry.from_plugins({"scripted": plugin_returning(list(migrations)), "late": plugin_returning(tables(500))})


def tables(*versions: int) -> list[Migration]:
    return [Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)") for v in versions]


#: Fails at its second statement: g_100 exists by then.
FAILING = Migration(
    103, "fails_midway", "CREATE TABLE before_failure (id INTEGER);\nCREATE TABLE g_100 (id INTEGER);\nCREATE TABLE after_failure (id INTEGER);"
)


#: What follows a script whose guard found that another connection committed: the row check, the guard, then ROLLBACK.
GUARD_FIRED = ["SELECT changes()", "PRAGMA data_version", "ROLLBACK"]


def names(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


@pytest.fixture
def connect(tmp_path: Path) -> Callable[[], Hooked]:
    return lambda: sqlite3.connect(tmp_path / "scripted.sqlite", factory=Hooked)  # type: ignore[return-value]


def lock_held_before_script(conn: Hooked, index: int, db: Path, begin: str, seconds: float) -> list[threading.Thread]:
    """Right before ``conn``'s ``index``-th script, another connection takes a lock (``begin``) for ``seconds``: its thread, to join."""
    threads: list[threading.Thread] = []

    def hold() -> None:
        thread, taken = hold_lock_in_thread(db, begin, seconds)
        threads.append(thread)
        assert taken.wait(10)

    conn.before_script[index] = hold
    return threads


def another_runner_before_the_first_script(conn: Hooked, tmp_path: Path, agents: list[str] | None, registry: AgentRegistry) -> sqlite3.Connection:
    """A second connection, core and V100 applied through it, that applies ``registry``'s ``agents`` right before ``conn``'s first script."""
    other = sqlite3.connect(tmp_path / "scripted.sqlite")
    run_agent_migrations(other, registry=registry_of(*tables(100)))
    conn.before_script[1] = lambda: run_agent_migrations(other, agents, registry=registry)
    return other


def test_plain_migrations_go_as_one_script_each(connect: Callable[[], Hooked]) -> None:
    conn = connect()
    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)))
    assert report.versions == (1, 2, 3, 100, 101, 102)
    # V1 in the first look's transaction, V2 with the full guard (reading the token): then scripts.
    assert [script.count("INSERT INTO main.refinery_schema_history") for script in conn.scripts] == [1] * 4
    assert all(script.startswith("BEGIN IMMEDIATE;\n") and "COMMIT" not in script for script in conn.scripts)
    assert all(after[:3] == ["SELECT changes()", "PRAGMA data_version", "COMMIT"] for after in conn.after_scripts()), "its row checked, guarded, then committed"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert not conn.in_transaction
    assert run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102))).applied == (), "the checksums verify"


def test_a_statement_failing_midway_in_a_script_leaves_nothing_and_is_named_by_the_per_statement_path(
    connect: Callable[[], Hooked],
) -> None:
    conn = connect()
    with pytest.raises(MigrationFailedError) as caught:
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102), FAILING))
    error = caught.value
    assert (error.version, error.statement_index, error.rolled_back) == (103, 1, True)
    assert "CREATE TABLE g_100" in error.statement
    assert "Its transaction was rolled back" in str(error)
    assert any("before_failure" in script for script in conn.failed), "the script was tried first, and failed"
    assert "before_failure" not in names(conn), "nothing of the failed migration remains"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert not conn.in_transaction


def applied_with_v102_refused(connect: Callable[[], Hooked]) -> Hooked:
    """A connection with core and V100 applied, whose history table refuses version 102's row (a trigger)."""
    conn = connect()
    run_agent_migrations(conn, registry=registry_of(*tables(100)))
    conn.execute(
        "CREATE TRIGGER refuse_102 BEFORE INSERT ON refinery_schema_history WHEN NEW.version = 102 "
        "BEGIN SELECT RAISE(ABORT, 'not 102'); END"
    )
    conn.scripts.clear()
    return conn


def test_a_history_row_the_table_refuses_in_a_script_is_named_by_its_version(connect: Callable[[], Hooked]) -> None:
    conn = applied_with_v102_refused(connect)
    with pytest.raises(HistoryTableError) as caught:
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102, 103)))
    assert "refused the row of version 102" in str(caught.value)
    assert any("g_102" in script for script in conn.failed), "V102's script was tried and refused"
    assert "g_102" not in names(conn) and "g_101" in names(conn)
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101]


def test_another_runner_committing_before_a_script_makes_its_guard_fail_and_the_full_guard_run(
    connect: Callable[[], Hooked], tmp_path: Path
) -> None:
    """Another runner applies agent late's V500 right before V102's script: the script runs, its guard rolls it back.

    (``tests/test_apply_change_token.py`` has another runner apply the same
    versions, roll back and widen, from a second connection and a second process.)
    """
    conn = connect()
    # This run: V101 in the first look's transaction (which reads the token), then V102's script.
    other = another_runner_before_the_first_script(conn, tmp_path, ["late"], with_late(*tables(100)))
    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102, 103)))
    assert not conn.failed and conn.after_scripts()[0][:3] == GUARD_FIRED, "the first script ran; its guard fired"
    assert report.versions == (101, 102, 103)
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102, 103, 500]
    other.close()


def test_a_reader_holding_up_a_scripts_commit_is_waited_for_and_logged(
    connect: Callable[[], Hooked], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect()
    threads = lock_held_before_script(conn, 1, tmp_path / "scripted.sqlite", "BEGIN", 0.5)  # a shared lock
    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101)), lock_timeout=20)
    for thread in threads:
        thread.join()
    assert report.versions == (1, 2, 3, 100, 101)
    assert not conn.failed
    assert conn.after_scripts()[0][:5] == ["SELECT changes()", "PRAGMA data_version", "COMMIT", "PRAGMA busy_timeout = 20000", "COMMIT"], (
        "the script's COMMIT met the reader, then waited for it: the migration did not run again"
    )
    assert "to finish, to commit" in caplog.text
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101]


@pytest.mark.parametrize("grouped", [False, True], ids=["per-migration", "grouped"])
def test_a_write_lock_held_at_a_scripts_begin_is_waited_for_and_logged(
    connect: Callable[[], Hooked], tmp_path: Path, caplog: pytest.LogCaptureFixture, grouped: bool
) -> None:
    """Busy at a script's BEGIN IMMEDIATE: declined at once, then the per-statement path waits for the lock (logged)."""
    conn = connect()
    # grouped: the run's one script; else V101's
    threads = lock_held_before_script(conn, 1 if grouped else 2, tmp_path / "scripted.sqlite", "BEGIN IMMEDIATE", 0.5)
    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101)), grouped=grouped, lock_timeout=20)
    for thread in threads:
        thread.join()
    assert report.versions == (1, 2, 3, 100, 101)
    assert len(conn.failed) == 1, "busy at BEGIN IMMEDIATE: declined at once"
    if not grouped:
        assert "g_100" in conn.failed[0]
    assert "for another runner's write lock" in caplog.text
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101]


def test_a_connection_in_a_transaction_is_refused_and_its_transaction_left_open(connect: Callable[[], Hooked]) -> None:
    conn = connect()
    run_agent_migrations(conn, registry=registry_of(*tables(100)))
    conn.execute("CREATE TABLE mine (id INTEGER)")
    conn.commit()
    conn.execute("INSERT INTO mine VALUES (1)")  # sqlite3's implicit BEGIN: the caller's transaction
    assert conn.in_transaction
    conn.scripts.clear()
    with pytest.raises(ConnectionStateError):
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)))
    assert conn.in_transaction and conn.scripts == [], "no script was sent: executescript would have committed it"
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM mine").fetchone() == (0,), "the caller's row was never committed"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100]


# -- grouped: the first look, rolled back, then the whole run in one script --------------------------------


def test_a_grouped_run_is_one_script(connect: Callable[[], Hooked]) -> None:
    conn = connect()
    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), grouped=True)
    assert report.versions == (1, 2, 3, 100, 101, 102)
    assert len(conn.scripts) == 1 and not conn.failed
    assert conn.scripts[0].count("INSERT INTO main.refinery_schema_history") == 6
    assert "CREATE TABLE IF NOT EXISTS main.refinery_schema_history(" in conn.scripts[0], "the first look's write, sent again"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102))).applied == (), "the checksums verify"


def test_a_grouped_script_failing_midway_leaves_nothing_of_the_run_and_names_the_statement(connect: Callable[[], Hooked]) -> None:
    conn = connect()
    with pytest.raises(MigrationFailedError) as caught:
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102), FAILING), grouped=True)
    error = caught.value
    assert (error.version, error.statement_index, error.rolled_back) == (103, 1, True)
    assert "The run was grouped in one transaction, which was rolled back" in str(error)
    assert len(conn.failed) == 1 and "before_failure" in conn.failed[0]
    assert names(conn) == [], "nothing of the run remains, not even the history table"


def test_a_grouped_scripts_history_row_refused_is_named(connect: Callable[[], Hooked]) -> None:
    conn = applied_with_v102_refused(connect)
    with pytest.raises(HistoryTableError) as caught:
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102, 103)), grouped=True)
    assert "refused the row of version 102" in str(caught.value)
    assert len(conn.failed) == 1
    assert "g_101" not in names(conn), "grouped: nothing of the run remains"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100]


def test_another_runner_committing_before_a_grouped_script_is_seen(connect: Callable[[], Hooked], tmp_path: Path) -> None:
    conn = connect()
    other = another_runner_before_the_first_script(conn, tmp_path, ["late"], with_late(*tables(100)))
    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), grouped=True)
    # The row check asks the history for the run's rows (several: no changes() tells), then the guard fires.
    assert not conn.failed and conn.after_scripts()[0][1:3] == GUARD_FIRED[1:], "the script ran; its guard rolled it back"
    assert conn.after_scripts()[0][0].startswith("SELECT count(*) FROM main.refinery_schema_history WHERE version IN (")
    assert report.versions == (101, 102), "then the per-statement path, which planned again"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102, 500]
    other.close()


def test_another_runner_applying_the_same_versions_before_a_grouped_script_is_seen(
    connect: Callable[[], Hooked], tmp_path: Path
) -> None:
    """Here the script fails at its first statement (the table exists); the per-statement path plans again."""
    conn = connect()
    other = another_runner_before_the_first_script(conn, tmp_path, None, registry_of(*tables(100, 101)))
    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), grouped=True)
    assert len(conn.failed) == 1
    assert report.versions == (102,), "V101 was applied by the other runner: planned again, not applied twice"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    other.close()


def test_a_migration_the_script_cannot_carry_goes_statement_by_statement(connect: Callable[[], Hooked]) -> None:
    """An INSERT (it may orphan a row: the foreign keys are checked after it) or a ';' inside a statement: no script."""
    conn = connect()
    migrations = [
        *tables(100, 101),
        Migration(102, "fill", "INSERT INTO g_100 VALUES (1)"),
        Migration(103, "trigger", "CREATE TRIGGER g_t AFTER INSERT ON g_101 BEGIN DELETE FROM g_100; END"),
    ]
    report = run_agent_migrations(conn, registry=registry_of(*migrations))
    assert report.versions == (1, 2, 3, 100, 101, 102, 103)
    assert not any("g_100 VALUES" in script or "g_t" in script for script in conn.scripts)
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102, 103]


def test_a_statement_with_a_block_comment_goes_statement_by_statement(connect: Callable[[], Hooked]) -> None:
    """SQLite reads an unterminated ``/*`` to the end of the text, which in a script would swallow what follows: no script."""
    conn = connect()
    migrations = [*tables(100, 101), Migration(102, "comment", "CREATE TABLE g_102 (id INTEGER) /* unterminated")]
    report = run_agent_migrations(conn, registry=registry_of(*migrations))
    assert report.versions == (1, 2, 3, 100, 101, 102)
    assert not any("unterminated" in script for script in conn.scripts) and "g_101" in conn.scripts[-1]
    assert not conn.in_transaction
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert run_agent_migrations(conn, registry=registry_of(*migrations)).applied == ()
