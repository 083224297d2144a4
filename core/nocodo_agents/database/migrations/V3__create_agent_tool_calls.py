"""V3: tool calls requested by the model and their outcomes."""

SQLITE = """\
CREATE TABLE agent_tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
    message_id INTEGER REFERENCES agent_messages (id) ON DELETE SET NULL,
    tool_call_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    execution_time_ms INTEGER,
    error_details TEXT
);
CREATE INDEX idx_agent_tool_calls_session_status
    ON agent_tool_calls (session_id, status);
"""


def migration(dialect: str) -> str:
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"no {dialect} SQL yet: this migration supports sqlite only")


def rollback(dialect: str) -> str:
    return """\
DROP INDEX idx_agent_tool_calls_session_status;
DROP TABLE agent_tool_calls;
"""
