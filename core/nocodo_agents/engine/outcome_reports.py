"""What rollback, verify and repair return: plain facts, never exception objects (what a run returns: :mod:`.reports`).

Importable from :mod:`.reports` too, where they are imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dialects.base import UnfinishedMigration
from ..history import HistoryRow

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..errors import DivergentMigrationError, MigrationConflictError

__all__ = ["Conflict", "Divergence", "RepairReport", "RollbackReport", "RollbackStep", "VerifyReport"]


@dataclass(frozen=True)
class RollbackStep:
    """One migration rolled back (or, in a dry run, to be rolled back)."""

    version: int
    name: str
    agent: str
    distribution: str
    sql: str | None = field(default=None, repr=False)
    history_sql: str | None = field(default=None, repr=False)
    duration_ms: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RollbackReport:
    """What a rollback did (or would do), newest first."""

    dialect: str
    dry_run: bool
    rolled_back: tuple[RollbackStep, ...]
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
    recorded_agent: str | None
    message: str = field(compare=False)

    @classmethod
    def of(cls, error: DivergentMigrationError) -> Divergence:
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
    def of(cls, error: MigrationConflictError) -> Conflict:
        """The facts the history form of :class:`MigrationConflictError` carries."""
        return cls(
            error.version, str(error.recorded_agent), str(error.applied_name), str(error.agent), str(error.distribution),
            str(error.source), str(error),
        )


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: versions claimed against another agent's history, divergent checksums,
    schema drift, a migration or rollback left unfinished, and (PostgreSQL) invalid indexes.

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
    divergent: tuple[Divergence, ...]
    drift: DriftReport
    not_installed: tuple[HistoryRow, ...]
    pending: tuple[int, ...]
    unfinished: UnfinishedMigration | None = None
    invalid_indexes: tuple[str, ...] = ()
    #: A :class:`Conflict` per applied version another agent than the requested one claiming it applied.
    conflicts: tuple[Conflict, ...] = ()

    @property
    def has_drift(self) -> bool:
        """Whether the live schema differs from what the applied migrations produce (``drift`` lists how).

        Read this, or :attr:`ok` for every check at once: ``drift`` is a
        :class:`~nocodo_agents.drift.DriftReport`, which is falsy only when it
        holds no difference.
        """
        return self.drift.has_drift

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
    repaired: tuple[HistoryRow, ...]
    statements: int = field(default=0, compare=False)
