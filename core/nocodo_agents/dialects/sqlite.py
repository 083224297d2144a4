"""SQLite through the standard library's :mod:`sqlite3`.

Transactions are ours: for the run the connection is switched to autocommit
(``isolation_level = None``) so Python issues no implicit BEGIN or COMMIT,
and each unit of work is ``BEGIN IMMEDIATE`` ... ``COMMIT``, which takes the
database's write lock before history is read. Statements are run one by one
with ``execute`` (``executescript`` would COMMIT first and break atomicity).
Other runners wait for the lock up to ``lock_timeout`` (SQLite's busy timeout).
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Type, Union

from ..errors import ConnectionStateError, LockTimeoutError
from ..history import HISTORY_TABLE
from .base import Dialect
from .history_table import HistorySnapshot
from .sqlite_errors import is_busy, named_sqlite_error, refused_by_table
from .sqlite_integrity import ForeignKeyCheck, Violation
from .sqlite_writes import PinnedPragmas

if TYPE_CHECKING:  # pragma: no cover
    from ..adoption import Footprint
    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

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
) -> Tuple[Optional[HistorySnapshot], int, int]:
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


class SQLiteDialect(ForeignKeyCheck, PinnedPragmas, Dialect):
    """A :class:`sqlite3.Connection` (preparing it for writes: :mod:`.sqlite_writes`; foreign keys: :mod:`.sqlite_integrity`)."""

    name = "sqlite"
    connection: sqlite3.Connection

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        #: The connection's pragma values when the session began, where the runner changed them.
        self._changed_pragmas: Dict[str, int] = {}
        self._settings: Dict[str, int] = {}
        self._writes_prepared = False
        #: main's schema version when the history's columns were last read (``None``: no table).
        self._shape_version: Optional[int] = None
        #: The busy timeout (ms) this session last set on the connection (``None``: not known).
        self._busy_ms: Optional[int] = None
        #: The busy timeout is 0 after a write transaction that took the lock at once: set it back to
        #: the lock timeout before the next statement sent outside a write transaction.
        self._waits_unset = False
        #: Foreign-key violations before the current migration's first statement that could orphan a
        #: row (``None``: no such statement yet), or the error SQLite gave when asked for them.
        self._violations_before: "Optional[Union[List[Violation], str]]" = None
        self._creates: Dict[str, bool] = {}

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

    def _restore_caller_state(self, saved: Tuple[Any, Any, Any], quietly: bool) -> None:
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

    def _set_pragmas(self, values: Dict[str, int]) -> None:
        for pragma, value in values.items():
            self._run(f"PRAGMA {pragma} = {int(value)}")

    def _driver_error(self) -> Type[BaseException]:
        return sqlite3.Error

    def _named_error(self, error: BaseException) -> BaseException:
        """``error`` as the named error a caller can act on (see :func:`~.sqlite_errors.named_sqlite_error`)."""
        return named_sqlite_error(error, self.location, self.lock_timeout)

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, the busy timeout 0 unless the lock had to be waited for.

        The write lock is tried with a busy timeout of 0, so that a wait is
        logged before it starts (:func:`~.lock_wait.take_lock`). The timeout
        then stays 0 for the transaction and the next one (two statements
        fewer per transaction than setting it back each time): inside, the
        write lock is held, so only ``COMMIT`` may have to wait (for readers
        to finish, in rollback-journal mode); it is tried at once and, if
        readers are there, logged and tried again waiting up to the lock
        timeout (a ``COMMIT`` refused as busy leaves the transaction open).
        (A page spilled to the file mid-transaction waits for nothing: SQLite
        keeps it in memory when readers are there.) Any statement sent
        outside a write transaction first sets the lock timeout back
        (:meth:`_wait_again`), and the session puts the caller's back at its end.
        """
        if not self._writes_prepared:
            self._prepare_writes()
        self._waits_unset = False
        self._take_write_lock()
        self._violations_before = None
        committing = False
        try:
            yield
            committing = True
            self._commit()
        except BaseException as error:
            if self.connection.in_transaction:
                try:
                    self._run("ROLLBACK")
                except sqlite3.Error as rollback_error:  # keep the original error; SQLite rolls back a hot journal itself
                    logger.warning("ROLLBACK failed on %s after %s: %s", self.location(), type(error).__name__, rollback_error)
            if committing and is_busy(error):
                raise LockTimeoutError(
                    dialect=self.name,
                    waited_seconds=self.lock_timeout,
                    cause=f"{error}: readers kept the database busy at COMMIT; it was rolled back"
                ) from error
            raise
        finally:
            self._waits_unset = self._busy_ms == 0

    def _commit(self) -> None:
        """``COMMIT``: at once, or once readers finished (logged, within the lock timeout)."""
        try:
            self._run("COMMIT")
        except sqlite3.OperationalError as error:
            if self._busy_ms != 0 or not is_busy(error) or not self.connection.in_transaction:
                raise
            logger.info("waiting up to %g s for readers of %s to finish, to commit", self.lock_timeout, self.location())
            self._set_busy_timeout(self.lock_timeout)
            self._run("COMMIT")

    def _take_write_lock(self) -> None:
        """``BEGIN IMMEDIATE``: at once if the lock is free, else say so in the log and wait (SQLite's busy timeout)."""
        from .lock_wait import take_lock  # writes only: not on the no-op path

        self._set_busy_timeout(0)  # no statement after a transaction that took the lock at once
        take_lock(
            self._begin_now, self._begin_waiting, dialect=self.name, lock_timeout=self.lock_timeout, lock="write lock", where=self.location
        )

    def _begin_now(self) -> bool:
        """``BEGIN IMMEDIATE`` without waiting (the busy timeout is 0): whether the write lock was free."""
        try:
            self._run("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            return False
        return True

    def _begin_waiting(self, timeout: float) -> None:
        """``BEGIN IMMEDIATE`` waiting up to ``timeout`` seconds (:class:`LockStillHeld` if the lock stays taken)."""
        self._set_busy_timeout(timeout)
        try:
            self._run("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if is_busy(error):
                from .lock_wait import LockStillHeld

                raise LockStillHeld(error) from error
            raise

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

    def _note_history_shape(self, rows: Sequence[Any]) -> None:
        self._shape_version = rows[0][5] if rows else None

    def history_snapshot(self) -> Optional[HistorySnapshot]:
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

    def history_unchanged(self, snapshot: HistorySnapshot, lock_timeout: float) -> Optional[HistorySnapshot]:
        """If reading the history again gives exactly ``snapshot``'s rows, what to compare with next (see :func:`history_unchanged`)."""
        found, statements, rows_read = history_unchanged(self.connection, snapshot, lock_timeout)
        self.statements += statements
        self.rows_read += rows_read
        return found

    @property
    def history_table(self) -> str:
        return f"main.{HISTORY_TABLE}"

    def version_type_sql(self) -> str:
        return f"(SELECT type FROM pragma_table_info('{HISTORY_TABLE}', 'main') WHERE name = 'version' COLLATE NOCASE)"

    def widen_history(self) -> None:
        """Rebuild the history with ``version INT8`` (:meth:`widen_history_sql`), views and triggers reading it left working.

        The rebuild drops the table and renames its copy; SQLite (3.26 and
        later) checks every view and trigger when a table is renamed, and one
        reading the history (an operator's view of applied versions) names
        a table that is gone at that moment. ``legacy_alter_table`` skips that
        check for the rename; the view's text names the table, which exists
        again once the rename is done. The setting is the connection's as before afterwards.
        """
        legacy = int(self._query("PRAGMA legacy_alter_table")[0][0])
        if not legacy:
            self._run("PRAGMA legacy_alter_table = ON")
        try:
            super().widen_history()
        finally:
            if not legacy:
                self._run("PRAGMA legacy_alter_table = OFF")

    def widen_history_sql(self) -> List[str]:
        """SQLite cannot change a column's type: the table is rebuilt with ``version INT8`` (one transaction, rows kept).

        Every column keeps its declared type, ``NOT NULL``, default and
        primary key, as ``PRAGMA table_info`` gives them (one statement).
        """
        info = self._query(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?, 'main') ORDER BY cid", (HISTORY_TABLE,)
        )
        definitions, names, keys = [], [], []
        for name, declared, not_null, default, key in info:
            quoted = '"' + str(name).replace('"', '""') + '"'
            declared = "INT8" if str(name).lower() == "version" else str(declared or "")
            definitions.append(
                " ".join(part for part in (quoted, declared, "NOT NULL" if not_null else "", f"DEFAULT {default}" if default is not None else "") if part)
            )
            names.append(quoted)
            if key:
                keys.append((key, quoted))
        if keys:
            definitions.append("PRIMARY KEY (" + ", ".join(quoted for _, quoted in sorted(keys)) + ")")
        widened = "nocodo_agents_widened_history"
        listed = ", ".join(names)
        return [
            f"DROP TABLE IF EXISTS main.{widened}",
            f"CREATE TABLE main.{widened} ({', '.join(definitions)})",
            f"INSERT INTO main.{widened} ({listed}) SELECT {listed} FROM main.{HISTORY_TABLE}",
            f"DROP TABLE main.{HISTORY_TABLE}",
            f"ALTER TABLE main.{widened} RENAME TO {HISTORY_TABLE}",
        ]

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        rows = self.connection.execute(sql, params or ()).fetchall()
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        self.connection.execute(sql, params or ())

    def _history_rows(self, sql: str) -> List[Any]:
        """Text as bytes, so a value that is not UTF-8 is reported by its row, not as a decoding crash."""
        self.connection.text_factory = bytes
        try:
            return self._query(sql)
        finally:
            self.connection.text_factory = str

    def _refused_by_table(self, error: BaseException) -> bool:
        return refused_by_table(error)

    def split_statements(self, sql: str) -> List[str]:
        from ..schema.sqlite_split import split_sqlite_statements  # the schema layer: not on the no-op path

        return split_sqlite_statements(sql)

    # The schema layer is imported when needed, not on the no-op path.

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        from ..schema.scratch_sqlite import sqlite_schema_drift

        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        return sqlite_schema_drift(self.connection, applied)

    def schema_objects(self) -> FrozenSet[str]:
        from ..schema.describe_sqlite import sqlite_schema_objects

        if self._waits_unset:
            self._wait_again()
        self.statements += 1
        return sqlite_schema_objects(self.connection)

    def schema_footprints(self, pending: Sequence["PlannedMigration"]) -> Dict[int, "Footprint"]:
        from ..schema.scratch_sqlite import sqlite_footprints

        return sqlite_footprints(pending)  # replayed on a scratch database: no statement here

    def transaction_open(self) -> bool:
        return self.connection.in_transaction

    def hand_over(self) -> None:
        if self._waits_unset:
            self._wait_again()

    def change_token(self) -> Optional[int]:
        """``PRAGMA data_version``: SQLite changes it for this connection whenever another connection (or process) commits."""
        return int(self._query("PRAGMA data_version")[0][0])

