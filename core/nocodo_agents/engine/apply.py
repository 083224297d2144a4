"""Applying the plan: the only part of a run that changes the database.

The run plans once (:mod:`nocodo_agents.engine.run`). Every migration then
runs in its own write transaction together with its history row; before it,
under the lock, one single-row query (:func:`_guarded`) checks that nobody
changed the history since this run last looked, so applying n migrations
costs O(n) statements and rows, and concurrent runners never apply a
migration twice.

The exception is a migration declared ``transactional = False``: it runs
outside any transaction and is recorded right after, so a failure part-way
leaves its earlier statements applied. Runners still take turns on it where
the database has a lock that outlives a transaction (the dialect's
:meth:`~nocodo_agents.dialects.Dialect.outside_transaction`: a second
connection holding PostgreSQL's advisory lock, MySQL's session-level
``GET_LOCK``), and each checks the history once it holds the lock, so it
never runs one another runner applied meanwhile. SQLite has no such lock: each
statement takes the write lock for itself, so runners never run such
statements at the same time, but two may each run the migration (the second
logs that it ran twice and records nothing). A migration that leaves an index
the database marks invalid (a failed ``CREATE INDEX CONCURRENTLY``) is not
recorded: :class:`~nocodo_agents.InvalidIndexError`.
"""

from __future__ import annotations

import logging
import time
from time import perf_counter
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from .. import adoption
from ..dialects import Dialect
from ..dialects.history_table import version_sum
from ..errors import GroupedRunRefusedError, LockTimeoutError, MigrationFailedError
from ..execution import run_statements
from ..history import HistoryRow, now_rfc3339
from ..planning import Plan, PlannedMigration, make_plan
from .non_transactional import is_recorded, run_outside_transaction
from .reports import MigrationReport, MigrationStep
from .run import Run, incomplete_error
from .widening import first_wide, needs_settling, settle_width

logger = logging.getLogger("nocodo_agents")

Progress = Optional[Callable[[MigrationStep], None]]


def step_of(planned: PlannedMigration, plan: Plan, **extra: Any) -> MigrationStep:
    """The report's step for ``planned``, out of order as ``plan`` says."""
    return MigrationStep(
        planned.version, planned.name, planned.agent, planned.distribution,
        out_of_order=planned.version in plan.out_of_order, **extra,
    )


def assess_adoption(dialect: Dialect, pending: Tuple[PlannedMigration, ...]) -> adoption.Adoption:
    """Which pending migrations a database without history already holds (one look at the live schema)."""
    live = dialect.schema_objects()
    if not adoption.needs_adoption(pending, live):
        return adoption.Adoption(())
    return adoption.assess(pending, dialect.schema_footprints(pending), live)


@dataclass
class _Seen:
    """The plan as this run last confirmed it under the lock, and the history's versions then (count and sum)."""

    plan: Plan
    rows: int
    version_sum: int
    done: int = 0  # how many of plan.pending this run has applied since
    #: Whether ``plan.pending`` holds a version above 2**31 - 1 (looked for once per plan, not per migration).
    wide: bool = False
    #: What the dialect's :meth:`~nocodo_agents.dialects.Dialect.change_token` said when this run last
    #: confirmed the history under the lock (``None``: unknown, or the dialect has none).
    token: Optional[int] = None

    @classmethod
    def of(cls, run: Run) -> "_Seen":
        """The run's plan, from the history it holds now."""
        plan = run.plan()
        return cls(plan, len(run.history), version_sum(row.version for row in run.history), wide=first_wide(plan.pending) is not None)

    def next(self) -> Optional[PlannedMigration]:
        return self.plan.pending[self.done] if self.done < len(self.plan.pending) else None

    def applied_one(self, version: int) -> None:
        self.done += 1
        self.rows += 1
        self.version_sum += version % 4294967296  # as version_sum


def _replan(run: Run) -> _Seen:
    """Read the history and the journal again under the lock, and plan again from them."""
    run.read()
    run.refuse_unfinished()  # under the lock: an entry in the journal stopped part-way
    return _Seen.of(run)


