"""Data survival: thousands of rows in every core table and the Q&A table outlive migrations that alter them.

A database made by the core (V1-V3) and the real requirements_qna plugin
(V4) is filled with a few thousand sessions, messages, tool calls and
questions (unicode, NULLs, large text, JSON, SQL-looking text), with
explicit ids that leave gaps. A test agent then upgrades it with
per-dialect migrations that alter every one of those tables:

* SQLite: ADD COLUMN with a default; SQLite's documented 12-step rebuild
  ("Making Other Kinds Of Table Schema Changes": create new, copy, drop old,
  rename, recreate indexes) of the PARENT table agent_sessions and of two
  child tables (agent_messages, itself the parent of tool calls, and
  project_requirements_qna); an index change; backfill UPDATEs. The caller's
  connection has ``PRAGMA foreign_keys = ON`` (``Database`` enables it), under
  which the rebuild's DROP used to cascade-delete every child row (and, for
  agent_messages, set every tool call's message_id to NULL).
* PostgreSQL: ADD COLUMN with a default, a rename-and-swap of the parent
  (new table, copy, identity sequence moved on, children's foreign keys
  re-pointed, old table dropped, new one renamed), type widening, dropping
  and adding CHECK and FOREIGN KEY constraints, an index change, backfills.
* MariaDB: the same, with the parent altered in place (``ALTER TABLE ...
  ALGORITHM=COPY``: InnoDB copies the table and keeps the children's keys),
  since a MySQL parent cannot be dropped while children reference it.

After the upgrade every original column of every row equals what was
inserted, every new column holds its default or backfilled value, every
child still joins its parent (by content), the foreign keys are still
declared, enforced and cascade, and history lists the migrations.

The protection is proved too: on SQLite a rebuild that forgets to copy
fails with ForeignKeyViolationError and changes nothing. The servers need
no such check: their foreign keys stay enforced during migrations, so the
DROP of a referenced table is refused (and a DELETE that cascades, or a DROP
... CASCADE, is SQL that says it removes the rows or the keys).
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import migration_module, plugin_for

import nocodo_agents_requirements_qna.plugin as qna_plugin
from nocodo_agents import ForeignKeyViolationError, IncompleteMigrationError, MigrationFailedError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database import Database
from nocodo_agents.database.migrations import MigrationReport, run_agent_migrations
from nocodo_agents.discovery import AgentEntry, AgentRegistry
from nocodo_agents.lifecycle import resolve_unfinished

Row = tuple[Any, ...]

QNA_DISTRIBUTION = "nocodo-agents-requirements-qna"
UPGRADE_DISTRIBUTION = "nocodo-test-upgrade"

# -- the data ------------------------------------------------------------------------------------

#: The columns V1-V4 create, in order; the upgrade must leave every one of them as it was.
COLUMNS: dict[str, tuple[str, ...]] = {
    "agent_sessions": (
        "id", "agent_name", "provider", "model", "system_prompt", "user_prompt", "config", "status",
        "started_at", "ended_at", "result", "error",
    ),
    "agent_messages": ("id", "session_id", "role", "content", "created_at"),
    "agent_tool_calls": (
        "id", "session_id", "message_id", "tool_call_id", "tool_name", "request", "response", "status",
        "created_at", "completed_at", "execution_time_ms", "error_details",
    ),
    "project_requirements_qna": (
        "id", "session_id", "tool_call_id", "question_id", "question", "description", "response_type",
        "answer", "created_at", "answered_at",
    ),
}
#: Parents first (the order rows are inserted in).
TABLES = tuple(COLUMNS)

SESSIONS = 2000
#: Texts that break naive SQL handling, encodings or byte/character counting.
TEXTS = (
    "plain ascii",
    "Grüße aus Köln — naïve café, ½ ≠ ∞",
    "日本語のテキスト、中文字符，한국어",
    "emoji 🚀🧪 zwj 👩\u200d💻 flag 🇩🇪 astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "RTL שלום עולם مرحبا بالعالم",
    "combining e\u0301 a\u0308 o\u0303",
    "quotes ' \" ` backslash \\ \\n semicolon ; -- comment /* block */",
    "'; DROP TABLE agent_sessions; --",
    "placeholders %s %(name)s ? :name {0} $1",
    "line1\nline2\r\nline3\ttab",
    "trailing spaces   ",
    "",
)


def _text(rng: random.Random, index: int) -> str:
    return f"{rng.choice(TEXTS)} #{index}"


def _large(rng: random.Random, index: int) -> str:
    """About 70,000 characters of mixed scripts (multi-byte in UTF-8)."""
    return (f"row {index}: " + "".join(rng.choice(TEXTS) for _ in range(40)) + "\n") * 50


def _json(rng: random.Random, index: int) -> str:
    return json.dumps(
        {"i": index, "name": rng.choice(TEXTS), "nested": {"list": [1, 2.5, None, True], "ünï": "☃"}, "n": None},
        ensure_ascii=rng.random() < 0.5,
    )


@dataclass(frozen=True)
class Dataset:
    """The rows of each table as inserted (columns of :data:`COLUMNS`), ordered by id."""

    rows: dict[str, list[Row]]

    def count(self, table: str) -> int:
        return len(self.rows[table])


def make_dataset(seed: int = 8) -> Dataset:
    """A few thousand rows per table, deterministic, with ids that leave gaps.

    Some sessions have no children; a tool call's message and a question's
    tool call belong to the same session (or are NULL).
    """
    rng = random.Random(seed)
    sessions: list[Row] = []
    messages: list[Row] = []
    tool_calls: list[Row] = []
    questions: list[Row] = []
    message_id = tool_call_id = question_id = 0
    for index in range(SESSIONS):
        session_id = 3 * index + 5
        status = rng.choice(("running", "completed", "failed", "waiting_for_user_input"))
        started = 1_700_000_000 + 17 * index
        sessions.append((
            session_id,
            f"agent-{index % 7} {rng.choice(TEXTS)}"[:200],
            rng.choice(("openai", "anthropic", "ollama", "prövider")),
            rng.choice(("gpt-4o", "claude-3.5", "llama3:70b", "mödel ✓")),
            None if index % 3 == 0 else _text(rng, index),
            _large(rng, index) if index % 250 == 0 else _text(rng, index),
            None if index % 4 == 0 else _json(rng, index),
            status,
            started,
            None if status == "running" else started + rng.randrange(1, 10_000),
            _text(rng, index) if status == "completed" else None,
            _text(rng, index) if status == "failed" else None,
        ))
        if index % 10 == 9:
            continue  # a session without children
        own_messages = []
        for turn in range(rng.randrange(1, 6)):
            message_id += rng.choice((1, 1, 1, 2))
            own_messages.append(message_id)
            content = _large(rng, message_id) if message_id % 400 == 0 else _text(rng, message_id)
            messages.append((message_id, session_id, rng.choice(("user", "assistant", "system", "tool")), content, started + turn))
        own_calls = []
        for call in range(rng.randrange(0, 4)):
            tool_call_id += rng.choice((1, 2))
            own_calls.append(tool_call_id)
            call_status = rng.choice(("pending", "completed", "failed"))
            done = call_status != "pending"
            tool_calls.append((
                tool_call_id,
                session_id,
                rng.choice(own_messages) if rng.random() < 0.7 else None,
                f"call_{uuid.UUID(int=rng.getrandbits(128)).hex}",
                rng.choice(("search", "read_file", "ask_user", "wrïte ✍")),
                _json(rng, tool_call_id),
                _json(rng, -tool_call_id) if done and rng.random() < 0.8 else None,
                call_status,
                started + call,
                started + call + 1 if done else None,
                rng.randrange(0, 10**12) if done else None,
                _text(rng, tool_call_id) if call_status == "failed" else None,
            ))
        for ask in range(rng.randrange(0, 4)):
            question_id += rng.choice((1, 3))
            answered = rng.random() < 0.6
            questions.append((
                question_id,
                session_id,
                rng.choice(own_calls) if own_calls and rng.random() < 0.8 else None,
                f"q-{index}-{ask}",
                _large(rng, question_id) if question_id % 333 == 0 else _text(rng, question_id),
                None if rng.random() < 0.5 else _text(rng, question_id),
                rng.choice(("text", "choice", "number", "yes_no")),
                _text(rng, question_id) if answered else None,
                started + ask,
                started + ask + 60 if answered else None,
            ))
    return Dataset({
        "agent_sessions": sessions,
        "agent_messages": messages,
        "agent_tool_calls": tool_calls,
        "project_requirements_qna": questions,
    })


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    data = make_dataset()
    for table in TABLES:
        assert data.count(table) >= 2000, (table, data.count(table))
    return data


# -- the migrations, per dialect -----------------------------------------------------------------

SESSION_COLUMNS = ", ".join(COLUMNS["agent_sessions"])
MESSAGE_COLUMNS = ", ".join(COLUMNS["agent_messages"])
QNA_COLUMNS = ", ".join(COLUMNS["project_requirements_qna"])

#: agent_sessions as V1 makes it on SQLite, with the new column ``priority``.
SQLITE_SESSIONS_NEW = """
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
"""

#: SQLite's 12-step rebuild of the parent table (the runner does steps 1-2 and 10-12 around it).
SQLITE_REBUILD_SESSIONS = SQLITE_SESSIONS_NEW + f"""
INSERT INTO agent_sessions_new ({SESSION_COLUMNS}) SELECT {SESSION_COLUMNS} FROM agent_sessions;
DROP TABLE agent_sessions;
ALTER TABLE agent_sessions_new RENAME TO agent_sessions;
CREATE INDEX idx_agent_sessions_agent ON agent_sessions (agent_name);
"""

#: The same rebuild without step 5 (copy the rows): every child loses its parent.
SQLITE_REBUILD_SESSIONS_WITHOUT_COPY = SQLITE_SESSIONS_NEW + """
DROP TABLE agent_sessions;
ALTER TABLE agent_sessions_new RENAME TO agent_sessions;
"""

#: Rebuilds of two child tables: a wider role CHECK; the question's tool call now ON DELETE SET NULL.
SQLITE_REBUILD_CHILDREN = f"""
CREATE TABLE agent_messages_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool', 'developer')),
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    token_count INTEGER NOT NULL DEFAULT 0
);
INSERT INTO agent_messages_new ({MESSAGE_COLUMNS}, token_count)
    SELECT {MESSAGE_COLUMNS}, token_count FROM agent_messages;
