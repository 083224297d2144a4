"""Applying migrations: ``run_agent_migrations`` and its report (the engine lives in :mod:`nocodo_agents.engine`)."""

from .engine.migrate import run_agent_migrations
from .engine.reports import MigrationReport, MigrationStep
from .engine.run import DEFAULT_LOCK_TIMEOUT, MAX_LOCK_TIMEOUT, check_lock_timeout

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "MAX_LOCK_TIMEOUT",
    "MigrationReport",
    "MigrationStep",
    "check_lock_timeout",
    "run_agent_migrations",
]
