"""Where PostgreSQL's history table lives and what shape it has: read from ``pg_catalog`` with the columns.

The history table is ``current_schema().refinery_schema_history``, named
schema-qualified so a TEMP table of the same name never stands in for it.
Its shape (columns, NOT NULL, defaults, relation kind, declared types) and
its schema come back in one statement; the ``version`` column is widened to
``int8`` (refinery's ``int8-versions``) only after views using it are ruled
out. :class:`HistoryShape` is that part of
:class:`~nocodo_agents.dialects.postgresql.PostgreSQLDialect`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import HistoryTableError
from ...history import HISTORY_TABLE
from ..history_table import as_text

#: Per psycopg connection: the schema (quoted) where its history table, with an ``agent`` column, was last found.
#: Only a guess for the next run's read to travel with the shape (see :meth:`HistoryShape.history_columns`).
_LAST_SEEN: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class HistoryShape:
    """The history table's schema, shape and widening (mixed into the dialect, before :class:`~..base.Dialect`)."""

    #: The schema holding the history table (``current_schema()``), once known, quoted by the server
    #: (``quote_ident``: a keyword such as ``user``, upper case or spaces need double quotes).
    _schema: str | None = None

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _current_schema(self) -> str: ...

        def location(self) -> str: ...

        def transaction_open(self) -> bool: ...

        def _send(self, sql: str, statements: int) -> list[list[Any]]: ...

        def history_select(self) -> str: ...

    connection: Any
    #: The history read that travelled with the shape (the statement and its rows), until :meth:`_history_rows` takes it.
    _read_with_shape: tuple[str, list[Any]] | None = None
    #: Whether the shape about to be read may bring the history's rows with it (see :meth:`history_columns`).
    _rows_follow = False

    # The schema travels with the columns, so the no-op path learns where history lives for free. Read from
    # pg_catalog, not information_schema (whose views the server takes milliseconds to plan), with what
    # information_schema.columns says: NOT NULL also from a domain, a default also for an identity or generated
    # column, the relation kinds it lists (table, view, foreign table, partitioned table), a domain's base type.
    # Scalar subqueries rather than joins: the server plans them in a fraction of the time.
    history_columns_sql = (
        "SELECT a.attname, a.attnotnull OR (SELECT t.typtype = 'd' AND t.typnotnull FROM pg_catalog.pg_type t "
        "WHERE t.oid = a.atttypid), a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', "
        "(SELECT c.relkind IN ('r', 'p') FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid), "
        "quote_ident(current_schema()), (SELECT CASE WHEN t.typtype = 'd' THEN (SELECT b.typname FROM "
        "pg_catalog.pg_type b WHERE b.oid = t.typbasetype) ELSE t.typname END FROM pg_catalog.pg_type t "
        "WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a WHERE a.attrelid = (SELECT c.oid FROM "
        "pg_catalog.pg_class c WHERE c.oid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s)) "
        "AND c.relkind IN ('r', 'v', 'f', 'p')) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    )

    declared_type_index = 5

    def widen_history_sql(self) -> list[str]:
        """``ALTER ... TYPE int8``: transactional, so it commits with the checksums re-recorded after it."""
        return [f"ALTER TABLE {self.history_table} ALTER COLUMN version TYPE int8"]

    def widen_history(self) -> None:
        """``ALTER ... TYPE int8``, after refusing (:class:`HistoryTableError`) views whose rules use the column.

        PostgreSQL cannot change the type of a column a view uses; it is
        asked first (one statement), so the error names the views and what
        to do, and the transaction rolls back with nothing changed.
        """
        table = self.history_table.replace("'", "''")
        views = [
            as_text(row[0])
            for row in self._query(
                "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
                "JOIN pg_class v ON v.oid = r.ev_class JOIN pg_attribute a ON a.attrelid = d.refobjid "
                f"AND a.attnum = d.refobjsubid WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = '{table}'::regclass "
                "AND a.attname = 'version' AND v.oid <> d.refobjid ORDER BY 1"
            )
        ]
        if views:
            raise HistoryTableError(
                table=HISTORY_TABLE,
                database=self.location(),
                problem=f"has its version column used by the view(s) {', '.join(views)}, so PostgreSQL cannot widen "
                f"it to int8 (refinery's int8-versions): nothing was changed; drop "
                f"the view(s), run again, then create them again (they read the widened column as they are)",
            )
        super().widen_history()  # type: ignore[misc]

    def history_columns(self) -> list[str]:
        """The history table's columns (shape checked); on a connection that found it before, its rows come along.

        Outside a transaction, where this connection last found the history
        table (and its ``agent`` column) the rows are read in the same message
        as the shape (one round trip instead of two): ``read_history`` uses
        them only if the shape says the table is still there, in that schema,
        with that column (the very statement it would send), and otherwise
        reads again. A message refused because the table, the schema or the
        column is gone is followed by the shape alone, as on a first run.
        """
        self._rows_follow = True
        try:
            columns = super().history_columns()  # type: ignore[misc]
        finally:
            self._rows_follow = False
        if columns and "agent" in columns and self._schema is not None:
            _LAST_SEEN[self.connection] = self._schema
        else:
            _LAST_SEEN.pop(self.connection, None)
        return columns

    def _history_shape_rows(self) -> list[Any]:
        """The shape's rows (one statement), with the history's rows when :meth:`history_columns` may use them."""
        import psycopg

        self._read_with_shape = None
        schema = _LAST_SEEN.get(self.connection) if self._rows_follow and not self.transaction_open() else None
        if schema is None:
            return super()._history_shape_rows()  # type: ignore[misc]
        read = f"SELECT version, name, applied_on, checksum, agent FROM {schema}.{HISTORY_TABLE} ORDER BY version"
        shape_sql = self.history_columns_sql.replace("%s", f"'{HISTORY_TABLE}'")  # one message: no parameters
        try:
            shape, rows = self._send(f"{shape_sql}; {read}", 2)
        except psycopg.errors.ProgrammingError:  # the table, its schema or its agent column is gone: as a first run
            _LAST_SEEN.pop(self.connection, None)
            return super()._history_shape_rows()  # type: ignore[misc]
        self._note_history_shape(shape)
        self._read_with_shape = (read, rows)
        return shape

    def _history_rows(self, sql: str) -> list[Any]:
        """The rows read with the shape if ``sql`` is the statement that read them, else read now."""
        prefetched, self._read_with_shape = self._read_with_shape, None
        if prefetched is not None and prefetched[0] == sql:
            return prefetched[1]
        return super()._history_rows(sql)  # type: ignore[misc]

    def _note_history_shape(self, rows: Sequence[Any]) -> None:
        if rows:
            self._schema = rows[0][4]
        elif self._schema is None:  # no history here: but is there a current schema at all?
            self._schema = self._current_schema()

    @property
    def history_table(self) -> str:
        """``schema.refinery_schema_history``: a TEMP table of the same name never stands in for it."""
        if self._schema is None:
            self._schema = self._current_schema()
        return f"{self._schema}.{HISTORY_TABLE}"

    def version_type_sql(self) -> str:
        table = self.history_table.replace("'", "''")
        return f"(SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = 'version')"
