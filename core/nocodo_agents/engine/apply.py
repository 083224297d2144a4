"""Applying the plan: the only part of a run that changes the database.

The run plans once (:mod:`nocodo_agents.engine.run`). Every migration then
runs in its own write transaction together with its history row; before it,
under the lock, one single-row query (:func:`~.apply_guard._guarded`) checks that nobody
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

The guard lives in :mod:`.apply_guard`, the first transaction (history table
ready, adoption) in :mod:`.first_look`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from time import perf_counter
from typing import Callable, Optional

from ..dialects import Dialect
from ..dialects.history_writes import HistoryValues
from ..errors import GroupedRunRefusedError, LockTimeoutError, MigrationFailedError
from ..execution import run_statements
from ..history import HistoryRow, now_rfc3339
from ..planning import Plan, PlannedMigration
from .apply_guard import _guarded, _Seen
from .first_look import _first_look, assess_adoption, step_of
from .non_transactional import is_recorded, run_outside_transaction
from .reports import MigrationReport, MigrationStep
from .run import Run
from .scripted import ScriptInstead, apply_scripted_stretch, group_prelude, scripted_group
from .widening import needs_settling, settle_width

__all__ = ["Progress", "apply_pending", "assess_adoption", "refuse_ungroupable", "step_of"]

logger = logging.getLogger("nocodo_agents")

Progress = Optional[Callable[[MigrationStep], None]]


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
    applied: list[MigrationStep] = []
    adopted: list[MigrationStep] = []
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


def _apply_all(run: Run, progress: Progress, applied: list[MigrationStep], adopted: list[MigrationStep]) -> MigrationReport:
    """:func:`apply_pending`'s loop; ``applied`` and ``adopted`` collect the steps as they commit."""
    dialect = run.dialect
    seen: _Seen | None = None
    not_installed: tuple[HistoryRow, ...] = ()
    if needs_settling(run, run.plan()):
        settle_width(run)  # under the lock: widen to 64-bit, or record 32-bit checksums again, first
    while True:
        committed: MigrationStep | None = None
        just_adopted: tuple[MigrationStep, ...] = ()
        if seen is not None:
            upcoming = seen.next()
            if upcoming is not None and seen.token is not None and not needs_settling(run, seen.plan, seen.wide):
                # Nobody else committed since the token was read, if each script's guard agrees: one call each, up to
                # a migration the per-statement path must take (a progress callback may write: then one at a time).
                before = len(applied)
                apply_scripted_stretch(dialect, seen, applied, at_most=None if progress is None else 1)
                if progress is not None and len(applied) > before:
                    _tell_progress(dialect, seen, applied[-1], progress)
                    continue
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
        _committed(dialect, seen, committed, applied, progress)
    return MigrationReport(dialect.name, applied=tuple(applied), adopted=tuple(adopted), not_installed=not_installed)


def _committed(dialect: Dialect, seen: _Seen, committed: MigrationStep, applied: list[MigrationStep], progress: Progress) -> None:
    """After ``committed``'s transaction committed: the plan moves on, the report and the progress callback learn of it."""
    seen.applied_one(committed.version)
    applied.append(committed)
    if progress is not None:
        _tell_progress(dialect, seen, committed, progress)


def _tell_progress(dialect: Dialect, seen: _Seen, committed: MigrationStep, progress: Callable[[MigrationStep], None]) -> None:
    """The progress callback learns of ``committed``; the token is forgotten if the callback may have written through this connection.

    SQLite's token does not show this connection's own writes: the token is
    kept only if the dialect can tell that the callback wrote no row, changed no schema and left
    no transaction open (:meth:`~nocodo_agents.dialects.Dialect.own_changes`).
    """
    own = dialect.own_changes()
    dialect.hand_over()
    progress(committed)
    if own is None or dialect.own_changes() != own or dialect.transaction_open():
        seen.token = None


def _apply_grouped(run: Run, progress: Progress, applied: list[MigrationStep], adopted: list[MigrationStep]) -> MigrationReport:
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
    scripting = True  # until a script of the run failed: then the per-statement path names what failed
    while True:
        steps: list[MigrationStep] = []
        try:
            with dialect.write_transaction():
                with dialect.recording_writes() as recorded:
                    seen, just_adopted = _first_look(run)
                unsettled = needs_settling(run, seen.plan, seen.wide)
                if not unsettled:
                    refuse_ungroupable(dialect, seen.plan.pending)  # planned again under the lock: before any statement
                    prelude = group_prelude(dialect, recorded, seen.plan.pending) if scripting and not just_adopted else None
                    token = None if prelude is None else dialect.change_token()
                    if prelude is not None and token is not None:
                        raise ScriptInstead(prelude, token)  # rolls this transaction back
                    steps = _grouped_statements(dialect, seen.plan)
        except ScriptInstead as instead:
            # The whole run, the first look's writes first, in one script guarded by the token read under the lock.
            done = scripted_group(dialect, instead.prelude, seen.plan.pending, seen.plan, instead.token)
            if done is None:
                scripting = False  # nothing of it remains: the per-statement path runs it and names what fails
                run.read()  # the history as it is now that the first look's writes were rolled back
                continue
            steps = done
            break
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


def _grouped_statements(dialect: Dialect, plan: Plan) -> list[MigrationStep]:
    """Every pending migration of a grouped run, statement by statement, then every history row, in the transaction open."""
    steps: list[MigrationStep] = []
    rows: list[HistoryValues] = []
    for planned in plan.pending:
        try:
            steps.append(_apply_one(dialect, planned, plan, rows))
        except MigrationFailedError as error:
            if type(error) is MigrationFailedError and error.rolled_back and steps:
                raise error.in_grouped_run([f"V{s.version}__{s.name}" for s in steps]) from error.__cause__
            raise
    # Every history row in this same transaction, once the last migration ran: they commit together.
    dialect.insert_history_rows(rows)
    for values in rows:
        dialect.journal.done(values[0])
    return steps


def _apply_one(
    dialect: Dialect, planned: PlannedMigration, plan: Plan, rows: list[HistoryValues] | None = None
) -> MigrationStep:
    """Run ``planned`` and write its history row, in the caller's transaction; the report's step.

    ``rows``: the history row is appended there instead, for the caller to
    write in the same transaction once the group's last migration ran
    (:meth:`~nocodo_agents.dialects.Dialect.insert_history_rows`).
    """
    started = perf_counter()
    name = dialect.name
    migration = planned.migration
    version = migration.version
    run_statements(dialect, planned, planned.sql(name), rolled_back=dialect.transactional_ddl)
    values = (version, migration.name, now_rfc3339(), str(planned.checksum(name, plan.int8_versions)), planned.agent)
    if rows is None:
        dialect.insert_history(HistoryRow(*values))
        dialect.journal.done(version)
    else:
        rows.append(values)
    duration = (perf_counter() - started) * 1000
    if logger.isEnabledFor(logging.INFO):
        logger.info("applied V%s__%s of agent %r in %.1f ms", version, migration.name, planned.agent, duration)
    return MigrationStep(
        version, migration.name, planned.agent, planned.distribution, version in plan.out_of_order, duration_ms=duration
    )


def _apply_outside_transaction(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> MigrationStep | None:
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
