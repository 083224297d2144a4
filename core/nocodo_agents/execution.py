"""Running one migration's (or rollback's) statements, turning a failure into a named error."""

from __future__ import annotations

from .dialects import Dialect
from .errors import MigrationFailedError
from .planning import PlannedMigration


def run_statements(dialect: Dialect, planned: PlannedMigration, sql: str, *, rolled_back: bool, phase: str = "migration") -> None:
    """Execute ``sql`` statement by statement; a failure raises :class:`MigrationFailedError`.

    ``rolled_back`` says whether the caller's transaction will undo the
    statements that ran before the failing one; ``phase`` is ``"migration"``
    or ``"rollback"``. On a dialect without transactional DDL each statement
    of a migration is journalled first, so a failure is remembered (the
    caller calls ``journal_done`` once the history row is written).
    """
    statements = dialect.split_statements(sql)
    journal = phase == "migration" and not dialect.transactional_ddl
    if journal:
        dialect.journal_start(planned.version, planned.name, planned.agent, len(statements))
    for index, statement in enumerate(statements):
        try:
            if journal:
                dialect.journal_statement(planned.version, index)
            dialect.execute(statement)
        except Exception as error:
            if journal:
                dialect.journal_failed(planned.version, index, error)
            raise MigrationFailedError(
                planned.version,
                planned.name,
                planned.agent,
                planned.distribution,
                planned.source,
                statement,
                index,
                error,
                rolled_back=rolled_back,
                phase=phase,
            ) from error
