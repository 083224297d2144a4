"""Writing refinery's history table: a row recorded, re-recorded or forgotten, never another agent's.

:class:`HistoryWrites` is the part of :class:`~.history_table.HistoryTable`
(and so of every dialect) that changes rows; a row the table itself refuses
(a constraint, a trigger) is a :class:`HistoryTableError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Optional

from ..errors import HistoryAttributionError, HistoryTableError
from ..history import HISTORY_TABLE, HistoryRow
from .history_values import _shown

__all__ = ["HistoryValues", "HistoryWrites"]

#: One history row's values as written: ``(version, name, applied_on, checksum, agent)``.
HistoryValues = tuple[int, str, str, str, Optional[str]]


class HistoryWrites:
    """History writes on top of a dialect's two statement primitives (:meth:`_query`, :meth:`_run`) and :meth:`location`."""

    #: The driver's parameter placeholder (``%s`` for psycopg and PyMySQL, ``?`` for sqlite3).
    placeholder: ClassVar[str] = "%s"
    #: Whether the table has our ``agent`` column (refinery's own has none): see :class:`~.history_table.HistoryTable`.
    _has_agent_column: bool

    if TYPE_CHECKING:  # provided by HistoryTable and every Dialect

        @property
        def history_table(self) -> str: ...

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def location(self) -> str: ...

    def recorded_for(self, version: int, agent: str | None, write: str = "delete") -> bool:
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

    def _history_row_ignored(self, version: int) -> NoReturn:
        """Raise :class:`HistoryTableError`: the ``INSERT`` of version ``version``'s row wrote no row, and raised nothing."""
        raise HistoryTableError(
            table=HISTORY_TABLE,
            database=self.location(),
            problem=f"took the row of version {version} without writing it (its INSERT wrote no row: a trigger of "
            f"the table skipping it, such as SQLite's RAISE(IGNORE) or a PostgreSQL trigger returning NULL, or a "
            f"rule; not a migration), and a migration is never committed without its row",
        )

    def _refused_by_table(self, error: BaseException) -> bool:
        """Whether ``error`` says the table refused the row (a constraint, a trigger), not that the connection failed."""
        return False

    #: The rows the last statement sent wrote itself, its triggers' not counted, where the driver
    #: tells (-1: not known). A trigger can make an INSERT write nothing and raise nothing.
    _rows_written: int = -1

    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration; an ``INSERT`` that wrote no row (a trigger skipping it) is a :class:`HistoryTableError`."""
        self._write_history(row.version, self.history_insert, (row.version, row.name, row.applied_on, row.checksum, row.agent))
        if self._rows_written == 0:
            self._history_row_ignored(row.version)

    def insert_history_rows(self, rows: Sequence[HistoryValues]) -> None:
        """Record several applied migrations, in order, in the transaction open (a grouped run's, once their statements ran).

        Each row is ``(version, name, applied_on, checksum, agent)``, as
        :meth:`insert_history` writes a :class:`HistoryRow`; a row the table
        refuses raises :class:`HistoryTableError` naming its version. One
        statement per row (a dialect may send them in one call: SQLite).
        """
        sql = self.history_insert
        for values in rows:
            self._write_history(values[0], sql, values)
            if self._rows_written == 0:
                self._history_row_ignored(values[0])

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

    def delete_history(self, version: int, agent: str | None) -> None:
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
