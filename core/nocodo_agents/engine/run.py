"""One run: the arguments checked, the agents loaded, the session taken and the history read, once.

Every operation (apply, dry run, record, rollback, verify, repair, resolve,
status) starts with :func:`open_run` and works from the :class:`Run` it
yields, so each reads and verifies the history once, and plans once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..dialects import Dialect, UnfinishedMigration, dbapi_connection, dialect_for
from ..discovery import AgentRegistry, requirement_graph
from ..errors import DivergentMigrationError, InvalidArgumentError, MigrationConflictError
from ..history import HistoryRow
from ..migration import MAX_INT4_VERSION
from ..migration_set import MigrationSet
from ..planning import (
    Plan,
    PlannedMigration,
    check_target,
    divergences,
    history_conflicts,
    make_plan,
    merge,
    refuse_history_conflicts,
)
from ..status_rows import incomplete_error

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
            argument="lock_timeout=",
            value=lock_timeout,
            expected=(
                f"a number of seconds >= 0 (0: do not wait) and at most {MAX_LOCK_TIMEOUT:g} "
                f"(about 24.8 days; infinity is not accepted)"
            ),
        )


@dataclass
class Run:
    """What every operation needs: the dialect, the requested migrations, and the history as last read.

    ``columns`` are the history table's (none: it does not exist), ``history``
    its rows in version order, ``unfinished`` the journal's entry (MySQL), if
    any, ``int8`` whether its version column is 64-bit (from the column's
    declared type, read with the columns: every checksum then hashes the
    version as ``i64``, as refinery's ``int8-versions``). ``requires`` is the
    requested agents' requirement graph (agent -> the agents it requires
    directly), which orders the plan; its keys are the requested agents. ``registry`` the one
    they were loaded from (widening loads the agents of rows not requested through it). They are read once when the run opens, without any lock; an operation
    that writes reads them again under the lock (:meth:`read` in its write transaction), as
    another runner may have written in between.
    """

    dialect: Dialect
    installed: tuple[PlannedMigration, ...]
    target: int | None = None
    columns: tuple[str, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    unfinished: UnfinishedMigration | None = None
    int8: bool = False
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    registry: AgentRegistry | None = None
    _plan: Plan | None = field(default=None, repr=False)
    #: The plan from an empty history (a fresh database), kept across reads: planning is pure, and a
    #: first run plans from nothing twice (without the lock, then under it once the table is made).
    _from_nothing: Plan | None = field(default=None, repr=False)
    _divergences: list[DivergentMigrationError] | None = field(default=None, repr=False)

    def read(self) -> None:
        """Read the history table's columns, its rows and the journal's entry (one statement each, at most).

        Inside a write transaction this reads under the migration lock, so
        what another runner wrote since the run opened is seen.
        """
        self.columns = tuple(self.dialect.history_columns())
        self.history = tuple(self.dialect.read_history()) if self.columns else ()
        # SQLite stores any integer whatever the declared type: a version above 2**31 - 1 makes the history 64-bit.
        self.int8 = bool(self.columns) and (
            self.dialect.history_int8 or bool(self.history and self.history[-1].version > MAX_INT4_VERSION)
        )
        self.unfinished = self.dialect.journal.unfinished()  # MySQL: read with the history, no statement more
        self._plan = None
        self._divergences = None

    def recorded(self, rows: Sequence[HistoryRow]) -> None:
        """This run wrote ``rows`` to the history (in the transaction now open): plan from the history with them."""
        self.history = tuple(sorted((*self.history, *rows), key=lambda row: row.version))
        self._plan = None
        self._divergences = None

    def rerecorded(self, rows: Sequence[HistoryRow]) -> None:
        """This run wrote ``rows`` over existing ones (same versions, new checksums): plan from the history with them."""
        by_version = {row.version: row for row in rows}
        self.history = tuple(by_version.get(row.version, row) for row in self.history)
        self._plan = None
        self._divergences = None

    def plan(self) -> Plan:
        """What remains to do up to the run's target; verifies the history (:class:`MigrationConflictError`, :class:`DivergentMigrationError`)."""
        if self._plan is None:
            empty = self._from_nothing
            if not self.history and empty is not None and empty.int8_versions == self.int8:
                self._plan = empty  # the same inputs (installed, target, requirements, width): the same plan
            else:
                self._plan = make_plan(
                    self.installed, self.history, self.dialect.name, self.target, int8_versions=self.int8, requires=self.requires
                )
                if not self.history:
                    self._from_nothing = self._plan
        return self._plan

    def divergences(self) -> list[DivergentMigrationError]:
        """Every applied row whose name or checksum differs from its installed file (the history verified whole)."""
        if self._divergences is None:
            self._divergences = divergences(self.installed, self.history, self.dialect.name, self.int8)
        return self._divergences

    def conflicts(self) -> list[MigrationConflictError]:
        """Every applied version attributed to another agent than the requested one claiming it (never divergent)."""
        return history_conflicts(self.installed, self.history)

    def refuse_conflicts(self) -> None:
        """Raise :class:`MigrationConflictError` if a requested agent claims a version another agent applied.

        Every operation that writes the history calls it (or :meth:`plan`,
        which checks it) before writing anything: no run hands one agent's
        history row to another.
        """
        refuse_history_conflicts(self.installed, self.history)

    def unapplied(self) -> list[PlannedMigration]:
        """The installed migrations neither applied nor stopped part-way, up to the target (verifies nothing)."""
        applied = {row.version for row in self.history}
        if self.unfinished is not None and not self.unfinished.in_progress:
            applied.add(self.unfinished.version)
        return [p for p in self.installed if p.version not in applied and (self.target is None or p.version <= self.target)]

    def stopped(self) -> UnfinishedMigration | None:
        """The journal's entry if its migration (or rollback) stopped part-way; ``None`` also for one a live runner holds.

        An entry read without the migration lock while another runner held it
        may be that runner at work right now (MySQL journals as it goes);
        whoever takes the lock next sees whether it stopped.
        """
        entry = self.unfinished
        if entry is None:
            return None
        if entry.in_progress:
            logger.info(
                "V%s__%s of agent %r is in the journal while another runner holds the migration lock: it is "
                "probably being applied right now", entry.version, entry.name, entry.agent,
            )
            return None
        return entry

    def refuse_unfinished(self) -> None:
        """Raise :class:`~nocodo_agents.errors.IncompleteMigrationError` if the journal holds a migration (or rollback) stopped part-way."""
        entry = self.stopped()
        if entry is not None:
            raise incomplete_error(entry)

    def installed_by_version(self) -> dict[int, PlannedMigration]:
        """The requested migrations keyed by version."""
        return {p.version: p for p in self.installed}


