"""Running one migration's (or rollback's) statements, turning a failure into a named error.

Before a statement runs, the migration is checked for statements that would
end or escape the runner's transaction (:mod:`nocodo_agents.schema.transaction_control`)
or change the connection's session state for good
(:mod:`nocodo_agents.schema.session_state`), and SQL the splitter cannot split
safely is refused (:class:`UnsplittableSqlError`); MySQL session variables it assigns are
restored after its last statement. After each statement of a migration run
inside the runner's transaction, the transaction is checked to be still
open, so a statement that ended it anyway is reported as such instead of
being claimed rolled back.

A migration's SQL is split and checked once per run: :func:`check_before_running`
keeps the statements it checked on the dialect (:attr:`~nocodo_agents.dialects.Dialect.checked_sql`,
keyed by the phase, the text and whether the migration is transactional, all
the checks depend on), and :func:`run_statements` runs them from there.
Where the dialect's splitter reads the text alone (:attr:`~nocodo_agents.dialects.Dialect.text_only_syntax`:
not MySQL, whose syntax depends on the server's version), what passed is also
remembered for the process (:data:`_CHECKED`, bounded), so a fresh database
given the same migrations again (a test suite's) splits and checks nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .dialects import Dialect
from .errors import (
    InvalidMigrationError,
    MigrationFailedError,
    SessionStateError,
    TransactionControlError,
    TransactionEndedError,
    UnsplittableSqlError,
    migration_facts,
)
from .planning import PlannedMigration
from .schema.presence import has_statement
from .schema.session_state import SessionVariableGuard, find_session_change
from .schema.split import SplitError
from .schema.transaction_control import find_transaction_control

logger = logging.getLogger("nocodo_agents")

#: Statements that passed the checks in this process, by (dialect name, phase, text, transactional),
#: for dialects whose splitter reads the text alone; emptied when it reaches :data:`_CHECKED_AT_MOST`.
_CHECKED: dict[tuple[str, str, str, bool], list[str]] = {}
_CHECKED_AT_MOST = 4096


def check_before_running(
    dialect: Dialect, migrations: Sequence[PlannedMigration], phase: str = "migration", *, replay: bool = False
) -> None:
    """Refuse, before anything runs, SQL that must not run: empty, controlling transactions, or changing the session.

    ``phase`` says which SQL to check: ``"migration"`` or ``"rollback"``.
    Runs no statement; called before a run's first migration is applied, so
    a run never stops half-way over something knowable up front. Raises
    :class:`InvalidMigrationError` for migration SQL that is empty (not
    with ``replay=True``: applied migrations replayed on a scratch database
    are checked for transaction control and session changes only, so an
    empty one applied long ago is never refused), :class:`UnsplittableSqlError`,
    :class:`TransactionControlError` and :class:`SessionStateError`.
    """
    for planned in migrations:
        sql = planned.sql(dialect.name) if phase == "migration" else planned.rollback_sql(dialect.name)
        if sql is not None:
            if replay:
                _refuse_nul(dialect, planned, sql, phase)
                _check(dialect, planned, sql, split(dialect, planned, sql, phase), phase, replay)
            else:
                checked_statements(dialect, planned, sql, phase)


def checked_statements(dialect: Dialect, planned: PlannedMigration, sql: str, phase: str = "migration") -> list[str]:
    """``sql`` split and checked as :func:`check_before_running` checks it, once per run (kept on the dialect).

    The checks read the text alone, for the dialect's syntax, the phase and
    whether the migration runs in a transaction; so an outcome kept under
    those is the outcome of checking again. Only what passed is kept (for
    the process too where the dialect's syntax is the text's alone). The
    list returned is shared: callers must not change it.
    """
    key = (phase, sql, planned.migration.transactional)
    statements = dialect.checked_sql.get(key)
    if statements is None:
        shared = (dialect.name, *key) if dialect.text_only_syntax else None
        statements = _CHECKED.get(shared) if shared is not None else None
        if statements is None:
            _refuse_nul(dialect, planned, sql, phase)
            statements = split(dialect, planned, sql, phase)
            _check(dialect, planned, sql, statements, phase)
            if shared is not None:
                if len(_CHECKED) >= _CHECKED_AT_MOST:
                    _CHECKED.clear()
                _CHECKED[shared] = statements
        dialect.checked_sql[key] = statements
    return statements


def split(dialect: Dialect, planned: PlannedMigration, sql: str, phase: str = "migration") -> list[str]:
    """``sql`` split as ``dialect``'s server will read it; text it cannot split safely is an :class:`UnsplittableSqlError`."""
    try:
        return dialect.split_statements(sql)
    except SplitError as error:
        raise UnsplittableSqlError(
            **migration_facts(planned),
            dialect=dialect.name,
            line=error.line,
            offset=error.offset,
            reason=error.reason,
            phase=phase,
            advice=error.advice,
        ) from None


def _refuse_nul(dialect: Dialect, planned: PlannedMigration, sql: str, phase: str) -> None:
    """Refuse SQL holding a NUL character on PostgreSQL and SQLite (MySQL takes it in a string literal).

    libpq ends a query at a NUL, so PostgreSQL would silently run the
    statement cut short (``UPDATE t SET x = 1<NUL> WHERE id = 5`` updates
    every row); SQLite's driver refuses it with a bare ``ValueError``.
    """
    offset = sql.find("\x00")
    if offset >= 0 and dialect.name != "mysql":
        raise InvalidMigrationError(
            source=planned.source,
            problem=f"its {phase} SQL for {dialect.name} holds a NUL character (at offset {offset}): "
            + (
                "PostgreSQL's client library would end the statement there and run only what comes before it"
                if dialect.name == "postgresql"
                else "SQLite cannot run it"
            )
            + f". Nothing was run. Remove it (to store a zero byte, write an escape or function such as "
            f"char(0) or decode('00', 'hex')) (distribution {planned.distribution})",
            agent=planned.agent,
        )


