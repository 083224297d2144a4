"""What a no-op run found, kept per SQLite connection, and everything that would change that answer.

``run_agent_migrations`` runs at every application start and, in tests and
long-running processes, again and again on one connection, mostly with
nothing to do. The answer of such a run (the no-op report, every applied
checksum verified) is a function of:

- the arguments: ``agents``, ``target``, ``lock_timeout`` and the registry
  (``registry=``, or the one :meth:`AgentRegistry.installed` returns, which
  is a new one once a distribution is installed or uninstalled);
- the requested migration sets, as that registry returns them: the same
  objects as long as no migration file of theirs was added, removed,
  renamed or edited (:meth:`AgentRegistry.migration_set` stats each
  directory and file, and lists the package again on any change);
- the history table on that connection: its shape and every row.

:class:`NoOpCache` keeps, per connection, the last no-op answer with all of
those; a later call with the same arguments and the same set objects reads
the history again in one statement and compares it whole with what was read
(:meth:`~nocodo_agents.dialects.base.Dialect.history_unchanged`: on SQLite
the rows, main's schema version and a token identifying the connection), so
a change by another process, by another connection or by this one (rows
updated or deleted, the table dropped or altered) is never missed. Only
then does it return the remembered report, having loaded, planned and
verified nothing again. A dialect that cannot compare in one statement
(PostgreSQL, MySQL) is never cached.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from operator import is_
from typing import Any, Callable

from ..dialects.history_table import HistorySnapshot
from ..discovery import AgentRegistry
from ..migration_set import MigrationSet
from .reports import MigrationReport

#: How many connections the cache remembers (the oldest is forgotten first).
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class _Answer:
    """One no-op answer and what it was given: arguments, migration sets, the history as read."""

    registry: AgentRegistry
    agents: tuple[str, ...] | None
    target: int | None
    lock_timeout: float
    sets: tuple[MigrationSet, ...]
    snapshot: HistorySnapshot
    report: MigrationReport
    #: The report given for an answer from the cache, by the statements it cost (the same object each time: it is frozen).
    given: dict[int, MigrationReport] = field(default_factory=dict, compare=False)

    def report_for(self, statements: int) -> MigrationReport:
        """The remembered report, saying it cost ``statements``."""
        report = self.given.get(statements)
        if report is None:
            report = self.given[statements] = MigrationReport(
                self.report.dialect, not_installed=self.report.not_installed, statements=statements
            )
        return report

    def asked(
        self,
        registry: AgentRegistry,
        agents: Sequence[str] | None,
        target: int | None,
        lock_timeout: float,
        sets: Sequence[MigrationSet],
    ) -> bool:
        """Whether a run with these arguments and these migration sets asks what this answer answered."""
        known = self.sets
        return (
            registry is self.registry
            and target == self.target
            and lock_timeout == self.lock_timeout
            and len(sets) == len(known)
            and all(map(is_, sets, known))
            and (self.agents is None if agents is None else self.agents == tuple(agents))
        )


def _agents_key(agents: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if agents is None else tuple(agents)


_COMPARE: Callable[..., tuple[HistorySnapshot | None, int, int]] | None = None


def _history_unchanged() -> Callable[..., tuple[HistorySnapshot | None, int, int]]:
    """:func:`~nocodo_agents.dialects.sqlite.history_unchanged` (imported once a SQLite answer is first compared)."""
    global _COMPARE
    if _COMPARE is None:
        from ..dialects.sqlite import history_unchanged

        _COMPARE = history_unchanged
    return _COMPARE


def _sqlite_connection(connection: Any) -> bool:
    """Whether ``connection`` is a plain ``sqlite3`` connection (the only kind cached; :mod:`sqlite3` not imported here)."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(connection, sqlite3.Connection)


class NoOpCache:
    """The last no-op answer of each SQLite connection (see the module's docstring for what keys it)."""

    def __init__(self, size: int = MAX_CONNECTIONS) -> None:
        self._size = size
        self._answers: dict[int, _Answer] = {}
        self._lock = threading.Lock()

    def recall(
        self,
        connection: Any,
        registry: AgentRegistry,
        agents: Sequence[str] | None,
        target: int | None,
        lock_timeout: float,
        sets: Sequence[MigrationSet],
    ) -> MigrationReport | None:
        """The remembered report if this run asks the same and the history is unchanged, else ``None``.

        Costs the dialect's comparison (on SQLite one statement that reads
        nothing but the history and the busy timeout: see
        :func:`~nocodo_agents.dialects.sqlite.history_unchanged`; four where the caller's busy timeout is above ``lock_timeout``)
        and nothing when nothing is remembered. A connection inside a
        transaction (or closed) is left to the full run, which refuses it.
        """
        key = id(connection)
        answer = self._answers.get(key)
        if answer is None or not answer.asked(registry, agents, target, lock_timeout, sets):
            return None
        if not _sqlite_connection(connection):
            return None
        snapshot, statements, _ = _history_unchanged()(connection, answer.snapshot, lock_timeout)
        if snapshot is None:
            return None
        if snapshot is not answer.snapshot:  # the caller's busy timeout changed: compared with it from now on
            with self._lock:
                if self._answers.get(key) is answer:
                    self._answers[key] = replace(answer, snapshot=snapshot, given={})
        return answer.report_for(statements)

    def remember(
        self,
        connection: Any,
        snapshot: HistorySnapshot | None,
        registry: AgentRegistry,
        agents: Sequence[str] | None,
        target: int | None,
        lock_timeout: float,
        sets: Sequence[MigrationSet],
        report: MigrationReport,
    ) -> None:
        """Keep ``report``, the no-op answer of a run given all of these on ``connection`` (nothing without a snapshot)."""
        if snapshot is None or not _sqlite_connection(connection):
            self.forget(connection)
            return
        answer = _Answer(registry, _agents_key(agents), target, lock_timeout, tuple(sets), snapshot, report)
        with self._lock:
            self._answers.pop(id(connection), None)
            while len(self._answers) >= self._size:
                del self._answers[next(iter(self._answers))]
            self._answers[id(connection)] = answer

    def forget(self, connection: Any) -> None:
        """Drop what is remembered for ``connection``."""
        with self._lock:
            self._answers.pop(id(connection), None)

    def clear(self) -> None:
        """Drop everything remembered."""
        with self._lock:
            self._answers.clear()


#: The process's no-op cache, used by :func:`~nocodo_agents.engine.migrate.run_agent_migrations`.
NO_OP_CACHE = NoOpCache()
