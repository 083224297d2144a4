"""MySQL 8 and MariaDB 10.x through PyMySQL.

What MySQL guarantees, and what it does not
-------------------------------------------
MySQL's DDL is not transactional: every ``CREATE``/``ALTER``/``DROP`` commits
the open transaction before and after itself. A migration of several
statements therefore cannot be undone when one of them fails, and the
statements before the failing one stay applied. (MySQL 8 at least makes each
DDL statement atomic on its own; MariaDB does for most.) What this module
does instead:

* **One runner at a time.** :meth:`MySQLDialect.session` takes a
  session-level ``GET_LOCK`` named after the database
  (:func:`migration_lock_name`) before the history table is created or read,
  and holds it for the whole run; ``RELEASE_LOCK`` gives it back. The server
  frees it by itself when the connection ends, so a runner that dies does
  not block the others (one that hangs holds it until the server's
  ``wait_timeout``).
* **Transactions where they work.** The connection runs in autocommit mode
  (its own setting is restored afterwards) and each unit of work is
  ``START TRANSACTION`` ... ``COMMIT``. Whenever something inside the unit
  commits it (a DDL statement, a journal write), a new transaction is
  started at once, so the bookkeeping that follows (the history row and the
  removal of the journal entry, the rows ``baseline`` writes) still commits
  as one.
* **Foreign keys enforced.** Before a session's first write,
  ``foreign_key_checks`` is switched on if the caller's connection had it
  off (and switched back at the end): with checks off, InnoDB would let a
  migration DROP a referenced table and would skip ``ON DELETE CASCADE``,
  leaving child rows without their parent.
* **A statement journal.** Before a migration's first statement a row goes
  into ``nocodo_agents_migration_journal`` (created on demand) and before
  each statement its index is recorded, each write committed immediately.
  A failing statement records its index and error; the row is deleted in
  the transaction that writes the migration's history row. Because DDL
  commits anyway, a migration's DML statements are committed one by one as
  well (each journal write commits what ran before it): no part of a MySQL
  migration is rolled back.

What a failure or a crash leaves behind
---------------------------------------
* A statement fails: the statements before it are applied, it is not
  (MySQL undoes a failed statement), the journal row names it and its error,
  and :class:`~nocodo_agents.MigrationFailedError` says so (``rolled_back``
  is false).
* The process dies or loses its connection after the journal row was
  committed and before the history row: the row is left with
  ``failed_statement`` NULL and ``next_statement = k``. Statements before
  ``k`` are applied; statement ``k`` may or may not be (a DDL statement the
  server received may have completed; uncommitted DML is rolled back with
  the connection). Any row present when a run holds the lock is such a
  leftover, because only the lock holder writes the journal.
* Before the journal row is committed nothing of the migration ran; after
  the history row is committed the journal row is gone with it (one
  transaction): both leave a consistent database.

Either kind of leftover stops every later run with
:class:`~nocodo_agents.IncompleteMigrationError` until an operator brings the
schema by hand to the migration fully applied or fully absent and runs
``nocodo-agents resolve V --applied`` or ``nocodo-agents resolve V --absent``
(:func:`~nocodo_agents.lifecycle.resolve_unfinished`).

Rollbacks (``rollback()`` SQL) are journalled the same way, the row's
``direction`` saying ``rollback`` (``NULL``, as rows written before the
column existed have, means ``migration``): a rollback that fails part-way
keeps its history row and its earlier statements applied, and stops every
later run until ``resolve V --applied`` (the migration stays applied: its
history row is kept) or ``resolve V --absent`` (the rollback is complete:
its history row is deleted, with the journal row, in one transaction). A
journal table made before ``direction`` existed gets the column (nullable,
so older runners keep working with it) when the lock holder first writes it.

The bookkeeping tables are created ``ENGINE=InnoDB DEFAULT CHARSET=utf8mb4``
whatever the server's defaults: the history row and the journal's removal
can only commit together in a transactional engine, and the journal must
store any error text. A history table found in another engine (MyISAM, Aria,
MEMORY...) is refused before anything is written
(:class:`~nocodo_agents.BookkeepingTableError`, naming the ``ALTER TABLE``);
a journal an earlier release made with the server's defaults is converted
under the lock. The journal is read in the same statement as the history
(:meth:`MySQLDialect._history_rows`), so every command that reads the history
sees an unfinished migration or rollback, even one whose version is recorded.

Schema drift is computed by replaying the applied migrations in a scratch
database (``nocodo_scratch_<random>``, with the live database's character
set and collation) on the same server and connection, then dropping it. The
replay runs in the scratch database only as far as the migrations use
unqualified names, as they should; one that names a database explicitly
would reach that database.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import pymysql
from pymysql.constants import ER, SERVER_STATUS
from pymysql.cursors import Cursor

from ..errors import (
    BookkeepingTableError,
    ConnectionStateError,
    DatabaseAccessError,
    LockTimeoutError,
    MigrationError,
    MigrationFailedError,
    SchemaReplayError,
    SessionTimeoutError,
)
from ..excerpt import quote_message
from ..history import HISTORY_TABLE, now_rfc3339
from ..session_state import SessionVariableGuard
from ..sql_lexer import SqlSyntax, mysql_version_id
from ..sql_split import split_statements
from ..urls import redact
from .base import Dialect, UnfinishedMigration, as_text, cancelled_error, interrupted, lock_conflict_error, timeout_error

if TYPE_CHECKING:  # pragma: no cover
    from pymysql.connections import Connection

    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")


#: Where a migration in progress is remembered (see the module docstring).
JOURNAL_TABLE = "nocodo_agents_migration_journal"
_CREATE_JOURNAL = (
    f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ("
    "version INT PRIMARY KEY, name VARCHAR(255), agent VARCHAR(255), statements INT, "
    "next_statement INT, failed_statement INT NULL, error TEXT NULL, started_on VARCHAR(64), "
    "direction VARCHAR(16) NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)
#: What brings a journal table made before rollbacks were journalled up to date.
_ADD_DIRECTION = f"ALTER TABLE {JOURNAL_TABLE} ADD COLUMN direction VARCHAR(16) NULL"
#: What makes a journal table of another engine or character set (an earlier release took the
#: server's defaults) transactional and able to store any error text; run under the lock.
_CONVERT_JOURNAL = f"ALTER TABLE {JOURNAL_TABLE} ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8mb4"
#: Character sets storing every Unicode character (utf8mb3 and ucs2 lack those beyond the BMP, latin1 most).
_FULL_UNICODE = frozenset({"utf8mb4", "utf16", "utf16le", "utf32"})
#: Tables of ours that are not part of any agent's schema.
_BOOKKEEPING = frozenset({HISTORY_TABLE, JOURNAL_TABLE})

_LOCK_PREFIX = "nocodo_agents.migrations:"
#: ``sql_select_limit`` meaning "no limit" (its maximum, and the server default).
_NO_SELECT_LIMIT = 18446744073709551615
#: MySQL refuses lock names longer than this (MariaDB does not limit them).
_MAX_LOCK_NAME = 64

#: Error codes meaning the server or the user may not write (1792: a READ ONLY transaction).
#: ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the session's (not the server's) transactions are read-only.
_SESSION_READ_ONLY = 1792
_READ_ONLY = frozenset({ER.OPTION_PREVENTS_STATEMENT, ER.READ_ONLY_TRANSACTION, ER.OPEN_AS_READONLY, _SESSION_READ_ONLY})
_DENIED = frozenset(
    {
        ER.DBACCESS_DENIED_ERROR,
        ER.ACCESS_DENIED_ERROR,
        ER.TABLEACCESS_DENIED_ERROR,
        ER.COLUMNACCESS_DENIED_ERROR,
        ER.SPECIFIC_ACCESS_DENIED_ERROR,
    }
)

#: Client error codes of a connection that failed (gone away, lost, cannot connect).
_CONNECTION_LOST = frozenset({2006, 2013, 2003, 2055, 0})

#: What a journal row without a recorded failure means.
_STOPPED = (
    "no error was recorded: the run executing it stopped (the process died or lost its connection) "
    "while this statement was about to run or running, so it may or may not have taken effect"
)

#: Error codes of a statement cancelled by a session timeout, and the setting that fired: MariaDB's
#: ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT (SELECT statements only).
_TIMEOUT_SETTINGS = {1969: "max_statement_time", 3024: "max_execution_time"}

Row = Tuple[Any, ...]


#: Appended to the session-settings read before the first write: opening a table the caller has not locked
#: fails with ER_TABLE_NOT_LOCKED under ``LOCK TABLES`` (which ``START TRANSACTION`` would release), whatever
#: tables the caller locked. ``performance_schema.session_status`` exists on MySQL 5.7+ and MariaDB 10.5+, also
#: with the Performance Schema off, and every user may read it; ``ON 0`` reads no row of it.
_LOCK_TABLES_PROBE = " FROM (SELECT 1) AS nocodo_agents_one LEFT JOIN performance_schema.session_status AS nocodo_agents_lock_probe ON 0"


#: Converts the history table's ``agent`` column, which an earlier release added in the table's character set.
_WIDEN_AGENT_COLUMN = f"ALTER TABLE {HISTORY_TABLE} MODIFY agent VARCHAR(255) CHARACTER SET utf8mb4 NULL"


def migration_lock_name(database: str) -> str:
    """The ``GET_LOCK`` name guarding ``database``'s migrations, at most 64 characters.

    ``nocodo_agents.migrations:<database>``; a database name too long for
    that is replaced by its SHA-256, cut to fit.
    """
    name = _LOCK_PREFIX + database
    if len(name) <= _MAX_LOCK_NAME:
        return name
    return _LOCK_PREFIX + hashlib.sha256(database.encode("utf-8")).hexdigest()[: _MAX_LOCK_NAME - len(_LOCK_PREFIX)]


#: sql_mode flags that change what a migration's SQL text means or what it stores (how strings,
#: quotes, ``||`` and ``NOT`` are read, whether an empty string is NULL or 0 an AUTO_INCREMENT value,
#: the types REAL and option clauses give), and the combination modes that imply some of them.
#: The runner drops them from the caller's sql_mode for its writes, so a migration does the same
#: on every connection; flags that only make the server stricter are kept.
_SQL_MEANING_MODES = frozenset(
    """ANSI_QUOTES PIPES_AS_CONCAT NO_BACKSLASH_ESCAPES IGNORE_SPACE EMPTY_STRING_IS_NULL
    SIMULTANEOUS_ASSIGNMENT HIGH_NOT_PRECEDENCE NO_UNSIGNED_SUBTRACTION REAL_AS_FLOAT
    NO_AUTO_VALUE_ON_ZERO PAD_CHAR_TO_FULL_LENGTH NO_FIELD_OPTIONS NO_KEY_OPTIONS NO_TABLE_OPTIONS
    NO_DIR_IN_CREATE ANSI ORACLE MSSQL DB2 POSTGRESQL MAXDB MYSQL323 MYSQL40 TRADITIONAL""".split()
)


def migration_sql_mode(caller_mode: str) -> str:
    """The sql_mode migrations run in, from the caller's: strict, no engine substitution, read the usual way.

    Keeps the caller's flags that only make the server stricter
    (``ONLY_FULL_GROUP_BY``, ``NO_ZERO_DATE``...), drops those in
    :data:`_SQL_MEANING_MODES`, and adds ``STRICT_ALL_TABLES`` (unless a
    strict mode is there) and ``NO_ENGINE_SUBSTITUTION``. Returns
    ``caller_mode`` unchanged when nothing needs changing.
    """
    flags = [flag for flag in caller_mode.upper().split(",") if flag]
    kept = [flag for flag in flags if flag not in _SQL_MEANING_MODES]
    if not {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"} & set(kept):
        kept.append("STRICT_ALL_TABLES")
    if "NO_ENGINE_SUBSTITUTION" not in kept:
        kept.append("NO_ENGINE_SUBSTITUTION")
    return caller_mode if kept == flags else ",".join(kept)


def _unfinished(row: Row) -> UnfinishedMigration:
    """A journal row as read: ``version, name, agent, statements, next_statement, failed_statement, error, direction``.

    ``error`` is UTF-8 bytes (read with ``CONVERT(... USING utf8mb4)``); a row
    without a recorded failure is the leftover of a run that stopped.
    """
    version, name, agent, statements, next_statement, failed_statement, error, direction = row
    if failed_statement is not None and error is not None:
        text = error.decode("utf-8", "replace") if isinstance(error, (bytes, bytearray)) else str(error)
    else:
        text = _STOPPED
    return UnfinishedMigration(
        int(version),
        as_text(name),
        as_text(agent),
        int(statements),
        int(failed_statement if failed_statement is not None else next_statement),
        text,
        "rollback" if direction is not None and as_text(direction) == "rollback" else "migration",
    )


def _error_code(error: BaseException) -> Optional[int]:
    if isinstance(error, pymysql.err.MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


def _error_message(error: BaseException) -> str:
    """The server's message of a PyMySQL error, without its code."""
    if isinstance(error, pymysql.err.MySQLError) and len(error.args) > 1:
        return str(error.args[1])
    return str(error)


