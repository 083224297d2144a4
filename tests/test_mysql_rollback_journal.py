"""MySQL rollbacks are journalled like migrations, on the real MariaDB server.

A rollback whose SQL fails part-way keeps its history row and its earlier
statements applied (DDL commits implicitly); the journal remembers that a
rollback was interrupted, every later run and rollback refuses to go on
until ``resolve`` settles it, and ``resolve --applied`` keeps the history row
while ``--absent`` deletes it together with the journal row.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from servers import MariaDBServer
from test_mysql import history, query, tables

from nocodo_agents import DatabaseAccessError, IncompleteMigrationError, MigrationFailedError, ResolveRefusedError
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.dialects.mysql import JOURNAL_TABLE
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import record_as_applied, resolve_unfinished, rollback_migrations
from nocodo_agents.runner import run_agent_migrations

Connection = Any  # pymysql.connections.Connection

_names = itertools.count()

MIGRATION = "CREATE TABLE rj_a (id INT PRIMARY KEY);\nCREATE TABLE rj_b (id INT PRIMARY KEY);"
BROKEN_ROLLBACK = "DROP TABLE rj_b;\nDROP TABLE rj_missing;\nDROP TABLE rj_a;"
GOOD_ROLLBACK = "DROP TABLE rj_b;\nDROP TABLE rj_a;"
#: The journal layout before rollbacks were journalled (no ``direction`` column).
OLD_JOURNAL = (
    f"CREATE TABLE {JOURNAL_TABLE} (version INT PRIMARY KEY, name VARCHAR(255), agent VARCHAR(255), statements INT, "
    "next_statement INT, failed_statement INT NULL, error TEXT NULL, started_on VARCHAR(64)) ENGINE=InnoDB"
)


@pytest.fixture
def database(mariadb_database: str) -> str:
    return mariadb_database


@pytest.fixture
def conn(mariadb_server: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = mariadb_server.connect(database)
    yield connection
    connection.close()


def module(sql: str, rollback: str, transactional: bool = True) -> str:
    text = f"def migration():\n    return {sql!r}\n\n\ndef rollback():\n    return {rollback!r}\n"
    return text if transactional else text + "\ntransactional = False\n"


def agent(agent_package, rollback: str, transactional: bool = True) -> AgentRegistry:
    """Agent ``rj``: V4 creates two tables (undone by ``rollback``), V5 one more."""
    return registry_of(
        rj=agent_package(
            {
                "V4__pair": module(MIGRATION, rollback, transactional),
                "V5__later": module("CREATE TABLE rj_c (id INT PRIMARY KEY);", "DROP TABLE rj_c;"),
            }
        )
    )


def journal(connection: Connection) -> list[tuple[Any, ...]]:
    if JOURNAL_TABLE not in tables(connection):
        return []
    return query(connection, f"SELECT version, name, agent, statements, next_statement, failed_statement, direction FROM {JOURNAL_TABLE}")


def versions(connection: Connection) -> list[int]:
    return [row[0] for row in history(connection)]


def fail_rollback(conn: Connection, registry: AgentRegistry) -> MigrationFailedError:
    """Apply V1-V5, then roll back to 3: V5 goes, V4's rollback fails at its second statement."""
    assert run_agent_migrations(conn, registry=registry).versions == (1, 2, 3, 4, 5)
    with pytest.raises(MigrationFailedError) as raised:
        rollback_migrations(conn, 3, registry=registry)
    return raised.value


