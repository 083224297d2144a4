"""What sqlite3's errors mean: a busy lock, a read-only or damaged file, a full disk; and the named error for each."""

from __future__ import annotations

import sqlite3
from typing import Callable

from ..errors import DatabaseAccessError, LockTimeoutError, MigrationFailedError
from .interruptions import interrupted, left_unfinished


def is_busy(error: BaseException) -> bool:
    """SQLite could not take a lock another connection holds (``database is locked``, ``busy``)."""
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def is_read_only(error: BaseException) -> bool:
    """The file, its directory or the connection may not be written (``readonly``), here or in a cause."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sqlite3.OperationalError) and "readonly" in str(cause):
            return True
        cause = cause.__cause__
    return False


def is_environmental(error: BaseException | None) -> bool:
    """A failure of the file or the disk, not of the SQL that was running."""
    if not isinstance(error, sqlite3.DatabaseError):  # OperationalError is one
        return False
    message = str(error)
    return is_read_only(error) or any(text in message for text in _ENVIRONMENT + _NOT_A_DATABASE)


#: What SQLite says when the disk or the file fails under a statement.
_ENVIRONMENT = ("disk is full", "disk I/O error", "unable to open database file")
#: What SQLite says when the file is no database it can read.
_NOT_A_DATABASE = ("file is not a database", "malformed", "file is encrypted")


def named_sqlite_error(error: BaseException, where: Callable[[], str], lock_timeout: float) -> BaseException:
    """``error`` as the named error a caller can act on (errors of ours pass through); ``where()`` is the file.

    A migration statement that failed because of the file rather than its
    SQL (read-only, disk full, I/O) is reported as the file's problem.
    """
    failed: MigrationFailedError | None = None
    if isinstance(error, MigrationFailedError) and is_environmental(error.__cause__):
        failed, error = error, error.__cause__  # type: ignore[assignment]
    if not isinstance(error, sqlite3.Error):
        return error
    if is_busy(error):
        return LockTimeoutError(
            dialect="sqlite", waited_seconds=lock_timeout,
            cause=f"{error} (another connection holds a lock on {where()}: a writer in rollback-journal "
            f"mode, or BEGIN EXCLUSIVE)",
        )
    if is_read_only(error):
        return DatabaseAccessError(
            database=where(),
            problem="it is read-only (file permissions, a read-only mount or directory, ?mode=ro, or PRAGMA "
            "query_only): nothing was changed. Run the migrations with write access to the file and its "
            "directory.",
        )
    message = str(error)
    if any(text in message for text in _NOT_A_DATABASE):
        return DatabaseAccessError(
            database=where(),
            problem=f"it is not a SQLite database, or it is damaged ({message}): nothing was changed. Check the "
            f"path; restore the file from a backup if it is damaged.",
        )
    if failed is not None:
        return DatabaseAccessError(
            database=where(),
            problem=f"SQLite could not run a migration's statement for a reason outside its SQL ({message}). "
            f"{interrupted(failed)} Fix the cause (disk space, PRAGMA max_page_count, permissions, the file), "
            f"then run again.",
            unfinished=left_unfinished(failed),
        )
    return DatabaseAccessError(
        database=where(),
        problem=f"SQLite reported: {message}. A migration is committed together with its history row, so the "
        f"history says exactly what was applied: fix the cause (disk space, PRAGMA max_page_count, "
        f"permissions, the file), see what was applied (nocodo_agents.status.migration_status(conn), the command "
        f"line's status) and run again.",
    )


def refused_by_table(error: BaseException) -> bool:
    """Whether ``error`` says the history table refused a row (a constraint, a trigger), not that the file failed."""
    if isinstance(error, sqlite3.IntegrityError):
        return True
    return isinstance(error, sqlite3.OperationalError) and not is_busy(error) and not is_read_only(error) and (
        "no such column" in str(error) or "may not be modified" in str(error) or "cannot modify" in str(error)
    )