def _guarded(run: Run, seen: _Seen) -> _Seen:
    """Under the lock, before a migration: ``seen`` if the history is still as this run left it, else a new plan.

    Why: concurrent runners. The lock is held per transaction on PostgreSQL
    (``pg_advisory_xact_lock``) and SQLite (``BEGIN IMMEDIATE``), so between
    two of this run's transactions another runner may take it and apply (or
    roll back) migrations. Reading the whole history again before each
    migration would cost n^2/2 rows for n migrations; one row tells whether
    anything changed: the history must hold as many rows as this run last saw
    plus those it wrote, with the same sum of versions (a rollback followed by
    another runner's apply keeps the count), and the next version must still
    be unapplied. Only when any of these fails (another runner was at work) is
    the history read and the run planned again; so is it when the version
    column's declared width changed (another runner widened the history: the
    checksums written from then on hash the version as ``i64``). After the last migration one
    more transaction asks the same (a runner returns only once nothing is
    pending under the lock). The journal (MySQL, where a migration that
    stopped part-way stops every run) is checked under the lock too; elsewhere
    that costs no statement.

    Where the dialect can tell in O(1) that no other connection committed
    since this run last confirmed the history under the lock (SQLite's
    ``PRAGMA data_version``: :meth:`~nocodo_agents.dialects.Dialect.change_token`),
    that one value replaces the query, which counts and sums the whole
    history (so n migrations would read O(n^2) rows inside the database).
    """
    dialect = run.dialect
    planned = seen.next()
    token = dialect.change_token()
    if token is not None and token == seen.token:
        return seen  # nobody else committed since this run last looked under the lock
    guard = dialect.history_guard(None if planned is None else planned.version)
    unfinished = dialect.journal.unfinished()
    if unfinished is not None:
        raise incomplete_error(unfinished)
    unchanged = guard.rows == seen.rows and guard.version_sum == seen.version_sum and not guard.recorded
    if unchanged and guard.int8 == dialect.history_int8:
        seen.token = token
        return seen
    if unchanged:
        logger.info("another runner widened the history to 64-bit versions since this run read it: planning again")
    else:
        logger.info("the history changed since this run read it (another runner): planning again")
    replanned = _replan(run)
    replanned.token = token
    return replanned


def _first_look(run: Run) -> Tuple[_Seen, Tuple[MigrationStep, ...]]:
    """The first write transaction: the history table made ready, the plan confirmed, a database without history adopted.

    Returns what is known under the lock, and the migrations adopted (recorded
    without running) in this transaction.
    """
    dialect = run.dialect
    early: Optional[adoption.Adoption] = None
    if "agent" in run.columns and run.unfinished is None:
        dialect.ensure_history(run.columns)  # ready: nothing to run (MySQL: an agent column too narrow is widened)
        seen = _guarded(run, _Seen.of(run))  # confirm the plan read without the lock: one row
    else:
        columns = dialect.history_columns()  # under the lock: another runner may have made the table since
        wide = False
        if not columns:
            # Adoption is judged before the history table is created, so that a refusal
            # leaves nothing behind even where DDL commits (MySQL).
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


def refuse_ungroupable(dialect: Dialect, pending: Sequence[PlannedMigration]) -> None:
    """Raise :class:`GroupedRunRefusedError` unless ``pending`` can be applied in one transaction that a failure rolls back.

    Not where DDL commits implicitly (MySQL, MariaDB), nor with a migration
    declared ``transactional = False``. Runs no statement.
    """
    if not pending:
        return
    if not dialect.transactional_ddl:
        raise GroupedRunRefusedError(dialect=dialect.name, database=dialect.location(), reason="ddl_commits")
    outside = [p for p in pending if not p.migration.transactional]
    if outside:
        raise GroupedRunRefusedError(
            dialect=dialect.name,
            database=dialect.location(),
            reason="non_transactional",
            migrations=[f"V{p.version}__{p.name} (agent {p.agent}, distribution {p.distribution}, {p.source})" for p in outside],
        )


def apply_pending(run: Run, progress: Progress, grouped: bool = False) -> MigrationReport:
    """Apply what is pending, each migration in its own transaction (``grouped``: all in one); a lock timeout names what was done before it."""
    applied: List[MigrationStep] = []
    adopted: List[MigrationStep] = []
    try:
        if grouped:
            return _apply_grouped(run, progress, applied, adopted)
        return _apply_all(run, progress, applied, adopted)
    except LockTimeoutError as error:
        if not applied and not adopted:
            raise
        done = [f"V{step.version}__{step.name} (adopted)" for step in adopted]
        done += [f"V{step.version}__{step.name} (applied)" for step in applied]
        raise error.after(done) from error


def _apply_all(run: Run, progress: Progress, applied: List[MigrationStep], adopted: List[MigrationStep]) -> MigrationReport:
    """:func:`apply_pending`'s loop; ``applied`` and ``adopted`` collect the steps as they commit."""
    dialect = run.dialect
    seen: Optional[_Seen] = None
    not_installed: Tuple[HistoryRow, ...] = ()
    if needs_settling(run, run.plan()):
        settle_width(run)  # under the lock: widen to 64-bit, or record 32-bit checksums again, first
    while True:
        committed: Optional[MigrationStep] = None
        just_adopted: Tuple[MigrationStep, ...] = ()
        if seen is not None:
            upcoming = seen.next()
            dialect.expect_guard(None if upcoming is None else upcoming.version)  # PostgreSQL asks it with BEGIN
        with dialect.write_transaction():
            if seen is None:
                seen, just_adopted = _first_look(run)
                not_installed = seen.plan.not_installed
            else:
                seen = _guarded(run, seen)
            # Another runner may have made a 32-bit history since this run looked: widen it first.
            unsettled = needs_settling(run, seen.plan, seen.wide)
            planned = None if just_adopted or unsettled else seen.next()
            if planned is not None and planned.migration.transactional:
                committed = _apply_one(dialect, planned, seen.plan)
        if just_adopted:
            adopted.extend(just_adopted)  # committed alone; the next transaction applies what remains
            continue
        if unsettled:
            settle_width(run)
            seen = None  # look again, under the lock, at the history as widened
            continue
        if planned is None:
            break
        if not planned.migration.transactional:
            # A migration that cannot run in a transaction runs once this transaction is over.
            committed = _apply_outside_transaction(dialect, planned, seen.plan)
            if committed is None:
                continue  # another runner applied it meanwhile: the next guard sees it and plans again
        assert committed is not None
        seen.applied_one(committed.version)
        applied.append(committed)
        if progress is not None:
            dialect.hand_over()
            progress(committed)
            seen.token = None  # the callback may have written through this connection, which no token shows
    return MigrationReport(dialect.name, applied=tuple(applied), adopted=tuple(adopted), not_installed=not_installed)


