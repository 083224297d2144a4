"""``verify_database``: applied checksums against the installed files, the live schema against the migrations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..discovery import AgentRegistry
from ..execution import check_before_running
from ..history import HistoryRow
from ..planning import PlannedMigration, replay_order
from .reports import Conflict, Divergence, VerifyReport
from .run import DEFAULT_LOCK_TIMEOUT, Requested, open_run


def applied_installed(
    installed: Sequence[PlannedMigration],
    history: Sequence[HistoryRow],
    requires: Mapping[str, tuple[str, ...]] | None = None,
) -> list[PlannedMigration]:
    """The installed migrations the history records, in the order a fresh database gets them: what the live schema should be made of.

    That is version order, but for what the agents' requirements (``requires``)
    impose: a required agent's migrations before those of the agents requiring it.
    """
    applied = {row.version for row in history}
    recorded = [p for p in installed if p.version in applied]
    return list(replay_order(recorded, requires)) if requires else recorded


def verify_database(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> VerifyReport:
    """Check applied checksums against the installed files and the live schema against the migrations.

    Changes nothing. A version the history attributes to another agent than
    the requested one claiming it is reported in ``conflicts`` (not as
    divergent) and left out of the expected schema. The expected schema is
    what the applied, installed migrations produce, in version order (but for
    what agent requirements impose, as on a fresh database), on a scratch database.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, requested=requested) as run:
        dialect = run.dialect
        unfinished = run.stopped()
        conflicts = tuple(Conflict.of(error) for error in run.conflicts())
        claimed = {conflict.version for conflict in conflicts}  # another agent's: not what the claiming file makes
        expected = [p for p in applied_installed(run.installed, run.history, run.requires) if p.version not in claimed]
        check_before_running(dialect, expected, replay=True)  # the replay would escape its scratch transaction
        drift = dialect.schema_drift(expected)
        invalid_indexes = tuple(dialect.invalid_indexes(building=False))  # a build under way has not failed
        divergent = tuple(Divergence.of(error) for error in run.divergences())
    applied = {row.version for row in run.history}
    if unfinished is not None:
        applied.add(unfinished.version)  # neither applied nor pending: unfinished
    installed_versions = {p.version for p in run.installed}
    return VerifyReport(
        dialect.name,
        divergent,
        drift,
        tuple(row for row in run.history if row.version not in installed_versions),
        tuple(p.version for p in run.installed if p.version not in applied),
        unfinished,
        invalid_indexes,
        conflicts,
    )
