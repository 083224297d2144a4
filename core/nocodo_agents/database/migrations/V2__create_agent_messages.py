"""V2: the conversation of each session."""

SQLITE = """\
CREATE TABLE agent_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_agent_messages_session_created
    ON agent_messages (session_id, created_at);
"""


def migration(dialect: str) -> str:
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"no {dialect} SQL yet: this migration supports sqlite only")


def rollback(dialect: str) -> str:
    return """\
DROP INDEX idx_agent_messages_session_created;
DROP TABLE agent_messages;
"""
