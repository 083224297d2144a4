"""V4: questions the requirements Q&A agent asked, and the users' answers."""

SQLITE = """\
CREATE TABLE project_requirements_qna (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
    tool_call_id INTEGER REFERENCES agent_tool_calls (id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    question TEXT NOT NULL,
    description TEXT,
    response_type TEXT NOT NULL DEFAULT 'text',
    answer TEXT,
    created_at INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX idx_project_requirements_qna_session ON project_requirements_qna (session_id);
"""


def migration(dialect: str) -> str:
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"no {dialect} SQL yet: this migration supports sqlite only")


def rollback(dialect: str) -> str:
    return """\
DROP INDEX idx_project_requirements_qna_session;
DROP TABLE project_requirements_qna;
"""
