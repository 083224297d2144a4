"""Transaction control inside a migration's SQL never escapes the runner's transaction.

The classifier is tested alone first; then, on a real SQLite file, the
private PostgreSQL server and the private MariaDB server: every kind of
statement that would end or escape the runner's transaction is refused
before anything of the run is applied (the database and its history stay
exactly as they were), in migrations, rollbacks, dry runs, verify and the
console script; a rerun after fixing the file applies it. Savepoints of the
migration's own and compound ``BEGIN ... END`` blocks still work. Finally
the defence behind the classifier: if a statement ends the transaction
anyway, the error says so and never claims a rollback.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from fresh_database import fresh_database_url

from nocodo_agents import (
    InvalidMigrationError,
    MigrationFailedError,
    TransactionControlError,
    TransactionEndedError,
    execution,
)
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import record_as_applied, rollback_migrations, verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.schema.split import split_statements
from nocodo_agents.schema.transaction_control import classify, find_transaction_control

# -- the classifier alone -----------------------------------------------------------------------

REFUSED = [
    ("sqlite", "COMMIT;", "commit"),
    ("sqlite", "END TRANSACTION;", "commit"),
    ("sqlite", "rollback transaction;", "rollback"),
    ("sqlite", "BEGIN IMMEDIATE;", "begin"),
    ("sqlite", "-- a comment first\n/* and a block */ BEGIN;", "begin"),
    ("postgresql", "END", "commit"),
    ("postgresql", "ABORT WORK", "rollback"),
    ("postgresql", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "begin"),
    ("postgresql", "BEGIN ISOLATION LEVEL READ COMMITTED", "begin"),
    ("postgresql", "COMMIT AND CHAIN", "commit"),
    ("postgresql", "ROLLBACK AND CHAIN", "rollback"),
    ("postgresql", "PREPARE TRANSACTION 'x'", "two_phase"),
    ("postgresql", "COMMIT PREPARED 'x'", "two_phase"),
    ("postgresql", "ROLLBACK PREPARED 'x'", "two_phase"),
    ("mysql", "BEGIN WORK", "begin"),
    ("mysql", "START TRANSACTION READ ONLY", "begin"),
    ("mysql", "COMMIT AND NO CHAIN RELEASE", "commit"),
    ("mysql", "SET autocommit = 0", "session_mode"),
    ("mysql", "SET @@SESSION.autocommit=1", "session_mode"),
    ("mysql", "SET sql_mode = '', LOCAL autocommit := OFF", "session_mode"),
    ("mysql", "SET completion_type = 'RELEASE'", "session_mode"),
    ("mysql", "LOCK TABLES t WRITE", "lock_tables"),
    ("mysql", "UNLOCK TABLES", "lock_tables"),
    ("mysql", "XA START 'x'", "xa"),
    ("mysql", "/*!50000 COMMIT */", "commit"),
    ("mysql", "/*M!100100 ROLLBACK */", "rollback"),
    ("mysql", "# a hash comment\nCOMMIT", "commit"),
]

NOT_CONTROL = [
    ("sqlite", "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (1); END;"),
    ("sqlite", "INSERT INTO log VALUES ('COMMIT');"),
    ("sqlite", "CREATE TABLE \"commit\" (id INTEGER);"),
    ("postgresql", "DO $$ BEGIN COMMIT; END $$"),
    ("postgresql", "CREATE FUNCTION f() RETURNS INT LANGUAGE SQL BEGIN ATOMIC SELECT 1; END"),
    ("postgresql", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
    ("postgresql", "PREPARE q AS SELECT 1"),
    ("postgresql", "SET autocommit = off"),  # not a PostgreSQL setting: the server refuses it itself
    ("mysql", "BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END"),
    ("mysql", "CREATE PROCEDURE p() BEGIN COMMIT; END"),
    ("mysql", "PREPARE s FROM 'COMMIT'"),
    ("mysql", "SET @note = 'autocommit=0'"),
    ("mysql", "SET GLOBAL max_connections = 10"),
    ("mysql", "/* COMMIT */ SELECT 1"),
]


@pytest.mark.parametrize("dialect,statement,kind", REFUSED)
def test_transaction_control_statements_are_recognised(dialect: str, statement: str, kind: str) -> None:
    assert classify(statement, dialect)[0] == kind
    found = find_transaction_control(["SELECT 1", statement], dialect)
    assert found is not None and (found.index, found.kind) == (1, kind)


@pytest.mark.parametrize("dialect,statement", NOT_CONTROL)
def test_blocks_and_look_alikes_are_not_transaction_control(dialect: str, statement: str) -> None:
    assert classify(statement, dialect) == (None, None)
    assert find_transaction_control([statement], dialect) is None


def test_savepoints_of_the_migrations_own_are_followed_in_order() -> None:
    own = ["SAVEPOINT a", "SAVEPOINT b", "ROLLBACK TO SAVEPOINT a", "RELEASE SAVEPOINT A", "SAVEPOINT \"Q\"", "RELEASE \"Q\""]
    assert find_transaction_control(own, "postgresql") is None
    assert find_transaction_control(own, "sqlite") is None
    after_rollback_to = find_transaction_control(["SAVEPOINT a", "SAVEPOINT b", "ROLLBACK TO a", "RELEASE b"], "postgresql")
    assert after_rollback_to is not None and (after_rollback_to.index, after_rollback_to.kind) == (3, "unknown_savepoint")
    released = find_transaction_control(["SAVEPOINT a", "RELEASE a", "ROLLBACK TO a"], "sqlite")
    assert released is not None and (released.index, released.kind) == (2, "unknown_savepoint")
    quoted = find_transaction_control(['SAVEPOINT "Q"', "RELEASE q"], "postgresql")
    assert quoted is not None and quoted.kind == "unknown_savepoint"
    outside = find_transaction_control(["SAVEPOINT a", "RELEASE a"], "sqlite", transactional=False)
    assert outside is not None and (outside.index, outside.kind) == (0, "savepoint_outside")
    mysql = find_transaction_control(["SAVEPOINT a"], "mysql")
    assert mysql is not None and mysql.kind == "savepoint_mysql"


def test_the_mysql_splitter_keeps_a_mariadb_block_in_one_statement() -> None:
    sql = "BEGIN NOT ATOMIC\n  INSERT INTO t VALUES (1);\n  IF 1 THEN SELECT 1; END IF;\nEND;\nCOMMIT;"
    statements = split_statements(sql, "mysql")
    assert len(statements) == 2 and statements[0].endswith("END IF;\nEND") and statements[1] == "COMMIT"
    assert [classify(s, "mysql")[0] for s in statements] == [None, "commit"]


def test_the_mysql_splitter_keeps_a_statement_made_only_of_an_executable_comment() -> None:
    """MySQL runs the text of ``/*! ... */``: such a statement was dropped as a comment, now it is checked and run."""
    assert split_statements("/*!40101 SET NAMES utf8mb4 */;\n/* plain */;\n/*!50000 COMMIT */;", "mysql") == [
        "/*!40101 SET NAMES utf8mb4 */",
        "/*!50000 COMMIT */",
    ]
    assert split_statements("/*!50000 COMMIT */;", "postgresql") == []


# -- on real databases ------------------------------------------------------------------------


class Target:
    """One database of one dialect: how to connect to it and how to read back all of its state."""

    def __init__(self, dialect: str, connect: Callable[[], Any]) -> None:
        self.dialect = dialect
        self._connect = connect
        self._open: list[Any] = []

    def connect(self) -> Any:
        connection = self._connect()
        self._open.append(connection)
        return connection

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read on a connection of its own (committed state only)."""
        connection = self._connect()
        try:
            if self.dialect == "sqlite":
                return [tuple(r) for r in connection.execute(sql).fetchall()]
            cursor = connection.cursor()
            cursor.execute(sql)
            rows = [tuple(r) for r in cursor.fetchall()]
            connection.rollback()
            return rows
        finally:
            connection.close()

    def tables(self) -> set[str]:
        sql = {
            "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            "mysql": "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        }[self.dialect]
        return {str(r[0]) for r in self.rows(sql)}

    def snapshot(self) -> tuple[Any, ...]:
        """Every table, every history row, and (MySQL) every journal row: the state a refused run must not change."""
        tables = self.tables()
        history = self.rows("SELECT version, name, checksum, agent FROM refinery_schema_history ORDER BY version") if "refinery_schema_history" in tables else []
        journal = self.rows("SELECT * FROM nocodo_agents_migration_journal") if "nocodo_agents_migration_journal" in tables else []
        contents = {t: sorted(self.rows(f"SELECT * FROM {t}")) for t in tables if t.startswith("tc_")}
        return (sorted(tables), history, journal, contents)

    def close(self) -> None:
        for connection in self._open:
            connection.close()


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    dialect = request.param
    if dialect == "sqlite":
        path = tmp_path / "tc.sqlite"
        made = Target("sqlite", lambda: sqlite3.connect(path))
    elif dialect == "postgresql":
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"tc_{uuid.uuid4().hex[:10]}"
        server.create_database(name)
        made = Target("postgresql", lambda: psycopg.connect(server.dsn(name)))
    else:
        server = request.getfixturevalue("mariadb_server")
        name = f"tc_{uuid.uuid4().hex[:10]}"
        server.create_database(name)
        made = Target("mysql", lambda: server.connect(name))
    yield made
    made.close()


