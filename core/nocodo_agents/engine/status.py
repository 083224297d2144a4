"""Where each migration stands: one row per version across core and the requested agents.

:func:`status_rows` is pure (installed migrations, history, journal entry ->
rows); :func:`migration_status` reads them from a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set

from ..dialects.base import UnfinishedMigration
from ..discovery import AgentRegistry
from ..history import HistoryRow, parse_rfc3339
from ..planning import PlannedMigration, divergences
from .run import DEFAULT_LOCK_TIMEOUT, incomplete_error, open_run

APPLIED = "applied"
PENDING = "pending"
APPLIED_OUT_OF_ORDER = "applied-out-of-order"
APPLIED_NOT_INSTALLED = "applied-not-installed"
DIVERGENT = "divergent"
UNFINISHED = "unfinished"

#: Every state a :class:`StatusRow` can be in.
STATES = (APPLIED, PENDING, APPLIED_OUT_OF_ORDER, APPLIED_NOT_INSTALLED, DIVERGENT, UNFINISHED)


@dataclass(frozen=True)
class StatusRow:
    """One version: ``state`` is one of :data:`STATES`.

    ``applied-out-of-order`` marks a version applied after a higher one
    (an agent installed later); ``applied-not-installed`` one that no requested
    agent provides; ``divergent`` one whose installed file differs from what
    was applied (``detail`` says how); ``unfinished`` one whose migration or
    rollback stopped part-way (MySQL's journal holds it, whether or not its
    history row exists): ``detail`` says what stays applied and which
    ``nocodo-agents resolve`` command settles it, and ``applied_on`` is the
    history row's, if any.
    """

    version: int
    name: str
    agent: Optional[str]
    distribution: Optional[str]
    state: str
    applied_on: Optional[str]
    detail: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "agent": self.agent,
            "distribution": self.distribution,
            "state": self.state,
            "applied_on": self.applied_on,
            "detail": self.detail,
        }


def _applied_out_of_order(history: Sequence[HistoryRow]) -> Set[int]:
    """Versions applied after a higher version was (judged by ``applied_on``)."""
    dated = sorted(
        (moment, row.version) for row in history for moment in [parse_rfc3339(row.applied_on)] if moment is not None
    )
    late: Set[int] = set()
    highest = -1
    for _, version in dated:
        if version < highest:
            late.add(version)
        highest = max(highest, version)
    return late


def status_rows(
    installed: Sequence[PlannedMigration],
    history: Sequence[HistoryRow],
    dialect: str,
    unfinished: Optional[UnfinishedMigration] = None,
) -> List[StatusRow]:
    """Pure: the status of every installed, applied or unfinished version, in version order."""
    by_version = {p.version: p for p in installed}
    applied = {row.version: row for row in history}
    diverged = {d.version: str(d) for d in divergences(installed, history, dialect)}
    late = _applied_out_of_order(history)
    rows = []
    stopped = set() if unfinished is None else {unfinished.version}
    for version in sorted(set(by_version) | set(applied) | stopped):
        planned = by_version.get(version)
        row = applied.get(version)
        if unfinished is not None and version == unfinished.version:
            rows.append(
                StatusRow(
                    version,
                    planned.name if planned else unfinished.name,
                    planned.agent if planned else unfinished.agent,
                    planned.distribution if planned else None,
                    UNFINISHED,
                    row.applied_on if row else None,
                    str(incomplete_error(unfinished)),
                )
            )
            continue
        if row is None:
            assert planned is not None
            rows.append(StatusRow(version, planned.name, planned.agent, planned.distribution, PENDING, None))
            continue
        if planned is None:
            state = APPLIED_NOT_INSTALLED
        elif version in diverged:
            state = DIVERGENT
        elif version in late:
            state = APPLIED_OUT_OF_ORDER
        else:
            state = APPLIED
        rows.append(
            StatusRow(
                version,
                row.name,
                planned.agent if planned else row.agent,
                planned.distribution if planned else None,
                state,
                row.applied_on,
                diverged.get(version),
            )
        )
    return rows


def migration_status(
    conn: Any,
    agents: Optional[Sequence[str]] = None,
    *,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> List[StatusRow]:
    """Read the history (and MySQL's journal) of ``conn``, changing nothing, and report every version's state."""
    with open_run(conn, agents, registry, lock_timeout) as run:
        return status_rows(run.installed, run.history, run.dialect.name, run.stopped())
