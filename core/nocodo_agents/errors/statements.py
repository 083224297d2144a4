"""Errors refusing a migration's SQL before any of it runs: transaction control, session state, text that cannot be split."""

from __future__ import annotations

from ..excerpt import quote_statement
from .base import MigrationError
from .planning import REPAIR_CALL
from .plugins import InvalidMigrationError

#: The end of each message here: how to re-record the checksum of a file fixed after it was applied.
ALREADY_APPLIED = (
    f"If the migration is already applied, re-record its checksum after fixing the file with {REPAIR_CALL} "
    f"(the command line's repair)."
)


def _title(phase: str) -> str:
    return "migration" if phase == "migration" else "the rollback() of migration"


class TransactionControlError(InvalidMigrationError):
    """A migration's (or rollback's) SQL holds a statement that would end or escape the runner's transaction.

    Raised before any of the migration's statements run (for a run, before
    its first migration is applied). ``reason`` says what the statement would
    do; ``phase`` is ``"migration"`` or ``"rollback"``.
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        statement: str, statement_index: int, reason: str, phase: str = "migration",
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.reason = reason
        self.phase = phase
        self.problem = f"statement {statement_index + 1} of its {phase} {reason}"
        MigrationError.__init__(
            self,
            f"{_title(phase)} V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) controls transactions itself: statement "
            f"{statement_index + 1} {reason}.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"None of its statements ran. Remove the statement: the runner wraps every migration and "
            f"rollback with its history row in one transaction and commits it itself. Statements that "
            f"cannot run inside a transaction (VACUUM, CREATE INDEX CONCURRENTLY) belong in a migration "
            f"of their own declared `transactional = False`; work that must commit separately belongs in "
            f"a separate migration (split it). Savepoints the migration creates itself may be used "
            f"(SAVEPOINT x, then ROLLBACK TO x or RELEASE x; not on MySQL). {ALREADY_APPLIED}",
        )


class SessionStateError(InvalidMigrationError):
    """A migration's (or rollback's) SQL holds a statement changing the connection's session state for good.

    Such a change outlives the migration: later migrations, the runner and
    the caller's connection would run with it (another search_path, role,
    current database, pragma, temporary table...). Raised before any of the
    migration's statements run (for a run, before its first migration is
    applied). ``reason`` says what the statement would change, ``advice``
    what to write instead; ``phase`` is ``"migration"`` or ``"rollback"``.
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        statement: str, statement_index: int, reason: str, advice: str, phase: str = "migration",
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.reason = reason
        self.advice = advice
        self.phase = phase
        self.problem = f"statement {statement_index + 1} of its {phase} {reason}"
        MigrationError.__init__(
            self,
            f"{_title(phase)} V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) changes the connection's session state: statement "
            f"{statement_index + 1} {reason}.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"None of its statements ran. {advice}. {ALREADY_APPLIED}",
        )


class UnsplittableSqlError(InvalidMigrationError):
    """A migration's (or rollback's) SQL cannot be split into statements as the server will read it.

    An unterminated string, quoted name, dollar quote or comment (the server
    would refuse the text, or the statements around it would be cut in the
    wrong places), or a ``SET sql_mode`` / ``standard_conforming_strings``
    whose value the text does not say, followed by statements that split
    differently depending on it, or (MySQL) a routine body that is one
    compound statement without ``BEGIN`` that cannot be read with certainty.
    Raised before any of the migration's statements run (for a run, before
    its first migration is applied). ``line`` and ``offset`` locate the
    problem in the SQL; ``phase`` is ``"migration"`` or ``"rollback"``;
    ``advice`` says what to do when it is not closing a string or comment.
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        dialect: str, line: int, offset: int, reason: str, phase: str = "migration", advice: str | None = None,
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.dialect = dialect
        self.line = line
        self.offset = offset
        self.reason = reason
        self.phase = phase
        self.advice = advice
        self.problem = f"its {phase} SQL for {dialect} cannot be split into statements: {reason} (line {line})"
        what_to_do = (
            f"{advice}. "
            if advice
            else "Close the string, quoted name or comment (on MySQL a backslash escapes the quote after it: write "
            "'C:\\\\' for C:\\), or set sql_mode / standard_conforming_strings to a literal value. "
        )
        MigrationError.__init__(
            self,
            f"{_title(phase)} V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) cannot be split into statements for {dialect}: "
            f"{reason}, at line {line} (offset {offset}) of its {phase} SQL. None of its statements ran. "
            f"{what_to_do}{ALREADY_APPLIED}",
        )
