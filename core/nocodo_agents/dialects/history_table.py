"""refinery's history table, read and written with the same statements on every dialect.

:class:`HistoryTable` is the part of :class:`~nocodo_agents.dialects.Dialect`
that creates, checks, reads and writes ``refinery_schema_history``; a dialect
only says how it describes the table's columns (:attr:`HistoryTable.history_columns_sql`),
which options its ``CREATE TABLE`` takes, and which driver errors mean the
table refused a row. Its writes are in :mod:`.history_writes`, the values it
hands around (the guard's row, the no-op cache's snapshot) in
:mod:`.history_values`; every name is importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import HistoryTableError
from ..history import HISTORY_TABLE, HistoryRow, as_text, is_64_bit_type
from .history_values import HistoryGuard, HistorySnapshot, _plain_row, _shown, version_sum
from .history_writes import HistoryWrites

__all__ = [
    "ADD_AGENT_COLUMN",
    "CREATE_HISTORY",
    "HistoryGuard",
    "HistorySnapshot",
    "HistoryTable",
    "HistoryWrites",
    "as_text",
    "version_sum",
]

#: refinery's DDL for the history table (one for every driver), plus our nullable ``agent`` column;
#: ``{table}`` is the dialect's :attr:`Dialect.history_table`, ``{version_type}`` refinery's
#: ``INT4`` (or ``INT8``, as refinery's ``int8-versions`` feature creates it).
CREATE_HISTORY = (
    "CREATE TABLE IF NOT EXISTS {table}("
    "version {version_type} PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
    "checksum VARCHAR(255), agent VARCHAR(255))"
)
#: What turns a table refinery created into ours: its rows stay, attribution is added.
ADD_AGENT_COLUMN = "ALTER TABLE {table} ADD COLUMN agent VARCHAR(255){options}"
#: The columns refinery's history table has, which the runner reads and writes.
_REQUIRED_COLUMNS = ("version", "name", "applied_on", "checksum")
#: Every column the runner writes.
_WRITTEN_COLUMNS = frozenset(_REQUIRED_COLUMNS) | {"agent"}


class HistoryTable(HistoryWrites):
    """History I/O on top of a dialect's two statement primitives (:meth:`_query`, :meth:`_run`) and :meth:`location`."""

    #: Table options appended to the history table's ``CREATE TABLE`` (MySQL: engine and character set).
    history_table_options: ClassVar[str] = ""
    #: Appended to the ``agent`` column added to a table refinery created (MySQL: a character set for any name).
    agent_column_options: ClassVar[str] = ""

    #: SQL describing the history table's columns, with one placeholder for the table name. Each row:
    #: column name, whether it is NOT NULL, whether it has a default, whether the relation is a table,
    #: and at :attr:`declared_type_index` the column's declared type.
    history_columns_sql: ClassVar[str]
    #: Where a row of :attr:`history_columns_sql` holds the column's declared type.
    declared_type_index: ClassVar[int] = 4

    if TYPE_CHECKING:  # provided by every Dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def location(self) -> str: ...

    _has_agent_column = False
    #: Whether the history's ``version`` column is 64-bit (``INT8``/``BIGINT``), as its declared type
    #: said when the table was last looked up; ``False`` for refinery's ``INT4`` and for no table.
    history_int8 = False

    @property
    def history_table(self) -> str:
        """The history table as statements name it (qualified where a same-named table could stand in)."""
        return HISTORY_TABLE

    def _columns(self) -> list[str]:
        """The history table's column names (none if it does not exist), after checking its shape.

        Raises :class:`HistoryTableError` for a view, a missing column, or a
        column without default that the runner would have to fill.
        """
        rows = self._history_shape_rows()
        shape = [(as_text(r[0]).lower(), bool(r[1]), bool(r[2]), bool(r[3])) for r in rows]
        columns = [name for name, _, _, _ in shape]
        self.history_int8 = any(
            is_64_bit_type(r[self.declared_type_index]) for r, (name, _, _, _) in zip(rows, shape) if name == "version"
        )
        if shape:
            problems = []
            if not all(is_table for _, _, _, is_table in shape):
                problems.append("is a view (or another kind of relation), not a table")
            missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
            if missing:
                problems.append("lacks the column(s) " + ", ".join(missing))
            unfillable = [name for name, not_null, has_default, _ in shape if not_null and not has_default and name not in _WRITTEN_COLUMNS]
            if unfillable:
                problems.append("has NOT NULL column(s) without a default that no migration runner fills: " + ", ".join(unfillable))
            if problems:
                raise HistoryTableError(table=HISTORY_TABLE, database=self.location(), problem="; ".join(problems))
        self._has_agent_column = "agent" in columns
        return columns

    def _history_shape_rows(self) -> list[Any]:
        """The rows of :attr:`history_columns_sql` for the history table (one statement)."""
        rows = self._query(self.history_columns_sql, (HISTORY_TABLE,))
        self._note_history_shape(rows)
        return rows

    def _note_history_shape(self, rows: Sequence[Any]) -> None:
        """Keep what a dialect's :attr:`history_columns_sql` says beyond the four shape columns."""

    def history_exists(self) -> bool:
        """Whether ``refinery_schema_history`` exists (checking its shape: see :meth:`_columns`)."""
        return bool(self._columns())

    def history_columns(self) -> list[str]:
        """The history table's column names, none if it does not exist (one statement; shape checked).

        Pass them on to :meth:`history_setup_sql` or :meth:`ensure_history`
        so the table is not looked up twice.
        """
        return self._columns()

    def history_setup_sql(self, columns: Sequence[str] | None = None, int8: bool = False) -> list[str]:
        """The statements :meth:`ensure_history` would run now (none when the table is ready).

        ``columns`` are those :meth:`history_columns` just returned; without
        them the table is looked up. ``int8``: a table created now gets a
        64-bit version column (a run whose first migrations need it).
        """
        if columns is None:
            columns = self._columns()
        if not columns:
            version_type = "INT8" if int8 else "INT4"
            return [CREATE_HISTORY.format(table=self.history_table, version_type=version_type) + self.history_table_options]
        return [] if "agent" in columns else [ADD_AGENT_COLUMN.format(table=self.history_table, options=self.agent_column_options)]

    def ensure_history(self, columns: Sequence[str] | None = None, int8: bool = False) -> None:
        """Create the history table (refinery's layout plus ``agent``) or add ``agent`` to refinery's.

        ``columns`` and ``int8`` as for :meth:`history_setup_sql`.
        """
        if columns is None:
            columns = self._columns()
        statements = self.history_setup_sql(columns, int8)
        for statement in statements:
            self._run(statement)
        if statements and not columns:
            self.history_int8 = int8
        self._has_agent_column = True

    def widen_history_sql(self) -> list[str]:
        """The statements making the history's ``version`` column 64-bit (``ALTER ... TYPE int8``); rows kept.

        Dialects whose ``ALTER`` cannot change a column's type (SQLite)
        rebuild the table instead.
        """
        raise NotImplementedError

    def widen_history(self) -> None:
        """Make the history's ``version`` column 64-bit, under the lock (see :meth:`widen_history_sql`).

        Where DDL commits implicitly (MySQL) this ends the transaction open.
        """
        for statement in self.widen_history_sql():
            self._run(statement)
        self.history_int8 = True

    def _history_rows(self, sql: str) -> list[Any]:
        """The raw rows of the history query (a dialect may fetch text as bytes, to decode it here)."""
        return self._query(sql)

    #: Columns a dialect reads after the five of the history, in the same statement (SQLite: the schema
    #: version, so that a cached no-op can tell the table's shape is the one its columns said).
    history_read_extra: ClassVar[str] = ""

    def history_select(self) -> str:
        """The statement :meth:`read_history` sends (the five columns, then :attr:`history_read_extra`)."""
        agent = "agent" if self._has_agent_column else "NULL"
        return (
            f"SELECT version, name, applied_on, checksum, {agent}{self.history_read_extra} "
            f"FROM {self.history_table} ORDER BY version"
        )

    def read_history(self) -> list[HistoryRow]:
        """Every history row, in version order; call after :meth:`history_exists` or :meth:`ensure_history`.

        The raw rows stay in :attr:`last_history_read` (with the statement), for :meth:`history_snapshot`.
        One pass over the rows: text is decoded where the driver gave bytes, and
        a row that is not plain (a NULL, a version that is not an integer,
        bytes that are not UTF-8) is converted, or named, by :func:`_plain_row`.
        """
        sql = self.history_select()
        rows = self._history_rows(sql)
        self.last_history_read = (sql, rows)
        history = []
        append = history.append
        for raw in rows:
            version, name, applied_on, checksum, by = raw[:5]
            try:
                if type(name) is bytes:
                    name = name.decode("utf-8")
                if type(checksum) is bytes:
                    checksum = checksum.decode("utf-8")
                if type(applied_on) is bytes:
                    applied_on = applied_on.decode("utf-8")
                if type(by) is bytes:
                    by = by.decode("utf-8")
            except UnicodeDecodeError:
                version = None  # not plain: _plain_row names the problem
            if (
                type(version) is not int
                or type(name) is not str
                or type(checksum) is not str
                or (applied_on is not None and type(applied_on) is not str)
                or (by is not None and type(by) is not str)
            ):
                append(HistoryRow(*_plain_row(raw[:5])))
            else:
                append(HistoryRow(version, name, "" if applied_on is None else applied_on, checksum, by))
        return history

    #: The statement :meth:`read_history` last sent and the raw rows it returned (``None``: not read yet).
    last_history_read: tuple[str, list[Any]] | None = None

    def history_snapshot(self) -> HistorySnapshot | None:
        """What :meth:`history_unchanged` can compare with later, from the last :meth:`read_history`.

        ``None`` where the dialect cannot tell, in one statement, that the
        table's shape and rows are still exactly those read (the default;
        SQLite can: :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect`).
        """
        return None

    def history_unchanged(self, snapshot: HistorySnapshot, lock_timeout: float) -> HistorySnapshot | None:
        """If the history is still exactly ``snapshot`` on this connection, the snapshot to compare with next time; else ``None``.

        Outside any session, in one statement where the dialect can (the
        default cannot tell, and answers ``None``).
        """
        return None

    def history_guard(self, version: int | None) -> HistoryGuard:
        """One row: how many versions the history holds, their sum, and whether ``version`` is one of them (one statement).

        The apply loop's concurrency guard, asked under the lock before each
        migration instead of reading the whole history again (``None``: only
        the count and sum). The sum tells a rollback followed by another
        runner's apply (same count, other versions) from no change at all. The
        version is looked up by its primary key. The version column's declared
        type comes in the same row: a widening by another runner changes no
        version, only the encoding every checksum written from then on must use.
        """
        table = self.history_table
        # The sum is of the versions modulo 2**32: 64-bit versions would overflow SQLite's SUM.
        modulo = "%%" if self.placeholder == "%s" else "%"  # a literal % beside the drivers' %s placeholders
        count, total, recorded, declared = self._query(
            f"SELECT (SELECT COUNT(*) FROM {table}), (SELECT COALESCE(SUM(version {modulo} 4294967296), 0) FROM {table}), "
            f"(SELECT COUNT(*) FROM {table} WHERE version = {self.placeholder}), {self.version_type_sql()}",
            (version,),
        )[0]
        return HistoryGuard(int(count), int(total), bool(int(recorded)), is_64_bit_type(_shown(declared)))

    def version_type_sql(self) -> str:
        """A scalar subquery (no parameter): the declared type of the history's ``version`` column, as :attr:`history_columns_sql` gives it."""
        raise NotImplementedError
