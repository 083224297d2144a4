"""Notes kept per agent session (table ``example_notes``), on any database nocodo-agents migrates.

:class:`NotesStore` takes an open DB-API connection (``sqlite3``, psycopg 3 or
PyMySQL) on which this agent's migrations ran, for example
``run_agent_migrations(conn, agents=["example_notes"])``. Each write is one
transaction, committed before the method returns; timestamps are integer Unix
seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nocodo_agents.plugins import DBAPIConnection


@dataclass(frozen=True)
class Note:
    """One row of ``example_notes``."""

    id: int
    session_id: int
    body: str
    pinned: bool
    created_at: int


class NotesStore:
    """The notes of the example notes agent, stored through ``connection``."""

    def __init__(self, connection: DBAPIConnection) -> None:
        self.connection = connection
        driver = type(connection).__module__.split(".")[0]
        #: sqlite3 takes ``?`` placeholders; psycopg and PyMySQL take ``%s``.
        self._qmark = driver == "sqlite3"
        self._returning = driver == "psycopg"  # psycopg has no lastrowid for a generated id

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run ``sql``, written with ``?`` placeholders, on this connection's driver; the cursor."""
        cursor = self.connection.cursor()
        cursor.execute(sql if self._qmark else sql.replace("?", "%s"), tuple(params))
        return cursor

    def add(self, session_id: int, body: str, *, now: int | None = None) -> int:
        """Add a note to the session ``session_id`` (an ``agent_sessions`` id); its id."""
        sql = "INSERT INTO example_notes (session_id, body, created_at) VALUES (?, ?, ?)"
        created_at = int(time.time()) if now is None else now
        cursor = self._execute(sql + (" RETURNING id" if self._returning else ""), (session_id, body, created_at))
        note_id = int(cursor.fetchone()[0] if self._returning else cursor.lastrowid)
        self.connection.commit()
        return note_id

    def pin(self, note_id: int) -> None:
        """Pin the note ``note_id``: :meth:`notes` lists pinned notes first."""
        self._execute("UPDATE example_notes SET pinned = ? WHERE id = ?", (True, note_id))
        self.connection.commit()

    def notes(self, session_id: int) -> list[Note]:
        """The notes of the session ``session_id``: pinned ones first, then in the order they were added."""
        cursor = self._execute(
            "SELECT id, session_id, body, pinned, created_at FROM example_notes"
            " WHERE session_id = ? ORDER BY pinned DESC, id",
            (session_id,),
        )
        rows = cursor.fetchall()
        self.connection.commit()  # ends the read transaction the drivers opened
        return [Note(int(i), int(s), str(b), bool(p), int(c)) for i, s, b, p, c in rows]
