"""What a PostgreSQL migration can leave invalid: deferred constraint checks, and indexes of a failed concurrent build.

A ``DEFERRABLE INITIALLY DEFERRED`` constraint is checked at ``COMMIT``,
where a violation would not name the migration: the checks are fired at the
end of each migration instead, and only when one of its statements may have
queued one. An index a ``CREATE INDEX CONCURRENTLY`` left invalid is found
by :meth:`IntegrityChecks.invalid_indexes`. :class:`IntegrityChecks` is that
part of :class:`~nocodo_agents.dialects.postgresql.PostgreSQLDialect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import ForeignKeyViolationError, MigrationFailedError, migration_facts
from ...schema.constraint_checks import queues_no_checks
from ...urls import redact

if TYPE_CHECKING:  # pragma: no cover
    from ...planning import PlannedMigration

#: The invalid indexes (a failed or interrupted concurrent build) of every schema but the server's own,
#: schema-qualified: a migration may name any schema. Not partitioned indexes: never built concurrently, they
#: are invalid by design until an index of every partition is attached (``CREATE INDEX ... ON ONLY``, then each
#: partition's, then ``ATTACH PARTITION``). ``{building}``: optionally, not those a session builds right now.
_INVALID_INDEXES = (
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index x "
    "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT x.indisvalid AND c.relkind = 'i' AND n.nspname <> 'information_schema' "
    "AND left(n.nspname, 3) <> 'pg_'{building} ORDER BY n.nspname, c.relname"
)
#: PostgreSQL 12 and later: an index some session builds right now.
_NOT_BUILDING = " AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = x.indexrelid)"


class IntegrityChecks:
    """Deferred constraint checks fired per migration, and invalid indexes (mixed into the dialect)."""

    connection: Any
    name: str

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _environmental(self, error: BaseException) -> bool: ...

        def split_statements(self, sql: str) -> list[str]: ...

    def invalid_indexes(self, building: bool = True) -> list[str]:
        """The indexes with ``pg_index.indisvalid = false``, in any schema but the server's, schema-qualified."""
        excluded = _NOT_BUILDING if not building and self.connection.info.server_version >= 120000 else ""
        return [row[0] for row in self._query(_INVALID_INDEXES.format(building=excluded))]

    #: Fires every deferred constraint check of the transaction now (and the rest of it checks immediately).
    _CHECK_DEFERRED = "SET CONSTRAINTS ALL IMMEDIATE"

    #: Whether a statement sent since the last :meth:`check_integrity` may have queued a deferred
    #: constraint check (see :func:`~nocodo_agents.schema.constraint_checks.queues_no_checks`).
    _checks_may_be_queued = True

    def execute(self, statement: str) -> None:
        """Run one statement of a migration, noting whether it may have queued deferred constraint checks."""
        if not self._checks_may_be_queued and not queues_no_checks(statement):
            self._checks_may_be_queued = True
        super().execute(statement)  # type: ignore[misc]  # SessionSettings: the caller's settings set back outside a transaction

    def check_integrity(self, planned: PlannedMigration, phase: str, rolled_back: bool) -> None:
        """Run the deferred constraint checks the statements left pending, while the migration is still known.

        A ``DEFERRABLE INITIALLY DEFERRED`` foreign key (or unique constraint,
        or constraint trigger) is checked at COMMIT, where a violation would
        surface without naming the migration that caused it. Checked here
        instead, a violation raises :class:`ForeignKeyViolationError` (a
        foreign key) or :class:`MigrationFailedError` (another constraint)
        naming the migration; the runner's transaction is then rolled back.
        Outside the runner's transaction (``rolled_back`` false) each
        statement already committed, and with it its checks.
        """
        import psycopg

        queued, self._checks_may_be_queued = self._checks_may_be_queued, False
        if not rolled_back or not queued:
            return  # no statement since the last check could change a row (CREATE TABLE, CREATE INDEX...): none pending
        try:
            self._run(self._CHECK_DEFERRED)
        except psycopg.Error as error:
            if self._environmental(error):
                raise
            detail = redact(str(error).strip())
            if isinstance(error, psycopg.errors.ForeignKeyViolation):
                raise ForeignKeyViolationError(
                    **migration_facts(planned),
                    violations=[],
                    total=0,
                    rolled_back=rolled_back,
                    phase=phase,
                    detail=f"leaves a deferred foreign key violated ({detail})"
                ) from error
            raise MigrationFailedError(
                **migration_facts(planned),
                statement=f"{self._CHECK_DEFERRED} (the runner's check of the constraints the {phase} deferred)",
                statement_index=len(self.split_statements(planned.sql(self.name) if phase == "migration" else planned.rollback_sql(self.name) or "")),
                cause=error, rolled_back=True, phase=phase,
            ) from error
