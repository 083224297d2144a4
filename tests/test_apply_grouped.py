"""``grouped=True`` (``migrate --grouped``): every pending migration of a run in one transaction, as refinery's ``set_grouped``.

Where DDL is transactional (SQLite, PostgreSQL) a failure rolls back the
whole run: nothing of it remains, not even the history table a fresh
database got. Where it is not (MySQL, MariaDB), or when a pending migration
is declared ``transactional = False``, the run is refused before anything
runs (:class:`GroupedRunRefusedError`), never claiming a rollback that could
not happen. Counted, never timed: a grouped run costs two statements per
migration (its statement, its history row) inside one write transaction.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import plugin_returning
from fresh_database import connect_to_fresh_database
from fresh_database import query as _query

from nocodo_agents import Database, GroupedRunRefusedError, MigrationFailedError
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.migrate import migrate
from nocodo_agents.engine.run import open_run
from nocodo_agents.migration import Migration
from nocodo_agents.runner import run_agent_migrations

_names = itertools.count()


def registry(migrations: list[Migration]) -> AgentRegistry:
    """Core plus agent ``bulk`` providing ``migrations``, registered in-process."""
    return AgentRegistry.from_plugins({"bulk": plugin_returning(migrations)})


def tables(n: int, first: int = 100) -> list[Migration]:
    return [Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)") for v in range(first, first + n)]


def failing_last(n: int) -> list[Migration]:
    """``n`` tables, then a migration whose statement fails."""
    return [*tables(n), Migration(100 + n, "breaks", "INSERT INTO no_such_table VALUES (1)")]


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Opens a new connection to one fresh database (transactional DDL) each time it is called."""
    return connect_to_fresh_database(request, tmp_path, "grouped")


