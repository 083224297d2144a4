"""The MySQL dialect: statements, transactions reopened after implicit commits, the session;
its schema is read by the schema layer (:mod:`nocodo_agents.schema`).

See the package's docstring for what MySQL guarantees and what the run does
instead; the lock is :mod:`.lock`, the caller's settings :mod:`.connection`,
the journal :mod:`.journal`, the bookkeeping tables :mod:`.bookkeeping`,
PyMySQL's errors :mod:`.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pymysql
from pymysql.constants import SERVER_STATUS
from pymysql.cursors import Cursor

from ...errors import ConnectionStateError, DatabaseAccessError, MigrationError
from ...schema.lexer import SqlSyntax, mysql_version_id
from ...schema.split import split_statements
from ..base import Dialect
from ..history_table import as_text
from .bookkeeping import BookkeepingTables
from .connection import CallerSettings
from .errors import DENIED, READ_ONLY, DriverErrors, access_problem, error_code, error_message
from .journal import MySQLJournal
from .lock import MigrationLock, migration_lock_name

if TYPE_CHECKING:  # pragma: no cover
    from pymysql.connections import Connection

    from ...adoption import Footprint
    from ...drift import DriftReport
    from ...planning import PlannedMigration
    from ...schema.scratch_mysql import MySQLAccess

logger = logging.getLogger("nocodo_agents")

Row = tuple[Any, ...]


class MySQLDialect(BookkeepingTables, CallerSettings, MigrationLock, DriverErrors, Dialect):
    """A PyMySQL ``Connection`` to MySQL 8 or MariaDB 10.x (any cursor class: tuples are used here)."""

    name = "mysql"
    transactional_ddl = False
    session_variables = True
    text_only_syntax = False  # executable comments are read by the server's version
    connection: Connection[Any]
    #: Each statement of a migration is journalled as it runs (MySQL's DDL commits implicitly).
    journal: MySQLJournal

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._database = ""
        self._lock_name = ""
        #: Inside :meth:`write_transaction`: its statements run with autocommit off (see :meth:`_write_mode`).
        self._in_write = False
        #: Whether the runner switched autocommit off for its writes and has not switched it back yet.
        self._autocommit_off = False
        self.journal = MySQLJournal(self)
        self._foreign_keys_checked = False
        self._caller_settings: dict[str, Any] = {}
        #: How this server reads migrations (its version decides which executable comments run), once known.
        self._syntax: SqlSyntax | None = None

    # -- statements ------------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Row]:
        """Send one statement (values only as ``%s`` parameters); its rows, if any."""
        self._read_mode()
        self.statements += 1
        with self.connection.cursor(Cursor) as cursor:
            cursor.execute(sql, params)
            rows = list(cursor.fetchall()) if cursor.description else []
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Send a statement; inside a unit of work, one that commits implicitly is followed by a new transaction
        the server opens at the next statement (autocommit is off there: see :meth:`_write_mode`)."""
        self._query(sql, params)

    def _write_mode(self) -> None:
        """Autocommit off, for a unit of work: the server opens a transaction at its first statement and again at the
        first one after anything commits it (a DDL statement, a journal write), so no ``START TRANSACTION`` is sent.

        One statement, only when the session has autocommit on: a run's consecutive units of work share it.
        """
        if not self._autocommit_off:
            self._set_autocommit(False)
            self._autocommit_off = True

    def _read_mode(self) -> None:
        """Autocommit on again before a statement outside a unit of work (a read gets the latest rows, a migration
        outside a transaction commits each statement), once the unit's transaction has ended."""
        if self._autocommit_off and not self._in_write and not self._in_transaction():
            self._autocommit_off = False
            self._set_autocommit(True)

    def _in_transaction(self) -> bool:
        status: int | None = getattr(self.connection, "server_status", None)  # set by every reply
        return bool((status or 0) & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    def split_statements(self, sql: str) -> list[str]:
        """Split as this server reads migrations: in :func:`migration_sql_mode`, executable comments by its version."""
        if self._syntax is None:
            version, mariadb = mysql_version_id(as_text(getattr(self.connection, "server_version", "") or ""))
            self._syntax = replace(SqlSyntax.default("mysql"), server_version=version, mariadb=mariadb)
        return split_statements(sql, "mysql", self._syntax)

    # -- the connection, the lock and transactions -----------------------------------------------

    def ensure_idle(self) -> None:
        if not self.connection.open:
            raise ConnectionStateError(problem="the PyMySQL connection is closed: pass an open connection")
        if self._in_transaction():
            raise ConnectionStateError(
                problem="the PyMySQL connection is inside a transaction: commit or roll back your own work "
                "before running migrations (the runner never commits or rolls back work that is not "
                "its own)"
            )

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """Autocommit mode for the run, and the migration lock once it is first needed; both undone afterwards.

        The lock is taken by the first :meth:`write_transaction`, before it
        creates or reads the history table, and held to the end of the run;
        commands that only read (status, verify, dry runs, the no-op path)
        never wait for it. A transaction of the caller's is refused before
        autocommit (whose switching on would commit it) is touched: see
        :meth:`_prepare_reads`.
        """
        self.lock_timeout = lock_timeout
        self._foreign_keys_checked = False
        saved_autocommit = self.connection.get_autocommit()
        switched = False
        try:
            self._database = self._prepare_reads()
            if not saved_autocommit:
                self._set_autocommit(True)
                switched = True
            self._lock_name = migration_lock_name(self._database)
            yield
        except BaseException as error:
            # autocommit is put back only if the run switched it; quietly: keep the original error
            self._restore_caller_state(saved_autocommit or not switched, quietly=True)
            self._raise_named(error)
        self._restore_caller_state(saved_autocommit, quietly=False)

    def _is_mariadb(self) -> bool:
        """From the version the server announced when connecting (no statement)."""
        version: str = self.connection.get_server_info()  # type: ignore[no-untyped-call]  # types-PyMySQL leaves it unannotated
        return "mariadb" in version.lower()

    @contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """The session-level ``GET_LOCK``, held from the run's first write to its end, covers this migration too."""
        self._take_migration_lock()  # no statement: already held since the write transaction that planned it
        yield

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """Autocommit off (the server opens the transaction, and again whenever a statement inside commits it) ... ``COMMIT``.

        Takes the migration lock first (once per run), and refuses a history
        table found not transactional (:class:`BookkeepingTableError`) before
        anything is written. A refused write (read-only server, missing
        privilege) outside a migration's own statements becomes
        :class:`DatabaseAccessError`.
        """
        self._take_migration_lock()
        self._refuse_non_transactional_history()
        self._enforce_foreign_keys()
        self._write_mode()
        self._in_write = True
        try:
            yield
        except BaseException as error:
            self._rollback_quietly()
            self._in_write = False
            problem = None if isinstance(error, MigrationError) else access_problem(error)
            if problem is not None:
                raise DatabaseAccessError(
                    database=self.location(), problem=problem + self.journal.hint(), unfinished=sorted(self.journal.journalled),
                ) from error
            raise
        self._query("COMMIT")
        self._in_write = False

    def _rollback_quietly(self) -> None:
        if not self.connection.open:
            return
        try:
            self._query("ROLLBACK")
        except pymysql.err.MySQLError:
            pass  # the connection is gone: the server rolls back by itself; keep the original error

    def location(self) -> str:
        """``mysql://user@host:port/database`` (no password)."""
        user = self.connection.user
        user_text = as_text(user) if user is not None else ""
        database = self._database or as_text(self.connection.db or "")
        return f"mysql://{user_text}@{self.connection.host}:{self.connection.port}/{database}"

    # -- schema: the schema layer's describer and replay, on this connection -----------------------

    def _schema_access(self, refused: frozenset[int] = DENIED | READ_ONLY) -> MySQLAccess:
        """This connection for the schema layer; a scratch database refused with a code of ``refused`` is named so."""
        from ...schema.scratch_mysql import MySQLAccess

        return MySQLAccess(
            self._query, self._run, self.split_statements, self._use, self._database or self._current_database(),
            self._is_mariadb(), self.location(), (pymysql.err.MySQLError,),
            lambda error: error_message(error) if error_code(error) in refused else None,
        )

    def schema_objects(self) -> frozenset[str]:
        from ...schema.describe_mysql import mysql_objects

        return mysql_objects(self._query, self._database or self._current_database(), self._is_mariadb())

    def schema_drift(self, applied: Sequence[PlannedMigration]) -> DriftReport:
        """Compare the live schema with the applied migrations replayed in a scratch database."""
        from ...schema.scratch_mysql import mysql_drift

        # Replayed as migrations run (same sql_mode, so the same split; foreign keys on), and both schemas
        # described in that mode (ANSI_QUOTES changes how CHECK clauses are shown).
        self._enforce_foreign_keys()
        return mysql_drift(self._schema_access(), applied)

    def schema_footprints(self, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
        from ...schema.scratch_mysql import mysql_footprints

        self._enforce_foreign_keys()  # replayed as migrations run
        # A read-only server or session refuses the migrations too: named as such (access_problem), not as the scratch's.
        return mysql_footprints(self._schema_access(refused=DENIED), pending)

    def _use(self, database: str) -> None:
        """Make ``database`` the current one (``COM_INIT_DB``: no SQL text to build)."""
        self.statements += 1
        self.connection.select_db(database)
