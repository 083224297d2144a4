"""refinery's history table, read and written with the same statements on every dialect.

:class:`HistoryTable` is the part of :class:`~nocodo_agents.dialects.Dialect`
that creates, checks, reads and writes ``refinery_schema_history``; a dialect
only says how it describes the table's columns (:attr:`HistoryTable.history_columns_sql`),
which options its ``CREATE TABLE`` takes, and which driver errors mean the
table refused a row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, List, NamedTuple, NoReturn, Optional, Sequence, Tuple

from ..errors import HistoryAttributionError, HistoryRowError, HistoryTableError
from ..history import HISTORY_TABLE, HistoryRow, as_text, is_64_bit_type

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
#: The columns :meth:`Dialect.read_history` reads, in order.
_READ_COLUMNS = ("version", "name", "applied_on", "checksum", "agent")
#: Every column the runner writes.
_WRITTEN_COLUMNS = frozenset(_REQUIRED_COLUMNS) | {"agent"}


def _shown(value: Any) -> Any:
    """A history value as read: bytes that are UTF-8 become ``str``; others stay bytes (and are reported)."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def version_sum(versions: "Sequence[int] | Any") -> int:
    """What :meth:`HistoryTable.history_guard` sums: each version modulo 2**32, so 64-bit versions never overflow."""
    return sum(version % 4294967296 for version in versions)


def _plain_row(raw: Sequence[Any]) -> Tuple[int, str, str, str, Optional[str]]:
    """A raw history row's five values as a :class:`HistoryRow` holds them; :class:`HistoryRowError` naming what is wrong."""
    row = tuple(_shown(value) for value in raw)
    version, name, applied_on, checksum, by = row
    if version is None or name is None or checksum is None:
        raise HistoryRowError(table=HISTORY_TABLE, row=row, problem="version, name and checksum must not be NULL")
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise HistoryRowError(table=HISTORY_TABLE, row=row, problem="the version is not an integer") from None
    undecodable = [column for column, value in zip(_READ_COLUMNS, row) if isinstance(value, bytes)]
    if undecodable:
        raise HistoryRowError(
            table=HISTORY_TABLE,
            row=row,
            problem=f"its {', '.join(undecodable)} holds bytes that are not UTF-8 text",
        )
    return number, str(name), "" if applied_on is None else str(applied_on), str(checksum), None if by is None else str(by)


class HistorySnapshot(NamedTuple):
    """The history as one run read it, in a form the same connection can compare with in one statement.

    ``sql`` is the statement that reads it again, ``rows`` what that statement
    returned then (the rows, each with the table's schema version, the
    connection's token and, last, ``wait``: see :meth:`HistoryTable.history_snapshot`).
    ``wait`` is the caller's own lock wait setting on the connection as last
    seen (SQLite's busy timeout, in milliseconds), which ``sql`` also reads.
    """

    sql: str
    rows: List[Any]
    wait: int = 0


class HistoryGuard(NamedTuple):
    """What :meth:`HistoryTable.history_guard` reads: enough to tell whether the history changed, in one row."""

    rows: int  #: how many versions the history holds
    version_sum: int  #: the sum of those versions, each taken modulo 2**32 (:func:`version_sum`)
    recorded: bool  #: whether the version asked about is one of them
    int8: bool = False  #: whether the ``version`` column is declared 64-bit (another runner may have widened it)


