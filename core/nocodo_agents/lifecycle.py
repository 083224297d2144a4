"""Operations beyond migrating: record without running, roll back, verify, repair.

Each takes the same ``conn``/``agents``/``registry`` as
:func:`~nocodo_agents.database.migrations.run_agent_migrations`, loads and
merges the requested migrations before touching the database, and does its
writes inside the dialect's write transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

from .discovery import AgentRegistry
from .errors import (
    DivergentMigrationError,
    HistoryNotEmptyError,
    IncompleteMigrationError,
    LockTimeoutError,
    ResolveRefusedError,
    RollbackUnavailableError,
    SchemaDriftError,
)
from .execution import check_before_running, run_statements
from .history import HistoryRow, now_rfc3339
from .planning import PlannedMigration, check_target, divergences, make_plan, verify
from .runner import (
    DEFAULT_LOCK_TIMEOUT,
    MigrationReport,
    MigrationStep,
    incomplete,
    is_recorded,
    prepare,
    refuse_unfinished,
    run_outside_transaction,
)

if TYPE_CHECKING:  # pragma: no cover
    from .dialects import Dialect
    from .drift import DriftReport

logger = logging.getLogger("nocodo_agents")


def record_as_applied(
    conn: Any,
    agents: Optional[Sequence[str]] = None,
    *,
    target: Optional[int] = None,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    require_empty_history: bool = False,
) -> MigrationReport:
    """Record the pending migrations (up to ``target``) as applied without running them.

    For a database whose schema was brought up to date by other means
    (``migrate --fake``). All rows are written in one transaction. With
    ``require_empty_history=True`` a database that has history is refused
    (:class:`HistoryNotEmptyError`). The report lists the rows in ``adopted``.
    """
    check_target(target)
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect), dialect.session(lock_timeout):
        with dialect.write_transaction():
            dialect.ensure_history()
            history = dialect.read_history()
            if require_empty_history and history:
                raise HistoryNotEmptyError([row.version for row in history])
            refuse_unfinished(dialect)
            plan = make_plan(installed, history, dialect.name, target)
            applied_on = now_rfc3339()
            for planned in plan.pending:
                dialect.insert_history(planned.history_row(dialect.name, applied_on))
                logger.info("recorded V%s__%s of agent %r as applied without running it", planned.version, planned.name, planned.agent)
    steps = tuple(MigrationStep(p.version, p.name, p.agent, p.distribution) for p in plan.pending)
    return MigrationReport(dialect.name, adopted=steps, not_installed=plan.not_installed, statements=dialect.statements)


def baseline(
    conn: Any,
    version: int,
    agents: Optional[Sequence[str]] = None,
    *,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> MigrationReport:
    """Adopt a database without history: record every installed migration up to ``version``.

    Refuses (:class:`HistoryNotEmptyError`) a database that already has history.
    """
    return record_as_applied(
        conn, agents, target=version, registry=registry, lock_timeout=lock_timeout, require_empty_history=True
    )


@dataclass(frozen=True)
class RollbackStep:
    """One migration rolled back (or, in a dry run, to be rolled back)."""

    version: int
    name: str
    agent: str
    distribution: str
    sql: Optional[str] = field(default=None, repr=False)
    history_sql: Optional[str] = field(default=None, repr=False)
    duration_ms: Optional[float] = field(default=None, compare=False)


@dataclass(frozen=True)
class RollbackReport:
    """What a rollback did (or would do), newest first."""

    dialect: str
    dry_run: bool
    rolled_back: Tuple[RollbackStep, ...]
    statements: int = field(default=0, compare=False)


def _rollback_plan(installed: Sequence[PlannedMigration], history: Sequence[HistoryRow], to: int, dialect: str) -> List[PlannedMigration]:
    by_version = {p.version: p for p in installed}
    plan = []
    for row in sorted((r for r in history if r.version > to), key=lambda r: r.version, reverse=True):
        planned = by_version.get(row.version)
        if planned is None:
            raise RollbackUnavailableError(
                row.version, row.name, row.agent, None, "it is not installed (or its agent was not requested)"
            )
        if planned.rollback_sql(dialect) is None:
            raise RollbackUnavailableError(row.version, row.name, planned.agent, planned.source, "the migration defines no rollback()")
        plan.append(planned)
    return plan


def rollback_migrations(
    conn: Any,
    to: int,
    agents: Optional[Sequence[str]] = None,
    *,
    dry_run: bool = False,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Optional[Callable[[RollbackStep], None]] = None,
) -> RollbackReport:
    """Undo every applied migration above version ``to``, newest first.

    Each migration's ``rollback()`` SQL runs atomically with the removal of
    its history row (on MySQL it is journalled statement by statement, as a
    migration is). If any of them has no ``rollback()`` or is not installed,
    :class:`RollbackUnavailableError` is raised before anything changes, and
    :class:`TransactionControlError` if one's SQL controls transactions; a
    divergent history raises :class:`DivergentMigrationError` first, and an
    unfinished migration or rollback in the journal :class:`IncompleteMigrationError`.
    """
    check_target(to)
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect), dialect.session(lock_timeout):
        history = dialect.read_history() if dialect.history_exists() else []
        verify(installed, history, dialect.name)
        plan = _rollback_plan(installed, history, to, dialect.name)
        check_before_running(dialect, plan, phase="rollback")
        refuse_unfinished(dialect)  # even with nothing to roll back
        if dry_run:
            steps = tuple(
                RollbackStep(
                    p.version, p.name, p.agent, p.distribution,
                    sql=p.rollback_sql(dialect.name), history_sql=dialect.history_delete_sql(p.version),
                )
                for p in plan
            )
            return RollbackReport(dialect.name, True, steps, dialect.statements)
        done: List[RollbackStep] = []
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


def _roll_back_one(dialect: "Dialect", planned: PlannedMigration) -> Optional[RollbackStep]:
    started = time.perf_counter()
    sql = planned.rollback_sql(dialect.name) or ""
    transactional = planned.migration.transactional
    with dialect.write_transaction():
        refuse_unfinished(dialect)
        if all(row.version != planned.version for row in dialect.read_history()):
            return None  # another runner rolled it back meanwhile
        if transactional:
            run_statements(dialect, planned, sql, rolled_back=dialect.transactional_ddl, phase="rollback")
            dialect.delete_history(planned.version)
            dialect.journal.done(planned.version)  # commits with the deletion
    if not transactional:  # statements outside a transaction, holding the lock; the row goes once they succeeded
        with dialect.outside_transaction():
            if not is_recorded(dialect, planned.version):
                return None  # another runner rolled it back meanwhile
            run_outside_transaction(dialect, planned, sql, phase="rollback")
            with dialect.write_transaction():
                dialect.delete_history(planned.version)
                dialect.journal.done(planned.version)
    duration = (time.perf_counter() - started) * 1000
    logger.info("rolled back V%s__%s of agent %r in %.1f ms", planned.version, planned.name, planned.agent, duration)
    return RollbackStep(planned.version, planned.name, planned.agent, planned.distribution, duration_ms=duration)


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: divergent checksums, schema drift, a migration or rollback left unfinished, and (PostgreSQL) invalid indexes.

    ``unfinished`` is the journal's entry (MySQL), as an
    :class:`IncompleteMigrationError` naming the ``resolve`` commands; its
    version is not listed in ``pending``.

    ``invalid_indexes`` names, schema-qualified, the indexes of any schema
    that PostgreSQL marks invalid (a ``CREATE INDEX CONCURRENTLY`` that failed
    or was interrupted; not one being built right now, nor a partitioned
    index waiting for its partitions' indexes): queries do not use them, and
    their definition can look exactly as the migrations expect.
    """

    dialect: str
    divergent: Tuple[DivergentMigrationError, ...]
    drift: "DriftReport"
    not_installed: Tuple[HistoryRow, ...]
    pending: Tuple[int, ...]
    unfinished: Optional[IncompleteMigrationError] = None
    invalid_indexes: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No divergent migration, no schema drift, nothing unfinished, no invalid index."""
        return (
            not self.divergent and not self.drift.has_drift and self.unfinished is None and not self.invalid_indexes
        )


def _applied_installed(installed: Sequence[PlannedMigration], history: Sequence[HistoryRow]) -> List[PlannedMigration]:
    applied = {row.version for row in history}
    return [p for p in installed if p.version in applied]


def verify_database(
    conn: Any,
    agents: Optional[Sequence[str]] = None,
    *,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> VerifyReport:
    """Check applied checksums against the installed files and the live schema against the migrations.

    Changes nothing. The expected schema is what the applied, installed
    migrations produce, in version order, on a scratch database.
    """
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect), dialect.session(lock_timeout):
        history = dialect.read_history() if dialect.history_exists() else []
        unfinished = incomplete(dialect)
        applied_installed = _applied_installed(installed, history)
        check_before_running(dialect, applied_installed, replay=True)  # the replay would escape its scratch transaction
        drift = dialect.schema_drift(applied_installed)
        invalid_indexes = tuple(dialect.invalid_indexes(building=False))  # a build under way has not failed
    applied = {row.version for row in history}
    if unfinished is not None:
        applied.add(unfinished.version)  # neither applied nor pending: unfinished
    installed_versions = {p.version for p in installed}
    return VerifyReport(
        dialect.name,
        tuple(divergences(installed, history, dialect.name)),
        drift,
        tuple(row for row in history if row.version not in installed_versions),
        tuple(p.version for p in installed if p.version not in applied),
        unfinished,
        invalid_indexes,
    )


@dataclass(frozen=True)
class RepairReport:
    """The history rows ``repair`` re-recorded (name and checksum of the installed files)."""

    dialect: str
    repaired: Tuple[HistoryRow, ...]
    statements: int = field(default=0, compare=False)


def repair_history(
    conn: Any,
    agents: Optional[Sequence[str]] = None,
    *,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> RepairReport:
    """Re-record the name and checksum of divergent applied migrations, if the schema has not drifted.

    For intended changes: a database made by the Rust crate (whose SQL text
    differs byte for byte), a whitespace edit. Raises :class:`SchemaDriftError`
    and changes nothing when the live schema differs from what the installed
    migrations produce.
    """
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect), dialect.session(lock_timeout):
        by_version = {p.version: p for p in installed}
        repaired = []
        if not dialect.history_exists():
            return RepairReport(dialect.name, ())
        with dialect.write_transaction():
            dialect.ensure_history()
            history = dialect.read_history()
            refuse_unfinished(dialect)
            found = divergences(installed, history, dialect.name)
            if found:
                applied_installed = _applied_installed(installed, history)
                check_before_running(dialect, applied_installed, replay=True)
                drift = dialect.schema_drift(applied_installed)
                if drift.has_drift:
                    raise SchemaDriftError(drift.differences, "repair the history")
            applied_on = {row.version: row.applied_on for row in history}
            for divergence in found:
                row = by_version[divergence.version].history_row(dialect.name, applied_on[divergence.version])
                dialect.update_history(row)
                repaired.append(row)
                logger.info("re-recorded V%s__%s of agent %r: checksum %s", row.version, row.name, row.agent, row.checksum)
    return RepairReport(dialect.name, tuple(repaired), dialect.statements)


def resolve_unfinished(
    conn: Any,
    version: int,
    applied: bool,
    agents: Optional[Sequence[str]] = None,
    *,
    registry: Optional[AgentRegistry] = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> Optional[HistoryRow]:
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
    """
    with prepare(conn, agents, registry, lock_timeout) as (installed, dialect), dialect.session(lock_timeout):
        by_version = {p.version: p for p in installed}
        with dialect.write_transaction():
            unfinished = dialect.journal.unfinished()
            if unfinished is None or unfinished.version != version:
                held = f"V{unfinished.version}, an interrupted {unfinished.direction}" if unfinished else "nothing"
                raise ResolveRefusedError(version, f"it is not an unfinished migration or rollback (the journal holds {held})")
            dialect.ensure_history()
            recorded = next((existing for existing in dialect.read_history() if existing.version == version), None)
            row = recorded
            if applied and recorded is None:
                planned = by_version.get(version)
                if planned is None:
                    raise ResolveRefusedError(
                        version,
                        "it is not installed (or its agent was not requested), so it cannot be recorded as applied: "
                        "install its agent, or pass it with --agent",
                    )
                row = planned.history_row(dialect.name, now_rfc3339())
                dialect.insert_history(row)
            elif not applied and recorded is not None:
                dialect.delete_history(version)
                row = None
            dialect.journal.clear(version)
    outcome = "recorded as applied" if applied else "rolled back" if unfinished.direction == "rollback" else "left pending"
    logger.info("resolved the interrupted %s of V%s: %s", unfinished.direction, version, outcome)
    return row
