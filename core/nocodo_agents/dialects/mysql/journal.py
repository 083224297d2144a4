"""MySQL's statement journal: a migration in progress remembered row by row, so one stopped part-way is known.

MySQL's DDL commits implicitly, so a migration of several statements cannot
be undone when one fails. Before its first statement a row goes into
``nocodo_agents_migration_journal`` (created on demand, under the lock) and
before each statement its index is recorded, each write committed at once;
a failing statement records its index and error; the row is deleted in the
transaction that writes the migration's history row. A row left behind
stops every later run until ``resolve`` settles it (see the package's
docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pymysql
from pymysql.constants import ER, FIELD_TYPE
from pymysql.cursors import Cursor

from ...errors import BookkeepingTableError
from ...excerpt import quote_message
from ...history import JOURNAL_TABLE, now_rfc3339
from ...migration import MAX_INT4_VERSION
from ..history_table import as_text
from ..journal import Journal, UnfinishedMigration
from .errors import error_code, error_message

if TYPE_CHECKING:  # pragma: no cover
    from .dialect import MySQLDialect

logger = logging.getLogger("nocodo_agents")

_CREATE_JOURNAL = (
    f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ("
    "version BIGINT PRIMARY KEY, name VARCHAR(255), agent VARCHAR(255), statements INT, "
    "next_statement INT, failed_statement INT NULL, error TEXT NULL, started_on VARCHAR(64), "
    "direction VARCHAR(16) NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)
#: What lets a journal table made before 64-bit versions hold one (run under the lock, when one is journalled).
_WIDEN_VERSION = f"ALTER TABLE {JOURNAL_TABLE} MODIFY version BIGINT NOT NULL"
#: What brings a journal table made before rollbacks were journalled up to date.
_ADD_DIRECTION = f"ALTER TABLE {JOURNAL_TABLE} ADD COLUMN direction VARCHAR(16) NULL"
#: What makes a journal table of another engine or character set (an earlier release took the
#: server's defaults) transactional and able to store any error text; run under the lock.
_CONVERT_JOURNAL = f"ALTER TABLE {JOURNAL_TABLE} ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8mb4"
#: What a journal row without a recorded failure means.
_STOPPED = (
    "no error was recorded: the run executing it stopped (the process died or lost its connection) "
    "while this statement was about to run or running, so it may or may not have taken effect"
)

Row = tuple[Any, ...]


class MySQLJournal(Journal):
    """The journal of one :class:`~nocodo_agents.dialects.mysql.MySQLDialect` (its statements are the dialect's)."""

    def __init__(self, dialect: MySQLDialect) -> None:
        self.dialect = dialect
        #: Whether the journal table exists, once known (only the lock holder creates it).
        self.exists: bool | None = None
        #: Whether the journal table has its ``direction`` column, once the table was read.
        self.has_direction = False
        #: Whether the journal table's ``version`` column is 32-bit (made before 64-bit versions), once the table was read.
        self.version_narrow = False
        #: When the journal must be converted to InnoDB and utf8mb4 before it is written (an earlier release made it):
        #: its engine if not transactional, its character set if it cannot store every text.
        self.convert: tuple[str | None, str | None] | None = None
        #: The journal's first entry (or ``None``) with the statement count when it was read: current while
        #: no statement has been sent since (see :meth:`unfinished`).
        self.seen: tuple[int, UnfinishedMigration | None] | None = None
        #: Versions this run has journal rows for, not yet recorded in history.
        self.journalled: set[int] = set()

    def absent(self) -> None:
        """The last statement sent found no journal table (so :meth:`unfinished` needs no statement now)."""
        self.exists = False
        self.seen = (self.dialect.statements, None)

    def read_with_history(self, rows: Sequence[Row]) -> None:
        """The journal's rows, read in the same statement as the history: its first entry is kept for :meth:`unfinished`."""
        self.seen = (self.dialect.statements, _unfinished(rows[0]) if rows else None)

    def unfinished(self) -> UnfinishedMigration | None:
        """The journal's first row, if any: a recorded failure, or the leftover of a run that stopped.

        Only the holder of the migration lock writes the journal, and a run
        removes its row when it records the migration, so any row seen here
        is unfinished. Creates nothing (dry runs call this too). When the
        last statement sent read the journal (with the history, see
        :meth:`~.bookkeeping.BookkeepingTables._history_rows`) or found it absent, that answer is used and no
        statement is sent. Reads every column, so a table made before
        ``direction`` existed reads too.
        """
        if self.seen is not None and self.seen[0] == self.dialect.statements:
            return self._while_locked_elsewhere(self.seen[1])
        self.dialect._read_mode()
        self.dialect.statements += 1
        try:
            with self.dialect.connection.cursor(Cursor) as cursor:
                cursor.execute(
                    f"SELECT *, CAST(CONVERT(error USING utf8mb4) AS BINARY) AS error_utf8 FROM {JOURNAL_TABLE} "
                    f"ORDER BY version LIMIT 1"
                )
                columns = [as_text(column[0]).lower() for column in cursor.description or ()]
                self.version_narrow = any(
                    as_text(column[0]).lower() == "version" and column[1] != FIELD_TYPE.LONGLONG for column in cursor.description or ()
                )
                rows = list(cursor.fetchall())
            self.dialect.rows_read += len(rows)
        except pymysql.err.ProgrammingError as error:
            if error_code(error) != ER.NO_SUCH_TABLE:
                raise
            self.exists = False
            return None
        self.exists = True
        self.has_direction = "direction" in columns
        if not rows:
            return None
        entry = dict(zip(columns, rows[0]))
        return self._while_locked_elsewhere(_unfinished(
            tuple(entry.get(column) for column in (
                "version", "name", "agent", "statements", "next_statement", "failed_statement", "error_utf8", "direction",
            ))
        ))

    def _while_locked_elsewhere(self, entry: UnfinishedMigration | None) -> UnfinishedMigration | None:
        """``entry``, marked ``in_progress`` if it was read without the lock while another connection held it.

        Only the lock's holder writes the journal, and a runner at work keeps
        its row there until it records the migration: seen from outside the
        lock (the no-op path, ``status``, ``verify``, dry runs) while someone
        holds the lock, the row may be that runner's. One statement, only when
        the journal holds a row and this runner does not hold the lock.
        """
        if entry is None or self.dialect._lock_held:
            return entry
        holder = self.dialect._query("SELECT IS_USED_LOCK(%s)", (self.dialect._lock_name,))[0][0]
        return entry if holder is None else replace(entry, in_progress=True)

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        """Write to the journal and commit it at once (with whatever ran before it)."""
        self.dialect._run(sql, params)
        if self.dialect._in_transaction():
            self.dialect._run("COMMIT")  # inside a unit of work the server opens the next transaction at the next statement

    def start(self, version: int, name: str, agent: str, statements: int, direction: str = "migration") -> None:
        """Journal that ``version``'s migration or rollback (``direction``) starts, under the migration lock.

        Creates the journal table, or adds its ``direction`` column to one
        made by an earlier release, first.
        """
        self.dialect._take_migration_lock()
        if self.exists is None:
            self.unfinished()  # learns whether the table exists, and its columns
        if not self.exists:
            self.dialect._run(_CREATE_JOURNAL)
            self.exists = self.has_direction = True
            self.convert = None
        elif not self.has_direction:
            self.dialect._run(_ADD_DIRECTION)
            self.has_direction = True
        if self.convert:
            self._convert()
        if self.version_narrow and version > MAX_INT4_VERSION:
            self.dialect._run(_WIDEN_VERSION)
            self.version_narrow = False
        self._write(
            f"REPLACE INTO {JOURNAL_TABLE} (version, name, agent, statements, next_statement, "
            f"failed_statement, error, started_on, direction) VALUES (%s, %s, %s, %s, 0, NULL, NULL, %s, %s)",
            (version, name, agent, statements, now_rfc3339(), direction),
        )
        self.journalled.add(version)

    def _convert(self) -> None:
        """Make a journal table an earlier release created with the server's defaults InnoDB and utf8mb4.

        The journal is ours alone and holds at most a few rows, so it is
        converted (under the lock) rather than refused; if that fails,
        :class:`BookkeepingTableError` names the statement to run by hand.
        """
        try:
            self.dialect._run(_CONVERT_JOURNAL)
        except pymysql.err.MySQLError as error:
            if self.dialect._lost(error):
                raise
            engine, charset = self.convert
            raise BookkeepingTableError(
                table=JOURNAL_TABLE,
                database=self.dialect.location(),
                fix=_CONVERT_JOURNAL,
                engine=engine,
                charset=charset,
                cause=error_message(error)
            ) from error
        self.convert = None
        logger.info("converted %s to InnoDB and utf8mb4 (an earlier release created it with the server's defaults)", JOURNAL_TABLE)

    def statement(self, version: int, index: int) -> None:
        self._write(f"UPDATE {JOURNAL_TABLE} SET next_statement = %s WHERE version = %s", (index, version))

    def failed(self, version: int, index: int, error: BaseException) -> None:
        """Record the failing statement and its error; if even that fails, the row already marks it."""
        try:
            # Sent as hexadecimal UTF-8, so the connection's character set (latin1...) cannot refuse or mangle it.
            self._write(
                f"UPDATE {JOURNAL_TABLE} SET failed_statement = %s, error = CONVERT(UNHEX(%s) USING utf8mb4) WHERE version = %s",
                # the start and end of a long one (a TEXT column holds 65,535 bytes)
                (index, quote_message(error).encode("utf-8", "replace").hex(), version),
            )
        except pymysql.err.MySQLError as journal_error:
            logger.warning(
                "could not record in %s that statement %s of V%s failed (%s); its entry still stops "
                "the next run", JOURNAL_TABLE, index + 1, version,
                error_message(journal_error) or "the connection is closed",
            )

    def done(self, version: int) -> None:
        """Delete the journal row this run wrote for ``version``; it commits with the history row."""
        if version in self.journalled:
            self.dialect._run(f"DELETE FROM {JOURNAL_TABLE} WHERE version = %s", (version,))
            self.journalled.discard(version)

    def clear(self, version: int) -> None:
        if self.exists is not False:
            self.dialect._run(f"DELETE FROM {JOURNAL_TABLE} WHERE version = %s", (version,))

    def hint(self) -> str:
        """The versions this run journalled and did not finish, for a message about the failure that stopped it."""
        if not self.journalled:
            return ""
        versions = ", ".join(f"V{v}" for v in sorted(self.journalled))
        return (
            f" {versions} had started and is left in the journal: the next run will ask you to "
            f"settle it with nocodo_agents.lifecycle.resolve_unfinished (the command line's resolve)."
        )


def _unfinished(row: Row) -> UnfinishedMigration:
    """A journal row as read: ``version, name, agent, statements, next_statement, failed_statement, error, direction``.

    ``error`` is UTF-8 bytes (read with ``CONVERT(... USING utf8mb4)``); a row
    without a recorded failure is the leftover of a run that stopped.
    """
    version, name, agent, statements, next_statement, failed_statement, error, direction = row
    if failed_statement is not None and error is not None:
        text = error.decode("utf-8", "replace") if isinstance(error, (bytes, bytearray)) else str(error)
    else:
        text = _STOPPED
    return UnfinishedMigration(
        int(version),
        as_text(name),
        as_text(agent),
        int(statements),
        int(failed_statement if failed_statement is not None else next_statement),
        text,
        "rollback" if direction is not None and as_text(direction) == "rollback" else "migration",
    )
