"""MySQL's bookkeeping tables, whatever the server's defaults, on a real MariaDB server.

A private server runs for this module with ``default_storage_engine=MyISAM``
and ``character_set_server=latin1``, the defaults that made the history table
non-transactional and the journal unable to store a non-latin1 error. The
history table and the journal are created InnoDB and utf8mb4; a history table
another engine holds is refused before anything is written (with the exact
``ALTER TABLE``); a journal an earlier release made is converted under the lock;
an error text survives any connection character set; and a version that is
both journalled and recorded is never taken as applied: every command sees the
journal, ``status`` shows it ``unfinished`` (``--check`` exits 7).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from servers import MariaDBServer
from test_mysql import history, query, tables

from nocodo_agents import BookkeepingTableError, IncompleteMigrationError, MigrationFailedError
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.dialects.mysql import JOURNAL_TABLE
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import record_as_applied, resolve_unfinished, rollback_migrations, verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import PENDING, UNFINISHED, migration_status

Connection = Any  # pymysql.connections.Connection

HISTORY = "refinery_schema_history"
#: The server's error for a SIGNAL with this text, as PyMySQL reports it on a utf8mb4 connection.
NON_LATIN1 = "Ошибка ✗ café"
FAILING = f"CREATE TABLE bk_a (id INT PRIMARY KEY);\nSIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{NON_LATIN1}';"
#: The journal as a release before this one created it on such a server: the server's defaults.
OLD_JOURNAL = (
    f"CREATE TABLE {JOURNAL_TABLE} (version INT PRIMARY KEY, name VARCHAR(255), agent VARCHAR(255), statements INT, "
    "next_statement INT, failed_statement INT NULL, error TEXT NULL, started_on VARCHAR(64))"
)

_names = itertools.count()


@pytest.fixture(scope="module")
def defaults_server() -> Iterator[MariaDBServer]:
    """A MariaDB server whose defaults are the hostile ones: MyISAM tables, latin1 text."""
    server = MariaDBServer(
        ["--default-storage-engine=MyISAM", "--character-set-server=latin1", "--collation-server=latin1_swedish_ci"]
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def database(defaults_server: MariaDBServer) -> Iterator[str]:
    name = f"nocodo_bk_{next(_names)}_{uuid.uuid4().hex[:8]}"
    defaults_server.create_database(name)
    yield name
    admin = defaults_server.connect()
    try:
        query(admin, f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


@pytest.fixture
def conn(defaults_server: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = defaults_server.connect(database)
    yield connection
    connection.close()


def storage(connection: Connection) -> dict[str, tuple[str, str]]:
    """``{table: (engine, collation)}`` of the current database."""
    return {
        row[0]: (row[1], row[2])
        for row in query(
            connection,
            "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
    }


def journal(connection: Connection) -> list[tuple[Any, ...]]:
    if JOURNAL_TABLE not in tables(connection):
        return []
    return query(connection, f"SELECT version, next_statement, failed_statement, error, direction FROM {JOURNAL_TABLE}")


def versions(connection: Connection) -> list[int]:
    return [row[0] for row in history(connection)]


def failing_agent(agent_package, sql: str = FAILING) -> AgentRegistry:
    return registry_of(bk=agent_package({"V4__broken": sql}))


def test_the_server_defaults_are_the_hostile_ones(conn: Connection) -> None:
    query(conn, "CREATE TABLE bk_probe (id INT)")
    assert storage(conn)["bk_probe"] == ("MyISAM", "latin1_swedish_ci")


def test_history_and_journal_are_created_innodb_utf8mb4(conn: Connection, agent_package) -> None:
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(conn, registry=failing_agent(agent_package))
    found = storage(conn)
    assert found[HISTORY] == ("InnoDB", found[HISTORY][1]) and found[HISTORY][1].startswith("utf8mb4_")
    assert found[JOURNAL_TABLE][0] == "InnoDB" and found[JOURNAL_TABLE][1].startswith("utf8mb4_")
    assert found["bk_a"][0] == "MyISAM", "a migration's own tables keep the server's defaults"
    columns = query(
        conn,
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (HISTORY,),
    )
    assert columns == [
        ("version", "int(11)"), ("name", "varchar(255)"), ("applied_on", "varchar(255)"),
        ("checksum", "varchar(255)"), ("agent", "varchar(255)"),
    ], "refinery's layout, as refinery reads it"


@pytest.mark.parametrize("charset", ["utf8mb4", "latin1"])
def test_a_non_latin1_error_is_journalled_and_reported_as_it_was(
    defaults_server: MariaDBServer, database: str, agent_package, charset: str
) -> None:
    """The journal stores the error whatever the connection's character set, and the next run quotes it."""
    conn = pymysql.connect(
        host=defaults_server.host, port=defaults_server.port, user="root", password="", database=database, charset=charset
    )
    try:
        # On a latin1 connection the SQL must be latin1 too; the server's reply then reaches PyMySQL in latin1,
        # which it decodes as UTF-8 with replacement characters: text a latin1 column could not store either.
        sql = FAILING if charset == "utf8mb4" else FAILING.replace(NON_LATIN1, "café")
        registry = failing_agent(agent_package, sql)
        with pytest.raises(MigrationFailedError) as failed:
            run_agent_migrations(conn, registry=registry)
        reported = str(failed.value.__cause__)
        assert (NON_LATIN1 if charset == "utf8mb4" else "caf\ufffd") in reported
        with pytest.raises(IncompleteMigrationError) as stopped:
            run_agent_migrations(conn, registry=registry)
        assert stopped.value.error == reported, "the next run quotes the error exactly"
        assert "may or may not have taken effect" not in str(stopped.value), "not blamed on a lost connection"
        assert reported in str(stopped.value)
        [row] = migration_status(conn, registry=registry)[3:]
        assert row.state == UNFINISHED and reported in (row.detail or "")
    finally:
        conn.close()


