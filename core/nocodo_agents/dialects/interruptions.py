"""What a statement stopped from outside the run (by the server, the disk, a timeout, another session) left behind.

Each dialect maps its driver's errors to the named errors built here, which
say what the run was doing and what stays applied.
"""

from __future__ import annotations

from ..errors import (
    LockConflictError,
    MigrationFailedError,
    SchemaReplayError,
    SessionTimeoutError,
    StatementCancelledError,
)
from ..errors.base import resolve_calls


def left_unfinished(error: BaseException | None) -> tuple[int, ...]:
    """The version ``error`` left in the journal (a journalled :class:`MigrationFailedError`'s), for an error's ``unfinished``."""
    if isinstance(error, MigrationFailedError) and error.journalled:
        return (error.version,)
    return ()


def interrupted(failed: MigrationFailedError) -> str:
    """What a migration (or rollback) stopped by the server, the disk or the connection left behind.

    For the :class:`~nocodo_agents.DatabaseAccessError` that replaces
    ``failed`` when its statement failed for a reason outside its SQL: names
    the migration and says, from ``failed``'s facts, what stays applied (and,
    where the journal keeps it, how to settle it).
    """
    what = "Migration" if failed.phase == "migration" else f"The {failed.phase} of migration"
    where = (
        f"{what} V{failed.version}__{failed.name} of agent {failed.agent!r} (distribution {failed.distribution}, "
        f"{failed.source}) was stopped at statement {failed.statement_index + 1}"
    )
    if failed.journalled:
        record = "is still recorded as applied" if failed.phase == "rollback" else "was not recorded in the history"
        return (
            f"{where}: this database commits DDL implicitly, so the statements before it stay applied (statement "
            f"{failed.statement_index + 1} itself may or may not have taken effect) and V{failed.version} {record}. "
            f"The journal keeps it, and every run stops until it is settled: once the server is reachable, bring the "
            f"schema by hand to V{failed.version} fully applied or fully absent and record which with "
            f"{resolve_calls(failed.version)}."
        )
    if failed.rolled_back:
        return f"{where}; its transaction was not committed (it is rolled back): the database and its history are as they were before it."
    return (
        f"{where}; it ran outside a transaction (transactional = False), so the statements before it stay applied "
        f"and V{failed.version} was not recorded in the history: check them before running again."
    )


def _what_stopped(error: BaseException) -> tuple[str, str]:
    """For a statement stopped from outside the run: what it was, and what the run left behind.

    ``error`` is what left the run: a :class:`MigrationFailedError` (a
    migration's or rollback's statement: what it left is said as for any
    interrupted migration), a :class:`SchemaReplayError` (the drift check's
    replay), or the driver's error (one of the runner's own statements).
    """
    from ..urls import redact

    if isinstance(error, MigrationFailedError):
        return f"a statement of the {error.phase}", interrupted(error)
    if isinstance(error, SchemaReplayError):
        during = (
            f"the drift check's replay of migration V{error.version}__{error.name} of agent {error.agent!r} "
            f"(distribution {error.distribution}, {error.source}) at statement {error.statement_index + 1}"
        )
        return during, f"The replay ran in {error.scratch}; the live database was not touched."
    return (
        f"one of the runner's own statements ({redact(str(error).strip())})",
        "Each migration is recorded in the history as soon as it is applied: nocodo_agents.status.migration_status(conn) "
        "(the command line's status) shows where it stopped.",
    )


def timeout_error(location: str, setting: str, value: str, error: BaseException) -> SessionTimeoutError:
    """:class:`SessionTimeoutError` for ``error``: a statement the session's ``setting`` (= ``value``) cancelled."""
    during, left = _what_stopped(error)
    return SessionTimeoutError(
        database=location, setting=setting, value=value, during=during, left=left, unfinished=left_unfinished(error),
    )


def cancelled_error(location: str, error: BaseException, server_message: str) -> StatementCancelledError:
    """:class:`StatementCancelledError` for ``error``: a statement someone outside the run cancelled."""
    during, left = _what_stopped(error)
    return StatementCancelledError(
        database=location, during=during[0].upper() + during[1:], left=left, server_message=server_message,
        unfinished=left_unfinished(error),
    )


def lock_conflict_error(location: str, error: BaseException, server_message: str, find_holder: str) -> LockConflictError:
    """:class:`LockConflictError` for ``error``: a statement the server stopped over another session's locks."""
    during, left = _what_stopped(error)
    return LockConflictError(
        database=location, during=during[0].upper() + during[1:], left=left, server_message=server_message,
        find_holder=find_holder, unfinished=left_unfinished(error),
    )
