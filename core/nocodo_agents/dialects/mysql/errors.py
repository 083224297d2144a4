"""What PyMySQL's errors mean: a lost connection, a read-only server, a denied privilege, a timeout, a lock conflict.

:class:`DriverErrors` is the part of
:class:`~nocodo_agents.dialects.mysql.MySQLDialect` that turns a PyMySQL
error leaving the session into the named error a caller can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pymysql
from pymysql.constants import ER

from ...errors import ConnectionStateError, DatabaseAccessError, MigrationFailedError, SchemaReplayError, SessionTimeoutError
from ...excerpt import quote_message
from ...urls import redact
from ..history_table import as_text
from ..interruptions import cancelled_error, interrupted, left_unfinished, lock_conflict_error, timeout_error

#: Error codes meaning the server or the user may not write (1792: a READ ONLY transaction).
#: ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the session's (not the server's) transactions are read-only.
SESSION_READ_ONLY = 1792
READ_ONLY = frozenset({ER.OPTION_PREVENTS_STATEMENT, ER.READ_ONLY_TRANSACTION, ER.OPEN_AS_READONLY, SESSION_READ_ONLY})
DENIED = frozenset(
    {
        ER.DBACCESS_DENIED_ERROR,
        ER.ACCESS_DENIED_ERROR,
        ER.TABLEACCESS_DENIED_ERROR,
        ER.COLUMNACCESS_DENIED_ERROR,
        ER.SPECIFIC_ACCESS_DENIED_ERROR,
    }
)

#: Client error codes of a connection that failed (gone away, lost, cannot connect).
CONNECTION_LOST = frozenset({2006, 2013, 2003, 2055, 0})

#: Error codes of a statement cancelled by a session timeout, and the setting that fired: MariaDB's
#: ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT (SELECT statements only).
TIMEOUT_SETTINGS = {1969: "max_statement_time", 3024: "max_execution_time"}


def error_code(error: BaseException) -> int | None:
    """The server's (or the client's) error number of a PyMySQL error, if it has one."""
    if isinstance(error, pymysql.err.MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


def error_message(error: BaseException) -> str:
    """The server's message of a PyMySQL error, without its code."""
    if isinstance(error, pymysql.err.MySQLError) and len(error.args) > 1:
        return str(error.args[1])
    return str(error)


def access_problem(error: BaseException) -> str | None:
    """What keeps the run from writing, if ``error`` says so; ``None`` for any other error."""
    code = error_code(error)
    if code == SESSION_READ_ONLY:
        return (
            f"the connection's transactions are read-only ({error_message(error)}): the session has "
            f"SET SESSION TRANSACTION READ ONLY (tx_read_only = 1). Run SET SESSION TRANSACTION READ WRITE on it, "
            f"or pass a connection that may write."
        )
    if code in READ_ONLY:
        return (
            f"it is read-only ({error_message(error)}): a replica, or read_only/super_read_only/innodb_read_only "
            f"is set. Run the migrations against the primary server."
        )
    if code in DENIED:
        return (
            f"the user may not do what the migrations need ({error_message(error)}). Grant it SELECT, INSERT, "
            f"UPDATE, DELETE, CREATE, ALTER, DROP, INDEX and REFERENCES on the database, or run the "
            f"migrations as a user who has them."
        )
    return None


class DriverErrors:
    """PyMySQL errors as named errors (mixed into the dialect; needs its connection, :meth:`_query` and :meth:`location`)."""

    connection: Any

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def location(self) -> str: ...

    def _driver_error(self) -> type[BaseException]:
        return pymysql.err.MySQLError

    def _connection_open(self) -> bool:
        return bool(self.connection.open)

    def _lost(self, error: BaseException | None) -> bool:
        """Whether ``error`` means the connection to the server failed (rather than a statement)."""
        if not isinstance(error, pymysql.err.MySQLError):
            return False
        return error_code(error) in CONNECTION_LOST or not self.connection.open

    def _named_error(self, error: BaseException) -> BaseException:
        """A PyMySQL error leaving the session, as the named error a caller can act on (others pass through).

        A migration whose statement failed because the connection did (the
        server stopped, the connection was killed) is reported as the
        connection's failure, naming the migration and what it left.
        """
        driver_error = error.__cause__ if isinstance(error, (MigrationFailedError, SchemaReplayError)) else error
        code = error_code(driver_error) or 0
        setting = TIMEOUT_SETTINGS.get(code)
        if setting is not None and self.connection.open:
            return self._timeout_error(setting, error)
        if code == ER.QUERY_INTERRUPTED and self.connection.open:
            return cancelled_error(self.location(), error, quote_message(error_message(driver_error)))
        if code in (ER.LOCK_DEADLOCK, ER.LOCK_WAIT_TIMEOUT) and self.connection.open:
            return lock_conflict_error(
                self.location(), error, quote_message(redact(error_message(driver_error))),
                "information_schema.INNODB_TRX and SHOW PROCESSLIST",
            )
        failed: MigrationFailedError | None = None
        if isinstance(error, MigrationFailedError) and self._lost(error.__cause__):
            failed, error = error, error.__cause__  # type: ignore[assignment]
        if not isinstance(error, pymysql.err.MySQLError):
            return error
        if error_code(error) == ER.TABLE_NOT_LOCKED:
            return ConnectionStateError(
                problem=f"the PyMySQL connection holds table locks (LOCK TABLES), which the runner's transactions would "
                f"release ({error_message(error)}): release them with UNLOCK TABLES before running migrations (the "
                f"runner never ends what is not its own)"
            )
        message = quote_message(redact(error_message(error)))
        if self._lost(error):
            if failed is not None:
                left = interrupted(failed) + ("" if failed.journalled else " Run again once the server is reachable.")
            else:
                left = (
                    "A migration stopped part-way is kept in the journal and the next run says so; otherwise the "
                    "history says exactly what was applied (nocodo_agents.status.migration_status(conn), the command line's "
                    "status): look, then run again once the server is reachable."
                )
            return DatabaseAccessError(
                database=self.location(), problem=f"the connection to the server failed ({message}). {left}",
                unfinished=left_unfinished(failed),
            )
        problem = access_problem(error)
        return DatabaseAccessError(
            database=self.location(),
            problem=problem if problem is not None else f"the server reported: {message}. Fix the cause, then run again.",
        )

    def _timeout_error(self, setting: str, error: BaseException) -> SessionTimeoutError:
        """:class:`SessionTimeoutError` for ``error``, a statement cancelled by the session's ``setting``."""
        try:
            value = as_text(self._query(f"SELECT @@SESSION.{setting}")[0][0])
        except pymysql.err.MySQLError:
            value = "(unknown: the server did not answer)"
        return timeout_error(self.location(), setting, value, error)

    def _refused_by_table(self, error: BaseException) -> bool:
        return isinstance(error, (pymysql.err.IntegrityError, pymysql.err.DataError)) or error_code(error) in (
            # 1471: not insertable; 4025, 3819: CHECK failed (MariaDB, MySQL)
            ER.BAD_FIELD_ERROR, ER.NO_DEFAULT_FOR_FIELD, ER.NON_UPDATABLE_TABLE, 1471, 1288, 4025, 3819,
        )
