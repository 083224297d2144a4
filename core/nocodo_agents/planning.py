"""Pure planning: (installed migrations, applied history) -> plan. No I/O.

:func:`merge` orders the requested migration sets by version and refuses two
claims on one version; :func:`make_plan` verifies the history against them
and says what is pending, what is out of order and what is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import (
    DivergentMigrationError,
    InvalidArgumentError,
    InvalidMigrationError,
    MigrationConflictError,
)
from .history import HistoryRow
from .migration import MAX_INT4_VERSION, MAX_VERSION, Migration, prime_checksums
from .migration_set import MigrationSet
from .requirement_order import (  # re-exported: the plan's ordering lives beside it
    Requirements,
    check_requirement_rollback,
    check_requirement_target,
    new_agents,
    order_by_requirements,
    replay_order,
    strict_requirers,
    transitive_requirements,
)

__all__ = [
    "Plan",
    "PlannedMigration",
    "Requirements",
    "check_requirement_rollback",
    "check_requirement_target",
    "check_target",
    "claimed_by_another",
    "divergences",
    "history_conflicts",
    "int4_encoded",
    "make_plan",
    "merge",
    "new_agents",
    "order_by_requirements",
    "refuse_history_conflicts",
    "replay_order",
    "rerecordable",
    "strict_requirers",
    "transitive_requirements",
    "verify",
]


@dataclass(frozen=True)
class PlannedMigration:
    """An installed migration together with the agent and distribution contributing it."""

    migration: Migration
    agent: str
    distribution: str

    @property
    def version(self) -> int:
        return self.migration.version

    @property
    def name(self) -> str:
        return self.migration.name

    @property
    def source(self) -> str:
        return self.migration.source

    def sql(self, dialect: str) -> str:
        """The migration's SQL; a failure to produce it names this agent and distribution."""
        try:
            return self.migration.sql(dialect)
        except InvalidMigrationError as error:
            raise self._owned(error) from error

    def rollback_sql(self, dialect: str) -> str | None:
        """The SQL undoing the migration, or ``None``; failures name this agent and distribution."""
        try:
            return self.migration.rollback_sql(dialect)
        except InvalidMigrationError as error:
            raise self._owned(error) from error

    def checksum(self, dialect: str, int8_versions: bool = False) -> int:
        """refinery's checksum, the version hashed as ``i64`` in a 64-bit history (``int8_versions``)."""
        try:
            return self.migration.checksum(dialect, int8_versions)
        except InvalidMigrationError as error:
            raise self._owned(error) from error

    def _owned(self, error: InvalidMigrationError) -> InvalidMigrationError:
        if error.agent is not None:
            return error
        return InvalidMigrationError(
            source=error.source, problem=f"{error.problem} (distribution {self.distribution})", agent=self.agent
        )

    def history_row(self, dialect: str, applied_on: str, int8_versions: bool = False) -> HistoryRow:
        """The row recording this migration, its checksum in the history's encoding (``int8_versions``: 64-bit)."""
        return HistoryRow(self.version, self.name, applied_on, str(self.checksum(dialect, int8_versions)), self.agent)


@dataclass(frozen=True)
class Plan:
    """What a run would do.

    ``pending`` lists the migrations to apply, up to the target, in version
    order but for what agent requirements impose (:func:`order_by_requirements`);
    ``out_of_order`` holds the pending versions lower than one applied before
    them (in the history, or earlier in ``pending``); ``not_installed`` the
    applied rows no requested agent provides.
    ``int8_versions``: the history is 64-bit, so its checksums hash versions
    as ``i64``; ``rerecord`` its rows still holding the 32-bit checksum of the
    same migration (verified: written before the history was widened), to be
    recorded again in the ``i64`` encoding under the lock.
    """

    pending: tuple[PlannedMigration, ...]
    out_of_order: frozenset[int]
    not_installed: tuple[HistoryRow, ...]
    applied: tuple[HistoryRow, ...]
    int8_versions: bool = False
    rerecord: tuple[HistoryRow, ...] = ()