DROP TABLE agent_messages;
ALTER TABLE agent_messages_new RENAME TO agent_messages;
CREATE INDEX idx_agent_messages_session_created ON agent_messages (session_id, created_at);
CREATE TABLE project_requirements_qna_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
    tool_call_id INTEGER REFERENCES agent_tool_calls (id) ON DELETE SET NULL,
    question_id TEXT NOT NULL,
    question TEXT NOT NULL,
    description TEXT,
    response_type TEXT NOT NULL DEFAULT 'text',
    answer TEXT,
    created_at INTEGER NOT NULL,
    answered_at INTEGER,
    locale TEXT NOT NULL DEFAULT 'en' CHECK (locale <> '')
);
INSERT INTO project_requirements_qna_new ({QNA_COLUMNS}, locale)
    SELECT {QNA_COLUMNS}, locale FROM project_requirements_qna;
DROP TABLE project_requirements_qna;
ALTER TABLE project_requirements_qna_new RENAME TO project_requirements_qna;
CREATE INDEX idx_project_requirements_qna_session ON project_requirements_qna (session_id);
"""

#: PostgreSQL: agent_sessions swapped for a new table; the children's keys follow it.
POSTGRESQL_SWAP_SESSIONS = f"""
CREATE TABLE agent_sessions_new (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    agent_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    system_prompt TEXT,
    user_prompt TEXT NOT NULL,
    config TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'waiting_for_user_input')),
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    result TEXT,
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 0 CONSTRAINT agent_sessions_priority_check CHECK (priority >= 0)
);
INSERT INTO agent_sessions_new ({SESSION_COLUMNS}) SELECT {SESSION_COLUMNS} FROM agent_sessions;
SELECT setval(pg_get_serial_sequence('agent_sessions_new', 'id'), (SELECT MAX(id) FROM agent_sessions_new));
ALTER TABLE agent_messages DROP CONSTRAINT agent_messages_session_id_fkey,
    ADD CONSTRAINT agent_messages_session_id_fkey FOREIGN KEY (session_id)
    REFERENCES agent_sessions_new (id) ON DELETE CASCADE;
