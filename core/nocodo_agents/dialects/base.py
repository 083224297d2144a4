"""What a database dialect offers the runner: locking, atomic work, history I/O.

The runner never branches on a dialect's name; everything that differs
between databases lives behind this interface, one module per database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from ..errors import (
    HistoryRowError,
    HistoryTableError,
    MigrationFailedError,
    SchemaReplayError,
    LockConflictError,
    SessionTimeoutError,
    StatementCancelledError,
)
from ..history import HISTORY_TABLE, HistoryRow

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration


@dataclass(frozen=True)
class UnfinishedMigration:
    """A journal entry: a migration (or its rollback, ``direction``) that stopped part-way.

    Statements before ``failed_index`` ran. ``in_progress``: read without
    the migration lock while another connection held it, so the entry may be
    a live runner's, at work right now, rather than a stopped one's; only the
    lock's holder can tell (MySQL journals each statement as it goes, and
    commits that at once).
    """

    version: int
    name: str
    agent: str
    statements: int
    failed_index: int
    error: str
    direction: str = "migration"
    in_progress: bool = False


#: refinery's DDL for the history table (one for every driver), plus our nullable ``agent`` column;
#: ``{table}`` is the dialect's :attr:`Dialect.history_table`.
CREATE_HISTORY = (
    "CREATE TABLE IF NOT EXISTS {table}("
    "version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
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


def as_text(value: Any) -> str:
    """A text column's value as ``str`` (some drivers hand back bytes)."""
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def _shown(value: Any) -> Any:
    """A history value as read: bytes that are UTF-8 become ``str``; others stay bytes (and are reported)."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def interrupted(failed: MigrationFailedError) -> str:
    """What a migration (or rollback) stopped by the server, the disk or the connection left behind.

    For the :class:`~nocodo_agents.DatabaseAccessError` that replaces
    ``failed`` when its statement failed for a reason outside its SQL: names
    the migration and says, from ``failed``'s facts, what stays applied (and,
    where the journal keeps it, how to settle it).
    """
    what = "Migration" if failed.phase == "migration" else f"The {failed.phase} of migration"
    where = (
        f"{what} V{failed.version}__{failed.name} of agent {failed.agent!r} (distribution {failed.distribution}, "
        f"{failed.source}) was stopped at statement {failed.statement_index + 1}"
    )
    if failed.journalled:
        record = "is still recorded as applied" if failed.phase == "rollback" else "was not recorded in the history"
        return (
            f"{where}: this database commits DDL implicitly, so the statements before it stay applied (statement "
            f"{failed.statement_index + 1} itself may or may not have taken effect) and V{failed.version} {record}. "
            f"The journal keeps it, and every run stops until it is settled: once the server is reachable, bring the "
            f"schema by hand to V{failed.version} fully applied or fully absent and run "
            f"`nocodo-agents resolve {failed.version} --applied` or `--absent`."
        )
    if failed.rolled_back:
        return f"{where}; its transaction was not committed (it is rolled back): the database and its history are as they were before it."
    return (
        f"{where}; it ran outside a transaction (transactional = False), so the statements before it stay applied "
        f"and V{failed.version} was not recorded in the history: check them before running again."
    )


def _what_stopped(error: BaseException) -> Tuple[str, str]:
    """For a statement stopped from outside the run: what it was, and what the run left behind.

    ``error`` is what left the run: a :class:`MigrationFailedError` (a
    migration's or rollback's statement: what it left is said as for any
    interrupted migration), a :class:`SchemaReplayError` (the drift check's
    replay), or the driver's error (one of the runner's own statements).
    """
    from ..urls import redact

    if isinstance(error, MigrationFailedError):
        return f"a statement of the {error.phase}", interrupted(error)
    if isinstance(error, SchemaReplayError):
        during = (
            f"the drift check's replay of migration V{error.version}__{error.name} of agent {error.agent!r} "
            f"(distribution {error.distribution}, {error.source}) at statement {error.statement_index + 1}"
        )
        return during, f"The replay ran in {error.scratch}; the live database was not touched."
    return (
        f"one of the runner's own statements ({redact(str(error).strip())})",
        "Each migration is recorded in the history as soon as it is applied: run `status` to see where it stopped.",
    )


def timeout_error(location: str, setting: str, value: str, error: BaseException) -> SessionTimeoutError:
    """:class:`SessionTimeoutError` for ``error``: a statement the session's ``setting`` (= ``value``) cancelled."""
    during, left = _what_stopped(error)
    return SessionTimeoutError(location, setting, value, during, left)


def cancelled_error(location: str, error: BaseException, server_message: str) -> StatementCancelledError:
    """:class:`StatementCancelledError` for ``error``: a statement someone outside the run cancelled."""
    during, left = _what_stopped(error)
    return StatementCancelledError(location, during[0].upper() + during[1:], left, server_message)



