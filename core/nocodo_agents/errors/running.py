"""Errors of a migration (or rollback) that ran and failed, or stopped part-way on an earlier run."""

from __future__ import annotations

from collections.abc import Sequence

from ..excerpt import quote_message, quote_statement
from .base import MigrationError, resolve_call, resolve_calls


class MigrationFailedError(MigrationError):
    """A statement of a migration (or rollback) failed.

    ``rolled_back`` says whether its transaction undid the statements before
    the failing one; ``journalled`` whether the journal keeps it (MySQL), so
    that it must be settled with ``resolve_unfinished`` (the command line's
    ``resolve``). ``cause`` is the driver's error (also ``__cause__``).
    """

    def __init__(
        self,
        *,
        version: int,
        name: str,
        agent: str,
        distribution: str,
        source: str,
        statement: str,
        statement_index: int,
        cause: BaseException | str,
        rolled_back: bool = True,
        phase: str = "migration",
        journalled: bool = False,
        grouped_with: Sequence[str] = (),
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.cause = cause
        self.rolled_back = rolled_back
        self.phase = phase
        self.journalled = journalled
        #: In a grouped run (one transaction for every migration), those it ran before this one
        #: (``V1__name``), rolled back with it.
        self.grouped_with = tuple(grouped_with)
        if rolled_back and self.grouped_with:
            left = (
                f"The run was grouped in one transaction, which was rolled back: the {len(self.grouped_with)} "
                f"migration(s) it ran before this one ({', '.join(self.grouped_with)}) were undone with it, and the "
                f"database and its history are as they were before the run."
            )
        elif rolled_back:
            left = "Its transaction was rolled back: the database and its history are as they were before it."
        else:
            left = "It ran outside a transaction: statements before the failing one stay applied."
        what = "migration" if phase == "migration" else f"the {phase} of migration"
        if journalled:
            left = "This database commits DDL implicitly, so the statements before the failing one stay applied."
            then = (
                f"The journal remembers it and migrations will not run until it is resolved: fix the "
                f"{phase}, bring the schema to V{version} fully applied or fully absent by hand, then record "
                f"which with {resolve_calls(version)}."
            )
            if phase == "rollback":
                left += f" V{version} is still recorded as applied."
                then = (
                    f"The journal remembers it and migrations (and rollbacks) will not run until it is resolved: "
                    f"fix the rollback, then either restore V{version}'s schema by hand and record it with "
                    f"{resolve_call(version, True)} (it stays applied: its history row is kept), or finish undoing "
                    f"it by hand and record it with {resolve_call(version, False)} (the rollback is complete: its "
                    f"history row is deleted); the command line's resolve does the same."
                )
        else:
            then = f"Fix the {phase} and run again."
        super().__init__(
            f"{what} V{version}__{name} of agent {agent!r} (distribution {distribution}, "
            f"{source}) failed at statement {statement_index + 1}: {quote_message(cause)}\n"
            f"  statement: {quote_statement(statement)}\n"
            f"{left} {then}"
        )


    def in_grouped_run(self, earlier: Sequence[str]) -> MigrationFailedError:
        """This failure as it happened in a grouped run after ``earlier`` (``V1__name``...), which its rollback undid too."""
        return MigrationFailedError(
            version=self.version, name=self.name, agent=self.agent, distribution=self.distribution, source=self.source,
            statement=self.statement, statement_index=self.statement_index, cause=self.cause,
            rolled_back=self.rolled_back, phase=self.phase, journalled=self.journalled, grouped_with=earlier,
        )


class GroupedRunRefusedError(MigrationError):
    """A grouped run (one transaction for every migration) that cannot be one, refused before anything ran.

    ``reason`` is ``"ddl_commits"`` (the database commits DDL implicitly:
    MySQL, MariaDB) or ``"non_transactional"`` (``migrations`` holds the
    pending ones declared ``transactional = False``, as ``V1__name (agent,
    distribution, file)``). ``dialect`` and ``database`` say where.
    """

    def __init__(self, *, dialect: str, database: str, reason: str, migrations: Sequence[str] = ()) -> None:
        self.dialect = dialect
        self.database = database
        self.reason = reason
        self.migrations: tuple[str, ...] = tuple(migrations)
        if reason == "ddl_commits":
            why = (
                f"{dialect} commits every DDL statement implicitly, so one transaction could not roll the run back: "
                f"a failure would leave the migrations before it applied"
            )
            then = f"Run without grouped (each migration in its own transaction, journalled as usual) on {dialect}."
        else:
            why = (
                f"the pending migration(s) {'; '.join(self.migrations)} are declared transactional = False and must "
                f"run outside any transaction, so the run cannot be one transaction"
            )
            then = (
                "Run without grouped, or run grouped with a target before the first of them and the rest without."
            )
        super().__init__(f"a grouped run on {database} ({dialect}) was refused before anything ran: {why}. Nothing was changed. {then}")


class TransactionEndedError(MigrationFailedError):
    """A statement of a migration (or rollback) ended the runner's transaction although it was not refused up front.

    The statements before it, and it, may have been committed (or undone):
    nothing claims a rollback. The migration was not recorded (a rollback's
    history row is kept).
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        statement: str, statement_index: int, phase: str = "migration",
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.cause = "it ended the runner's transaction"
        self.rolled_back = False
        self.phase = phase
        self.journalled = False
        if phase == "migration":
            what = "migration"
            record = f"V{version} was not recorded in the history"
        else:
            what = "the rollback() of migration"
            record = f"V{version} is still recorded as applied"
        ran = "Statement 1" if statement_index == 0 else f"Statements 1-{statement_index + 1}"
        MigrationError.__init__(
            self,
            f"{what} V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) ended the runner's transaction at statement "
            f"{statement_index + 1}; the runner stopped right after it.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"{ran} may have been committed (or undone) by it: the database "
            f"may hold part of the {phase}, and the runner could not roll it back. {record}. Check the "
            f"schema and bring it by hand to the state before the {phase} (or finish it), remove the "
            f"statement that ends the transaction, and run again.",
        )


class IncompleteMigrationError(MigrationError):
    """An earlier run stopped part-way through a migration (or its rollback) on a database without transactional DDL.

    ``direction`` is ``"migration"`` or ``"rollback"``: which of the two was
    interrupted. Settle it with ``resolve_unfinished`` (the command line's
    ``resolve``).
    """

    def __init__(
        self, *, version: int, name: str, agent: str, statements: int, failed_index: int, error: str,
        direction: str = "migration",
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.statements = statements
        self.failed_index = failed_index
        self.error = error
        self.direction = direction
        if failed_index == 0:
            applied = "no statement was applied"
        elif failed_index == 1:
            applied = "statement 1 stays applied"
        else:
            applied = f"statements 1-{failed_index} stay applied"
        if direction == "rollback":
            super().__init__(
                f"the rollback of migration V{version}__{name} of agent {agent!r} stopped part-way on an earlier "
                f"run: statement {failed_index + 1} of {statements} of its rollback() failed ({quote_message(error)}); {applied}, "
                f"the rest did not run, and V{version} is still recorded as applied. This database's DDL is not "
                f"transactional, so nothing was undone and no migration or rollback will run until you resolve it. "
                f"Either restore V{version}'s schema by hand and record it with {resolve_call(version, True)} "
                f"(the migration stays applied: its history row is kept), or finish its rollback by hand and record it "
                f"with {resolve_call(version, False)} (the rollback is complete: its history row is deleted); the "
                f"command line's resolve does the same."
            )
            return
        super().__init__(
            f"migration V{version}__{name} of agent {agent!r} stopped part-way on an earlier run: statement "
            f"{failed_index + 1} of {statements} failed ({quote_message(error)}); {applied}, the rest did not run. This "
            f"database's DDL is not transactional, so nothing was rolled back and no further migration "
            f"will run until you resolve it: bring the schema to either the migration fully applied or "
            f"fully absent by hand, then record which with {resolve_calls(version)}."
        )
