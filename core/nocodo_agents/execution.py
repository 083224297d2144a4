"""Running one migration's (or rollback's) statements, turning a failure into a named error."""

from __future__ import annotations

from .dialects import Dialect
from .errors import MigrationFailedError
from .planning import PlannedMigration


def run_statements(dialect: Dialect, planned: PlannedMigration, sql: str, *, rolled_back: bool, phase: str = "migration") -> None:
    """Execute ``sql`` statement by statement; a failure raises :class:`MigrationFailedError`.

    ``rolled_back`` says whether the caller's transaction will undo the
    statements that ran before the failing one; ``phase`` is ``"migration"``
    or ``"rollback"``.
    """
    for index, statement in enumerate(dialect.split_statements(sql)):
        try:
            dialect.execute(statement)
        except Exception as error:
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