@dataclass(frozen=True)
class Requested:
    """The requested agents' migrations, merged in version order, and their requirement graph."""

    installed: tuple[PlannedMigration, ...]
    requires: dict[str, tuple[str, ...]]


def requested_migrations(
    agents: Sequence[str] | None,
    registry: AgentRegistry | None = None,
    sets: Sequence[MigrationSet] | None = None,
) -> Requested:
    """Load ``agents`` (``None``: every installed one) and what they require, transitively, and merge their migrations.

    No database is involved: an unknown agent, a required agent that is not
    installed, a plugin that fails to load and two agents claiming one
    version all raise here, before a caller opens any connection (the
    command line calls it first for that reason). ``sets``: those
    ``registry.requested_sets(agents)`` just returned, not asked for again.
    """
    if sets is None:
        registry = registry if registry is not None else AgentRegistry.installed()
        sets = registry.requested_sets(agents)  # what the requested agents require too, transitively
    return Requested(merge(sets), requirement_graph(sets))


@contextmanager
def open_run(
    conn: Any,
    agents: Sequence[str] | None,
    registry: AgentRegistry | None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    *,
    target: int | None = None,
    read: bool = True,
    requested: Requested | None = None,
    sets: Sequence[MigrationSet] | None = None,
) -> Iterator[Run]:
    """Check the arguments, load and merge the requested agents, take the dialect's session, read the history.

    The requested agents are those of ``agents`` and what they require,
    transitively (:meth:`AgentRegistry.requested_sets`). Nothing touches the
    database before the arguments and the requested migration sets pass (a
    required agent that is not installed included). ``read=False`` leaves the history unread, for an
    operation that reads it under the lock itself (:meth:`Run.read` in its write transaction).
    ``sets``: the migration sets ``registry.requested_sets(agents)`` just returned (arguments already checked).
    A SQLAlchemy ``Engine``'s borrowed connection goes back to its pool afterwards.
    ``requested``: ``agents`` already loaded by :func:`requested_migrations` (the command line loads them
    before it connects), not loaded again.
    """
    check_lock_timeout(lock_timeout)
    check_target(target)
    registry = registry if registry is not None else AgentRegistry.installed()
    if requested is None:
        requested = requested_migrations(agents, registry, sets)
    with dbapi_connection(conn) as raw:
        dialect = dialect_for(raw)
        dialect.ensure_idle()
        with dialect.session(lock_timeout):
            run = Run(dialect, requested.installed, target, requires=requested.requires, registry=registry)
            if read:
                run.read()
            yield run
