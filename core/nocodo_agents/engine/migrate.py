"""``run_agent_migrations``: the no-op path, the dry run, or applying what is pending."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable

from ..discovery import AgentRegistry
from .reports import MigrationReport, MigrationStep
from .run import DEFAULT_LOCK_TIMEOUT, Run, check_lock_timeout, check_target, incomplete_error, open_run

# Imported where used, not here: a no-op (the common case, at every start of an application or a
# deploy) needs none of applying, checking statements before running, widening or the no-op cache
# of open connections (the command line's migrate uses a fresh connection):
# .apply, ..execution, .widening, .noop_cache, ..history.now_rfc3339.

logger = logging.getLogger("nocodo_agents")


def run_agent_migrations(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    target: int | None = None,
    dry_run: bool = False,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Callable[[MigrationStep], None] | None = None,
    grouped: bool = False,
) -> MigrationReport:
    """Apply the core migrations and those of the requested agents to ``conn``.

    ``conn`` is an open connection outside any transaction: ``sqlite3``,
    psycopg 3, PyMySQL, or a SQLAlchemy ``Engine``/``Connection`` over one.
    ``agents=None`` means every installed agent; a list means core plus those
    agents (``-`` and ``_`` are folded when matching names). ``target`` stops
    after that version. ``dry_run=True`` verifies and plans like a real run
    and changes nothing, not even creating the history table; the report's
    steps then carry their SQL. ``registry`` replaces the installed agents
    (tests, applications registering plugins in-process). ``lock_timeout`` is
    how long to wait, in seconds, for a concurrent runner. ``progress`` is
    called with each :class:`MigrationStep` as soon as it is committed.
    ``grouped=True`` applies every pending migration in one transaction (as
    refinery's ``set_grouped``): a failure rolls back the whole run. It is
    refused with :class:`~nocodo_agents.GroupedRunRefusedError`, before
    anything runs, where DDL commits implicitly (MySQL, MariaDB) and when a
    pending migration is declared ``transactional = False``.

    Raises a :class:`~nocodo_agents.MigrationError` subclass on any problem;
    plugin and ordering problems are raised before the database is touched.
    Where DDL is transactional (SQLite, PostgreSQL) a failing migration
    leaves no trace of itself; on MySQL its earlier statements stay and the
    journal stops later runs until ``nocodo-agents resolve`` (see ``docs/dialects.md``).
    """
    check_lock_timeout(lock_timeout)
    check_target(target)
    registry = registry if registry is not None else AgentRegistry.installed()
    sets = registry.requested_sets(agents)  # plugin and ordering problems raise here, before any I/O
    from .noop_cache import NO_OP_CACHE

    if not dry_run:
        known = NO_OP_CACHE.recall(conn, registry, agents, target, lock_timeout, sets)
        if known is not None:
            if known.not_installed:  # a no-op applied nothing, so nothing out of order
                _log_outcome(known)
            return known
    with open_run(conn, agents, registry, lock_timeout, target=target, sets=sets) as run:
        if dry_run:
            report = dry_run_report(run, grouped)
        else:
            noop = up_to_date(run)
            if noop is not None:
                NO_OP_CACHE.remember(
                    run.dialect.connection, run.dialect.history_snapshot(), registry, agents, target, lock_timeout, sets, noop
                )
            else:
                NO_OP_CACHE.forget(run.dialect.connection)
            report = migrate(run, progress, noop=noop, grouped=grouped, asked=True)
    return MigrationReport(
        report.dialect,
        dry_run=report.dry_run,
        applied=report.applied,
        adopted=report.adopted,
        not_installed=report.not_installed,
        setup_sql=report.setup_sql,
        statements=run.dialect.statements,
    )


def migrate(
    run: Run,
    progress: Callable[[MigrationStep], None] | None = None,
    *,
    noop: MigrationReport | None = None,
    grouped: bool = False,
    asked: bool = False,
) -> MigrationReport:
    """Within an open run: the no-op report if nothing is pending, else apply what is (logging the outcome).

    ``noop``: what :func:`up_to_date` just returned for this run, not asked again; ``asked``: it was
    asked, and ``None`` (something pending, checked before running) is its answer too. ``grouped``: every
    migration in one transaction (:func:`~.apply.apply_pending`).
    """
    report = noop if noop is not None or asked else up_to_date(run)
    if report is None:
        from .apply import apply_pending

        report = apply_pending(run, progress, grouped)
    _log_outcome(report)
    return report


def _log_outcome(report: MigrationReport) -> None:
    """Log what a run did out of order, and the applied versions no requested agent provides."""
    for step in report.out_of_order:
        logger.warning(
            "applied V%s__%s of agent %r out of order (a higher version was already applied)",
            step.version, step.name, step.agent,
        )
    for row in report.not_installed:
        logger.info("V%s__%s is applied but no requested agent provides it (agent %s)", row.version, row.name, row.agent)


def up_to_date(run: Run) -> MigrationReport | None:
    """The no-op path: from the history read without any lock, a report if nothing is pending (creating nothing).

    Otherwise check every pending migration for transaction control first, so a
    run never stops half-way over something knowable before it starts. A
    migration or rollback left unfinished in the journal stops the run here,
    even when its version is recorded as applied (the journal is read with the
    history: no statement more); one another runner, holding the lock, may be
    applying right now sends this run to wait for the lock and look again.
    """
    if run.unfinished is not None:
        if run.unfinished.in_progress:
            return None  # another runner is at work on it: wait for its lock, then look again under it
        raise incomplete_error(run.unfinished)
    plan = run.plan()
    if plan.pending:
        from ..execution import check_before_running

        check_before_running(run.dialect, plan.pending)  # before anything is written
        return None
    return MigrationReport(run.dialect.name, not_installed=plan.not_installed)


def dry_run_report(run: Run, grouped: bool = False) -> MigrationReport:
    """What a run would do, verified and planned as a real run is, changing nothing (not even creating the history table).

    ``grouped``: refused as the run would refuse it (:func:`~.apply.refuse_ungroupable`).
    """
    from ..execution import check_before_running
    from ..history import now_rfc3339
    from .apply import assess_adoption, refuse_ungroupable, step_of
    from .widening import first_wide

    dialect = run.dialect
    plan = run.plan()
    run.refuse_unfinished()
    check_before_running(dialect, plan.pending)
    if grouped:
        refuse_ungroupable(dialect, plan.pending)
    adopted = assess_adoption(dialect, plan.pending).adopted if not run.history else ()
    adopted_versions = {p.version for p in adopted}
    wide = first_wide(plan.pending) is not None  # recording it needs a 64-bit history: created so, or widened
    int8 = plan.int8_versions or wide
    setup_sql = dialect.history_setup_sql(run.columns, wide) if plan.pending else []
    if wide and run.columns and not plan.int8_versions:
        setup_sql += dialect.widen_history_sql()
    return MigrationReport(
        dialect.name,
        dry_run=True,
        setup_sql=tuple(setup_sql),
        applied=tuple(
            step_of(
                p, plan,
                sql=p.sql(dialect.name),
                history_sql=dialect.history_insert_sql(p.history_row(dialect.name, now_rfc3339(), int8)),
            )
            for p in plan.pending
            if p.version not in adopted_versions
        ),
        adopted=tuple(
            step_of(p, plan, history_sql=dialect.history_insert_sql(p.history_row(dialect.name, now_rfc3339(), int8)))
            for p in adopted
        ),
        not_installed=plan.not_installed,
    )
