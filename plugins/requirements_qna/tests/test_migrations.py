"""The requirements Q&A agent's migrations, tested with the nocodo-agents pytest plugin.

Runs against SQLite by default; ``--nocodo-db-url postgresql://...`` or
``mysql://...`` (or ``NOCODO_AGENTS_TEST_DB_URL``) runs every test on a fresh
database of its own on that server.
"""

import sqlite3
from typing import Any

from nocodo_agents.plugins import DBAPIConnection
from nocodo_agents.testing import describe_schema, migration_checks

#: The ready-made checks: upgrades, verify, up/down/up, SQL per dialect, versions, requirements.
TestRequirementsQnaMigrations = migration_checks("requirements_qna")


def _execute(connection: DBAPIConnection, sql: str, *params: Any) -> Any:
    """Run ``sql`` written with ``?`` placeholders on any of the three drivers; return the cursor."""
    if type(connection).__module__ != "sqlite3":
        sql = sql.replace("?", "%s")
    cursor = connection.cursor()
    cursor.execute(sql, params)
    return cursor


def test_the_questions_table_exists(nocodo_migrated: DBAPIConnection) -> None:
    schema = describe_schema(nocodo_migrated)
    assert "table project_requirements_qna" in schema
    assert "column project_requirements_qna.answer" in schema


def test_questions_go_with_their_session(nocodo_migrated: DBAPIConnection) -> None:
    """A question belongs to a session; deleting the session deletes its questions (ON DELETE CASCADE)."""
    connection = nocodo_migrated
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA foreign_keys = ON")
    _execute(
        connection,
        "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES (?, ?, ?, ?, ?)",
        "requirements_qna", "test", "test-model", "build me a CRM", 1,
    )
    session_id = _execute(connection, "SELECT id FROM agent_sessions").fetchone()[0]
    _execute(
        connection,
        "INSERT INTO project_requirements_qna (session_id, question_id, question, created_at) VALUES (?, ?, ?, ?)",
        session_id, "q1", "Who are the users?", 2,
    )
    assert _execute(connection, "SELECT count(*) FROM project_requirements_qna").fetchone()[0] == 1
    _execute(connection, "DELETE FROM agent_sessions WHERE id = ?", session_id)
    assert _execute(connection, "SELECT count(*) FROM project_requirements_qna").fetchone()[0] == 0
    connection.commit()