def merge(sets: Sequence[MigrationSet]) -> tuple[PlannedMigration, ...]:
    """All migrations of ``sets`` in version order; a version claimed twice raises."""
    by_version: dict[int, PlannedMigration] = {}
    graph = {migration_set.agent: tuple(migration_set.requires) for migration_set in sets}
    for migration_set in sets:
        for migration in migration_set.migrations:
            planned = PlannedMigration(migration, migration_set.agent, migration_set.distribution)
            earlier = by_version.get(migration.version)
            if earlier is not None:
                raise MigrationConflictError(
                    version=migration.version,
                    first=(earlier.agent, earlier.distribution, earlier.source),
                    second=(planned.agent, planned.distribution, planned.source),
                    requiring=_requiring(graph, earlier.agent, planned.agent),
                )
            by_version[migration.version] = planned
    return tuple(by_version[v] for v in sorted(by_version))


def _requiring(graph: Requirements, first: str, second: str) -> str | None:
    """Which of two agents requires the other, directly or transitively (``None``: neither)."""
    if first == second:
        return None
    return first if second in transitive_requirements(graph, first) else second if first in transitive_requirements(graph, second) else None


def check_target(target: int | None) -> None:
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= MAX_VERSION:
        raise InvalidArgumentError(argument="target=", value=target, expected=f"a version between 0 and {MAX_VERSION}")


def claimed_by_another(row: HistoryRow, planned: PlannedMigration) -> bool:
    """Whether ``row`` is attributed to an agent other than ``planned``'s (a row without attribution is nobody's)."""
    return row.agent is not None and row.agent != planned.agent


def history_conflicts(installed: Sequence[PlannedMigration], history: Sequence[HistoryRow]) -> list[MigrationConflictError]:
    """One error per applied row attributed to another agent than the requested one claiming its version.

    Such a version is never divergent (and never repairable): the row is the
    other agent's, whatever the checksums say. Rows without attribution
    (written by refinery) are left to :func:`divergences`.
    """
    by_version = {p.version: p for p in installed}
    return [
        MigrationConflictError(
            version=row.version, recorded_agent=row.agent, applied_name=row.name,
            agent=planned.agent, distribution=planned.distribution, source=planned.source,
        )
        for row in history
        for planned in [by_version.get(row.version)]
        if planned is not None and claimed_by_another(row, planned)
    ]


def refuse_history_conflicts(installed: Sequence[PlannedMigration], history: Sequence[HistoryRow]) -> None:
    """Raise :class:`MigrationConflictError` for the first applied version another requested agent claims."""
    found = history_conflicts(installed, history)
    if found:
        raise found[0]


def int4_encoded(planned: PlannedMigration, row: HistoryRow, dialect: str) -> bool:
    """Whether ``row`` of a 64-bit history holds ``planned``'s 32-bit checksum (recorded before the history was widened)."""
    return (
        planned.version <= MAX_INT4_VERSION
        and row.name == planned.name
        and row.checksum.strip() == str(planned.checksum(dialect, False))
    )


def rerecordable(
    installed: Sequence[PlannedMigration], history: Sequence[HistoryRow], dialect: str, int8_versions: bool
) -> tuple[HistoryRow, ...]:
    """The rows of a 64-bit history holding their installed migration's 32-bit checksum (none in a 32-bit history)."""
    if not int8_versions:
        return ()
    by_version = {p.version: p for p in installed}
    return tuple(
        row
        for row in history
        if row.version in by_version
        and not claimed_by_another(row, by_version[row.version])
        and row.checksum.strip() != str(by_version[row.version].checksum(dialect, True))
        and int4_encoded(by_version[row.version], row, dialect)
    )


