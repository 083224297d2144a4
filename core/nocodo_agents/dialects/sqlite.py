"""SQLite through the standard library's :mod:`sqlite3`.

Transactions are ours: for the run the connection is switched to autocommit
(``isolation_level = None``) so Python issues no implicit BEGIN or COMMIT,
and each unit of work is ``BEGIN IMMEDIATE`` ... ``COMMIT``, which takes the
database's write lock before history is read. Statements are run one by one
with ``execute`` (``executescript`` would COMMIT first and break atomicity).
Other runners wait for the lock up to ``lock_timeout`` (SQLite's busy timeout).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import (
    ConnectionStateError,
    DatabaseAccessError,
    ForeignKeyViolationError,
    LockTimeoutError,
    MigrationFailedError,
)
from ..history import HISTORY_TABLE
from ..sql_lexer import SqlLexError, SqlSyntax, tokens
from ..sql_split import SplitError
from ..transaction_control import first_word
from .base import Dialect, as_text, interrupted

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

_SQLITE_SYNTAX = SqlSyntax.default("sqlite")


def split_sqlite_statements(sql: str) -> List[str]:
    """Split SQL text into complete statements, using SQLite's own tokenizer rules.

    Semicolons inside strings, comments and trigger bodies do not split.
    Text after the last complete statement holding an unterminated string or
    quoted name raises :class:`~nocodo_agents.sql_split.SplitError` (SQLite
    would refuse it; an unterminated comment ends with the text, as in SQLite).
    """
    statements: List[str] = []
    start = 0
    for position, char in enumerate(sql):
        if char == ";":
            candidate = sql[start : position + 1]
            if sqlite3.complete_statement(candidate):
                statements.append(candidate.strip())
                start = position + 1
    rest = sql[start:].strip()
    if rest:
        try:
            for _ in tokens(sql, _SQLITE_SYNTAX, start):
                pass
        except SqlLexError as error:
            raise SplitError(error.offset, sql.count("\n", 0, error.offset) + 1, error.what) from None
        statements.append(rest)
    return [s for s in statements if s.strip("; \t\r\n")]


def sqlite_schema_objects(connection: sqlite3.Connection) -> FrozenSet[str]:
    """Tables, indexes, views, triggers and table columns of a SQLite database."""
    objects = set()
    rows = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ?",
        (HISTORY_TABLE,),
    ).fetchall()
    for kind, name in rows:
        objects.add(f"{kind} {name}")
        if kind == "table":
            for column in connection.execute("SELECT name FROM pragma_table_info(?)", (name,)):
                objects.add(f"column {name}.{column[0]}")
    return frozenset(objects)


def _is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def _is_read_only(error: BaseException) -> bool:
    cause: "BaseException | None" = error
    while cause is not None:
        if isinstance(cause, sqlite3.OperationalError) and "readonly" in str(cause):
            return True
        cause = cause.__cause__
    return False


def _is_environmental(error: "BaseException | None") -> bool:
    """A failure of the file or the disk, not of the SQL that was running."""
    if not isinstance(error, sqlite3.DatabaseError):  # OperationalError is one
        return False
    message = str(error)
    return _is_read_only(error) or any(text in message for text in _ENVIRONMENT + _NOT_A_DATABASE)


#: What SQLite says when the disk or the file fails under a statement.
_ENVIRONMENT = ("disk is full", "disk I/O error", "unable to open database file")
#: What SQLite says when the file is no database it can read.
_NOT_A_DATABASE = ("file is not a database", "malformed", "file is encrypted")

#: Pragmas that change what a migration's SQL does, pinned to these values for the runner's writes
#: and restored afterwards. ``foreign_keys`` above all: with enforcement on, the DROP of SQLite's
#: documented table rebuild cascades to every child row (and PRAGMA foreign_keys is a no-op once a
#: transaction is open, so it is switched before the runner's first transaction).
_PINNED_FOR_WRITES = {
    "foreign_keys": 0,
    "legacy_alter_table": 0,
    "recursive_triggers": 0,
    "reverse_unordered_selects": 0,
    "ignore_check_constraints": 0,
    "writable_schema": 0,
}
#: One statement reading, before the first write, query_only and every pinned pragma (as
#: ``('pragma', name, value)``), and what else the connection sees besides main: attached
#: databases and TEMP objects (as ``(kind, name, NULL)``).
_WRITE_CONDITIONS = " UNION ALL ".join(
    [f"SELECT 'pragma', '{name}', * FROM pragma_{name}" for name in ("query_only", *_PINNED_FOR_WRITES)]
    + [
        "SELECT 'journal_mode', journal_mode, (SELECT file FROM pragma_database_list WHERE name = 'main') FROM pragma_journal_mode",
        "SELECT 'database', name, NULL FROM pragma_database_list WHERE name NOT IN ('main', 'temp')",
        "SELECT type, name, NULL FROM temp.sqlite_master",
    ]
)
#: At most this many violating rows are named in an error.
_VIOLATIONS_SHOWN = 20

Violation = Tuple[str, Optional[int], str]


class SQLiteDialect(Dialect):
    """A :class:`sqlite3.Connection`."""

    name = "sqlite"
    connection: sqlite3.Connection

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        #: The connection's pragma values when the session began, where the runner changed them.
        self._changed_pragmas: Dict[str, int] = {}
        self._settings: Dict[str, int] = {}
        self._writes_prepared = False
        #: Foreign-key violations before the current migration's first statement that could orphan a
        #: row (``None``: no such statement yet), or the error SQLite gave when asked for them.
        self._violations_before: "Optional[Union[List[Violation], str]]" = None

    def ensure_idle(self) -> None:
        try:
            self.connection.cursor().close()  # no I/O: refused on a closed connection or in another thread
            in_transaction = self.connection.in_transaction
        except sqlite3.ProgrammingError as error:
            raise ConnectionStateError(
                f"the sqlite3 connection cannot be used here ({error}): nothing was changed. Run the migrations "
                f"on an open connection, in the thread that opened it (or one opened with "
                f"check_same_thread=False and used by one thread at a time)"
            ) from error
        if getattr(self.connection, "autocommit", None) is False:
            raise ConnectionStateError(
                "this sqlite3 connection was opened with autocommit=False, so it always holds an "
                "open transaction and the runner cannot take the write lock: open it with the "
                "default autocommit setting (or autocommit=True) for migrations"
            )
        if in_transaction:
            raise ConnectionStateError(
                "the sqlite3 connection is inside a transaction: commit or roll back your own work "
                "before running migrations (the runner never commits or rolls back work that is "
                "not its own)"
            )

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """The connection as the runner needs it, whatever the caller set; all of it restored afterwards.

        Rows come back as tuples and text as ``str`` (a caller's ``row_factory``
        or ``text_factory`` is set aside), Python issues no implicit BEGIN, and
        the busy timeout is the lock timeout. Before the first write, the
        pragmas of :data:`_PINNED_FOR_WRITES` are set (see :meth:`_prepare_writes`).
        Every sqlite3 error that leaves the session becomes a named error.
        """
        connection = self.connection
        saved = (connection.isolation_level, connection.row_factory, connection.text_factory)
        self.lock_timeout = lock_timeout
        connection.isolation_level = None
        connection.row_factory = None
        connection.text_factory = str
        try:
            # PRAGMA busy_timeout reads no schema, so it cannot wait behind another connection's lock
            self._settings["busy_timeout"] = self._query("PRAGMA busy_timeout")[0][0]
            self._set_busy_timeout(lock_timeout)
            yield
        except BaseException as error:
            self._restore(saved, quietly=True)  # keep the original error
            named = self._named_error(error)
            if named is error:
                raise
            raise named from error
        try:
            self._restore(saved, quietly=False)
        except sqlite3.Error as error:
            named = self._named_error(error)
            if named is error:
                raise
            raise named from error

    def _set_busy_timeout(self, seconds: float) -> None:
        self._run(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def _restore(self, saved: Tuple[Any, Any, Any], quietly: bool) -> None:
        connection = self.connection
        try:
            if "busy_timeout" in self._settings:
                self._run(f"PRAGMA busy_timeout = {int(self._settings['busy_timeout'])}")
            for pragma, value in self._changed_pragmas.items():
                self._run(f"PRAGMA {pragma} = {int(value)}")
            self._changed_pragmas = {}
        except sqlite3.Error:
            if not quietly:
                raise
        finally:
            connection.isolation_level, connection.row_factory, connection.text_factory = saved

    def _named_error(self, error: BaseException) -> BaseException:
        """``error`` as the named error a caller can act on (errors of ours pass through).

        A migration statement that failed because of the file rather than its
        SQL (read-only, disk full, I/O) is reported as the file's problem.
        """
        failed: Optional[MigrationFailedError] = None
        if isinstance(error, MigrationFailedError) and _is_environmental(error.__cause__):
            failed, error = error, error.__cause__  # type: ignore[assignment]
        if not isinstance(error, sqlite3.Error):
            return error
        if _is_busy(error):
            return LockTimeoutError(
                self.name, self.lock_timeout,
                f"{error} (another connection holds a lock on {self.location()}: a writer in rollback-journal "
                f"mode, or BEGIN EXCLUSIVE)",
            )
        if _is_read_only(error):
            return DatabaseAccessError(
                self.location(),
                "it is read-only (file permissions, a read-only mount or directory, ?mode=ro, or PRAGMA "
                "query_only): nothing was changed. Run the migrations with write access to the file and its "
                "directory.",
            )
        message = str(error)
        if any(text in message for text in _NOT_A_DATABASE):
            return DatabaseAccessError(
                self.location(),
                f"it is not a SQLite database, or it is damaged ({message}): nothing was changed. Check the "
                f"path; restore the file from a backup if it is damaged.",
            )
        if failed is not None:
            return DatabaseAccessError(
                self.location(),
                f"SQLite could not run a migration's statement for a reason outside its SQL ({message}). "
                f"{interrupted(failed)} Fix the cause (disk space, PRAGMA max_page_count, permissions, the file), "
                f"then run again.",
            )
        return DatabaseAccessError(
            self.location(),
            f"SQLite reported: {message}. A migration is committed together with its history row, so the "
            f"history says exactly what was applied: fix the cause (disk space, PRAGMA max_page_count, "
            f"permissions, the file), then run `status` and run again.",
        )

    def _prepare_writes(self) -> None:
        """Before the first write of the session: refuse what would mislead migrations, pin the pragmas.

        Runs outside any transaction (``PRAGMA foreign_keys`` does nothing
        inside one).
        """
        foreign = []
        journal_mode, main_file = "delete", ""
        for kind, name, value in self._query(_WRITE_CONDITIONS):
            if kind == "pragma":
                self._settings[name] = int(value)
            elif kind == "journal_mode":
                journal_mode, main_file = str(name).lower(), str(value or "")
            else:
                foreign.append((kind, name))
        if journal_mode == "off" or (journal_mode == "memory" and main_file):
            raise ConnectionStateError(
                f"the sqlite3 connection has PRAGMA journal_mode = {journal_mode.upper()}: "
                + (
                    "SQLite cannot roll back then, so a failing migration would stay half-applied"
                    if journal_mode == "off"
                    else "a process that dies mid-migration would likely leave the file corrupt"
                )
                + f". Nothing was changed. Run the migrations on a connection with the default journal mode "
                f"(DELETE) or WAL ({self.location()})."
            )
        if self._settings["query_only"]:
            raise DatabaseAccessError(
                self.location(),
                "the connection has PRAGMA query_only = ON, so it may not write: nothing was changed. Run "
                "the migrations on a connection that may write.",
            )
        if foreign:
            listed = ", ".join(f"{kind} {name}" for kind, name in foreign)
            raise ConnectionStateError(
                f"the sqlite3 connection sees more than its main database ({listed}): unqualified names "
                f"in migrations would resolve to TEMP objects first and could reach an attached database. "
                f"Nothing was changed. Run the migrations on a connection of their own (for example "
                f"nocodo_agents.Database(path), or a fresh sqlite3.connect(path)), or DETACH the databases "
                f"and drop the TEMP objects first."
            )
        for pragma, wanted in _PINNED_FOR_WRITES.items():
            if self._settings[pragma] != wanted:
                self._run(f"PRAGMA {pragma} = {wanted}")
                self._changed_pragmas[pragma] = self._settings[pragma]
        self._writes_prepared = True

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        if not self._writes_prepared:
            self._prepare_writes()
        self._take_write_lock()
        self._violations_before = None
        committing = False
        try:
            yield
            committing = True
            self._run("COMMIT")  # may wait for readers (rollback journal): within the busy timeout
        except BaseException as error:
            if self.connection.in_transaction:
                try:
                    self._run("ROLLBACK")
                except sqlite3.Error as rollback_error:  # keep the original error; SQLite rolls back a hot journal itself
                    logger.warning("ROLLBACK failed on %s after %s: %s", self.location(), type(error).__name__, rollback_error)
            if committing and _is_busy(error):
                raise LockTimeoutError(
                    self.name, self.lock_timeout, f"{error}: readers kept the database busy at COMMIT; it was rolled back"
                ) from error
            raise

    def _take_write_lock(self) -> None:
        """``BEGIN IMMEDIATE``: at once if the lock is free, else say so in the log and wait."""
        lock_timeout = self.lock_timeout
        try:
            self._set_busy_timeout(0)
            try:
                self._run("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
            logger.info("waiting up to %g s for another runner's write lock on %s", lock_timeout, self.location())
            self._set_busy_timeout(lock_timeout)
            try:
                self._run("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _is_busy(error):
                    raise LockTimeoutError(self.name, lock_timeout, error) from error
                raise
        finally:
            self._set_busy_timeout(lock_timeout)

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
    history_columns_sql = (
        "SELECT p.name, p.\"notnull\", p.dflt_value IS NOT NULL, m.type = 'table' FROM main.sqlite_master m "
        "JOIN pragma_table_info(m.name, 'main') p WHERE m.name = ? COLLATE NOCASE AND m.type IN ('table', 'view')"
    )

    @property
    def history_table(self) -> str:
        return f"main.{HISTORY_TABLE}"

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        self.statements += 1
        rows = self.connection.execute(sql, params or ()).fetchall()
        self.rows_read += len(rows)
        return rows

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
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
        if isinstance(error, sqlite3.IntegrityError):
            return True
        return isinstance(error, sqlite3.OperationalError) and not _is_busy(error) and not _is_read_only(error) and (
            "no such column" in str(error) or "may not be modified" in str(error) or "cannot modify" in str(error)
        )

    # -- foreign keys: enforcement is off while migrations run, so check what it would have refused --

    def execute(self, statement: str) -> None:
        if not self._writes_prepared:  # a migration outside a transaction, before any write transaction
            self._prepare_writes()
        # a statement starting with CREATE cannot leave a row without its parent (a new table is empty)
        if self._violations_before is None and first_word(statement, self.name) != "CREATE":
            self._violations_before = self._foreign_key_violations()
        self._run(statement)

    def _foreign_key_violations(self) -> "Union[List[Violation], str]":
        """Every row of main whose foreign key finds no parent; SQLite's message if it cannot check."""
        try:
            rows = self._query("PRAGMA main.foreign_key_check")
        except sqlite3.OperationalError as error:  # "foreign key mismatch": a key SQLite cannot check
            if _is_busy(error) or _is_read_only(error):
                raise
            return str(error)
        return [(as_text(table), rowid, as_text(parent)) for table, rowid, parent, _ in rows]

    def check_integrity(self, planned: "PlannedMigration", phase: str, rolled_back: bool) -> None:
        """Raise :class:`ForeignKeyViolationError` if the statements left rows without their parent.

        Violations that existed before the migration's first statement that
        could orphan a row (written while enforcement was off) are not its
        doing and are left alone; statements that only CREATE are not checked.
        """
        before, self._violations_before = self._violations_before, None
        if before is None:
            return
        after = self._foreign_key_violations()
        if isinstance(after, str):
            if after == before:
                logger.warning("foreign keys of %s cannot be checked (%s); not checked after V%s", self.location(), after, planned.version)
                return
            raise ForeignKeyViolationError(planned, [], 0, rolled_back, phase, detail=f"SQLite cannot check its foreign keys any more ({after})")
        new = _new_violations([] if isinstance(before, str) else before, after)
        if new:
            raise ForeignKeyViolationError(planned, new[:_VIOLATIONS_SHOWN], len(new), rolled_back, phase)

    def split_statements(self, sql: str) -> List[str]:
        return split_sqlite_statements(sql)

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        from ..drift import sqlite_schema_drift

        self.statements += 1
        return sqlite_schema_drift(self.connection, applied)

    def schema_objects(self) -> FrozenSet[str]:
        self.statements += 1
        return sqlite_schema_objects(self.connection)

    def transaction_open(self) -> bool:
        return self.connection.in_transaction

def _new_violations(before: List[Violation], after: List[Violation]) -> List[Violation]:
    """The violations of ``after`` that ``before`` does not account for.

    Counted per (child table, parent table), because a rebuilt table's rows
    may get new rowids; within a group that grew, rows seen before are
    listed last.
    """
    counted_before = Counter((table, parent) for table, _, parent in before)
    seen_before = set(before)
    grown: Dict[Tuple[str, str], int] = {}
    for key, count in Counter((table, parent) for table, _, parent in after).items():
        if count > counted_before.get(key, 0):
            grown[key] = count - counted_before.get(key, 0)
    new: List[Violation] = []
    for key, extra in grown.items():
        rows = sorted((v for v in after if (v[0], v[2]) == key), key=lambda v: v in seen_before)
        new.extend(rows[:extra])
    return new