def _user_tables(conn: Any) -> list[str]:
    if isinstance(conn, sqlite3.Connection):
        return [row[0] for row in _query(conn, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [row[0] for row in _query(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]


def test_a_grouped_run_applies_everything_and_records_each_migration(connect: Callable[[], Any]) -> None:
    conn = connect()
    report = run_agent_migrations(conn, registry=registry(tables(5)), grouped=True)
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    versions = [int(row[0]) for row in _query(conn, "SELECT version FROM refinery_schema_history ORDER BY version")]
    assert versions == [1, 2, 3, 100, 101, 102, 103, 104]
    assert run_agent_migrations(conn, registry=registry(tables(5)), grouped=True).applied == ()
    conn.close()


def test_a_failing_migration_rolls_back_the_whole_grouped_run_on_a_fresh_database(connect: Callable[[], Any]) -> None:
    conn = connect()
    with pytest.raises(MigrationFailedError) as caught:
        run_agent_migrations(conn, registry=registry(failing_last(4)), grouped=True)
    error = caught.value
    assert error.version == 104 and error.rolled_back
    assert error.grouped_with == (
        "V1__create_agent_sessions", "V2__create_agent_messages", "V3__create_agent_tool_calls",
        "V100__create_g_100", "V101__create_g_101", "V102__create_g_102", "V103__create_g_103",
    )
    assert "were undone with it" in str(error) and "as they were before the run" in str(error)
    assert exit_code_for(error) == ExitCode.MIGRATION_FAILED
    assert _user_tables(conn) == [], "nothing of the run remains: not a table, not the history table"
    conn.close()


def test_a_failing_grouped_run_leaves_an_existing_history_as_it_was(connect: Callable[[], Any]) -> None:
    conn = connect()
    run_agent_migrations(conn, ["bulk"], registry=registry(tables(2)))  # core and V100-V101, one by one
    before = _query(conn, "SELECT version, name, applied_on, checksum, agent FROM refinery_schema_history ORDER BY version")
    longer = [*tables(6), Migration(106, "breaks", "INSERT INTO no_such_table VALUES (1)")]
    with pytest.raises(MigrationFailedError) as caught:
        run_agent_migrations(conn, registry=registry(longer), grouped=True)
    assert caught.value.grouped_with == tuple(f"V{v}__create_g_{v}" for v in range(102, 106))
    after = _query(conn, "SELECT version, name, applied_on, checksum, agent FROM refinery_schema_history ORDER BY version")
    assert after == before
    assert not [t for t in _user_tables(conn) if t.startswith("g_") and t not in ("g_100", "g_101")]
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Opens a connection to a new, empty database each time it is called."""
    if request.param == "sqlite":
        return lambda: sqlite3.connect(tmp_path / f"fresh_{next(_names)}.sqlite")
    import psycopg

    server = request.getfixturevalue("postgres_server")

    def connect() -> Any:
        name = f"grouped_{next(_names)}"
        server.create_database(name)
        return psycopg.connect(server.dsn(name))

    return connect


def test_a_grouped_run_is_one_write_transaction_of_two_statements_per_migration(fresh: Callable[[], Any]) -> None:
    """Counted: growing the run by 20 migrations adds exactly 40 statements (each one's statement and history row).

    (PostgreSQL adds ``SET CONSTRAINTS ALL IMMEDIATE`` after a migration that
    may change rows, so a deferred constraint it broke fails naming it: not
    after these CREATE TABLE statements.)
    """

    def statements(n: int) -> int:
        conn = fresh()
        try:
            with open_run(conn, None, registry(tables(n)), 60) as run:
                report = migrate(run, grouped=True)
                assert len(report.applied) == 3 + n
                return run.dialect.statements
        finally:
            conn.close()

    conn = fresh()
    per_migration = 2
    conn.close()
    assert statements(30) - statements(10) == per_migration * 20


def test_a_migration_outside_transactions_refuses_the_grouped_run_before_anything_runs(connect: Callable[[], Any]) -> None:
    conn = connect()
    outside = Migration(101, "outside", "CREATE TABLE g_outside (id INTEGER)", transactional=False)
    with pytest.raises(GroupedRunRefusedError) as caught:
        run_agent_migrations(conn, registry=registry([*tables(1), outside]), grouped=True)
    error = caught.value
    assert error.reason == "non_transactional"
    assert len(error.migrations) == 1 and error.migrations[0].startswith("V101__outside (agent bulk")
    assert "transactional = False" in str(error) and "Nothing was changed" in str(error) and "rolled back" not in str(error)
    assert exit_code_for(error) == ExitCode.USAGE
    assert _user_tables(conn) == []
    # The same run is refused as a dry run, and runs without grouped.
    with pytest.raises(GroupedRunRefusedError):
        run_agent_migrations(conn, registry=registry([*tables(1), outside]), grouped=True, dry_run=True)
    assert run_agent_migrations(conn, registry=registry([*tables(1), outside])).versions == (1, 2, 3, 100, 101)
    conn.close()


def test_on_mariadb_a_grouped_run_is_refused_before_anything_runs(mariadb_server) -> None:
    name = f"grouped_{next(_names)}"
    mariadb_server.create_database(name)
    conn = mariadb_server.connect(name)
    with pytest.raises(GroupedRunRefusedError) as caught:
        run_agent_migrations(conn, registry=registry(tables(3)), grouped=True)
    error = caught.value
    assert error.reason == "ddl_commits" and error.dialect == "mysql"
    assert "commits every DDL statement implicitly" in str(error) and "Nothing was changed" in str(error)
    assert "rolled back" not in str(error).replace("could not roll the run back", "")
    with conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == (), "not even the history table or the journal was created"
    assert run_agent_migrations(conn, registry=registry(tables(3))).versions == (1, 2, 3, 100, 101, 102)
    with pytest.raises(GroupedRunRefusedError):
        run_agent_migrations(conn, registry=registry(tables(4)), grouped=True)  # V103 pending: refused again
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM refinery_schema_history")
        assert cursor.fetchone()[0] == 6
    conn.close()


def test_database_takes_grouped(tmp_path: Path) -> None:
    with pytest.raises(MigrationFailedError):
        Database(tmp_path / "store.sqlite", registry=registry(failing_last(2)), grouped=True)
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    conn.close()
    with Database(tmp_path / "store.sqlite", registry=registry(tables(2)), grouped=True) as database:
        assert database.migration_report.versions == (1, 2, 3, 100, 101)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


def test_migrate_grouped_on_the_command_line(cli: Cli, tmp_path: Path, mariadb_server) -> None:
    broken = {"V300__first": sql_module("CREATE TABLE first_t (id INT);"), "V301__second": sql_module("INSERT INTO missing VALUES (1);")}
    write_agent_distribution(cli.site, "grouped-agent", "grouped", "grouped_agent", broken)
    db = tmp_path / "cli.sqlite"
    failed = cli("migrate", "--grouped", "--agent", "grouped", "--db", str(db))
    assert failed.code == 5, failed.text
    assert "were undone with it" in failed.err
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []
    name = f"grouped_cli_{next(_names)}"
    mariadb_server.create_database(name)
    refused = cli("migrate", "--grouped", "--db", mariadb_server.url(name))
    assert refused.code == 2, refused.text
    assert "commits every DDL statement implicitly" in refused.err and "without --grouped" in refused.err
    applied = cli("migrate", "--grouped", "--agent", "requirements_qna", "--db", str(tmp_path / "ok.sqlite"))
    assert applied.code == 0, applied.text
    assert "done: 4 applied" in applied.out


def test_a_history_row_refused_in_a_grouped_run_is_named_by_its_version_and_nothing_remains(tmp_path: Path) -> None:
    """The rows are written together once the last migration ran (one call on SQLite): the refused one is still named.

    A trigger refuses version 102 only: rows 1-3, 100 and 101 were written
    before it in the same call, and the whole transaction is rolled back.
    """
    conn = sqlite3.connect(tmp_path / "refused.sqlite")
    conn.execute(
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
        "checksum VARCHAR(255), agent VARCHAR(255))"
    )
    conn.execute(
        "CREATE TRIGGER not_102 BEFORE INSERT ON refinery_schema_history WHEN NEW.version = 102 "
        "BEGIN SELECT RAISE(ABORT, 'no 102 here'); END"
    )
    conn.commit()
    from nocodo_agents import HistoryTableError

    with pytest.raises(HistoryTableError, match="refused the row of version 102: no 102 here"):
        run_agent_migrations(conn, registry=registry(tables(5)), grouped=True)
    assert conn.execute("SELECT COUNT(*) FROM refinery_schema_history").fetchone() == (0,)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'g\\_%' ESCAPE '\\'").fetchall() == []
    conn.close()