ALTER TABLE agent_tool_calls DROP CONSTRAINT agent_tool_calls_session_id_fkey,
    ADD CONSTRAINT agent_tool_calls_session_id_fkey FOREIGN KEY (session_id)
    REFERENCES agent_sessions_new (id) ON DELETE CASCADE;
ALTER TABLE project_requirements_qna DROP CONSTRAINT project_requirements_qna_session_id_fkey,
    ADD CONSTRAINT project_requirements_qna_session_id_fkey FOREIGN KEY (session_id)
    REFERENCES agent_sessions_new (id) ON DELETE CASCADE;
DROP TABLE agent_sessions;
ALTER TABLE agent_sessions_new RENAME TO agent_sessions;
CREATE INDEX idx_agent_sessions_agent ON agent_sessions (agent_name);
"""

POSTGRESQL_TYPES_AND_CONSTRAINTS = """
ALTER TABLE agent_messages ALTER COLUMN token_count TYPE BIGINT;
ALTER TABLE agent_tool_calls ALTER COLUMN retries TYPE INTEGER, ALTER COLUMN execution_time_ms TYPE NUMERIC(20, 3);
ALTER TABLE agent_messages DROP CONSTRAINT agent_messages_role_check;
ALTER TABLE agent_messages ADD CONSTRAINT agent_messages_role_check
    CHECK (role IN ('user', 'assistant', 'system', 'tool', 'developer'));
ALTER TABLE agent_tool_calls DROP CONSTRAINT agent_tool_calls_status_check;
ALTER TABLE agent_tool_calls ADD CONSTRAINT agent_tool_calls_status_check
    CHECK (status IN ('pending', 'completed', 'failed', 'cancelled'));
ALTER TABLE project_requirements_qna DROP CONSTRAINT project_requirements_qna_tool_call_id_fkey;
ALTER TABLE project_requirements_qna ADD CONSTRAINT project_requirements_qna_tool_call_id_fkey
    FOREIGN KEY (tool_call_id) REFERENCES agent_tool_calls (id) ON DELETE SET NULL;
ALTER TABLE project_requirements_qna ADD CONSTRAINT project_requirements_qna_locale_check CHECK (locale <> '');
"""

#: MariaDB: the parent rebuilt in place (a full table copy); InnoDB keeps the children's keys.
MYSQL_REBUILD_SESSIONS = """
ALTER TABLE agent_sessions
    ADD COLUMN priority INT NOT NULL DEFAULT 0,
    ADD CONSTRAINT agent_sessions_priority_check CHECK (priority >= 0),
    MODIFY model VARCHAR(1024) NOT NULL,
    ALGORITHM=COPY;
"""

#: MODIFY drops a column's CHECK unless it is restated, so it is.
MYSQL_TYPES_AND_CONSTRAINTS = """
ALTER TABLE agent_messages MODIFY token_count BIGINT NOT NULL DEFAULT 0,
    MODIFY role VARCHAR(32) NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool', 'developer'));
