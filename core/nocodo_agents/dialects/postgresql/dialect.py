"""The PostgreSQL dialect: the session, statements, transactions and the lock taken in each;
its schema is read by the schema layer (:mod:`nocodo_agents.schema`).

See the package's docstring for what the run guarantees; the lock is
:mod:`.lock`, the caller's settings :mod:`.session_settings`, psycopg's
errors :mod:`.errors`, the history table's schema and shape
:mod:`.history_shape`, deferred constraint checks and invalid indexes
:mod:`.integrity`, the apply loop's batched messages :mod:`.batched`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import ConnectionStateError, DatabaseAccessError, MigrationFailedError
from ...schema.split import split_statements
from ..base import Dialect
from ..history_table import as_text
from .batched import BatchedWrites
from .errors import DriverErrors
from .history_shape import HistoryShape
from .integrity import _INVALID_INDEXES, _NOT_BUILDING, IntegrityChecks
from .lock import BEGIN, begin_locked, guarded
from .session_settings import SessionSettings

if TYPE_CHECKING:  # pragma: no cover
    from ...adoption import Footprint
    from ...drift import DriftReport
    from ...planning import PlannedMigration
    from ...schema.scratch_postgresql import PostgreSQLAccess

logger = logging.getLogger("nocodo_agents")

__all__ = ["PostgreSQLDialect", "_INVALID_INDEXES", "_NOT_BUILDING"]  # the two queries live in .integrity now


class PostgreSQLDialect(IntegrityChecks, HistoryShape, BatchedWrites, SessionSettings, DriverErrors, Dialect):
    """A ``psycopg.Connection`` (psycopg 3)."""

    name = "postgresql"

    @property
    def _idle(self) -> Any:
        from psycopg.pq import TransactionStatus

        return TransactionStatus.IDLE

    def ensure_idle(self) -> None:
        status = self.connection.info.transaction_status
        if status != self._idle:
            raise ConnectionStateError(
                problem=f"the psycopg connection is not idle ({status.name}): commit or roll back your own work "
                f"before running migrations (the runner never commits or rolls back work that is not its own)"
            )

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        #: The schema holding the history table (``current_schema()``), once known, quoted by the server
        #: (``quote_ident``: a keyword such as ``user``, upper case or spaces need double quotes).
        self._schema: str | None = None
        self._writes_prepared = False
        #: Session settings that change what migrations do, found changed: name -> (the caller's, the default).
        self._pinned: dict[str, tuple[str, str]] = {}
        #: Whether :attr:`_pinned` settings were set for the session (statements outside a transaction).
        self._session_pinned = False
        #: Whether a guard connection holds the migration lock for this runner (see :meth:`outside_transaction`).
        self._guarded = False
        self._init_batched()

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """Autocommit for the run (each unit of work is an explicit transaction); driver errors become named ones.

        A session whose ``client_encoding`` is not UTF8 (``LATIN1``...) could
        not carry a migration's text: it is switched to UTF8 for the run (one
        statement, only then) and set back afterwards.
        """
        saved = self.connection.autocommit
        self.lock_timeout = lock_timeout
        caller_encoding: str | None = None
        try:
            self.connection.autocommit = True
            if self.connection.info.encoding != "utf-8":
                caller_encoding = as_text(self.connection.info.parameter_status("client_encoding"))
                self._run("SET client_encoding = 'UTF8'")
            yield
        except BaseException as error:
            self._restore_caller_state(saved, caller_encoding, quietly=True)  # never hides the error on its way out
            self._raise_named(error)
        self._restore_caller_state(saved, caller_encoding, quietly=False)

    # -- statements ------------------------------------------------------------------------------

    def _cursor(self) -> Any:
        """A plain cursor returning tuples, whatever ``row_factory``/``cursor_factory`` the caller set."""
        import psycopg
        from psycopg.rows import tuple_row

        return psycopg.Cursor(self.connection, row_factory=tuple_row)

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        if self._held_row is not None:
            self._flush_history()  # the history row held back goes first (see .batched)
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)
            rows = cursor.fetchall() if cursor.description else []
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if self._held_row is not None:
            self._flush_history()
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)
            self._rows_written = cursor.rowcount

    def split_statements(self, sql: str) -> list[str]:
        return split_statements(sql, "postgresql")

    # -- transactions and the lock ---------------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        import psycopg

        if self.connection.read_only:
            raise DatabaseAccessError(
                database=self.location(),
                problem="the psycopg connection is read-only (connection.read_only = True): nothing was changed. "
                "Run the migrations on a connection that may write.",
            )
        # READ COMMITTED whatever the caller or the server default: history is read after the lock is
        # taken, and a snapshot from before the wait would miss what the previous holder committed.
        self._end_of_transaction()  # nothing of an earlier transaction carries over
        if self._guarded:
            self._expected_guard = None
            self._run(BEGIN)  # this runner's guard connection holds the lock
        else:
            self._begin_locked()
        try:
            if not self._writes_prepared:
                self._check_session_state()
                self._writes_prepared = True
            if self._pinned:
                self._set_back_session_settings()
            yield
        except BaseException as error:
            self._end_of_transaction()  # a history row held back is never sent
            if not self.connection.closed:
                try:
                    self._run("ROLLBACK")
                except psycopg.OperationalError:
                    pass  # the connection is gone: the server rolls back by itself; keep the original error
            refused = error.__cause__ if isinstance(error, MigrationFailedError) else error  # a migration's own statement, too
            if isinstance(refused, psycopg.errors.ReadOnlySqlTransaction):
                raise DatabaseAccessError(
                    database=self.location(),
                    problem="it is read-only (a hot standby, or default_transaction_read_only): nothing was changed",
                ) from error
            if isinstance(error, psycopg.errors.InsufficientPrivilege):
                raise DatabaseAccessError(
                    database=self.location(),
                    problem=f"user {self.connection.info.user!r} lacks a privilege the migrations need ({str(error).strip()}): "
                    f"nothing was changed. Grant it (for example CREATE on the schema), or migrate as the schema's owner.",
                ) from error
            raise
        self._commit()

    def _commit(self) -> None:
        """``COMMIT``, with the history row held back if any (one message; see :mod:`.batched`)."""
        import psycopg

        self._prefetched = None
        sql, statements, row = self._commit_sql()
        if row is None:
            self._run(sql)
            self._committed_as(None)
            return
        try:
            results = self._send(sql, statements)
        except Exception as error:
            if not self.connection.closed and self.connection.info.transaction_status != self._idle:
                try:
                    self._run("ROLLBACK")  # the INSERT failed: COMMIT was skipped
                except psycopg.OperationalError:
                    pass  # the connection is gone: the server rolls back by itself; keep the original error
            if isinstance(error, psycopg.errors.DivisionByZero):  # the row check of _commit_sql: no row written
                self._history_row_ignored(row.version)
            if self._refused_by_table(error):
                self._write_history_refused(row.version, error)
            raise
        self._committed_as(results[0][0][0])

    def _begin_locked(self) -> None:
        """Open a transaction holding the migration lock (see :func:`~.lock.begin_locked`)."""
        import psycopg

        try:
            begin_locked(self._query, self.lock_timeout, self.location(), self._try_lock_now)
        except psycopg.Error:
            if not self.connection.closed and self.connection.info.transaction_status != self._idle:
                try:
                    self._run("ROLLBACK")
                except psycopg.OperationalError:
                    pass  # the connection is gone: keep the original error
            raise

    @contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """The migration lock held by a second connection, idle in its transaction, while this one runs in autocommit."""

        def count() -> None:
            self.statements += 1

        try:
            with guarded(self.connection, self.lock_timeout, self.location(), count, self._query):
                self._guarded = True
                try:
                    yield
                finally:
                    self._guarded = False
        except BaseException as error:
            starved = self._pool_starved(error)
            if starved is None:
                raise
            raise starved from error

    def location(self) -> str:
        try:
            info = self.connection.info
            return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
        except Exception:  # a broken connection may not answer
            return "the PostgreSQL database"

    # -- schema: the schema layer's describer and replay, on this connection -----------------------

    def _schema_access(self) -> PostgreSQLAccess:
        from ...schema.scratch_postgresql import PostgreSQLAccess

        # Inside a caller's unit of work (repair, adoption) a savepoint keeps its transaction and lock.
        return PostgreSQLAccess(self._query, self._run, self.split_statements, self.transaction_open())

    def schema_objects(self) -> frozenset[str]:
        from ...schema.describe_postgresql import postgresql_objects

        return postgresql_objects(self._query)

    def schema_drift(self, applied: Sequence[PlannedMigration]) -> DriftReport:
        from ...schema.scratch_postgresql import postgresql_drift

        return postgresql_drift(self._schema_access(), applied)

    def schema_footprints(self, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
        from ...schema.scratch_postgresql import postgresql_footprints

        return postgresql_footprints(self._schema_access(), pending)

    def transaction_open(self) -> bool:
        return bool(self.connection.info.transaction_status != self._idle)
