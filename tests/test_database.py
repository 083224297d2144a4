"""Database: opening and migrating a real SQLite file, and the session, message and tool call operations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import history, tables

import nocodo_agents_requirements_qna.plugin as qna_plugin
from nocodo_agents import HistoryTableError, UnknownAgentError
from nocodo_agents.database import Database, Message, Session, ToolCall
from nocodo_agents.discovery import AgentRegistry

CORE_TABLES = {"agent_sessions", "agent_messages", "agent_tool_calls"}
QNA_TABLE = "project_requirements_qna"


@pytest.fixture
def registry() -> AgentRegistry:
    """Core plus the real requirements_qna plugin, registered without entry points."""
    return AgentRegistry.from_plugins({"requirements_qna": qna_plugin}, "nocodo-agents-requirements-qna")


@pytest.fixture
def open_db(registry: AgentRegistry) -> Iterator[Callable[..., Database]]:
    opened: list[Database] = []

    def open_(path: Path, agents: Sequence[str] = ("requirements_qna",)) -> Database:
        db = Database(path, agents=list(agents), registry=registry)
        opened.append(db)
        return db

    yield open_
    for db in opened:
        db.close()


@pytest.fixture
def db(open_db: Callable[..., Database], tmp_path: Path) -> Database:
    return open_db(tmp_path / "agents.sqlite")


@pytest.fixture
def session_id(db: Database) -> int:
    return db.create_session("coder", "openai", "gpt-4o", "Build a todo app")


# Opening and migrating


def test_creates_parent_directories_and_enables_foreign_keys(open_db, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "agents.sqlite"
    db = open_db(path)
    assert path.is_file()
    assert db.path == str(path)
    assert db.connection.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_the_plugin_adds_its_table_and_fourth_history_row(open_db, tmp_path: Path) -> None:
    db = open_db(tmp_path / "agents.sqlite")
    assert CORE_TABLES | {QNA_TABLE, "refinery_schema_history"} <= set(tables(db.connection))
    assert db.migration_report.versions == (1, 2, 3, 4)
    assert history(db.connection) == [
        (1, "create_agent_sessions", "core"),
        (2, "create_agent_messages", "core"),
        (3, "create_agent_tool_calls", "core"),
        (4, "create_project_requirements_qna", "requirements_qna"),
    ]


def test_core_only_has_three_history_rows_and_no_qna_table(open_db, tmp_path: Path) -> None:
    db = open_db(tmp_path / "agents.sqlite", agents=[])
    assert [row[0] for row in history(db.connection)] == [1, 2, 3]
    assert CORE_TABLES <= set(tables(db.connection))
    assert QNA_TABLE not in tables(db.connection)


def test_reopening_applies_nothing_and_keeps_the_data(open_db, tmp_path: Path) -> None:
    path = tmp_path / "agents.sqlite"
    first = open_db(path)
    session = first.create_session("coder", "openai", "gpt-4o", "hello")
    first.close()
    again = open_db(path)
    assert again.migration_report.applied == ()
    assert again.migration_report.adopted == ()
    assert len(history(again.connection)) == 4
    assert again.get_session(session).user_prompt == "hello"


def test_in_memory_database(registry: AgentRegistry, tmp_path: Path) -> None:
    with Database(":memory:", agents=[], registry=registry) as db:
        assert db.migration_report.versions == (1, 2, 3)
        assert db.get_session(db.create_session("a", "p", "m", "u")).agent_name == "a"
    assert list(tmp_path.iterdir()) == []


def test_context_manager_closes_the_connection(registry: AgentRegistry, tmp_path: Path) -> None:
    with Database(tmp_path / "agents.sqlite", agents=[], registry=registry) as db:
        assert db.connection.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(sqlite3.ProgrammingError):
        db.connection.execute("SELECT 1")
    db.close()  # closing twice is harmless


def test_a_failing_migration_run_raises_and_closes_the_connection(
    registry: AgentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[sqlite3.Connection] = []
    real_connect = sqlite3.connect

    def connect(path: str, **options: Any) -> sqlite3.Connection:
        opened.append(real_connect(path, **options))
        return opened[-1]

    path = tmp_path / "agents.sqlite"
    setup = real_connect(path)  # a history that is a view: the run fails once the file is open
    setup.execute("CREATE VIEW refinery_schema_history AS SELECT 1 AS version")
    setup.close()
    monkeypatch.setattr("nocodo_agents.database.store.sqlite3.connect", connect)
    with pytest.raises(HistoryTableError, match="is a view"):
        Database(path, registry=registry)
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")
    # an unknown agent is refused before any connection is opened (and no file is created)
    with pytest.raises(UnknownAgentError, match="no_such_agent"):
        Database(tmp_path / "other.sqlite", agents=["no_such_agent"], registry=registry)
    assert len(opened) == 1 and not (tmp_path / "other.sqlite").exists()


@pytest.mark.installed_agents
def test_finds_the_installed_plugin_through_entry_points(tmp_path: Path) -> None:
    with Database(tmp_path / "agents.sqlite", agents=["requirements_qna"]) as db:
        assert db.migration_report.versions == (1, 2, 3, 4)
        assert QNA_TABLE in tables(db.connection)
    with Database(tmp_path / "agents.sqlite", agents=["requirements_qna"]) as db:
        assert db.migration_report.applied == ()


def test_lazy_exports() -> None:
    import nocodo_agents
    import nocodo_agents.database as package

    assert nocodo_agents.Database is Database
    assert package.Session is Session
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        package.Nope  # noqa: B018


# Sessions


def test_create_and_get_session(db: Database) -> None:
    config = {"temperature": 0.2, "tools": ["search", "read"], "nested": {"k": None}}
    session_id = db.create_session(
        "coder", "anthropic", "claude", "Build it", system_prompt="You are helpful", config=config
    )
    session = db.get_session(session_id)
    assert session == Session(
        id=session_id,
        agent_name="coder",
        provider="anthropic",
        model="claude",
        system_prompt="You are helpful",
        user_prompt="Build it",
        config=config,
        status="running",
        started_at=session.started_at,
        ended_at=None,
        result=None,
        error=None,
    )
    assert isinstance(session.started_at, int)
    stored = db.connection.execute("SELECT config FROM agent_sessions WHERE id = ?", (session_id,)).fetchone()[0]
    assert stored == '{"temperature": 0.2, "tools": ["search", "read"], "nested": {"k": null}}'


def test_session_without_config_stores_null(db: Database, session_id: int) -> None:
    session = db.get_session(session_id)
    assert session.config is None and session.system_prompt is None
    assert db.connection.execute("SELECT config FROM agent_sessions").fetchone() == (None,)


def test_sessions_are_frozen(db: Database, session_id: int) -> None:
    with pytest.raises(AttributeError):
        db.get_session(session_id).status = "failed"  # type: ignore[misc]


def test_get_missing_session_raises_key_error(db: Database) -> None:
    with pytest.raises(KeyError, match="no session with id 42"):
        db.get_session(42)


def test_create_session_requires_user_prompt(db: Database) -> None:
    with pytest.raises(ValueError, match="user_prompt is required"):
        db.create_session("coder", "openai", "gpt-4o", None)  # type: ignore[arg-type]
    assert db.list_sessions() == []


def test_complete_session(db: Database, session_id: int) -> None:
    db.complete_session(session_id, "done: 3 files")
    session = db.get_session(session_id)
    assert (session.status, session.result, session.error) == ("completed", "done: 3 files", None)
    assert isinstance(session.ended_at, int) and session.ended_at >= session.started_at


def test_fail_session(db: Database, session_id: int) -> None:
    db.fail_session(session_id, "provider timed out")
    session = db.get_session(session_id)
    assert (session.status, session.error, session.result) == ("failed", "provider timed out", None)
    assert isinstance(session.ended_at, int) and session.ended_at >= session.started_at


def test_pause_and_resume_session(db: Database, session_id: int) -> None:
    db.pause_session_for_user_input(session_id)
    assert db.get_session(session_id).status == "waiting_for_user_input"
    assert db.get_session(session_id).ended_at is None
    db.resume_session(session_id)
    assert db.get_session(session_id).status == "running"


def test_resume_a_session_not_waiting_raises_value_error(db: Database, session_id: int) -> None:
    with pytest.raises(ValueError, match="session .* is 'running', not 'waiting_for_user_input'"):
        db.resume_session(session_id)
    db.complete_session(session_id, "ok")
    with pytest.raises(ValueError, match="is 'completed'"):
        db.resume_session(session_id)
    assert db.get_session(session_id).status == "completed"


@pytest.mark.parametrize(
    "operation",
    [
        lambda db: db.complete_session(99, "x"),
        lambda db: db.fail_session(99, "x"),
        lambda db: db.pause_session_for_user_input(99),
        lambda db: db.resume_session(99),
    ],
    ids=["complete", "fail", "pause", "resume"],
)
def test_updating_a_missing_session_raises_key_error(db: Database, operation) -> None:
    with pytest.raises(KeyError, match="no session with id 99"):
        operation(db)


def test_list_sessions_filters(db: Database) -> None:
    first = db.create_session("coder", "p", "m", "one")
    second = db.create_session("reviewer", "p", "m", "two")
    third = db.create_session("coder", "p", "m", "three")
    db.complete_session(third, "ok")
    assert [s.id for s in db.list_sessions()] == [first, second, third]
    assert [s.id for s in db.list_sessions(agent_name="coder")] == [first, third]
    assert [s.id for s in db.list_sessions(status="completed")] == [third]
    assert [s.id for s in db.list_sessions(agent_name="coder", status="running")] == [first]
    assert db.list_sessions(agent_name="nobody") == []
    with pytest.raises(ValueError, match="invalid session status 'done'"):
        db.list_sessions(status="done")


# Messages


def test_add_and_list_messages_in_order(db: Database, session_id: int) -> None:
    other = db.create_session("coder", "p", "m", "other")
    ids = [
        db.add_message(session_id, "system", "be brief"),
        db.add_message(session_id, "user", "hi"),
        db.add_message(other, "user", "elsewhere"),
        db.add_message(session_id, "assistant", "hello"),
        db.add_message(session_id, "tool", '{"ok": true}'),
    ]
    messages = db.list_messages(session_id)
    assert [(m.id, m.role, m.content) for m in messages] == [
        (ids[0], "system", "be brief"),
        (ids[1], "user", "hi"),
        (ids[3], "assistant", "hello"),
        (ids[4], "tool", '{"ok": true}'),
    ]
    assert all(isinstance(m, Message) and m.session_id == session_id for m in messages)
    assert all(isinstance(m.created_at, int) for m in messages)
    assert [m.content for m in db.list_messages(other)] == ["elsewhere"]
    assert db.list_messages(12345) == []


def test_messages_with_equal_timestamps_keep_insertion_order(db: Database, session_id: int) -> None:
    for n in range(5):
        db.add_message(session_id, "user", str(n))
    db.connection.execute("UPDATE agent_messages SET created_at = 1000")
    db.connection.commit()
    assert [m.content for m in db.list_messages(session_id)] == ["0", "1", "2", "3", "4"]


def test_invalid_role_raises_value_error_and_stores_nothing(db: Database, session_id: int) -> None:
    with pytest.raises(ValueError, match="invalid message role 'robot': expected one of user, assistant, system, tool"):
        db.add_message(session_id, "robot", "beep")
    assert db.list_messages(session_id) == []
    assert not db.connection.in_transaction


def test_message_for_missing_session_raises_key_error(db: Database) -> None:
    with pytest.raises(KeyError, match="no session with id 77"):
        db.add_message(77, "user", "hi")
    assert db.connection.execute("SELECT COUNT(*) FROM agent_messages").fetchone() == (0,)


def test_rust_names_are_aliases(db: Database, session_id: int) -> None:
    message = db.create_message(session_id, "user", "hi")
    assert [m.id for m in db.get_messages(session_id)] == [message]
    call = db.create_tool_call(session_id, "c1", "search", {})
    assert [c.id for c in db.get_pending_tool_calls(session_id)] == [call]


# Tool calls


def test_create_and_get_tool_call(db: Database, session_id: int) -> None:
    message = db.add_message(session_id, "assistant", "let me search")
    request = {"query": "sqlite foreign keys", "limit": 5, "filters": [1, 2.5, None, True]}
    call = db.create_tool_call(session_id, "call_abc", "search", request, message_id=message)
    assert db.get_tool_call(call) == ToolCall(
        id=call,
        session_id=session_id,
        message_id=message,
        tool_call_id="call_abc",
        tool_name="search",
        request=request,
        response=None,
        status="pending",
        created_at=db.get_tool_call(call).created_at,
        completed_at=None,
        execution_time_ms=None,
        error_details=None,
    )
    assert isinstance(db.get_tool_call(call).created_at, int)
    stored = db.connection.execute("SELECT request, response FROM agent_tool_calls").fetchone()
    assert stored == ('{"query": "sqlite foreign keys", "limit": 5, "filters": [1, 2.5, null, true]}', None)


def test_complete_tool_call(db: Database, session_id: int) -> None:
    call = db.create_tool_call(session_id, "c1", "read_file", {"path": "a.txt"})
    db.complete_tool_call(call, {"content": "hello", "lines": [1, 2]}, execution_time_ms=42)
    done = db.get_tool_call(call)
    assert (done.status, done.response, done.execution_time_ms, done.error_details) == (
        "completed",
        {"content": "hello", "lines": [1, 2]},
        42,
        None,
    )
    assert isinstance(done.completed_at, int) and done.completed_at >= done.created_at


def test_complete_tool_call_without_timing_and_with_scalar_response(db: Database, session_id: int) -> None:
    call = db.create_tool_call(session_id, "c1", "count", [])
    db.complete_tool_call(call, 7)
    done = db.get_tool_call(call)
    assert (done.request, done.response, done.execution_time_ms) == ([], 7, None)


def test_fail_tool_call(db: Database, session_id: int) -> None:
    call = db.create_tool_call(session_id, "c1", "shell", {"cmd": "ls"})
    db.fail_tool_call(call, "permission denied")
    failed = db.get_tool_call(call)
    assert (failed.status, failed.error_details, failed.response) == ("failed", "permission denied", None)
    assert isinstance(failed.completed_at, int) and failed.completed_at >= failed.created_at


def test_list_pending_tool_calls(db: Database, session_id: int) -> None:
    other = db.create_session("coder", "p", "m", "other")
    first = db.create_tool_call(session_id, "c1", "a", {"n": 1})
    done = db.create_tool_call(session_id, "c2", "b", {"n": 2})
    failed = db.create_tool_call(session_id, "c3", "c", {"n": 3})
    last = db.create_tool_call(session_id, "c4", "d", {"n": 4})
    db.create_tool_call(other, "c5", "e", {"n": 5})
    db.complete_tool_call(done, "ok")
    db.fail_tool_call(failed, "boom")
    pending = db.list_pending_tool_calls(session_id)
    assert [(c.id, c.tool_call_id, c.request) for c in pending] == [(first, "c1", {"n": 1}), (last, "c4", {"n": 4})]
    assert [c.status for c in db.list_tool_calls(session_id)] == ["pending", "completed", "failed", "pending"]


def test_get_missing_tool_call_raises_key_error(db: Database) -> None:
    with pytest.raises(KeyError, match="no tool call with id 5"):
        db.get_tool_call(5)


@pytest.mark.parametrize(
    "operation",
    [lambda db: db.complete_tool_call(404, {}), lambda db: db.fail_tool_call(404, "x")],
    ids=["complete", "fail"],
)
def test_updating_a_missing_tool_call_raises_key_error(db: Database, operation) -> None:
    with pytest.raises(KeyError, match="no tool call with id 404"):
        operation(db)


def test_tool_call_for_missing_session_or_message_raises_key_error(db: Database, session_id: int) -> None:
    with pytest.raises(KeyError, match="no session with id 88"):
        db.create_tool_call(88, "c1", "search", {})
    with pytest.raises(KeyError, match="no message with id 99"):
        db.create_tool_call(session_id, "c1", "search", {}, message_id=99)
    assert db.list_tool_calls(session_id) == []


def test_request_must_be_json_serialisable(db: Database, session_id: int) -> None:
    with pytest.raises(TypeError):
        db.create_tool_call(session_id, "c1", "search", {"when": object()})
    assert db.list_tool_calls(session_id) == []


# Cascades


def test_deleting_a_session_removes_its_messages_and_tool_calls(db: Database, session_id: int) -> None:
    keep = db.create_session("coder", "p", "m", "keep")
    message = db.add_message(session_id, "assistant", "calling")
    db.create_tool_call(session_id, "c1", "search", {}, message_id=message)
    kept_message = db.add_message(keep, "user", "still here")
    kept_call = db.create_tool_call(keep, "c2", "search", {})
    with db.connection:
        db.connection.execute("DELETE FROM agent_sessions WHERE id = ?", (session_id,))
    assert db.list_messages(session_id) == [] and db.list_tool_calls(session_id) == []
    assert [m.id for m in db.list_messages(keep)] == [kept_message]
    assert [c.id for c in db.list_tool_calls(keep)] == [kept_call]
    with pytest.raises(KeyError):
        db.get_session(session_id)


def test_deleting_a_message_sets_its_tool_calls_message_id_to_null(db: Database, session_id: int) -> None:
    message = db.add_message(session_id, "assistant", "calling")
    call = db.create_tool_call(session_id, "c1", "search", {"q": 1}, message_id=message)
    with db.connection:
        db.connection.execute("DELETE FROM agent_messages WHERE id = ?", (message,))
    survivor = db.get_tool_call(call)
    assert survivor.message_id is None
    assert survivor.request == {"q": 1}