ALL = ["sqlite", "postgresql", "mysql"]
TRANSACTIONAL_DDL = ["sqlite", "postgresql"]

FIRST = "CREATE TABLE tc_first (id INT PRIMARY KEY);"
BAD = """
CREATE TABLE tc_before (id INT PRIMARY KEY);
INSERT INTO tc_before VALUES (1);
-- the statement under test, after a comment
{statement};
CREATE TABLE tc_after (id INT PRIMARY KEY);
"""


def assert_a_run_is_refused_before_anything_is_applied(
    target: Target,
    agent_package: Callable[..., str],
    statement: str,
    refusal: type[InvalidMigrationError],
    advice: Callable[[Any], Sequence[str]],
) -> None:
    """A run of V100 and V101 (``statement`` as V101's statement 3) is refused with ``refusal`` before anything runs, dry run
    or not, its message naming the migration, the statement and what ``advice(error)`` lists; with ``SELECT 1`` both apply."""
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))  # V1-V3: the database has history
    before = target.snapshot()
    registry = registry_of(tc=agent_package({"V100__first": FIRST, "V101__bad": BAD.format(statement=statement)}))
    with pytest.raises(refusal) as raised:
        run_agent_migrations(conn, registry=registry)
    error = raised.value
    assert (error.version, error.name, error.agent, error.statement_index, error.phase) == (101, "bad", "tc", 2, "migration")
    assert error.source.endswith("V101__bad.py") and statement in error.statement
    assert isinstance(error, InvalidMigrationError) and exit_code_for(error) == ExitCode.MIGRATION_FAILED
    text = str(error)
    for part in ("V101__bad", "'tc'", error.distribution, error.source, "statement 3", statement, "None of its statements ran", *advice(error)):
        assert part in text
    assert "rolled back" not in text
    assert target.snapshot() == before, "nothing ran, not even V100 before it: the whole run is checked first"
    with pytest.raises(refusal):
        run_agent_migrations(conn, registry=registry, dry_run=True)
    assert target.snapshot() == before

    fixed = registry_of(tc=agent_package({"V100__first": FIRST, "V101__bad": BAD.format(statement="SELECT 1")}))
    assert run_agent_migrations(conn, registry=fixed).versions == (100, 101)
    assert {"tc_first", "tc_before", "tc_after"} <= target.tables()

