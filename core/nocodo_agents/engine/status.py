"""Where each migration stands, read from a database: :func:`migration_status`.

The rows are built by the plan layer (:mod:`nocodo_agents.status_rows`,
pure), from what one :func:`~nocodo_agents.engine.run.open_run` read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core_plugin import CORE_AGENT
from ..discovery import AgentRegistry
from ..status_rows import (
    APPLIED,
    APPLIED_NOT_INSTALLED,
    APPLIED_OUT_OF_ORDER,
    CONFLICT,
    DIVERGENT,
    NEEDS_RERECORDING,
    PENDING,
    STATES,
    UNFINISHED,
    StatusRow,
    status_rows,
)
from .run import DEFAULT_LOCK_TIMEOUT, Requested, open_run

__all__ = [
    "APPLIED",
    "APPLIED_NOT_INSTALLED",
    "APPLIED_OUT_OF_ORDER",
    "CONFLICT",
    "DIVERGENT",
    "NEEDS_RERECORDING",
    "PENDING",
    "STATES",
    "UNFINISHED",
    "StatusRow",
    "migration_status",
    "status_rows",
]


def migration_status(
    conn: Any,
    agents: Sequence[str] | None = None,
    *,
    registry: AgentRegistry | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    requested: Requested | None = None,
) -> list[StatusRow]:
    """Read the history (and MySQL's journal) of ``conn``, changing nothing, and report every version's state.

    Each row's ``requires`` lists the agents its agent requires (``core``,
    required by every agent, left out).

    ``requested``: ``agents`` already loaded (:func:`~.run.requested_migrations`; the command line loads them before it connects), not loaded again.
    """
    with open_run(conn, agents, registry, lock_timeout, requested=requested) as run:
        shown = {agent: tuple(r for r in required if r != CORE_AGENT) for agent, required in run.requires.items()}
        return status_rows(run.installed, run.history, run.dialect.name, run.stopped(), run.int8, shown)