def lock_conflict_error(location: str, error: BaseException, server_message: str, find_holder: str) -> LockConflictError:
    """:class:`LockConflictError` for ``error``: a statement the server stopped over another session's locks."""
    during, left = _what_stopped(error)
    return LockConflictError(location, during[0].upper() + during[1:], left, server_message, find_holder)

class Dialect(ABC):
    """One database connection seen through what migrations need.

    ``statements`` counts every statement sent to the server and
    ``rows_read`` the rows its queries returned, so tests can check how much
    work a run does without timing it.
    """

    #: The dialect name migrations receive: ``"sqlite"``, ``"postgresql"``, ``"mysql"``.
    name: ClassVar[str]

    #: Seconds to wait for another runner's lock; :meth:`session` sets it for the run.
    lock_timeout: float = 60.0

    #: Whether DDL runs inside transactions, so a failed migration leaves nothing behind.
    #: Dialects without it (MySQL) journal each statement instead: see :meth:`journal_start`.
    transactional_ddl: ClassVar[bool] = True

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.statements = 0
        self.rows_read = 0

    @abstractmethod
    def ensure_idle(self) -> None:
        """Raise :class:`ConnectionStateError` if the caller has a transaction open."""

    @abstractmethod
    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """Prepare the connection for a run (and take any session-wide lock); undo it afterwards."""

    @abstractmethod
    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """One atomic unit of work holding the write lock: committed on exit, rolled back on error."""

    @contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """Hold the migration lock, with no transaction open, while a ``transactional = False`` migration runs.

        Runners take turns on such migrations: the caller re-reads the history
        inside, runs the statements, and records them in a
        :meth:`write_transaction` opened inside, which does not wait for the
        lock again. The default holds nothing: SQLite has no lock that
        outlives a transaction (each of the migration's statements takes the
        write lock for itself).
        """
        yield

    def invalid_indexes(self, building: bool = True) -> List[str]:
        """Indexes the database marks unusable (a failed concurrent build), in any schema of the database.

        Checked after a ``transactional = False`` migration and by ``verify``;
        ``building=False`` leaves out those a session is building right now
        (``verify``: their build has not failed). Dialects without such a
        state answer with no statement.
        """
        return []

    # -- statements: the two primitives every dialect provides -----------------------------------

    #: The driver's parameter placeholder (``%s`` for psycopg and PyMySQL, ``?`` for sqlite3).
    placeholder: ClassVar[str] = "%s"

    #: Table options appended to the history table's ``CREATE TABLE`` (MySQL: engine and character set).
    history_table_options: ClassVar[str] = ""
    #: Appended to the ``agent`` column added to a table refinery created (MySQL: a character set for any name).
    agent_column_options: ClassVar[str] = ""

    #: SQL describing the history table's columns, with one placeholder for the table name. Each row:
    #: column name, whether it is NOT NULL, whether it has a default, whether the relation is a table.
    history_columns_sql: ClassVar[str]

    @abstractmethod
    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        """Send one statement (values only as parameters), count it and its rows (:attr:`rows_read`), return the rows."""

    @abstractmethod
    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        """Send one statement (values only as parameters) and count it."""

    def execute(self, statement: str) -> None:
        """Run one statement of a migration."""
        self._run(statement)

    @abstractmethod
    def location(self) -> str:
        """Where the database is, for messages (never with a password)."""

    # -- history: refinery's table, the same statements on every dialect ------------------------

    _has_agent_column = False

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
                raise HistoryTableError(HISTORY_TABLE, self.location(), "; ".join(problems))
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

    def history_setup_sql(self, columns: Optional[Sequence[str]] = None) -> List[str]:
        """The statements :meth:`ensure_history` would run now (none when the table is ready).

        ``columns`` are those :meth:`history_columns` just returned; without
        them the table is looked up.
        """
        if columns is None:
            columns = self._columns()
        if not columns:
            return [CREATE_HISTORY.format(table=self.history_table) + self.history_table_options]
        return [] if "agent" in columns else [ADD_AGENT_COLUMN.format(table=self.history_table, options=self.agent_column_options)]

    def ensure_history(self, columns: Optional[Sequence[str]] = None) -> None:
        """Create the history table (refinery's layout plus ``agent``) or add ``agent`` to refinery's.

        ``columns`` as for :meth:`history_setup_sql`.
        """
        for statement in self.history_setup_sql(columns):
            self._run(statement)
        self._has_agent_column = True

    def _history_rows(self, sql: str) -> List[Any]:
        """The raw rows of the history query (a dialect may fetch text as bytes, to decode it here)."""
        return self._query(sql)

    def read_history(self) -> List[HistoryRow]:
        """Every history row, in version order; call after :meth:`history_exists` or :meth:`ensure_history`."""
        agent = "agent" if self._has_agent_column else "NULL"
        rows = self._history_rows(f"SELECT version, name, applied_on, checksum, {agent} FROM {self.history_table} ORDER BY version")
        history = []
        for raw in rows:
            row = tuple(_shown(value) for value in raw)
            version, name, applied_on, checksum, by = row
            if version is None or name is None or checksum is None:
                raise HistoryRowError(HISTORY_TABLE, row, "version, name and checksum must not be NULL")
            try:
                number = int(version)
            except (TypeError, ValueError):
                raise HistoryRowError(HISTORY_TABLE, row, "the version is not an integer") from None
            undecodable = [column for column, value in zip(_READ_COLUMNS, row) if isinstance(value, bytes)]
            if undecodable:
                raise HistoryRowError(HISTORY_TABLE, row, f"its {', '.join(undecodable)} holds bytes that are not UTF-8 text")
            text = "" if applied_on is None else str(applied_on)
            history.append(HistoryRow(number, str(name), text, str(checksum), None if by is None else str(by)))
        return history

    def history_guard(self, version: Optional[int]) -> Tuple[int, bool]:
        """One row: how many versions the history holds, and whether ``version`` is one of them (one statement).

        The apply loop's concurrency guard, asked under the lock before each
        migration instead of reading the whole history again (``None``: only
        the count).
        """
        p = self.placeholder
        count, recorded = self._query(
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN version = {p} THEN 1 ELSE 0 END), 0) FROM {self.history_table}",
            (version,),
        )[0]
        return int(count), bool(int(recorded))

    def _write_history(self, version: int, sql: str, params: Sequence[Any]) -> None:
        """Run a statement writing the history; a row the table refuses raises :class:`HistoryTableError`."""
        try:
            self._run(sql, params)
        except Exception as error:
            if not self._refused_by_table(error):
                raise
            raise HistoryTableError(
                HISTORY_TABLE,
                self.location(),
                f"refused the row of version {version}: {str(error).strip()} (a constraint or trigger of "
                f"the table, not of a migration)",
            ) from error

    def _refused_by_table(self, error: BaseException) -> bool:
        """Whether ``error`` says the table refused the row (a constraint, a trigger), not that the connection failed."""
        return False

    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration."""
        p = self.placeholder
        self._write_history(
            row.version,
            f"INSERT INTO {self.history_table} (version, name, applied_on, checksum, agent) VALUES ({p}, {p}, {p}, {p}, {p})",
            (row.version, row.name, row.applied_on, row.checksum, row.agent),
        )

    def update_history(self, row: HistoryRow) -> None:
        """Re-record the name, checksum and agent of an applied version (repair)."""
        p = self.placeholder
        self._write_history(
            row.version,
            f"UPDATE {self.history_table} SET name = {p}, checksum = {p}, agent = {p} WHERE version = {p}",
            (row.name, row.checksum, row.agent, row.version),
        )

    def delete_history(self, version: int) -> None:
        """Forget one applied version (rollback)."""
        self._write_history(version, f"DELETE FROM {self.history_table} WHERE version = {self.placeholder}", (version,))

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

    # -- checks around a migration's statements ---------------------------------------------------

    def check_integrity(self, planned: "PlannedMigration", phase: str, rolled_back: bool) -> None:
        """After a migration's (or rollback's) statements: raise if they left the data inconsistent.

        SQLite runs migrations with foreign-key enforcement off (so a table
        rebuild cannot cascade), and checks here what enforcement would have
        refused; other dialects enforce constraints as statements run.
        """

    # -- statement journal, for dialects whose DDL commits implicitly ---------------------------

    def unfinished(self) -> Optional[UnfinishedMigration]:
        """A migration an earlier run stopped part-way through, if the journal holds one."""
        return None

    def journal_start(self, version: int, name: str, agent: str, statements: int, direction: str = "migration") -> None:
        """A migration (``direction="migration"``) or its rollback (``"rollback"``) of ``statements`` statements is about to run."""

    def journal_statement(self, version: int, index: int) -> None:
        """Statement ``index`` (from 0) of ``version`` is about to run."""

    def journal_failed(self, version: int, index: int, error: BaseException) -> None:
        """Statement ``index`` of ``version`` failed: keep the entry so the next run refuses to go on."""

    def journal_done(self, version: int) -> None:
        """``version`` ran completely and its history row is written (deleted, for a rollback): drop its journal entry."""

    def clear_unfinished(self, version: int) -> None:
        """Forget the journal entry of ``version`` (the operator resolved it)."""

    @abstractmethod
    def split_statements(self, sql: str) -> List[str]:
        """Split a migration's SQL text into statements, in order."""

    @abstractmethod
    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        """Compare the live schema with what ``applied`` (in version order) produce on a scratch database."""

    @abstractmethod
    def schema_objects(self) -> FrozenSet[str]:
        """The live schema as ``"table t"``, ``"index i"``, ``"column t.c"``... (history table excluded)."""

    def transaction_open(self) -> bool:
        """Whether the runner's transaction is still open on the connection (checked after each statement).

        Costs no statement. Dialects that cannot tell, or whose DDL ends
        transactions anyway (MySQL: the journal covers it), answer ``True``.
        """
        return True
