"""Whatever the caller did to a sqlite3 connection, the runner uses main's history its own way,
and every fault ends in a named error: locks, malformed history tables, bad arguments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_support import Cli
from conftest import history, migration_module, registry_of, tables

from nocodo_agents import (
    ConnectionStateError,
    DatabaseAccessError,
    HistoryRowError,
    HistoryTableError,
    InvalidArgumentError,
    LockTimeoutError,
)
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import repair_history, rollback_migrations, verify_database
from nocodo_agents.status import migration_status

CORE = {"agent_sessions", "agent_messages", "agent_tool_calls"}


def _attached_with_history(tmp_path: Path, conn: sqlite3.Connection) -> Path:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as side:
        run_agent_migrations(side, registry=registry_of())
    conn.execute("ATTACH DATABASE ? AS other", (str(other),))
    return other


def test_an_attached_databases_history_is_never_read_as_mains(tmp_path: Path, conn: sqlite3.Connection) -> None:
    other = _attached_with_history(tmp_path, conn)
    states = {row.version: row.state for row in migration_status(conn, registry=registry_of())}
    assert states == {1: "pending", 2: "pending", 3: "pending"}
    with pytest.raises(ConnectionStateError, match="database other") as caught:
        run_agent_migrations(conn, registry=registry_of())
    assert "Nothing was changed" in str(caught.value) and "DETACH" in str(caught.value)
    assert not CORE & set(tables(conn))
    conn.execute("DETACH DATABASE other")
    assert run_agent_migrations(conn, registry=registry_of()).versions == (1, 2, 3)
    with sqlite3.connect(other) as side:
        assert len(history(side)) == 3  # untouched


def test_a_temp_table_named_like_the_history_stands_in_for_nothing(conn: sqlite3.Connection) -> None:
    run_agent_migrations(conn, registry=registry_of())
    conn.execute("CREATE TEMP TABLE refinery_schema_history (version INT, name TEXT, applied_on TEXT, checksum TEXT)")
    states = [row.state for row in migration_status(conn, registry=registry_of())]
    assert states == ["applied"] * 3  # main's history, not the empty TEMP table
    assert run_agent_migrations(conn, registry=registry_of()).applied == ()  # the no-op path reads main


def test_temp_objects_are_refused_before_any_write(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TEMP TABLE agent_sessions (id INTEGER)")
    with pytest.raises(ConnectionStateError, match="table agent_sessions"):
        run_agent_migrations(conn, registry=registry_of())
    assert "refinery_schema_history" not in tables(conn)


@pytest.mark.parametrize(
    "row_factory",
    [sqlite3.Row, lambda cursor, row: {d[0]: v for d, v in zip(cursor.description, row)}, lambda cursor, row: list(reversed(row))],
    ids=["Row", "dict", "reversed"],
)
def test_a_custom_row_factory_is_set_aside_and_restored(conn: sqlite3.Connection, agent_package, row_factory) -> None:
    conn.row_factory = row_factory
    conn.text_factory = bytes
    package = agent_package({"V100__notes": migration_module("CREATE TABLE notes (id INTEGER PRIMARY KEY);", rollback="DROP TABLE notes;")})
    registry = registry_of(notes=package)
    assert run_agent_migrations(conn, registry=registry).versions == (1, 2, 3, 100)
    assert run_agent_migrations(conn, registry=registry).applied == ()
    assert [row.state for row in migration_status(conn, registry=registry)] == ["applied"] * 4
    assert verify_database(conn, registry=registry).ok
    assert [step.version for step in rollback_migrations(conn, 3, registry=registry).rolled_back] == [100]
    assert run_agent_migrations(conn, registry=registry).versions == (100,)
    assert conn.row_factory is row_factory and conn.text_factory is bytes


def test_query_only_connection_is_refused_clearly_and_reads_still_work(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA query_only = ON")
    assert [row.state for row in migration_status(conn, registry=registry_of())] == ["pending"] * 3
    with pytest.raises(DatabaseAccessError, match="query_only = ON"):
        run_agent_migrations(conn, registry=registry_of())
    assert tables(conn) == {}


@pytest.mark.parametrize("mode", ["OFF", "MEMORY"])
def test_journal_modes_that_cannot_roll_back_safely_are_refused(conn: sqlite3.Connection, mode: str) -> None:
    conn.execute(f"PRAGMA journal_mode = {mode}")
    with pytest.raises(ConnectionStateError, match=f"journal_mode = {mode}"):
        run_agent_migrations(conn, registry=registry_of())
    assert tables(conn) == {}
    conn.execute("PRAGMA journal_mode = DELETE")
    assert run_agent_migrations(conn, registry=registry_of()).versions == (1, 2, 3)


def test_an_in_memory_database_keeps_its_memory_journal() -> None:
    memory = sqlite3.connect(":memory:")
    try:
        assert run_agent_migrations(memory, registry=registry_of()).versions == (1, 2, 3)
    finally:
        memory.close()


# -- locks held by another writer -----------------------------------------------------------------


@pytest.fixture
def locked(db_path: Path):
    """The database migrated, then held by another connection's BEGIN EXCLUSIVE (rollback-journal mode)."""
    with sqlite3.connect(db_path) as setup:
        run_agent_migrations(setup, registry=registry_of())
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield db_path
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize("operation", ["status", "migrate", "verify", "rollback", "repair"])
def test_a_lock_held_by_another_writer_is_a_lock_timeout(locked: Path, operation: str) -> None:
    calls = {
        "status": lambda c: migration_status(c, registry=registry_of(), lock_timeout=0.2),
        "migrate": lambda c: run_agent_migrations(c, registry=registry_of(), lock_timeout=0.2),
        "verify": lambda c: verify_database(c, registry=registry_of(), lock_timeout=0.2),
        "rollback": lambda c: rollback_migrations(c, 3, registry=registry_of(), lock_timeout=0.2),
        "repair": lambda c: repair_history(c, registry=registry_of(), lock_timeout=0.2),
    }
    connection = sqlite3.connect(locked)
    try:
        with pytest.raises(LockTimeoutError, match="within 0.2 s") as caught:
            calls[operation](connection)
        assert "BEGIN EXCLUSIVE" in str(caught.value)
        assert not connection.in_transaction
    finally:
        connection.close()