@pytest.mark.parametrize("engine", ["MyISAM", "Aria", "MEMORY"])
def test_a_history_table_that_is_not_transactional_is_refused_before_anything_is_written(
    conn: Connection, agent_package, engine: str
) -> None:
    registry = registry_of(bk=agent_package({"V4__more": "CREATE TABLE bk_more (id INT PRIMARY KEY);"}))
    assert run_agent_migrations(conn, registry=AgentRegistry([])).versions == (1, 2, 3)
    query(conn, f"ALTER TABLE {HISTORY} ENGINE={engine}")  # as an earlier release or refinery made it here
    assert storage(conn)[HISTORY][0] == engine

    # Reading is safe: the no-op path and status work as before.
    assert run_agent_migrations(conn, registry=AgentRegistry([])).applied == ()
    assert [row.state for row in migration_status(conn, registry=registry)] == ["applied"] * 3 + [PENDING]

    before = (tables(conn), history(conn), journal(conn))
    for attempt in (
        lambda: run_agent_migrations(conn, registry=registry),
        lambda: record_as_applied(conn, registry=registry),
        lambda: rollback_migrations(conn, 2, registry=AgentRegistry([])),
    ):
        with pytest.raises(BookkeepingTableError) as refused:
            attempt()
        error = refused.value
        assert (error.table, error.engine, error.fix) == (HISTORY, engine, f"ALTER TABLE {HISTORY} ENGINE=InnoDB")
        assert exit_code_for(error) == ExitCode.VERIFICATION_FAILED
        assert (tables(conn), history(conn), journal(conn)) == before, "nothing was written"
    message = str(error)
    assert f"the bookkeeping table {HISTORY} in mysql://root@" in message
    assert f"uses the {engine} storage engine, which is not transactional" in message
    assert f"`ALTER TABLE {HISTORY} ENGINE=InnoDB`" in message and "Nothing was changed" in message

    query(conn, error.fix)  # the operator follows the message
    assert run_agent_migrations(conn, registry=registry).versions == (4,)
    assert versions(conn) == [1, 2, 3, 4]


def test_a_journal_made_with_the_server_defaults_is_converted_under_the_lock(conn: Connection, agent_package) -> None:
    query(conn, OLD_JOURNAL)
    assert storage(conn)[JOURNAL_TABLE] == ("MyISAM", "latin1_swedish_ci")
    registry = failing_agent(agent_package)
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(conn, registry=registry)
    engine, collation = storage(conn)[JOURNAL_TABLE]
    assert engine == "InnoDB" and collation.startswith("utf8mb4_")
    assert journal(conn) == [(4, 1, 1, f"(1644, '{NON_LATIN1}')", "migration")]
    with pytest.raises(IncompleteMigrationError) as stopped:
        run_agent_migrations(conn, registry=registry)
    assert stopped.value.error == f"(1644, '{NON_LATIN1}')"


def applied_with_an_empty_journal(conn: Connection, agent_package) -> None:
    """V1-V3 applied, and the journal created (by a failure, resolved) and empty."""
    run_agent_migrations(conn, registry=AgentRegistry([]))
    broken = registry_of(bk=agent_package({"V9__broken": "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no';"}))
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(conn, registry=broken)
    resolve_unfinished(conn, 9, applied=False, registry=broken)
    assert versions(conn) == [1, 2, 3] and JOURNAL_TABLE in tables(conn) and journal(conn) == []


