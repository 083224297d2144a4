"""PostgreSQL through psycopg 3.

DDL is transactional, so each migration and its history row commit
together: a failure leaves nothing behind. For the run the connection is in
autocommit mode and every unit of work is an explicit ``BEGIN`` ... ``COMMIT``
whose first act is taking the advisory lock: the lock is taken before the
history table is created or read, is released by the commit itself, and
lives inside one transaction, so it works behind PgBouncer in transaction
pooling mode (a session-level lock would not). How it is waited for (without
holding a snapshot a ``CREATE INDEX CONCURRENTLY`` would wait for) and how it
is held across a ``transactional = False`` migration (by a second, idle
connection) is :mod:`nocodo_agents.dialects.postgresql_lock`; after such a
migration, an index left invalid stops it from being recorded. Statements are
sent with ``prepare=False`` so no server-side prepared statement outlives its
transaction (PgBouncer again). A session whose
``session_replication_role`` is not ``origin`` (which switches off foreign-key
enforcement and ON DELETE actions) or whose ``standard_conforming_strings`` is
off gets them set back to the defaults with ``SET LOCAL`` in each write
transaction.

Schema drift is computed by replaying the applied migrations in a scratch
schema inside a transaction that is rolled back.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from ..errors import (
    ConnectionStateError,
    DatabaseAccessError,
    ForeignKeyViolationError,
    MigrationFailedError,
    SchemaReplayError,
    SessionTimeoutError,
)
from ..history import HISTORY_TABLE
from ..sql_split import split_statements
from ..excerpt import quote_message
from ..urls import redact
from .base import Dialect, as_text, cancelled_error, interrupted, lock_conflict_error, timeout_error
from .postgresql_lock import BEGIN, begin_locked, guarded

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration

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
#: Tables of ours that are not part of any agent's schema.
_BOOKKEEPING = (HISTORY_TABLE,)
#: SQLSTATE classes of a server short of something, not of a statement's fault: 53 insufficient resources
#: (disk full, out of memory, temp_file_limit), 58 system error (I/O).
_RESOURCE_CLASSES = ("53", "58")
#: SQLSTATE of a write refused by a read-only transaction (a hot standby, default_transaction_read_only).
_READ_ONLY_TRANSACTION = "25006"
#: SQLSTATEs of a statement stopped over another session's locks: deadlock_detected, serialization_failure.
_LOCK_CONFLICT_STATES = ("40P01", "40001")


class PostgreSQLDialect(Dialect):
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
                f"the psycopg connection is not idle ({status.name}): commit or roll back your own work "
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
            named = self._named_error(error)
            if named is error:
                raise
            raise named from error
        self._restore_caller_state(saved, caller_encoding, quietly=False)

    def _restore_caller_state(self, autocommit: bool, encoding: Optional[str], quietly: bool) -> None:
        """Put back what the run changed on the caller's session: pinned settings, client_encoding, autocommit."""
        if self._session_pinned:
            self._session_pinned = False
            restore = "; ".join(f"SET {name} = {caller}" for name, (caller, _) in self._pinned.items())
            self._restore(", ".join(self._pinned), lambda: self._run(restore), quietly)
        if encoding is not None:
            self._restore(
                f"client_encoding = {encoding}",
                lambda: self._run("SELECT set_config('client_encoding', %s, false)", (encoding,)),
                quietly,
            )
        self._restore(f"autocommit={autocommit}", lambda: setattr(self.connection, "autocommit", autocommit), quietly)

    def _restore(self, what: str, action: Callable[[], Any], quietly: bool) -> None:
        """Run ``action``, which puts the caller's ``what`` back; ``quietly`` (an error is on its way out): only log a failure."""
        import psycopg

        if self.connection.closed:
            return
        try:
            action()
        except psycopg.Error as error:
            if not quietly:
                raise self._named_error(error) from error
            logger.warning("could not restore %s on %s: %s", what, self.location(), error)

    def execute(self, statement: str) -> None:
        """Run one statement of a migration; outside a transaction, under the settings each write sets back too.

        A ``transactional = False`` migration runs outside the write
        transactions whose ``SET LOCAL`` sets the caller's
        ``session_replication_role`` and ``standard_conforming_strings`` back
        to their defaults (see :meth:`_check_session_state`), so a caller's
        ``replica`` would switch off its foreign keys, and ``off`` change what
        its string literals mean: those settings are set for the session
        before its first statement (one statement, only when the caller
        changed them) and put back when the run ends. PgBouncer tracks
        ``standard_conforming_strings`` per client; ``session_replication_role``
        is set and put back on the same server connection only because no
        transaction boundary lies between (each statement in autocommit is its
        own transaction: behind PgBouncer in transaction mode, use a
        connection with the defaults).
        """
        if not self._session_pinned and self._pinned and not self.transaction_open():
            self._set_session_settings({name: wanted for name, (_, wanted) in self._pinned.items()})
            self._session_pinned = True
        self._run(statement)

    def _set_session_settings(self, values: Dict[str, str]) -> None:
        """``SET`` (for the session) each setting in ``values``, in one statement; refused if the user may not."""
        import psycopg

        try:
            self._run("; ".join(f"SET {name} = {value}" for name, value in values.items()))
        except psycopg.errors.InsufficientPrivilege as error:
            outcome = "nothing of this migration ran (the migrations before it in this run stay applied)"
            raise self._cannot_set_back(error, outcome) from error

    def _lost(self, error: "BaseException | None") -> bool:
        """Whether ``error`` means the connection to the server failed (rather than a statement)."""
        import psycopg

        if not isinstance(error, psycopg.OperationalError):
            return False
        state = getattr(error, "sqlstate", None)
        return self.connection.closed or state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")

    def _environmental(self, error: "BaseException | None") -> bool:
        """Whether ``error`` is a fault of the server, its resources or the connection, not of the SQL that ran."""
        import psycopg

        if not isinstance(error, psycopg.Error):
            return False
        state = getattr(error, "sqlstate", None) or ""
        return self._lost(error) or state[:2] in _RESOURCE_CLASSES or state == _READ_ONLY_TRANSACTION

    def _named_error(self, error: BaseException) -> BaseException:
        """A psycopg error leaving the session as the named error a caller can act on.

        A migration whose statement failed because of the server rather than
        its SQL (the connection lost, the disk or a resource limit exhausted,
        a read-only database) is reported as the server's problem, naming the
        migration and what it left.
        """
        import psycopg

        driver_error = error.__cause__ if isinstance(error, (MigrationFailedError, SchemaReplayError)) else error
        setting = self._timeout_setting(driver_error)
        if setting is not None:
            return self._timeout_error(setting, error)
        if isinstance(driver_error, psycopg.errors.QueryCanceled) and "user request" in str(driver_error):
            return cancelled_error(self.location(), error, quote_message(str(driver_error).strip()))
        if getattr(driver_error, "sqlstate", None) in _LOCK_CONFLICT_STATES:
            return lock_conflict_error(
                self.location(), error, quote_message(redact(str(driver_error).strip())),
                "pg_stat_activity and pg_locks; an index build of a runner that was killed keeps running until it ends",
            )
        failed: Optional[MigrationFailedError] = None
        if isinstance(error, MigrationFailedError) and self._environmental(error.__cause__):
            failed, error = error, error.__cause__  # type: ignore[assignment]
        if not isinstance(error, psycopg.Error):
            return error
        message = quote_message(redact(str(error).strip()))
        if self._lost(error):
            if failed is not None:
                left = interrupted(failed) + ("" if failed.journalled else " Run again once the server is reachable.")
            else:
                left = (
                    "The server rolls back whatever was not committed, and each migration commits together with its "
                    "history row, so the history says exactly what was applied: run `status`, then run again once the "
                    "server is reachable."
                )
            return DatabaseAccessError(self.location(), f"the connection to the server failed ({message}). {left}")
        if failed is not None:
            return DatabaseAccessError(
                self.location(),
                f"PostgreSQL could not run a migration's statement for a reason outside its SQL ({message}). "
                f"{interrupted(failed)} Fix the cause (free disk space, raise the limit named, or migrate on a "
                f"server that may write), then run again.",
            )
        return DatabaseAccessError(
            self.location(),
            f"PostgreSQL reported: {message}. Each migration commits together with its history row, so the "
            f"history says exactly what was applied: fix the cause, then run again.",
        )

    @staticmethod
    def _timeout_setting(error: "BaseException | None") -> Optional[str]:
        """The session timeout that cancelled a statement with ``error``, if one did."""
        import psycopg

        text = str(error)
        if isinstance(error, psycopg.errors.QueryCanceled) and "statement timeout" in text:
            return "statement_timeout"
        if isinstance(error, psycopg.errors.LockNotAvailable) and "lock timeout" in text:
            return "lock_timeout"
        return None

    def _timeout_error(self, setting: str, error: BaseException) -> SessionTimeoutError:
        """:class:`SessionTimeoutError` for ``error``, a statement cancelled by the session's ``setting``."""
        import psycopg

        try:  # the runner's transaction is over: this is the session's value again
            value = str(self._query("SELECT current_setting(%s)", (setting,))[0][0])
        except psycopg.Error:
            value = "(unknown: the server did not answer)"
        return timeout_error(self.location(), setting, value, error)

    # -- statements ------------------------------------------------------------------------------

    # The schema travels with the columns, so the no-op path learns where history lives for free.
    history_columns_sql = (
        "SELECT c.column_name, c.is_nullable = 'NO', c.column_default IS NOT NULL OR c.is_identity = 'YES' "
        "OR c.is_generated <> 'NEVER', t.table_type = 'BASE TABLE', quote_ident(c.table_schema) "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND c.table_name = %s"
    )

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

    def _current_schema(self) -> str:
        """``current_schema()`` quoted as the server quotes it; :class:`ConnectionStateError` if there is none."""
        schema, search_path = self._query("SELECT quote_ident(current_schema()), current_setting('search_path')")[0]
        if schema is None:
            raise self._no_schema_error(search_path)
        return str(schema)

    def _no_schema_error(self, search_path: str) -> ConnectionStateError:
        """The session's ``search_path`` names no schema that exists (``current_schema()`` is NULL)."""
        return ConnectionStateError(
            f"the PostgreSQL session's search_path ({search_path!r}) names no schema that exists on "
            f"{self.location()}: the runner would not know where its history table lives, and a migration's "
            f"unqualified names would have nowhere to go. Nothing was changed. Set search_path to an existing "
            f"schema (SET search_path = public, or ALTER ROLE/DATABASE ... SET search_path for the command "
            f"line), or create the schema it names."
        )

    def _cursor(self) -> Any:
        """A plain cursor returning tuples, whatever ``row_factory``/``cursor_factory`` the caller set."""
        import psycopg
        from psycopg.rows import tuple_row

        return psycopg.Cursor(self.connection, row_factory=tuple_row)

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)
            rows = cursor.fetchall() if cursor.description else []
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        self.statements += 1
        with self._cursor() as cursor:
            cursor.execute(sql, params or None, prepare=False)

    def _refused_by_table(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, (psycopg.errors.IntegrityError, psycopg.errors.DataError)) or (
            isinstance(error, psycopg.errors.ProgrammingError) and not isinstance(error, psycopg.errors.InsufficientPrivilege)
        ) or isinstance(error, psycopg.errors.RaiseException)

    def split_statements(self, sql: str) -> List[str]:
        return split_statements(sql, "postgresql")

    # -- transactions and the lock ---------------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        import psycopg

        if self.connection.read_only:
            raise DatabaseAccessError(
                self.location(),
                "the psycopg connection is read-only (connection.read_only = True): nothing was changed. "
                "Run the migrations on a connection that may write.",
            )
        # READ COMMITTED whatever the caller or the server default: history is read after the lock is
        # taken, and a snapshot from before the wait would miss what the previous holder committed.
        if self._guarded:
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
            if not self.connection.closed:
                try:
                    self._run("ROLLBACK")
                except psycopg.OperationalError:
                    pass  # the connection is gone: the server rolls back by itself; keep the original error
            refused = error.__cause__ if isinstance(error, MigrationFailedError) else error  # a migration's own statement, too
            if isinstance(refused, psycopg.errors.ReadOnlySqlTransaction):
                raise DatabaseAccessError(self.location(), "it is read-only (a hot standby, or default_transaction_read_only): nothing was changed") from error
            if isinstance(error, psycopg.errors.InsufficientPrivilege):
                raise DatabaseAccessError(
                    self.location(),
                    f"user {self.connection.info.user!r} lacks a privilege the migrations need ({str(error).strip()}): "
                    f"nothing was changed. Grant it (for example CREATE on the schema), or migrate as the schema's owner.",
                ) from error
            raise
        self._run("COMMIT")

    def _begin_locked(self) -> None:
        """Open a transaction holding the migration lock (see :func:`~.postgresql_lock.begin_locked`)."""
        import psycopg

        try:
            begin_locked(self._query, self.lock_timeout, self.location())
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

    def _pool_starved(self, error: BaseException) -> Optional[DatabaseAccessError]:
        """PgBouncer found no server connection for this one while the guard held one: the error saying so, else ``None``.

        Behind a pooler in transaction mode the guard's idle transaction keeps
        a server connection for itself, so a pool of one server connection
        per database and user leaves none for the migration: the statement
        waits in PgBouncer's queue until ``query_wait_timeout`` ends it (or
        forever, with 0). Running again would do the same.
        """
        import psycopg

        failed = error if isinstance(error, MigrationFailedError) else None
        cause = error.__cause__ if failed is not None else error
        if not isinstance(cause, psycopg.Error) or "query_wait_timeout" not in str(cause):
            return None
        if failed is not None:
            left = interrupted(failed)
        else:
            left = (
                "The history says what was applied (`status`): a migration outside a transaction is recorded only "
                "once all its statements ran (with a pool of one, none of them could run)."
            )
        return DatabaseAccessError(
            self.location(),
            f"PgBouncer found no free server connection for it within query_wait_timeout while this runner's second "
            f"connection held the migration lock in another: a `transactional = False` migration needs two server "
            f"connections at once (one holding the lock, one running the migration), and the pool gives this database "
            f"and user fewer. {left} Let the pool give at least two (default_pool_size or the database's pool_size, "
            f"max_db_connections, max_user_connections), or run the migrations on a direct connection, then run again.",
        )

    def invalid_indexes(self, building: bool = True) -> List[str]:
        """The indexes with ``pg_index.indisvalid = false``, in any schema but the server's, schema-qualified."""
        excluded = _NOT_BUILDING if not building and self.connection.info.server_version >= 120000 else ""
        return [row[0] for row in self._query(_INVALID_INDEXES.format(building=excluded))]

    def _check_session_state(self) -> None:
        """Before the first write: refuse TEMP relations and a search_path naming no schema, note settings to set back.

        Unqualified names in migrations resolve to this session's TEMP
        relations first. A replication role of ``replica`` (or ``local``)
        disables the triggers that enforce foreign keys and run their ON
        DELETE actions, so a migration could leave child rows without their
        parent; ``standard_conforming_strings = off`` makes ``'C:\\temp'`` in a
        migration mean something else. Each write transaction sets them back
        to the defaults (SET LOCAL, so the caller's settings return at COMMIT).
        """
        role, strings, temporary, schema, search_path = self._query(
            "SELECT current_setting('session_replication_role'), current_setting('standard_conforming_strings'), "
            "ARRAY(SELECT relname::text FROM pg_class WHERE relnamespace = pg_my_temp_schema() ORDER BY relname), "
            "current_schema(), current_setting('search_path')"
        )[0]
        if schema is None:
            raise self._no_schema_error(search_path)
        self._pinned = {
            name: (value, wanted)
            for name, value, wanted in (
                ("session_replication_role", role, "origin"),
                ("standard_conforming_strings", strings, "on"),
            )
            if value != wanted
        }
        if temporary:
            raise ConnectionStateError(
                f"the PostgreSQL session has temporary relations ({', '.join(temporary[:10])}): unqualified "
                f"names in migrations would resolve to them first. Nothing was changed. Run the migrations on "
                f"a connection of their own (behind PgBouncer in transaction mode, temporary tables of other "
                f"clients can be left on a server connection: drop them, or discard them with DISCARD TEMP)."
            )

    def _set_back_session_settings(self) -> None:
        """``SET LOCAL`` the settings :meth:`_check_session_state` found changed (one statement)."""
        import psycopg

        try:
            self._run("; ".join(f"SET LOCAL {name} = {wanted}" for name, (_, wanted) in self._pinned.items()))
        except psycopg.errors.InsufficientPrivilege as error:
            raise self._cannot_set_back(error) from error

    def _cannot_set_back(self, error: BaseException, outcome: str = "nothing was changed") -> ConnectionStateError:
        """The user may not set the :attr:`_pinned` settings back to their defaults; ``outcome`` says what ran."""
        found = ", ".join(f"{name} = {value}" for name, (value, _) in self._pinned.items())
        defaults = ", ".join(wanted for _, wanted in self._pinned.values())
        return ConnectionStateError(
            f"the PostgreSQL session has {found}, which changes what migrations do (session_replication_role "
            f"switches off foreign-key enforcement and ON DELETE actions), and user "
            f"{self.connection.info.user!r} may not set it back to {defaults} ({str(error).strip()}): {outcome}. "
            f"Run the migrations on a connection with the defaults."
        )

    #: Fires every deferred constraint check of the transaction now (and the rest of it checks immediately).
    _CHECK_DEFERRED = "SET CONSTRAINTS ALL IMMEDIATE"

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

        if not rolled_back:
            return
        try:
            self._run(self._CHECK_DEFERRED)
        except psycopg.Error as error:
            if self._environmental(error):
                raise
            detail = redact(str(error).strip())
            if isinstance(error, psycopg.errors.ForeignKeyViolation):
                raise ForeignKeyViolationError(
                    planned, [], 0, rolled_back, phase, detail=f"leaves a deferred foreign key violated ({detail})"
                ) from error
            raise MigrationFailedError(
                planned.version, planned.name, planned.agent, planned.distribution, planned.source,
                f"{self._CHECK_DEFERRED} (the runner's check of the constraints the {phase} deferred)",
                len(self.split_statements(planned.sql(self.name) if phase == "migration" else planned.rollback_sql(self.name) or "")),
                error, rolled_back=True, phase=phase,
            ) from error

    def location(self) -> str:
        try:
            info = self.connection.info
            return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
        except Exception:  # a broken connection may not answer
            return "the PostgreSQL database"

    # -- schema ----------------------------------------------------------------------------------

    def schema_objects(self) -> FrozenSet[str]:
        objects = set()
        for name, kind in self._query(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema() AND table_name != %s",
            (HISTORY_TABLE,),
        ):
            objects.add(f"{'view' if kind == 'VIEW' else 'table'} {name}")
        for table, column in self._query(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name != %s",
            (HISTORY_TABLE,),
        ):
            objects.add(f"column {table}.{column}")
        for (index,) in self._query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"):
            objects.add(f"index {index}")
        for (trigger,) in self._query(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
        ):
            objects.add(f"trigger {trigger}")
        return frozenset(objects)

    def _describe(self, schema: str) -> Dict[str, str]:
        """Tables, columns, indexes and constraints of ``schema`` as flat ``{key: description}``."""
        described: Dict[str, str] = {}
        for table, column, kind, not_null, default, identity in self._query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            (schema,),
        ):
            if table in _BOOKKEEPING:
                continue
            described[f"table {table}"] = "table"
            parts = [kind.upper()]
            if not_null:
                parts.append("NOT NULL")
            if default is not None:
                parts.append(f"DEFAULT {default}")
            if identity:
                parts.append("GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY")
            described[f"column {table}.{column}"] = " ".join(parts)
        for table, index, definition in self._query(
            "SELECT t.relname, i.relname, replace(pg_get_indexdef(i.oid), quote_ident(n.nspname) || '.', '') FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s",
            (schema,),
        ):
            if table not in _BOOKKEEPING:
                described[f"index {table}.{index}"] = definition
        for table, constraint, definition in self._query(
            "SELECT t.relname, con.conname, replace(pg_get_constraintdef(con.oid), quote_ident(n.nspname) || '.', '') "
            "FROM pg_constraint con "
            "JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = %s",
            (schema,),
        ):
            if table not in _BOOKKEEPING:
                described[f"constraint {table}.{constraint}"] = definition
        return described

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        from ..drift import compare_schemas

        live_schema = self._query("SELECT current_schema()")[0][0]
        live = self._describe(live_schema)
        scratch = f"nocodo_scratch_{secrets.token_hex(6)}"
        # Inside a caller's unit of work (repair) a savepoint keeps its transaction and lock.
        nested = self.connection.info.transaction_status != self._idle
        self._run("SAVEPOINT nocodo_scratch" if nested else "BEGIN")
        try:
            self._run(f"CREATE SCHEMA {scratch}")
            # replayed as migrations run: standard strings (set back for each write), whatever the caller's session says
            self._run(f"SET LOCAL search_path TO {scratch}; SET LOCAL standard_conforming_strings = on")
            for planned in sorted(applied, key=lambda p: p.version):
                sql = planned.sql(self.name)
                if not planned.migration.transactional:  # replayed in a transaction: same schema effect
                    sql = re.sub(r"\bCONCURRENTLY\b", "", sql, flags=re.IGNORECASE)
                for index, statement in enumerate(self.split_statements(sql)):
                    try:
                        self._run(statement)
                    except Exception as error:
                        raise SchemaReplayError(planned, statement, index, error, scratch=f"a scratch schema ({scratch}, rolled back)") from error
            expected = self._describe(scratch)
        finally:
            if nested:
                self._run("ROLLBACK TO SAVEPOINT nocodo_scratch")
                self._run("RELEASE SAVEPOINT nocodo_scratch")
            else:
                self._run("ROLLBACK")
        return compare_schemas(expected, live, owner=_owner)

    def transaction_open(self) -> bool:
        return bool(self.connection.info.transaction_status != self._idle)


def _owner(key: str, description: str) -> Optional[str]:
    """``column t.c``, ``index t.i``, ``constraint t.n`` belong to ``table t``."""
    kind, _, rest = key.partition(" ")
    if kind == "table":
        return key
    table, dot, _ = rest.partition(".")
    return f"table {table}" if dot else None
