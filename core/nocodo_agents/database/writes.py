"""Writing one row of the agents' tables in its own transaction, and what a constraint failure means.

:class:`RowWrites` is the base of :class:`~.store.Database`: its methods
run one ``INSERT`` or one single-row ``UPDATE`` and turn SQLite's
constraint failures into the :class:`~nocodo_agents.RowNotFoundError` (a missing parent row) or
:class:`~nocodo_agents.RejectedValueError` (a value the schema rejects) the store documents.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import RejectedValueError, RowNotFoundError


class RowWrites:
    """One-row writes on :attr:`connection`, each in its own transaction."""

    connection: sqlite3.Connection

    def _insert(
        self,
        sql: str,
        parameters: tuple[Any, ...],
        *,
        session_id: int | None = None,
        message_id: int | None = None,
        invalid: RejectedValueError | None = None,
    ) -> int:
        """Run one INSERT in its own transaction; return the new row id."""
        try:
            with self.connection:
                cursor = self.connection.execute(sql, parameters)
        except sqlite3.IntegrityError as error:
            raise self._explain(error, session_id, message_id, invalid) from error
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _update(self, sql: str, parameters: tuple[Any, ...], row: tuple[str, int]) -> None:
        """Run one UPDATE of one ``row`` (kind, id) in its own transaction; raise :class:`RowNotFoundError` if none matched."""
        with self.connection:
            cursor = self.connection.execute(sql, parameters)
        if cursor.rowcount == 0:
            raise RowNotFoundError(missing=[row])

    def _explain(
        self,
        error: sqlite3.IntegrityError,
        session_id: int | None,
        message_id: int | None,
        invalid: RejectedValueError | None,
    ) -> Exception:
        """Turn a constraint failure into :class:`RowNotFoundError` (missing parent row) or :class:`RejectedValueError`.

        ``invalid`` is the error a CHECK constraint's failure means.
        """
        text = str(error)
        if text.startswith("FOREIGN KEY"):
            missing = []
            if session_id is not None and not self._exists("SELECT 1 FROM agent_sessions WHERE id = ?", session_id):
                missing.append(("session", session_id))
            if message_id is not None and not self._exists("SELECT 1 FROM agent_messages WHERE id = ?", message_id):
                missing.append(("message", message_id))
            return RowNotFoundError(missing=missing, detail=text)
        if text.startswith("CHECK") and invalid is not None:
            return invalid
        if text.startswith("NOT NULL"):
            column = text.rsplit(".", 1)[-1]
            return RejectedValueError(argument=column, value=None, problem=f"{column} is required, got None")
        return RejectedValueError(argument=None, value=None, problem=f"the database rejected the value: {text}")

    def _exists(self, sql: str, row_id: int) -> bool:
        return self.connection.execute(sql, (row_id,)).fetchone() is not None
