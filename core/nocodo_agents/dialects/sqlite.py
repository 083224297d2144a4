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
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, FrozenSet, Iterator, List, Optional, Sequence

from ..errors import ConnectionStateError, DatabaseAccessError, LockTimeoutError
from ..history import HISTORY_TABLE
from .base import Dialect

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

def split_sqlite_statements(sql: str) -> List[str]:
    """Split SQL text into complete statements, using SQLite's own tokenizer rules.

    Semicolons inside strings, comments and trigger bodies do not split.
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


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _is_read_only(error: BaseException) -> bool:
    cause: "BaseException | None" = error
    while cause is not None:
        if isinstance(cause, sqlite3.OperationalError) and "readonly" in str(cause):
            return True
        cause = cause.__cause__
    return False


class SQLiteDialect(Dialect):
    """A :class:`sqlite3.Connection`."""

    name = "sqlite"
    connection: sqlite3.Connection

    def ensure_idle(self) -> None:
        if getattr(self.connection, "autocommit", None) is False:
            raise ConnectionStateError(
                "this sqlite3 connection was opened with autocommit=False, so it always holds an "
                "open transaction and the runner cannot take the write lock: open it with the "
                "default autocommit setting (or autocommit=True) for migrations"
            )
        if self.connection.in_transaction:
            raise ConnectionStateError(
                "the sqlite3 connection is inside a transaction: commit or roll back your own work "
                "before running migrations (the runner never commits or rolls back work that is "
                "not its own)"
            )

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        connection = self.connection
        saved_isolation = connection.isolation_level
        saved_timeout = self._query("PRAGMA busy_timeout")[0][0]
        self.lock_timeout = lock_timeout
        connection.isolation_level = None
        self._run(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        try:
            yield
        except BaseException:
            self._restore(saved_timeout, saved_isolation, quietly=True)  # keep the original error
            raise
        self._restore(saved_timeout, saved_isolation, quietly=False)

    def _restore(self, busy_timeout: int, isolation_level: Any, quietly: bool) -> None:
        try:
            self._run(f"PRAGMA busy_timeout = {int(busy_timeout)}")
            self.connection.isolation_level = isolation_level
        except sqlite3.Error:
            if not quietly:
                raise

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        self._take_write_lock()
        committing = False
        try:
            yield
            committing = True
            self._run("COMMIT")  # may wait for readers (rollback journal): within the busy timeout
        except BaseException as error:
            if self.connection.in_transaction:
                self._run("ROLLBACK")
            if _is_read_only(error):
                raise DatabaseAccessError(
                    self.location(),
                    "it is read-only (file permissions, a read-only mount, or ?mode=ro): nothing was "
                    "changed. Run the migrations with write access to the file and its directory.",
                ) from error
            if committing and isinstance(error, sqlite3.OperationalError) and _is_busy(error):
                raise LockTimeoutError(
                    self.name, self.lock_timeout, f"{error}: readers kept the database busy at COMMIT; it was rolled back"
                ) from error
            raise

    def _take_write_lock(self) -> None:
        """``BEGIN IMMEDIATE``: at once if the lock is free, else say so in the log and wait."""
        lock_timeout = self.lock_timeout
        try:
            self._run("PRAGMA busy_timeout = 0")
            try:
                self._run("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
            logger.info("waiting up to %g s for another runner's write lock on %s", lock_timeout, self.location())
            self._run(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
            try:
                self._run("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _is_busy(error):
                    raise LockTimeoutError(self.name, lock_timeout, error) from error
                raise
        finally:
            self._run(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")

    def location(self) -> str:
        """The database file's path (``:memory:`` for an in-memory database)."""
        for _, name, path in self.connection.execute("PRAGMA database_list"):
            if name == "main":
                return path or ":memory:"
        return ":memory:"

    placeholder = "?"
    history_columns_sql = "SELECT name FROM pragma_table_info(?)"

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        self.statements += 1
        return self.connection.execute(sql, params or ()).fetchall()

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        self.statements += 1
        self.connection.execute(sql, params or ())

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
