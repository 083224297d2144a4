"""The command's exit codes, and which error leads to which."""

from __future__ import annotations

from enum import IntEnum

# The error classes are imported by the functions mapping errors, not here: a command that
# succeeds returns ExitCode.OK without loading them (nor the dialect registry).


class ExitCode(IntEnum):
    """Documented in ``docs/commands.md`` ("Exit codes"); scripts depend on them."""

    OK = 0
    # any other problem: unknown agent, a required agent not installed, broken plugin, unreadable
    # installed metadata, conflicting versions, an order requirements forbid, lock timeout...
    ERROR = 1
    # bad arguments, database URL, a bad setting ([tool.nocodo-agents], NOCODO_AGENTS_*), a `new` that
    # cannot be created, a `resolve` of nothing unfinished, a `migrate --grouped` that cannot be one transaction
    USAGE = 2
    PENDING = 3  # `status --check`: migrations are pending
    VERIFICATION_FAILED = 4  # divergent checksums, schema drift, partly present or ambiguous schema, rows widening cannot verify
    MIGRATION_FAILED = 5  # a migration (or rollback) failed, cannot be produced, or controls transactions or the session itself
    DATABASE_UNAVAILABLE = 6  # missing, unreachable or read-only database
    UNFINISHED = 7  # `status --check`, `verify`: a migration or rollback stopped part-way (MySQL journal): run `resolve`
    CONFLICT = 8  # a version the history records for one agent is claimed by another requested agent: renumber, never repair


def is_history_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a version claimed against another agent's history row (exit :attr:`ExitCode.CONFLICT`).

    Its history write twin, :class:`~nocodo_agents.HistoryAttributionError`, too.
    Two requested agents claiming one version (no database involved) stay
    :attr:`ExitCode.ERROR`, as they always were.
    """
    from ..errors import MigrationConflictError

    return isinstance(error, MigrationConflictError) and error.recorded_agent is not None


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code a failed command returns for ``error``."""
    from ..dialects.registry import is_unavailable_error
    from ..errors import (
        AdoptionAmbiguousError,
        BookkeepingTableError,
        ConfigError,
        DatabaseAccessError,
        DatabaseUrlError,
        DivergentMigrationError,
        ForeignKeyViolationError,
        GroupedRunRefusedError,
        HistoryRowError,
        HistoryTableError,
        HistoryWideningError,
        IncompleteMigrationError,
        InstalledMetadataError,
        InvalidMigrationError,
        MigrationFailedError,
        PartialSchemaError,
        RequiredAgentMissingError,
        RequirementOrderError,
        ResolveRefusedError,
        ScaffoldError,
        SchemaDriftError,
        SchemaReplayError,
    )

    if is_history_conflict(error):
        return ExitCode.CONFLICT
    if isinstance(error, (DatabaseUrlError, ConfigError, ScaffoldError, ResolveRefusedError, GroupedRunRefusedError)):
        return ExitCode.USAGE
    if isinstance(error, (
        DivergentMigrationError, SchemaDriftError, SchemaReplayError, PartialSchemaError, AdoptionAmbiguousError, HistoryRowError,
        HistoryTableError, BookkeepingTableError, HistoryWideningError,
    )):
        return ExitCode.VERIFICATION_FAILED
    if isinstance(error, (MigrationFailedError, ForeignKeyViolationError, InvalidMigrationError, IncompleteMigrationError)):
        return ExitCode.MIGRATION_FAILED
    if isinstance(error, DatabaseAccessError) or is_unavailable_error(error):
        return ExitCode.DATABASE_UNAVAILABLE
    if isinstance(error, (RequiredAgentMissingError, RequirementOrderError)):
        return ExitCode.ERROR  # like an unknown agent: install what is named, or choose another target
    if isinstance(error, InstalledMetadataError):
        return ExitCode.ERROR  # the environment, not the database: reinstall or remove the distribution named
    return ExitCode.ERROR