@pytest.mark.parametrize("command", [["status"], ["migrate"], ["verify"], ["rollback", "--to", "3"], ["repair"]])
def test_cli_exits_1_with_lock_timeout_while_another_writer_holds_the_file(locked: Path, tmp_path: Path, command: list) -> None:
    (tmp_path / "site").mkdir()
    cli = Cli(tmp_path, tmp_path / "site")
    result = cli(*command, "--db", str(locked), "--lock-timeout", "0.2")
    assert result.code == 1, result.text
    assert "could not take the sqlite migration lock within 0.2 s" in result.err
    assert "Traceback" not in result.text


# -- malformed history tables ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ddl, problem",
    [
        ("CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255))", "lacks the column(s) checksum"),
        (
            "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
            "checksum VARCHAR(255), owner TEXT NOT NULL)",
            "NOT NULL column(s) without a default that no migration runner fills: owner",
        ),
        (
            "CREATE VIEW refinery_schema_history AS SELECT 1 AS version, 'x' AS name, '' AS applied_on, '1' AS checksum",
            "is a view",
        ),
    ],
    ids=["missing-column", "extra-not-null", "view"],
)
def test_a_malformed_history_table_is_named_and_nothing_changes(conn: sqlite3.Connection, ddl: str, problem: str) -> None:
    conn.execute(ddl)
    for call in (
        lambda: run_agent_migrations(conn, registry=registry_of()),
        lambda: migration_status(conn, registry=registry_of()),
        lambda: run_agent_migrations(conn, registry=registry_of(), dry_run=True),
    ):
        with pytest.raises(HistoryTableError) as caught:
            call()
        assert problem in str(caught.value) and "refinery_schema_history" in str(caught.value)
    assert not CORE & set(tables(conn))


def test_a_history_table_whose_trigger_refuses_rows_is_named(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
        "checksum VARCHAR(255), agent VARCHAR(255))"
    )
    conn.execute(
        "CREATE TRIGGER no_more BEFORE INSERT ON refinery_schema_history BEGIN SELECT RAISE(ABORT, 'history is frozen'); END"
    )
    with pytest.raises(HistoryTableError, match="refused the row of version 1: history is frozen"):
        run_agent_migrations(conn, registry=registry_of())
    assert not CORE & set(tables(conn))  # V1 was rolled back with its history row


def test_bytes_that_are_not_utf8_in_history_are_a_history_row_error(conn: sqlite3.Connection) -> None:
    run_agent_migrations(conn, registry=registry_of())
    conn.execute("UPDATE refinery_schema_history SET name = CAST(X'ff00fe' AS TEXT) WHERE version = 2")
    conn.commit()
    with pytest.raises(HistoryRowError, match="its name holds bytes that are not UTF-8 text"):
        migration_status(conn, registry=registry_of())


def test_cli_exits_4_for_a_malformed_history(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    cli = Cli(tmp_path, tmp_path / "site")
    database = tmp_path / "agents.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE VIEW refinery_schema_history AS SELECT 1 AS version")
    for command in (["status"], ["migrate"], ["verify"]):
        result = cli(*command, "--db", str(database))
        assert result.code == 4, result.text
        assert "refinery_schema_history" in result.err and "Traceback" not in result.text


# -- unbounded values ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1, 2**31, True, "5"])
def test_out_of_range_lock_timeouts_are_refused_before_any_io(conn: sqlite3.Connection, value) -> None:
    with pytest.raises(InvalidArgumentError, match="lock_timeout="):
        run_agent_migrations(conn, registry=registry_of(), lock_timeout=value)
    assert tables(conn) == {}


def test_the_longest_lock_timeout_is_accepted(conn: sqlite3.Connection) -> None:
    assert run_agent_migrations(conn, registry=registry_of(), lock_timeout=(2**31 - 1) / 1000).versions == (1, 2, 3)


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e300"])
def test_cli_refuses_unbounded_lock_timeouts_with_exit_2(tmp_path: Path, value: str) -> None:
    (tmp_path / "site").mkdir()
    result = Cli(tmp_path, tmp_path / "site")("status", "--lock-timeout", value)
    assert result.code == 2, result.text
    assert "--lock-timeout" in result.err and "Traceback" not in result.text


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 20)
    connection = sqlite3.connect(path)
    try:
        with pytest.raises(DatabaseAccessError, match="not a SQLite database") as caught:
            run_agent_migrations(connection, registry=registry_of())
        assert str(path) in str(caught.value)
    finally:
        connection.close()
    assert path.read_text().startswith("these are not")