class HistoryTable:
    """History I/O on top of a dialect's two statement primitives (:meth:`_query`, :meth:`_run`) and :meth:`location`."""

    #: The driver's parameter placeholder (``%s`` for psycopg and PyMySQL, ``?`` for sqlite3).
    placeholder: ClassVar[str] = "%s"

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

        def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]: ...

        def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None: ...

        def location(self) -> str: ...

    _has_agent_column = False
    #: Whether the history's ``version`` column is 64-bit (``INT8``/``BIGINT``), as its declared type
    #: said when the table was last looked up; ``False`` for refinery's ``INT4`` and for no table.
    history_int8 = False

    @property
    def history_table(self) -> str:
        """The history table as statements name it (qualified where a same-named table could stand in)."""
        return HISTORY_TABLE

    def _columns(self) -> List[str]:
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

    def _history_shape_rows(self) -> List[Any]:
        """The rows of :attr:`history_columns_sql` for the history table (one statement)."""
        rows = self._query(self.history_columns_sql, (HISTORY_TABLE,))
        self._note_history_shape(rows)
        return rows

    def _note_history_shape(self, rows: Sequence[Any]) -> None:
        """Keep what a dialect's :attr:`history_columns_sql` says beyond the four shape columns."""

    def history_exists(self) -> bool:
        """Whether ``refinery_schema_history`` exists (checking its shape: see :meth:`_columns`)."""
        return bool(self._columns())

    def history_columns(self) -> List[str]:
        """The history table's column names, none if it does not exist (one statement; shape checked).

        Pass them on to :meth:`history_setup_sql` or :meth:`ensure_history`
        so the table is not looked up twice.
        """
        return self._columns()

    def history_setup_sql(self, columns: Optional[Sequence[str]] = None, int8: bool = False) -> List[str]:
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

    def ensure_history(self, columns: Optional[Sequence[str]] = None, int8: bool = False) -> None:
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

    def widen_history_sql(self) -> List[str]:
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

    def _history_rows(self, sql: str) -> List[Any]:
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

    def read_history(self) -> List[HistoryRow]:
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
    last_history_read: Optional[Tuple[str, List[Any]]] = None

    def history_snapshot(self) -> Optional["HistorySnapshot"]:
        """What :meth:`history_unchanged` can compare with later, from the last :meth:`read_history`.

        ``None`` where the dialect cannot tell, in one statement, that the
        table's shape and rows are still exactly those read (the default;
        SQLite can: :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect`).
        """
        return None

    def history_unchanged(self, snapshot: "HistorySnapshot", lock_timeout: float) -> Optional["HistorySnapshot"]:
        """If the history is still exactly ``snapshot`` on this connection, the snapshot to compare with next time; else ``None``.

        Outside any session, in one statement where the dialect can (the
        default cannot tell, and answers ``None``).
        """
        return None

    def history_guard(self, version: Optional[int]) -> "HistoryGuard":
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

    def recorded_for(self, version: int, agent: Optional[str], write: str = "delete") -> bool:
        """Whether the history holds ``version`` for ``agent`` to change (one statement, one row), before changing it.

        ``False``: the version is not recorded (another runner removed it). A
        row attributed to another agent raises :class:`HistoryAttributionError`
        (``write``: what was about to be done), so an operation learns it
        before running any statement (MySQL's DDL commits as it runs).
        """
        p = self.placeholder
        by = "agent" if self._has_agent_column else "NULL"
        found = self._query(f"SELECT {by} FROM {self.history_table} WHERE version = {p}", (version,))
        if not found:
            return False
        recorded = _shown(found[0][0])
        if recorded is not None and recorded != agent:
            raise HistoryAttributionError(
                version=version, agent=str(agent), recorded_agent=str(recorded), database=self.location(), write=write
            )
        return True

    def _write_history(self, version: int, sql: str, params: Sequence[Any]) -> None:
        """Run a statement writing the history; a row the table refuses raises :class:`HistoryTableError`."""
        try:
            self._run(sql, params)
        except Exception as error:
            if not self._refused_by_table(error):
                raise
            self._write_history_refused(version, error)

    def _write_history_refused(self, version: int, error: BaseException) -> NoReturn:
        """Raise :class:`HistoryTableError`: the table refused the row of ``version`` (``error``: what the driver said)."""
        raise HistoryTableError(
            table=HISTORY_TABLE,
            database=self.location(),
            problem=f"refused the row of version {version}: {str(error).strip()} (a constraint or trigger of "
            f"the table, not of a migration)",
        ) from error

    def _refused_by_table(self, error: BaseException) -> bool:
        """Whether ``error`` says the table refused the row (a constraint, a trigger), not that the connection failed."""
        return False

    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration."""
        self._write_history(row.version, self.history_insert, (row.version, row.name, row.applied_on, row.checksum, row.agent))

    @property
    def history_insert(self) -> str:
        """The statement :meth:`insert_history` runs, its values as parameters (built once per table name)."""
        table = self.history_table
        built = self.__dict__.get("_history_insert")
        if built is None or built[0] != table:
            p = self.placeholder
            built = self.__dict__["_history_insert"] = (
                table,
                f"INSERT INTO {table} (version, name, applied_on, checksum, agent) VALUES ({p}, {p}, {p}, {p}, {p})",
            )
        return built[1]

    def update_history(self, row: HistoryRow) -> None:
        """Re-record the name, checksum and agent of an applied version (repair): never another agent's row.

        The statement matches the version's row only if it has no agent or
        ``row.agent``; one more statement then reads the row back, and a row
        the update did not match (attributed to another agent, or gone) raises
        :class:`HistoryAttributionError`, leaving the write transaction to
        roll back. The planning check (:func:`~nocodo_agents.planning.history_conflicts`)
        refuses such a version first; this is the table's own guarantee.
        """
        p = self.placeholder
        self._write_history(
            row.version,
            f"UPDATE {self.history_table} SET name = {p}, checksum = {p}, agent = {p} "
            f"WHERE version = {p} AND (agent IS NULL OR agent = {p})",
            (row.name, row.checksum, row.agent, row.version, row.agent),
        )
        found = self._query(f"SELECT name, checksum, agent FROM {self.history_table} WHERE version = {p}", (row.version,))
        written = [tuple(_shown(value) for value in values) for values in found]
        if written != [(row.name, row.checksum, row.agent)]:
            raise HistoryAttributionError(
                version=row.version,
                agent=str(row.agent),
                recorded_agent=None if not written or written[0][2] is None else str(written[0][2]),
                database=self.location(),
            )

    def delete_history(self, version: int, agent: Optional[str]) -> None:
        """Forget one applied version (rollback, resolve) for ``agent``: never another agent's row.

        The statement matches the version's row only if it has no agent or
        ``agent`` (``None``: only a row without agent); one more statement
        then looks the version up, and a row still there (attributed to
        another agent) raises :class:`HistoryAttributionError`, leaving the
        write transaction to roll back. The planning check refuses such a
        version first; this is the table's own guarantee.
        """
        p = self.placeholder
        if not self._has_agent_column:  # refinery's table: no row is attributed to anyone
            self._write_history(version, f"DELETE FROM {self.history_table} WHERE version = {p}", (version,))
            return
        self._write_history(
            version,
            f"DELETE FROM {self.history_table} WHERE version = {p} AND (agent IS NULL OR agent = {p})",
            (version, agent),
        )
        left = self._query(f"SELECT agent FROM {self.history_table} WHERE version = {p}", (version,))
        if left:
            recorded = _shown(left[0][0])
            raise HistoryAttributionError(
                version=version,
                agent=str(agent),
                recorded_agent=None if recorded is None else str(recorded),
                database=self.location(),
                write="delete",
            )

    def history_insert_sql(self, row: HistoryRow) -> str:
        """The statement recording ``row``, with its values written out, for showing to people."""
        values = ", ".join(
            "NULL" if value is None else str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
            for value in (row.version, row.name, row.applied_on, row.checksum, row.agent)
        )
        return f"INSERT INTO {self.history_table} (version, name, applied_on, checksum, agent) VALUES ({values});"

    def history_delete_sql(self, version: int) -> str:
        """The statement forgetting ``version``, for showing to people."""
        return f"DELETE FROM {self.history_table} WHERE version = {int(version)};"
