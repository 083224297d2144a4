"""A database made before history existed is adopted by the runner."""

import sqlite3

import pytest

from conftest import history, registry_of, tables
from nocodo_agents import PartialSchemaError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.loading import load_migrations


def make_legacy(connection: sqlite3.Connection) -> None:
    """The core tables as an older release created them, without any history."""
    for migration in load_migrations("nocodo_agents.database.migrations"):
        connection.executescript(migration.sql("sqlite"))
    connection.execute("INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)")
    connection.commit()


def test_legacy_core_tables_are_adopted_and_the_rest_applied(conn, agent_package) -> None:
    make_legacy(conn)
    qna = agent_package({"V4__create_qna": "CREATE TABLE qna (id INTEGER);"})
    report = run_agent_migrations(conn, registry=registry_of(qna=qna))
    assert [s.version for s in report.adopted] == [1, 2, 3]
    assert report.versions == (4,)
    assert history(conn) == [
        (1, "create_agent_sessions", "core"),
        (2, "create_agent_messages", "core"),
        (3, "create_agent_tool_calls", "core"),
        (4, "create_qna", "qna"),
    ]
    assert conn.execute("SELECT COUNT(*) FROM agent_sessions").fetchone() == (1,), "data kept"
    assert run_agent_migrations(conn, registry=registry_of(qna=qna)).applied == ()


def test_database_class_adopts_the_same_way(db_path) -> None:
    connection = sqlite3.connect(db_path)
    make_legacy(connection)
    connection.close()
    from nocodo_agents.database import Database

    db = Database(db_path, agents=[], registry=AgentRegistry([]))
    assert [s.version for s in db.migration_report.adopted] == [1, 2, 3]
    db.close()


def test_partly_present_schema_stops_before_anything_changes(conn) -> None:
    conn.executescript("CREATE TABLE agent_sessions (id INTEGER PRIMARY KEY, agent_name TEXT);")
    before = tables(conn)
    with pytest.raises(PartialSchemaError) as raised:
        run_agent_migrations(conn, registry=AgentRegistry([]))
    error = raised.value
    assert error.version == 1 and error.agent == "core"
    assert "column agent_sessions.user_prompt" in error.missing
    assert "table agent_sessions" in error.present
    assert "lacks" in str(error) and "baseline" in str(error)
    assert tables(conn) == before, "not even the history table was created"


def test_dry_run_reports_adoption_without_recording_it(conn) -> None:
    make_legacy(conn)
    report = run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)
    assert [s.version for s in report.adopted] == [1, 2, 3] and report.applied == ()
    assert "refinery_schema_history" not in tables(conn)


def test_unrelated_tables_do_not_trigger_adoption(conn) -> None:
    conn.executescript("CREATE TABLE my_app_table (id INTEGER);")
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.adopted == () and report.versions == (1, 2, 3)
