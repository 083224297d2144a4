"""What psycopg's errors mean: a lost connection, a server short of resources, a timeout, a lock conflict.

:class:`DriverErrors` is the part of
:class:`~nocodo_agents.dialects.postgresql.PostgreSQLDialect` that turns a
psycopg error leaving the session into the named error a caller can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import DatabaseAccessError, MigrationFailedError, SchemaReplayError, SessionTimeoutError
from ...excerpt import quote_message
from ...urls import redact
from ..interruptions import cancelled_error, interrupted, left_unfinished, lock_conflict_error, timeout_error

#: SQLSTATE classes of a server short of something, not of a statement's fault: 53 insufficient resources
#: (disk full, out of memory, temp_file_limit), 58 system error (I/O).
_RESOURCE_CLASSES = ("53", "58")
#: SQLSTATE of a write refused by a read-only transaction (a hot standby, default_transaction_read_only).
_READ_ONLY_TRANSACTION = "25006"
#: SQLSTATEs of a statement stopped over another session's locks: deadlock_detected, serialization_failure.
_LOCK_CONFLICT_STATES = ("40P01", "40001")


class DriverErrors:
    """psycopg errors as named errors (mixed into the dialect; needs its connection, :meth:`_query` and :meth:`location`)."""

    connection: Any

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def location(self) -> str: ...

    def _driver_error(self) -> type[BaseException]:
        import psycopg

        return psycopg.Error

    def _connection_open(self) -> bool:
        return not self.connection.closed

    def _lost(self, error: BaseException | None) -> bool:
        """Whether ``error`` means the connection to the server failed (rather than a statement)."""
        import psycopg

        if not isinstance(error, psycopg.OperationalError):
            return False
        state = getattr(error, "sqlstate", None)
        return self.connection.closed or state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")

    def _environmental(self, error: BaseException | None) -> bool:
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
        failed: MigrationFailedError | None = None
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
                    "history row, so the history says exactly what was applied (nocodo_agents.status.migration_status(conn), "
                    "the command line's status): look, then run again once the server is reachable."
                )
            return DatabaseAccessError(
                database=self.location(), problem=f"the connection to the server failed ({message}). {left}",
                unfinished=left_unfinished(failed),
            )
        if failed is not None:
            return DatabaseAccessError(
                database=self.location(),
                problem=f"PostgreSQL could not run a migration's statement for a reason outside its SQL ({message}). "
                f"{interrupted(failed)} Fix the cause (free disk space, raise the limit named, or migrate on a "
                f"server that may write), then run again.",
                unfinished=left_unfinished(failed),
            )
        return DatabaseAccessError(
            database=self.location(),
            problem=f"PostgreSQL reported: {message}. Each migration commits together with its history row, so the "
            f"history says exactly what was applied: fix the cause, then run again.",
        )

    @staticmethod
    def _timeout_setting(error: BaseException | None) -> str | None:
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

    def _refused_by_table(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, (psycopg.errors.IntegrityError, psycopg.errors.DataError)) or (
            isinstance(error, psycopg.errors.ProgrammingError) and not isinstance(error, psycopg.errors.InsufficientPrivilege)
        ) or isinstance(error, psycopg.errors.RaiseException)

    def _pool_starved(self, error: BaseException) -> DatabaseAccessError | None:
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
                "The history says what was applied (nocodo_agents.status.migration_status(conn), the command line's status): "
                "a migration outside a transaction is recorded only "
                "once all its statements ran (with a pool of one, none of them could run)."
            )
        return DatabaseAccessError(
            database=self.location(),
            problem=f"PgBouncer found no free server connection for it within query_wait_timeout while this runner's second "
            f"connection held the migration lock in another: a `transactional = False` migration needs two server "
            f"connections at once (one holding the lock, one running the migration), and the pool gives this database "
            f"and user fewer. {left} Let the pool give at least two (default_pool_size or the database's pool_size, "
            f"max_db_connections, max_user_connections), or run the migrations on a direct connection, then run again.",
        )