CONTROL = {
    "sqlite": ["COMMIT", "END TRANSACTION", "ROLLBACK", "BEGIN", "BEGIN IMMEDIATE", "ROLLBACK TO SAVEPOINT nowhere", "RELEASE nowhere"],
    "postgresql": [
        "COMMIT", "END", "ROLLBACK", "ABORT", "BEGIN", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "COMMIT AND CHAIN",
        "PREPARE TRANSACTION 'nocodo_tc'", "COMMIT PREPARED 'nocodo_tc'", "ROLLBACK TO SAVEPOINT nowhere",
        "RELEASE SAVEPOINT nowhere",
    ],
    "mysql": [
        "COMMIT", "ROLLBACK", "BEGIN", "BEGIN WORK", "START TRANSACTION", "COMMIT AND CHAIN", "SET autocommit = 0",
        "SET @@SESSION.autocommit = 1", "SET completion_type = 'RELEASE'", "LOCK TABLES tc_before WRITE", "UNLOCK TABLES",
        "XA START 'nocodo_tc'", "/*!50000 COMMIT */", "SAVEPOINT tc_point",
    ],
}


@pytest.mark.parametrize(
    "target,statement", [(d, s) for d in ALL for s in CONTROL[d]], indirect=["target"]
)
def test_a_run_with_transaction_control_is_refused_before_anything_is_applied(target: Target, statement: str, agent_package) -> None:
    assert_a_run_is_refused_before_anything_is_applied(
        target, agent_package, statement, TransactionControlError, lambda error: ("transactional = False", "split it")
    )


