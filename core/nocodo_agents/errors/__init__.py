"""Every error nocodo-agents raises, each deriving from :class:`MigrationError`.

Each class takes the facts of its case as keyword-only parameters and keeps
them as attributes of the same names (version, agent, distribution, file...)
so programs can act on them; its message names them and says what to do
next, in the library's terms. The command line adds its own advice (the
``nocodo-agents`` command to run) from those facts: :mod:`nocodo_agents.cli.hints`.

The classes live by concern: :mod:`.base` (the root, bad arguments),
:mod:`.plugins` (agents and migration files), :mod:`.planning` (conflicts,
divergence), :mod:`.statements` (SQL refused before it runs),
:mod:`.requirements` (agents requiring agents), :mod:`.config` (the command line's settings),
:mod:`.running` (failed and unfinished migrations), :mod:`.integrity`
(orphaned rows, invalid indexes), :mod:`.database` (connection, access,
timeouts, locks, bookkeeping tables), :mod:`.history_width` (widening the
history to 64-bit versions), :mod:`.operations` (adoption,
rollback, drift, resolve, scaffolding, URLs), :mod:`.store` (the
``Database`` store's missing rows and rejected values).

Each class is imported from its module the first time it is asked for
(``from nocodo_agents.errors import X`` works as ever; the class is the same
object wherever it is reached from): a run that meets no error imports only
the modules of the errors its own modules name, not all of them.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .base import InvalidArgumentError, InvalidArgumentTypeError, MigrationError, migration_facts
    from .config import ConfigError
    from .database import (
        BookkeepingTableError,
        ConnectionStateError,
        DatabaseAccessError,
        HistoryRowError,
        HistoryTableError,
        LockConflictError,
        LockTimeoutError,
        SessionTimeoutError,
        StatementCancelledError,
    )
    from .history_width import HistoryWideningError
    from .integrity import ForeignKeyViolationError, InvalidIndexError
    from .operations import (
        AdoptionAmbiguousError,
        DatabaseUrlError,
        HistoryNotEmptyError,
        InstalledCopyError,
        PartialSchemaError,
        ResolveRefusedError,
        RollbackUnavailableError,
        ScaffoldError,
        SchemaDriftError,
        SchemaReplayError,
    )
    from .planning import DivergentMigrationError, HistoryAttributionError, MigrationConflictError
    from .plugins import (
        DuplicateAgentError,
        InstalledMetadataError,
        InvalidMigrationError,
        PluginLoadError,
        UnknownAgentError,
    )
    from .requirements import RequiredAgentMissingError, RequirementOrderError
    from .running import GroupedRunRefusedError, IncompleteMigrationError, MigrationFailedError, TransactionEndedError
    from .statements import SessionStateError, TransactionControlError, UnsplittableSqlError
    from .store import RejectedValueError, RowNotFoundError, SessionNotPausedError

#: Each public name -> the module of this package defining it (imported when the name is first asked for).
_MODULE_OF: dict[str, str] = {
    "AdoptionAmbiguousError": "nocodo_agents.errors.operations",
    "BookkeepingTableError": "nocodo_agents.errors.database",
    "ConfigError": "nocodo_agents.errors.config",
    "ConnectionStateError": "nocodo_agents.errors.database",
    "DatabaseAccessError": "nocodo_agents.errors.database",
    "DatabaseUrlError": "nocodo_agents.errors.operations",
    "DivergentMigrationError": "nocodo_agents.errors.planning",
    "DuplicateAgentError": "nocodo_agents.errors.plugins",
    "ForeignKeyViolationError": "nocodo_agents.errors.integrity",
    "GroupedRunRefusedError": "nocodo_agents.errors.running",
    "HistoryAttributionError": "nocodo_agents.errors.planning",
    "HistoryNotEmptyError": "nocodo_agents.errors.operations",
    "HistoryRowError": "nocodo_agents.errors.database",
    "HistoryTableError": "nocodo_agents.errors.database",
    "HistoryWideningError": "nocodo_agents.errors.history_width",
    "IncompleteMigrationError": "nocodo_agents.errors.running",
    "InstalledCopyError": "nocodo_agents.errors.operations",
    "InstalledMetadataError": "nocodo_agents.errors.plugins",
    "InvalidArgumentError": "nocodo_agents.errors.base",
    "InvalidArgumentTypeError": "nocodo_agents.errors.base",
    "InvalidIndexError": "nocodo_agents.errors.integrity",
    "InvalidMigrationError": "nocodo_agents.errors.plugins",
    "LockConflictError": "nocodo_agents.errors.database",
    "LockTimeoutError": "nocodo_agents.errors.database",
    "MigrationConflictError": "nocodo_agents.errors.planning",
    "MigrationError": "nocodo_agents.errors.base",
    "MigrationFailedError": "nocodo_agents.errors.running",
    "PartialSchemaError": "nocodo_agents.errors.operations",
    "PluginLoadError": "nocodo_agents.errors.plugins",
    "RejectedValueError": "nocodo_agents.errors.store",
    "RequiredAgentMissingError": "nocodo_agents.errors.requirements",
    "RequirementOrderError": "nocodo_agents.errors.requirements",
    "ResolveRefusedError": "nocodo_agents.errors.operations",
    "RollbackUnavailableError": "nocodo_agents.errors.operations",
    "RowNotFoundError": "nocodo_agents.errors.store",
    "ScaffoldError": "nocodo_agents.errors.operations",
    "SchemaDriftError": "nocodo_agents.errors.operations",
    "SchemaReplayError": "nocodo_agents.errors.operations",
    "SessionNotPausedError": "nocodo_agents.errors.store",
    "SessionStateError": "nocodo_agents.errors.statements",
    "SessionTimeoutError": "nocodo_agents.errors.database",
    "StatementCancelledError": "nocodo_agents.errors.database",
    "TransactionControlError": "nocodo_agents.errors.statements",
    "TransactionEndedError": "nocodo_agents.errors.running",
    "UnknownAgentError": "nocodo_agents.errors.plugins",
    "UnsplittableSqlError": "nocodo_agents.errors.statements",
    "migration_facts": "nocodo_agents.errors.base",
}

__all__ = [
    "AdoptionAmbiguousError",
    "BookkeepingTableError",
    "ConfigError",
    "ConnectionStateError",
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
    "MigrationConflictError",
    "MigrationError",
    "MigrationFailedError",
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
    "UnknownAgentError",
    "UnsplittableSqlError",
    "migration_facts",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
