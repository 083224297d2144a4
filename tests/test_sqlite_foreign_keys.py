"""SQLite migrations run with foreign-key enforcement off, and leave no row without its parent.

With enforcement on, the DROP in SQLite's documented table rebuild ("Making
Other Kinds Of Table Schema Changes") cascades to every child row; the
runner switches enforcement off for its writes (whatever the caller set,
restored afterwards) and checks ``PRAGMA foreign_key_check`` instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import migration_module, registry_of

from nocodo_agents import ForeignKeyViolationError
from nocodo_agents.database import Database
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import rollback_migrations

#: SQLite's 12-step rebuild of agent_sessions (add a column with a CHECK), keeping every row.
REBUILD_SESSIONS = """
CREATE TABLE agent_sessions_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    system_prompt TEXT,
    user_prompt TEXT NOT NULL,
    config TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'waiting_for_user_input')),
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    result TEXT,
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 0 CHECK (priority >= 0)
);
INSERT INTO agent_sessions_new (id, agent_name, provider, model, system_prompt, user_prompt, config, status,
    started_at, ended_at, result, error)
    SELECT id, agent_name, provider, model, system_prompt, user_prompt, config, status, started_at, ended_at,
    result, error FROM agent_sessions;
DROP TABLE agent_sessions;
ALTER TABLE agent_sessions_new RENAME TO agent_sessions;
CREATE INDEX idx_agent_sessions_priority ON agent_sessions (priority);
"""

#: The same rebuild that forgets to copy the rows: every message and tool call loses its session.
REBUILD_WITHOUT_COPY = "\n".join(
    statement + ";" for statement in REBUILD_SESSIONS.split(";") if statement.strip() and "INSERT INTO" not in statement
)


def _fill(db: Database, sessions: int = 40) -> None:
    for index in range(sessions):
        session = db.create_session("agent", "p", "m", f"prompt {index}")
        message = db.add_message(session, "user", f"hello {index}")
        db.add_message(session, "assistant", f"answer {index}")
        db.create_tool_call(session, f"call-{index}", "search", {"q": index}, message_id=message)


def _counts(connection: sqlite3.Connection) -> tuple:
    return tuple(
        connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("agent_sessions", "agent_messages", "agent_tool_calls")
    )


def _history(connection: sqlite3.Connection) -> list:
    return [row[0] for row in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")]


def test_database_keeps_every_child_row_through_a_documented_table_rebuild(db_path: Path, agent_package) -> None:
    with Database(db_path, registry=registry_of()) as db:
        _fill(db)
        before = _counts(db.connection)
        contents = db.connection.execute("SELECT * FROM agent_messages ORDER BY id").fetchall()
    package = agent_package({"V100__rebuild_sessions": REBUILD_SESSIONS})
    with Database(db_path, registry=registry_of(rebuild=package)) as db:
        assert db.migration_report.versions == (100,)
        assert _counts(db.connection) == before == (40, 80, 40)
        assert db.connection.execute("SELECT * FROM agent_messages ORDER BY id").fetchall() == contents
        assert db.connection.execute("PRAGMA foreign_keys").fetchone() == (1,)  # the caller's setting is back
        assert db.connection.execute("PRAGMA foreign_key_check").fetchall() == []
        db.connection.execute("DELETE FROM agent_sessions WHERE id = 1")  # enforcement works again: it cascades
        assert _counts(db.connection) == (39, 78, 39)


def test_a_rebuild_that_loses_rows_fails_names_them_and_changes_nothing(db_path: Path, agent_package) -> None:
    with Database(db_path, registry=registry_of()) as db:
        _fill(db, sessions=3)
    package = agent_package({"V100__rebuild_sessions": REBUILD_WITHOUT_COPY})
    with pytest.raises(ForeignKeyViolationError) as caught:
        Database(db_path, registry=registry_of(rebuild=package))
    error = caught.value
    assert (error.version, error.agent, error.total) == (100, "rebuild", 9)  # 6 messages + 3 tool calls
    assert {table for table, _, _ in error.violations} == {"agent_messages", "agent_tool_calls"}
    assert {parent for _, _, parent in error.violations} == {"agent_sessions"}
    message = str(error)
    assert "V100__rebuild_sessions" in message and "V100__rebuild_sessions.py" in message
    assert "agent_messages row 1 references a missing row of agent_sessions" in message
    assert "rolled back" in message and "copy its rows into the new table" in message
    connection = sqlite3.connect(db_path)
    assert _counts(connection) == (3, 6, 3)
    assert _history(connection) == [1, 2, 3]
    assert "agent_sessions_new" not in {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()


@pytest.mark.parametrize("caller_setting", [0, 1])
def test_the_callers_foreign_key_setting_is_restored(conn: sqlite3.Connection, agent_package, caller_setting: int) -> None:
    conn.execute(f"PRAGMA foreign_keys = {caller_setting}")
    package = agent_package({"V100__notes": "CREATE TABLE notes (id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES agent_sessions (id));"})
    run_agent_migrations(conn, registry=registry_of(notes=package))
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (caller_setting,)


def test_orphans_written_before_are_not_blamed_on_a_later_migration(conn: sqlite3.Connection, agent_package) -> None:
    run_agent_migrations(conn, registry=registry_of())
    conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (77, 'user', 'orphan', 1)")
    conn.commit()  # enforcement was off (sqlite3's default): the application left an orphan
    package = agent_package(
        {
            "V100__seed": "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1);",
            "V101__orphan_more": "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (78, 'user', 'new orphan', 1);",
        }
    )
    with pytest.raises(ForeignKeyViolationError) as caught:
        run_agent_migrations(conn, registry=registry_of(seed=package))
    assert caught.value.version == 101 and caught.value.total == 1
    assert caught.value.violations == (("agent_messages", 2, "agent_sessions"),)
    assert _history(conn) == [1, 2, 3, 100]


def test_a_referencing_column_with_a_default_is_checked(conn: sqlite3.Connection, agent_package) -> None:
    run_agent_migrations(conn, registry=registry_of())
    conn.execute("INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)")
    conn.commit()
    package = agent_package(
        {"V100__owner": "CREATE TABLE owners (id INTEGER PRIMARY KEY);\nALTER TABLE agent_sessions ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 5 REFERENCES owners (id);"}
    )
    with pytest.raises(ForeignKeyViolationError, match="agent_sessions row 1 references a missing row of owners"):
        run_agent_migrations(conn, registry=registry_of(owner=package))
    assert "owner_id" not in {r[1] for r in conn.execute("PRAGMA table_info(agent_sessions)")}
    assert "owners" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def test_a_rollback_that_orphans_rows_is_rolled_back(conn: sqlite3.Connection, agent_package) -> None:
    package = agent_package(
        {
            "V100__tags": migration_module(
                "CREATE TABLE tags (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES agent_sessions (id));",
                rollback="DELETE FROM agent_sessions;\nDROP TABLE tags;",
            ),
            "V101__tag_rows": migration_module(
                "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1);\n"
                "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'user', 'hi', 1);",
                rollback="SELECT 1;",
            ),
        }
    )
    registry = registry_of(tags=package)
    run_agent_migrations(conn, registry=registry)
    with pytest.raises(ForeignKeyViolationError) as caught:
        rollback_migrations(conn, 3, registry=registry)
    assert caught.value.phase == "rollback" and caught.value.version == 100
    assert "the rollback of migration V100__tags" in str(caught.value) and "rolled back" in str(caught.value)
    assert _history(conn) == [1, 2, 3, 100]
    assert _counts(conn) == (1, 1, 0)


def test_outside_a_transaction_the_error_says_the_statements_stay(conn: sqlite3.Connection, agent_package) -> None:
    run_agent_migrations(conn, registry=registry_of())
    conn.execute("INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)")
    conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'user', 'hi', 1)")
    conn.commit()
    package = agent_package({"V100__purge": migration_module("DELETE FROM agent_sessions;", transactional=False)})
    with pytest.raises(ForeignKeyViolationError) as caught:
        run_agent_migrations(conn, registry=registry_of(purge=package))
    assert caught.value.rolled_back is False
    message = str(caught.value)
    assert "stay applied and it was not recorded" in message and "rolled back" not in message
    assert _history(conn) == [1, 2, 3]


def test_pragmas_that_change_what_migrations_do_are_pinned_and_restored(conn: sqlite3.Connection, agent_package) -> None:
    for pragma in ("legacy_alter_table", "recursive_triggers", "reverse_unordered_selects", "ignore_check_constraints"):
        conn.execute(f"PRAGMA {pragma} = ON")
    package = agent_package(
        {"V100__checked": "CREATE TABLE checked (n INTEGER CHECK (n > 0));\nINSERT INTO checked VALUES (-1);"}
    )
    with pytest.raises(Exception, match="CHECK constraint failed"):  # ignore_check_constraints was pinned off
        run_agent_migrations(conn, registry=registry_of(checked=package))
    for pragma in ("legacy_alter_table", "recursive_triggers", "reverse_unordered_selects", "ignore_check_constraints"):
        assert conn.execute(f"PRAGMA {pragma}").fetchone() == (1,), pragma
    assert "checked" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def test_foreign_keys_are_checked_only_after_statements_that_could_orphan_a_row(conn: sqlite3.Connection, agent_package) -> None:
    sent: list = []
    conn.set_trace_callback(sent.append)
    run_agent_migrations(conn, registry=registry_of())  # V1-V3 only CREATE: nothing to check
    assert not [s for s in sent if "foreign_key_check" in s]
    sent.clear()
    package = agent_package({"V100__seed": "CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);"})
    run_agent_migrations(conn, registry=registry_of(seed=package))
    checks = [s for s in sent if s.startswith("PRAGMA main.foreign_key_check")]
    assert len(checks) == 2  # before the INSERT and after the migration's last statement
    assert [s for s in sent if s.startswith("PRAGMA foreign_keys")] == []  # the caller's setting was already off
