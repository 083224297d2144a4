"""What each operation returns: plain facts, never exception objects.

A report names what happened (or, in a dry run, would happen) with values a
caller can compare, serialize or show; the command line builds its text from
them.

What a run returns is defined here; what rollback, verify and repair return
lives in :mod:`.outcome_reports` and is imported from there the first time it
is asked for (``from nocodo_agents.engine.reports import VerifyReport`` works
as ever): each frozen dataclass costs its definition at import, and a run
(the no-op at every start of an application) needs only its own two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..dialects.base import UnfinishedMigration
from ..history import HistoryRow

if TYPE_CHECKING:  # pragma: no cover
    from .outcome_reports import Conflict, Divergence, RepairReport, RollbackReport, RollbackStep, VerifyReport

__all__ = [
    "Conflict",
    "Divergence",
    "MigrationReport",
    "MigrationStep",
    "RepairReport",
    "RollbackReport",
    "RollbackStep",
    "UnfinishedMigration",
    "VerifyReport",
]


@dataclass(frozen=True)
class MigrationStep:
    """One migration of a report: applied (or, in a dry run, to be applied) or adopted.

    In a dry run ``sql`` holds the migration's SQL and ``history_sql`` the
    statement that would record it.
    """

    version: int
    name: str
    agent: str
    distribution: str
    out_of_order: bool = False
    sql: str | None = field(default=None, repr=False)
    history_sql: str | None = field(default=None, repr=False)
    duration_ms: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MigrationReport:
    """What a run did, or with ``dry_run=True`` what it would do.

    ``applied`` lists migrations applied by this run (planned, in a dry run),
    in order; each says whether it was ``out_of_order`` (lower than a version
    already applied, as when an agent is installed later). ``adopted`` lists
    migrations recorded without running because a database without history
    already had their tables. ``not_installed`` lists applied versions that
    no requested agent provides (an agent uninstalled or not requested).
    """

    dialect: str
    dry_run: bool = False
    applied: tuple[MigrationStep, ...] = ()
    adopted: tuple[MigrationStep, ...] = ()
    not_installed: tuple[HistoryRow, ...] = ()
    #: Dry run only: the statements that would prepare the history table before the first migration.
    setup_sql: tuple[str, ...] = field(default=(), repr=False)
    #: Statements sent to the database by this run (each statement of a SQLite script counts: a
    #: script of k statements is k statements sent in one call).
    statements: int = field(default=0, compare=False)

    @property
    def out_of_order(self) -> tuple[MigrationStep, ...]:
        """The applied migrations that were applied out of order."""
        return tuple(step for step in self.applied if step.out_of_order)

    @property
    def versions(self) -> tuple[int, ...]:
        """The versions applied (or to be applied), in order."""
        return tuple(step.version for step in self.applied)


#: The reports defined in :mod:`.outcome_reports`, imported on first use.
_OUTCOME_REPORTS = frozenset({"Conflict", "Divergence", "RepairReport", "RollbackReport", "RollbackStep", "VerifyReport"})


def __getattr__(name: str) -> Any:
    if name not in _OUTCOME_REPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import outcome_reports

    value = getattr(outcome_reports, name)
    globals()[name] = value
    return value
