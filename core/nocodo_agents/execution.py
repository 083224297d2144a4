"""Running one migration's (or rollback's) statements, turning a failure into a named error."""

from __future__ import annotations

import logging

from .dialects import Dialect
from .errors import MigrationFailedError
from .planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")


def run_statements(dialect: Dialect, planned: PlannedMigration, sql: str, *, rolled_back: bool, phase: str = "migration") -> None:
    """Execute ``sql`` statement by statement; a failure raises :class:`MigrationFailedError`.

    ``rolled_back`` says whether the caller's transaction will undo the
    statements that ran before the failing one; ``phase`` is ``"migration"``
    or ``"rollback"``. On a dialect without transactional DDL each statement
    of a migration is journalled first, so a failure is remembered (the
    caller calls ``journal_done`` once the history row is written). Once
    every statement ran, the dialect checks what they left (on SQLite: rows
    whose foreign key finds no parent raise :class:`ForeignKeyViolationError`).
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
                _record_failure(dialect, planned, index, error)
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
                journalled=journal,
            ) from error
    dialect.check_integrity(planned, phase, rolled_back)


def _record_failure(dialect: Dialect, planned: PlannedMigration, index: int, error: BaseException) -> None:
    """Journal the failure; a failure to journal must not hide the migration's own error."""
    try:
        dialect.journal_failed(planned.version, index, error)
    except Exception as journal_error:
        logger.warning(
            "could not record in the journal that V%s__%s failed at statement %s: %s",
            planned.version, planned.name, index + 1, journal_error,
        )
