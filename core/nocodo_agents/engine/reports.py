"""What each operation returns: plain facts, never exception objects.

A report names what happened (or, in a dry run, would happen) with values a
caller can compare, serialize or show; the command line builds its text from
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Tuple

from ..dialects.base import UnfinishedMigration
from ..errors import DivergentMigrationError, MigrationConflictError
from ..history import HistoryRow

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport

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
    sql: Optional[str] = field(default=None, repr=False)
    history_sql: Optional[str] = field(default=None, repr=False)
    duration_ms: Optional[float] = field(default=None, compare=False)


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
    applied: Tuple[MigrationStep, ...] = ()
    adopted: Tuple[MigrationStep, ...] = ()
    not_installed: Tuple[HistoryRow, ...] = ()
    #: Dry run only: the statements that would prepare the history table before the first migration.
    setup_sql: Tuple[str, ...] = field(default=(), repr=False)
    #: Statements sent to the database by this run.
    statements: int = field(default=0, compare=False)

    @property
    def out_of_order(self) -> Tuple[MigrationStep, ...]:
        """The applied migrations that were applied out of order."""
        return tuple(step for step in self.applied if step.out_of_order)

    @property
    def versions(self) -> Tuple[int, ...]:
        """The versions applied (or to be applied), in order."""
        return tuple(step.version for step in self.applied)


@dataclass(frozen=True)
class RollbackStep:
    """One migration rolled back (or, in a dry run, to be rolled back)."""

    version: int
    name: str
    agent: str
    distribution: str
    sql: Optional[str] = field(default=None, repr=False)
    history_sql: Optional[str] = field(default=None, repr=False)
    duration_ms: Optional[float] = field(default=None, compare=False)


@dataclass(frozen=True)
class RollbackReport:
    """What a rollback did (or would do), newest first."""

    dialect: str
    dry_run: bool
    rolled_back: Tuple[RollbackStep, ...]
    statements: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Divergence:
    """An applied migration whose recorded name or checksum differs from its installed file.

    ``recorded_agent`` is the history row's attribution (``None``: written by
    refinery); ``message`` says what differs and what to do, as
    :class:`~nocodo_agents.DivergentMigrationError` (which a run raises for it) does.
    """

    version: int
    agent: str
    distribution: str
    source: str
    applied_name: str
    installed_name: str
    applied_checksum: str
    installed_checksum: int
    recorded_agent: Optional[str]
    message: str = field(compare=False)

    @classmethod
    def of(cls, error: DivergentMigrationError) -> "Divergence":
        """The facts :class:`DivergentMigrationError` carries."""
        return cls(
            error.version, error.agent, error.distribution, error.source, error.applied_name, error.installed_name,
            error.applied_checksum, error.installed_checksum, error.recorded_agent, str(error),
        )


@dataclass(frozen=True)
class Conflict:
    """An applied version the history attributes to ``recorded_agent`` while the requested ``agent`` claims it.

    Never divergent, never repairable: ``message`` says to renumber the
    claiming agent's migration (``source`` of ``distribution``), as
    :class:`~nocodo_agents.MigrationConflictError` (which a run raises for it) does.
    """

    version: int
    recorded_agent: str
    applied_name: str
    agent: str
    distribution: str
    source: str
    message: str = field(compare=False)

    @classmethod
    def of(cls, error: MigrationConflictError) -> "Conflict":
        """The facts the history form of :class:`MigrationConflictError` carries."""
        return cls(
            error.version, str(error.recorded_agent), str(error.applied_name), str(error.agent), str(error.distribution),
            str(error.source), str(error),
        )


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: versions claimed against another agent's history, divergent checksums, schema drift, a migration or rollback left unfinished, and (PostgreSQL) invalid indexes.

    ``divergent`` lists a :class:`Divergence` per applied migration whose
    file changed. ``unfinished`` is the journal's entry (MySQL), an
    :class:`UnfinishedMigration`; its version is not listed in ``pending``.

    ``invalid_indexes`` names, schema-qualified, the indexes of any schema
    that PostgreSQL marks invalid (a ``CREATE INDEX CONCURRENTLY`` that failed
    or was interrupted; not one being built right now, nor a partitioned
    index waiting for its partitions' indexes): queries do not use them, and
    their definition can look exactly as the migrations expect.
    """

    dialect: str
    divergent: Tuple[Divergence, ...]
    drift: "DriftReport"
    not_installed: Tuple[HistoryRow, ...]
    pending: Tuple[int, ...]
    unfinished: Optional[UnfinishedMigration] = None
    invalid_indexes: Tuple[str, ...] = ()
    #: A :class:`Conflict` per applied version another agent than the requested one claiming it applied.
    conflicts: Tuple[Conflict, ...] = ()

    @property
    def ok(self) -> bool:
        """No conflict, no divergent migration, no schema drift, nothing unfinished, no invalid index."""
        return (
            not self.conflicts and not self.divergent and not self.drift.has_drift and self.unfinished is None
            and not self.invalid_indexes
        )


@dataclass(frozen=True)
class RepairReport:
    """The history rows ``repair`` re-recorded (name and checksum of the installed files)."""

    dialect: str
    repaired: Tuple[HistoryRow, ...]
    statements: int = field(default=0, compare=False)
