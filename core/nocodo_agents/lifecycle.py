"""Operations beyond migrating: record without running, baseline, roll back, verify, repair, resolve, widen the history.

Each takes the same ``conn``/``agents``/``registry``/``lock_timeout`` as
:func:`~nocodo_agents.runner.run_agent_migrations`, loads and merges the
requested migrations before touching the database, and does its writes
inside the dialect's write transaction. They live in :mod:`nocodo_agents.engine`.
"""

from .engine.history_ops import baseline, record_as_applied, repair_history, resolve_unfinished
from .engine.reports import Conflict, Divergence, RepairReport, RollbackReport, RollbackStep, UnfinishedMigration, VerifyReport
from .engine.rollback import rollback_migrations
from .engine.verify import verify_database
from .engine.widening import WidenReport, widen_history

__all__ = [
    "Conflict",
    "Divergence",
    "RepairReport",
    "RollbackReport",
    "RollbackStep",
    "UnfinishedMigration",
    "VerifyReport",
    "WidenReport",
    "baseline",
    "record_as_applied",
    "repair_history",
    "resolve_unfinished",
    "rollback_migrations",
    "verify_database",
    "widen_history",
]
