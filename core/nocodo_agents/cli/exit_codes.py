"""The command's exit codes, and which error leads to which."""

from __future__ import annotations

import sqlite3
from enum import IntEnum

from ..errors import (
    DatabaseAccessError,
    DatabaseUrlError,
    DivergentMigrationError,
    IncompleteMigrationError,
    InvalidMigrationError,
    MigrationFailedError,
    PartialSchemaError,
    ScaffoldError,
    SchemaDriftError,
    SchemaReplayError,
)


class ExitCode(IntEnum):
    """Documented in the README; scripts depend on them."""

    OK = 0
    ERROR = 1  # any other problem: unknown agent, broken plugin, conflicting versions, lock timeout...
    USAGE = 2  # bad arguments, database URL, or a `new` that cannot be created
    PENDING = 3  # `status --check`: migrations are pending
    VERIFICATION_FAILED = 4  # divergent checksums, schema drift, partly present schema
    MIGRATION_FAILED = 5  # a migration (or rollback) failed, or cannot be produced
    DATABASE_UNAVAILABLE = 6  # missing, unreachable or read-only database


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code a failed command returns for ``error``."""
    if isinstance(error, (DatabaseUrlError, ScaffoldError)):
        return ExitCode.USAGE
    if isinstance(error, (DivergentMigrationError, SchemaDriftError, SchemaReplayError, PartialSchemaError)):
        return ExitCode.VERIFICATION_FAILED
    if isinstance(error, (MigrationFailedError, InvalidMigrationError, IncompleteMigrationError)):
        return ExitCode.MIGRATION_FAILED
    if isinstance(error, (DatabaseAccessError, sqlite3.Error)):
        return ExitCode.DATABASE_UNAVAILABLE
    return ExitCode.ERROR
