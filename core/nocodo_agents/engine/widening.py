"""The history's version width: widening a 32-bit history to refinery's ``int8-versions``, and re-recording checksums.

refinery's history holds versions as ``INT4`` unless the Rust application
is built with ``int8-versions``, which makes the column ``INT8``/``BIGINT``
and hashes every checksum's version as an ``i64``. A database keeps the
32-bit layout until a version above 2**31 - 1 is to be recorded (or
:func:`widen_history` is asked for): then, under the migration lock, every
row an installed agent provides is verified (32-bit encoding), the column
is widened, and those rows' checksums are recorded again in the ``i64``
encoding. Rows of installed agents the run did not request are verified and
re-recorded by loading those agents too (:func:`owned_elsewhere`: only when
there are such rows, never on the no-op path). Where DDL is transactional
(SQLite rebuilds the table, PostgreSQL ``ALTER ... TYPE int8``) both happen
in one transaction; MySQL's ``MODIFY`` commits by itself, so the checksums
follow in a transaction of their own, and a run stopped in between leaves
rows that verification still accepts (their 32-bit checksum of the same
migration) and the next run that changes anything records again. Nothing
ever narrows the column back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dialects import Dialect
from ..discovery import AgentRegistry, normalize_agent_name
from ..errors import HistoryWideningError
from ..history import HistoryRow
from ..migration import MAX_INT4_VERSION
from ..planning import Plan, PlannedMigration, divergences, rerecordable
from .run import DEFAULT_LOCK_TIMEOUT, Requested, Run, open_run

logger = logging.getLogger("nocodo_agents")


@dataclass(frozen=True)
class WidenReport:
    """What :func:`widen_history` did.

    ``widened``: the version column was made 64-bit by this call (``False``:
    it already was). ``rerecorded``: the rows whose checksum was recorded
    again in the ``i64`` encoding; ``kept``: rows no installed agent
    provides, whose 32-bit checksums were kept (``keep_unverified=True``).
    """

    dialect: str
    widened: bool
    rerecorded: tuple[HistoryRow, ...]
    kept: tuple[HistoryRow, ...] = ()
    statements: int = field(default=0, compare=False)


def first_wide(pending: Sequence[PlannedMigration]) -> PlannedMigration | None:
    """The first of ``pending`` whose version a 32-bit history cannot hold, if any."""
    return next((p for p in pending if p.version > MAX_INT4_VERSION), None)


def needs_settling(run: Run, plan: Plan, wide: bool | None = None) -> bool:
    """Whether a run that changes something must first widen the history or re-record 32-bit checksums (no statement).

    ``wide``: whether ``plan.pending`` holds a version above 2**31 - 1, when
    the caller already knows (the apply loop asks before every migration, and
    looking through the pending migrations each time would cost n^2/2 steps).
    """
    if not run.columns:
        return False
    if run.int8:
        return bool(plan.rerecord)
    return (first_wide(plan.pending) is not None) if wide is None else wide


def owned_elsewhere(run: Run, rows: Sequence[HistoryRow]) -> tuple[PlannedMigration, ...]:
    """The migrations installed agents the run did not request provide for ``rows`` (rows no requested agent provides).

    A row attributed to an agent is that agent's: only the agents named by
    such rows are loaded (through the run's registry, so a broken plugin is
    its usual :class:`~nocodo_agents.PluginLoadError`). A row refinery wrote
    (no agent) may be any agent's: then every installed agent not requested
    is loaded, and the row is owned by the one agent providing its version
    under the row's name (another name: more likely a Rust application's own
    migration than an edited file; two agents providing it: nobody's either,
    as a row no installed agent provides). Loads nothing when ``rows`` is empty.
    """
    registry = run.registry
    if not rows or registry is None:
        return ()
    by_version = {row.version: row for row in rows}
    unrequested = [name for name in registry.agent_names() if name not in run.requires]
    named = {normalize_agent_name(row.agent) for row in rows if row.agent is not None}
    loading = unrequested if any(row.agent is None for row in rows) else [n for n in unrequested if n in named]
    providers: dict[int, list[PlannedMigration]] = {}
    for name in loading:
        migration_set = registry.migration_set(name)
        for migration in migration_set.migrations:
            row = by_version.get(migration.version)
            if row is None or not _may_own(row, migration_set.agent, migration.name):
                continue
            providers.setdefault(migration.version, []).append(
                PlannedMigration(migration, migration_set.agent, migration_set.distribution)
            )
    return tuple(found[0] for _, found in sorted(providers.items()) if len(found) == 1)


def _may_own(row: HistoryRow, agent: str, name: str) -> bool:
    """Whether ``agent``'s migration ``name`` of the row's version may be the row's: its agent's, or (no agent) of its name."""
    if row.agent is None:
        return row.name == name
    return normalize_agent_name(row.agent) == agent


def settle_width(run: Run, *, widen: bool = False, keep_unverified: bool = False) -> WidenReport:
    """Under the lock: widen a 32-bit history if ``widen`` or a pending version needs it, and re-record 32-bit checksums.

    Reads the history again under the lock and verifies it
    (:class:`~nocodo_agents.DivergentMigrationError`). Rows of installed
    agents not requested are verified and re-recorded too, their agents
    loaded for it (:func:`owned_elsewhere`; a divergent one stops the
    widening with :class:`~nocodo_agents.DivergentMigrationError` naming its
    agent). Rows no installed agent provides stop the widening with
    :class:`HistoryWideningError` before anything changes, unless
    ``keep_unverified``. In a history already 64-bit, the 32-bit checksums
    of unrequested agents' rows are re-recorded along with the requested
    ones' (when there are such of the requested ones, or ``widen``); a
    divergent one is left alone there. A missing history table is created
    64-bit when needed. The run's history is up to date afterwards.
    """
    dialect = run.dialect
    widened = False
    kept: tuple[HistoryRow, ...] = ()
    rerecorded: tuple[HistoryRow, ...] = ()
    others: tuple[PlannedMigration, ...] = ()
    with dialect.write_transaction():
        run.read()  # under the lock
        run.refuse_unfinished()
        plan = run.plan()  # verified in the history's own encoding
        wide = first_wide(plan.pending)
        if not run.int8 and (widen or wide is not None):
            others = owned_elsewhere(run, plan.not_installed)
            found = divergences(others, plan.not_installed, dialect.name, False)
            if found:
                raise found[0]  # an unrequested agent's edited file: before anything changes
            provided = {p.version for p in others}
            unverifiable = tuple(row for row in plan.not_installed if row.version not in provided)
            if run.columns and unverifiable and not keep_unverified:
                raise HistoryWideningError(
                    database=dialect.location(),
                    rows=[(row.version, row.name, row.agent) for row in unverifiable],
                    needed_by=None if widen or wide is None else (wide.version, wide.name, wide.agent),
                )
            if run.columns:
                dialect.ensure_history(run.columns)  # refinery's table: our agent column first
                dialect.widen_history()
                kept = unverifiable
                logger.info("widened %s to 64-bit versions (refinery's int8-versions)", dialect.history_table)
            else:
                dialect.ensure_history(run.columns, int8=True)
            widened = True
            if dialect.transactional_ddl:
                run.read()
                rerecorded = rerecord_checksums(run, others)
        elif run.int8:
            if widen or plan.rerecord:
                others = owned_elsewhere(run, plan.not_installed)
            rerecorded = rerecord_checksums(run, others)
    if widened and not dialect.transactional_ddl:
        # The ALTER committed by itself: the checksums follow in a transaction of their own. A run
        # stopped in between leaves rows verification accepts, which the next run records again.
        with dialect.write_transaction():
            run.read()
            run.refuse_unfinished()
            rerecorded = rerecord_checksums(run, others)
    return WidenReport(dialect.name, widened, rerecorded, kept)


def keep_64_bit(dialect: Dialect, version: int) -> None:
    """Before ``version``'s row leaves the history (in the write transaction open): a 64-bit version in a column declared 32-bit gets a 64-bit column first.

    Only SQLite gets here (it stores any integer whatever the declared type:
    refinery built with ``int8-versions`` appending to an ``INT4`` table an
    application without it created). Such a history is read as 64-bit
    because of its versions above 2**31 - 1; without the last of them it
    would read as 32-bit, and every ``i64`` checksum in it would diverge. So
    the column is widened (the table rebuilt) with the row still there: the
    history stays 64-bit, as a widened one does.
    """
    if version > MAX_INT4_VERSION and not dialect.history_int8:
        dialect.widen_history()
        logger.info("widened %s to 64-bit versions before V%s leaves it (it held 64-bit versions)", dialect.history_table, version)


def rerecord_checksums(run: Run, others: Sequence[PlannedMigration] = ()) -> tuple[HistoryRow, ...]:
    """Record the 32-bit checksums of a 64-bit history again in the ``i64`` encoding (in the transaction open).

    Only rows holding their installed migration's 32-bit checksum change,
    and only their checksum: name, ``applied_on`` and agent stay the row's.
    ``others``: migrations of installed agents not requested, for their rows
    (:func:`owned_elsewhere`).
    """
    dialect = run.dialect
    installed = (*run.installed, *others)
    by_version = {p.version: p for p in installed}
    rows = []
    for stale in rerecordable(installed, run.history, dialect.name, run.int8):
        checksum = str(by_version[stale.version].checksum(dialect.name, True))
        row = HistoryRow(stale.version, stale.name, stale.applied_on, checksum, stale.agent)
        dialect.update_history(row)
        rows.append(row)
        logger.info("re-recorded the checksum of V%s__%s in the 64-bit encoding: %s", row.version, row.name, checksum)
    if rows:
        run.rerecorded(rows)
    return tuple(rows)


def widen_history(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    keep_unverified: bool = False,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> WidenReport:
    """Make the history 64-bit (refinery's ``int8-versions``) now, before any version needs it.

    For operators who switch their Rust application to ``int8-versions``
    first. Every row an installed agent provides is verified (those of agents
    not requested too, loading them), the version column widened, and those
    rows' checksums recorded again in the ``i64`` encoding (see the module's
    documentation for each database). Rows no installed agent provides raise :class:`HistoryWideningError` before
    anything changes, unless ``keep_unverified=True`` keeps their 32-bit
    checksums as they are (rows of a Rust application sharing the database).
    A history already 64-bit only has its 32-bit checksums recorded again; a
    missing one is created 64-bit.

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, read=False, requested=requested) as run:
        report = settle_width(run, widen=True, keep_unverified=keep_unverified)
    return WidenReport(report.dialect, report.widened, report.rerecorded, report.kept, run.dialect.statements)
