"""Applying the plan: the only part of a run that touches the database.

Every migration runs in its own write transaction together with its history
row, and each transaction re-reads the history under the write lock before
choosing what to apply, so concurrent runners never apply a migration twice.

The exception is a migration declared ``transactional = False``: it runs
outside any transaction and is recorded right after, so a failure part-way
leaves its earlier statements applied. Runners still take turns on it where
the database has a lock that outlives a transaction (the dialect's
:meth:`~nocodo_agents.dialects.Dialect.outside_transaction`: a second
connection holding PostgreSQL's advisory lock, MySQL's session-level
``GET_LOCK``), and each re-reads the history once it holds the lock, so it
never runs one another runner applied meanwhile. SQLite has no such lock: each
statement takes the write lock for itself, so runners never run such
statements at the same time, but two may each run the migration (the second
logs that it ran twice and records nothing). A migration that leaves an index
the database marks invalid (a failed ``CREATE INDEX CONCURRENTLY``) is not
recorded: :class:`~nocodo_agents.InvalidIndexError`.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from . import adoption
from .dialects import Dialect, dbapi_connection, dialect_for
from .dialects.base import UnfinishedMigration
from .discovery import AgentRegistry
from .errors import IncompleteMigrationError, InvalidArgumentError, InvalidIndexError, LockTimeoutError, MigrationFailedError
from .execution import check_before_running, run_statements
from .history import HistoryRow, now_rfc3339
from .planning import Plan, PlannedMigration, check_target, make_plan, merge

logger = logging.getLogger("nocodo_agents")

#: How long a runner waits for another one's lock by default, in seconds.
DEFAULT_LOCK_TIMEOUT = 60.0
#: The longest wait every dialect can express: 2**31 - 1 milliseconds (about 24.8 days),
#: the limit of SQLite's busy timeout and of PostgreSQL's ``lock_timeout``.
MAX_LOCK_TIMEOUT = (2**31 - 1) / 1000


def check_lock_timeout(lock_timeout: float) -> None:
    """Raise :class:`InvalidArgumentError` unless ``lock_timeout`` is a finite number of seconds in range."""
    if (
        isinstance(lock_timeout, bool)
        or not isinstance(lock_timeout, (int, float))
        or not 0 <= lock_timeout <= MAX_LOCK_TIMEOUT
    ):
        raise InvalidArgumentError(
            f"lock_timeout= must be a number of seconds >= 0 (0: do not wait) and at most "
            f"{MAX_LOCK_TIMEOUT:g} (about 24.8 days; infinity is not accepted), not {lock_timeout!r}"
        )


@dataclass(frozen=True)
class MigrationStep:
    """One migration of a report: applied (or, in a dry run, to be applied) or adopted.

    In a dry run ``sql`` holds the migration's SQL and ``history_sql`` the
    statement that would record it.
    """

    version: int
    name: str
    agent: str
    distribution: str
    out_of_order: bool = False
    sql: Optional[str] = field(default=None, repr=False)
    history_sql: Optional[str] = field(default=None, repr=False)
    duration_ms: Optional[float] = field(default=None, compare=False)


@dataclass(frozen=True)
class MigrationReport:
    """What a run did, or with ``dry_run=True`` what it would do.

    ``applied`` lists migrations applied by this run (planned, in a dry run),
    in order; each says whether it was ``out_of_order`` (lower than a version
    already applied, as when an agent is installed later). ``adopted`` lists
    migrations recorded without running because a database without history
    already had their tables. ``not_installed`` lists applied versions that
    no requested agent provides (an agent uninstalled or not requested).
    """

    dialect: str
    dry_run: bool = False
    applied: Tuple[MigrationStep, ...] = ()
    adopted: Tuple[MigrationStep, ...] = ()
    not_installed: Tuple[HistoryRow, ...] = ()
    #: Dry run only: the statements that would prepare the history table before the first migration.
    setup_sql: Tuple[str, ...] = field(default=(), repr=False)
    #: Statements sent to the database by this run.
    statements: int = field(default=0, compare=False)

    @property
    def out_of_order(self) -> Tuple[MigrationStep, ...]:
        """The applied migrations that were applied out of order."""
        return tuple(step for step in self.applied if step.out_of_order)

    @property
    def versions(self) -> Tuple[int, ...]:
        """The versions applied (or to be applied), in order."""
        return tuple(step.version for step in self.applied)


def _step(planned: PlannedMigration, plan: Plan, **extra: Any) -> MigrationStep:
    return MigrationStep(
        planned.version,
        planned.name,
        planned.agent,
        planned.distribution,
        out_of_order=planned.version in plan.out_of_order,
        **extra,
    )


def run_agent_migrations(
    conn: Any,
    agents: Optional[Sequence[str]] = None,
    *,
    target: Optional[int] = None,
    dry_run: bool = False,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Optional[Callable[[MigrationStep], None]] = None,
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

    Raises a :class:`~nocodo_agents.MigrationError` subclass on any problem;
    plugin and ordering problems are raised before the database is touched.
    Where DDL is transactional (SQLite, PostgreSQL) a failing migration
    leaves no trace of itself; on MySQL its earlier statements stay and the
    journal stops later runs until ``nocodo-agents resolve`` (see the README).
    """
    check_target(target)
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect):
        with dialect.session(lock_timeout):
            if dry_run:
                report = _dry_run(dialect, installed, target)
            else:
                report = _up_to_date(dialect, installed, target) or _apply(dialect, installed, target, progress)
                _log_outcome(report)
    return replace(report, statements=dialect.statements)


