"""What a database dialect offers the runner: the connection, locking, atomic work, history I/O.

The runner never branches on a dialect's name; everything that differs
between databases lives behind this interface, one module (or package) per
database. The parts every dialect shares are written once, beside it:
refinery's history table (:mod:`.history_table`), the statement journal
(:mod:`.journal`: a no-op unless DDL commits implicitly), waiting for a lock
(:mod:`.lock_wait`), and what an interrupted statement left behind
(:mod:`.interruptions`). Which database is which is :mod:`.registry`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NoReturn

from .history_table import HistoryTable, as_text
from .interruptions import cancelled_error, interrupted, lock_conflict_error, timeout_error
from .journal import Journal, UnfinishedMigration

if TYPE_CHECKING:  # pragma: no cover
    from ..adoption import Footprint
    from ..drift import DriftReport
    from ..planning import PlannedMigration

__all__ = [
    "Dialect",
    "Journal",
    "UnfinishedMigration",
    "as_text",
    "cancelled_error",
    "interrupted",
    "lock_conflict_error",
    "timeout_error",
]

logger = logging.getLogger("nocodo_agents")

#: One migration's script as :meth:`Dialect.migration_script` gives it: the text before its history
#: row's ``applied_on``, the text after it, and how many statements it holds.
ScriptParts = tuple[str, str, int]


class Dialect(HistoryTable, ABC):
    """One database connection seen through what migrations need.

    ``statements`` counts every statement sent to the server and
    ``rows_read`` the rows its queries returned, so tests can check how much
    work a run does without timing it.
    """

    #: The dialect name migrations receive: ``"sqlite"``, ``"postgresql"``, ``"mysql"``.
    name: ClassVar[str]

    #: Seconds to wait for another runner's lock; :meth:`session` sets it for the run.
    lock_timeout: float = 60.0

    #: Whether a migration's statements may assign session variables the runner saves and restores
    #: around it (MySQL: :class:`~nocodo_agents.schema.mysql_session.SessionVariableGuard`).
    session_variables: ClassVar[bool] = False

    #: Whether DDL runs inside transactions, so a failed migration leaves nothing behind.
    #: Dialects without it (MySQL) journal each statement instead: see :attr:`journal`.
    transactional_ddl: ClassVar[bool] = True

    #: Whether :meth:`split_statements` reads the text alone (not the server's version or settings),
    #: so that what a migration's SQL splits into may be remembered for the process (MySQL: no).
    text_only_syntax: ClassVar[bool] = True

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.statements = 0
        self.rows_read = 0
        #: Statements sent in one message with the one before (PostgreSQL: see
        #: :mod:`.postgresql.batched`), so that :attr:`round_trips` can tell them apart.
        self.batched_statements = 0
        #: Where statements are journalled as they run (:class:`~.journal.Journal`: nowhere, for transactional DDL).
        self.journal: Journal = Journal()
        #: Migration SQL already split and checked in this run, by (phase, text, transactional):
        #: its statements (see :func:`nocodo_agents.execution.checked_statements`).
        self.checked_sql: dict[tuple[str, str, bool], list[str]] = {}

    @abstractmethod
    def ensure_idle(self) -> None:
        """Raise :class:`ConnectionStateError` if the caller has a transaction open."""

    @abstractmethod
    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """Prepare the connection for a run (and take any session-wide lock); undo it afterwards."""

    @abstractmethod
    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """One atomic unit of work holding the write lock: committed on exit, rolled back on error."""

    @contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """Hold the migration lock, with no transaction open, while a ``transactional = False`` migration runs.

        Runners take turns on such migrations: the caller re-reads the history
        inside, runs the statements, and records them in a
        :meth:`write_transaction` opened inside, which does not wait for the
        lock again. The default holds nothing: SQLite has no lock that
        outlives a transaction (each of the migration's statements takes the
        write lock for itself).
        """
        yield

    def invalid_indexes(self, building: bool = True) -> list[str]:
        """Indexes the database marks unusable (a failed concurrent build), in any schema of the database.

        Checked after a ``transactional = False`` migration and by ``verify``;
        ``building=False`` leaves out those a session is building right now
        (``verify``: their build has not failed). Dialects without such a
        state answer with no statement.
        """
        return []

    # -- statements: the two primitives every dialect provides -----------------------------------

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        """Send one statement (values only as parameters), count it and its rows (:attr:`rows_read`), return the rows."""

    @abstractmethod
    def _run(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Send one statement (values only as parameters) and count it."""

    def execute(self, statement: str) -> None:
        """Run one statement of a migration."""
        self._run(statement)

    @abstractmethod
    def location(self) -> str:
        """Where the database is, for messages (never with a password)."""

    # -- driver errors, and putting the caller's session back --------------------------------------

    @abstractmethod
    def _driver_error(self) -> type[BaseException]:
        """The driver's base error class (imported only once a connection of the driver exists)."""

    def _named_error(self, error: BaseException) -> BaseException:
        """``error`` as the named error a caller can act on; errors of ours pass through as they are."""
        return error

    def _raise_named(self, error: BaseException) -> NoReturn:
        """Raise ``error``, which is leaving the session, as the error :meth:`_named_error` names it (from the original)."""
        named = self._named_error(error)
        if named is error:
            raise error
        raise named from error

    def _connection_open(self) -> bool:
        """Whether the connection can still take a statement (a closed one has nothing left to restore)."""
        return True

    def _restore(self, what: str, action: Callable[[], Any], quietly: bool) -> None:
        """Run ``action``, which puts the caller's ``what`` back on the session.

        A driver error raises its named error; with ``quietly`` (another
        error is on its way out, and must not be hidden) it is only logged.
        Nothing is done on a closed connection.
        """
        if not self._connection_open():
            return
        try:
            action()
        except self._driver_error() as error:
            if not quietly:
                raise self._named_error(error) from error
            logger.warning("could not restore %s on %s: %s", what, self.location(), error)

    # -- checks around a migration's statements ---------------------------------------------------

    def check_integrity(self, planned: PlannedMigration, phase: str, rolled_back: bool) -> None:
        """After a migration's (or rollback's) statements: raise if they left the data inconsistent.

        SQLite runs migrations with foreign-key enforcement off (so a table
        rebuild cannot cascade), and checks here what enforcement would have
        refused; other dialects enforce constraints as statements run.
        """

    @abstractmethod
    def split_statements(self, sql: str) -> list[str]:
        """Split a migration's SQL text into statements, in order."""

    @abstractmethod
    def schema_drift(self, applied: Sequence[PlannedMigration]) -> DriftReport:
        """Compare the live schema with what ``applied`` (in the order given) produce on a scratch database."""

    @abstractmethod
    def schema_objects(self) -> frozenset[str]:
        """The live schema as ``"table t"``, ``"index i"``, ``"column t.c"``... (history table excluded)."""

    @abstractmethod
    def schema_footprints(self, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
        """What each of ``pending`` creates and touches, its own SQL replayed in order on a scratch database."""

    def change_token(self) -> int | None:
        """In a write transaction: a value that differs from the one read in an earlier one if another connection committed in between.

        One statement, O(1) whatever the size of the history; ``None`` (no
        statement) where the database offers no such value, and the apply
        loop asks :meth:`history_guard` instead. Changes made through this
        connection do not change it.
        """
        return None

    def script_body(self, statements: Sequence[str]) -> str | None:
        """``statements`` as the middle of one script :meth:`commit_script` may send, or ``None`` (run them one by one).

        Only where no check is needed between them; pure, so the caller may
        remember the answer by the migration's text. The default: ``None``.
        """
        return None

    def commit_script(self, prelude: Sequence[str], body: str, count: int, rows: Sequence[tuple[Any, ...]], token: int) -> bool:
        """Take the write lock, run ``prelude`` and ``body`` and write ``rows`` in one call, then guard with ``token`` and commit.

        ``False`` when anything failed, with nothing of it left: the caller
        runs the same work through :meth:`write_transaction` and the
        per-statement path (SQLite: :mod:`.sqlite_scripts`). The default sends nothing.
        """
        return False

    def migration_script(self, body: str, count: int, version: int, name: str, checksum: str, agent: str | None) -> ScriptParts:
        """One migration's script for :meth:`commit_scripts`: ``body`` (:meth:`script_body`'s, ``count`` statements) and its history row.

        The text before and after the row's ``applied_on`` (read when the
        script is sent), and how many statements it holds. Only asked where
        :meth:`script_body` gave a body.
        """
        raise NotImplementedError(f"{type(self).__name__} sends no scripts")

    def commit_scripts(self, scripts: Sequence[ScriptParts], token: int, clock: Callable[[], str], durations: list[float]) -> None:
        """:meth:`commit_script` for each of ``scripts`` (:meth:`migration_script`'s) in turn, its ``applied_on`` from ``clock()``.

        Stops at the first that did not commit (nothing of it remains); the
        duration (ms) of each that did is appended to ``durations`` as it
        commits. The default sends nothing.
        """

    @contextmanager
    def recording_writes(self) -> Iterator[list[str | None] | None]:
        """Collect the statements sent inside, in order (``None`` for one sent with parameters), or yield ``None``.

        A grouped run's first look records its writes (the history table
        created) so that, rolled back, they can be sent again at the head of
        the run's one script (:meth:`commit_script`). The default records nothing.
        """
        yield None

    @property
    def round_trips(self) -> int:
        """Messages sent to the server and answered: :attr:`statements` less those that travelled with another."""
        return self.statements - self.batched_statements

    def expect_guard(self, version: int | None) -> None:
        """The next :meth:`write_transaction` will first ask :meth:`change_token` and ``history_guard(version)``.

        A dialect that can send several statements in one message asks them
        with its ``BEGIN`` (PostgreSQL); elsewhere nothing to do.
        """

    def hand_over(self) -> None:
        """Make the connection ready for a caller's statements between the runner's transactions (a progress callback).

        SQLite leaves its busy timeout at 0 between write transactions (see
        :meth:`~.sqlite.SQLiteDialect.write_transaction`) and sets the lock
        timeout back here (one statement, only then); elsewhere nothing to do.
        """

    def own_changes(self) -> tuple[int, ...] | None:
        """What this connection has changed so far, where :meth:`change_token` does not show it; else ``None``.

        SQLite's ``PRAGMA data_version`` ignores the connection's own commits,
        so what a progress callback writes through it would go unseen by the
        next guard: compared before and after the callback, this value tells
        whether it wrote a row or changed the schema (then the next guard
        reads the history). The default, ``None``: the token is read again
        after every callback.
        """
        return None

    def transaction_open(self) -> bool:
        """Whether the runner's transaction is still open on the connection (checked after each statement).

        Costs no statement. Dialects that cannot tell, or whose DDL ends
        transactions anyway (MySQL: the journal covers it), answer ``True``.
        """
        return True
