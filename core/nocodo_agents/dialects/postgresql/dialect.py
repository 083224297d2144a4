"""The PostgreSQL dialect: transactions, the lock taken in each, history I/O; its schema is read by the schema layer (:mod:`nocodo_agents.schema`).

See the package's docstring for what the run guarantees; the lock is
:mod:`.lock`, the caller's settings :mod:`.session_settings`, psycopg's
errors :mod:`.errors`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from ...errors import (
    ConnectionStateError,
    DatabaseAccessError,
    ForeignKeyViolationError,
    HistoryTableError,
    MigrationFailedError,
    migration_facts,
)
from ...history import HISTORY_TABLE
from ...schema.constraint_checks import queues_no_checks
from ...schema.split import split_statements
from ...urls import redact
from ..base import Dialect
from ..history_table import as_text
from .batched import BatchedWrites
from .errors import DriverErrors
from .lock import BEGIN, begin_locked, guarded
from .session_settings import SessionSettings

if TYPE_CHECKING:  # pragma: no cover
    from ...adoption import Footprint
    from ...drift import DriftReport
    from ...planning import PlannedMigration
    from ...schema.scratch_postgresql import PostgreSQLAccess

logger = logging.getLogger("nocodo_agents")

#: The invalid indexes (a failed or interrupted concurrent build) of every schema but the server's own,
#: schema-qualified: a migration may name any schema. Not partitioned indexes: never built concurrently, they
#: are invalid by design until an index of every partition is attached (``CREATE INDEX ... ON ONLY``, then each
#: partition's, then ``ATTACH PARTITION``). ``{building}``: optionally, not those a session builds right now.
_INVALID_INDEXES = (
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index x "
    "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT x.indisvalid AND c.relkind = 'i' AND n.nspname <> 'information_schema' "
    "AND left(n.nspname, 3) <> 'pg_'{building} ORDER BY n.nspname, c.relname"
)
#: PostgreSQL 12 and later: an index some session builds right now.
_NOT_BUILDING = " AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = x.indexrelid)"


class PostgreSQLDialect(BatchedWrites, SessionSettings, DriverErrors, Dialect):
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
        self._schema: Optional[str] = None
        self._writes_prepared = False
        #: Session settings that change what migrations do, found changed: name -> (the caller's, the default).
        self._pinned: Dict[str, Tuple[str, str]] = {}
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
        caller_encoding: Optional[str] = None
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

    def widen_history_sql(self) -> List[str]:
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
        super().widen_history()

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

    def _cursor(self) -> Any:
        """A plain cursor returning tuples, whatever ``row_factory``/``cursor_factory`` the caller set."""
        import psycopg
        from psycopg.rows import tuple_row

        return psycopg.Cursor(self.connection, row_factory=tuple_row)

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        if self._held_row is not None:
            self._flush_history()  # the history row held back goes first (see .batched)
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)
            rows = cursor.fetchall() if cursor.description else []
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        if self._held_row is not None:
            self._flush_history()
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)

    def split_statements(self, sql: str) -> List[str]:
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

    def invalid_indexes(self, building: bool = True) -> List[str]:
        """The indexes with ``pg_index.indisvalid = false``, in any schema but the server's, schema-qualified."""
        excluded = _NOT_BUILDING if not building and self.connection.info.server_version >= 120000 else ""
        return [row[0] for row in self._query(_INVALID_INDEXES.format(building=excluded))]

    #: Fires every deferred constraint check of the transaction now (and the rest of it checks immediately).
    _CHECK_DEFERRED = "SET CONSTRAINTS ALL IMMEDIATE"

    #: Whether a statement sent since the last :meth:`check_integrity` may have queued a deferred
    #: constraint check (see :func:`~nocodo_agents.schema.constraint_checks.queues_no_checks`).
    _checks_may_be_queued = True

    def execute(self, statement: str) -> None:
        """Run one statement of a migration, noting whether it may have queued deferred constraint checks."""
        if not self._checks_may_be_queued and not queues_no_checks(statement):
            self._checks_may_be_queued = True
        super().execute(statement)  # SessionSettings: the caller's settings set back outside a transaction

    def check_integrity(self, planned: "PlannedMigration", phase: str, rolled_back: bool) -> None:
        """Run the deferred constraint checks the statements left pending, while the migration is still known.

        A ``DEFERRABLE INITIALLY DEFERRED`` foreign key (or unique constraint,
        or constraint trigger) is checked at COMMIT, where a violation would
        surface without naming the migration that caused it. Checked here
        instead, a violation raises :class:`ForeignKeyViolationError` (a
        foreign key) or :class:`MigrationFailedError` (another constraint)
        naming the migration; the runner's transaction is then rolled back.
        Outside the runner's transaction (``rolled_back`` false) each
        statement already committed, and with it its checks.
        """
        import psycopg

        queued, self._checks_may_be_queued = self._checks_may_be_queued, False
        if not rolled_back or not queued:
            return  # no statement since the last check could change a row (CREATE TABLE, CREATE INDEX...): none pending
        try:
            self._run(self._CHECK_DEFERRED)
        except psycopg.Error as error:
            if self._environmental(error):
                raise
            detail = redact(str(error).strip())
            if isinstance(error, psycopg.errors.ForeignKeyViolation):
                raise ForeignKeyViolationError(
                    **migration_facts(planned),
                    violations=[],
                    total=0,
                    rolled_back=rolled_back,
                    phase=phase,
                    detail=f"leaves a deferred foreign key violated ({detail})"
                ) from error
            raise MigrationFailedError(
                **migration_facts(planned),
                statement=f"{self._CHECK_DEFERRED} (the runner's check of the constraints the {phase} deferred)",
                statement_index=len(self.split_statements(planned.sql(self.name) if phase == "migration" else planned.rollback_sql(self.name) or "")),
                cause=error, rolled_back=True, phase=phase,
            ) from error

    def location(self) -> str:
        try:
            info = self.connection.info
            return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
        except Exception:  # a broken connection may not answer
            return "the PostgreSQL database"

    # -- schema: the schema layer's describer and replay, on this connection -----------------------

    def _schema_access(self) -> "PostgreSQLAccess":
        from ...schema.scratch_postgresql import PostgreSQLAccess

        # Inside a caller's unit of work (repair, adoption) a savepoint keeps its transaction and lock.
        return PostgreSQLAccess(self._query, self._run, self.split_statements, self.transaction_open())

    def schema_objects(self) -> FrozenSet[str]:
        from ...schema.describe_postgresql import postgresql_objects

        return postgresql_objects(self._query)

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        from ...schema.scratch_postgresql import postgresql_drift

        return postgresql_drift(self._schema_access(), applied)

    def schema_footprints(self, pending: Sequence["PlannedMigration"]) -> Dict[int, "Footprint"]:
        from ...schema.scratch_postgresql import postgresql_footprints

        return postgresql_footprints(self._schema_access(), pending)

    def transaction_open(self) -> bool:
        return bool(self.connection.info.transaction_status != self._idle)
