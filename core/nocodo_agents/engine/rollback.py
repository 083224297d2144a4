"""``rollback_migrations``: undo applied migrations above a version, newest first, each with its history row."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Callable

from ..dialects import Dialect
from ..discovery import AgentRegistry
from ..errors import LockTimeoutError, RollbackUnavailableError
from ..execution import check_before_running, run_statements
from ..history import HistoryRow
from ..planning import PlannedMigration, check_requirement_rollback, check_target, replay_order
from .non_transactional import run_outside_transaction
from .reports import RollbackReport, RollbackStep
from .run import DEFAULT_LOCK_TIMEOUT, Requested, Run, incomplete_error, open_run
from .widening import keep_64_bit

logger = logging.getLogger("nocodo_agents")


def _rollback_plan(run: Run, to: int) -> list[PlannedMigration]:
    """The applied migrations above ``to``, in the reverse of the order a fresh database gets them; each must be installed and define ``rollback()``.

    That is newest first, but for agent requirements: an agent's migrations
    are undone before those of the agents it requires, whatever the versions
    (the reverse of :func:`~nocodo_agents.planning.replay_order`).
    """
    by_version = run.installed_by_version()
    plan = []
    rows: Sequence[HistoryRow] = sorted((r for r in run.history if r.version > to), key=lambda r: r.version, reverse=True)
    for row in rows:
        planned = by_version.get(row.version)
        if planned is None:
            raise RollbackUnavailableError(
                version=row.version,
                name=row.name,
                agent=row.agent,
                source=None,
                reason="no requested agent provides it (its agent is not installed, or was not requested)",
                not_requested=True,
            )
        if planned.rollback_sql(run.dialect.name) is None:
            raise RollbackUnavailableError(
                version=row.version,
                name=row.name,
                agent=planned.agent,
                source=planned.source,
                reason="the migration defines no rollback()",
            )
        plan.append(planned)
    if run.requires:
        plan = list(reversed(replay_order(plan[::-1], run.requires)))
    return plan


def rollback_migrations(
    conn: Any,
    to: int,
    agents: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Callable[[RollbackStep], None] | None = None,
    requested: Requested | None = None,
) -> RollbackReport:
    """Undo every applied migration above version ``to``, newest first (an agent's before those of the agents it requires).

    Each migration's ``rollback()`` SQL runs atomically with the removal of
    its history row (on MySQL it is journalled statement by statement, as a
    migration is). If any of them has no ``rollback()`` or is not installed,
    :class:`RollbackUnavailableError` is raised before anything changes, and
    :class:`TransactionControlError` if one's SQL controls transactions,
    :class:`RequirementOrderError` if it would undo a required agent's
    migrations while migrations of an agent requiring it stay applied; a
    divergent history raises :class:`DivergentMigrationError` first, and an
    unfinished migration or rollback in the journal :class:`IncompleteMigrationError`.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    check_target(to)
    with open_run(conn, agents, registry, lock_timeout, requested=requested) as run:
        dialect = run.dialect
        run.refuse_conflicts()  # another agent's version is never rolled back with this agent's rollback()
        divergent = run.divergences()
        if divergent:
            raise divergent[0]
        check_requirement_rollback(run.installed, run.history, run.requires, to)
        plan = _rollback_plan(run, to)
        check_before_running(dialect, plan, phase="rollback")
        run.refuse_unfinished()  # even with nothing to roll back
        if dry_run:
            steps = tuple(
                RollbackStep(
                    p.version, p.name, p.agent, p.distribution,
                    sql=p.rollback_sql(dialect.name), history_sql=dialect.history_delete_sql(p.version),
                )
                for p in plan
            )
            return RollbackReport(dialect.name, True, steps, dialect.statements)
        done: list[RollbackStep] = []
        try:
            for planned in plan:
                step = _roll_back_one(dialect, planned)
                if step is not None:
                    done.append(step)
                    if progress is not None:
                        progress(step)
        except LockTimeoutError as error:
            if not done:
                raise
            raise error.after([f"V{step.version}__{step.name} (rolled back)" for step in done]) from error
    return RollbackReport(dialect.name, False, tuple(done), dialect.statements)


def _roll_back_one(dialect: Dialect, planned: PlannedMigration) -> RollbackStep | None:
    """Roll back one migration; ``None`` if another runner rolled it back meanwhile.

    Under the lock, before it: the journal must hold nothing unfinished, and
    its version must still be recorded, and not for another agent
    (:class:`HistoryAttributionError` before any statement runs; one row each: the lock is held per
    transaction on SQLite and PostgreSQL, so another runner may have been at
    work since the history was read).
    """
    started = time.perf_counter()
    sql = planned.rollback_sql(dialect.name) or ""
    transactional = planned.migration.transactional
    with dialect.write_transaction():
        unfinished = dialect.journal.unfinished()
        if unfinished is not None:
            raise incomplete_error(unfinished)
        if not dialect.recorded_for(planned.version, planned.agent):
            return None  # another runner rolled it back meanwhile
        if transactional:
            run_statements(dialect, planned, sql, rolled_back=dialect.transactional_ddl, phase="rollback")
            keep_64_bit(dialect, planned.version)
            dialect.delete_history(planned.version, planned.agent)
            dialect.journal.done(planned.version)  # commits with the deletion
    if not transactional:  # statements outside a transaction, holding the lock; the row goes once they succeeded
        with dialect.outside_transaction():
            if not dialect.recorded_for(planned.version, planned.agent):
                return None  # another runner rolled it back meanwhile
            run_outside_transaction(dialect, planned, sql, phase="rollback")
            with dialect.write_transaction():
                keep_64_bit(dialect, planned.version)
                dialect.delete_history(planned.version, planned.agent)
                dialect.journal.done(planned.version)
    duration = (time.perf_counter() - started) * 1000
    logger.info("rolled back V%s__%s of agent %r in %.1f ms", planned.version, planned.name, planned.agent, duration)
    return RollbackStep(planned.version, planned.name, planned.agent, planned.distribution, duration_ms=duration)
