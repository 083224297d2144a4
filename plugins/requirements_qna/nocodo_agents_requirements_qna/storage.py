"""Questions the requirements Q&A agent asks and the users' answers (table ``project_requirements_qna``).

:class:`RequirementsQnaStore` works on a :class:`nocodo_agents.database.Database`
opened with this agent, ``Database(path, agents=["requirements_qna"])``.
Each write runs in one transaction; timestamps are integer Unix seconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from nocodo_agents.database import Database
from nocodo_agents.errors import MigrationError

TABLE = "project_requirements_qna"


class MissingQnaTableError(MigrationError, RuntimeError):
    """The database has no ``project_requirements_qna`` table: it was opened without this agent."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"the database {path} has no {TABLE} table: it was opened without the requirements_qna "
            f"agent. Open it with Database(path, agents=['requirements_qna']) (or agents=None for "
            f"every installed agent) so that the agent's migration is applied."
        )


@dataclass(frozen=True)
class Question:
    """One row of ``project_requirements_qna``: a question and, once given, its answer.

    ``tool_call_id`` is the row id of the ``agent_tool_calls`` row that asked
    it, if any; ``question_id`` the agent's own id for the question.
    """

    id: int
    session_id: int
    tool_call_id: int | None
    question_id: str
    question: str
    description: str | None
    response_type: str
    answer: str | None
    created_at: int
    answered_at: int | None


_SELECT_QUESTIONS = f"SELECT {', '.join(f.name for f in fields(Question))} FROM {TABLE}"


def _question_row(index: int, question: Mapping[str, Any]) -> tuple[str, str, str | None, str]:
    """(question_id, question, description, response_type) of one question mapping."""
    question_id = question.get("question_id", question.get("id"))
    if question_id is None:
        raise ValueError(f"question {index} has no 'question_id' (or 'id')")
    text = question.get("question")
    if text is None:
        raise ValueError(f"question {index} ({question_id!r}) has no 'question'")
    response_type = question.get("response_type") or "text"
    return str(question_id), str(text), question.get("description"), str(response_type)


class RequirementsQnaStore:
    """The questions and answers of the requirements Q&A agent, stored in ``db``.

    Raises :class:`MissingQnaTableError` if ``db`` was opened without the
    ``requirements_qna`` agent.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        found = db.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        if found is None:
            raise MissingQnaTableError(db.path)

    def store_questions(
        self,
        session_id: int,
        questions: Sequence[Mapping[str, Any]],
        tool_call_id: int | None = None,
    ) -> list[int]:
        """Store the questions asked in a session, all or none; return their row ids in order.

        Each mapping has ``question_id`` (or ``id``) and ``question``, and
        optionally ``description`` and ``response_type`` (default ``text``).
        ``tool_call_id`` is the row id of the tool call that asked them.
        Raises :class:`KeyError` if the session or tool call does not exist.
        """
        rows = [_question_row(index, question) for index, question in enumerate(questions)]
        now = int(time.time())
        connection = self.db.connection
        ids: list[int] = []
        try:
            with connection:
                for question_id, text, description, response_type in rows:
                    cursor = connection.execute(
                        f"INSERT INTO {TABLE} (session_id, tool_call_id, question_id, question, description, "
                        "response_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (session_id, tool_call_id, question_id, text, description, response_type, now),
                    )
                    assert cursor.lastrowid is not None
                    ids.append(cursor.lastrowid)
        except sqlite3.IntegrityError as error:
            if not str(error).startswith("FOREIGN KEY"):
                raise ValueError(f"the database rejected a question: {error}") from error
            raise KeyError(self._missing_parent(session_id, tool_call_id)) from error
        return ids

    def list_questions(self, session_id: int) -> list[Question]:
        """Every question of the session, in the order they were stored."""
        return self._select("WHERE session_id = ?", session_id)

    def list_pending_questions(self, session_id: int) -> list[Question]:
        """The session's questions not answered yet, in the order they were stored."""
        return self._select("WHERE session_id = ? AND answer IS NULL", session_id)

    def store_answers(self, session_id: int, answers: Mapping[str, str]) -> None:
        """Record answers, keyed by ``question_id``, to the session's questions.

        All in one transaction: if any key is not a question of the session,
        :class:`KeyError` names every such key and nothing is written. A
        question asked twice under one ``question_id`` gets the answer on
        both rows; answering again replaces the answer.
        """
        now = int(time.time())
        connection = self.db.connection
        unknown: list[str] = []
        with connection:  # the KeyError below rolls back the answers already written
            for question_id, answer in answers.items():
                cursor = connection.execute(
                    f"UPDATE {TABLE} SET answer = ?, answered_at = ? WHERE session_id = ? AND question_id = ?",
                    (answer, now, session_id, question_id),
                )
                if cursor.rowcount == 0:
                    unknown.append(question_id)
            if unknown:
                listed = ", ".join(repr(q) for q in sorted(unknown))
                raise KeyError(f"session {session_id} has no question with id {listed}; no answer was stored")

    # The names of the original Rust crate (requirements_gathering/database.rs).
    get_pending_questions = list_pending_questions

    def _select(self, where: str, session_id: int) -> list[Question]:
        rows = self.db.connection.execute(
            f"{_SELECT_QUESTIONS} {where} ORDER BY created_at, id", (session_id,)
        ).fetchall()
        return [Question(*row) for row in rows]

    def _missing_parent(self, session_id: int, tool_call_id: int | None) -> str:
        missing = []
        try:
            self.db.get_session(session_id)
        except KeyError:
            missing.append(f"session with id {session_id}")
        if tool_call_id is not None:
            try:
                self.db.get_tool_call(tool_call_id)
            except KeyError:
                missing.append(f"tool call with id {tool_call_id}")
        return f"no {' and no '.join(missing) or 'referenced row'}; no question was stored"