@pytest.mark.parametrize("transactional", [True, False])
def test_a_rollback_failing_part_way_is_journalled_and_stops_every_later_run(conn: Connection, agent_package, transactional: bool) -> None:
    registry = agent(agent_package, BROKEN_ROLLBACK, transactional)
    error = fail_rollback(conn, registry)
    assert (error.version, error.phase, error.statement_index, error.rolled_back, error.journalled) == (4, "rollback", 1, False, True)
    text = str(error)
    assert "the rollback of migration V4__pair of agent 'rj'" in text and "statements before the failing one stay applied" in text
    assert "V4 is still recorded as applied" in text and "was rolled back" not in text
    assert "resolve_unfinished(conn, 4, applied=True) (it stays applied: its history row is kept)" in text
    assert "resolve_unfinished(conn, 4, applied=False) (the rollback is complete: its history row is deleted)" in text
    assert "`nocodo-agents resolve 4 --applied` (it stays applied: its history row is kept)" in hint_for(error)
    assert "`nocodo-agents resolve 4 --absent` (the rollback is complete: its history row is deleted)" in hint_for(error)
    assert "rj_a" in tables(conn) and "rj_b" not in tables(conn) and "rj_c" not in tables(conn)
    assert versions(conn) == [1, 2, 3, 4]
    assert journal(conn) == [(4, "pair", "rj", 3, 1, 1, "rollback")]

    before = (tables(conn), history(conn), journal(conn))
    for attempt in (
        lambda: run_agent_migrations(conn, registry=registry),  # V5 is pending again
        lambda: run_agent_migrations(conn, registry=registry, dry_run=True),
        lambda: rollback_migrations(conn, 3, registry=registry),
        lambda: rollback_migrations(conn, 3, registry=registry, dry_run=True),
        lambda: record_as_applied(conn, registry=registry),
    ):
        with pytest.raises(IncompleteMigrationError) as stopped:
            attempt()
        assert (stopped.value.version, stopped.value.direction, stopped.value.failed_index) == (4, "rollback", 1)
        assert exit_code_for(stopped.value) == ExitCode.MIGRATION_FAILED
        assert (tables(conn), history(conn), journal(conn)) == before
    message = str(stopped.value)
    assert "the rollback of migration V4__pair of agent 'rj' stopped part-way" in message
    assert "statement 2 of 3 of its rollback() failed" in message and "statement 1 stays applied" in message
    assert "V4 is still recorded as applied" in message
    assert "resolve_unfinished(conn, 4, applied=True) (the migration stays applied: its history row is kept)" in message
    assert "resolve_unfinished(conn, 4, applied=False) (the rollback is complete: its history row is deleted)" in message
    hint = hint_for(stopped.value)
    assert "`nocodo-agents resolve 4 --applied` (the migration stays applied: its history row is kept)" in hint
    assert "`nocodo-agents resolve 4 --absent` (the rollback is complete: its history row is deleted)" in hint


def test_resolve_absent_completes_the_rollback(conn: Connection, agent_package) -> None:
    registry = agent(agent_package, BROKEN_ROLLBACK)
    fail_rollback(conn, registry)
    query(conn, "DROP TABLE rj_a")  # the operator finishes the rollback by hand...
    assert resolve_unfinished(conn, 4, applied=False, registry=registry) is None  # ...and says so
    assert versions(conn) == [1, 2, 3] and journal(conn) == []
    fixed = agent(agent_package, GOOD_ROLLBACK)
    assert run_agent_migrations(conn, registry=fixed).versions == (4, 5)
    assert {"rj_a", "rj_b", "rj_c"} <= tables(conn)


def test_resolve_applied_keeps_the_migration_applied(conn: Connection, agent_package) -> None:
    registry = agent(agent_package, BROKEN_ROLLBACK)
    fail_rollback(conn, registry)
    query(conn, "CREATE TABLE rj_b (id INT PRIMARY KEY)")  # the operator restores V4's schema by hand
    row = resolve_unfinished(conn, 4, applied=True, registry=registry)
    assert row is not None and (row.version, row.name, row.agent) == (4, "pair", "rj")
    assert versions(conn) == [1, 2, 3, 4] and journal(conn) == []
    fixed = agent(agent_package, GOOD_ROLLBACK)
    assert [step.version for step in rollback_migrations(conn, 3, registry=fixed).rolled_back] == [4]
    assert not {"rj_a", "rj_b"} & tables(conn) and versions(conn) == [1, 2, 3] and journal(conn) == []


def test_the_history_row_and_the_journal_row_go_in_one_transaction(conn: Connection, agent_package) -> None:
    """Make the journal row's deletion fail after the history row's: neither may be committed alone."""
    registry = agent(agent_package, GOOD_ROLLBACK)
    run_agent_migrations(conn, registry=registry)
    query(
        conn,
        f"CREATE TRIGGER rj_keep_journal BEFORE DELETE ON {JOURNAL_TABLE} FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal row kept'",
    )
    with pytest.raises(DatabaseAccessError, match="the server reported: journal row kept"):
        rollback_migrations(conn, 4, registry=registry)  # V5: its statements run, then the bookkeeping fails
    assert "rj_c" not in tables(conn)
    assert versions(conn) == [1, 2, 3, 4, 5], "the history row's deletion was not committed without the journal's"
    assert journal(conn) == [(5, "later", "rj", 1, 0, None, "rollback")]
    query(conn, "DROP TRIGGER rj_keep_journal")
    with pytest.raises(IncompleteMigrationError) as stopped:
        rollback_migrations(conn, 4, registry=registry)
    assert stopped.value.direction == "rollback" and "may or may not have taken effect" in str(stopped.value)
    resolve_unfinished(conn, 5, applied=False, registry=registry)
    assert versions(conn) == [1, 2, 3, 4] and journal(conn) == []


