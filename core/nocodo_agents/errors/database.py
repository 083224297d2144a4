"""Errors of the database itself: the connection, access, timeouts and locks, and the bookkeeping tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .base import MigrationError


class ConnectionStateError(MigrationError):
    """The connection cannot be used as given (open transaction, unsupported driver): nothing was changed.

    ``problem`` says what is wrong with it and what to do.
    """

    def __init__(self, *, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class DatabaseAccessError(MigrationError):
    """The database cannot be opened or written (missing, unreachable, read-only).

    ``database`` names it (password redacted), ``problem`` says what happened
    and what it left. ``unfinished`` lists the versions the run left in the
    journal (MySQL), which a later run will ask to settle with
    ``resolve_unfinished`` (the command line's ``resolve``); ``missing`` says
    the database does not exist (and was not to be created).
    """

    def __init__(self, *, database: str, problem: str, unfinished: Iterable[int] = (), missing: bool = False) -> None:
        self.database = database
        self.problem = problem
        self.unfinished = tuple(unfinished)
        self.missing = missing
        super().__init__(f"cannot use database {database}: {problem}")


class SessionTimeoutError(DatabaseAccessError):
    """A timeout set on the caller's session cancelled a statement of the run.

    ``setting`` names it (``statement_timeout``, ``lock_timeout``, MariaDB's
    ``max_statement_time``, MySQL's ``max_execution_time``), ``value`` is its
    value as the server shows it, ``during`` what it cancelled, ``left`` what
    that left. The runner's own wait for the migration lock is bounded by
    ``lock_timeout=`` alone; everything else of the run, a migration's
    statements included, runs under the session's timeouts.
    """

    def __init__(
        self, *, database: str, setting: str, value: str, during: str, left: str, unfinished: Iterable[int] = (),
    ) -> None:
        self.setting = setting
        self.value = value
        self.during = during
        self.left = left
        super().__init__(
            database=database,
            problem=(
                f"the session's {setting} = {value} cancelled {during}. {left} The runner's wait for its migration "
                f"lock is bounded by lock_timeout= alone, but a migration's statements (and the runner's own reads and "
                f"writes) run under the session's timeouts: raise or unset {setting} on the connection that runs the "
                f"migrations (for the command line: the URL's options parameter on PostgreSQL, ALTER ROLE ... SET "
                f"{setting} = ..., or the server's setting), then run again."
            ),
            unfinished=unfinished,
        )


class StatementCancelledError(DatabaseAccessError):
    """Someone outside the run cancelled one of its statements (``pg_cancel_backend``, ``KILL QUERY``).

    Not the migration's fault, and the connection still works: ``during``
    says what was cancelled, ``left`` what it left, ``server_message`` the
    server's words.
    """

    def __init__(
        self, *, database: str, during: str, left: str, server_message: str, unfinished: Iterable[int] = (),
    ) -> None:
        self.during = during
        self.left = left
        self.server_message = server_message
        super().__init__(
            database=database,
            problem=(
                f"{during} was cancelled from outside the run ({server_message}: an operator's pg_cancel_backend or "
                f"KILL QUERY, or a tool doing so). {left} Find out who cancelled it, then run again."
            ),
            unfinished=unfinished,
        )


class LockConflictError(DatabaseAccessError):
    """The server stopped a statement of the run over another session's locks (a deadlock, a lock wait timeout).

    Not a fault of the migration's SQL: ``during`` says what was stopped,
    ``server_message`` the server's words, ``left`` what it left, and
    ``find_holder`` how to find the session holding the locks.
    """

    def __init__(
        self, *, database: str, during: str, left: str, server_message: str, find_holder: str,
        unfinished: Iterable[int] = (),
    ) -> None:
        self.during = during
        self.left = left
        self.server_message = server_message
        self.find_holder = find_holder
        super().__init__(
            database=database,
            problem=(
                f"{during} was stopped by the server over another session's locks ({server_message}), not because of "
                f"its SQL. {left} Find the session holding them ({find_holder}), let it finish or end it, then run again."
            ),
            unfinished=unfinished,
        )


class LockTimeoutError(MigrationError):
    """Another runner held the migration lock for longer than the allowed wait.

    ``done_before`` lists, as ``V<version>`` strings, what this run had
    already applied (or rolled back) and recorded before it had to wait; the
    message says so rather than claiming nothing changed.
    """

    def __init__(
        self,
        *,
        dialect: str,
        waited_seconds: float,
        cause: BaseException | str | None = None,
        done_before: Sequence[str] = (),
    ) -> None:
        self.dialect = dialect
        self.waited_seconds = waited_seconds
        self.cause = cause
        self.done_before = tuple(done_before)
        if self.done_before:
            changed = (
                f"Before it had to wait, this run had already done {', '.join(self.done_before)}, each recorded in "
                f"the history with its changes; nothing more was changed."
            )
        else:
            changed = "Nothing was changed by the waiting runner."
        super().__init__(
            f"could not take the {dialect} migration lock within {waited_seconds:g} s: another "
            f"runner (or a long transaction) holds it. {changed} Wait "
            f"for it to finish, or allow a longer wait (lock_timeout=)." + (f" Cause: {cause}" if cause else "")
        )

    def after(self, done_before: Sequence[str]) -> LockTimeoutError:
        """The same timeout, told that this run had done ``done_before`` first (itself if nothing was)."""
        if not done_before:
            return self
        return LockTimeoutError(dialect=self.dialect, waited_seconds=self.waited_seconds, cause=self.cause, done_before=done_before)


class HistoryRowError(MigrationError):
    """A row of the history table is malformed (NULL version, name or checksum)."""

    def __init__(self, *, table: str, row: Sequence[object], problem: str) -> None:
        self.table = table
        self.row = tuple(row)
        self.problem = problem
        super().__init__(
            f"the history table {table} holds a malformed row {self.row!r}: {problem}. It was not written by "
            f"nocodo-agents or refinery; correct or delete that row by hand, then run again."
        )


class HistoryTableError(MigrationError):
    """The history table cannot be used as it is: a view, missing columns, or constraints refusing our rows."""

    def __init__(self, *, table: str, database: str, problem: str) -> None:
        self.table = table
        self.database = database
        self.problem = problem
        super().__init__(
            f"the history table {table} in {database} {problem}. nocodo-agents (like refinery) needs a "
            f"table with the columns version, name, applied_on and checksum (it adds a nullable agent "
            f"column) and no other column it must fill. Correct the table by hand (or rename it away and "
            f"record what the schema holds with nocodo_agents.lifecycle.baseline(conn, version), the command "
            f"line's baseline), then run again."
        )


class BookkeepingTableError(MigrationError):
    """A bookkeeping table (the history, or MySQL's journal) cannot keep its rows safely as it is stored.

    MySQL/MariaDB only. ``engine`` is the table's storage engine when it does
    not support transactions (``MyISAM``, ``Aria``, ``MEMORY``...): its rows
    would commit on their own instead of together with the migration's other
    bookkeeping. ``charset`` is the character set of a journal that cannot
    store every error text, or of a history ``agent`` column that cannot store
    every agent name (``latin1``...). ``fix`` is the statement that
    converts the table; ``cause`` why converting it failed, if it was tried.
    """

    def __init__(
        self, *, table: str, database: str, fix: str, engine: str | None = None, charset: str | None = None,
        cause: str | None = None,
    ) -> None:
        self.table = table
        self.database = database
        self.fix = fix
        self.engine = engine
        self.charset = charset
        self.cause = cause
        problems = []
        if engine is not None:
            problems.append(
                f"uses the {engine} storage engine, which is not transactional: its rows would commit one by one, "
                f"outside the transaction that records a migration together with the removal of its journal entry, "
                f"so a run stopped between the two would leave it claiming a migration that did not finish"
            )
        if charset is not None:
            problems.append(f"stores its text as {charset}, which cannot hold every text it must (error messages, agent names)")
        tried = f" (converting it failed: {cause})" if cause else ""
        super().__init__(
            f"the bookkeeping table {table} in {database} {'; it '.join(problems) or 'cannot be used as it is'}{tried}. "
            f"Nothing was changed. Convert it, while no runner is running, with `{fix}`, then run again."
        )
