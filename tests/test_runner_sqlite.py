"""run_agent_migrations on real SQLite files."""

import logging
import sqlite3
from pathlib import Path

import pytest
from conftest import history, registry_of, tables

from nocodo_agents import (
    ConnectionStateError,
    DivergentMigrationError,
    InvalidMigrationError,
    LockTimeoutError,
    MigrationConflictError,
    MigrationError,
    MigrationFailedError,
)
from nocodo_agents.database.migrations import checksum, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry

QNA_TABLE = "CREATE TABLE project_requirements_qna (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL);"
CORE_TABLES = {"agent_sessions", "agent_messages", "agent_tool_calls"}


def test_core_only_applies_v1_to_v3_and_a_second_run_nothing(conn) -> None:
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.versions == (1, 2, 3)
    assert [s.agent for s in report.applied] == ["core"] * 3
    assert CORE_TABLES | {"refinery_schema_history"} <= set(tables(conn))
    assert history(conn) == [
        (1, "create_agent_sessions", "core"),
        (2, "create_agent_messages", "core"),
        (3, "create_agent_tool_calls", "core"),
    ]
    again = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert again.applied == () and len(history(conn)) == 3


def test_core_schema_accepts_rows_and_enforces_constraints(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)"
    )
    conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'user', 'hi', 1)")
    conn.execute(
        "INSERT INTO agent_tool_calls (session_id, message_id, tool_call_id, tool_name, request, created_at) "
        "VALUES (1, 1, 'c1', 'search', '{}', 1)"
    )
    assert conn.execute("SELECT status FROM agent_sessions").fetchone() == ("running",)
    assert conn.execute("SELECT status FROM agent_tool_calls").fetchone() == ("pending",)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'robot', 'x', 1)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (99, 'user', 'x', 1)")
    conn.execute("DELETE FROM agent_messages")
    assert conn.execute("SELECT message_id FROM agent_tool_calls").fetchone() == (None,)
    conn.execute("DELETE FROM agent_sessions")
    assert conn.execute("SELECT COUNT(*) FROM agent_tool_calls").fetchone() == (0,)
    conn.commit()


def test_agent_migrations_merge_with_core(conn, agent_package) -> None:
    registry = registry_of(qna=agent_package({"V4__create_qna": QNA_TABLE}))
    report = run_agent_migrations(conn, agents=["qna"], registry=registry)
    assert report.versions == (1, 2, 3, 4)
    assert report.applied[-1].agent == "qna"
    assert history(conn)[-1] == (4, "create_qna", "qna")
    assert run_agent_migrations(conn, agents=["qna"], registry=registry).applied == ()


def test_agents_none_applies_every_installed_agent(conn, agent_package) -> None:
    registry = registry_of(a=agent_package({"V5__a": "CREATE TABLE a (id INTEGER);"}), b=agent_package({"V4__b": "CREATE TABLE b (id INTEGER);"}))
    report = run_agent_migrations(conn, registry=registry)
    assert [(s.version, s.agent) for s in report.applied] == [(1, "core"), (2, "core"), (3, "core"), (4, "b"), (5, "a")]


def test_conflict_raises_before_touching_the_database(db_path, agent_package) -> None:
    registry = registry_of(
        alpha=agent_package({"V4__alpha": "CREATE TABLE alpha (id INTEGER);"}),
        beta=agent_package({"V4__beta": "CREATE TABLE beta (id INTEGER);"}),
    )
    connection = sqlite3.connect(db_path)
    with pytest.raises(MigrationConflictError) as raised:
        run_agent_migrations(connection, agents=["alpha", "beta"], registry=registry)
    assert "'alpha'" in str(raised.value) and "'beta'" in str(raised.value)
    assert tables(connection) == {}, "not even the history table was created"
    # A clash with an agent that was not requested does not stop a run.
    assert run_agent_migrations(connection, agents=["alpha"], registry=registry).versions == (1, 2, 3, 4)
    connection.close()


