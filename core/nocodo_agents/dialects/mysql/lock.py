"""The MySQL migration lock: a session-level ``GET_LOCK`` named after the database, held from the run's first write to its end.

The server frees it by itself when the connection ends, so a runner that
dies does not block the others (one that hangs holds it until the server's
``wait_timeout``). Waiting for it follows
:func:`~nocodo_agents.dialects.lock_wait.take_lock`: ``GET_LOCK(name, 0)``
first, then one ``GET_LOCK`` that waits up to ``lock_timeout``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from ..lock_wait import LockStillHeld, take_lock

_LOCK_PREFIX = "nocodo_agents.migrations:"
#: MySQL refuses lock names longer than this (MariaDB does not limit them).
_MAX_LOCK_NAME = 64


def migration_lock_name(database: str) -> str:
    """The ``GET_LOCK`` name guarding ``database``'s migrations, at most 64 characters.

    ``nocodo_agents.migrations:<database>``; a database name too long for
    that is replaced by its SHA-256, cut to fit.
    """
    name = _LOCK_PREFIX + database
    if len(name) <= _MAX_LOCK_NAME:
        return name
    return _LOCK_PREFIX + hashlib.sha256(database.encode("utf-8")).hexdigest()[: _MAX_LOCK_NAME - len(_LOCK_PREFIX)]


class MigrationLock:
    """Taking and releasing the migration lock (mixed into the dialect; needs its :meth:`_query`)."""

    name: str
    lock_timeout: float
    #: The lock's name for this run's database (see :func:`migration_lock_name`), set when the session starts.
    _lock_name: str = ""
    #: Whether this runner holds the lock.
    _lock_held: bool = False

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _is_mariadb(self) -> bool: ...

        def _restore(self, what: str, action: Callable[[], Any], quietly: bool) -> None: ...

        def location(self) -> str: ...

    def _take_migration_lock(self) -> None:
        """``GET_LOCK`` at once if free, else log that this runner waits, then wait up to ``lock_timeout`` (once per run)."""
        if self._lock_held:
            return
        take_lock(
            lambda: self._get_lock(0),
            self._wait_for_lock,
            dialect=self.name,
            lock_timeout=self.lock_timeout,  # validated >= 0 by the runner
            lock=f"migration lock {self._lock_name!r}",
            where=self.location,
        )
        self._lock_held = True

    def change_token(self) -> int | None:
        """While this session holds the migration lock: a constant, and no statement.

        The lock is session-level and held from the run's first write
        transaction to its end, so no other runner can take it and write the
        history (or the journal) between two of this run's transactions: the
        history is what this run last confirmed plus what it wrote. (A writer
        that takes no lock, a hand-written ``INSERT``, is not a runner; the
        guard never protected against one writing during a transaction
        either.) The apply loop then skips the guard query, which counts and
        sums the whole history, and the journal read: two statements and
        O(n) rows per migration. Before the lock is taken: ``None``.
        """
        return 0 if self._lock_held else None

    def _wait_for_lock(self, timeout: float) -> None:
        if not self._get_lock(timeout):
            raise LockStillHeld()

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

    def _release_lock(self, quietly: bool) -> None:
        """``RELEASE_LOCK``; on a closed connection nothing (the server released it with the session)."""
        self._lock_held = False
        self._restore(
            f"the session's locks (RELEASE_LOCK of {self._lock_name!r})",
            lambda: self._query("SELECT RELEASE_LOCK(%s)", (self._lock_name,)),
            quietly,
        )
