"""nocodo-agents: the database schema of AI-agent applications, extended by agent plugins.

Every public name (the errors too) is importable from here directly and
imported on first use, so ``import nocodo_agents`` stays cheap.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs the command line milliseconds at every start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .database import Database
    from .discovery import AgentRegistry
    from .errors import (
        AdoptionAmbiguousError,
        BookkeepingTableError,
        ConfigError,
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
        InstalledMetadataError,
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
        UnknownAgentError,
        UnsplittableSqlError,
    )
    from .migration import Migration
    from .runner import MigrationReport, MigrationStep, run_agent_migrations

#: Each public name -> the module it is imported from on first use (an error class: from
#: :mod:`nocodo_agents.errors`, which imports only its own module).
_LAZY = {
    "AdoptionAmbiguousError": "nocodo_agents.errors",
    "BookkeepingTableError": "nocodo_agents.errors",
    "ConfigError": "nocodo_agents.errors",
    "ConnectionStateError": "nocodo_agents.errors",
    "DatabaseAccessError": "nocodo_agents.errors",
    "DatabaseUrlError": "nocodo_agents.errors",
    "DivergentMigrationError": "nocodo_agents.errors",
    "DuplicateAgentError": "nocodo_agents.errors",
    "ForeignKeyViolationError": "nocodo_agents.errors",
    "GroupedRunRefusedError": "nocodo_agents.errors",
    "HistoryAttributionError": "nocodo_agents.errors",
    "HistoryNotEmptyError": "nocodo_agents.errors",
    "HistoryRowError": "nocodo_agents.errors",
    "HistoryTableError": "nocodo_agents.errors",
    "HistoryWideningError": "nocodo_agents.errors",
    "IncompleteMigrationError": "nocodo_agents.errors",
    "InstalledCopyError": "nocodo_agents.errors",
    "InstalledMetadataError": "nocodo_agents.errors",
    "InvalidArgumentError": "nocodo_agents.errors",
    "InvalidArgumentTypeError": "nocodo_agents.errors",
    "InvalidIndexError": "nocodo_agents.errors",
    "InvalidMigrationError": "nocodo_agents.errors",
    "LockConflictError": "nocodo_agents.errors",
    "LockTimeoutError": "nocodo_agents.errors",
    "MigrationConflictError": "nocodo_agents.errors",
    "MigrationError": "nocodo_agents.errors",
    "MigrationFailedError": "nocodo_agents.errors",
    "PartialSchemaError": "nocodo_agents.errors",
    "PluginLoadError": "nocodo_agents.errors",
    "RejectedValueError": "nocodo_agents.errors",
    "RequiredAgentMissingError": "nocodo_agents.errors",
    "RequirementOrderError": "nocodo_agents.errors",
    "ResolveRefusedError": "nocodo_agents.errors",
    "RollbackUnavailableError": "nocodo_agents.errors",
    "RowNotFoundError": "nocodo_agents.errors",
    "ScaffoldError": "nocodo_agents.errors",
    "SchemaDriftError": "nocodo_agents.errors",
    "SchemaReplayError": "nocodo_agents.errors",
    "SessionNotPausedError": "nocodo_agents.errors",
    "SessionStateError": "nocodo_agents.errors",
    "SessionTimeoutError": "nocodo_agents.errors",
    "StatementCancelledError": "nocodo_agents.errors",
    "TransactionControlError": "nocodo_agents.errors",
    "TransactionEndedError": "nocodo_agents.errors",
    "UnsplittableSqlError": "nocodo_agents.errors",
    "UnknownAgentError": "nocodo_agents.errors",
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
    "ConfigError",
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
    "InstalledMetadataError",
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


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
