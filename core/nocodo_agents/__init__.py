"""nocodo-agents: the database schema of AI-agent applications, extended by agent plugins.

The errors are importable from here directly; the rest of the public API is
imported on first use, so ``import nocodo_agents`` stays cheap.
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AdoptionAmbiguousError,
    BookkeepingTableError,
    ConnectionStateError,
    DatabaseAccessError,
    DatabaseUrlError,
    DivergentMigrationError,
    DuplicateAgentError,
    ForeignKeyViolationError,
    GroupedRunRefusedError,
    HistoryAttributionError,
    HistoryNotEmptyError,
    HistoryRowError,
    HistoryTableError,
    HistoryWideningError,
    IncompleteMigrationError,
    InstalledCopyError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidIndexError,
    InvalidMigrationError,
    LockConflictError,
    LockTimeoutError,
    MigrationConflictError,
    MigrationError,
    MigrationFailedError,
    PartialSchemaError,
    PluginLoadError,
    RejectedValueError,
    RequiredAgentMissingError,
    RequirementOrderError,
    ResolveRefusedError,
    RollbackUnavailableError,
    RowNotFoundError,
    ScaffoldError,
    SchemaDriftError,
    SchemaReplayError,
    SessionNotPausedError,
    SessionStateError,
    SessionTimeoutError,
    StatementCancelledError,
    TransactionControlError,
    TransactionEndedError,
    UnsplittableSqlError,
    UnknownAgentError,
)

if TYPE_CHECKING:  # pragma: no cover
    from .database import Database
    from .discovery import AgentRegistry
    from .migration import Migration
    from .runner import MigrationReport, MigrationStep, run_agent_migrations

_LAZY = {
    "AgentRegistry": "nocodo_agents.discovery",
    "Database": "nocodo_agents.database",
    "Migration": "nocodo_agents.migration",
    "MigrationReport": "nocodo_agents.runner",
    "MigrationStep": "nocodo_agents.runner",
    "run_agent_migrations": "nocodo_agents.runner",
}

__all__ = [
    "AdoptionAmbiguousError",
    "AgentRegistry",
    "BookkeepingTableError",
    "ConnectionStateError",
    "Database",
    "DatabaseAccessError",
    "DatabaseUrlError",
    "DivergentMigrationError",
    "DuplicateAgentError",
    "ForeignKeyViolationError",
    "GroupedRunRefusedError",
    "HistoryAttributionError",
    "HistoryNotEmptyError",
    "HistoryRowError",
    "HistoryTableError",
    "HistoryWideningError",
    "IncompleteMigrationError",
    "InstalledCopyError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "InvalidIndexError",
    "InvalidMigrationError",
    "LockConflictError",
    "LockTimeoutError",
    "Migration",
    "MigrationConflictError",
    "MigrationError",
    "MigrationFailedError",
    "MigrationReport",
    "MigrationStep",
    "PartialSchemaError",
    "PluginLoadError",
    "RejectedValueError",
    "RequiredAgentMissingError",
    "RequirementOrderError",
    "ResolveRefusedError",
    "RollbackUnavailableError",
    "RowNotFoundError",
    "ScaffoldError",
    "SchemaDriftError",
    "SchemaReplayError",
    "SessionNotPausedError",
    "SessionStateError",
    "SessionTimeoutError",
    "StatementCancelledError",
    "TransactionControlError",
    "TransactionEndedError",
    "UnsplittableSqlError",
    "UnknownAgentError",
    "__version__",
    "run_agent_migrations",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'nocodo_agents' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