@pytest.mark.parametrize("target", ALL, indirect=True)
def test_a_rollback_with_transaction_control_is_refused_before_anything_is_undone(target: Target, agent_package) -> None:
    conn = target.connect()
    bad = agent_package({"V100__first": f"def migration():\n    return {FIRST!r}\n\n\ndef rollback():\n    return 'DROP TABLE tc_first;\\nCOMMIT;'\n"})
    run_agent_migrations(conn, registry=registry_of(tc=bad))
    before = target.snapshot()
    for dry_run in (True, False):
        with pytest.raises(TransactionControlError) as raised:
            rollback_migrations(conn, 3, registry=registry_of(tc=bad), dry_run=dry_run)
        assert (raised.value.version, raised.value.phase, raised.value.statement_index) == (100, "rollback", 1)
        assert "the rollback() of migration V100__first" in str(raised.value)
        assert target.snapshot() == before
    fixed = agent_package({"V100__first": f"def migration():\n    return {FIRST!r}\n\n\ndef rollback():\n    return 'DROP TABLE tc_first;'\n"})
    assert [step.version for step in rollback_migrations(conn, 3, registry=registry_of(tc=fixed)).rolled_back] == [100]
    assert "tc_first" not in target.tables()


@pytest.mark.parametrize("target", TRANSACTIONAL_DDL, indirect=True)
@pytest.mark.parametrize(
    "sql,kind",
    [
        ("CREATE TABLE tc_before (id INT PRIMARY KEY);\nBEGIN;\nINSERT INTO tc_before VALUES (1);\nCOMMIT;", "begin"),
        ("CREATE TABLE tc_before (id INT PRIMARY KEY);\nSAVEPOINT s;\nRELEASE SAVEPOINT s;", "savepoint_outside"),
    ],
)
def test_a_non_transactional_migration_may_not_control_transactions_either(target: Target, sql: str, kind: str, agent_package) -> None:
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    before = target.snapshot()
    registry = registry_of(tc=agent_package({"V100__outside": f"def migration():\n    return {sql!r}\n\ntransactional = False\n"}))
    with pytest.raises(TransactionControlError) as raised:
        run_agent_migrations(conn, registry=registry)
    assert raised.value.statement_index == 1
    if kind == "savepoint_outside":
        assert "declared `transactional = False`" in str(raised.value)
    assert target.snapshot() == before


@pytest.mark.parametrize("target", TRANSACTIONAL_DDL, indirect=True)
def test_savepoints_of_the_migrations_own_work_and_keep_it_atomic(target: Target, agent_package) -> None:
    conn = target.connect()
    own = (
        "CREATE TABLE tc_points (id INT PRIMARY KEY);\nSAVEPOINT s1;\nINSERT INTO tc_points VALUES (1);\n"
        "ROLLBACK TO SAVEPOINT s1;\nINSERT INTO tc_points VALUES (2);\nRELEASE SAVEPOINT s1;\n"
    )
    assert run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__points": own}))).versions == (1, 2, 3, 100)
    assert target.rows("SELECT id FROM tc_points") == [(2,)]
    released_then_failing = "CREATE TABLE tc_gone (id INT);\nSAVEPOINT s2;\nRELEASE SAVEPOINT s2;\nINSERT INTO tc_missing VALUES (1);"
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__points": own, "V101__gone": released_then_failing})))
    assert raised.value.rolled_back and raised.value.statement_index == 3
    assert "tc_gone" not in target.tables(), "RELEASE of the migration's own savepoint committed nothing"


