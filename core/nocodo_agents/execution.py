"""Running one migration's (or rollback's) statements, turning a failure into a named error.

Before a statement runs, the migration is checked for statements that would
end or escape the runner's transaction (:mod:`nocodo_agents.transaction_control`);
after each statement of a migration run inside the runner's transaction,
the transaction is checked to be still open, so a statement that ended it
anyway is reported as such instead of being claimed rolled back.
"""

from __future__ import annotations

import logging
from typing import Sequence

from .dialects import Dialect
from .errors import MigrationFailedError, TransactionControlError, TransactionEndedError
from .planning import PlannedMigration
from .transaction_control import find_transaction_control

logger = logging.getLogger("nocodo_agents")


def refuse_transaction_control(dialect: Dialect, migrations: Sequence[PlannedMigration], phase: str = "migration") -> None:
    """Raise :class:`TransactionControlError` for the first of ``migrations`` whose SQL controls transactions.

    ``phase`` says which SQL to check: ``"migration"`` or ``"rollback"``.
    Runs no statement; called before a run's first migration is applied.
    """
    for planned in migrations:
        sql = planned.sql(dialect.name) if phase == "migration" else planned.rollback_sql(dialect.name)
        if sql is not None:
            _refuse_in(dialect, planned, dialect.split_statements(sql), phase)


def _refuse_in(dialect: Dialect, planned: PlannedMigration, statements: Sequence[str], phase: str) -> None:
    found = find_transaction_control(statements, dialect.name, transactional=planned.migration.transactional)
    if found is not None:
        raise TransactionControlError(planned, found.statement, found.index, found.reason, phase)


def run_statements(dialect: Dialect, planned: PlannedMigration, sql: str, *, rolled_back: bool, phase: str = "migration") -> None:
    """Execute ``sql`` statement by statement; a failure raises :class:`MigrationFailedError`.

    ``rolled_back`` says whether the caller's transaction will undo the
    statements that ran before the failing one; it is checked to be still
    open after each statement (:class:`TransactionEndedError` if not).
    ``phase`` is ``"migration"`` or ``"rollback"``. Transaction control in
    ``sql`` raises :class:`TransactionControlError` before anything runs. On
    a dialect without transactional DDL each statement is journalled first,
    so a failure is remembered (the caller calls ``journal_done`` once the
    history row is written, or deleted for a rollback).
    """
    statements = dialect.split_statements(sql)
    _refuse_in(dialect, planned, statements, phase)
    journal = not dialect.transactional_ddl
    if journal:
        dialect.journal_start(planned.version, planned.name, planned.agent, len(statements), direction=phase)
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
        if rolled_back and not dialect.transaction_open():
            raise TransactionEndedError(planned, statement, index, phase)


def _record_failure(dialect: Dialect, planned: PlannedMigration, index: int, error: BaseException) -> None:
    """Journal the failure; a failure to journal must not hide the migration's own error."""
    try:
        dialect.journal_failed(planned.version, index, error)
    except Exception as journal_error:
        logger.warning(
            "could not record in the journal that V%s__%s failed at statement %s: %s",
            planned.version, planned.name, index + 1, journal_error,
        )