ALTER TABLE agent_tool_calls MODIFY retries INT NOT NULL DEFAULT 0,
    MODIFY tool_name VARCHAR(1024) NOT NULL,
    MODIFY execution_time_ms DECIMAL(20, 3),
    MODIFY status VARCHAR(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed', 'cancelled'));
ALTER TABLE project_requirements_qna DROP FOREIGN KEY fk_project_requirements_qna_tool_call;
ALTER TABLE project_requirements_qna ADD CONSTRAINT fk_project_requirements_qna_tool_call
    FOREIGN KEY (tool_call_id) REFERENCES agent_tool_calls (id) ON DELETE SET NULL;
ALTER TABLE project_requirements_qna ADD CONSTRAINT project_requirements_qna_locale_check CHECK (locale <> '');
"""


def _add_columns(dialect: str) -> str:
    text_type = "VARCHAR(16)" if dialect == "mysql" else "TEXT"
    small = "INTEGER" if dialect == "sqlite" else "SMALLINT"
    return (
        "ALTER TABLE agent_messages ADD COLUMN token_count INTEGER NOT NULL DEFAULT 0;\n"
        f"ALTER TABLE agent_tool_calls ADD COLUMN retries {small} NOT NULL DEFAULT 0;\n"
        f"ALTER TABLE project_requirements_qna ADD COLUMN locale {text_type} NOT NULL DEFAULT 'en';\n"
        "CREATE INDEX idx_agent_sessions_agent ON agent_sessions (agent_name);\n"
    )


def _reindex_and_backfill(dialect: str) -> str:
    length = "length" if dialect == "sqlite" else "CHAR_LENGTH"
    drop_index = "DROP INDEX idx_agent_tool_calls_session_status"
    if dialect == "mysql":
        drop_index += " ON agent_tool_calls"
    # the new index comes first: MariaDB keeps an index on session_id for the foreign key
    return (
        "CREATE INDEX idx_agent_tool_calls_session_created ON agent_tool_calls (session_id, created_at);\n"
        f"{drop_index};\n"
        "UPDATE agent_sessions SET priority = CASE status WHEN 'failed' THEN 2 "
        "WHEN 'waiting_for_user_input' THEN 1 ELSE 0 END;\n"
        f"UPDATE agent_messages SET token_count = {length}(content);\n"
        "UPDATE agent_tool_calls SET retries = 1 WHERE status = 'failed';\n"
        "UPDATE project_requirements_qna SET locale = 'und' WHERE answer IS NULL;\n"
    )


UPGRADE: dict[str, dict[str, str]] = {
    "V10__add_columns": {d: _add_columns(d) for d in ("sqlite", "postgresql", "mysql")},
    "V11__rebuild_sessions": {
        "sqlite": SQLITE_REBUILD_SESSIONS,
        "postgresql": POSTGRESQL_SWAP_SESSIONS,
        "mysql": MYSQL_REBUILD_SESSIONS,
    },
    "V12__children_types_and_constraints": {
        "sqlite": SQLITE_REBUILD_CHILDREN,
        "postgresql": POSTGRESQL_TYPES_AND_CONSTRAINTS,
        "mysql": MYSQL_TYPES_AND_CONSTRAINTS,
    },
    "V13__reindex_and_backfill": {d: _reindex_and_backfill(d) for d in ("sqlite", "postgresql", "mysql")},
}
UPGRADE_VERSIONS = (10, 11, 12, 13)


def per_dialect_module(sql: dict[str, str]) -> str:
    """Source of a V-module whose ``migration(dialect)`` returns that dialect's SQL."""
    return f"# per-dialect SQL\nSQL = {sql!r}\n\n\ndef migration(dialect):\n    return SQL[dialect]\n"


def registry_with(package: str | None = None) -> AgentRegistry:
    """Core, the real requirements_qna plugin, and (if given) the test agent ``upgrade``."""
    entries = [AgentEntry("requirements_qna", QNA_DISTRIBUTION, "0", repr(qna_plugin), lambda: qna_plugin)]
    if package is not None:
        plugin = plugin_for(package)
        entries.append(AgentEntry("upgrade", UPGRADE_DISTRIBUTION, "0", repr(plugin), lambda: plugin))
    return AgentRegistry(entries)


# -- one database per dialect, behind one small interface ----------------------------------------


class Backend:
    """A database of one dialect: migrate it, write rows, read rows; idle between calls."""

    dialect = ""
    placeholder = "%s"

    def migrate(self, registry: AgentRegistry) -> MigrationReport:
        raise NotImplementedError

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def after_explicit_ids(self) -> None:
        """What an application does after inserting explicit ids (PostgreSQL: move the sequences on)."""

    def close(self) -> None:
        """Close the connection (and drop a server database)."""


class SQLiteBackend(Backend):
    """A file opened with ``nocodo_agents.Database`` (``PRAGMA foreign_keys = ON``), as applications do."""

    dialect = "sqlite"
    placeholder = "?"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: Database | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        assert self.db is not None
        return self.db.connection

    def migrate(self, registry: AgentRegistry) -> MigrationReport:
        if self.db is not None:
            self.db.close()
            self.db = None
        self.db = Database(self.path, registry=registry)
        return self.db.migration_report

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.connection.execute(sql, params).fetchall()

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.connection:
            self.connection.execute(sql, params)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("?" for _ in columns)
        with self.connection:
            self.connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class PostgresBackend(Backend):
    """A fresh database on the private server; a psycopg connection with its defaults."""

    dialect = "postgresql"

    def __init__(self, server: Any) -> None:
        import psycopg

        name = f"survival_{uuid.uuid4().hex[:10]}"
        server.create_database(name)
        self.connection = psycopg.connect(server.dsn(name))

    def migrate(self, registry: AgentRegistry) -> MigrationReport:
        return run_agent_migrations(self.connection, registry=registry)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows = self.connection.execute(sql, params).fetchall()
        self.connection.rollback()
        return rows

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.connection.transaction():
            self.connection.execute(sql, params)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("%s" for _ in columns)
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def after_explicit_ids(self) -> None:
        for table in TABLES:
            self.write(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")

    def close(self) -> None:
        self.connection.close()


class MariaDBBackend(Backend):
    """A fresh database on the private server; a PyMySQL connection with its defaults (autocommit off)."""

    dialect = "mysql"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.name = f"survival_{uuid.uuid4().hex[:10]}"
        server.create_database(self.name)
        self.connection = server.connect(self.name)

    def migrate(self, registry: AgentRegistry) -> MigrationReport:
        return run_agent_migrations(self.connection, registry=registry)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params or None)
                rows = [tuple(row) for row in cursor.fetchall()]
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()
        return rows

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.rows(sql, params)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("%s" for _ in columns)
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), 500):  # multi-row INSERTs well below max_allowed_packet
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows[start : start + 500])
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()
        admin = self.server.connect()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        finally:
            admin.close()