def _apply_grouped(run: Run, progress: Progress, applied: List[MigrationStep], adopted: List[MigrationStep]) -> MigrationReport:
    """:func:`apply_pending` in one transaction: the first look, adoption and every migration commit together, or nothing does.

    ``applied`` and ``adopted`` are filled once the transaction committed
    (so a lock timeout never names as done what was rolled back). Only a
    history that must first be widened to 64-bit versions (or have its
    checksums recorded again) is settled in a transaction of its own before.
    """
    dialect = run.dialect
    refuse_ungroupable(dialect, run.plan().pending)
    if needs_settling(run, run.plan()):
        settle_width(run)
    while True:
        steps: List[MigrationStep] = []
        with dialect.write_transaction():
            seen, just_adopted = _first_look(run)
            unsettled = needs_settling(run, seen.plan, seen.wide)
            if not unsettled:
                refuse_ungroupable(dialect, seen.plan.pending)  # planned again under the lock: before any statement
                for planned in seen.plan.pending:
                    try:
                        steps.append(_apply_one(dialect, planned, seen.plan))
                    except MigrationFailedError as error:
                        if type(error) is MigrationFailedError and error.rolled_back and steps:
                            raise error.in_grouped_run([f"V{s.version}__{s.name}" for s in steps]) from error.__cause__
                        raise
        adopted.extend(just_adopted)  # committed
        if unsettled:
            settle_width(run)  # another runner made a 32-bit history meanwhile; the first look committed alone
            continue
        break
    if progress is not None and steps:
        dialect.hand_over()
    for step in steps:
        applied.append(step)
        if progress is not None:
            progress(step)
    return MigrationReport(dialect.name, applied=tuple(applied), adopted=tuple(adopted), not_installed=seen.plan.not_installed)


def _apply_one(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> MigrationStep:
    """Run ``planned`` and write its history row, in the caller's transaction; the report's step."""
    started = perf_counter()
    name = dialect.name
    migration = planned.migration
    version = migration.version
    run_statements(dialect, planned, planned.sql(name), rolled_back=dialect.transactional_ddl)
    dialect.insert_history(planned.history_row(name, now_rfc3339(), plan.int8_versions))
    dialect.journal.done(version)
    duration = (perf_counter() - started) * 1000
    if logger.isEnabledFor(logging.INFO):
        logger.info("applied V%s__%s of agent %r in %.1f ms", version, migration.name, planned.agent, duration)
    return MigrationStep(
        version, migration.name, planned.agent, planned.distribution, version in plan.out_of_order, duration_ms=duration
    )


def _apply_outside_transaction(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> Optional[MigrationStep]:
    """Run and record one ``transactional = False`` migration holding the lock; ``None`` if another runner applied it."""
    with dialect.outside_transaction():
        guard = dialect.history_guard(planned.version)
        if guard.recorded:
            logger.info("V%s__%s of agent %r was applied by another runner meanwhile", planned.version, planned.name, planned.agent)
            return None
        int8 = plan.int8_versions or guard.int8  # another runner may have widened the history meanwhile; nothing narrows it
        started = time.perf_counter()
        run_outside_transaction(dialect, planned, planned.sql(dialect.name))
        with dialect.write_transaction():
            if is_recorded(dialect, planned.version):  # only where no lock outlives a transaction (SQLite)
                logger.warning(
                    "V%s__%s of agent %r runs outside a transaction and another runner applied it at "
                    "the same time: it ran twice", planned.version, planned.name, planned.agent,
                )
            else:
                dialect.insert_history(planned.history_row(dialect.name, now_rfc3339(), int8))
                dialect.journal.done(planned.version)
    duration = (time.perf_counter() - started) * 1000
    logger.info("applied V%s__%s of agent %r outside a transaction in %.1f ms", planned.version, planned.name, planned.agent, duration)
    return step_of(planned, plan, duration_ms=duration)
