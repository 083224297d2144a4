"""The apply loop's guard: what this run last confirmed under the lock, and the one-row check before each migration.

Concurrent runners take the lock in turn, transaction by transaction; so
before each migration this run asks, under the lock, whether the history is
still as it left it (:func:`_guarded`: one row, or none at all where the
dialect has an O(1) change token), and reads the history and plans again
only when it is not (:func:`_replan`). Applying n migrations thus costs O(n)
statements and rows (``tests/test_apply_linear.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..dialects.history_table import version_sum
from ..planning import Plan, PlannedMigration
from .run import Run, incomplete_error
from .widening import first_wide

logger = logging.getLogger("nocodo_agents")


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
    token: int | None = None

    @classmethod
    def of(cls, run: Run) -> _Seen:
        """The run's plan, from the history it holds now."""
        plan = run.plan()
        return cls(plan, len(run.history), version_sum(row.version for row in run.history), wide=first_wide(plan.pending) is not None)

    def next(self) -> PlannedMigration | None:
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