def test_a_journal_table_from_an_earlier_release_is_read_and_upgraded_under_the_lock(conn: Connection, agent_package) -> None:
    registry = agent(agent_package, BROKEN_ROLLBACK)
    query(conn, OLD_JOURNAL)
    assert run_agent_migrations(conn, registry=AgentRegistry([])).versions == (1, 2, 3)  # upgrades the table
    assert "direction" in {r[0] for r in query(conn, f"SHOW COLUMNS FROM {JOURNAL_TABLE}")}
    assert journal(conn) == []

    # A database where an earlier release left a forward migration unfinished, in its old table.
    query(conn, f"DROP TABLE {JOURNAL_TABLE}")
    query(conn, OLD_JOURNAL)
    query(
        conn,
        f"INSERT INTO {JOURNAL_TABLE} VALUES (4, 'pair', 'rj', 2, 1, 1, 'old failure', '2024-01-01T00:00:00Z')",
    )
    for dry_run in (True, False):
        with pytest.raises(IncompleteMigrationError) as stopped:
            run_agent_migrations(conn, registry=registry, dry_run=dry_run)
        assert (stopped.value.version, stopped.value.direction) == (4, "migration")
        assert "migration V4__pair of agent 'rj' stopped part-way" in str(stopped.value)
    assert "direction" not in {r[0] for r in query(conn, f"SHOW COLUMNS FROM {JOURNAL_TABLE}")}, "a refused run changes nothing"
    query(conn, "CREATE TABLE rj_a (id INT PRIMARY KEY)")
    assert resolve_unfinished(conn, 4, applied=False, registry=registry) is None
    query(conn, "DROP TABLE rj_a")
    fail_rollback_after = run_agent_migrations(conn, registry=registry)
    assert fail_rollback_after.versions == (4, 5)
    with pytest.raises(MigrationFailedError):
        rollback_migrations(conn, 3, registry=registry)
    assert journal(conn) == [(4, "pair", "rj", 3, 1, 1, "rollback")]


def test_resolve_refuses_with_a_named_error(conn: Connection, agent_package) -> None:
    registry = agent(agent_package, GOOD_ROLLBACK)
    run_agent_migrations(conn, registry=registry)
    with pytest.raises(ResolveRefusedError) as nothing:
        resolve_unfinished(conn, 4, applied=True, registry=registry)
    assert isinstance(nothing.value, ValueError) and exit_code_for(nothing.value) == ExitCode.USAGE
    assert str(nothing.value) == (
        "cannot resolve V4: it is not an unfinished migration or rollback (the journal holds nothing). Nothing was changed."
    )
    broken = registry_of(rj=agent_package({"V6__half": "CREATE TABLE rj_half (id INT);\nINSERT INTO rj_nowhere VALUES (1);"}))
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(conn, registry=broken)
    with pytest.raises(ResolveRefusedError, match="V6: it is not installed"):
        resolve_unfinished(conn, 6, applied=True, registry=AgentRegistry([]))
    assert journal(conn) == [(6, "half", "rj", 2, 1, 1, "migration")] and versions(conn) == [1, 2, 3, 4, 5]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


def test_an_interrupted_rollback_through_the_command_line(cli: Cli, mariadb_server: MariaDBServer) -> None:
    name = f"rj_cli_{next(_names)}_{uuid.uuid4().hex[:6]}"
    mariadb_server.create_database(name)
    url = mariadb_server.url(name)
    write_agent_distribution(cli.site, "rj-agent", "rj", "rj_agent", {"V300__pair": sql_module(MIGRATION, rollback=BROKEN_ROLLBACK)})
    assert cli("migrate", "--agent", "rj", "--db", url).code == 0
    failed = cli("rollback", "--to", "3", "--agent", "rj", "--db", url)
    assert failed.code == 5, failed.text
    assert "the rollback of migration V300__pair" in failed.err and "V300 is still recorded as applied" in failed.err
    again = cli("rollback", "--to", "3", "--agent", "rj", "--db", url)
    assert again.code == 5 and "the rollback of migration V300__pair of agent 'rj' stopped part-way" in again.err
    assert "resolve 300 --absent` (the rollback is complete" in again.err
    operator = mariadb_server.connect(name)  # the operator finishes the rollback by hand...
    query(operator, "DROP TABLE rj_a")
    operator.close()
    resolved = cli("resolve", "300", "--absent", "--agent", "rj", "--db", url)  # ...and says so
    assert resolved.code == 0 and "V300 recorded as absent" in resolved.out, resolved.text
    states = {row["version"]: row["state"] for row in json.loads(cli("status", "--json", "--agent", "rj", "--db", url).out)}
    assert states[300] == "pending"
    nothing = cli("resolve", "300", "--absent", "--db", url)
    assert nothing.code == 2 and "cannot resolve V300: it is not an unfinished migration or rollback" in nothing.err
    assert "Traceback" not in nothing.err
