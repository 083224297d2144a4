"""Operations that write only the history: record without running, baseline, repair, resolve.

Each reads the history under the lock, inside the one write transaction
that holds all its writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..discovery import AgentRegistry, normalize_agent_name
from ..errors import HistoryNotEmptyError, MigrationConflictError, ResolveRefusedError, SchemaDriftError
from ..execution import check_before_running
from ..history import HistoryRow, now_rfc3339
from .reports import MigrationReport, MigrationStep, RepairReport
from .run import DEFAULT_LOCK_TIMEOUT, Requested, open_run
from .verify import applied_installed
from .widening import first_wide, rerecord_checksums, settle_width

logger = logging.getLogger("nocodo_agents")


def record_as_applied(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    target: int | None = None,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    require_empty_history: bool = False,
    requested: Requested | None = None,
) -> MigrationReport:
    """Record the pending migrations (up to ``target``) as applied without running them.

    For a database whose schema was brought up to date by other means
    (``migrate --fake``). All rows are written in one transaction. With
    ``require_empty_history=True`` a database that has history is refused
    (:class:`HistoryNotEmptyError`). The report lists the rows in ``adopted``.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, target=target, read=False, requested=requested) as run:
        dialect = run.dialect
        if first_wide(run.unapplied()) is not None and not require_empty_history:
            settle_width(run)  # a version above 2**31 - 1 to record: the history made 64-bit first, under the lock
        with dialect.write_transaction():
            run.read()  # under the lock
            run.refuse_conflicts()  # before anything is written: another agent's row is never re-recorded
            if require_empty_history and run.history:
                raise HistoryNotEmptyError(applied_versions=[row.version for row in run.history])
            run.refuse_unfinished()
            plan = run.plan()
            wide = first_wide(plan.pending) is not None and not run.int8  # a version above 2**31 - 1: 64-bit first
            dialect.ensure_history(run.columns, int8=wide)  # a missing table is created 64-bit
            if wide and run.columns:
                dialect.widen_history()  # only a baseline gets here (settle_width ran otherwise): its history is empty
            applied_on = now_rfc3339()
            for planned in plan.pending:
                dialect.insert_history(planned.history_row(dialect.name, applied_on, run.int8 or wide))
                logger.info("recorded V%s__%s of agent %r as applied without running it", planned.version, planned.name, planned.agent)
    steps = tuple(MigrationStep(p.version, p.name, p.agent, p.distribution) for p in plan.pending)
    return MigrationReport(dialect.name, adopted=steps, not_installed=plan.not_installed, statements=dialect.statements)


def baseline(
    conn: Any,
    version: int,
    agents: Sequence[str] | None = None,
    *,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> MigrationReport:
    """Adopt a database without history: record every installed migration up to ``version``.

    Refuses (:class:`HistoryNotEmptyError`) a database that already has history.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    return record_as_applied(
        conn, agents, target=version, registry=registry, lock_timeout=lock_timeout, require_empty_history=True,
        requested=requested,
    )


def repair_history(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> RepairReport:
    """Re-record the name and checksum of divergent applied migrations, if the schema has not drifted.

    In a 64-bit history, rows still holding their 32-bit checksum are
    recorded again in the ``i64`` encoding too (only their checksum changes).
    For intended changes: a database made by the Rust crate (whose SQL text
    differs byte for byte), a whitespace edit. Raises :class:`SchemaDriftError`
    and changes nothing when the live schema differs from what the installed
    migrations produce.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, requested=requested) as run:
        dialect = run.dialect
        if not run.columns:
            return RepairReport(dialect.name, ())
        by_version = run.installed_by_version()
        repaired = []
        with dialect.write_transaction():
            run.read()  # under the lock
            run.refuse_conflicts()  # another agent's row is a conflict, never a divergence to re-record
            dialect.ensure_history(run.columns)
            run.refuse_unfinished()
            found = run.divergences()
            if found:
                expected = applied_installed(run.installed, run.history, run.requires)
                check_before_running(dialect, expected, replay=True)
                drift = dialect.schema_drift(expected)
                if drift.has_drift:
                    raise SchemaDriftError(differences=drift.differences, action="repair the history")
            applied_on = {row.version: row.applied_on for row in run.history}
            repaired.extend(rerecord_checksums(run))
            for divergence in found:
                row = by_version[divergence.version].history_row(dialect.name, applied_on[divergence.version], run.int8)
                dialect.update_history(row)
                repaired.append(row)
                logger.info("re-recorded V%s__%s of agent %r: checksum %s", row.version, row.name, row.agent, row.checksum)
    return RepairReport(dialect.name, tuple(repaired), dialect.statements)


def resolve_unfinished(
    conn: Any,
    version: int,
    applied: bool,
    agents: Sequence[str] | None = None,
    *,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> HistoryRow | None:
    """Settle a migration, or a rollback, that an earlier run stopped part-way (databases without transactional DDL).

    The operator first brings the schema to the migration fully applied or
    fully absent. ``applied=True`` then makes sure it is recorded in history
    (a migration is recorded; after an interrupted rollback its row is kept),
    ``applied=False`` makes sure it is not (a migration stays pending; after
    an interrupted rollback its row is deleted: the rollback is complete).
    The history change and the removal of the journal entry commit together.
    Returns the migration's history row when it is recorded as applied,
    ``None`` when absent. Raises :class:`ResolveRefusedError` (changing
    nothing) if the journal holds no entry for ``version``, or if a migration
    to record is not installed.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, read=False, requested=requested) as run:
        dialect = run.dialect
        with dialect.write_transaction():
            run.read()  # under the lock
            run.refuse_conflicts()  # nothing is settled for an agent claiming another agent's version
            unfinished = dialect.journal.unfinished()
            if unfinished is None or unfinished.version != version:
                held = f"V{unfinished.version}, an interrupted {unfinished.direction}" if unfinished else "nothing"
                raise ResolveRefusedError(
                    version=version,
                    problem=f"it is not an unfinished migration or rollback (the journal holds {held})",
                )
            claimant = run.installed_by_version().get(version)
            if claimant is not None and unfinished.agent and claimant.agent != normalize_agent_name(unfinished.agent):
                raise MigrationConflictError(  # agent A's interrupted run is never settled as agent B's
                    version=version, recorded_agent=unfinished.agent, applied_name=unfinished.name,
                    agent=claimant.agent, distribution=claimant.distribution, source=claimant.source,
                    journalled=unfinished.direction,
                )
            dialect.ensure_history(run.columns)
            recorded = next((existing for existing in run.history if existing.version == version), None)
            row = recorded
            if applied and recorded is None:
                planned = claimant
                if planned is None:
                    raise ResolveRefusedError(
                        version=version,
                        problem="it is not installed (or its agent was not requested), so it cannot be recorded as applied: "
                        "install its agent, or request it (agents=, the command line's agent option)",
                        needs_agent=True,
                    )
                row = planned.history_row(dialect.name, now_rfc3339(), run.int8)
                dialect.insert_history(row)
            elif not applied and recorded is not None:
                dialect.delete_history(version, unfinished.agent if claimant is None else claimant.agent)
                row = None
            dialect.journal.clear(version)
    outcome = "recorded as applied" if applied else "rolled back" if unfinished.direction == "rollback" else "left pending"
    logger.info("resolved the interrupted %s of V%s: %s", unfinished.direction, version, outcome)
    return row
