"""PostgreSQL through psycopg 3.

DDL is transactional, so each migration and its history row commit
together: a failure leaves nothing behind. For the run the connection is in
autocommit mode and every unit of work is an explicit ``BEGIN`` ... ``COMMIT``
whose first act is ``pg_advisory_xact_lock``: the lock is taken before the
history table is created or read, is released by the commit itself, and
lives inside one transaction, so it works behind PgBouncer in transaction
pooling mode (a session-level lock would not). ``SET LOCAL lock_timeout``
bounds the wait. Statements are sent with ``prepare=False`` so no server-side
prepared statement outlives its transaction (PgBouncer again).

Schema drift is computed by replaying the applied migrations in a scratch
schema inside a transaction that is rolled back.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterator, List, Optional, Sequence

from ..errors import ConnectionStateError, DatabaseAccessError, LockTimeoutError, SchemaReplayError
from ..history import HISTORY_TABLE
from ..sql_split import split_statements
from .base import Dialect

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

#: The advisory lock key: one per database (advisory locks are scoped to the current database).
_LOCK_KEY = "hashtext('nocodo_agents.migrations')"
#: Tables of ours that are not part of any agent's schema.
_BOOKKEEPING = (HISTORY_TABLE,)


class PostgreSQLDialect(Dialect):
    """A ``psycopg.Connection`` (psycopg 3)."""

    name = "postgresql"

    @property
    def _idle(self) -> Any:
        from psycopg.pq import TransactionStatus

        return TransactionStatus.IDLE

    def ensure_idle(self) -> None:
        status = self.connection.info.transaction_status
        if status != self._idle:
            raise ConnectionStateError(
                f"the psycopg connection is not idle ({status.name}): commit or roll back your own work "
                f"before running migrations (the runner never commits or rolls back work that is not its own)"
            )

    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        saved = self.connection.autocommit
        self.lock_timeout = lock_timeout
        self.connection.autocommit = True
        try:
            yield
        finally:
            if not self.connection.closed:
                self.connection.autocommit = saved

    # -- statements ------------------------------------------------------------------------------

    history_columns_sql = (
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s"
    )

    def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]:
        self.statements += 1
        cursor = self.connection.execute(sql, params or None, prepare=False)
        return cursor.fetchall() if cursor.description else []

    def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None:
        self.statements += 1
        self.connection.execute(sql, params or None, prepare=False)

    def split_statements(self, sql: str) -> List[str]:
        return split_statements(sql, "postgresql")

    # -- transactions and the lock ---------------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        import psycopg

        self._run("BEGIN")
        try:
            self._take_lock()
            yield
        except BaseException as error:
            if not self.connection.closed:
                self._run("ROLLBACK")
            if isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
                raise DatabaseAccessError(self.location(), "it is read-only (a hot standby, or default_transaction_read_only): nothing was changed") from error
            if isinstance(error, psycopg.errors.InsufficientPrivilege):
                raise DatabaseAccessError(
                    self.location(),
                    f"user {self.connection.info.user!r} lacks a privilege the migrations need ({str(error).strip()}): "
                    f"nothing was changed. Grant it (for example CREATE on the schema), or migrate as the schema's owner.",
                ) from error
            raise
        self._run("COMMIT")

    def _take_lock(self) -> None:
        import psycopg

        if self._query(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})")[0][0]:
            return
        milliseconds = int(self.lock_timeout * 1000)
        if milliseconds < 1:  # PostgreSQL reads lock_timeout = 0 as "wait forever"
            raise LockTimeoutError(self.name, self.lock_timeout, "the lock is held and lock_timeout is 0")
        self._run(f"SET LOCAL lock_timeout = '{milliseconds}ms'")
        logger.info("waiting up to %g s for another runner's migration lock on %s", self.lock_timeout, self.location())
        try:
            self._query(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        except psycopg.errors.LockNotAvailable as error:
            raise LockTimeoutError(self.name, self.lock_timeout, error) from error

    def location(self) -> str:
        info = self.connection.info
        return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"

    # -- schema ----------------------------------------------------------------------------------

    def schema_objects(self) -> FrozenSet[str]:
        objects = set()
        for name, kind in self._query(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema() AND table_name != %s",
            (HISTORY_TABLE,),
        ):
            objects.add(f"{'view' if kind == 'VIEW' else 'table'} {name}")
        for table, column in self._query(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name != %s",
            (HISTORY_TABLE,),
        ):
            objects.add(f"column {table}.{column}")
        for (index,) in self._query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"):
            objects.add(f"index {index}")
        for (trigger,) in self._query(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
        ):
            objects.add(f"trigger {trigger}")
        return frozenset(objects)

    def _describe(self, schema: str) -> Dict[str, str]:
        """Tables, columns, indexes and constraints of ``schema`` as flat ``{key: description}``."""
        described: Dict[str, str] = {}
        for table, column, kind, not_null, default, identity in self._query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            (schema,),
        ):
            if table in _BOOKKEEPING:
                continue
            described[f"table {table}"] = "table"
            parts = [kind.upper()]
            if not_null:
                parts.append("NOT NULL")
            if default is not None:
                parts.append(f"DEFAULT {default}")
            if identity:
                parts.append("GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY")
            described[f"column {table}.{column}"] = " ".join(parts)
        for table, index, definition in self._query(
            "SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s",
            (schema,),
        ):
            if table not in _BOOKKEEPING:
                described[f"index {table}.{index}"] = definition.replace(f"{schema}.", "")
        for table, constraint, definition in self._query(
            "SELECT t.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
            "JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = %s",
            (schema,),
        ):
            if table not in _BOOKKEEPING:
                described[f"constraint {table}.{constraint}"] = definition.replace(f"{schema}.", "")
        return described

    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        from ..drift import compare_schemas

        live_schema = self._query("SELECT current_schema()")[0][0]
        live = self._describe(live_schema)
        scratch = f"nocodo_scratch_{secrets.token_hex(6)}"
        # Inside a caller's unit of work (repair) a savepoint keeps its transaction and lock.
        nested = self.connection.info.transaction_status != self._idle
        self._run("SAVEPOINT nocodo_scratch" if nested else "BEGIN")
        try:
            self._run(f"CREATE SCHEMA {scratch}")
            self._run(f"SET LOCAL search_path TO {scratch}")
            for planned in sorted(applied, key=lambda p: p.version):
                sql = planned.sql(self.name)
                if not planned.migration.transactional:  # replayed in a transaction: same schema effect
                    sql = re.sub(r"\bCONCURRENTLY\b", "", sql, flags=re.IGNORECASE)
                for index, statement in enumerate(self.split_statements(sql)):
                    try:
                        self._run(statement)
                    except Exception as error:
                        raise SchemaReplayError(planned, statement, index, error, scratch=f"a scratch schema ({scratch}, rolled back)") from error
            expected = self._describe(scratch)
        finally:
            if nested:
                self._run("ROLLBACK TO SAVEPOINT nocodo_scratch")
                self._run("RELEASE SAVEPOINT nocodo_scratch")
            else:
                self._run("ROLLBACK")
        return compare_schemas(expected, live, owner=_owner)

    def transaction_open(self) -> bool:
        return bool(self.connection.info.transaction_status != self._idle)


def _owner(key: str, description: str) -> Optional[str]:
    """``column t.c``, ``index t.i``, ``constraint t.n`` belong to ``table t``."""
    kind, _, rest = key.partition(" ")
    if kind == "table":
        return key
    table, dot, _ = rest.partition(".")
    return f"table {table}" if dot else None