@pytest.fixture
def journalled_and_recorded(conn: Connection, agent_package) -> Connection:
    """What a run killed between the history insert and its commit left when the history was MyISAM.

    The history row was committed on its own; the journal row (InnoDB) was
    not deleted: V3 is both recorded and journalled.
    """
    applied_with_an_empty_journal(conn, agent_package)
    query(
        conn,
        f"INSERT INTO {JOURNAL_TABLE} (version, name, agent, statements, next_statement, failed_statement, error, "
        f"started_on, direction) VALUES (3, 'create_agent_tool_calls', 'core', 1, 0, NULL, NULL, "
        f"'2024-01-01T00:00:00Z', 'migration')",
    )
    assert versions(conn) == [1, 2, 3] and journal(conn) == [(3, 0, None, None, "migration")]
    return conn


def test_a_version_journalled_and_recorded_is_never_taken_as_applied(journalled_and_recorded: Connection) -> None:
    conn = journalled_and_recorded
    core = AgentRegistry([])
    before = (tables(conn), history(conn), journal(conn))
    for attempt in (
        lambda: run_agent_migrations(conn, registry=core),  # nothing pending: the no-op path
        lambda: run_agent_migrations(conn, registry=core, dry_run=True),
        lambda: rollback_migrations(conn, 3, registry=core),  # nothing to roll back
        lambda: rollback_migrations(conn, 2, registry=core, dry_run=True),
        lambda: record_as_applied(conn, registry=core),
    ):
        with pytest.raises(IncompleteMigrationError) as stopped:
            attempt()
        assert (stopped.value.version, stopped.value.direction) == (3, "migration")
        assert (tables(conn), history(conn), journal(conn)) == before

    rows = migration_status(conn, registry=core)
    assert [row.state for row in rows] == ["applied", "applied", UNFINISHED]
    assert rows[2].applied_on is not None and "resolve_unfinished(conn, 3, applied=True)" in (rows[2].detail or "")
    report = verify_database(conn, registry=core)
    assert not report.ok and report.unfinished is not None and report.unfinished.version == 3 and report.pending == ()

    # resolve --absent and status agree: the history row goes with the journal row, V3 is pending.
    assert resolve_unfinished(conn, 3, applied=False, registry=core) is None
    assert versions(conn) == [1, 2] and journal(conn) == []
    assert [row.state for row in migration_status(conn, registry=core)] == ["applied", "applied", PENDING]


def test_the_no_op_path_reads_the_journal_with_the_history(conn: Connection, agent_package) -> None:
    applied_with_an_empty_journal(conn, agent_package)
    again = run_agent_migrations(conn, registry=AgentRegistry([]))
    # DATABASE() with @@in_transaction, autocommit on, history and journal shape, history and journal rows,
    # autocommit off: the journal costs no statement
    assert again.applied == () and again.statements == 5


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


def test_status_shows_an_unfinished_migration_and_check_exits_7(cli: Cli, defaults_server: MariaDBServer) -> None:
    name = f"nocodo_bk_cli_{next(_names)}_{uuid.uuid4().hex[:6]}"
    defaults_server.create_database(name)
    url = defaults_server.url(name)
    write_agent_distribution(cli.site, "bk-agent", "bk", "bk_agent", {"V300__broken": sql_module(FAILING)})
    failed = cli("migrate", "--agent", "bk", "--db", url)
    assert failed.code == 5, failed.text

    shown = cli("status", "--agent", "bk", "--db", url)
    assert shown.code == 0, shown.text
    assert "unfinished" in shown.out and "pending" not in shown.out.replace("unfinished", "")
    assert "nocodo-agents resolve 300 --applied" in shown.out and NON_LATIN1 in shown.out
    rows = {row["version"]: row for row in json.loads(cli("status", "--json", "--agent", "bk", "--db", url).out)}
    assert rows[300]["state"] == "unfinished" and rows[300]["applied_on"] is None
    assert "resolve_unfinished(conn, 300, applied=False)" in rows[300]["detail"]
    assert "`nocodo-agents resolve 300 --absent`" in rows[300]["hint"]
    check = cli("status", "--check", "--agent", "bk", "--db", url)
    assert check.code == ExitCode.UNFINISHED == 7, check.text
    verified = cli("verify", "--agent", "bk", "--db", url)
    assert verified.code == 7 and "unfinished: V300" in verified.out, verified.text
    verified_json = json.loads(cli("verify", "--json", "--agent", "bk", "--db", url).out)
    assert verified_json["ok"] is False and verified_json["unfinished"]["version"] == 300

    operator = defaults_server.connect(name)
    query(operator, "DROP TABLE bk_a")  # the operator undoes it by hand...
    operator.close()
    assert cli("resolve", "300", "--absent", "--agent", "bk", "--db", url).code == 0  # ...and says so
    states = {row["version"]: row["state"] for row in json.loads(cli("status", "--json", "--agent", "bk", "--db", url).out)}
    assert states[300] == "pending"
    assert cli("status", "--check", "--agent", "bk", "--db", url).code == ExitCode.PENDING
