"""The apply loop's one-call path: a migration (or a grouped run) sent with its transaction as one script, where the dialect can.

A dialect that can send a unit of work in one call
(:meth:`~nocodo_agents.dialects.Dialect.commit_script`, SQLite) does so for
a migration whose statements need no check between them
(:meth:`~nocodo_agents.dialects.Dialect.script_body`), once this run knows
the history's change token from an earlier transaction under the lock (the
script's guard compares it). Anything else, and any failure of the script
(which leaves nothing of it behind), goes the per-statement way
(:mod:`.apply`), which names a failing statement and raises its error as
always. What a text's script is stays remembered for the process
(:data:`_BODIES`, bounded), keyed on the text itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING

from ..execution import checked_statements
from ..history import now_rfc3339
from ..migration import prime_checksums
from .reports import MigrationStep

if TYPE_CHECKING:  # pragma: no cover
    from ..dialects import Dialect
    from ..dialects.base import ScriptParts
    from ..dialects.history_writes import HistoryValues
    from ..planning import Plan, PlannedMigration
    from .apply_guard import _Seen

logger = logging.getLogger("nocodo_agents")

#: A migration text's script middle and statement count (``None``: not to be scripted), by
#: (dialect name, text, transactional); emptied when it reaches :data:`_BODIES_AT_MOST` entries.
_BODIES: dict[tuple[str, str, bool], tuple[str, int] | None] = {}
_BODIES_AT_MOST = 4096


def script_of(dialect: Dialect, planned: PlannedMigration) -> tuple[str, int] | None:
    """``planned``'s statements as one script's middle, and how many (``None``: run them one by one)."""
    migration = planned.migration
    if not migration.transactional or not dialect.transactional_ddl:
        return None
    sql = planned.sql(dialect.name)
    key = (dialect.name, sql, True)
    if key in _BODIES:
        return _BODIES[key]
    statements = checked_statements(dialect, planned, sql)
    body = dialect.script_body(statements)
    found = None if body is None else (body, len(statements))
    if dialect.text_only_syntax:
        if len(_BODIES) >= _BODIES_AT_MOST:
            _BODIES.clear()
        _BODIES[key] = found
    return found


class ScriptInstead(Exception):
    """Raised inside a grouped run's first write transaction to roll it back: the run is sent as one script instead."""

    def __init__(self, prelude: list[str], token: int) -> None:
        super().__init__("the grouped run goes as one script")
        self.prelude = prelude
        self.token = token


def group_prelude(
    dialect: Dialect, recorded: Sequence[str | None] | None, pending: Sequence[PlannedMigration]
) -> list[str] | None:
    """The first look's writes to send again at the head of a grouped run's script, or ``None`` if the run cannot be one.

    ``recorded``: what the first look sent (``None`` for a statement with
    parameters, such as an adopted migration's history row: then no script).
    """
    if recorded is None or not pending or any(statement is None for statement in recorded):
        return None
    for planned in pending:
        if script_of(dialect, planned) is None:
            return None
    return [statement for statement in recorded if statement is not None]


def history_values(dialect: Dialect, planned: PlannedMigration, plan: Plan) -> HistoryValues:
    """The history row recording ``planned`` now, its checksum in the history's encoding."""
    migration = planned.migration
    checksum = planned.checksum(dialect.name, plan.int8_versions)
    return (migration.version, migration.name, now_rfc3339(), str(checksum), planned.agent)


#: How many migrations' scripts are prepared before they are sent: the preparing runs in one tight
#: loop, and what a script that did not commit leaves prepared for nothing stays bounded.
_CHUNK = 64


def apply_scripted_stretch(dialect: Dialect, seen: _Seen, applied: list[MigrationStep], at_most: int | None = None) -> None:
    """Apply the pending migrations from ``seen.next()`` on, one script each, while each can go so and its script commits.

    ``seen.token`` (read under the lock) is each script's guard, so nothing
    may have written through this connection in between (a progress callback
    may: pass ``at_most=1`` and read the token again after it). Each committed
    migration is appended to ``applied`` and counted in ``seen``. It returns
    at the first migration that cannot be scripted or whose script did not
    commit (nothing of it remains), for the per-statement path to take, or
    when nothing is pending. Scripts are prepared :data:`_CHUNK` at a time
    (one while INFO is logged, so that each migration is logged as it commits).
    """
    token = seen.token
    if token is None:
        return
    plan = seen.plan
    pending = plan.pending
    informing = logger.isEnabledFor(logging.INFO)
    chunk_size = 1 if informing else _CHUNK
    end = len(pending) if at_most is None else min(len(pending), seen.done + at_most)
    while seen.done < end:
        chunk, scripts = _prepared(dialect, plan, pending[seen.done : min(end, seen.done + chunk_size)])
        if not chunk:
            return
        durations: list[float] = []
        try:
            dialect.commit_scripts(scripts, token, now_rfc3339, durations)
        finally:
            for planned, duration in zip(chunk, durations):
                step = _step(planned, plan, duration, informing)
                applied.append(step)
                seen.applied_one(step.version)
        if len(durations) < len(chunk):
            return


def _prepared(dialect: Dialect, plan: Plan, upcoming: Sequence[PlannedMigration]) -> tuple[list[PlannedMigration], list[ScriptParts]]:
    """The first of ``upcoming`` that can go as scripts (up to one that cannot), and their scripts."""
    dialect_name = dialect.name
    int8 = plan.int8_versions
    chunk: list[PlannedMigration] = []
    scripts: list[ScriptParts] = []
    prime_checksums([planned.migration for planned in upcoming], dialect_name, int8)  # hashed side by side
    for planned in upcoming:
        script = script_of(dialect, planned)
        if script is None:
            break
        migration = planned.migration
        checksum = str(planned.checksum(dialect_name, int8))
        scripts.append(dialect.migration_script(script[0], script[1], migration.version, migration.name, checksum, planned.agent))
        chunk.append(planned)
    return chunk, scripts


def scripted_group(
    dialect: Dialect, prelude: Sequence[str], pending: Sequence[PlannedMigration], plan: Plan, token: int
) -> list[MigrationStep] | None:
    """A grouped run's migrations, after ``prelude``, in one script; ``None`` if any cannot be or the script failed."""
    bodies: list[str] = []
    count = 0
    for planned in pending:
        script = script_of(dialect, planned)
        if script is None:
            return None
        bodies.append(script[0])
        count += script[1]
    started = perf_counter()
    rows = [history_values(dialect, planned, plan) for planned in pending]
    if not dialect.commit_script(prelude, "\n;\n".join(bodies), count, rows, token):
        return None
    share = (perf_counter() - started) * 1000 / max(len(pending), 1)
    return [_step(planned, plan, share) for planned in pending]


def _step(planned: PlannedMigration, plan: Plan, duration: float, informing: bool = True) -> MigrationStep:
    migration = planned.migration
    version = migration.version
    if informing and logger.isEnabledFor(logging.INFO):
        logger.info("applied V%s__%s of agent %r in %.1f ms", version, migration.name, planned.agent, duration)
    return MigrationStep(version, migration.name, planned.agent, planned.distribution, version in plan.out_of_order, duration_ms=duration)
