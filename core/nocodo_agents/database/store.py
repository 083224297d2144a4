"""The agents' database: open and migrate a SQLite file, then store sessions, messages and tool calls.

The rows come back as the records of :mod:`.records` (re-exported here).

Every write runs in its own transaction (``with self.connection:``) and
every value is passed as a parameter. Timestamps are integer Unix seconds.
The JSON columns (a session's ``config``, a tool call's ``request`` and
``response``) take any JSON-serialisable Python value and give it back
parsed. A missing row raises :class:`~nocodo_agents.RowNotFoundError` (a
``KeyError``) naming its id; a value the schema rejects (an unknown message
role, a missing required value) :class:`~nocodo_agents.RejectedValueError` (a
``ValueError``); a value that is not JSON
:class:`~nocodo_agents.InvalidArgumentTypeError` (a ``TypeError``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ..discovery import AgentRegistry
from ..engine.run import requested_migrations
from ..errors import DatabaseUrlError, RejectedValueError, RowNotFoundError, SessionNotPausedError
from ..runner import MigrationReport, run_agent_migrations
from ..sqlite_location import SqliteLocation
from ..urls import parse_database_url, redact
from .records import (
    _SELECT_MESSAGES,
    _SELECT_SESSIONS,
    _SELECT_TOOL_CALLS,
    MESSAGE_ROLES,
    SESSION_STATUSES,
    TOOL_CALL_STATUSES,
    Message,
    Session,
    ToolCall,
    _now,
    _session,
    _to_json,
    _tool_call,
)
from .writes import RowWrites

__all__ = ["MESSAGE_ROLES", "SESSION_STATUSES", "TOOL_CALL_STATUSES", "Database", "Message", "Session", "ToolCall"]


def _sqlite_location(path: str | os.PathLike[str]) -> SqliteLocation:
    """A ``str`` parsed like ``--db`` (SQLite only); any other path-like object taken literally."""
    if not isinstance(path, str):
        return SqliteLocation(os.fspath(path))
    url = parse_database_url(path)
    if url.dialect != "sqlite" or url.location is None:
        raise DatabaseUrlError(
            url=redact(path),
            problem="Database opens SQLite only: pass a PostgreSQL or MySQL connection to run_agent_migrations()"
        )
    return url.location


class Database(RowWrites):
    """A SQLite file holding the agents' tables, migrated when opened.

    ``Database(path)`` creates the file and its parent directories if
    needed (a ``str`` may be any SQLite location ``--db`` takes:
    ``sqlite:///`` URLs, ``:memory:``, ``?mode=ro`` and other SQLite URI
    parameters; a ``pathlib.Path`` is taken literally), turns on foreign
    keys, and applies the core migrations and those of ``agents``
    (``None``: every installed agent; a list: core plus those agents).
    ``registry`` replaces the installed agents, as in
    :func:`~nocodo_agents.run_agent_migrations`, and so does ``grouped``
    (every pending migration in one transaction). What the migration run did
    is kept in :attr:`migration_report`; :attr:`connection` is the open
    :class:`sqlite3.Connection`. Use it as a context manager to close it.

    A directory, or an existing file that is not a SQLite database, raises
    :class:`~nocodo_agents.DatabaseAccessError` without touching it; a
    malformed location raises :class:`~nocodo_agents.DatabaseUrlError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        agents: Sequence[str] | None = None,
        *,
        registry: AgentRegistry | None = None,
        grouped: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        location = _sqlite_location(path)
        requested_migrations(agents, registry)  # an unknown or missing agent: raised before the file is created
        self.connection: sqlite3.Connection = location.connect(self.path, create=True)
        try:
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.migration_report: MigrationReport = run_agent_migrations(
                self.connection, agents, registry=registry, grouped=grouped
            )
        except BaseException:
            self.connection.close()
            raise

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        self.connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Sessions

    def create_session(
        self,
        agent_name: str,
        provider: str,
        model: str,
        user_prompt: str,
        system_prompt: str | None = None,
        config: Any = None,
    ) -> int:
        """Start a session (status ``running``) and return its id.

        ``config`` is any JSON-serialisable value; ``None`` stores NULL.
        """
        config_json = None if config is None else _to_json(config, "config=")
        return self._insert(
            "INSERT INTO agent_sessions (agent_name, provider, model, system_prompt, user_prompt, config, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (agent_name, provider, model, system_prompt, user_prompt, config_json, _now()),
        )

    def get_session(self, session_id: int) -> Session:
        """The session ``session_id``; raises :class:`~nocodo_agents.RowNotFoundError` (a ``KeyError``) if there is none."""
        row = self.connection.execute(f"{_SELECT_SESSIONS} WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise RowNotFoundError(missing=[("session", session_id)])
        return _session(row)

    def list_sessions(self, agent_name: str | None = None, status: str | None = None) -> list[Session]:
        """Sessions in the order they started, optionally only one agent's or one status's."""
        if status is not None and status not in SESSION_STATUSES:
            raise RejectedValueError(
                argument="status", value=status,
                problem=f"invalid session status {status!r}: expected one of {', '.join(SESSION_STATUSES)}",
            )
        rows = self.connection.execute(
            f"{_SELECT_SESSIONS} WHERE (? IS NULL OR agent_name = ?) AND (? IS NULL OR status = ?) "
            "ORDER BY started_at, id",
            (agent_name, agent_name, status, status),
        ).fetchall()
        return [_session(row) for row in rows]

    def complete_session(self, session_id: int, result: str) -> None:
        """Mark the session ``completed`` with its ``result`` and end time."""
        self._update(
            "UPDATE agent_sessions SET status = 'completed', ended_at = ?, result = ? WHERE id = ?",
            (_now(), result, session_id),
            ("session", session_id),
        )

    def fail_session(self, session_id: int, error: str) -> None:
        """Mark the session ``failed`` with its ``error`` and end time."""
        self._update(
            "UPDATE agent_sessions SET status = 'failed', ended_at = ?, error = ? WHERE id = ?",
            (_now(), error, session_id),
            ("session", session_id),
        )

    def pause_session_for_user_input(self, session_id: int) -> None:
        """Mark the session ``waiting_for_user_input`` (the agent asked the user something)."""
        self._update(
            "UPDATE agent_sessions SET status = 'waiting_for_user_input' WHERE id = ?",
            (session_id,),
            ("session", session_id),
        )

    def resume_session(self, session_id: int) -> None:
        """Put a session paused for user input back to ``running``.

        Raises :class:`~nocodo_agents.SessionNotPausedError` (a ``ValueError``) if the
        session is in any other status, and :class:`~nocodo_agents.RowNotFoundError`
        (a ``KeyError``) if it does not exist.
        """
        with self.connection:
            cursor = self.connection.execute(
                "UPDATE agent_sessions SET status = 'running' WHERE id = ? AND status = 'waiting_for_user_input'",
                (session_id,),
            )
        if cursor.rowcount == 0:
            status = self.get_session(session_id).status
            raise SessionNotPausedError(session_id=session_id, status=status)

    # Messages

    def add_message(self, session_id: int, role: str, content: str) -> int:
        """Append a message to the session's conversation and return its id.

        ``role`` is one of ``user``, ``assistant``, ``system``, ``tool``.
        """
        return self._insert(
            "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (?, ?, ?, ?)",
            (session_id, role, content, _now()),
            session_id=session_id,
            invalid=RejectedValueError(
                argument="role", value=role, problem=f"invalid message role {role!r}: expected one of {', '.join(MESSAGE_ROLES)}"
            ),
        )

    def list_messages(self, session_id: int) -> list[Message]:
        """The session's messages in the order they were added (empty for an unknown session)."""
        rows = self.connection.execute(
            f"{_SELECT_MESSAGES} WHERE session_id = ? ORDER BY created_at, id", (session_id,)
        ).fetchall()
        return [Message(*row) for row in rows]

    # Tool calls

    def create_tool_call(
        self,
        session_id: int,
        tool_call_id: str,
        tool_name: str,
        request: Any,
        message_id: int | None = None,
    ) -> int:
        """Record a tool call the model requested (status ``pending``) and return its row id.

        ``tool_call_id`` is the provider's id of the call; ``request`` is any
        JSON-serialisable value; ``message_id`` the assistant message that
        asked for it, if stored.
        """
        return self._insert(
            "INSERT INTO agent_tool_calls (session_id, message_id, tool_call_id, tool_name, request, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, message_id, tool_call_id, tool_name, _to_json(request, "request="), _now()),
            session_id=session_id,
            message_id=message_id,
        )

    def get_tool_call(self, call_id: int) -> ToolCall:
        """The tool call with row id ``call_id``; raises :class:`~nocodo_agents.RowNotFoundError` (a ``KeyError``) if there is none."""
        row = self.connection.execute(f"{_SELECT_TOOL_CALLS} WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            raise RowNotFoundError(missing=[("tool call", call_id)])
        return _tool_call(row)

    def list_tool_calls(self, session_id: int) -> list[ToolCall]:
        """Every tool call of the session, oldest first."""
        rows = self.connection.execute(
            f"{_SELECT_TOOL_CALLS} WHERE session_id = ? ORDER BY created_at, id", (session_id,)
        ).fetchall()
        return [_tool_call(row) for row in rows]

    def list_pending_tool_calls(self, session_id: int) -> list[ToolCall]:
        """The session's tool calls still ``pending``, oldest first."""
        rows = self.connection.execute(
            f"{_SELECT_TOOL_CALLS} WHERE session_id = ? AND status = 'pending' ORDER BY created_at, id",
            (session_id,),
        ).fetchall()
        return [_tool_call(row) for row in rows]

    def complete_tool_call(self, call_id: int, response: Any, execution_time_ms: int | None = None) -> None:
        """Mark the tool call ``completed`` with its JSON-serialisable ``response``."""
        self._update(
            "UPDATE agent_tool_calls SET status = 'completed', response = ?, completed_at = ?, "
            "execution_time_ms = ? WHERE id = ?",
            (_to_json(response, "response="), _now(), None if execution_time_ms is None else int(execution_time_ms), call_id),
            ("tool call", call_id),
        )

    def fail_tool_call(self, call_id: int, error_details: str) -> None:
        """Mark the tool call ``failed`` with what went wrong."""
        self._update(
            "UPDATE agent_tool_calls SET status = 'failed', error_details = ?, completed_at = ? WHERE id = ?",
            (error_details, _now(), call_id),
            ("tool call", call_id),
        )

    # The names of the original Rust crate (nocodo-agents/src/database/mod.rs).
    create_message = add_message
    get_messages = list_messages
    get_pending_tool_calls = list_pending_tool_calls