def divergences(
    installed: Sequence[PlannedMigration], history: Sequence[HistoryRow], dialect: str, int8_versions: bool = False
) -> list[DivergentMigrationError]:
    """One error per applied row whose name or checksum differs from the installed migration.

    A row attributed to another agent is not one of them: :func:`history_conflicts`.
    In a 64-bit history (``int8_versions``) checksums hash the version as
    ``i64``; a row holding the 32-bit checksum of the same migration is not
    divergent (see :func:`rerecordable`).
    """
    by_version = {p.version: p for p in installed}
    checked = [planned for row in history if (planned := by_version.get(row.version)) is not None and not claimed_by_another(row, planned)]
    for produced, planned in enumerate(checked):  # each SQL produced once, in the loop's order: its first failure raised as there
        if not int8_versions and planned.version > MAX_INT4_VERSION:
            checked = checked[:produced]  # the loop's checksum() raises for this version, before any later SQL is produced
            break
        planned.sql(dialect)
    prime_checksums([planned.migration for planned in checked], dialect, int8_versions)
    found = []
    for row in history:
        planned = by_version.get(row.version)
        if planned is None or claimed_by_another(row, planned):
            continue
        expected = planned.checksum(dialect, int8_versions)
        if int8_versions and row.checksum.strip() != str(expected) and int4_encoded(planned, row, dialect):
            continue
        if row.name != planned.name or row.checksum.strip() != str(expected):
            found.append(
                DivergentMigrationError(
                    version=row.version,
                    applied_name=row.name,
                    applied_checksum=row.checksum,
                    installed_name=planned.name,
                    installed_checksum=expected,
                    source=planned.source,
                    agent=planned.agent,
                    distribution=planned.distribution,
                    recorded_agent=row.agent,
                )
            )
    return found


def verify(
    installed: Sequence[PlannedMigration], history: Sequence[HistoryRow], dialect: str, int8_versions: bool = False
) -> None:
    """Raise :class:`MigrationConflictError` for a version another agent applied, then
    :class:`DivergentMigrationError` for the first applied row that differs from its file."""
    refuse_history_conflicts(installed, history)
    found = divergences(installed, history, dialect, int8_versions)
    if found:
        raise found[0]


def make_plan(
    installed: Sequence[PlannedMigration],
    history: Sequence[HistoryRow],
    dialect: str,
    target: int | None = None,
    int8_versions: bool = False,
    requires: Requirements | None = None,
) -> Plan:
    """Verify ``history`` against ``installed`` and return what remains to do.

    Raises :class:`MigrationConflictError` when an applied version is
    attributed to another agent than the requested one claiming it, and
    :class:`DivergentMigrationError` when an applied version's name or
    checksum differs from the installed migration's. ``int8_versions``: the
    history's version column is 64-bit (see :class:`Plan`). ``requires`` is
    the requirement graph of the requested agents (see
    :func:`order_by_requirements`); :class:`RequirementOrderError` when
    ``target`` would apply a requiring agent's migration without all of a
    new required agent's.
    """
    check_target(target)
    verify(installed, history, dialect, int8_versions)
    applied_versions = {row.version for row in history}
    installed_versions = {p.version for p in installed}
    pending = tuple(
        p
        for p in installed
        if p.version not in applied_versions and (target is None or p.version <= target)
    )
    if requires:
        check_requirement_target(installed, history, requires, target)
        pending = order_by_requirements(installed, history, pending, requires)
    return Plan(
        pending=pending,
        out_of_order=_out_of_order(pending, max(applied_versions, default=-1)),
        not_installed=tuple(r for r in history if r.version not in installed_versions),
        applied=tuple(r for r in history if r.version in installed_versions),
        int8_versions=int8_versions,
        rerecord=rerecordable(installed, history, dialect, int8_versions),
    )


def _out_of_order(pending: Sequence[PlannedMigration], highest_applied: int) -> frozenset[int]:
    """The versions of ``pending`` lower than one applied before them: in the history, or earlier in ``pending``."""
    late = set()
    highest = highest_applied
    for planned in pending:
        if planned.version < highest:
            late.add(planned.version)
        highest = max(highest, planned.version)
    return frozenset(late)
