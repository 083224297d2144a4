"""SQLite through the standard library's :mod:`sqlite3`.

Transactions are ours: for the run the connection is switched to autocommit
(``isolation_level = None``) so Python issues no implicit BEGIN or COMMIT,
and each unit of work is ``BEGIN IMMEDIATE`` ... ``COMMIT``, which takes the
database's write lock before history is read. Statements are run one by one
with ``execute`` inside it (``executescript`` would COMMIT first and break
atomicity); a migration needing no check between its statements is sent with
its BEGIN IMMEDIATE and history row as one script instead, then guarded and
committed as any write transaction.
Other runners wait for the lock up to ``lock_timeout`` (SQLite's busy timeout).

The dialect is assembled from parts, one concern each: preparing the
connection for writes and the write transaction (:mod:`.sqlite_writes`),
a migration sent with its transaction's start in one script (:mod:`.sqlite_scripts`),
foreign keys (:mod:`.sqlite_integrity`), the no-op cache's snapshot of the
history (:mod:`.sqlite_snapshot`, which also holds :func:`history_unchanged`,
importable from here), the history widened to 64-bit versions (:mod:`.sqlite_widening`)
and driver errors (:mod:`.sqlite_errors`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionStateError
from ..history import HISTORY_TABLE
from .base import Dialect
from .sqlite_errors import named_sqlite_error, refused_by_table
from .sqlite_integrity import ForeignKeyCheck, Violation
from .sqlite_scripts import ScriptedWrites
from .sqlite_snapshot import _SCHEMA_VERSION, HistorySnapshots, history_unchanged
from .sqlite_widening import HistoryWidening
from .sqlite_writes import PinnedPragmas, WriteTransactions

__all__ = ["SQLiteDialect", "history_unchanged"]

if TYPE_CHECKING:  # pragma: no cover
    from ..adoption import Footprint
    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

class SQLiteDialect(ForeignKeyCheck, ScriptedWrites, WriteTransactions, PinnedPragmas, HistorySnapshots, HistoryWidening, Dialect):
    """A :class:`sqlite3.Connection` (preparing it for writes and the write transaction: :mod:`.sqlite_writes`;
    a migration in one script: :mod:`.sqlite_scripts`; foreign keys: :mod:`.sqlite_integrity`; the no-op
    cache's snapshot: :mod:`.sqlite_snapshot`)."""

    name = "sqlite"
    connection: sqlite3.Connection

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        #: The connection's pragma values when the session began, where the runner changed them.
        self._changed_pragmas: dict[str, int] = {}
        self._settings: dict[str, int] = {}
        self._writes_prepared = False
        #: main's schema version when the history's columns were last read (``None``: no table).
        self._shape_version: int | None = None
        #: The busy timeout (ms) this session last set on the connection (``None``: not known).
        self._busy_ms: int | None = None
        #: The busy timeout is 0 after a write transaction that took the lock at once: set it back to
        #: the lock timeout before the next statement sent outside a write transaction.
        self._waits_unset = False
        #: Foreign-key violations before the current migration's first statement that could orphan a
        #: row (``None``: no such statement yet), or the error SQLite gave when asked for them.
        self._violations_before: list[Violation] | str | None = None
        self._creates: dict[str, bool] = {}

    def ensure_idle(self) -> None:
        try:
            self.connection.cursor().close()  # no I/O: refused on a closed connection or in another thread
            in_transaction = self.connection.in_transaction
        except sqlite3.ProgrammingError as error:
            raise ConnectionStateError(
                problem=f"the sqlite3 connection cannot be used here ({error}): nothing was changed. Run the migrations "
                f"on an open connection, in the thread that opened it (or one opened with "
                f"check_same_thread=False and used by one thread at a time)"
            ) from error
        if getattr(self.connection, "autocommit", None) is False:
            raise ConnectionStateError(
                problem="this sqlite3 connection was opened with autocommit=False, so it always holds an "
                "open transaction and the runner cannot take the write lock: open it with the "
                "default autocommit setting (or autocommit=True) for migrations"
            )
        if in_transaction:
            raise ConnectionStateError(
                problem="the sqlite3 connection is inside a transaction: commit or roll back your own work "
                "before running migrations (the runner never commits or rolls back work that is "
                "not its own)"
            )

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """The connection as the runner needs it, whatever the caller set; all of it restored afterwards.

        Rows come back as tuples and text as ``str`` (a caller's ``row_factory``
        or ``text_factory`` is set aside), Python issues no implicit BEGIN, and
        the busy timeout is the lock timeout. Before the first write, the
        pragmas of :data:`~.sqlite_writes._PINNED_FOR_WRITES` are set (see :meth:`_prepare_writes`).
        Every sqlite3 error that leaves the session becomes a named error.
        """
        connection = self.connection
        saved = (connection.isolation_level, connection.row_factory, connection.text_factory)
        self.lock_timeout = lock_timeout
        connection.isolation_level = None
        connection.row_factory = None
        connection.text_factory = str
        self._busy_ms = None
        self._waits_unset = False
        try:
            # PRAGMA busy_timeout reads no schema, so it cannot wait behind another connection's lock
            self._settings["busy_timeout"] = self._query("PRAGMA busy_timeout")[0][0]
            self._set_busy_timeout(lock_timeout)
            yield
        except BaseException as error:
            self._restore_caller_state(saved, quietly=True)  # keep the original error
            self._raise_named(error)
        self._restore_caller_state(saved, quietly=False)

    def _set_busy_timeout(self, seconds: float) -> None:
        """``PRAGMA busy_timeout``, unless this session set it to that value last (no statement then)."""
        milliseconds = int(seconds * 1000)
        if milliseconds != self._busy_ms:
            self._busy_ms = None  # unknown, should the statement fail
            self._run(f"PRAGMA busy_timeout = {milliseconds}")
            self._busy_ms = milliseconds

    def _wait_again(self) -> None:
        """Outside the write transactions again: statements wait up to the lock timeout (see :meth:`write_transaction`)."""
        self._waits_unset = False
        self._set_busy_timeout(self.lock_timeout)

    def _restore_caller_state(self, saved: tuple[Any, Any, Any], quietly: bool) -> None:
        """Put back the busy timeout and the pragmas the run changed, then the connection's factories."""
        connection = self.connection
        self._waits_unset = False
        try:
            if "busy_timeout" in self._settings:
                busy_timeout = int(self._settings["busy_timeout"])
                self._restore("busy_timeout", lambda: self._run(f"PRAGMA busy_timeout = {busy_timeout}"), quietly)
            pragmas, self._changed_pragmas = self._changed_pragmas, {}
            if pragmas:
                self._restore(", ".join(pragmas), lambda: self._set_pragmas(pragmas), quietly)
        finally:
            self._busy_ms = None
            connection.isolation_level, connection.row_factory, connection.text_factory = saved

    def _set_pragmas(self, values: dict[str, int]) -> None:
        for pragma, value in values.items():
            self._run(f"PRAGMA {pragma} = {int(value)}")

    def _driver_error(self) -> type[BaseException]:
        return sqlite3.Error

    def _named_error(self, error: BaseException) -> BaseException:
        """``error`` as the named error a caller can act on (see :func:`~.sqlite_errors.named_sqlite_error`)."""
        return named_sqlite_error(error, self.location, self.lock_timeout)

    def location(self) -> str:
        """The database file's path (``:memory:`` for an in-memory database)."""
        try:
            cursor = self.connection.cursor()
            cursor.row_factory = None
            for _, name, path in cursor.execute("PRAGMA database_list"):
                if name == "main":
                    return str(path) or ":memory:"
        except sqlite3.Error:
            pass
        return "the SQLite database"

    placeholder = "?"
    # ``main.``: neither a TEMP table of the same name nor an attached database's history stands in.
    # The schema version (main's) comes with the columns and with the rows: see history_snapshot.
    history_columns_sql = (
        "SELECT p.name, p.\"notnull\", p.dflt_value IS NOT NULL, m.type = 'table', p.type, "
        f"{_SCHEMA_VERSION} FROM main.sqlite_master m "
        "JOIN pragma_table_info(m.name, 'main') p WHERE m.name = ? COLLATE NOCASE AND m.type IN ('table', 'view')"
    )
    history_read_extra = f", {_SCHEMA_VERSION}"

    @property
    def history_table(self) -> str:
        return f"main.{HISTORY_TABLE}"

    def version_type_sql(self) -> str:
        return f"(SELECT type FROM pragma_table_info('{HISTORY_TABLE}', 'main') WHERE name = 'version' COLLATE NOCASE)"

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        rows = self.connection.execute(sql, params or ()).fetchall()
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if self._waits_unset:
            self._wait_again()
        if self._recorded is not None:
            self._recorded.append(None if params else sql)  # see ScriptedWrites.recording_writes
        self.statements += 1
        self._rows_written = self.connection.execute(sql, params or ()).rowcount

    def _history_rows(self, sql: str) -> list[Any]:
        """Text as bytes, so a value that is not UTF-8 is reported by its row, not as a decoding crash."""
        self.connection.text_factory = bytes
        try:
            return self._query(sql)
        finally:
            self.connection.text_factory = str

    def _refused_by_table(self, error: BaseException) -> bool:
        return refused_by_table(error)

    def split_statements(self, sql: str) -> list[str]:
        from ..schema.sqlite_split import split_sqlite_statements  # the schema layer: not on the no-op path

        return split_sqlite_statements(sql)

    # The schema layer is imported when needed, not on the no-op path.

    def schema_drift(self, applied: Sequence[PlannedMigration]) -> DriftReport:
        from ..schema.scratch_sqlite import sqlite_schema_drift

        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        return sqlite_schema_drift(self.connection, applied)

    def schema_objects(self) -> frozenset[str]:
        from ..schema.describe_sqlite import sqlite_schema_objects

        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        return sqlite_schema_objects(self.connection)

    def schema_footprints(self, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
        from ..schema.scratch_sqlite import sqlite_footprints

        return sqlite_footprints(pending)  # replayed on a scratch database: no statement here

    def transaction_open(self) -> bool:
        return self.connection.in_transaction

    def hand_over(self) -> None:
        if self._waits_unset:
            self._wait_again()

    def own_changes(self) -> tuple[int, ...] | None:
        """The rows this connection wrote (``total_changes``) and the schema's version (DDL moves no row count): one statement."""
        return (self.connection.total_changes, int(self._query("PRAGMA schema_version")[0][0]))

    def change_token(self) -> int | None:
        """``PRAGMA data_version``: SQLite changes it for this connection whenever another connection (or process) commits."""
        return int(self._query("PRAGMA data_version")[0][0])

