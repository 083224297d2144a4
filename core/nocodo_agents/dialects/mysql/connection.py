"""The caller's MySQL session: read before the run, set for what migrations need, and put back as it was afterwards.

The runner reads the session variables that would change what it reads
(``sql_select_limit``, the client character sets) before autocommit is
touched, and those that change what a migration does (foreign-key and
unique checks, ``sql_safe_updates``, ``sql_mode``: see
:func:`migration_sql_mode`) before the first write; only those the caller
changed are set (one statement) and put back when the session ends, with
autocommit and the migration lock (:meth:`CallerSettings._restore_caller_state`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import pymysql
from pymysql.constants import ER

from ...errors import ConnectionStateError
from ..history_table import as_text
from .errors import error_code

#: ``sql_select_limit`` meaning "no limit" (its maximum, and the server default).
_NO_SELECT_LIMIT = 18446744073709551615

#: Appended to the session-settings read before the first write: opening a table the caller has not locked
#: fails with ER_TABLE_NOT_LOCKED under ``LOCK TABLES`` (which ``START TRANSACTION`` would release), whatever
#: tables the caller locked. ``performance_schema.session_status`` exists on MySQL 5.7+ and MariaDB 10.5+, also
#: with the Performance Schema off, and every user may read it; ``ON 0`` reads no row of it.
_LOCK_TABLES_PROBE = " FROM (SELECT 1) AS nocodo_agents_one LEFT JOIN performance_schema.session_status AS nocodo_agents_lock_probe ON 0"

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


class CallerSettings:
    """Reading, setting and putting back the caller's session (mixed into the dialect)."""

    connection: Any
    statements: int
    _lock_held: bool
    #: The caller's values of the session variables the runner changed, restored at the end (in this order).
    _caller_settings: dict[str, Any]
    #: Whether the session's ``foreign_key_checks`` was read (and switched on if off) for the writes.
    _foreign_keys_checked: bool
    #: Whether the runner has autocommit off on the session now (for its writes).
    _autocommit_off: bool

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _is_mariadb(self) -> bool: ...

        def _release_lock(self, quietly: bool) -> None: ...

        def _restore(self, what: str, action: Callable[[], Any], quietly: bool) -> None: ...

    def _restore_caller_state(self, autocommit: bool, quietly: bool) -> None:
        """Put back what the run changed on the caller's session: its variables, the migration lock, ``autocommit``.

        ``quietly``: an error is on its way out, so a failure is only logged
        (see :meth:`~nocodo_agents.dialects.Dialect._restore`).
        """
        caller, self._caller_settings = self._caller_settings, {}
        if caller:
            restore = "SET " + ", ".join(f"SESSION {name} = %s" for name in caller)
            self._restore(", ".join(caller), lambda: self._query(restore, tuple(caller.values())), quietly)
        if self._lock_held:
            self._release_lock(quietly)
        if autocommit == self._autocommit_off:  # the session has the opposite of the caller's (the run's reads or writes)
            self._autocommit_off = not autocommit
            self._restore(f"autocommit={autocommit}", lambda: self._set_autocommit(autocommit), quietly)

    def _set_autocommit(self, value: bool) -> None:
        self.statements += 1
        self.connection.autocommit(value)

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
                problem="the PyMySQL connection is inside a transaction (autocommit is off and a statement, even a SELECT, "
                "has opened one; the server holds its snapshot and any row locks it took): commit or roll back your "
                "own work before running migrations (the runner never commits or rolls back work that is not its own)"
            )
        database = self._database_name(database)
        wanted: dict[str, Any] = {}
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
            problem="the PyMySQL connection has no current database: connect with database=... (or run "
            "USE) so the runner knows which database to migrate"
        )

    def _current_database(self) -> str:
        return self._database_name(self._query("SELECT DATABASE()")[0][0])

    def _database_name(self, database: Any) -> str:
        if database is None:
            raise self._no_database_error()
        return as_text(database)

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
            if error_code(error) != ER.NO_SUCH_TABLE:  # a server older than the probe's table (MariaDB 10.4)
                raise
            checks, unique, safe, mode = self._query(read)[0]
        caller_mode = as_text(mode or "")
        wanted: dict[str, Any] = {}
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
