"""V1: one row per agent run (session)."""

SQLITE = """\
CREATE TABLE agent_sessions (
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
    error TEXT
);
"""


def migration(dialect: str) -> str:
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"no {dialect} SQL yet: this migration supports sqlite only")


def rollback(dialect: str) -> str:
    return """\
DROP TABLE agent_sessions;
"""
