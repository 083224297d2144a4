"""SQLite's cached no-op: the history as one run read it, compared again later in one statement on the same connection.

:meth:`HistorySnapshots.history_snapshot` keeps what a run read (rows, main's
schema version, a token naming the connection, the caller's busy timeout);
:func:`history_unchanged` reads it again outside any session, the caller's
connection left as it was (the no-op cache, :mod:`~nocodo_agents.engine.noop_cache`).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .history_table import HistorySnapshot

__all__ = ["HistorySnapshots", "history_unchanged"]

#: main's schema version (SQLite changes it at every change of a table's definition), as a scalar subquery.
_SCHEMA_VERSION = "(SELECT schema_version FROM pragma_schema_version)"
#: The SQL function :meth:`SQLiteDialect.history_snapshot` registers: it identifies the connection.
_TOKEN_FUNCTION = "nocodo_agents_connection_token"
#: A new number for each snapshot taken in this process.
_TOKENS = itertools.count(1)
#: The connection's busy timeout in force (ms), as a scalar subquery.
_BUSY_TIMEOUT = "(SELECT timeout FROM pragma_busy_timeout)"


def history_unchanged(
    connection: sqlite3.Connection, snapshot: HistorySnapshot, lock_timeout: float
) -> tuple[HistorySnapshot | None, int, int]:
    """If reading the history again gives exactly ``snapshot``'s rows (shape, rows, this connection), what to compare with next.

    Also returns the statements sent and the rows read. A function of the
    connection, not of a :class:`SQLiteDialect` (building one costs more than
    the comparison's own Python), for the no-op cache
    (:mod:`~nocodo_agents.engine.noop_cache`).

    Sent outside any session, the caller's connection left as it was: rows
    as tuples and text as bytes while reading (as :meth:`SQLiteDialect.read_history`
    reads them), then the caller's factories back. A connection inside a
    transaction (or closed, or of another thread) answers ``None``: the run
    takes its ordinary path, which refuses it by name; so does any SQLite
    error (a function missing: another connection; the file gone; busy).

    The wait: where the caller's busy timeout, as last seen
    (:attr:`HistorySnapshot.wait`), is at most ``lock_timeout``, one
    statement reads the rows with it as it is, and the busy timeout in force
    with them, so a read blocked by a writer waits no longer than
    ``lock_timeout`` (then the ordinary path waits as it always does). Only a
    caller who raised their own busy timeout above ``lock_timeout`` since the
    last run has that one read wait up to their own setting; it is seen in
    the read, and from then on, as for any caller whose busy timeout is above
    ``lock_timeout``, it is read, set to ``lock_timeout`` for the read and
    put back (four statements).
    """
    try:
        if connection.in_transaction:
            return None, 0, 0
        row_factory, text_factory = connection.row_factory, connection.text_factory
    except sqlite3.Error:
        return None, 0, 0
    statements = 0
    try:
        if row_factory is not None:
            connection.row_factory = None
        connection.text_factory = bytes
        if snapshot.wait <= int(lock_timeout * 1000):
            statements += 1
            rows = connection.execute(snapshot.sql).fetchall()
            if rows == snapshot.rows:
                return snapshot, 1, len(rows)
            caller = rows[-1][-1] if rows else snapshot.wait
        else:
            statements += 1
            caller = connection.execute("PRAGMA busy_timeout").fetchone()[0]
            statements += 1
            connection.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
            try:
                statements += 1
                rows = connection.execute(snapshot.sql).fetchall()
            finally:
                statements += 1
                connection.execute(f"PRAGMA busy_timeout = {int(caller)}")
    except sqlite3.Error:
        return None, statements, 0
    finally:
        if row_factory is not None:
            connection.row_factory = row_factory
        connection.text_factory = text_factory
    # The busy timeout differs from the one the snapshot holds (set for the read, or changed by the
    # caller): the rows without it decide, and the caller's, as seen now, is kept for next time.
    if [row[:-1] for row in rows] != [row[:-1] for row in snapshot.rows]:
        return None, statements, len(rows)
    return (snapshot if caller == snapshot.wait else _waiting(snapshot, int(caller))), statements, len(rows)


def _waiting(snapshot: HistorySnapshot, wait: int) -> HistorySnapshot:
    """``snapshot`` expecting the caller's busy timeout ``wait`` (ms) with its rows."""
    return HistorySnapshot(snapshot.sql, [(*row[:-1], wait) for row in snapshot.rows], wait)


class HistorySnapshots:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that remembers a history read and compares it again."""

    connection: sqlite3.Connection
    statements: int
    rows_read: int
    lock_timeout: float
    last_history_read: tuple[str, list[Any]] | None
    _has_agent_column: bool
    _settings: dict[str, int]
    #: main's schema version when the history's columns were last read (``None``: no table).
    _shape_version: int | None = None

    if TYPE_CHECKING:  # provided by the dialect

        @property
        def history_table(self) -> str: ...

    def _note_history_shape(self, rows: Sequence[Any]) -> None:
        self._shape_version = rows[0][5] if rows else None

    def history_snapshot(self) -> HistorySnapshot | None:
        """The last history read, comparable later in one statement on this connection (``None``: not comparable).

        Its rows carry the schema version of ``main``, which SQLite changes at
        every change of any table's definition: equal to the one read with the
        columns, it says the shape those columns gave (a table, its columns,
        the version's declared type) is the one the rows were read from, and a
        later read finding it again says the shape is still that one. The
        statement reading it again also calls a SQL function this method
        registers on the connection, ``nocodo_agents_connection_token()``,
        returning a number no other connection of the process returns, so a
        snapshot never stands for another connection (one created where a
        closed one was, at the same ``id``), and reads the busy timeout in
        force, the caller's own as the session found it (:attr:`HistorySnapshot.wait`).
        An empty history, or one whose rows were read under another schema
        version than its columns, gives none.
        """
        if self.last_history_read is None:
            return None
        _, rows = self.last_history_read
        if not rows or self._shape_version is None or rows[0][5] != self._shape_version:
            return None
        token = next(_TOKENS)
        self.connection.create_function(_TOKEN_FUNCTION, 0, lambda: token)
        agent = "agent" if self._has_agent_column else "NULL"
        sql = (
            f"SELECT version, name, applied_on, checksum, {agent}, {_SCHEMA_VERSION}, (SELECT {_TOKEN_FUNCTION}()), "
            f"{_BUSY_TIMEOUT} FROM {self.history_table} ORDER BY version"
        )
        wait = int(self._settings.get("busy_timeout", int(self.lock_timeout * 1000)))
        return HistorySnapshot(sql, [(*row, token, wait) for row in rows], wait)

    def history_unchanged(self, snapshot: HistorySnapshot, lock_timeout: float) -> HistorySnapshot | None:
        """If reading the history again gives exactly ``snapshot``'s rows, what to compare with next (see :func:`history_unchanged`)."""
        found, statements, rows_read = history_unchanged(self.connection, snapshot, lock_timeout)
        self.statements += statements
        self.rows_read += rows_read
        return found
