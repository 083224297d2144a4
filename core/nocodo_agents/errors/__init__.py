"""Every error nocodo-agents raises, each deriving from :class:`MigrationError`.

Each class takes the facts of its case as keyword-only parameters and keeps
them as attributes of the same names (version, agent, distribution, file...)
so programs can act on them; its message names them and says what to do
next, in the library's terms. The command line adds its own advice (the
``nocodo-agents`` command to run) from those facts: :mod:`nocodo_agents.cli.hints`.

The classes live by concern: :mod:`.base` (the root, bad arguments),
:mod:`.plugins` (agents and migration files), :mod:`.planning` (conflicts,
divergence), :mod:`.statements` (SQL refused before it runs),
:mod:`.requirements` (agents requiring agents), :mod:`.running` (failed and unfinished migrations), :mod:`.integrity`
(orphaned rows, invalid indexes), :mod:`.database` (connection, access,
timeouts, locks, bookkeeping tables), :mod:`.history_width` (widening the
history to 64-bit versions), :mod:`.operations` (adoption,
rollback, drift, resolve, scaffolding, URLs), :mod:`.store` (the
``Database`` store's missing rows and rejected values).
"""

from .base import InvalidArgumentError, InvalidArgumentTypeError, MigrationError, migration_facts
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
from .plugins import DuplicateAgentError, InvalidMigrationError, PluginLoadError, UnknownAgentError
from .requirements import RequiredAgentMissingError, RequirementOrderError
from .running import GroupedRunRefusedError, IncompleteMigrationError, MigrationFailedError, TransactionEndedError
from .statements import SessionStateError, TransactionControlError, UnsplittableSqlError
from .store import RejectedValueError, RowNotFoundError, SessionNotPausedError

__all__ = [
    "AdoptionAmbiguousError",
    "BookkeepingTableError",
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
