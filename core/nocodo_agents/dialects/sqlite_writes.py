"""SQLite writes: what is refused before the first write, the pragmas pinned for it, and the write transaction.

The caller's values of the pinned pragmas are kept and put back when the
session ends (:meth:`~nocodo_agents.dialects.sqlite.SQLiteDialect.session`).
Each unit of work is ``BEGIN IMMEDIATE`` ... ``COMMIT`` (:class:`WriteTransactions`),
which takes the database's write lock before history is read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from ..errors import ConnectionStateError, DatabaseAccessError, LockTimeoutError
from .sqlite_errors import is_busy

if TYPE_CHECKING:  # pragma: no cover
    from .history_writes import HistoryValues

logger = logging.getLogger("nocodo_agents")

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


class PinnedPragmas:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that prepares the connection for writes."""

    #: The connection's pragma values when the session began, where the runner changed them.
    _changed_pragmas: dict[str, int]
    #: Pragma values read from the connection (``busy_timeout``, ``query_only`` and the pinned ones).
    _settings: dict[str, int]
    _writes_prepared: bool

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def location(self) -> str: ...

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
                problem=f"the sqlite3 connection has PRAGMA journal_mode = {journal_mode.upper()}: "
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
                database=self.location(),
                problem="the connection has PRAGMA query_only = ON, so it may not write: nothing was changed. Run "
                "the migrations on a connection that may write.",
            )
        if foreign:
            listed = ", ".join(f"{kind} {name}" for kind, name in foreign)
            raise ConnectionStateError(
                problem=f"the sqlite3 connection sees more than its main database ({listed}): unqualified names "
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


class WriteTransactions:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that opens, commits and rolls back its write transactions.

    Also a grouped run's history rows, written in one call (:meth:`insert_history_rows`).
    """

    name: ClassVar[str]
    connection: sqlite3.Connection
    lock_timeout: float
    _writes_prepared: bool
    #: The busy timeout (ms) this session last set on the connection (``None``: not known).
    _busy_ms: int | None
    #: The busy timeout is 0 after a write transaction that took the lock at once (see :meth:`write_transaction`).
    _waits_unset: bool
    _violations_before: Any

    if TYPE_CHECKING:  # provided by the dialect

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _prepare_writes(self) -> None: ...

        def _set_busy_timeout(self, seconds: float) -> None: ...

        def _wait_again(self) -> None: ...

        def location(self) -> str: ...

        @property
        def history_insert(self) -> str: ...

        def _refused_by_table(self, error: BaseException) -> bool: ...

        def _write_history_refused(self, version: int, error: BaseException) -> NoReturn: ...

        def _history_row_ignored(self, version: int) -> NoReturn: ...

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        @property
        def history_table(self) -> str: ...

    statements: int

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
        with self._ending_transaction():
            yield

    @contextmanager
    def _ending_transaction(self, readers_met: bool = False) -> Iterator[None]:
        """The end of a write transaction already open: ``COMMIT`` if the block succeeds, else ``ROLLBACK`` (see :meth:`write_transaction`).

        ``readers_met``: a ``COMMIT`` of this transaction was already refused
        as busy; the next waits for the readers at once.
        """
        committing = False
        try:
            yield
            committing = True
            if readers_met:
                self._commit_after_readers()
            else:
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

    def insert_history_rows(self, rows: Sequence[HistoryValues]) -> None:
        """The rows in one ``executemany`` call (one statement each, counted so); a refused row is named by its version.

        ``executemany`` takes the next row only once the one before was
        written, so the last row handed to it is the one that failed.
        """
        if self._waits_unset:
            self._wait_again()
        last = [0, 0]  # the version of the last row handed over, and how many were

        def handed() -> Iterator[HistoryValues]:
            for values in rows:
                last[0] = values[0]
                last[1] += 1
                yield values

        try:
            written = self.connection.executemany(self.history_insert, handed()).rowcount
        except Exception as error:
            if not self._refused_by_table(error):
                raise
            self._write_history_refused(last[0], error)
        finally:
            self.statements += last[1]
        if written < len(rows):  # the rows each INSERT wrote itself, summed (its triggers' not counted)
            self._history_row_ignored(self._first_unwritten([values[0] for values in rows]))

    def _first_unwritten(self, versions: Sequence[int]) -> int:
        """The first of ``versions`` the history does not hold (after a row count fell short: one statement)."""
        held = {int(row[0]) for row in self._query(f"SELECT version FROM {self.history_table} WHERE version IN ({', '.join(map(str, map(int, versions)))})")}
        return next((version for version in versions if version not in held), versions[-1])

    def _commit(self) -> None:
        """``COMMIT``: at once, or once readers finished (logged, within the lock timeout)."""
        try:
            self._run("COMMIT")
        except sqlite3.OperationalError as error:
            if self._busy_ms != 0 or not is_busy(error) or not self.connection.in_transaction:
                raise
            self._commit_after_readers()

    def _commit_after_readers(self) -> None:
        """``COMMIT`` once the readers that refused the last one finished (logged; the busy timeout is the lock timeout)."""
        logger.info("waiting up to %g s for readers of %s to finish, to commit", self.lock_timeout, self.location())
        self._set_busy_timeout(self.lock_timeout)
        self._run("COMMIT")

    def _take_write_lock(self) -> None:
        """``BEGIN IMMEDIATE``: at once if the lock is free, else say so in the log and wait (SQLite's busy timeout)."""
        self._set_busy_timeout(0)  # no statement after a transaction that took the lock at once
        if self._begin_now():
            return  # the lock was free: the usual case, with nothing to log
        from .lock_wait import take_lock  # writes only: not on the no-op path

        take_lock(
            _held_just_now, self._begin_waiting, dialect=self.name, lock_timeout=self.lock_timeout, lock="write lock", where=self.location
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


def _held_just_now() -> bool:
    """:func:`~.lock_wait.take_lock`'s first try, already made (:meth:`WriteTransactions._begin_now`): the lock was held."""
    return False
