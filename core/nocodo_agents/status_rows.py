"""Where each migration stands, as rows: one per version across core and the requested agents; pure.

:func:`status_rows` builds them from what is installed, what the history
holds and the journal entry of a migration stopped part-way, if any
(:func:`nocodo_agents.status.migration_status` reads those from a database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import IncompleteMigrationError
from .history import HistoryRow, UnfinishedMigration, parse_rfc3339
from .planning import PlannedMigration, divergences, history_conflicts, rerecordable

__all__ = [
    "APPLIED",
    "APPLIED_NOT_INSTALLED",
    "APPLIED_OUT_OF_ORDER",
    "CONFLICT",
    "DIVERGENT",
    "NEEDS_RERECORDING",
    "PENDING",
    "STATES",
    "UNFINISHED",
    "StatusRow",
    "incomplete_error",
    "status_rows",
]

APPLIED = "applied"
PENDING = "pending"
APPLIED_OUT_OF_ORDER = "applied-out-of-order"
APPLIED_NOT_INSTALLED = "applied-not-installed"
DIVERGENT = "divergent"
CONFLICT = "conflict"
UNFINISHED = "unfinished"
NEEDS_RERECORDING = "applied-needs-rerecording"

#: Every state a :class:`StatusRow` can be in.
STATES = (APPLIED, PENDING, APPLIED_OUT_OF_ORDER, APPLIED_NOT_INSTALLED, DIVERGENT, CONFLICT, UNFINISHED, NEEDS_RERECORDING)


@dataclass(frozen=True)
class StatusRow:
    """One version: ``state`` is one of :data:`STATES`.

    ``applied-out-of-order`` marks a version applied after a higher one
    (an agent installed later); ``applied-not-installed`` one that no requested
    agent provides; ``divergent`` one whose installed file differs from what
    was applied (``detail`` says how); ``conflict`` one the history records as
    applied by another agent than the requested one claiming it (``agent`` is
    the history row's, ``detail`` names both agents and the claiming file: it
    is resolved by renumbering the claiming agent's migration, never by
    ``repair``); ``unfinished`` one whose migration or
    rollback stopped part-way (MySQL's journal holds it, whether or not its
    history row exists): ``detail`` says what stays applied and which
    ``nocodo-agents resolve`` command settles it, and ``applied_on`` is the
    history row's, if any; ``applied-needs-rerecording`` one applied and
    verified whose row in a 64-bit history still holds the 32-bit checksum
    (``detail`` says when it is recorded again). ``requires`` lists the agents
    the row's agent requires (``None`` for a version no requested agent provides).
    """

    version: int
    name: str
    agent: str | None
    distribution: str | None
    state: str
    applied_on: str | None
    detail: str | None = None
    requires: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "agent": self.agent,
            "distribution": self.distribution,
            "state": self.state,
            "applied_on": self.applied_on,
            "detail": self.detail,
            "requires": None if self.requires is None else list(self.requires),
        }


def _canonical(applied_on: str) -> bool:
    """Whether ``applied_on`` has the shape this library writes (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, :func:`now_rfc3339`).

    If it is RFC 3339 at all, its characters' order is its moment's order
    among strings of that shape (fixed-width fields, all UTC).
    """
    return len(applied_on) == 27 and applied_on[10] == "T" and applied_on[26] == "Z"


def _applied_out_of_order(history: Sequence[HistoryRow]) -> set[int]:
    """Versions applied after a higher version was (judged by ``applied_on``).

    The usual history (in version order, every ``applied_on`` of the shape this
    library writes, never decreasing) has none, seen without parsing a date:
    any rows of it that are not RFC 3339 are left out either way, and what is
    left stays in order.
    """
    moments = [row.applied_on for row in history]
    if all(_canonical(moment) for moment in moments) and all(a <= b for a, b in zip(moments, moments[1:])):
        if all(a.version < b.version for a, b in zip(history, history[1:])):
            return set()
    dated = sorted(
        (moment, row.version) for row in history for moment in [parse_rfc3339(row.applied_on)] if moment is not None
    )
    late: set[int] = set()
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
    unfinished: UnfinishedMigration | None = None,
    int8_versions: bool = False,
    requires: Mapping[str, tuple[str, ...]] | None = None,
) -> list[StatusRow]:
    """Pure: the status of every installed, applied or unfinished version, in version order.

    ``int8_versions``: the history is 64-bit (checksums hash versions as
    ``i64``); a row still holding its 32-bit checksum is ``applied`` with a
    ``detail`` saying it is re-recorded by the next run that changes anything.
    ``requires`` maps an agent to the agents it requires, shown in each of its rows.
    """
    return _status_rows(installed, history, dialect, unfinished, int8_versions, requires)


def _status_rows(
    installed: Sequence[PlannedMigration],
    history: Sequence[HistoryRow],
    dialect: str,
    unfinished: UnfinishedMigration | None,
    int8_versions: bool,
    requires: Mapping[str, tuple[str, ...]] | None,
) -> list[StatusRow]:
    shown: dict[str, tuple[str, ...]] = {}  # agent -> its row's ``requires``, built once per agent

    def required(distribution: str | None, agent: str | None) -> tuple[str, ...] | None:
        """What a row of ``agent`` shows as ``requires`` (``None`` without a graph, or for a version no requested agent provides)."""
        if requires is None or distribution is None:
            return None
        key = agent or ""
        found = shown.get(key)
        if found is None:
            found = shown[key] = tuple(requires.get(key, ()))
        return found

    by_version = {p.version: p for p in installed}
    applied = {row.version: row for row in history}
    diverged = {d.version: str(d) for d in divergences(installed, history, dialect, int8_versions)}
    conflicting = {c.version: str(c) for c in history_conflicts(installed, history)}
    stale = {row.version for row in rerecordable(installed, history, dialect, int8_versions)}
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
                    required(planned.distribution if planned else None, planned.agent if planned else unfinished.agent),
                )
            )
            continue
        if row is None:
            assert planned is not None
            rows.append(
                StatusRow(
                    version, planned.name, planned.agent, planned.distribution, PENDING, None, None,
                    required(planned.distribution, planned.agent),
                )
            )
            continue
        if version in conflicting:
            rows.append(StatusRow(version, row.name, row.agent, None, CONFLICT, row.applied_on, conflicting[version]))
            continue
        if planned is None:
            state = APPLIED_NOT_INSTALLED
        elif version in diverged:
            state = DIVERGENT
        elif version in stale:
            state = NEEDS_RERECORDING
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
                diverged.get(version) or (_REENCODE if version in stale else None),
                required(planned.distribution if planned else None, planned.agent if planned else row.agent),
            )
        )
    return rows


#: The detail of an applied row of a 64-bit history still holding its 32-bit checksum.
_REENCODE = (
    "needs re-recording: its checksum is the 32-bit encoding refinery uses without int8-versions (recorded before "
    "the history was widened); the next run that changes anything, or `nocodo-agents repair`, records it in the "
    "64-bit encoding"
)


def incomplete_error(unfinished: UnfinishedMigration) -> IncompleteMigrationError:
    """The error naming a journal entry that stopped part-way, and the ``resolve`` commands."""
    return IncompleteMigrationError(
        version=unfinished.version, name=unfinished.name, agent=unfinished.agent, statements=unfinished.statements,
        failed_index=unfinished.failed_index, error=unfinished.error, direction=unfinished.direction,
    )