@contextmanager
def prepare(
    conn: Any, agents: Optional[Sequence[str]], registry: Optional[AgentRegistry], lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Iterator[Tuple[Tuple[PlannedMigration, ...], Dialect]]:
    """Load and merge the requested migration sets, then check the connection: no I/O before both pass.

    Yields the merged migrations and the connection's dialect; a SQLAlchemy
    ``Engine``'s borrowed connection goes back to its pool afterwards.
    """
    check_lock_timeout(lock_timeout)
    registry = registry if registry is not None else AgentRegistry.installed()
    installed = merge(registry.requested_sets(agents))
    with dbapi_connection(conn) as raw:
        dialect = dialect_for(raw)
        dialect.ensure_idle()
        yield installed, dialect


def _log_outcome(report: MigrationReport) -> None:
    for step in report.out_of_order:
        logger.warning(
            "applied V%s__%s of agent %r out of order (a higher version was already applied)",
            step.version, step.name, step.agent,
        )
    for row in report.not_installed:
        logger.info("V%s__%s is applied but no requested agent provides it (agent %s)", row.version, row.name, row.agent)


def _up_to_date(dialect: Dialect, installed: Sequence[PlannedMigration], target: Optional[int]) -> Optional[MigrationReport]:
    """The no-op path: without any lock, return a report if nothing is pending (creating nothing).

    Otherwise check every pending migration for transaction control first, so a
    run never stops half-way over something knowable before it starts. A
    migration or rollback left unfinished in the journal stops the run here,
    even when its version is recorded as applied (the journal is read with the
    history: no statement more); one another runner, holding the lock, may be
    applying right now sends this run to wait for the lock and look again.
    """
    history = dialect.read_history() if dialect.history_exists() else []
    unfinished = dialect.journal.unfinished()
    if unfinished is not None:
        if unfinished.in_progress:
            return None  # another runner is at work on it: wait for its lock, then look again under it
        raise incomplete_error(unfinished)
    plan = make_plan(installed, history, dialect.name, target)
    if plan.pending:
        check_before_running(dialect, plan.pending)  # before anything is written
        return None
    return MigrationReport(dialect.name, not_installed=plan.not_installed)


def _dry_run(dialect: Dialect, installed: Sequence[PlannedMigration], target: Optional[int]) -> MigrationReport:
    columns = dialect.history_columns()
    history = dialect.read_history() if columns else []
    plan = make_plan(installed, history, dialect.name, target)
    refuse_unfinished(dialect)
    check_before_running(dialect, plan.pending)
    adopted: Tuple[PlannedMigration, ...] = ()
    if not history:
        adopted = _assess_adoption(dialect, plan.pending).adopted
    adopted_versions = {p.version for p in adopted}
    pending = bool(plan.pending)
    return MigrationReport(
        dialect.name,
        dry_run=True,
        setup_sql=tuple(dialect.history_setup_sql(columns)) if pending else (),
        applied=tuple(
            _step(
                p,
                plan,
                sql=p.sql(dialect.name),
                history_sql=dialect.history_insert_sql(p.history_row(dialect.name, now_rfc3339())),
            )
            for p in plan.pending
            if p.version not in adopted_versions
        ),
        adopted=tuple(
            _step(p, plan, history_sql=dialect.history_insert_sql(p.history_row(dialect.name, now_rfc3339())))
            for p in adopted
        ),
        not_installed=plan.not_installed,
    )


def _assess_adoption(dialect: Dialect, pending: Sequence[PlannedMigration]) -> adoption.Adoption:
    live = dialect.schema_objects()
    if not adoption.needs_adoption(pending, live):
        return adoption.Adoption(())
    return adoption.assess(pending, dialect.schema_footprints(pending), live)


def _apply(
    dialect: Dialect,
    installed: Sequence[PlannedMigration],
    target: Optional[int],
    progress: Optional[Callable[[MigrationStep], None]],
) -> MigrationReport:
    applied: List[MigrationStep] = []
    adopted: List[MigrationStep] = []
    try:
        return _apply_all(dialect, installed, target, progress, applied, adopted)
    except LockTimeoutError as error:
        if not applied and not adopted:
            raise
        done = [f"V{step.version}__{step.name} (adopted)" for step in adopted]
        done += [f"V{step.version}__{step.name} (applied)" for step in applied]
        raise error.after(done) from error


def _apply_all(
    dialect: Dialect,
    installed: Sequence[PlannedMigration],
    target: Optional[int],
    progress: Optional[Callable[[MigrationStep], None]],
    applied: List[MigrationStep],
    adopted: List[MigrationStep],
) -> MigrationReport:
    """:func:`_apply`'s loop; ``applied`` and ``adopted`` collect the steps as they commit."""
    not_installed: Tuple[HistoryRow, ...] = ()
    first = True
    just_adopted: Tuple[MigrationStep, ...] = ()
    while True:
        adopted.extend(just_adopted)  # their transaction committed
        just_adopted = ()
        committed: Optional[MigrationStep] = None
        with dialect.write_transaction():
            if first:
                # Adoption is judged before the history table is created, so that a refusal
                # leaves nothing behind even where DDL commits (MySQL).
                early: Optional[adoption.Adoption] = None
                columns = dialect.history_columns()
                if not columns:
                    early = _assess_adoption(dialect, make_plan(installed, [], dialect.name, target).pending)
                dialect.ensure_history(columns)
            history = dialect.read_history()
            plan = make_plan(installed, history, dialect.name, target)
            refuse_unfinished(dialect)
            if first:
                first = False
                not_installed = plan.not_installed
                if not history and plan.pending:
                    just_adopted = _adopt(dialect, plan, early)
                    if just_adopted:
                        continue  # commits; plan again with the adopted rows
            if not plan.pending:
                break
            planned = plan.pending[0]
            if planned.migration.transactional:
                committed = _apply_one(dialect, planned, plan)  # counted once its transaction commits
        if not planned.migration.transactional:
            # A migration that cannot run in a transaction runs once this transaction is over.
            committed = _apply_outside_transaction(dialect, planned, plan)
            if committed is None:
                continue  # another runner applied it meanwhile
        assert committed is not None
        applied.append(committed)
        if progress is not None:
            progress(committed)
    return MigrationReport(
        dialect.name,
        applied=tuple(applied),
        adopted=tuple(adopted),
        not_installed=not_installed,
    )


def incomplete(dialect: Dialect) -> Optional[IncompleteMigrationError]:
    """The journal's migration (or rollback) stopped part-way, as the error naming it and the ``resolve`` commands.

    ``None`` also when the entry was read without the migration lock while
    another runner held it: that runner may be applying it right now (MySQL
    journals as it goes); whoever takes the lock next sees whether it stopped.
    """
    unfinished = dialect.journal.unfinished()
    if unfinished is None:
        return None
    if unfinished.in_progress:
        logger.info(
            "V%s__%s of agent %r is in the journal while another runner holds the migration lock: it is "
            "probably being applied right now", unfinished.version, unfinished.name, unfinished.agent,
        )
        return None
    return incomplete_error(unfinished)


def incomplete_error(unfinished: UnfinishedMigration) -> IncompleteMigrationError:
    """The error naming a journal entry that stopped part-way, and the ``resolve`` commands."""
    return IncompleteMigrationError(
        unfinished.version, unfinished.name, unfinished.agent, unfinished.statements,
        unfinished.failed_index, unfinished.error, unfinished.direction,
    )


def refuse_unfinished(dialect: Dialect) -> None:
    """Raise :class:`IncompleteMigrationError` if the journal holds a migration (or rollback) stopped part-way."""
    error = incomplete(dialect)
    if error is not None:
        raise error


def _adopt(dialect: Dialect, plan: Plan, decision: Optional[adoption.Adoption] = None) -> Tuple[MigrationStep, ...]:
    if decision is None:
        decision = _assess_adoption(dialect, plan.pending)
    applied_on = now_rfc3339()
    for planned in decision.adopted:
        dialect.insert_history(planned.history_row(dialect.name, applied_on))
        logger.info("adopted V%s__%s of agent %r: its objects already exist", planned.version, planned.name, planned.agent)
    return tuple(_step(p, plan) for p in decision.adopted)


def _apply_one(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> MigrationStep:
    started = time.perf_counter()
    run_statements(dialect, planned, planned.sql(dialect.name), rolled_back=dialect.transactional_ddl)
    dialect.insert_history(planned.history_row(dialect.name, now_rfc3339()))
    dialect.journal.done(planned.version)
    duration = (time.perf_counter() - started) * 1000
    logger.info("applied V%s__%s of agent %r in %.1f ms", planned.version, planned.name, planned.agent, duration)
    return _step(planned, plan, duration_ms=duration)


def is_recorded(dialect: Dialect, version: int) -> bool:
    """Whether the history holds ``version`` (one statement; call after the history table is known)."""
    return any(row.version == version for row in dialect.read_history())


def run_outside_transaction(dialect: Dialect, planned: PlannedMigration, sql: str, phase: str = "migration") -> None:
    """Run a ``transactional = False`` migration's (or rollback's) statements, then refuse invalid indexes.

    Raises :class:`InvalidIndexError` if the database holds an index marked
    invalid afterwards (the caller then records nothing), also when a
    statement failed and left one, and also one invalid before it ran that
    its SQL names (``IF NOT EXISTS`` skipped it: the error tells them apart);
    otherwise a failing statement raises :class:`MigrationFailedError` as
    usual. An index invalid before it ran that it does not name (another
    application's failed build) is only logged: ``verify`` reports it.
    """
    before = dialect.invalid_indexes()  # to tell the indexes it left from those invalid already
    try:
        run_statements(dialect, planned, sql, rolled_back=False, phase=phase)
    except MigrationFailedError as failure:
        invalid = _its_invalid_indexes(_invalid_indexes_after(dialect, failure), before, sql)
        if invalid:
            raise InvalidIndexError(planned, invalid, phase, failure, already_invalid=before) from failure
        raise
    invalid = _its_invalid_indexes(dialect.invalid_indexes(), before, sql)
    if invalid:
        raise InvalidIndexError(planned, invalid, phase, already_invalid=before)


def _its_invalid_indexes(invalid: Sequence[str], before: Sequence[str], sql: str) -> List[str]:
    """Of the ``invalid`` indexes, those new since ``before`` or named in ``sql``; the others are logged."""
    its = [index for index in invalid if index not in before or _names(sql, index)]
    for index in invalid:
        if index not in its:
            logger.warning(
                "index %s is invalid (a concurrent build failed), as it was before this migration ran, which does "
                "not name it: drop it (DROP INDEX CONCURRENTLY %s;) or build it again; `verify` reports it", index, index,
            )
    return its


#: The last identifier of a schema-qualified name, quoted (``"a ""b"""``) or not.
_LAST_IDENTIFIER = re.compile(r'(?:"(?:[^"]|"")*"|[^."]+)$')


def _names(sql: str, qualified: str) -> bool:
    """Whether ``sql`` mentions the relation ``qualified`` (``schema.name`` as ``quote_ident`` writes it) by name."""
    match = _LAST_IDENTIFIER.search(qualified)
    name = match.group(0) if match else qualified
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    return re.search(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", sql, re.IGNORECASE) is not None


def _invalid_indexes_after(dialect: Dialect, failure: MigrationFailedError) -> List[str]:
    """The invalid indexes a failed statement left; none when they cannot be asked for (the connection is gone)."""
    try:
        return dialect.invalid_indexes()
    except Exception as error:  # keep the statement's own error
        logger.debug("could not look for invalid indexes after %s: %s", type(failure).__name__, error)
        return []


def _apply_outside_transaction(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> Optional[MigrationStep]:
    """Run and record one ``transactional = False`` migration holding the lock; ``None`` if another runner applied it."""
    with dialect.outside_transaction():
        if is_recorded(dialect, planned.version):
            logger.info("V%s__%s of agent %r was applied by another runner meanwhile", planned.version, planned.name, planned.agent)
            return None
        started = time.perf_counter()
        run_outside_transaction(dialect, planned, planned.sql(dialect.name))
        with dialect.write_transaction():
            if is_recorded(dialect, planned.version):  # only where no lock outlives a transaction (SQLite)
                logger.warning(
                    "V%s__%s of agent %r runs outside a transaction and another runner applied it at "
                    "the same time: it ran twice", planned.version, planned.name, planned.agent,
                )
            else:
                dialect.insert_history(planned.history_row(dialect.name, now_rfc3339()))
                dialect.journal.done(planned.version)
    duration = (time.perf_counter() - started) * 1000
    logger.info("applied V%s__%s of agent %r outside a transaction in %.1f ms", planned.version, planned.name, planned.agent, duration)
    return _step(planned, plan, duration_ms=duration)
