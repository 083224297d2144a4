"""Errors of what a migration (or rollback) left behind that the runner checks: orphaned rows, invalid indexes."""

from __future__ import annotations

from collections.abc import Sequence

from ..excerpt import quote_message
from .base import MigrationError
from .running import MigrationFailedError


class ForeignKeyViolationError(MigrationError):
    """A migration (or rollback) left rows whose foreign keys point at no parent row.

    On SQLite, found by ``PRAGMA foreign_key_check`` after its statements:
    ``violations`` holds ``(table, rowid, parent_table)`` for the new
    violations, at most the first 20, of ``total``. On PostgreSQL, a deferred
    foreign key checked at the end of the migration: ``violations`` is empty
    and ``detail`` is the server's message, which the message quotes.
    """

    def __init__(
        self,
        *,
        version: int,
        name: str,
        agent: str,
        distribution: str,
        source: str,
        violations: Sequence[tuple[str, int | None, str]],
        total: int,
        rolled_back: bool,
        phase: str = "migration",
        detail: str | None = None,
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.violations = tuple(violations)
        self.total = total
        self.rolled_back = rolled_back
        self.phase = phase
        self.detail = detail
        listed = "; ".join(
            f"{table} row {rowid if rowid is not None else '(without rowid)'} references a missing row of {parent}"
            for table, rowid, parent in self.violations
        )
        more = f" (and {total - len(self.violations)} more)" if total > len(self.violations) else ""
        found = quote_message(detail) if detail is not None else f"leaves {total} row(s) violating a foreign key: {listed}{more}"
        what = "migration" if phase == "migration" else f"the {phase} of migration"
        if rolled_back:
            left = "Its transaction was rolled back: the database and its history are as they were before it."
        else:
            left = (
                "It ran outside a transaction (transactional = False), so its statements stay applied and it "
                "was not recorded: repair the rows by hand before running again."
            )
        super().__init__(
            f"{what} V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) {found}. {left} Make the {phase} keep every child row's parent (when rebuilding a "
            f"table, copy its rows into the new table before dropping the old one, as in SQLite's "
            f"'Making Other Kinds Of Table Schema Changes'), or delete or fix the orphaned rows in the same "
            f"{phase}, then run again."
        )


class InvalidIndexError(MigrationFailedError):
    """A ``transactional = False`` migration (or its rollback) left an index PostgreSQL marks invalid.

    ``indexes`` are the invalid indexes (``pg_index.indisvalid = false``) of
    the database (any schema but the server's), schema-qualified: what a
    failed, cancelled or interrupted ``CREATE INDEX CONCURRENTLY`` leaves, and
    what ``IF NOT EXISTS`` then silently skips: those it left, and those
    invalid before it ran that its SQL names. ``already_invalid`` are the
    latter (an earlier failed build of this migration, or of one naming the
    same index). The migration is not recorded (a
    rollback's history row is kept); nothing is rolled back, since it ran
    outside a transaction. ``failure`` is the :class:`MigrationFailedError` of
    the statement that failed, if one did.
    """

    def __init__(
        self,
        *,
        version: int,
        name: str,
        agent: str,
        distribution: str,
        source: str,
        indexes: Sequence[str],
        phase: str = "migration",
        failure: MigrationFailedError | None = None,
        already_invalid: Sequence[str] = (),
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.indexes = tuple(indexes)
        self.already_invalid = tuple(index for index in self.indexes if index in set(already_invalid))
        self.failure = failure
        self.statement = failure.statement if failure is not None else ""
        self.statement_index = failure.statement_index if failure is not None else -1
        self.cause = failure.cause if failure is not None else "it left invalid indexes"
        self.rolled_back = False
        self.phase = phase
        self.journalled = False
        MigrationError.__init__(self, self._message())

    def _message(self) -> str:
        version, phase, failure = self.version, self.phase, self.failure
        what = "migration" if phase == "migration" else "the rollback() of migration"
        left = [index for index in self.indexes if index not in self.already_invalid]
        if failure is not None:
            happened = f"failed at statement {failure.statement_index + 1} ({failure.__cause__ or failure.statement.strip()})"
        else:
            happened = "ran to its end"
        found = []
        if left:
            found.append(f"left invalid index(es) {', '.join(left)}")
        if self.already_invalid:
            found.append(
                f"invalid index(es) {', '.join(self.already_invalid)} remain, invalid already before it ran (an earlier "
                f"build that failed, of this migration or of another naming it)"
            )
        happened = f"{happened}{' and ' if left else ', but '}{' and '.join(found)}"
        record = (
            f"V{version} was not recorded in the history"
            if phase == "migration"
            else f"V{version} is still recorded as applied"
        )
        again = "migrate again" if phase == "migration" else "roll back again"
        drops = " ".join(f"DROP INDEX CONCURRENTLY {index};" for index in self.indexes)
        return (
            f"{what} V{version}__{self.name} of agent {self.agent!r} (distribution "
            f"{self.distribution}, {self.source}) {happened} "
            f"(pg_index.indisvalid = false: a CONCURRENTLY build that failed or was interrupted; IF NOT EXISTS "
            f"skips such an index instead of building it). It ran outside a transaction (transactional = False), "
            f"so nothing of it was undone, and {record}. Drop the invalid index(es) with `{drops}`, fix what made "
            f"the build fail (duplicate rows for a UNIQUE index, a lock or statement timeout, a cancelled "
            f"session), then {again}. (An index another session is building right now also shows as invalid "
            f"until its build ends: then wait for it and {again}.)"
        )