def _open(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if dialect == "sqlite":
        return SQLiteBackend(tmp_path / "agents.sqlite")
    if dialect == "postgresql":
        return PostgresBackend(request.getfixturevalue("postgres_server"))
    return MariaDBBackend(request.getfixturevalue("mariadb_server"))


@pytest.fixture(params=["sqlite", "postgresql", "mysql"], ids=["sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened = _open(request.param, request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def filled(backend: Backend, data: Dataset) -> None:
    """Core and requirements_qna migrated (V1-V4), then every row of ``data`` inserted."""
    assert backend.migrate(registry_with()).versions == (1, 2, 3, 4)
    for table in TABLES:
        backend.insert_many(table, COLUMNS[table], data.rows[table])
    backend.after_explicit_ids()


# -- what must hold --------------------------------------------------------------------------------


def snapshot(backend: Backend, table: str, columns: Sequence[str]) -> list[Row]:
    return backend.rows(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")


def assert_original_rows(backend: Backend, data: Dataset) -> None:
    """Every V1-V4 column of every row is exactly as inserted."""
    for table in TABLES:
        got = snapshot(backend, table, COLUMNS[table])
        assert len(got) == data.count(table), table
        mismatched = [(want, have) for want, have in zip(data.rows[table], got) if want != have]
        assert not mismatched, f"{table}: {len(mismatched)} rows changed, first: {mismatched[0]}"


#: Each foreign key: (child table, child column, parent table, parent columns read for the join).
FOREIGN_KEYS = (
    ("agent_messages", "session_id", "agent_sessions", ("id", "agent_name", "user_prompt", "started_at")),
    ("agent_tool_calls", "session_id", "agent_sessions", ("id", "agent_name", "user_prompt", "started_at")),
    ("agent_tool_calls", "message_id", "agent_messages", ("id", "session_id", "content")),
    ("project_requirements_qna", "session_id", "agent_sessions", ("id", "agent_name", "user_prompt", "started_at")),
    ("project_requirements_qna", "tool_call_id", "agent_tool_calls", ("id", "session_id", "tool_call_id", "request")),
)


def expected_joins(data: Dataset) -> dict[tuple[str, str], list[Row]]:
    """For each foreign key, ``(child id, parent columns...)`` of every child with a parent, by child id."""
    joins = {}
    for child, column, parent, parent_columns in FOREIGN_KEYS:
        position = COLUMNS[child].index(column)
        parents = {row[0]: row for row in data.rows[parent]}
        picks = [COLUMNS[parent].index(c) for c in parent_columns]
        joins[(child, column)] = [
            (row[0], *(parents[row[position]][i] for i in picks))
            for row in data.rows[child]
            if row[position] is not None
        ]
    return joins


def assert_children_join_their_parents(backend: Backend, data: Dataset) -> None:
    """Each child row still finds its parent, and the parent's content is the one it had."""
    for (child, column), expected in expected_joins(data).items():
        parent = next(p for c, col, p, _ in FOREIGN_KEYS if (c, col) == (child, column))
        parent_columns = next(cols for c, col, _, cols in FOREIGN_KEYS if (c, col) == (child, column))
        selected = ", ".join(f"p.{c}" for c in parent_columns)
        got = backend.rows(
            f"SELECT c.id, {selected} FROM {child} c JOIN {parent} p ON p.id = c.{column} ORDER BY c.id"
        )
        assert got == expected, f"{child}.{column} -> {parent}: {len(got)} joined rows, {len(expected)} expected"


def orphan_counts(backend: Backend) -> dict[str, int]:
    """For each foreign key, the child rows whose parent is missing (a query, on every dialect)."""
    counts = {}
    for child, column, parent, _ in FOREIGN_KEYS:
        counts[f"{child}.{column}"] = backend.rows(
            f"SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{column} "
            f"WHERE c.{column} IS NOT NULL AND p.id IS NULL"
        )[0][0]
    return counts


def declared_foreign_keys(backend: Backend) -> dict[tuple[str, str], tuple[str, str]]:
    """``(child, column) -> (parent table, ON DELETE rule)`` as the database declares them."""
    if backend.dialect == "sqlite":
        found = {}
        for table in TABLES:
            for row in backend.rows("SELECT \"table\", \"from\", on_delete FROM pragma_foreign_key_list(?)", (table,)):
                found[(table, row[1])] = (row[0], row[2])
        return found
    schema = "current_schema()" if backend.dialect == "postgresql" else "DATABASE()"
    rows = backend.rows(
        "SELECT k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, r.DELETE_RULE "
        "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        f"WHERE k.CONSTRAINT_SCHEMA = {schema} AND k.REFERENCED_TABLE_NAME IS NOT NULL"
        if backend.dialect == "mysql"
        else "SELECT cl.relname, a.attname, pl.relname, CASE c.confdeltype WHEN 'c' THEN 'CASCADE' "
        "WHEN 'n' THEN 'SET NULL' ELSE c.confdeltype::text END FROM pg_constraint c "
        "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        f"WHERE c.contype = 'f' AND c.connamespace = {schema}::regnamespace"
    )
    return {(child, column): (parent, rule) for child, column, parent, rule in rows}


def indexes(backend: Backend) -> set:
    if backend.dialect == "sqlite":
        return {r[0] for r in backend.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    if backend.dialect == "postgresql":
        return {r[0] for r in backend.rows("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
    return {r[0] for r in backend.rows("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()")}


def expected_new_columns(data: Dataset) -> dict[str, list[Row]]:
    """``(id, new column)`` of every row after the upgrade: defaults, then the backfills of V13."""
    priority = {"failed": 2, "waiting_for_user_input": 1}
    return {
        "agent_sessions": [(r[0], priority.get(r[7], 0)) for r in data.rows["agent_sessions"]],
        "agent_messages": [(r[0], len(r[3])) for r in data.rows["agent_messages"]],
        "agent_tool_calls": [(r[0], 1 if r[7] == "failed" else 0) for r in data.rows["agent_tool_calls"]],
        "project_requirements_qna": [(r[0], "und" if r[7] is None else "en") for r in data.rows["project_requirements_qna"]],
    }


NEW_COLUMNS = {
    "agent_sessions": "priority",
    "agent_messages": "token_count",
    "agent_tool_calls": "retries",
    "project_requirements_qna": "locale",
}


def counts(backend: Backend) -> dict[str, int]:
    return {table: backend.rows(f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES}


def history(backend: Backend) -> list[Row]:
    return backend.rows("SELECT version, name, agent FROM refinery_schema_history ORDER BY version")


BASE_HISTORY = [
    (1, "create_agent_sessions", "core"),
    (2, "create_agent_messages", "core"),
    (3, "create_agent_tool_calls", "core"),
    (4, "create_project_requirements_qna", "requirements_qna"),
]


# -- the upgrade -----------------------------------------------------------------------------------


def test_every_row_and_foreign_key_survives_an_upgrade_that_alters_every_table(
    backend: Backend, dataset: Dataset, agent_package: Callable[..., str]
) -> None:
    filled(backend, dataset)
    assert_original_rows(backend, dataset)  # the baseline: what went in comes back
    keys_before = declared_foreign_keys(backend)
    package = agent_package({name: per_dialect_module(sql) for name, sql in UPGRADE.items()})

    report = backend.migrate(registry_with(package))

    assert report.versions == UPGRADE_VERSIONS
    assert history(backend) == BASE_HISTORY + [(v, n.split("__", 1)[1], "upgrade") for v, n in zip(UPGRADE_VERSIONS, UPGRADE)]
    assert counts(backend) == {table: dataset.count(table) for table in TABLES}
    assert_original_rows(backend, dataset)
    for table, column in NEW_COLUMNS.items():
        assert backend.rows(f"SELECT id, {column} FROM {table} ORDER BY id") == expected_new_columns(dataset)[table], table
    assert_children_join_their_parents(backend, dataset)
    assert orphan_counts(backend) == {f"{c}.{col}": 0 for c, col, _, _ in FOREIGN_KEYS}
    if backend.dialect == "sqlite":
        assert backend.rows("PRAGMA foreign_key_check") == []
        assert backend.rows("PRAGMA foreign_keys") == [(1,)]  # the caller's setting is back
        assert backend.rows("PRAGMA integrity_check") == [("ok",)]
    changed_rule = ("project_requirements_qna", "tool_call_id")
    assert declared_foreign_keys(backend) == {
        **keys_before, changed_rule: ("agent_tool_calls", "SET NULL"),
    }
    assert keys_before[changed_rule] == ("agent_tool_calls", "CASCADE")
    assert {
        "idx_agent_sessions_agent", "idx_agent_messages_session_created", "idx_agent_tool_calls_session_created",
        "idx_project_requirements_qna_session",
    } <= indexes(backend)
    assert "idx_agent_tool_calls_session_status" not in indexes(backend)
    assert backend.migrate(registry_with(package)).applied == ()

    assert_foreign_keys_still_act(backend, dataset)


def assert_foreign_keys_still_act(backend: Backend, data: Dataset) -> None:
    """After the upgrade the keys are enforced and their ON DELETE actions run; new rows get new ids."""
    p = backend.placeholder
    # ON DELETE SET NULL (tool call -> message): the tool calls of a deleted message stay, unlinked
    message_id, calls = next(
        (m[0], [t[0] for t in data.rows["agent_tool_calls"] if t[2] == m[0]])
        for m in data.rows["agent_messages"]
        if sum(1 for t in data.rows["agent_tool_calls"] if t[2] == m[0]) >= 1
    )
    backend.write(f"DELETE FROM agent_messages WHERE id = {p}", (message_id,))
    marks = ", ".join(p for _ in calls)
    assert backend.rows(f"SELECT message_id FROM agent_tool_calls WHERE id IN ({marks})", calls) == [(None,)] * len(calls)

    # ON DELETE SET NULL (question -> tool call), the rule V12 changed from CASCADE
    question = next(q for q in data.rows["project_requirements_qna"] if q[2] is not None)
    backend.write(f"DELETE FROM agent_tool_calls WHERE id = {p}", (question[2],))
    assert backend.rows(f"SELECT tool_call_id FROM project_requirements_qna WHERE id = {p}", (question[0],)) == [(None,)]

    # ON DELETE CASCADE (everything -> session): one session's children go, nobody else's
    session_id = next(
        s[0] for s in reversed(data.rows["agent_sessions"])  # far from the rows deleted above
        if any(m[1] == s[0] for m in data.rows["agent_messages"])
        and any(t[1] == s[0] for t in data.rows["agent_tool_calls"])
        and any(q[1] == s[0] for q in data.rows["project_requirements_qna"])
    )
    before = counts(backend)
    own = {
        table: backend.rows(f"SELECT COUNT(*) FROM {table} WHERE session_id = {p}", (session_id,))[0][0]
        for table in TABLES[1:]
    }
    assert all(own.values())
    backend.write(f"DELETE FROM agent_sessions WHERE id = {p}", (session_id,))
    assert counts(backend) == {
        "agent_sessions": before["agent_sessions"] - 1,
        **{table: before[table] - own[table] for table in TABLES[1:]},
    }
    assert orphan_counts(backend) == {f"{c}.{col}": 0 for c, col, _, _ in FOREIGN_KEYS}

    # the keys refuse an orphan; the new schema takes a new session and a 'developer' message
    with pytest.raises(Exception) as refused:
        backend.write(
            f"INSERT INTO agent_messages (session_id, role, content, created_at) VALUES ({p}, 'user', 'orphan', 1)",
            (session_id,),
        )
    assert "foreign key" in str(refused.value).lower()
    backend.write(
        "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('new', 'p', 'm', 'u', 1)"
    )
    new_id = backend.rows("SELECT MAX(id) FROM agent_sessions")[0][0]
    assert new_id > data.rows["agent_sessions"][-1][0]
    backend.write(
        f"INSERT INTO agent_messages (session_id, role, content, created_at) VALUES ({p}, 'developer', 'hi', 1)", (new_id,)
    )
    assert backend.rows(f"SELECT priority, status FROM agent_sessions WHERE id = {p}", (new_id,)) == [(0, "running")]


# -- the protection --------------------------------------------------------------------------------


def _snapshot_all(backend: Backend) -> dict[str, list[Row]]:
    return {table: snapshot(backend, table, COLUMNS[table]) for table in TABLES}


def test_sqlite_rebuild_that_forgets_to_copy_fails_and_keeps_every_row(
    tmp_path: Path, dataset: Dataset, agent_package: Callable[..., str]
) -> None:
    """With the caller's foreign keys ON, a parent rebuild without its copy step fails; nothing changes.

    Enforcement is off while the runner migrates (else the DROP would
    cascade), so ``PRAGMA foreign_key_check`` is what finds the orphans.
    """
    backend = SQLiteBackend(tmp_path / "agents.sqlite")
    try:
        filled(backend, dataset)
        before = _snapshot_all(backend)
        package = agent_package({"V20__rebuild_sessions_forgetting_rows": per_dialect_module({"sqlite": SQLITE_REBUILD_SESSIONS_WITHOUT_COPY})})
        with pytest.raises(ForeignKeyViolationError) as caught:
            backend.migrate(registry_with(package))
        error = caught.value
        children = sum(dataset.count(t) for t in TABLES[1:])  # every message, tool call and question
        assert (error.version, error.agent, error.distribution, error.total) == (20, "upgrade", UPGRADE_DISTRIBUTION, children)
        assert error.rolled_back and len(error.violations) == 20
        assert {parent for _, _, parent in error.violations} == {"agent_sessions"}
        assert "V20__rebuild_sessions_forgetting_rows" in str(error) and "rolled back" in str(error)

        backend.migrate(registry_with())  # reopen as the application would
        assert _snapshot_all(backend) == before
        assert_original_rows(backend, dataset)
        assert backend.rows("PRAGMA foreign_key_check") == []
        assert history(backend) == BASE_HISTORY
        assert "agent_sessions_new" not in {r[0] for r in backend.rows("SELECT name FROM sqlite_master")}
    finally:
        backend.close()


def test_postgresql_drop_of_a_referenced_parent_fails_and_rolls_back_everything(
    request: pytest.FixtureRequest, tmp_path: Path, dataset: Dataset, agent_package: Callable[..., str]
) -> None:
    """PostgreSQL needs no foreign-key check of its own: its keys are enforced inside the migration.

    The DROP of a table that children reference is refused unless it says
    CASCADE (which drops the keys, not the rows, and is explicit), and a
    DELETE that cascades is SQL that says it deletes. Here the refused DROP
    fails the migration after two statements that changed rows: all of it is
    rolled back with the history row.
    """
    import psycopg

    backend = _open("postgresql", request, tmp_path)
    try:
        filled(backend, dataset)
        before = _snapshot_all(backend)
        sql = (
            "UPDATE agent_sessions SET agent_name = 'clobbered';\n"
            "DELETE FROM agent_messages WHERE role = 'tool';\n"
            "DROP TABLE agent_sessions;\n"
        )
        package = agent_package({"V20__drop_parent": per_dialect_module({"postgresql": sql})})
        with pytest.raises(MigrationFailedError) as caught:
            backend.migrate(registry_with(package))
        error = caught.value
        assert (error.version, error.agent, error.statement_index, error.rolled_back) == (20, "upgrade", 2, True)
        assert isinstance(error.__cause__, psycopg.errors.DependentObjectsStillExist)
        assert _snapshot_all(backend) == before
        assert_original_rows(backend, dataset)
        assert history(backend) == BASE_HISTORY
    finally:
        backend.close()


def test_mariadb_drop_of_a_referenced_parent_fails_changes_nothing_and_asks_for_resolve(
    request: pytest.FixtureRequest, tmp_path: Path, dataset: Dataset, agent_package: Callable[..., str]
) -> None:
    """MariaDB needs no foreign-key check of its own: InnoDB refuses to DROP a referenced table.

    MySQL has no transactional DDL, so nothing is rolled back: the failing
    statement itself changes nothing (every row stays), and the journal
    stops later runs until the operator settles the migration (``resolve``).
    """
    import pymysql

    backend = _open("mysql", request, tmp_path)
    try:
        filled(backend, dataset)
        before = _snapshot_all(backend)
        package = agent_package({"V20__drop_parent": per_dialect_module({"mysql": "DROP TABLE agent_sessions;\n"})})
        registry = registry_with(package)
        with pytest.raises(MigrationFailedError) as caught:
            backend.migrate(registry)
        error = caught.value
        assert (error.version, error.agent, error.statement_index, error.rolled_back) == (20, "upgrade", 0, False)
        assert isinstance(error.__cause__, pymysql.err.IntegrityError)
        assert _snapshot_all(backend) == before
        assert_original_rows(backend, dataset)
        assert history(backend) == BASE_HISTORY

        with pytest.raises(IncompleteMigrationError) as stopped:
            backend.migrate(registry)
        assert stopped.value.version == 20 and "resolve_unfinished(conn, 20, applied=False)" in str(stopped.value)
        assert "nocodo-agents resolve 20 --absent" in hint_for(stopped.value)
        assert resolve_unfinished(backend.connection, 20, applied=False, registry=registry) is None
        assert backend.migrate(registry_with()).applied == ()
        assert _snapshot_all(backend) == before
    finally:
        backend.close()


# -- the caller's foreign-key enforcement on servers -----------------------------------------------
# Like SQLite's PRAGMA foreign_keys, a server connection's own setting must not change what a migration
# does to rows: foreign keys are enforced while migrations run, and the caller's setting is back afterwards.


def _one_session_with_a_message(backend: Backend) -> None:
    backend.migrate(registry_with())
    backend.write("INSERT INTO agent_sessions (id, agent_name, provider, model, user_prompt, started_at) VALUES (1, 'a', 'p', 'm', 'u', 1)")
    backend.write("INSERT INTO agent_messages (id, session_id, role, content, created_at) VALUES (1, 1, 'user', 'x', 1)")


def test_mariadb_caller_with_foreign_key_checks_off_cannot_orphan_rows(
    request: pytest.FixtureRequest, tmp_path: Path, agent_package: Callable[..., str]
) -> None:
    """With the caller's ``foreign_key_checks = 0`` the DROP of a referenced table used to succeed."""
    import pymysql

    backend = _open("mysql", request, tmp_path)
    try:
        _one_session_with_a_message(backend)
        backend.write("SET SESSION foreign_key_checks = 0")
        fine = agent_package({"V19__notes": per_dialect_module({"mysql": "CREATE TABLE notes (id INT PRIMARY KEY);"})})
        assert backend.migrate(registry_with(fine)).versions == (19,)
        assert backend.rows("SELECT @@SESSION.foreign_key_checks") == [(0,)]  # the caller's setting is back
        dropping = agent_package({"V20__drop_parent": per_dialect_module({"mysql": "DROP TABLE agent_sessions;"})})
        with pytest.raises(MigrationFailedError) as caught:
            backend.migrate(registry_with(dropping))
        assert isinstance(caught.value.__cause__, pymysql.err.IntegrityError)
        assert backend.rows("SELECT @@SESSION.foreign_key_checks") == [(0,)]
        assert backend.rows("SELECT id FROM agent_sessions") == [(1,)]
        assert orphan_counts(backend) == {f"{c}.{col}": 0 for c, col, _, _ in FOREIGN_KEYS}
    finally:
        backend.close()


def test_postgresql_replica_replication_role_cannot_orphan_rows(
    request: pytest.FixtureRequest, tmp_path: Path, agent_package: Callable[..., str]
) -> None:
    """``session_replication_role = replica`` disables foreign-key triggers: a DELETE used to skip its cascade."""
    backend = _open("postgresql", request, tmp_path)
    assert isinstance(backend, PostgresBackend)
    try:
        _one_session_with_a_message(backend)
        backend.connection.execute("SET session_replication_role = replica")
        backend.connection.commit()
        package = agent_package({"V20__delete_session": per_dialect_module({"postgresql": "DELETE FROM agent_sessions WHERE id = 1;"})})
        assert backend.migrate(registry_with(package)).versions == (20,)
        assert counts(backend) == {table: 0 for table in TABLES}  # the message went with its session
        assert backend.rows("SHOW session_replication_role") == [("replica",)]  # SET LOCAL: the caller's is back
    finally:
        backend.close()


def test_postgresql_replica_replication_role_cannot_orphan_rows_outside_a_transaction(
    request: pytest.FixtureRequest, tmp_path: Path, agent_package: Callable[..., str]
) -> None:
    """A ``transactional = False`` migration runs outside the writes' ``SET LOCAL``: it gets the defaults for the session."""
    backend = _open("postgresql", request, tmp_path)
    assert isinstance(backend, PostgresBackend)
    try:
        _one_session_with_a_message(backend)
        backend.connection.execute("SET session_replication_role = replica")
        backend.connection.commit()
        outside = migration_module("DELETE FROM agent_sessions WHERE id = 1;", transactional=False)
        package = agent_package({"V20__delete_session": outside})
        assert backend.migrate(registry_with(package)).versions == (20,)
        assert counts(backend) == {table: 0 for table in TABLES}  # the cascade ran: the message went with its session
        assert backend.rows("SHOW session_replication_role") == [("replica",)]  # the caller's is back
    finally:
        backend.close()


def test_postgresql_replication_role_that_cannot_be_set_back_is_refused(postgres_server: Any) -> None:
    """A user given ``replica`` by ``ALTER ROLE ... SET`` may not set it back: nothing runs, a named error says why."""
    import psycopg

    from nocodo_agents import ConnectionStateError

    database, role = f"survival_{uuid.uuid4().hex[:10]}", f"replica_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(database)
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"ALTER ROLE {role} SET session_replication_role = replica")
    limited = psycopg.connect(f"host={postgres_server.host} port={postgres_server.port} user={role} dbname={database}")
    try:
        with pytest.raises(ConnectionStateError, match="session_replication_role = replica") as caught:
            run_agent_migrations(limited, registry=registry_with())
        assert f"user {role!r} may not set it back to origin" in str(caught.value)
        assert limited.info.transaction_status.name == "IDLE"
        assert limited.execute("SELECT to_regclass('refinery_schema_history')").fetchone() == (None,)
    finally:
        limited.close()
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}"')
            admin.execute(f"DROP ROLE {role}")