COMPOUND = {
    "sqlite": (
        "CREATE TABLE tc_log (n INT);\nCREATE TABLE tc_src (id INT);\n"
        "CREATE TRIGGER tc_copy AFTER INSERT ON tc_src BEGIN INSERT INTO tc_log VALUES (NEW.id); END;\n"
        "INSERT INTO tc_src VALUES (1);\nINSERT INTO tc_src VALUES (2);",
        [(1,), (2,)],
    ),
    "postgresql": (
        "CREATE TABLE tc_log (n INT);\nDO $$ BEGIN INSERT INTO tc_log VALUES (1); END $$;\n"
        "CREATE FUNCTION tc_two() RETURNS INT LANGUAGE SQL BEGIN ATOMIC SELECT 2; END;\n"
        "INSERT INTO tc_log SELECT tc_two();\nLOCK TABLE tc_log IN ACCESS EXCLUSIVE MODE;",
        [(1,), (2,)],
    ),
    "mysql": (
        "CREATE TABLE tc_log (n INT);\nBEGIN NOT ATOMIC\n  INSERT INTO tc_log VALUES (1);\n  INSERT INTO tc_log VALUES (2);\nEND;\n"
        "CREATE TRIGGER tc_times_ten BEFORE INSERT ON tc_log FOR EACH ROW BEGIN SET NEW.n = NEW.n * 10; END;\n"
        "INSERT INTO tc_log VALUES (3);",
        [(1,), (2,), (30,)],
    ),
}


@pytest.mark.parametrize("target", ALL, indirect=True)
def test_begin_end_blocks_are_not_transaction_control(target: Target, agent_package) -> None:
    sql, expected = COMPOUND[target.dialect]
    conn = target.connect()
    assert run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__blocks": sql}))).versions == (1, 2, 3, 100)
    assert sorted(target.rows("SELECT n FROM tc_log")) == expected


@pytest.mark.parametrize("target", ALL, indirect=True)
def test_verify_refuses_to_replay_an_applied_migration_that_would_escape_its_scratch_transaction(target: Target, agent_package) -> None:
    """On PostgreSQL the replay's COMMIT would end the scratch transaction and run the rest in the live schema."""
    conn = target.connect()
    sql = "CREATE TABLE tc_replayed (id INT);\nCOMMIT;\nDROP TABLE IF EXISTS tc_victim;"
    registry = registry_of(tc=agent_package({"V100__escape": sql}))
    record_as_applied(conn, registry=registry)  # recorded without running, as an older release may have applied it
    victim = target.connect()
    cursor = victim.cursor()
    cursor.execute("CREATE TABLE tc_victim (id INT)")
    cursor.execute("INSERT INTO tc_victim VALUES (7)")
    victim.commit()
    with pytest.raises(TransactionControlError) as raised:
        verify_database(conn, registry=registry)
    assert raised.value.version == 100 and "repair_history(conn)" in str(raised.value)
    assert "`nocodo-agents repair` after fixing the file" in hint_for(raised.value)
    assert target.rows("SELECT id FROM tc_victim") == [(7,)], "the live table was not touched"
    if target.dialect == "postgresql":
        assert target.rows("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'nocodo_scratch%'") == []


# -- the defence behind the classifier ------------------------------------------------------------


