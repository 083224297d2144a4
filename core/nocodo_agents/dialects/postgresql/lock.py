"""The PostgreSQL migration lock: how it is waited for, and the guard connection that holds it outside a transaction.

The lock is the transaction-level advisory lock ``pg_advisory_xact_lock`` on
one key per database, taken first in a ``READ COMMITTED`` transaction. Living
inside one transaction, it works behind PgBouncer in transaction pooling mode
(a session-level lock would stay on a server connection other clients get).

**Waiting without blocking ``CREATE INDEX CONCURRENTLY``.** A concurrent index
build waits, before it ends, for every transaction of the database that holds
a snapshot older than its own (``WaitForOlderSnapshots`` in PostgreSQL's
``indexcmds.c``), and once it waits for a transaction it waits for that whole
transaction to end. A runner blocked inside ``SELECT pg_advisory_xact_lock()``
holds a snapshot while it waits for the lock, which the build's runner holds
until the build ends: a deadlock PostgreSQL cannot see, broken only by
``lock_timeout``. So a runner never blocks on the lock: it tries
``pg_try_advisory_xact_lock`` in a fresh transaction, rolls that transaction
back when the lock is held, sleeps (10 ms, doubling up to 250 ms), and tries
again until ``lock_timeout`` has passed. Each try's transaction is over within
one round trip, so a build waits for it at most that long. (No ``SET
lock_timeout`` is involved: the migration's own statements run with the
session's setting.)

**Holding it outside a transaction.** A ``transactional = False`` migration
runs in autocommit, so the lock cannot live in its connection's transaction.
A second connection, the guard, opened with the caller's connection parameters
(password included), takes the lock the same way and then sits idle in its
``READ COMMITTED`` transaction while the migration runs. Idle, with no
transaction id and no snapshot (``xmin`` zero), it is one of the transactions
a concurrent index build does not wait for. Its ``idle_in_transaction_session_timeout``
(and, from PostgreSQL 17, ``transaction_timeout``) is switched off for that
transaction so the server does not end it while a long build runs. The guard is
rolled back and closed however the migration ends.

**Index builds that outlive their runner.** A runner killed during a
``CREATE INDEX CONCURRENTLY`` (SIGKILL, OOM) loses its guard at once, and the
lock with it, but its server process goes on building the index until the
build ends. A runner that took the lock then would run its own concurrent
build (or ``ALTER TABLE``) on the same table and deadlock with that orphan
(each waits for the other's transaction), or find the index half-built. So
once the guard holds the lock the runner waits, polling
``pg_stat_progress_create_index`` from its own connection in autocommit (a
transaction sees other sessions' activity as it was at its first look), until
no other session of the database builds an index, within ``lock_timeout``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from ...errors import DatabaseAccessError, LockTimeoutError
from ..lock_wait import LockStillHeld, pauses, poll_until, take_lock

logger = logging.getLogger("nocodo_agents")

#: The advisory lock key: one per database (advisory locks are scoped to the current database).
LOCK_KEY = "hashtext('nocodo_agents.migrations')"
#: Every unit of work of the runner (and of the guard) starts so.
BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
TRY_LOCK = f"SELECT pg_try_advisory_xact_lock({LOCK_KEY})"
#: The server processes building an index in this database, other than the one asking (PostgreSQL 12 and later).
_OTHER_BUILDS = (
    "SELECT coalesce(array_agg(pid ORDER BY pid), '{}') FROM pg_stat_progress_create_index "
    "WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND pid <> pg_backend_pid()"
)
#: ``query(sql)``: send one statement (counted by the caller) and return its rows.
Query = Callable[[str], list[Any]]


def begin_locked(query: Query, lock_timeout: float, location: str, try_now: Callable[[], bool] | None = None) -> None:
    """Open a transaction holding the migration lock, waiting for it without holding a snapshot.

    On return the transaction is open and holds the lock. Raises
    :class:`LockTimeoutError` (no transaction open) when the lock was still
    held after ``lock_timeout`` seconds; logs once that it waits (see
    :func:`~nocodo_agents.dialects.lock_wait.take_lock`). Each try is a
    transaction of its own, rolled back when the lock is held; between
    tries the runner sleeps (10 ms, doubling up to 250 ms). ``try_now``, if
    given, is one try (a transaction left open holding the lock: ``True``;
    else rolled back: ``False``) sent otherwise than statement by statement
    (the runner's connection: one message, see :mod:`.batched`).
    """

    def one_by_one() -> bool:
        query(BEGIN)
        if query(TRY_LOCK)[0][0]:
            return True
        query("ROLLBACK")
        return False

    attempt = one_by_one if try_now is None else try_now

    def wait(timeout: float) -> None:
        if int(timeout * 1000) < 1:
            raise LockStillHeld("the lock is held and lock_timeout is 0")
        poll_until(attempt, timeout)

    take_lock(attempt, wait, dialect="postgresql", lock_timeout=lock_timeout, lock="migration lock", where=lambda: location)


def wait_for_other_index_builds(query: Query, lock_timeout: float, location: str, started: float) -> None:
    """Return once no other session of the database builds an index; :class:`LockTimeoutError` once ``lock_timeout``
    has passed since ``started`` (``time.monotonic()`` when the wait for the lock began: one wait in all).

    Each poll is one short statement in a transaction of its own (``query``
    in autocommit), so a build waits for none of them and each sees the
    server's activity anew.
    """
    deadline = started + lock_timeout
    ticks = pauses(deadline)
    logged = False
    while True:
        building = query(_OTHER_BUILDS)[0][0]
        if not building:
            return
        pids = ", ".join(str(pid) for pid in building)
        if time.monotonic() >= deadline:
            raise LockTimeoutError(
                dialect="postgresql",
                waited_seconds=lock_timeout,
                cause=f"this runner holds the lock, but server process(es) {pids} of {location} still build an index "
                f"(a runner killed during CREATE INDEX CONCURRENTLY leaves its build running; see "
                f"pg_stat_progress_create_index): migrations outside a transaction wait for such builds to end",
            )
        if not logged:
            logger.info(
                "waiting up to %g s for the index build(s) of server process(es) %s on %s (a runner killed during "
                "a build leaves it running) before running a migration outside a transaction", lock_timeout, pids, location,
            )
            logged = True
        next(ticks, None)


def connection_parameters(connection: Any) -> dict[str, str]:
    """Every libpq connection option ``connection`` was opened with (password included), to open another like it."""
    return {
        option.keyword.decode(): option.val.decode()
        for option in connection.pgconn.info
        if option.val is not None
    }


class LockGuard:
    """A second connection holding the migration lock in an idle ``READ COMMITTED`` transaction."""

    def __init__(self, connection: Any, count: Callable[[], None]) -> None:
        """Open the guard like ``connection`` (autocommit, nothing prepared: PgBouncer); ``count`` counts each statement."""
        import psycopg

        self._count = count
        try:
            self.connection = psycopg.connect(autocommit=True, prepare_threshold=None, **connection_parameters(connection))
        except psycopg.Error as error:
            raise DatabaseAccessError(
                database=_location(connection),
                problem=f"could not open a second connection to hold the migration lock while a `transactional = False` "
                f"migration runs outside a transaction ({str(error).strip()}): nothing of it ran. Allow one more "
                f"connection for the run (max_connections, a pooler's limit), then run again.",
            ) from error

    def _query(self, sql: str) -> list[Any]:
        from psycopg.rows import tuple_row

        self._count()
        with self.connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(sql, prepare=False)
            return cursor.fetchall() if cursor.description else []

    def hold(self, lock_timeout: float, location: str) -> None:
        """Take the lock (waiting as :func:`begin_locked` does) and stay idle in the transaction holding it."""
        begin_locked(self._query, lock_timeout, location)
        settings = ["SET LOCAL idle_in_transaction_session_timeout = 0"]
        if self.connection.info.server_version >= 170000:
            settings.append("SET LOCAL transaction_timeout = 0")
        self._query("; ".join(settings))

    def release(self) -> None:
        """Roll back (freeing the lock) and close; a guard the server already ended is only closed."""
        import psycopg

        try:
            if not self.connection.closed and self.connection.info.transaction_status.name != "IDLE":
                self._query("ROLLBACK")
        except psycopg.Error as error:
            logger.warning("could not release the migration lock's guard connection cleanly: %s", error)
        finally:
            self.connection.close()


def _location(connection: Any) -> str:
    try:
        info = connection.info
        return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
    except Exception:  # a broken connection may not answer
        return "the PostgreSQL database"


@contextmanager
def guarded(connection: Any, lock_timeout: float, location: str, count: Callable[[], None], poll: Query) -> Iterator[None]:
    """The migration lock held by a :class:`LockGuard` for the duration, other index builds over; released and closed always.

    ``poll`` sends a statement on ``connection`` (in autocommit): it waits for
    the index builds of other sessions (see :func:`wait_for_other_index_builds`).
    """
    started = time.monotonic()
    guard = LockGuard(connection, count)
    try:
        guard.hold(lock_timeout, location)
        if guard.connection.info.server_version >= 120000:  # the progress view's first release
            wait_for_other_index_builds(poll, lock_timeout, location, started)
        yield
    finally:
        guard.release()