FAILING_THIRD_STATEMENT = """
CREATE TABLE first_table (id INTEGER);
INSERT INTO first_table VALUES (1);
INSERT INTO no_such_table VALUES (2);
CREATE TABLE never_created (id INTEGER);
"""


def test_failing_migration_leaves_no_trace(conn, agent_package) -> None:
    registry = registry_of(broken=agent_package({"V4__broken": FAILING_THIRD_STATEMENT}))
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, agents=["broken"], registry=registry)
    error = raised.value
    assert (error.version, error.name, error.agent, error.statement_index) == (4, "broken", "broken", 2)
    assert "INSERT INTO no_such_table" in error.statement
    assert "V4__broken" in str(error) and "statement 3" in str(error) and "no_such_table" in str(error)
    assert isinstance(error.__cause__, sqlite3.OperationalError)
    assert "first_table" not in tables(conn)
    assert [r[0] for r in history(conn)] == [1, 2, 3], "core committed, V4 left no row"
    assert not conn.in_transaction


def test_semicolons_in_strings_comments_and_triggers_do_not_split(conn, agent_package) -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE notes (body TEXT);
    INSERT INTO notes VALUES ('a; b');
    /* block; comment */
    CREATE TRIGGER notes_copy AFTER INSERT ON notes BEGIN
        INSERT INTO notes_log VALUES (new.body);
        INSERT INTO notes_log VALUES ('twice; really');
    END;
    CREATE TABLE notes_log (body TEXT)
    """
    run_agent_migrations(conn, agents=["n"], registry=registry_of(n=agent_package({"V4__notes": sql})))
    assert conn.execute("SELECT body FROM notes").fetchall() == [("a; b",)]
    conn.execute("INSERT INTO notes VALUES ('x')")
    assert conn.execute("SELECT COUNT(*) FROM notes_log").fetchone() == (2,)
    conn.commit()


def test_open_transaction_is_refused_and_left_alone(conn) -> None:
    conn.execute("CREATE TABLE mine (id INTEGER)")
    conn.execute("INSERT INTO mine VALUES (1)")
    assert conn.in_transaction
    with pytest.raises(ConnectionStateError, match="commit or roll back"):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    assert conn.in_transaction, "the caller's transaction is untouched"
    conn.rollback()
    assert conn.execute("SELECT COUNT(*) FROM mine").fetchone() == (0,)


def test_connection_settings_are_restored(conn) -> None:
    conn.isolation_level = "DEFERRED"
    conn.execute("PRAGMA busy_timeout = 1234")
    run_agent_migrations(conn, registry=AgentRegistry([]))
    assert conn.isolation_level == "DEFERRED"
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (1234,)
    assert not conn.in_transaction


def test_dry_run_creates_nothing_and_returns_the_sql(conn, agent_package) -> None:
    registry = registry_of(qna=agent_package({"V4__create_qna": QNA_TABLE}))
    report = run_agent_migrations(conn, agents=["qna"], dry_run=True, registry=registry)
    assert report.dry_run and report.versions == (1, 2, 3, 4)
    assert "CREATE TABLE agent_sessions" in report.applied[0].sql
    assert report.applied[3].sql == QNA_TABLE
    assert tables(conn) == {}
    run_agent_migrations(conn, registry=AgentRegistry([]), target=2)
    report = run_agent_migrations(conn, agents=["qna"], dry_run=True, registry=registry)
    assert report.versions == (3, 4)
    assert [r[0] for r in history(conn)] == [1, 2]


def test_dry_run_verifies_like_a_real_run(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    conn.execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 2")
    conn.commit()
    with pytest.raises(DivergentMigrationError):
        run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)


def test_target_stops_after_that_version(conn) -> None:
    assert run_agent_migrations(conn, registry=AgentRegistry([]), target=1).versions == (1,)
    assert run_agent_migrations(conn, registry=AgentRegistry([]), target=2).versions == (2,)
    assert run_agent_migrations(conn, registry=AgentRegistry([])).versions == (3,)


def test_agent_installed_later_is_applied_out_of_order(conn, agent_package) -> None:
    early = agent_package({"V10__early": "CREATE TABLE early (id INTEGER);"})
    late = agent_package({"V4__late": "CREATE TABLE late (id INTEGER);"})
    run_agent_migrations(conn, registry=registry_of(early=early))
    report = run_agent_migrations(conn, registry=registry_of(early=early, late=late))
    assert report.versions == (4,)
    assert report.applied[0].out_of_order and report.out_of_order == report.applied
    assert "out_of_order=True" in repr(report)
    assert "late" in tables(conn)


def test_applied_version_not_installed_is_reported(conn, agent_package) -> None:
    qna = agent_package({"V4__create_qna": QNA_TABLE})
    run_agent_migrations(conn, registry=registry_of(qna=qna))
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.applied == ()
    assert [(r.version, r.agent) for r in report.not_installed] == [(4, "qna")]


def test_edited_migration_raises_divergent_naming_the_file(conn, agent_package, tmp_path: Path) -> None:
    package = agent_package({"V4__create_qna": QNA_TABLE})
    run_agent_migrations(conn, registry=registry_of(qna=package))
    changed = agent_package({"V4__create_qna": QNA_TABLE + "\n-- edited"})
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(conn, registry=registry_of(qna=changed))
    assert raised.value.agent == "qna"
    assert "V4__create_qna.py" in str(raised.value)
    assert "edited after it was applied" in str(raised.value)


def test_migration_that_cannot_run_in_a_transaction(conn, agent_package) -> None:
    package = agent_package({"V4__compact": "def migration():\n    return 'VACUUM;'\n\ntransactional = False\n"})
    report = run_agent_migrations(conn, agents=["c"], registry=registry_of(c=package))
    assert report.versions == (1, 2, 3, 4)
    assert history(conn)[-1] == (4, "compact", "c")


def test_vacuum_inside_a_transaction_fails_cleanly(conn, agent_package) -> None:
    package = agent_package({"V4__compact": "VACUUM;"})
    with pytest.raises(MigrationFailedError, match="VACUUM"):
        run_agent_migrations(conn, agents=["c"], registry=registry_of(c=package))
    assert [r[0] for r in history(conn)] == [1, 2, 3]


def test_bad_sql_source_names_agent_and_distribution(conn, agent_package) -> None:
    package = agent_package({"V4__bad": "def migration(dialect):\n    raise NotImplementedError('sqlite only')\n"})
    with pytest.raises(InvalidMigrationError) as raised:
        run_agent_migrations(conn, agents=["bad"], registry=registry_of(bad=package))
    assert "agent 'bad'" in str(raised.value) and "V4__bad.py" in str(raised.value)
    assert "(registered in-process)" in str(raised.value)


def test_history_rows_match_refinery(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    from nocodo_agents.database.migrations import V1__create_agent_sessions as v1

    version, name, applied_on, stored = conn.execute(
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history WHERE version = 1"
    ).fetchone()
    assert stored == str(checksum("create_agent_sessions", 1, v1.migration("sqlite")))
    assert applied_on.endswith("Z") and "T" in applied_on


def test_unsupported_connection_is_a_clear_error() -> None:
    with pytest.raises(ConnectionStateError, match="unsupported connection object builtins.object"):
        run_agent_migrations(object(), registry=AgentRegistry([]))


def test_every_error_is_a_migration_error() -> None:
    import nocodo_agents

    for name in nocodo_agents.__all__:
        value = getattr(nocodo_agents, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, MigrationError), name


def test_applied_migrations_are_logged(conn, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    assert "applied V1__create_agent_sessions of agent 'core'" in caplog.text


def test_no_op_run_issues_few_statements(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.applied == ()
    # read and set the busy timeout, look at the history table's columns, read its rows, restore
    assert report.statements == 5


def test_waiting_for_another_writer_times_out_clearly(db_path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    runner = sqlite3.connect(db_path)
    try:
        with pytest.raises(LockTimeoutError) as raised, caplog.at_level(logging.INFO, logger="nocodo_agents"):
            run_agent_migrations(runner, registry=AgentRegistry([]), lock_timeout=0.2)
        assert f"waiting up to 0.2 s for another runner's write lock on {db_path}" in caplog.text
        assert "sqlite migration lock within 0.2 s" in str(raised.value)
        assert not runner.in_transaction
    finally:
        blocker.execute("ROLLBACK")
    assert run_agent_migrations(runner, registry=AgentRegistry([])).versions == (1, 2, 3)
    runner.close()
    blocker.close()


def test_agent_may_generate_migration_objects(conn) -> None:
    import types

    from nocodo_agents import Migration
    from nocodo_agents.plugins import hookimpl

    @hookimpl
    def nocodo_agents_migrations():
        return [
            Migration(21, "generated_b", lambda dialect: f"CREATE TABLE generated_b (dialect TEXT DEFAULT '{dialect}');"),
            Migration(20, "generated_a", "CREATE TABLE generated_a (id INTEGER);", source="generator:a"),
        ]

    plugin = types.ModuleType("generator_plugin")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations
    registry = AgentRegistry.from_plugins({"generator": plugin}, distribution="generator-dist")
    report = run_agent_migrations(conn, agents=["generator"], registry=registry)
    assert report.versions == (1, 2, 3, 20, 21)
    assert report.applied[-1].distribution == "generator-dist"
    conn.execute("INSERT INTO generated_b DEFAULT VALUES")
    assert conn.execute("SELECT dialect FROM generated_b").fetchone() == ("sqlite",)
    conn.commit()


def test_sqlalchemy_engine_over_sqlite(db_path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{db_path}")
    try:
        assert run_agent_migrations(engine, registry=AgentRegistry([])).versions == (1, 2, 3)
        with engine.connect() as connection:
            assert run_agent_migrations(connection, registry=AgentRegistry([])).applied == ()
    finally:
        engine.dispose()
    assert len(history(sqlite3.connect(db_path))) == 3


def test_commit_blocked_by_a_reader_rolls_back_and_releases_the_connection(db_path) -> None:
    reader = sqlite3.connect(db_path, isolation_level=None)
    runner = sqlite3.connect(db_path)
    run_agent_migrations(runner, registry=AgentRegistry([]), target=1)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM refinery_schema_history").fetchall()  # holds a shared lock until it ends
    try:
        with pytest.raises(LockTimeoutError, match="readers kept the database busy at COMMIT"):
            run_agent_migrations(runner, registry=AgentRegistry([]), lock_timeout=0.3)
        assert not runner.in_transaction, "the user's connection is not left inside our transaction"
    finally:
        reader.execute("ROLLBACK")
    assert [r[0] for r in history(runner)] == [1]
    assert run_agent_migrations(runner, registry=AgentRegistry([])).versions == (2, 3)
    reader.close()
    runner.close()


def test_malformed_history_rows_are_named(conn) -> None:
    from nocodo_agents import HistoryRowError

    run_agent_migrations(conn, registry=AgentRegistry([]))
    conn.execute("INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (NULL, 'x', NULL, '1')")
    conn.commit()
    with pytest.raises(HistoryRowError, match="malformed row \\(None, 'x', None, '1', None\\)"):
        run_agent_migrations(conn, registry=AgentRegistry([]))


def test_nothing_to_apply_creates_nothing(conn, agent_package) -> None:
    package = agent_package({"V40__late": "CREATE TABLE late (id INTEGER);"})
    report = run_agent_migrations(conn, agents=[], registry=registry_of(late=package), target=0)
    assert report.applied == () and tables(conn) == {}
