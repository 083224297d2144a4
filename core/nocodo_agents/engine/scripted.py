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
from .reports import MigrationStep

if TYPE_CHECKING:  # pragma: no cover
    from ..dialects import Dialect
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


def apply_scripted(dialect: Dialect, planned: PlannedMigration, seen: _Seen) -> MigrationStep | None:
    """Apply ``planned`` and its history row in one script; ``None`` if it was not sent or failed (nothing of it remains)."""
    token = seen.token
    if token is None:
        return None
    script = script_of(dialect, planned)
    if script is None:
        return None
    started = perf_counter()
    if not dialect.commit_script((), script[0], script[1], (history_values(dialect, planned, seen.plan),), token):
        return None
    return _step(planned, seen.plan, (perf_counter() - started) * 1000)


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


def _step(planned: PlannedMigration, plan: Plan, duration: float) -> MigrationStep:
    migration = planned.migration
    version = migration.version
    if logger.isEnabledFor(logging.INFO):
        logger.info("applied V%s__%s of agent %r in %.1f ms", version, migration.name, planned.agent, duration)
    return MigrationStep(version, migration.name, planned.agent, planned.distribution, version in plan.out_of_order, duration_ms=duration)