def _check(dialect: Dialect, planned: PlannedMigration, sql: str, statements: Sequence[str], phase: str, replay: bool = False) -> None:
    if phase == "migration" and not replay and not has_statement(sql, dialect.name):
        raise InvalidMigrationError(
            source=planned.source,
            problem=f"its SQL for {dialect.name} is empty (nothing but whitespace, comments or semicolons): write the "
            f"statements it should run, or delete the migration if it is not needed (distribution "
            f"{planned.distribution})",
            agent=planned.agent,
        )
    found = find_transaction_control(statements, dialect.name, transactional=planned.migration.transactional)
    if found is not None:
        raise TransactionControlError(
            **migration_facts(planned),
            statement=found.statement,
            statement_index=found.index,
            reason=found.reason,
            phase=phase,
        )
    change = find_session_change(statements, dialect.name, transactional=planned.migration.transactional)
    if change is not None:
        raise SessionStateError(
            **migration_facts(planned),
            statement=change.statement,
            statement_index=change.index,
            reason=change.reason,
            advice=change.advice,
            phase=phase,
        )


def run_statements(dialect: Dialect, planned: PlannedMigration, sql: str, *, rolled_back: bool, phase: str = "migration") -> None:
    """Execute ``sql`` statement by statement; a failure raises :class:`MigrationFailedError`.

    ``rolled_back`` says whether the caller's transaction will undo the
    statements that ran before the failing one; it is checked to be still
    open after each statement (:class:`TransactionEndedError` if not).
    ``phase`` is ``"migration"`` or ``"rollback"``. Transaction control in
    ``sql`` raises :class:`TransactionControlError` (a lasting change of the
    session, :class:`SessionStateError`) before anything runs; MySQL session
    variables the statements assign are saved first and restored after the
    last (or failing) one. On
    a dialect without transactional DDL each statement is journalled first,
    so a failure is remembered (the caller calls ``journal.done`` once the
    history row is written, or deleted for a rollback). Once every statement
    ran, the dialect checks what they left (on SQLite: rows whose foreign key
    finds no parent raise :class:`ForeignKeyViolationError`).
    """
    statements = checked_statements(dialect, planned, sql, phase)
    if dialect.transactional_ddl and not dialect.session_variables:
        _run_plain(dialect, planned, statements, rolled_back, phase)
        dialect.check_integrity(planned, phase, rolled_back)
        return
    journal = not dialect.transactional_ddl
    if journal:
        dialect.journal.start(planned.version, planned.name, planned.agent, len(statements), direction=phase)
    session = SessionVariableGuard(dialect) if dialect.session_variables else _NoSessionVariables(dialect)
    for index, statement in enumerate(statements):
        try:
            if journal and index:  # journal.start recorded statement 0 as the next one already
                dialect.journal.statement(planned.version, index)
            session.execute(statement)
        except Exception as error:
            session.restore(quietly=True)  # the journal's error text is written with the caller's settings
            if journal:
                _record_failure(dialect, planned, index, error)
            raise _failed(planned, statement, index, error, rolled_back, phase, journal) from error
        if rolled_back and not dialect.transaction_open():
            session.restore(quietly=True)
            raise TransactionEndedError(**migration_facts(planned), statement=statement, statement_index=index, phase=phase)
    session.restore()
    dialect.check_integrity(planned, phase, rolled_back)


def _run_plain(dialect: Dialect, planned: PlannedMigration, statements: Sequence[str], rolled_back: bool, phase: str) -> None:
    """:func:`run_statements` where there is neither a journal to write nor a session variable to restore."""
    execute = dialect.execute
    for index, statement in enumerate(statements):
        try:
            execute(statement)
        except Exception as error:
            raise _failed(planned, statement, index, error, rolled_back, phase, False) from error
        if rolled_back and not dialect.transaction_open():
            raise TransactionEndedError(**migration_facts(planned), statement=statement, statement_index=index, phase=phase)


def _failed(
    planned: PlannedMigration, statement: str, index: int, error: Exception, rolled_back: bool, phase: str, journalled: bool
) -> MigrationFailedError:
    """The error naming ``planned``'s statement ``index`` that failed with ``error``."""
    return MigrationFailedError(
        **migration_facts(planned),
        statement=statement,
        statement_index=index,
        cause=error,
        rolled_back=rolled_back,
        phase=phase,
        journalled=journalled,
    )


class _NoSessionVariables:
    """What :class:`SessionVariableGuard` does where a statement cannot assign a session variable for good: run it."""

    def __init__(self, dialect: Dialect) -> None:
        self.execute = dialect.execute

    def restore(self, *, quietly: bool = False) -> None:
        """Nothing was saved: nothing to put back."""


def _record_failure(dialect: Dialect, planned: PlannedMigration, index: int, error: BaseException) -> None:
    """Journal the failure; a failure to journal must not hide the migration's own error."""
    try:
        dialect.journal.failed(planned.version, index, error)
    except Exception as journal_error:
        logger.warning(
            "could not record in the journal that V%s__%s failed at statement %s: %s",
            planned.version, planned.name, index + 1, journal_error,
        )
