"""The first write transaction of an apply: the history table made ready, the plan confirmed under the lock, adoption.

A database that has tables but no history may already hold what pending
migrations create: :func:`assess_adoption` compares the schema their own SQL
creates (replayed on a scratch database) with the live one, and
:func:`_first_look` records the migrations it adopts without running them.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import adoption
from ..dialects import Dialect
from ..history import now_rfc3339
from ..planning import Plan, PlannedMigration, make_plan
from .apply_guard import _guarded, _replan, _Seen
from .reports import MigrationStep
from .run import Run
from .widening import first_wide

logger = logging.getLogger("nocodo_agents")


def step_of(planned: PlannedMigration, plan: Plan, **extra: Any) -> MigrationStep:
    """The report's step for ``planned``, out of order as ``plan`` says."""
    return MigrationStep(
        planned.version, planned.name, planned.agent, planned.distribution,
        out_of_order=planned.version in plan.out_of_order, **extra,
    )


def assess_adoption(dialect: Dialect, pending: tuple[PlannedMigration, ...]) -> adoption.Adoption:
    """Which pending migrations a database without history already holds (one look at the live schema)."""
    live = dialect.schema_objects()
    if not adoption.needs_adoption(pending, live):
        return adoption.Adoption(())
    return adoption.assess(pending, dialect.schema_footprints(pending), live)


def _first_look(run: Run) -> tuple[_Seen, tuple[MigrationStep, ...]]:
    """The first write transaction: the history table made ready, the plan confirmed, a database without history adopted.

    Returns what is known under the lock, and the migrations adopted (recorded
    without running) in this transaction.
    """
    dialect = run.dialect
    early: adoption.Adoption | None = None
    if "agent" in run.columns and run.unfinished is None:
        dialect.ensure_history(run.columns)  # ready: nothing to run (MySQL: an agent column too narrow is widened)
        seen = _guarded(run, _Seen.of(run))  # confirm the plan read without the lock: one row
    else:
        columns = dialect.history_columns()  # under the lock: another runner may have made the table since
        wide = False
        if not columns:
            # Adoption is judged before the history table is created, so that a refusal
            # leaves nothing behind even where DDL commits (MySQL).
            if not run.history and not run.int8:
                pending = run.plan().pending  # planned from nothing already (no table when the run opened)
            else:
                pending = make_plan(run.installed, [], dialect.name, run.target, requires=run.requires).pending
            early = assess_adoption(dialect, pending)
            wide = first_wide(pending) is not None  # a first run recording a version above 2**31 - 1: 64-bit at once
        dialect.ensure_history(columns, int8=wide)
        seen = _replan(run)
    if run.history or not seen.plan.pending:
        return seen, ()
    decision = early if early is not None else assess_adoption(dialect, seen.plan.pending)
    if not decision.adopted:
        return seen, ()
    applied_on = now_rfc3339()
    rows = []
    for planned in decision.adopted:
        row = planned.history_row(dialect.name, applied_on, run.int8)
        dialect.insert_history(row)
        rows.append(row)
        logger.info("adopted V%s__%s of agent %r: its objects already exist", planned.version, planned.name, planned.agent)
    adopted = tuple(step_of(p, seen.plan) for p in decision.adopted)
    run.recorded(rows)  # what the history holds once this transaction commits
    return _Seen.of(run), adopted
