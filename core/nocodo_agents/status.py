"""Where each migration stands: one row per version (lives in :mod:`nocodo_agents.engine.status`)."""

from .engine.status import (
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
    migration_status,
    status_rows,
)

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