@pytest.fixture
def blind_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a statement the classifier misses: it finds nothing, so the statement runs."""
    monkeypatch.setattr(execution, "find_transaction_control", lambda *args, **kwargs: None)


@pytest.mark.parametrize("target", TRANSACTIONAL_DDL, indirect=True)
def test_a_commit_the_classifier_missed_is_reported_without_claiming_a_rollback(target: Target, agent_package, blind_classifier) -> None:
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    sql = "CREATE TABLE tc_before (id INT PRIMARY KEY);\nCOMMIT;\nCREATE TABLE tc_after (id INT PRIMARY KEY);"
    with pytest.raises(TransactionEndedError) as raised:
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__escape": sql})))
    error = raised.value
    assert isinstance(error, MigrationFailedError) and exit_code_for(error) == ExitCode.MIGRATION_FAILED
    assert (error.version, error.statement_index, error.rolled_back, error.statement) == (100, 1, False, "COMMIT" + (";" if target.dialect == "sqlite" else ""))
    text = str(error)
    assert "ended the runner's transaction at statement 2" in text and "Statements 1-2 may have been committed" in text
    assert "could not roll it back" in text and "V100 was not recorded" in text and "was rolled back" not in text
    assert "tc_before" in target.tables() and "tc_after" not in target.tables(), "what the message says is what happened"
    assert [r[0] for r in target.rows("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3]


@pytest.mark.parametrize("target", TRANSACTIONAL_DDL, indirect=True)
def test_a_rollback_statement_the_classifier_missed_never_records_the_migration(target: Target, agent_package, blind_classifier) -> None:
    """Before the check, PostgreSQL recorded V100 as applied without its table, silently."""
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    sql = "CREATE TABLE tc_before (id INT PRIMARY KEY);\nROLLBACK;"
    with pytest.raises(TransactionEndedError):
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__undone": sql})))
    assert "tc_before" not in target.tables()
    assert [r[0] for r in target.rows("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3]
    assert run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__undone": "CREATE TABLE tc_before (id INT);"}))).versions == (100,)


@pytest.mark.parametrize("target", TRANSACTIONAL_DDL, indirect=True)
def test_a_rollback_that_ends_its_transaction_keeps_its_history_row_and_says_so(target: Target, agent_package, blind_classifier) -> None:
    conn = target.connect()
    module = f"def migration():\n    return {FIRST!r}\n\n\ndef rollback():\n    return 'DROP TABLE tc_first;\\nCOMMIT;\\nSELECT 1;'\n"
    registry = registry_of(tc=agent_package({"V100__first": module}))
    run_agent_migrations(conn, registry=registry)
    with pytest.raises(TransactionEndedError) as raised:
        rollback_migrations(conn, 3, registry=registry)
    assert raised.value.phase == "rollback" and "V100 is still recorded as applied" in str(raised.value)
    assert "tc_first" not in target.tables()
    assert [r[0] for r in target.rows("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3, 100]


# -- the console script -----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


@pytest.fixture(params=ALL)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, "tc_cli")


def test_the_command_line_refuses_before_applying_anything(cli: Cli, url: str) -> None:
    bad = "CREATE TABLE tc_a (id INT);\nCOMMIT;\nCREATE TABLE tc_b (id INT);\n"
    write_agent_distribution(cli.site, "tc-agent", "tc", "tc_agent", {"V300__bad": sql_module(bad)})
    for dry_run in ([], ["--dry-run"]):
        refused = cli("migrate", "--agent", "tc", "--db", url, *dry_run)
        assert refused.code == 5, refused.text
        assert "V300__bad of agent 'tc' (distribution tc-agent" in refused.err and "statement 2 commits" in refused.err
        assert "None of its statements ran" in refused.err and "Traceback" not in refused.err
    states = [row["state"] for row in json.loads(cli("status", "--json", "--agent", "tc", "--db", url).out)]
    assert states == ["pending"] * 4, "not even the core migrations before it ran"


def test_the_command_line_refuses_a_rollback_with_transaction_control(cli: Cli, url: str) -> None:
    write_agent_distribution(
        cli.site, "tc-agent", "tc", "tc_agent", {"V300__ok": sql_module("CREATE TABLE tc_a (id INT);", rollback="DROP TABLE tc_a;\nROLLBACK;")}
    )
    assert cli("migrate", "--agent", "tc", "--db", url).code == 0
    for dry_run in (["--dry-run"], []):
        refused = cli("rollback", "--to", "3", "--agent", "tc", "--db", url, *dry_run)
        assert refused.code == 5, refused.text
        assert "the rollback() of migration V300__ok" in refused.err and "statement 2 rolls back" in refused.err
    assert cli("status", "--check", "--agent", "tc", "--db", url).code == 0, "V300 is still applied"
