"""RequirementsQnaStore on a real SQLite file migrated with the requirements_qna agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nocodo_agents_requirements_qna
import nocodo_agents_requirements_qna.plugin as qna_plugin
from nocodo_agents.database import Database
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents_requirements_qna import Question, RequirementsQnaStore
from nocodo_agents_requirements_qna.storage import MissingQnaTableError

QUESTIONS = [
    {"question_id": "users", "question": "Who are the users?", "description": "Roles and counts"},
    {"id": "deadline", "question": "When is the deadline?", "response_type": "date"},
    {"question_id": "budget", "question": "What is the budget?"},
]


@pytest.fixture
def registry() -> AgentRegistry:
    """Core plus the real requirements_qna plugin, registered without entry points."""
    return AgentRegistry.from_plugins({"requirements_qna": qna_plugin}, "nocodo-agents-requirements-qna")


@pytest.fixture
def db(tmp_path: Path, registry: AgentRegistry) -> Iterator[Database]:
    with Database(tmp_path / "agents.sqlite", agents=["requirements_qna"], registry=registry) as database:
        yield database


@pytest.fixture
def store(db: Database) -> RequirementsQnaStore:
    return RequirementsQnaStore(db)


@pytest.fixture
def session_id(db: Database) -> int:
    return db.create_session("requirements_qna", "openai", "gpt-4o", "I want a CRM")


def answers_by_id(questions: list) -> dict:
    return {q.question_id: q.answer for q in questions}


def test_package_exports_the_storage_api() -> None:
    assert nocodo_agents_requirements_qna.Question is Question
    assert nocodo_agents_requirements_qna.RequirementsQnaStore is RequirementsQnaStore


def test_store_and_list_questions(db: Database, store: RequirementsQnaStore, session_id: int) -> None:
    call = db.create_tool_call(session_id, "call_1", "ask_user", {"questions": QUESTIONS})
    ids = store.store_questions(session_id, QUESTIONS, tool_call_id=call)
    assert len(ids) == 3 and ids == sorted(ids)
    questions = store.list_questions(session_id)
    created = questions[0].created_at
    assert isinstance(created, int)
    assert questions == [
        Question(ids[0], session_id, call, "users", "Who are the users?", "Roles and counts", "text", None, created, None),
        Question(ids[1], session_id, call, "deadline", "When is the deadline?", None, "date", None, created, None),
        Question(ids[2], session_id, call, "budget", "What is the budget?", None, "text", None, created, None),
    ]


def test_questions_without_tool_call_and_per_session(store: RequirementsQnaStore, db: Database, session_id: int) -> None:
    other = db.create_session("requirements_qna", "p", "m", "other")
    store.store_questions(session_id, QUESTIONS[:1])
    store.store_questions(other, QUESTIONS[1:])
    assert [(q.question_id, q.tool_call_id) for q in store.list_questions(session_id)] == [("users", None)]
    assert [q.question_id for q in store.list_questions(other)] == ["deadline", "budget"]
    assert store.list_questions(999) == []
    assert store.store_questions(session_id, []) == []


def test_store_answers_and_pending_questions(store: RequirementsQnaStore, session_id: int) -> None:
    store.store_questions(session_id, QUESTIONS)
    assert [q.question_id for q in store.list_pending_questions(session_id)] == ["users", "deadline", "budget"]
    store.store_answers(session_id, {"users": "Sales team, 20 people", "budget": "10k"})
    assert [q.question_id for q in store.list_pending_questions(session_id)] == ["deadline"]
    questions = store.list_questions(session_id)
    assert answers_by_id(questions) == {"users": "Sales team, 20 people", "deadline": None, "budget": "10k"}
    for question in questions:
        if question.answer is None:
            assert question.answered_at is None
        else:
            assert isinstance(question.answered_at, int) and question.answered_at >= question.created_at
    store.store_answers(session_id, {"deadline": "June", "users": "Sales team"})
    assert store.list_pending_questions(session_id) == []
    assert answers_by_id(store.list_questions(session_id))["users"] == "Sales team"


def test_unknown_answer_ids_raise_key_error_and_write_nothing(store: RequirementsQnaStore, session_id: int) -> None:
    store.store_questions(session_id, QUESTIONS)
    with pytest.raises(KeyError, match=r"has no question with id 'nope', 'zzz'; no answer was stored"):
        store.store_answers(session_id, {"users": "someone", "zzz": "?", "budget": "5k", "nope": "?"})
    assert answers_by_id(store.list_questions(session_id)) == {"users": None, "deadline": None, "budget": None}
    assert not store.db.connection.in_transaction


def test_answers_only_reach_the_given_session(store: RequirementsQnaStore, db: Database, session_id: int) -> None:
    other = db.create_session("requirements_qna", "p", "m", "other")
    store.store_questions(session_id, QUESTIONS[:1])
    store.store_questions(other, QUESTIONS[:1])
    store.store_answers(session_id, {"users": "mine"})
    assert answers_by_id(store.list_questions(other)) == {"users": None}
    with pytest.raises(KeyError, match=f"session {other} has no question with id 'budget'"):
        store.store_answers(other, {"budget": "x"})


def test_questions_need_an_id_and_a_text(store: RequirementsQnaStore, session_id: int) -> None:
    with pytest.raises(ValueError, match=r"question 1 has no 'question_id' \(or 'id'\)"):
        store.store_questions(session_id, [QUESTIONS[0], {"question": "no id"}])
    with pytest.raises(ValueError, match="question 0 \\('q'\\) has no 'question'"):
        store.store_questions(session_id, [{"id": "q"}])
    assert store.list_questions(session_id) == []


def test_missing_session_or_tool_call_raises_key_error_and_stores_nothing(
    store: RequirementsQnaStore, db: Database, session_id: int
) -> None:
    with pytest.raises(KeyError, match="no session with id 404"):
        store.store_questions(404, QUESTIONS)
    with pytest.raises(KeyError, match="no tool call with id 505"):
        store.store_questions(session_id, QUESTIONS, tool_call_id=505)
    assert db.connection.execute("SELECT COUNT(*) FROM project_requirements_qna").fetchone() == (0,)


def test_rust_name_is_an_alias(store: RequirementsQnaStore, session_id: int) -> None:
    store.store_questions(session_id, QUESTIONS[:2])
    assert store.get_pending_questions(session_id) == store.list_pending_questions(session_id)


def test_database_without_the_agent_gives_a_clear_error(tmp_path: Path, registry: AgentRegistry) -> None:
    path = tmp_path / "core-only.sqlite"
    with Database(path, agents=[], registry=registry) as db:
        with pytest.raises(MissingQnaTableError, match=r"Database\(path, agents=\['requirements_qna'\]\)") as caught:
            RequirementsQnaStore(db)
    assert caught.value.path == str(path)
    assert isinstance(caught.value, RuntimeError)


def test_deleting_a_session_removes_its_questions(store: RequirementsQnaStore, db: Database, session_id: int) -> None:
    other = db.create_session("requirements_qna", "p", "m", "other")
    store.store_questions(session_id, QUESTIONS)
    store.store_questions(other, QUESTIONS[:1])
    with db.connection:
        db.connection.execute("DELETE FROM agent_sessions WHERE id = ?", (session_id,))
    assert store.list_questions(session_id) == []
    assert [q.question_id for q in store.list_questions(other)] == ["users"]


def test_deleting_a_tool_call_removes_the_questions_it_asked(
    store: RequirementsQnaStore, db: Database, session_id: int
) -> None:
    call = db.create_tool_call(session_id, "call_1", "ask_user", {})
    store.store_questions(session_id, QUESTIONS[:2], tool_call_id=call)
    store.store_questions(session_id, QUESTIONS[2:])
    with db.connection:
        db.connection.execute("DELETE FROM agent_tool_calls WHERE id = ?", (call,))
    assert [q.question_id for q in store.list_questions(session_id)] == ["budget"]


@pytest.mark.installed_agents
def test_with_the_installed_plugin(tmp_path: Path) -> None:
    with Database(tmp_path / "agents.sqlite", agents=["requirements_qna"]) as db:
        store = RequirementsQnaStore(db)
        session_id = db.create_session("requirements_qna", "p", "m", "u")
        store.store_questions(session_id, QUESTIONS[:1])
        store.store_answers(session_id, {"users": "everyone"})
        assert answers_by_id(store.list_questions(session_id)) == {"users": "everyone"}
