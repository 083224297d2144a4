"""The example notes agent's tests, with the nocodo-agents pytest plugin.

SQLite by default; ``--nocodo-db-url postgresql://...`` or ``mysql://...`` (or the
environment variable ``NOCODO_AGENTS_TEST_DB_URL``) runs every test on a fresh
database of its own on that server. The agent under test is named in
``pyproject.toml`` (``[tool.pytest.ini_options] nocodo_agents``).
"""

from typing import Any

from nocodo_agents_example_notes import NotesStore

from nocodo_agents.testing import describe_schema, migration_checks

#: The ready-made checks: requirements, versions, SQL per dialect, upgrade, verify, up/down/up.
TestExampleNotesMigrations = migration_checks("example_notes")


def _new_session(connection: Any) -> int:
    """A row of core's ``agent_sessions`` table, which notes belong to; its id."""
    qmark = type(connection).__module__.split(".")[0] == "sqlite3"
    cursor = connection.cursor()
    cursor.execute(
        "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES "
        + ("(?, ?, ?, ?, ?)" if qmark else "(%s, %s, %s, %s, %s)"),
        ("example_notes", "test", "test-model", "take notes", 1),
    )
    cursor.execute("SELECT max(id) FROM agent_sessions")
    session_id = int(cursor.fetchone()[0])
    connection.commit()
    return session_id


def test_the_migrations_make_the_notes_table(nocodo_migrated: Any) -> None:
    schema = describe_schema(nocodo_migrated)
    assert "table example_notes" in schema
    assert "column example_notes.pinned" in schema


def test_notes_are_listed_per_session_pinned_first(nocodo_migrated: Any) -> None:
    store = NotesStore(nocodo_migrated)
    session, other = _new_session(nocodo_migrated), _new_session(nocodo_migrated)
    first = store.add(session, "the user wants a CRM", now=10)
    second = store.add(session, "deadline: June", now=11)
    store.add(other, "another session's note", now=12)
    assert [note.id for note in store.notes(session)] == [first, second]
    store.pin(second)
    notes = store.notes(session)
    assert [(note.body, note.pinned) for note in notes] == [("deadline: June", True), ("the user wants a CRM", False)]
    assert notes[1].created_at == 10 and notes[1].session_id == session
    assert [note.body for note in store.notes(other)] == ["another session's note"]
