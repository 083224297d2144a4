"""The MySQL dialect: statements, transactions reopened after implicit commits, the session (and, until it moves, introspection).

See the package's docstring for what MySQL guarantees and what the run does
instead; the lock is :mod:`.lock`, the caller's settings :mod:`.connection`,
the journal :mod:`.journal`, the bookkeeping tables :mod:`.bookkeeping`,
PyMySQL's errors :mod:`.errors`.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import pymysql
from pymysql.constants import ER, SERVER_STATUS
from pymysql.cursors import Cursor

from ...errors import ConnectionStateError, DatabaseAccessError, MigrationError, SchemaReplayError
from ...history import HISTORY_TABLE
from ...session_state import SessionVariableGuard
from ...sql_lexer import SqlSyntax, mysql_version_id
from ...sql_split import split_statements
from ..base import Dialect
from ..history_table import as_text
from .bookkeeping import BookkeepingTables
from .connection import CallerSettings
from .errors import DENIED, READ_ONLY, DriverErrors, access_problem, error_code, error_message
from .journal import JOURNAL_TABLE, MySQLJournal
from .lock import MigrationLock, migration_lock_name

if TYPE_CHECKING:  # pragma: no cover
    from pymysql.connections import Connection

    from ...drift import DriftReport
    from ...planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")


#: Tables of ours that are not part of any agent's schema.
_BOOKKEEPING = frozenset({HISTORY_TABLE, JOURNAL_TABLE})

Row = Tuple[Any, ...]


class MySQLDialect(BookkeepingTables, CallerSettings, MigrationLock, DriverErrors, Dialect):
    """A PyMySQL ``Connection`` to MySQL 8 or MariaDB 10.x (any cursor class: tuples are used here)."""

    name = "mysql"
    transactional_ddl = False
    connection: "Connection[Any]"
    #: Each statement of a migration is journalled as it runs (MySQL's DDL commits implicitly).
    journal: MySQLJournal

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._database = ""
        self._lock_name = ""
        #: Inside :meth:`write_transaction`: keep a transaction open after anything commits it.
        self._in_write = False
        self.journal = MySQLJournal(self)
        self._foreign_keys_checked = False
        self._caller_settings: Dict[str, Any] = {}
        #: How this server reads migrations (its version decides which executable comments run), once known.
        self._syntax: Optional[SqlSyntax] = None

    # -- statements ------------------------------------------------------------------------------

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Row]:
        """Send one statement (values only as ``%s`` parameters); its rows, if any."""
        self.statements += 1
        with self.connection.cursor(Cursor) as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

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
            # autocommit is put back only if the run switched it; quietly: keep the original error
            self._restore_caller_state(saved_autocommit or not switched, quietly=True)
            self._raise_named(error)
        self._restore_caller_state(saved_autocommit, quietly=False)

    def _is_mariadb(self) -> bool:
        """From the version the server announced when connecting (no statement)."""
        version: str = self.connection.get_server_info()  # type: ignore[no-untyped-call]
        return "mariadb" in version.lower()

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
            problem = None if isinstance(error, MigrationError) else access_problem(error)
            if problem is not None:
                raise DatabaseAccessError(self.location(), problem + self.journal.hint()) from error
            raise
        self._in_write = False
        self._query("COMMIT")

    def _rollback_quietly(self) -> None:
        if not self.connection.open:
            return
        try:
            self._query("ROLLBACK")
        except pymysql.err.MySQLError:
            pass  # the connection is gone: the server rolls back by itself; keep the original error

    def location(self) -> str:
        """``mysql://user@host:port/database`` (no password)."""
        user = self.connection.user
        user_text = as_text(user) if user is not None else ""
        database = self._database or as_text(self.connection.db or "")
        return f"mysql://{user_text}@{self.connection.host}:{self.connection.port}/{database}"

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
        from ...drift import compare_schemas

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
            if error_code(error) in DENIED | READ_ONLY:
                raise DatabaseAccessError(
                    self.location(),
                    f"the drift check could not create its scratch database {scratch} ({error_message(error)}). It "
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
            if error_code(error) not in (ER.UNKNOWN_TABLE, ER.BAD_FIELD_ERROR):
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