def _access_problem(error: BaseException) -> Optional[str]:
    """What keeps the run from writing, if ``error`` says so; ``None`` for any other error."""
    code = _error_code(error)
    if code == _SESSION_READ_ONLY:
        return (
            f"the connection's transactions are read-only ({_error_message(error)}): the session has "
            f"SET SESSION TRANSACTION READ ONLY (tx_read_only = 1). Run SET SESSION TRANSACTION READ WRITE on it, "
            f"or pass a connection that may write."
        )
    if code in _READ_ONLY:
        return (
            f"it is read-only ({_error_message(error)}): a replica, or read_only/super_read_only/innodb_read_only "
            f"is set. Run the migrations against the primary server."
        )
    if code in _DENIED:
        return (
            f"the user may not do what the migrations need ({_error_message(error)}). Grant it SELECT, INSERT, "
            f"UPDATE, DELETE, CREATE, ALTER, DROP, INDEX and REFERENCES on the database, or run the "
            f"migrations as a user who has them."
        )
    return None


class MySQLDialect(Dialect):
    """A PyMySQL ``Connection`` to MySQL 8 or MariaDB 10.x (any cursor class: tuples are used here)."""

    name = "mysql"
    transactional_ddl = False
    connection: "Connection[Any]"

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._database = ""
        self._lock_name = ""
        #: Inside :meth:`write_transaction`: keep a transaction open after anything commits it.
        self._in_write = False
        #: Whether the journal table exists, once known (only the lock holder creates it).
        self._journal_exists: Optional[bool] = None
        #: Whether the journal table has its ``direction`` column, once the table was read.
        self._journal_has_direction = False
        #: When the journal must be converted to InnoDB and utf8mb4 before it is written (an earlier release made it):
        #: its engine if not transactional, its character set if it cannot store every text.
        self._journal_convert: Optional[Tuple[Optional[str], Optional[str]]] = None
        #: The journal's first entry (or ``None``) with the statement count when it was read: current while
        #: no statement has been sent since (see :meth:`unfinished`).
        self._journal_seen: Optional[Tuple[int, Optional[UnfinishedMigration]]] = None
        #: The character set of the history table's ``agent`` column when it cannot store every name (latin1...).
        self._agent_column_narrow: Optional[str] = None
        #: The history table's storage engine when it is not transactional (see :class:`BookkeepingTableError`).
        self._history_engine: Optional[str] = None
        #: Versions this run has journal rows for, not yet recorded in history.
        self._journalled: Set[int] = set()
        #: Whether the session's ``foreign_key_checks`` was read (and switched on if off) for the writes.
        self._foreign_keys_checked = False
        #: The caller's values of the session variables the runner changed, restored at the end (in this order).
        self._caller_settings: Dict[str, Any] = {}
        #: How this server reads migrations (its version decides which executable comments run), once known.
        self._syntax: Optional[SqlSyntax] = None

    # -- statements ------------------------------------------------------------------------------

    # The history table and the journal, their columns, engines and character sets, in one statement:
    # each part looks one table up by name (MariaDB then opens no other table's definition).
    history_columns_sql = " UNION ALL ".join(
        part.format(table=table)
        for table in ("%s", f"'{JOURNAL_TABLE}'")
        for part in (
            "SELECT 'column', TABLE_NAME, COLUMN_NAME, IS_NULLABLE = 'NO', COLUMN_DEFAULT IS NOT NULL "
            "OR EXTRA LIKE '%%auto_increment%%' OR EXTRA LIKE '%%GENERATED%%', CHARACTER_SET_NAME "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {table}",
            "SELECT 'table', t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED'), "
            "COALESCE(e.TRANSACTIONS = 'YES', 0), t.ENGINE FROM information_schema.TABLES t "
            "LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE "
            "WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = {table}",
        )
    )
    #: Created explicitly transactional and able to store any text, whatever the server's defaults.
    history_table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    #: refinery creates its table in the server's default character set (latin1 on many servers), which the
    #: ``agent`` column added to it must not inherit: an agent's name may be any Unicode text.
    agent_column_options = " CHARACTER SET utf8mb4"

    def _history_shape_rows(self) -> List[Row]:
        """The history table's shape rows; notes its engine, and the journal's existence, columns, engine and charset.

        When the journal does not exist, that is known afresh, so
        :meth:`unfinished` needs no statement of its own.
        """
        rows = self._query(self.history_columns_sql, (HISTORY_TABLE, HISTORY_TABLE))
        columns: Dict[str, List[Row]] = {}
        tables: Dict[str, Tuple[bool, bool, str]] = {}
        for kind, table, name, first, second, third in rows:
            if as_text(kind) == "table":
                tables[as_text(table)] = (bool(first), bool(second), as_text(third or "none"))
            else:
                columns.setdefault(as_text(table), []).append((name, first, second, third))
        is_table, transactional, engine = tables.get(HISTORY_TABLE, (True, True, ""))
        self._history_engine = engine if is_table and not transactional else None
        agent_charsets = {as_text(c[3]).lower() for c in columns.get(HISTORY_TABLE, []) if as_text(c[0]).lower() == "agent" and c[3]}
        self._agent_column_narrow = ", ".join(sorted(agent_charsets - _FULL_UNICODE)) or None
        journal = tables.get(JOURNAL_TABLE)
        self._journal_exists = journal is not None
        if journal is None:
            self._journal_seen = (self.statements, None)
        else:
            self._journal_has_direction = any(as_text(c[0]).lower() == "direction" for c in columns.get(JOURNAL_TABLE, []))
            charsets = sorted({as_text(c[3]).lower() for c in columns.get(JOURNAL_TABLE, []) if c[3] is not None} - _FULL_UNICODE)
            engine = None if journal[1] else journal[2]
            self._journal_convert = (engine, ", ".join(charsets) or None) if engine or charsets else None
        return [(name, not_null, has_default, is_table) for name, not_null, has_default, _ in columns.get(HISTORY_TABLE, [])]

    def _refuse_non_transactional_history(self) -> None:
        """Before a write: raise :class:`BookkeepingTableError` if the history table's engine is not transactional."""
        if self._history_engine is not None:
            raise BookkeepingTableError(
                HISTORY_TABLE, self.location(), f"ALTER TABLE {HISTORY_TABLE} ENGINE=InnoDB", engine=self._history_engine
            )

    def ensure_history(self, columns: Optional[Sequence[str]] = None) -> None:
        """As :meth:`Dialect.ensure_history`, refusing a history table that is not transactional first."""
        if columns is None:
            columns = self._columns()
        self._refuse_non_transactional_history()
        super().ensure_history(columns)
        if self._agent_column_narrow:
            self._widen_agent_column()

    def _widen_agent_column(self) -> None:
        """Make an ``agent`` column an earlier release added to refinery's latin1 table utf8mb4 (under the lock).

        The column is ours (refinery neither reads nor writes it), and in the
        table's character set an agent whose name it cannot store would have
        its migration applied and then its history row refused. Only that
        column changes; if it cannot, :class:`BookkeepingTableError` names the
        statement to run by hand.
        """
        try:
            self._run(_WIDEN_AGENT_COLUMN)
        except pymysql.err.MySQLError as error:
            if self._lost(error):
                raise
            raise BookkeepingTableError(
                HISTORY_TABLE, self.location(), _WIDEN_AGENT_COLUMN, charset=self._agent_column_narrow, cause=_error_message(error)
            ) from error
        self._agent_column_narrow = None
        logger.info("converted %s.agent to utf8mb4 (an earlier release added it in the table's character set)", HISTORY_TABLE)

    def _history_rows(self, sql: str) -> List[Row]:
        """The history rows, and in the same statement the journal's, when it exists (kept for :meth:`unfinished`).

        So every command that reads the history (the no-op path included)
        sees an unfinished migration or rollback without a statement more.
        The error text is read as UTF-8 bytes, whatever the connection's
        character set.
        """
        if not self._journal_exists:
            rows = self._query(sql)
            if self._journal_exists is False:
                self._journal_seen = (self.statements, None)
            return rows
        direction = "j.direction" if self._journal_has_direction else "NULL"
        rows = self._query(
            f"SELECT 0, h.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ({sql}) h UNION ALL "
            f"SELECT 1, NULL, NULL, NULL, NULL, NULL, j.version, j.name, j.agent, j.statements, j.next_statement, "
            f"j.failed_statement, CAST(CONVERT(j.error USING utf8mb4) AS BINARY), {direction} FROM {JOURNAL_TABLE} j "
            f"ORDER BY 1, 2, 7"
        )
        entries = [row[6:] for row in rows if row[0]]
        self._journal_seen = (self.statements, _unfinished(entries[0]) if entries else None)
        return [row[1:6] for row in rows if not row[0]]

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Row]:
        """Send one statement (values only as ``%s`` parameters); its rows, if any."""
        self.statements += 1
        with self.connection.cursor(Cursor) as cursor:
            cursor.execute(sql, params)
            rows = list(cursor.fetchall()) if cursor.description else []
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        """Send a statement; inside a unit of work, reopen the transaction if the statement committed it."""
        self._query(sql, params)
        if self._in_write and not self._in_transaction():
            self._query("START TRANSACTION")

    def _in_transaction(self) -> bool:
        status: Optional[int] = getattr(self.connection, "server_status", None)  # set by every reply
        return bool((status or 0) & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    def split_statements(self, sql: str) -> List[str]:
        """Split as this server reads migrations: in :func:`migration_sql_mode`, executable comments by its version."""
        if self._syntax is None:
            version, mariadb = mysql_version_id(as_text(getattr(self.connection, "server_version", "") or ""))
            self._syntax = replace(SqlSyntax.default("mysql"), server_version=version, mariadb=mariadb)
        return split_statements(sql, "mysql", self._syntax)

    # -- the connection, the lock and transactions -----------------------------------------------

    def ensure_idle(self) -> None:
        if not self.connection.open:
            raise ConnectionStateError("the PyMySQL connection is closed: pass an open connection")
        if self._in_transaction():
            raise ConnectionStateError(
                "the PyMySQL connection is inside a transaction: commit or roll back your own work "
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
            self._restore_caller_settings(quietly=True)
            if self._lock_held:
                self._release_lock(quietly=True)  # keep the original error
            if switched:
                self._restore_autocommit(saved_autocommit, quietly=True)
            named = self._named_error(error)
            if named is error:
                raise
            raise named from error
        self._restore_caller_settings(quietly=False)
        if self._lock_held:
            self._release_lock(quietly=False)
        self._restore_autocommit(saved_autocommit, quietly=False)

    def _lost(self, error: "BaseException | None") -> bool:
        """Whether ``error`` means the connection to the server failed (rather than a statement)."""
        if not isinstance(error, pymysql.err.MySQLError):
            return False
        return _error_code(error) in _CONNECTION_LOST or not self.connection.open

    def _named_error(self, error: BaseException) -> BaseException:
        """A PyMySQL error leaving the session, as the named error a caller can act on (others pass through).

        A migration whose statement failed because the connection did (the
        server stopped, the connection was killed) is reported as the
        connection's failure, naming the migration and what it left.
        """
        driver_error = error.__cause__ if isinstance(error, (MigrationFailedError, SchemaReplayError)) else error
        code = _error_code(driver_error) or 0
        setting = _TIMEOUT_SETTINGS.get(code)
        if setting is not None and self.connection.open:
            return self._timeout_error(setting, error)
        if code == ER.QUERY_INTERRUPTED and self.connection.open:
            return cancelled_error(self.location(), error, quote_message(_error_message(driver_error)))
        if code in (ER.LOCK_DEADLOCK, ER.LOCK_WAIT_TIMEOUT) and self.connection.open:
            return lock_conflict_error(
                self.location(), error, quote_message(redact(_error_message(driver_error))),
                "information_schema.INNODB_TRX and SHOW PROCESSLIST",
            )
        failed: Optional[MigrationFailedError] = None
        if isinstance(error, MigrationFailedError) and self._lost(error.__cause__):
            failed, error = error, error.__cause__  # type: ignore[assignment]
        if not isinstance(error, pymysql.err.MySQLError):
            return error
        if _error_code(error) == ER.TABLE_NOT_LOCKED:
            return ConnectionStateError(
                f"the PyMySQL connection holds table locks (LOCK TABLES), which the runner's transactions would "
                f"release ({_error_message(error)}): release them with UNLOCK TABLES before running migrations (the "
                f"runner never ends what is not its own)"
            )
        message = quote_message(redact(_error_message(error)))
        if self._lost(error):
            if failed is not None:
                left = interrupted(failed) + ("" if failed.journalled else " Run again once the server is reachable.")
            else:
                left = (
                    "A migration stopped part-way is kept in the journal and the next run says so; otherwise the "
                    "history says exactly what was applied: run `status`, then run again once the server is reachable."
                )
            return DatabaseAccessError(self.location(), f"the connection to the server failed ({message}). {left}")
        problem = _access_problem(error)
        return DatabaseAccessError(
            self.location(),
            problem if problem is not None else f"the server reported: {message}. Fix the cause, then run again.",
        )

    def _timeout_error(self, setting: str, error: BaseException) -> SessionTimeoutError:
        """:class:`SessionTimeoutError` for ``error``, a statement cancelled by the session's ``setting``."""
        try:
            value = as_text(self._query(f"SELECT @@SESSION.{setting}")[0][0])
        except pymysql.err.MySQLError:
            value = "(unknown: the server did not answer)"
        return timeout_error(self.location(), setting, value, error)

    def _refused_by_table(self, error: BaseException) -> bool:
        return isinstance(error, (pymysql.err.IntegrityError, pymysql.err.DataError)) or _error_code(error) in (
            ER.BAD_FIELD_ERROR, ER.NO_DEFAULT_FOR_FIELD, ER.NON_UPDATABLE_TABLE, 1471, 1288, 4025, 3819,  # 1471: not insertable; 4025, 3819: CHECK failed (MariaDB, MySQL)
        )

    def _set_autocommit(self, value: bool) -> None:
        self.statements += 1
        self.connection.autocommit(value)

    def _restore_autocommit(self, saved: bool, quietly: bool) -> None:
        if saved or not self.connection.open:
            return
        try:
            self._set_autocommit(False)
        except pymysql.err.MySQLError:
            if not quietly:
                raise

    def _prepare_reads(self) -> str:
        """The current database; the session made to read every row and to carry any text, for the run.

        Read first, before autocommit is touched (switching it on would commit
        a transaction of the caller's, with its locks): MariaDB does not flag a
        transaction that has only read (a ``SELECT``, even ``FOR UPDATE`` or
        ``LOCK IN SHARE MODE``, with autocommit off) in the status PyMySQL
        sees, but reports it in ``@@in_transaction``, read here in the same
        statement; MySQL flags it (checked by :meth:`ensure_idle`).

        A ``sql_select_limit`` of the caller's would cut the runner's reads
        short (history rows missing: migrations applied twice), and a client
        character set other than the one PyMySQL encodes with (``SET NAMES
        latin1``) would store a migration's text garbled. Both are read with
        the current database (one statement); only if the caller changed them
        does one more statement set them for the run (restored at the end).
        """
        mariadb = self._is_mariadb()
        row = self._query(
            "SELECT DATABASE(), @@SESSION.sql_select_limit, @@SESSION.character_set_client, "
            "@@SESSION.character_set_connection, @@SESSION.character_set_results, @@SESSION.collation_connection"
            + (", @@in_transaction" if mariadb else "")
        )[0]
        database, limit, client, connection, results, collation = row[:6]
        if mariadb and row[6]:
            raise ConnectionStateError(
                "the PyMySQL connection is inside a transaction (autocommit is off and a statement, even a SELECT, "
                "has opened one; the server holds its snapshot and any row locks it took): commit or roll back your "
                "own work before running migrations (the runner never commits or rolls back work that is not its own)"
            )
        database = self._database_name(database)
        wanted: Dict[str, Any] = {}
        if int(limit) != _NO_SELECT_LIMIT:
            self._caller_settings["sql_select_limit"] = int(limit)
            wanted["sql_select_limit"] = _NO_SELECT_LIMIT
        charset = self.connection.charset
        if any(value is None or as_text(value) != charset for value in (client, connection, results)):
            for name, value in (
                ("character_set_client", client), ("character_set_connection", connection),
                ("character_set_results", results), ("collation_connection", collation),  # the collation after its charset
            ):
                self._caller_settings[name] = None if value is None else as_text(value)
                if name != "collation_connection":
                    wanted[name] = charset
        if wanted:
            self._query("SET " + ", ".join(f"SESSION {name} = %s" for name in wanted), tuple(wanted.values()))
        return database

    def _no_database_error(self) -> ConnectionStateError:
        return ConnectionStateError(
            "the PyMySQL connection has no current database: connect with database=... (or run "
            "USE) so the runner knows which database to migrate"
        )

    def _current_database(self) -> str:
        return self._database_name(self._query("SELECT DATABASE()")[0][0])

    def _database_name(self, database: Any) -> str:
        if database is None:
            raise self._no_database_error()
        return as_text(database)

    _lock_held = False

    def _take_migration_lock(self) -> None:
        """``GET_LOCK`` at once if free, else log that this runner waits, then wait up to ``lock_timeout``."""
        if self._lock_held:
            return
        if not self._get_lock(0):
            logger.info(
                "waiting up to %g s for another runner's migration lock %r on %s",
                self.lock_timeout, self._lock_name, self.location(),
            )
            if not self._get_lock(self.lock_timeout):  # validated >= 0 by the runner
                raise LockTimeoutError(self.name, self.lock_timeout)
        self._lock_held = True

    def _get_lock(self, timeout: float) -> bool:
        """``GET_LOCK``: true when taken; false on timeout (0) or error (NULL).

        MariaDB waits fractions of a second; MySQL rounds the timeout to whole
        seconds, so it is rounded up there: a runner never gives up early.
        A wait is bounded by ``timeout`` alone: the session's statement
        timeout (MariaDB's ``max_statement_time``, MySQL's
        ``max_execution_time``, which a ``MAX_EXECUTION_TIME`` hint longer
        than the wait overrides) does not apply to it.
        """
        if not timeout:
            sql, wait = "SELECT GET_LOCK(%s, %s)", 0.0
        elif self._is_mariadb():
            sql, wait = "SET STATEMENT max_statement_time = 0 FOR SELECT GET_LOCK(%s, %s)", timeout
        else:
            wait = math.ceil(timeout)
            sql = f"SELECT /*+ MAX_EXECUTION_TIME({int(wait) * 1000 + 1000}) */ GET_LOCK(%s, %s)"
        return bool(self._query(sql, (self._lock_name, wait))[0][0] == 1)

    def _is_mariadb(self) -> bool:
        """From the version the server announced when connecting (no statement)."""
        version: str = self.connection.get_server_info()  # type: ignore[no-untyped-call]
        return "mariadb" in version.lower()

    def _release_lock(self, quietly: bool) -> None:
        self._lock_held = False
        if not self.connection.open:
            return  # the server released it with the session
        try:
            self._query("SELECT RELEASE_LOCK(%s)", (self._lock_name,))
        except pymysql.err.MySQLError:
            if not quietly:
                raise

    @contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """The session-level ``GET_LOCK``, held from the run's first write to its end, covers this migration too."""
        self._take_migration_lock()  # no statement: already held since the write transaction that planned it
        yield

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """``START TRANSACTION`` ... ``COMMIT``, reopened whenever a statement inside commits it.

        Takes the migration lock first (once per run), and refuses a history
        table found not transactional (:class:`BookkeepingTableError`) before
        anything is written. A refused write (read-only server, missing
        privilege) outside a migration's own statements becomes
        :class:`DatabaseAccessError`.
        """
        self._take_migration_lock()
        self._refuse_non_transactional_history()
        self._enforce_foreign_keys()
        self._query("START TRANSACTION")
        self._in_write = True
        try:
            yield
        except BaseException as error:
            self._in_write = False
            self._rollback_quietly()
            problem = None if isinstance(error, MigrationError) else _access_problem(error)
            if problem is not None:
                raise DatabaseAccessError(self.location(), problem + self._journal_hint()) from error
            raise
        self._in_write = False
        self._query("COMMIT")

    def _enforce_foreign_keys(self) -> None:
        """Before the session's first write: foreign keys and unique checks enforced, strict SQL mode read the usual way.

        With ``foreign_key_checks`` off, InnoDB lets a migration DROP a table
        that other tables reference and skips ``ON DELETE CASCADE``, leaving
        child rows without their parent. Without a strict ``sql_mode``, a
        migration narrowing a column (``MODIFY c VARCHAR(5)``) or converting
        values truncates data with only a warning; modes such as
        ``ANSI_QUOTES``, ``PIPES_AS_CONCAT`` or ``NO_BACKSLASH_ESCAPES`` change
        what the same SQL text means (see :func:`migration_sql_mode`); ``unique_checks = 0`` lets
        InnoDB skip checking secondary unique indexes, ``sql_safe_updates = 1`` refuses a
        migration's ``UPDATE``/``DELETE`` without a key in its WHERE. A migration may still
        change either itself (its own settings are put back after it). The
        caller's values are restored when the session ends. One statement
        reads both; one more sets them, only when the caller had changed them.

        The same statement opens a table no caller locks (see
        :data:`_LOCK_TABLES_PROBE`), so a session holding ``LOCK TABLES``
        (even on the runner's own tables, or before they exist) is refused
        with :class:`ConnectionStateError` before ``START TRANSACTION`` would
        release the caller's table locks.
        """
        if self._foreign_keys_checked:
            return
        self._foreign_keys_checked = True
        read = "SELECT @@SESSION.foreign_key_checks, @@SESSION.unique_checks, @@SESSION.sql_safe_updates, @@SESSION.sql_mode"
        try:
            checks, unique, safe, mode = self._query(read + _LOCK_TABLES_PROBE)[0]
        except pymysql.err.ProgrammingError as error:
            if _error_code(error) != ER.NO_SUCH_TABLE:  # a server older than the probe's table (MariaDB 10.4)
                raise
            checks, unique, safe, mode = self._query(read)[0]
        caller_mode = as_text(mode or "")
        wanted: Dict[str, Any] = {}
        for name, value, run_value in (
            ("foreign_key_checks", int(checks), 1),
            ("unique_checks", int(unique), 1),
            ("sql_safe_updates", int(safe), 0),
            ("sql_mode", caller_mode, migration_sql_mode(caller_mode)),
        ):
            if value != run_value:
                self._caller_settings[name] = value
                wanted[name] = run_value
        if wanted:
            self._query("SET " + ", ".join(f"SESSION {name} = %s" for name in wanted), tuple(wanted.values()))

    def _restore_caller_settings(self, quietly: bool) -> None:
        """Set back every session variable the runner changed for the run (one statement; none if none)."""
        caller, self._caller_settings = self._caller_settings, {}
        if not caller or not self.connection.open:
            return
        try:
            self._query("SET " + ", ".join(f"SESSION {name} = %s" for name in caller), tuple(caller.values()))
        except pymysql.err.MySQLError:
            if not quietly:
                raise

    def _rollback_quietly(self) -> None:
        if not self.connection.open:
            return
        try:
            self._query("ROLLBACK")
        except pymysql.err.MySQLError:
            pass  # the connection is gone: the server rolls back by itself; keep the original error

    def _journal_hint(self) -> str:
        if not self._journalled:
            return ""
        versions = ", ".join(f"V{v}" for v in sorted(self._journalled))
        return (
            f" {versions} had started and is left in the journal: the next run will ask you to "
            f"resolve it (`nocodo-agents resolve`)."
        )

    def location(self) -> str:
        """``mysql://user@host:port/database`` (no password)."""
        user = self.connection.user
        user_text = as_text(user) if user is not None else ""
        database = self._database or as_text(self.connection.db or "")
        return f"mysql://{user_text}@{self.connection.host}:{self.connection.port}/{database}"

    # -- statement journal -----------------------------------------------------------------------

    def unfinished(self) -> Optional[UnfinishedMigration]:
        """The journal's first row, if any: a recorded failure, or the leftover of a run that stopped.

        Only the holder of the migration lock writes the journal, and a run
        removes its row when it records the migration, so any row seen here
        is unfinished. Creates nothing (dry runs call this too). When the
        last statement sent read the journal (with the history, see
        :meth:`_history_rows`) or found it absent, that answer is used and no
        statement is sent. Reads every column, so a table made before
        ``direction`` existed reads too.
        """
        if self._journal_seen is not None and self._journal_seen[0] == self.statements:
            return self._while_locked_elsewhere(self._journal_seen[1])
        self.statements += 1
        try:
            with self.connection.cursor(Cursor) as cursor:
                cursor.execute(
                    f"SELECT *, CAST(CONVERT(error USING utf8mb4) AS BINARY) AS error_utf8 FROM {JOURNAL_TABLE} "
                    f"ORDER BY version LIMIT 1"
                )
                columns = [as_text(column[0]).lower() for column in cursor.description or ()]
                rows = list(cursor.fetchall())
        except pymysql.err.ProgrammingError as error:
            if _error_code(error) != ER.NO_SUCH_TABLE:
                raise
            self._journal_exists = False
            return None
        self._journal_exists = True
        self._journal_has_direction = "direction" in columns
        if not rows:
            return None
        entry = dict(zip(columns, rows[0]))
        return self._while_locked_elsewhere(_unfinished(
            tuple(entry.get(column) for column in (
                "version", "name", "agent", "statements", "next_statement", "failed_statement", "error_utf8", "direction",
            ))
        ))

    def _while_locked_elsewhere(self, entry: Optional[UnfinishedMigration]) -> Optional[UnfinishedMigration]:
        """``entry``, marked ``in_progress`` if it was read without the lock while another connection held it.

        Only the lock's holder writes the journal, and a runner at work keeps
        its row there until it records the migration: seen from outside the
        lock (the no-op path, ``status``, ``verify``, dry runs) while someone
        holds the lock, the row may be that runner's. One statement, only when
        the journal holds a row and this runner does not hold the lock.
        """
        if entry is None or self._lock_held:
            return entry
        holder = self._query("SELECT IS_USED_LOCK(%s)", (self._lock_name,))[0][0]
        return entry if holder is None else replace(entry, in_progress=True)

    def _journal_write(self, sql: str, params: Sequence[Any]) -> None:
        """Write to the journal and commit it at once (with whatever ran before it)."""
        self._run(sql, params)
        if self._in_transaction():
            self._run("COMMIT")  # inside a unit of work, _run starts the next transaction

    def journal_start(self, version: int, name: str, agent: str, statements: int, direction: str = "migration") -> None:
        """Journal that ``version``'s migration or rollback (``direction``) starts, under the migration lock.

        Creates the journal table, or adds its ``direction`` column to one
        made by an earlier release, first.
        """
        self._take_migration_lock()
        if self._journal_exists is None:
            self.unfinished()  # learns whether the table exists, and its columns
        if not self._journal_exists:
            self._run(_CREATE_JOURNAL)
            self._journal_exists = self._journal_has_direction = True
            self._journal_convert = None
        elif not self._journal_has_direction:
            self._run(_ADD_DIRECTION)
            self._journal_has_direction = True
        if self._journal_convert:
            self._convert_journal()
        self._journal_write(
            f"REPLACE INTO {JOURNAL_TABLE} (version, name, agent, statements, next_statement, "
            f"failed_statement, error, started_on, direction) VALUES (%s, %s, %s, %s, 0, NULL, NULL, %s, %s)",
            (version, name, agent, statements, now_rfc3339(), direction),
        )
        self._journalled.add(version)

    def _convert_journal(self) -> None:
        """Make a journal table an earlier release created with the server's defaults InnoDB and utf8mb4.

        The journal is ours alone and holds at most a few rows, so it is
        converted (under the lock) rather than refused; if that fails,
        :class:`BookkeepingTableError` names the statement to run by hand.
        """
        try:
            self._run(_CONVERT_JOURNAL)
        except pymysql.err.MySQLError as error:
            if self._lost(error):
                raise
            engine, charset = self._journal_convert
            raise BookkeepingTableError(
                JOURNAL_TABLE, self.location(), _CONVERT_JOURNAL, engine=engine, charset=charset, cause=_error_message(error)
            ) from error
        self._journal_convert = None
        logger.info("converted %s to InnoDB and utf8mb4 (an earlier release created it with the server's defaults)", JOURNAL_TABLE)

    def journal_statement(self, version: int, index: int) -> None:
        self._journal_write(f"UPDATE {JOURNAL_TABLE} SET next_statement = %s WHERE version = %s", (index, version))

    def journal_failed(self, version: int, index: int, error: BaseException) -> None:
        """Record the failing statement and its error; if even that fails, the row already marks it."""
        try:
            # Sent as hexadecimal UTF-8, so the connection's character set (latin1...) cannot refuse or mangle it.
            self._journal_write(
                f"UPDATE {JOURNAL_TABLE} SET failed_statement = %s, error = CONVERT(UNHEX(%s) USING utf8mb4) WHERE version = %s",
                # the start and end of a long one (a TEXT column holds 65,535 bytes)
                (index, quote_message(error).encode("utf-8", "replace").hex(), version),
            )
        except pymysql.err.MySQLError as journal_error:
            logger.warning(
                "could not record in %s that statement %s of V%s failed (%s); its entry still stops "
                "the next run", JOURNAL_TABLE, index + 1, version,
                _error_message(journal_error) or "the connection is closed",
            )

    def journal_done(self, version: int) -> None:
        """Delete the journal row this run wrote for ``version``; it commits with the history row."""
        if version in self._journalled:
            self._run(f"DELETE FROM {JOURNAL_TABLE} WHERE version = %s", (version,))
            self._journalled.discard(version)

    def clear_unfinished(self, version: int) -> None:
        if self._journal_exists is not False:
            self._run(f"DELETE FROM {JOURNAL_TABLE} WHERE version = %s", (version,))

    # -- schema ----------------------------------------------------------------------------------

    def schema_objects(self) -> FrozenSet[str]:
        """Tables, views, triggers, indexes and table columns of the current database, as adoption needs them.

        Indexes are named ``index i`` here, as in SQLite, whose footprints
        adoption compares them with.
        """
        described, owners = self._describe(self._database or self._current_database())
        objects = set()
        for key in described:
            kind = key.partition(" ")[0]
            if kind == "index":  # "index t.i", owned by "table t"
                table = owners[key][len("table ") :]
                objects.add(f"index {key[len('index ') + len(table) + 1 :]}")
            elif kind in ("table", "view", "trigger", "column"):
                objects.add(key)
        return frozenset(objects)

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        """Compare the live schema with the applied migrations replayed in a scratch database."""
        from ..drift import compare_schemas

        database = self._database or self._current_database()
        # Replayed as migrations run (same sql_mode, so the same split; foreign keys on), and both schemas
        # described in that mode (ANSI_QUOTES changes how CHECK clauses are shown).
        self._enforce_foreign_keys()
        live, owners = self._describe(database)
        expected, expected_owners = self._replay(database, applied)
        owner_of = {**expected_owners, **owners}
        return compare_schemas(expected, live, owner=lambda key, _description: owner_of.get(key))

    def _replay(self, database: str, applied: Sequence["PlannedMigration"]) -> Tuple[Dict[str, str], Dict[str, str]]:
        """The schema ``applied`` produce in a new scratch database, which is dropped afterwards."""
        scratch = f"nocodo_scratch_{secrets.token_hex(6)}"
        charset, collation = self._query(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = %s",
            (database,),
        )[0]
        try:
            self._run(f"CREATE DATABASE `{scratch}` CHARACTER SET %s COLLATE %s", (as_text(charset), as_text(collation)))
        except pymysql.err.MySQLError as error:
            if _error_code(error) in _DENIED | _READ_ONLY:
                raise DatabaseAccessError(
                    self.location(),
                    f"the drift check could not create its scratch database {scratch} ({_error_message(error)}). It "
                    f"replays the applied migrations in a scratch database on the same server and drops it "
                    f"afterwards: grant this user CREATE and DROP on `nocodo\\_scratch\\_%`.*, or verify as a "
                    f"user who may create databases. The live database was not touched.",
                ) from error
            raise
        try:
            self._use(scratch)
            session = SessionVariableGuard(self)  # SET FOREIGN_KEY_CHECKS... replayed must not stay on the caller's session
            try:
                for planned in sorted(applied, key=lambda p: p.version):
                    for index, statement in enumerate(self.split_statements(planned.sql(self.name))):
                        try:
                            session.execute(statement)
                        except pymysql.err.MySQLError as error:
                            raise SchemaReplayError(
                                planned, statement, index, error, scratch=f"a scratch database ({scratch}, dropped afterwards)"
                            ) from error
            finally:
                session.restore(quietly=True)
                self._use(database)
            return self._describe(scratch)
        finally:
            self._drop_scratch(scratch)

    def _use(self, database: str) -> None:
        """Make ``database`` the current one (``COM_INIT_DB``: no SQL text to build)."""
        self.statements += 1
        self.connection.select_db(database)

    def _drop_scratch(self, scratch: str) -> None:
        try:
            self._run(f"DROP DATABASE IF EXISTS `{scratch}`")
        except pymysql.err.MySQLError as error:
            logger.warning("could not drop the scratch database %s: %s; drop it by hand", scratch, error)

    def _describe(self, database: str) -> Tuple[Dict[str, str], Dict[str, str]]:
        """``database``'s schema as flat ``{key: description}``, and the owning table or view of each key.

        Keys follow :mod:`nocodo_agents.drift`: ``table t``, ``view v``,
        ``column t.c``, ``foreign key t (c)``, ``check t: expr``,
        ``trigger g``; indexes are ``index t.i``, because MySQL names them
        per table (two tables may each have an index ``i``). The history and
        journal tables are left out.
        """
        described: Dict[str, str] = {}
        owners: Dict[str, str] = {}

        def put(key: str, description: str, owner: str) -> None:
            described[key] = description
            owners[key] = owner

        qualifier = "`" + database.replace("`", "``") + "`."  # how the server names the database in definitions
        tables: Set[str] = set()
        for table, kind in self._query(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,)
        ):
            table = as_text(table)
            if table in _BOOKKEEPING:
                continue
            if as_text(kind) == "VIEW":
                continue  # views come with their definitions below
            tables.add(table)
            put(f"table {table}", "table", f"table {table}")
        for row in self._query(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_KEY "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        ):
            table = as_text(row[0])
            if table in tables:
                put(f"column {table}.{as_text(row[1])}", _column_description(row), f"table {table}")
        self._describe_indexes(database, tables, put)
        self._describe_foreign_keys(database, tables, put)
        self._describe_checks(database, tables, put)
        for name, definition in self._query(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", (database,)
        ):
            put(f"view {as_text(name)}", as_text(definition).replace(qualifier, ""), f"view {as_text(name)}")
        for name, event, table, timing, statement in self._query(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT "
            "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
            (database,),
        ):
            if as_text(table) in _BOOKKEEPING:
                continue
            body = as_text(statement).replace(qualifier, "")
            put(
                f"trigger {as_text(name)}",
                f"{as_text(timing)} {as_text(event)} ON {as_text(table)} FOR EACH ROW {body}",
                f"table {as_text(table)}",
            )
        return described, owners

    def _describe_indexes(self, database: str, tables: Set[str], put: Callable[[str, str, str], None]) -> None:
        """Every index but the primary key: ``[UNIQUE ]ON t (c1, c2(10) DESC)[ USING type]``."""
        indexes: Dict[Tuple[str, str], List[str]] = {}
        details: Dict[Tuple[str, str], Tuple[bool, str]] = {}
        for table, index, non_unique, column, sub_part, collation, index_type in self._query(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE "
            "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND INDEX_NAME != 'PRIMARY' "
            "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (database,),
        ):
            table, index = as_text(table), as_text(index)
            if table not in tables:
                continue
            part = "(expression)" if column is None else as_text(column)
            if sub_part is not None:
                part += f"({int(sub_part)})"
            if collation is not None and as_text(collation) == "D":
                part += " DESC"
            indexes.setdefault((table, index), []).append(part)
            details[(table, index)] = (not int(non_unique), as_text(index_type))
        for (table, index), columns in indexes.items():
            unique, index_type = details[(table, index)]
            key = f"index {table}.{index}"
            using = "" if index_type == "BTREE" else f" USING {index_type}"
            put(key, f"{'UNIQUE ' if unique else ''}ON {table} ({', '.join(columns)}){using}", f"table {table}")

    def _describe_foreign_keys(self, database: str, tables: Set[str], put: Callable[[str, str, str], None]) -> None:
        """``foreign key t (c)`` -> ``REFERENCES r (rc) ON UPDATE ... ON DELETE ...``."""
        keys: Dict[Tuple[str, str], List[Row]] = {}
        for row in self._query(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, "
            "k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
            "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
            "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "AND r.TABLE_NAME = k.TABLE_NAME "
            "WHERE k.CONSTRAINT_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            (database,),
        ):
            if as_text(row[0]) in tables:
                keys.setdefault((as_text(row[0]), as_text(row[1])), []).append(row)
        for (table, _), rows in keys.items():
            columns = ", ".join(as_text(r[2]) for r in rows)
            referenced_schema, referenced = as_text(rows[0][3]), as_text(rows[0][4])
            if referenced_schema != database:
                referenced = f"{referenced_schema}.{referenced}"
            referenced_columns = ", ".join(as_text(r[5]) for r in rows)
            put(
                f"foreign key {table} ({columns})",
                f"REFERENCES {referenced} ({referenced_columns}) ON UPDATE {as_text(rows[0][6])} ON DELETE {as_text(rows[0][7])}",
                f"table {table}",
            )

    def _describe_checks(self, database: str, tables: Set[str], put: Callable[[str, str, str], None]) -> None:
        """``check t: expr``, as the server prints the expression (MariaDB 10.2+, MySQL 8.0.16+)."""
        if self._is_mariadb():
            sql = (  # MariaDB names checks per table (a column's check after the column)
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = %s"
            )
        else:  # MySQL has no TABLE_NAME there; its check names are unique per database
            sql = (
                "SELECT t.TABLE_NAME, c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c "
                "JOIN information_schema.TABLE_CONSTRAINTS t ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA "
                "AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND t.CONSTRAINT_TYPE = 'CHECK' "
                "WHERE c.CONSTRAINT_SCHEMA = %s"
            )
        try:
            rows = self._query(sql, (database,))
        except pymysql.err.MySQLError as error:
            if _error_code(error) not in (ER.UNKNOWN_TABLE, ER.BAD_FIELD_ERROR):
                raise
            return  # a server too old to report CHECK constraints (it does not enforce them either)
        for table, clause in rows:
            if as_text(table) in tables:
                put(f"check {as_text(table)}: {as_text(clause)}", "check", f"table {as_text(table)}")


def _column_description(row: Row) -> str:
    """``bigint(20) NOT NULL DEFAULT 0 AUTO_INCREMENT PRIMARY KEY`` from an information_schema.COLUMNS row."""
    _, _, column_type, nullable, default, extra, column_key = row
    parts = [as_text(column_type)]
    if as_text(nullable) == "NO":
        parts.append("NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {as_text(default)}")
    if extra:
        parts.append(as_text(extra).upper())
    if column_key is not None and as_text(column_key) == "PRI":
        parts.append("PRIMARY KEY")
    return " ".join(parts)
