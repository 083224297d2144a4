"""MySQL's bookkeeping tables: the history table's engine and character set, read with the journal's in one statement.

The bookkeeping tables are created ``ENGINE=InnoDB DEFAULT CHARSET=utf8mb4``
whatever the server's defaults: the history row and the journal's removal
can only commit together in a transactional engine, and the journal must
store any error text. A history table found in another engine (MyISAM,
Aria, MEMORY...) is refused before anything is written
(:class:`~nocodo_agents.BookkeepingTableError`, naming the ``ALTER TABLE``);
an ``agent`` column an earlier release added in a narrow character set is
widened under the lock. The journal is read in the same statement as the
history (:meth:`BookkeepingTables._history_rows`), so every command that
reads the history sees an unfinished migration or rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pymysql

from ...errors import BookkeepingTableError
from ...history import HISTORY_TABLE, is_64_bit_type
from ..history_table import as_text
from .errors import error_message
from .journal import JOURNAL_TABLE, MySQLJournal

logger = logging.getLogger("nocodo_agents")

Row = tuple[Any, ...]

#: Character sets storing every Unicode character (utf8mb3 and ucs2 lack those beyond the BMP, latin1 most).
_FULL_UNICODE = frozenset({"utf8mb4", "utf16", "utf16le", "utf32"})
#: Converts the history table's ``agent`` column, which an earlier release added in the table's character set.
_WIDEN_AGENT_COLUMN = f"ALTER TABLE {HISTORY_TABLE} MODIFY agent VARCHAR(255) CHARACTER SET utf8mb4 NULL"


class BookkeepingTables:
    """The MySQL side of :class:`~nocodo_agents.dialects.history_table.HistoryTable` (mixed into the dialect)."""

    journal: MySQLJournal
    statements: int
    #: The character set of the history table's ``agent`` column when it cannot store every name (latin1...).
    _agent_column_narrow: str | None = None
    #: The history table's storage engine when it is not transactional (see :class:`BookkeepingTableError`).
    _history_engine: str | None = None

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _columns(self) -> list[str]: ...

        def _lost(self, error: BaseException | None) -> bool: ...

        def location(self) -> str: ...

    def version_type_sql(self) -> str:
        return (
            "(SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = '{HISTORY_TABLE}' AND COLUMN_NAME = 'version')"
        )

    # The history table and the journal, their columns, engines and character sets, in one statement:
    # each part looks one table up by name (MariaDB then opens no other table's definition).
    history_columns_sql = " UNION ALL ".join(
        part.format(table=table)
        for table in ("%s", f"'{JOURNAL_TABLE}'")
        for part in (
            "SELECT 'column', TABLE_NAME, COLUMN_NAME, IS_NULLABLE = 'NO', COLUMN_DEFAULT IS NOT NULL "
            "OR EXTRA LIKE '%%auto_increment%%' OR EXTRA LIKE '%%GENERATED%%', CHARACTER_SET_NAME, DATA_TYPE "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {table}",
            "SELECT 'table', t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED'), "
            "COALESCE(e.TRANSACTIONS = 'YES', 0), t.ENGINE, NULL FROM information_schema.TABLES t "
            "LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE "
            "WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = {table}",
        )
    )
    #: Created explicitly transactional and able to store any text, whatever the server's defaults.
    history_table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    #: refinery creates its table in the server's default character set (latin1 on many servers), which the
    #: ``agent`` column added to it must not inherit: an agent's name may be any Unicode text.
    agent_column_options = " CHARACTER SET utf8mb4"

    def _history_shape_rows(self) -> list[Row]:
        """The history table's shape rows; notes its engine, and the journal's existence, columns, engine and charset.

        When the journal does not exist, that is known afresh, so
        :meth:`MySQLJournal.unfinished` needs no statement of its own.
        """
        rows = self._query(self.history_columns_sql, (HISTORY_TABLE, HISTORY_TABLE))
        columns: dict[str, list[Row]] = {}
        tables: dict[str, tuple[bool, bool, str]] = {}
        for kind, table, name, first, second, third, declared in rows:
            if as_text(kind) == "table":
                tables[as_text(table)] = (bool(first), bool(second), as_text(third or "none"))
            else:
                columns.setdefault(as_text(table), []).append((name, first, second, third, declared))
        is_table, transactional, engine = tables.get(HISTORY_TABLE, (True, True, ""))
        self._history_engine = engine if is_table and not transactional else None
        agent_charsets = {as_text(c[3]).lower() for c in columns.get(HISTORY_TABLE, []) if as_text(c[0]).lower() == "agent" and c[3]}
        self._agent_column_narrow = ", ".join(sorted(agent_charsets - _FULL_UNICODE)) or None
        journal = tables.get(JOURNAL_TABLE)
        if journal is None:
            self.journal.absent()
        else:
            self.journal.exists = True
            self.journal.has_direction = any(as_text(c[0]).lower() == "direction" for c in columns.get(JOURNAL_TABLE, []))
            self.journal.version_narrow = any(
                as_text(c[0]).lower() == "version" and not is_64_bit_type(c[4]) for c in columns.get(JOURNAL_TABLE, [])
            )
            charsets = sorted({as_text(c[3]).lower() for c in columns.get(JOURNAL_TABLE, []) if c[3] is not None} - _FULL_UNICODE)
            engine = None if journal[1] else journal[2]
            self.journal.convert = (engine, ", ".join(charsets) or None) if engine or charsets else None
        return [
            (name, not_null, has_default, is_table, declared)
            for name, not_null, has_default, _, declared in columns.get(HISTORY_TABLE, [])
        ]

    def widen_history_sql(self) -> list[str]:
        """``MODIFY version BIGINT``, which commits implicitly: the checksums are re-recorded in a transaction after it."""
        return [f"ALTER TABLE {HISTORY_TABLE} MODIFY version BIGINT NOT NULL"]

    def _refuse_non_transactional_history(self) -> None:
        """Before a write: raise :class:`BookkeepingTableError` if the history table's engine is not transactional."""
        if self._history_engine is not None:
            raise BookkeepingTableError(
                table=HISTORY_TABLE,
                database=self.location(),
                fix=f"ALTER TABLE {HISTORY_TABLE} ENGINE=InnoDB",
                engine=self._history_engine
            )

    def ensure_history(self, columns: Sequence[str] | None = None, int8: bool = False) -> None:
        """As :meth:`Dialect.ensure_history`, refusing a history table that is not transactional first."""
        if columns is None:
            columns = self._columns()
        self._refuse_non_transactional_history()
        super().ensure_history(columns, int8)
        if self._agent_column_narrow:
            self._widen_agent_column()

    def _widen_agent_column(self) -> None:
        """Make an ``agent`` column an earlier release added to refinery's latin1 table utf8mb4 (under the lock).

        The column is ours (refinery neither reads nor writes it), and in the
        table's character set an agent whose name it cannot store would have
        its migration applied and then its history row refused. Only that
        column changes; if it cannot, :class:`BookkeepingTableError` names the
        statement to run by hand.
        """
        try:
            self._run(_WIDEN_AGENT_COLUMN)
        except pymysql.err.MySQLError as error:
            if self._lost(error):
                raise
            raise BookkeepingTableError(
                table=HISTORY_TABLE,
                database=self.location(),
                fix=_WIDEN_AGENT_COLUMN,
                charset=self._agent_column_narrow,
                cause=error_message(error)
            ) from error
        self._agent_column_narrow = None
        logger.info("converted %s.agent to utf8mb4 (an earlier release added it in the table's character set)", HISTORY_TABLE)

    def _history_rows(self, sql: str) -> list[Row]:
        """The history rows, and in the same statement the journal's, when it exists (kept for :meth:`MySQLJournal.unfinished`).

        So every command that reads the history (the no-op path included)
        sees an unfinished migration or rollback without a statement more.
        The error text is read as UTF-8 bytes, whatever the connection's
        character set.
        """
        if not self.journal.exists:
            rows = self._query(sql)
            if self.journal.exists is False:
                self.journal.absent()
            return rows
        direction = "j.direction" if self.journal.has_direction else "NULL"
        rows = self._query(
            f"SELECT 0, h.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ({sql}) h UNION ALL "
            f"SELECT 1, NULL, NULL, NULL, NULL, NULL, j.version, j.name, j.agent, j.statements, j.next_statement, "
            f"j.failed_statement, CAST(CONVERT(j.error USING utf8mb4) AS BINARY), {direction} FROM {JOURNAL_TABLE} j "
            f"ORDER BY 1, 2, 7"
        )
        self.journal.read_with_history([row[6:] for row in rows if row[0]])
        return [row[1:6] for row in rows if not row[0]]
